"""The weights file's header, read without torch: its facts, its refusals, and what it does not import."""

import hashlib
import json
import subprocess
import sys

import pytest

from cevr_cli.errors import WeightsError
from cevr_cli.model import load_pair, save_pair
from cevr_cli.model.weights_format import read_header


def test_the_header_gives_what_loading_gives(tmp_path, tiny_residual_pair):
    path = tmp_path / "w.safetensors"
    saved_id = save_pair(tiny_residual_pair, path, info={"note": "header"})
    header = read_header(path)
    loaded = load_pair(path)
    assert header.weights_id == saved_id == loaded.weights_id
    assert header.config == tiny_residual_pair.config == loaded.config and header.config.role == "residual"
    assert header.info == {"note": "header"} == loaded.info


def _rewrite_metadata(path, **changes):
    """The file at ``path`` with its safetensors header's metadata changed (the tensors kept, offsets intact)."""
    raw = path.read_bytes()
    length = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + length])
    header["__metadata__"].update(changes)
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + length:])


@pytest.mark.parametrize(("changes", "message"), [
    ({"format": "something-else"}, "not a cevr weights file"),
    ({"format_version": "7"}, "weights format version 7, this cevr reads version 1; upgrade cevr"),
    ({"format_version": "x"}, "weights format version x, this cevr reads version 1; re-save the weights"),
    ({"config": "{not json"}, "its header is damaged"),
    ({"config": json.dumps({"colour": 3})}, "unknown config fields ['colour']"),
])
def test_a_wrong_header_is_one_line_naming_the_file(tmp_path, tiny_pair, changes, message):
    path = tmp_path / "w.safetensors"
    save_pair(tiny_pair, path)
    _rewrite_metadata(path, **changes)
    for read in (read_header, load_pair):
        with pytest.raises(WeightsError) as caught:
            read(path)
        assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)
        assert "\n" not in str(caught.value)


def test_reading_a_header_imports_neither_torch_nor_torchvision(tmp_path, tiny_pair):
    path = tmp_path / "w.safetensors"
    save_pair(tiny_pair, path)
    code = ("import sys; from cevr_cli.model.weights_format import read_header; "
            f"print(read_header({str(path)!r}).weights_id); "
            "print(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [read_header(path).weights_id, "[]"]


def test_a_folder_given_as_weights_is_named_as_such(tmp_path):
    with pytest.raises(WeightsError) as caught:
        read_header(tmp_path)
    assert str(caught.value) == f"{tmp_path}: is a folder, not a weights file (pass --weights PATH.safetensors)"


def test_the_file_id_is_the_content_hash_and_follows_a_rewritten_file(tmp_path, tiny_pair):
    path = tmp_path / "w.safetensors"
    first = save_pair(tiny_pair, path, info={"note": "a"})
    assert first == hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    assert read_header(path).weights_id == first
    second = save_pair(tiny_pair, path, info={"note": "b"})  # same size class, new content
    assert second == hashlib.sha256(path.read_bytes()).hexdigest()[:12] != first
    assert read_header(path).weights_id == second
