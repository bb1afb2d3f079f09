"""Batch reading for `cevr stack`: the next photo is decoded in the background, errors surface where they belong."""

import threading
from pathlib import Path

import pytest

from cevr_cli.errors import InputError
from cevr_cli.stack import PhotoPrefetcher


class Loader:
    def __init__(self, bad: set[str] = frozenset()) -> None:
        self.calls: list[tuple[str, str]] = []
        self.bad = bad

    def __call__(self, path: Path) -> str:
        self.calls.append((path.name, threading.current_thread().name))
        if path.name in self.bad:
            raise InputError(path, "not a photo")
        return f"photo {path.name}"


@pytest.mark.parametrize("stage", ["stack", "fuse", "tonemap", "calibrate"])
def test_a_stage_module_does_not_import_the_executors(stage):
    """cevr_cli.stack imported cevr_cli.scaleout (the executors of --workers and --ray) for the number of CPU cores
    it sizes its encoder threads by; fuse imported it through stack. A stage leaves the executors to the batch
    engine: the machine's facts come from cevr_cli.machine."""
    import subprocess
    import sys

    code = f"import sys, cevr_cli.{stage}; print('cevr_cli.scaleout' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_the_next_photo_is_decoded_in_the_background_and_handed_over():
    order = [Path("a.jpg"), Path("b.jpg"), Path("c.jpg")]
    loader = Loader()
    with PhotoPrefetcher(order, loader) as prefetcher:
        assert [prefetcher.read(p) for p in order] == ["photo a.jpg", "photo b.jpg", "photo c.jpg"]
    threads = dict(loader.calls)
    assert sorted(threads) == ["a.jpg", "b.jpg", "c.jpg"] and len(loader.calls) == 3  # each decoded once
    assert threads["a.jpg"] == threading.current_thread().name
    assert threads["b.jpg"].startswith("cevr-decode") and threads["c.jpg"].startswith("cevr-decode")


def test_a_bad_photo_fails_its_own_read_not_the_one_before():
    order = [Path("a.jpg"), Path("b.jpg"), Path("c.jpg")]
    with PhotoPrefetcher(order, Loader(bad={"b.jpg"})) as prefetcher:
        assert prefetcher.read(order[0]) == "photo a.jpg"
        with pytest.raises(InputError, match="b.jpg"):
            prefetcher.read(order[1])
        assert prefetcher.read(order[2]) == "photo c.jpg"


def test_a_read_out_of_order_decodes_now():
    order = [Path("a.jpg"), Path("b.jpg"), Path("c.jpg")]
    loader = Loader()
    with PhotoPrefetcher(order, loader) as prefetcher:
        prefetcher.read(order[0])  # b is now being decoded ahead
        assert prefetcher.read(order[2]) == "photo c.jpg"
    assert ("c.jpg", threading.current_thread().name) in loader.calls


def _clipped_photo(path: Path) -> Path:
    import cv2
    import numpy as np

    image = np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    image[:6] = 255  # clipped: the network is needed there
    cv2.imwrite(str(path), image)
    return path


@pytest.mark.parametrize("stage", ["stack", "fuse"])
def test_a_batch_with_every_output_complete_loads_no_model(tmp_path, monkeypatch, tiny_residual_pair, stage):
    from cevr_cli import exposure
    from cevr_cli.batch import BatchPolicy
    from cevr_cli.exposure import ModelSpec
    from cevr_cli.fuse import run_fuse
    from cevr_cli.model import save_pair
    from cevr_cli.stack import run_stack
    from cevr_cli.stage_options import FuseOptions, StackOptions

    weights = tmp_path / "w.safetensors"
    save_pair(tiny_residual_pair, weights)
    photo = _clipped_photo(tmp_path / "p.png")
    loads = []
    real_load = exposure.load_exposure_model
    monkeypatch.setattr(exposure, "load_exposure_model", lambda *a, **k: loads.append(a) or real_load(*a, **k))

    def run():
        spec = ModelSpec("cevr", str(weights), "cpu")
        if stage == "stack":
            return run_stack([photo], tmp_path / "out", spec, StackOptions((-1.0, 1.0)), BatchPolicy())
        return run_fuse([photo], tmp_path / "out", FuseOptions((-1.0, 0.0, 1.0)), spec, BatchPolicy())

    assert run().counts() == {"done": 1} and len(loads) == 1
    assert run().counts() == {"skipped": 1} and len(loads) == 1  # the request named the weights from their header
    save_pair(tiny_residual_pair, weights, half=False)  # other weights: another request, redone with a model
    assert run().counts() == {"done": 1} and len(loads) == 2


def test_weights_that_do_not_load_stop_a_worker_batch_before_any_worker_starts(tmp_path, monkeypatch,
                                                                                tiny_residual_pair):
    import json

    from cevr_cli import scaleout
    from cevr_cli.batch import BatchPolicy, Scale
    from cevr_cli.errors import WeightsError
    from cevr_cli.exposure import ModelSpec
    from cevr_cli.model import get_config, save_pair
    from cevr_cli.stack import run_stack
    from cevr_cli.stage_options import StackOptions

    weights = tmp_path / "w.safetensors"
    save_pair(tiny_residual_pair, weights)
    raw = weights.read_bytes()
    length = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + length])
    header["__metadata__"]["config"] = json.dumps(get_config("cevr-residual").to_dict())  # header fine, tensors not
    text = json.dumps(header).encode()
    weights.write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + length:])
    monkeypatch.setattr(scaleout, "open_executor", lambda *a, **k: pytest.fail("workers started"))
    photo = _clipped_photo(tmp_path / "p.png")
    with pytest.raises(WeightsError, match="shape"):
        run_stack([photo], tmp_path / "out", ModelSpec("cevr", str(weights), "cpu"), StackOptions((-1.0,)),
                  BatchPolicy(), scale=Scale(workers=2))
    assert not (tmp_path / "out").exists()  # nothing written, not even the folder


@pytest.mark.parametrize("stage", ["stack", "fuse"])
def test_the_manifest_records_the_model_that_made_the_frames_not_the_options_default(tmp_path, stage):
    """run_stack(..., load_exposure_model("physics"), StackOptions()) recorded request.model "cevr"."""
    import json

    from cevr_cli.batch import BatchPolicy
    from cevr_cli.exposure import PhysicsModel
    from cevr_cli.fuse import run_fuse
    from cevr_cli.stack import run_stack
    from cevr_cli.stage_options import FuseOptions, StackOptions
    from cevr_cli.vocabulary import FUSE_MANIFEST

    photo = _clipped_photo(tmp_path / "p.png")
    if stage == "stack":
        run = lambda: run_stack([photo], tmp_path / "out", PhysicsModel(), StackOptions((-1.0, 1.0)),  # noqa: E731
                                BatchPolicy())
        manifest = tmp_path / "out" / "p" / "stack.json"
    else:
        run = lambda: run_fuse([photo], tmp_path / "out", FuseOptions((-1.0, 1.0), keep_stack=True),  # noqa: E731
                               PhysicsModel(), BatchPolicy())
        manifest = tmp_path / "out" / "p" / FUSE_MANIFEST
    assert run().counts() == {"done": 1}
    assert json.loads(manifest.read_text())["request"]["model"] == "physics"
    if stage == "fuse":  # the kept stack too
        kept = json.loads((tmp_path / "out" / "p" / "stack" / "stack.json").read_text())
        assert kept["request"]["model"] == "physics"
    assert run().counts() == {"skipped": 1}  # what the batch compares is what it recorded


def test_write_stack_takes_its_paths_as_text(tmp_path, monkeypatch):
    """A str folder raised TypeError: unsupported operand type(s) for /: 'str' and 'str' (README: str or Path)."""
    import numpy as np
    from PIL import Image

    from cevr_cli.exposure import PhysicsModel
    from cevr_cli.stack import write_stack
    from cevr_cli.stage_options import StackOptions

    Image.fromarray(np.full((16, 16, 3), 100, np.uint8)).save(tmp_path / "p.png")
    monkeypatch.chdir(tmp_path)
    manifest = write_stack(PhysicsModel(), "p.png", "frames", StackOptions((-1.0, 1.0), response="srgb"))
    assert [(tmp_path / "frames" / name).is_file() for name in manifest["files"]] == [True, True]
