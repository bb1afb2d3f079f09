"""End-to-end CLI runs on tiny images the tests write, with a tiny model saved as weights."""

import json
import os
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from cevr_cli.cli import app
from cevr_cli.model import save_pair

runner = CliRunner()


@pytest.fixture()
def weights(tmp_path, tiny_residual_pair):
    """Weights for the default ``--model cevr`` (residual role)."""
    path = tmp_path / "tiny.safetensors"
    save_pair(tiny_residual_pair, path)
    return path


@pytest.fixture()
def photos(tmp_path, gradient_image):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    bgr = np.round(gradient_image[..., ::-1] * 255).astype(np.uint8)
    cv2.imwrite(str(folder / "a.jpg"), bgr)
    cv2.imwrite(str(folder / "b.png"), bgr[::-1].copy())
    cv2.imwrite(str(folder / "sub" / "c.png"), bgr[:, ::-1].copy())
    return folder


def test_help_lists_every_command_with_its_help_line():
    """`cevr --help` lists each command once, in order, with the start of its docstring's first line."""
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    listing = result.output.split("Commands:")[1].strip().splitlines()
    rows = [line.split(None, 1) for line in listing]
    expected = ["stack", "fuse", "tonemap", "calibrate", "demo", "train", "bench", "info", "convert-weights"]
    assert [row[0] for row in rows] == expected
    docs = {(c.name or c.callback.__name__): c.callback.__doc__ for c in app.registered_commands}
    for name, shown in rows:
        first_line = " ".join(docs[name].strip().split("\n\n")[0].split())
        shown = shown.strip().removesuffix("...")
        assert len(shown) >= 20 and first_line.startswith(shown), (name, shown, first_line)


def test_each_commands_help_names_only_options_it_has():
    """`cevr tonemap --help` said --ray's actors depend on --device cuda and that --weights must be on a shared folder:
    tonemap has neither option."""
    import re

    elsewhere = {"calibrate": {"--response"}, "train": {"--model"}}  # stack's and fuse's options, named as theirs
    for command in ("stack", "fuse", "tonemap", "calibrate", "demo", "train", "bench", "info", "convert-weights"):
        text = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).output
        own = set(re.findall(r"^ {2}(?:-\w, )?(--[a-z][a-z0-9-]*)", text, re.M))  # option rows only
        own |= {f"--no-{name[2:]}" for name in own}  # --cycle / --no-cycle
        named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text))
        assert named <= own | {"--help"} | elsewhere.get(command, set()), (command, sorted(named - own))


def test_only_a_command_with_dry_run_says_what_quiet_does_to_a_dry_run():
    """`cevr demo --help` (and calibrate's, train's, bench's, convert-weights') said --quiet leaves "a dry run"
    listing its plan: those commands have no --dry-run."""
    for command in ("stack", "fuse", "tonemap", "calibrate", "demo", "train", "bench", "convert-weights"):
        text = " ".join(runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).output.split())
        assert ("dry run" in text) == ("--dry-run" in text), command


def test_stack_writes_one_image_per_ev_and_a_manifest(tmp_path, photos, weights):
    out = tmp_path / "out"
    result = runner.invoke(app, ["stack", str(photos), "-o", str(out), "--evs", "-1,0.5,2", "--weights", str(weights),
                                 "--device", "cpu", "--quiet"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["a", "b"]
    files = sorted(p.name for p in (out / "a").iterdir())
    assert files == ["00_ev-1.00.png", "01_ev+0.50.png", "02_ev+2.00.png", "contact.jpg", "stack.json"]
    manifest = json.loads((out / "a" / "stack.json").read_text())
    assert manifest["evs"] == [-1.0, 0.5, 2.0]
    assert manifest["files"] == files[:3] and manifest["contact_sheet"] == "contact.jpg"
    sheet = cv2.imread(str(out / "a" / "contact.jpg"))
    assert sheet.shape[1] > 3 * 56 and sheet.shape[0] > 40  # three thumbnails side by side, labelled below
    assert manifest["model"]["weights_id"] and manifest["device"] == "cpu"
    assert manifest["source"].endswith("a.jpg")
    image = cv2.imread(str(out / "a" / "02_ev+2.00.png"), cv2.IMREAD_UNCHANGED)
    assert image.shape == (40, 56, 3) and image.dtype == np.uint8


@pytest.mark.parametrize("command", ["stack", "fuse"])
def test_a_numbered_gpu_reaches_the_library_which_says_whether_there_is_one(tmp_path, photos, weights, monkeypatch,
                                                                            command):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = runner.invoke(app, [command, str(photos), "-o", str(tmp_path / "out"), "--weights", str(weights),
                                 "--device", "CUDA:1"])
    assert result.exit_code == 2 and not (tmp_path / "out").exists()
    told = "error: --device cuda:1: no CUDA GPU is available to PyTorch here (try --device auto)"
    assert result.output.strip() == told
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    result = runner.invoke(app, [command, str(photos), "-o", str(tmp_path / "out"), "--weights", str(weights),
                                 "--device", "cuda:1"])
    assert result.exit_code == 2 and not (tmp_path / "out").exists()
    assert result.output.strip() == "error: --device 'cuda:1': this machine's CUDA GPUs are cuda:0 to cuda:0"


def test_stack_tiff_is_16_bit_and_recursive_walk_finds_subfolders(tmp_path, photos, weights):
    out = tmp_path / "out"
    result = runner.invoke(app, ["stack", str(photos), "-o", str(out), "--evs", "1", "--format", "tiff", "-r",
                                 "--weights", str(weights), "--quiet"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["a", "b", "sub__c"]
    assert cv2.imread(str(out / "sub__c" / "00_ev+1.00.tif"), cv2.IMREAD_UNCHANGED).dtype == np.uint16


def test_bad_file_fails_alone_and_sets_exit_code(tmp_path, photos, weights):
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (photos / "empty.png").write_bytes(b"")
    out = tmp_path / "out"
    result = runner.invoke(app, ["stack", str(photos), "-o", str(out), "--evs", "1", "--weights", str(weights),
                                 "--json"])
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert summary["counts"] == {"done": 2, "failed": 2}
    messages = [i["message"] for i in summary["items"] if i["status"] == "failed"]
    assert any("broken.jpg" in m for m in messages) and any("empty file" in m for m in messages)
    assert sorted(p.name for p in out.iterdir()) == ["a", "b"]


@pytest.mark.parametrize(("stop", "code"), [(KeyboardInterrupt, 130), ("terminated", 143)])
def test_a_stopped_json_batch_still_prints_what_it_finished(tmp_path, photos, weights, monkeypatch, stop, code):
    """Ctrl-C (or SIGTERM) during the second photo: stdout still carries the summary of the first, marked
    interrupted, with the exit code the shell sees; the photo in the making is in no list and left no output."""
    import cevr_cli.stack
    from cevr_cli.cli.common import Terminated

    measure, seen = cevr_cli.stack.measure, []

    def measure_then_stop(path, *args, **kwargs):
        seen.append(path)
        if len(seen) == 2:
            raise Terminated if stop == "terminated" else KeyboardInterrupt
        return measure(path, *args, **kwargs)

    monkeypatch.setattr(cevr_cli.stack, "measure", measure_then_stop)
    out = tmp_path / "out"
    result = runner.invoke(app, ["stack", str(photos), "-r", "-o", str(out), "--evs", "1", "--weights", str(weights),
                                 "--json"])
    assert result.exit_code == code
    summary = json.loads(result.stdout)
    assert summary["interrupted"] is True and summary["exit_code"] == code
    assert summary["counts"] == {"done": 1}
    assert summary["items"][0]["source"] == str(seen[0]) and Path(summary["items"][0]["output"]).is_dir()
    assert sorted(p.name for p in out.iterdir()) == [Path(summary["items"][0]["output"]).name]


@pytest.mark.parametrize(("stop", "code"), [(KeyboardInterrupt, 130), ("terminated", 143)])
@pytest.mark.parametrize("command", ["stack", "fuse", "tonemap"])
def test_a_json_batch_stopped_before_its_first_input_still_prints_its_summary(tmp_path, photos, monkeypatch, stop,
                                                                              code, command):
    """A Ctrl-C or SIGTERM while the stage's modules load (torch: the first second) printed nothing on stdout under
    --json, only the `interrupted:` line: the summary was printed by the batch's display alone, made after them."""
    import importlib

    from cevr_cli.cli.common import Terminated

    def stopped(*args):
        raise Terminated if stop == "terminated" else KeyboardInterrupt

    monkeypatch.setattr(importlib.import_module(f"cevr_cli.cli.{command}"), "scale", stopped)
    out = tmp_path / "out"
    result = runner.invoke(app, [command, str(photos), "-o", str(out), "--json"])
    assert result.exit_code == code, result.output
    assert json.loads(result.stdout) == {"counts": {}, "exit_code": code, "items": [], "interrupted": True}
    assert not out.exists()


def test_rerun_skips_complete_outputs(tmp_path, photos, weights):
    out = tmp_path / "out"
    args = ["stack", str(photos), "-o", str(out), "--evs", "1", "--weights", str(weights), "--json"]
    assert runner.invoke(app, args).exit_code == 0
    (out / "b" / "stack.json").write_text("{")  # a damaged marker: redone
    again = json.loads(runner.invoke(app, args).stdout)
    assert again["counts"] == {"skipped": 1, "done": 1}


def test_bad_ev_list_is_a_usage_error(tmp_path, photos, weights):
    result = runner.invoke(app, ["stack", str(photos), "--evs", "3:-3:1", "--weights", str(weights)])
    assert result.exit_code == 2
    assert "EV range" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["stack", "fuse"])
def test_missing_weights_is_one_error_before_any_photo(tmp_path, photos, command):
    out = tmp_path / "out"
    result = runner.invoke(app, [command, str(photos), "-r", "-o", str(out), "--weights",
                                 str(tmp_path / "nope.safetensors")])
    assert result.exit_code == 2
    assert result.output.count("weights file not found") == 1 and "Traceback" not in result.output
    assert not out.exists()


@pytest.mark.parametrize("command", ["stack", "fuse"])
def test_weights_whose_tensors_do_not_fit_their_header_are_one_error_before_any_photo(tmp_path, photos, weights,
                                                                                      command):
    """The header is read first (it names the weights in the request); the tensors when the model is built, which
    is still before any photo is touched."""
    from cevr_cli.model import get_config

    raw = weights.read_bytes()
    length = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + length])
    header["__metadata__"]["config"] = json.dumps(get_config("cevr-residual").to_dict())  # the full-size shapes
    text = json.dumps(header).encode()
    weights.write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + length:])
    out = tmp_path / "out"
    result = runner.invoke(app, [command, str(photos), "-r", "-o", str(out), "--weights", str(weights)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {weights} [") and "shape" in lines[0], result.output
    assert not out.exists() or not any(out.iterdir())


def test_fuse_keeps_a_16_bit_source_at_16_bits(tmp_path, gradient_image, weights):
    import tifffile

    (tmp_path / "in").mkdir()
    tifffile.imwrite(tmp_path / "in" / "p.tif", np.round(gradient_image * 65535).astype(np.uint16), photometric="rgb")
    out = tmp_path / "hdr"
    result = runner.invoke(app, ["fuse", str(tmp_path / "in"), "-o", str(out), "--weights", str(weights),
                                 "--evs", "-2:2:1", "--keep-stack", "-q"])
    assert result.exit_code == 0, result.output
    stack = json.loads((out / "p" / "stack" / "stack.json").read_text())
    assert stack["format"] == {"container": "tiff", "bit_depth": 16} and stack["source_bit_depth"] == 16
    image = cv2.imread(str(out / "p" / "stack" / stack["files"][0]), cv2.IMREAD_UNCHANGED)
    assert image.dtype == np.uint16 and len(np.unique(image)) > 256  # more levels than 8 bits can hold


def test_rerun_with_other_evs_redoes_the_stack(tmp_path, photos, weights):
    out = tmp_path / "out"
    base = ["stack", str(photos / "a.jpg"), "-o", str(out), "--weights", str(weights), "--json"]
    assert runner.invoke(app, [*base, "--evs", "1"]).exit_code == 0
    assert json.loads(runner.invoke(app, [*base, "--evs", "1"]).stdout)["counts"] == {"skipped": 1}
    again = json.loads(runner.invoke(app, [*base, "--evs", "-1,1"]).stdout)
    assert again["counts"] == {"done": 1}
    assert json.loads((out / "a" / "stack.json").read_text())["evs"] == [-1.0, 1.0]


def test_fuse_takes_the_folder_that_stack_wrote(tmp_path, photos, weights):
    stacks = tmp_path / "stacks"
    assert runner.invoke(app, ["stack", str(photos), "-o", str(stacks), "--evs", "-2:2:1", "--weights",
                               str(weights), "-q"]).exit_code == 0
    out = tmp_path / "hdr"
    result = runner.invoke(app, ["fuse", str(stacks), "-o", str(out), "--tmo", "none", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"] == {"done": 2}
    assert sorted(p.name for p in out.iterdir()) == ["a", "b"]


def test_python_dash_m_runs_the_cli():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "cevr_cli", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("cevr ")


def test_fuse_photo_to_exr_and_tonemapped_png(tmp_path, photos, weights):
    from cevr_cli.io.hdrfile import read_hdr_image

    out = tmp_path / "hdr"
    result = runner.invoke(app, ["fuse", str(photos / "a.jpg"), "-o", str(out), "--weights", str(weights),
                                 "--evs", "-2:2:1", "--tmo", "kimkautz", "--save-crf", "--quiet"])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (out / "a").iterdir())
    assert names == ["a-crf.csv", "a-crf.png", "a-kimkautz.png", "a.exr", "fuse.json"]
    assert read_hdr_image(out / "a" / "a.exr").shape == (40, 56, 3)


def test_a_fuse_rerun_with_another_tmo_keeps_the_earlier_image_unless_overwriting(tmp_path, photos):
    out = tmp_path / "hdr"
    common = ["fuse", str(photos / "a.jpg"), "-o", str(out), "--model", "physics", "--evs", "-1,1"]
    assert runner.invoke(app, [*common, "--tmo", "reinhard", "--quiet"]).exit_code == 0
    first = (out / "a" / "a-reinhard.png").read_bytes()
    again = runner.invoke(app, [*common, "--tmo", "kimkautz"])
    assert again.exit_code == 0, again.output
    assert "redone: the earlier output was made with other options; kept what it made that this request does " \
           "not: a-reinhard.png" in " ".join(again.output.split())
    assert sorted(p.name for p in (out / "a").iterdir()) == ["a-kimkautz.png", "a-reinhard.png", "a.exr", "fuse.json"]
    assert (out / "a" / "a-reinhard.png").read_bytes() == first
    assert json.loads((out / "a" / "fuse.json").read_text())["outputs"] == ["a.exr", "a-kimkautz.png"]
    assert runner.invoke(app, [*common, "--tmo", "kimkautz", "--quiet"]).exit_code == 0  # complete: skipped
    assert (out / "a" / "a-reinhard.png").is_file()
    assert runner.invoke(app, [*common, "--tmo", "kimkautz", "--overwrite", "--quiet"]).exit_code == 0
    assert sorted(p.name for p in (out / "a").iterdir()) == ["a-kimkautz.png", "a.exr", "fuse.json"]


def test_fuse_reruns_keep_every_earlier_requests_outputs_and_the_kept_stack(tmp_path, photos):
    """Three requests in a row: each keeps what all earlier ones made (the first one's image too, which the
    second had kept) and the stack folder --keep-stack made; fuse.json lists its own outputs and, apart, what it
    kept, so the same request again is complete; --overwrite keeps nothing."""
    out = tmp_path / "hdr"
    common = ["fuse", str(photos / "a.jpg"), "-o", str(out), "--model", "physics", "--evs", "-1,1"]
    assert runner.invoke(app, [*common, "--tmo", "kimkautz", "-q"]).exit_code == 0
    assert runner.invoke(app, [*common, "--tmo", "reinhard", "--keep-stack", "-q"]).exit_code == 0
    frames = sorted(p.name for p in (out / "a" / "stack").iterdir())
    third = runner.invoke(app, [*common, "--format", "hdr"], env={"COLUMNS": "300"})
    assert third.exit_code == 0, third.output
    assert "kept what it made that this request does not: a-kimkautz.png, a.exr, stack/" in third.output
    assert sorted(p.name for p in (out / "a").iterdir()) == ["a-kimkautz.png", "a-reinhard.png", "a.exr", "a.hdr",
                                                            "fuse.json", "stack"]
    assert sorted(p.name for p in (out / "a" / "stack").iterdir()) == frames
    manifest = json.loads((out / "a" / "fuse.json").read_text())
    assert manifest["outputs"] == ["a.hdr", "a-reinhard.png"]
    assert sorted(manifest["kept_from_earlier_requests"]) == ["a-kimkautz.png", "a.exr", "stack/stack.json"]
    again = runner.invoke(app, [*common, "--format", "hdr", "--json"])
    assert json.loads(again.stdout)["counts"] == {"skipped": 1}
    assert runner.invoke(app, [*common, "--format", "hdr", "--overwrite", "-q"]).exit_code == 0
    assert sorted(p.name for p in (out / "a").iterdir()) == ["a-reinhard.png", "a.hdr", "fuse.json"]


def test_fuse_keep_stack_lists_the_stack_so_a_rerun_without_it_redoes(tmp_path, photos):
    out = tmp_path / "hdr"
    common = ["fuse", str(photos / "a.jpg"), "-o", str(out), "--model", "physics", "--evs", "-1,1", "--keep-stack"]
    assert runner.invoke(app, [*common, "-q"]).exit_code == 0
    assert json.loads((out / "a" / "fuse.json").read_text())["outputs"] == ["a.exr", "a-reinhard.png",
                                                                           "stack/stack.json"]
    (out / "a" / "stack" / "stack.json").unlink()  # a kept stack that lost its manifest is not complete
    result = runner.invoke(app, [*common, "--json"])
    assert json.loads(result.stdout)["counts"] == {"done": 1}
    assert (out / "a" / "stack" / "stack.json").is_file()


def test_fuse_reads_a_stack_folder(tmp_path, photos, weights):
    stacks = tmp_path / "stacks"
    assert runner.invoke(app, ["stack", str(photos / "a.jpg"), "-o", str(stacks), "--evs", "-2:2:1",
                               "--weights", str(weights), "--quiet"]).exit_code == 0
    out = tmp_path / "hdr"
    result = runner.invoke(app, ["fuse", str(stacks / "a"), "-o", str(out), "--format", "hdr", "--tmo", "none", "-q"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "a").iterdir()) == ["a.hdr", "fuse.json"]


def test_tonemap_command(tmp_path):
    from cevr_cli.io.hdrfile import write_exr

    hdr = np.exp(np.random.default_rng(0).normal(0, 2, (20, 24, 3))).astype(np.float32)
    (tmp_path / "in").mkdir()
    write_exr(tmp_path / "in" / "x.exr", hdr)
    (tmp_path / "in" / "bad.exr").write_bytes(b"v/1\x01 truncated")
    out = tmp_path / "ldr"
    result = runner.invoke(app, ["tonemap", str(tmp_path / "in"), "-o", str(out), "--tmo", "reinhard-local", "--json"])
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert summary["counts"] == {"done": 1, "failed": 1}
    assert (out / "x-reinhard-local.png").is_file()


def test_tonemap_of_images_only_in_plain_subfolders_says_to_add_r_and_r_finds_them(tmp_path):
    """Subfolders that `cevr fuse` did not write (no fuse.json) are searched only with -r: the error counts what
    -r would find and names the flag; nothing is written; with -r every image is tone-mapped."""
    from cevr_cli.io.hdrfile import write_exr

    hdr = np.exp(np.random.default_rng(0).normal(0, 2, (20, 24, 3))).astype(np.float32)
    for name in ("a", "b"):
        (tmp_path / "hdr" / name).mkdir(parents=True)
        write_exr(tmp_path / "hdr" / name / f"{name}.exr", hdr)
    out = tmp_path / "ldr"
    result = runner.invoke(app, ["tonemap", str(tmp_path / "hdr"), "-o", str(out)], env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    assert "no .exr or .hdr files found in" in result.output
    assert "(2 in subfolders: add -r to search them)" in result.output
    assert not out.exists()
    result = runner.invoke(app, ["tonemap", str(tmp_path / "hdr"), "-r", "-o", str(out), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["counts"] == {"done": 2}


def test_tonemap_takes_fuses_output_folder_as_it_is(tmp_path, photos):
    """The folders `cevr fuse` wrote (one per photo, each with its fuse.json) are tone-mapped without -r, named as
    -r names them, after the photo once (a/a.exr gives a-reinhard.png, not a__a-reinhard.png); a folder beside them
    that fuse did not write is still searched only with -r, and named with its folder."""
    hdr = tmp_path / "hdr"
    result = runner.invoke(app, ["fuse", str(photos), "-o", str(hdr), "--model", "physics", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["counts"] == {"done": 2}, result.output
    (hdr / "other").mkdir()
    shutil.copy(hdr / "a" / "a.exr", hdr / "other" / "x.exr")
    out = tmp_path / "ldr"
    result = runner.invoke(app, ["tonemap", str(hdr), "-o", str(out), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["counts"] == {"done": 2}, result.output
    assert sorted(p.name for p in out.iterdir()) == ["a-reinhard.png", "b-reinhard.png"]
    result = runner.invoke(app, ["tonemap", str(hdr), "-r", "-o", str(out), "--json"])
    assert json.loads(result.stdout)["counts"] == {"done": 1, "skipped": 2}, result.output
    assert (out / "other__x-reinhard.png").is_file()


@pytest.mark.parametrize(("command", "lead"), [("stack", "no photos found"), ("fuse", "nothing to fuse")])
def test_a_folder_with_photos_only_in_subfolders_says_to_add_r(tmp_path, photos, weights, command, lead):
    empty_top = tmp_path / "shoot"
    (empty_top / "day1").mkdir(parents=True)
    (photos / "a.jpg").rename(empty_top / "day1" / "a.jpg")
    result = runner.invoke(app, [command, str(empty_top), "--weights", str(weights), "-o", str(tmp_path / "o")],
                           env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    assert f"{lead} in" in result.output and "(1 in subfolders: add -r to search them)" in result.output
    nothing = tmp_path / "nothing"
    nothing.mkdir()
    result = runner.invoke(app, [command, str(nothing), "--weights", str(weights), "-o", str(tmp_path / "o")],
                           env={"COLUMNS": "300"})
    assert result.exit_code == 2 and lead in result.output and "subfolders" not in result.output


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("cevr ")


def test_missing_exposure_exif_is_recorded_as_unknown_not_zero_and_not_warned(tmp_path, photos, weights):
    """No output depends on the absolute exposure: a photo without it (every exported PNG) is recorded with EV100
    null, never 0, and gets no warning line."""
    out = tmp_path / "out"
    result = runner.invoke(app, ["stack", str(photos / "a.jpg"), "-o", str(out), "--evs", "1",
                                 "--weights", str(weights)])
    assert result.exit_code == 0 and "warning:" not in result.output, result.output
    manifest = json.loads((out / "a" / "stack.json").read_text())
    assert manifest["source_ev100"] is None and manifest["exif"] is None and manifest["warnings"] == []


@pytest.mark.parametrize("via_stack_folder", [False, True])
def test_fuse_outputs_carry_the_photos_metadata(tmp_path, gradient_image, weights, via_stack_folder):
    import OpenEXR
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Cam", "X100"
    sub = exif.get_ifd(0x8769)
    sub[0x829A], sub[0x829D], sub[0x8827], sub[0x9003] = 0.01, 2.8, 200, "2024:05:01 10:11:12"
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()  # readable, so carried as it is
    photo = tmp_path / "p.jpg"
    Image.fromarray(np.round(gradient_image * 255).astype(np.uint8)).save(photo, exif=exif.tobytes(), icc_profile=icc)
    source = photo
    if via_stack_folder:
        assert runner.invoke(app, ["stack", str(photo), "-o", str(tmp_path / "stacks"), "--evs", "-2:2:1",
                                   "--weights", str(weights), "-q"]).exit_code == 0
        source = tmp_path / "stacks" / "p"
    out = tmp_path / "hdr"
    result = runner.invoke(app, ["fuse", str(source), "-o", str(out), "--weights", str(weights), "--evs", "-2:2:1",
                                 "--tmo", "reinhard", "-q"])
    assert result.exit_code == 0, result.output
    with OpenEXR.File(str(out / "p" / "p.exr")) as exr:
        header = dict(exr.header())  # the live header is emptied when the file closes
    assert (header["cameraMake"], header["cameraModel"], header["capDate"]) == ("Cam", "X100", "2024:05:01 10:11:12")
    assert header["expTime"] == pytest.approx(0.01) and header["aperture"] == pytest.approx(2.8)
    assert header["isoSpeed"] == 200.0
    with Image.open(out / "p" / "p-reinhard.png") as im:
        assert im.getexif()[0x010F] == "Cam" and im.info.get("icc_profile") == icc
    assert json.loads((out / "p" / "fuse.json").read_text())["exif"]["camera_model"] == "X100"


@pytest.mark.parametrize("command", ["stack", "fuse", "demo"])
def test_an_unwritable_output_is_one_line_and_exit_2_before_any_work(tmp_path, photos, weights, command):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder is needed")
    args = [command, "-o", str(blocker / "out")]
    if command != "demo":
        args += [str(photos / "a.jpg"), "--weights", str(weights)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "cannot write there" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("where", ["under a file", "/proc"])
def test_train_to_an_unwritable_output_is_one_line_and_exit_2_before_loading_data(tmp_path, where):
    data = tmp_path / "maps"
    data.mkdir()
    for name in ("a.hdr", "b.hdr"):
        (data / name).write_bytes(b"never read: the output is checked first")
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder is needed")
    out = blocker / "run" if where == "under a file" else "/proc/cevr-run"
    result = runner.invoke(app, ["train", "--data", str(data), "-o", str(out), "--device", "cpu"])
    assert result.exit_code == 2, result.output
    assert "cannot write there" in result.output and "Traceback" not in result.output


def test_bench_refuses_an_unwritable_csv_before_running(tmp_path, weights):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = runner.invoke(app, ["bench", str(tmp_path / "no-such-dataset"), "--weights", str(weights),
                                 "--csv", str(blocker / "table.csv")])
    assert result.exit_code == 2 and "cannot write there" in result.output


@pytest.mark.parametrize("command", ["stack", "fuse", "bench"])
def test_weights_for_the_physics_model_are_refused_not_ignored(tmp_path, photos, weights, command):
    """--model physics has no network: its --weights were ignored (bench then scored the shipped paper weights)."""
    source = str(tmp_path / "no-such-dataset") if command == "bench" else str(photos / "a.jpg")
    result = runner.invoke(app, [command, source, "--model", "physics", "--weights", str(weights),
                                 "-o" if command != "bench" else "--csv",
                                 str(tmp_path / ("o" if command != "bench" else "t.csv"))], env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert f"--weights {weights}: --model physics uses no network" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "o").exists() and not (tmp_path / "t.csv").exists()


@pytest.mark.parametrize("option", ["--csv", "--json-out"])
def test_bench_refuses_a_fifo_or_device_as_its_table_before_running(tmp_path, weights, option):
    suffix = ".csv" if option == "--csv" else ".json"
    fifo = tmp_path / f"pipe{suffix}"
    os.mkfifo(fifo)
    device = tmp_path / f"stdout{suffix}"
    device.symlink_to("/dev/null")  # a link in tmp_path: never /dev itself, which root could replace
    for target in (fifo, device):
        result = runner.invoke(app, ["bench", str(tmp_path / "no-such-dataset"), "--weights", str(weights),
                                     option, str(target)])
        assert result.exit_code == 2 and "not a regular file" in result.output, result.output
        assert "Traceback" not in result.output and not os.path.isfile(target)


@pytest.mark.parametrize(("spec", "message"), [(",", "holds no numbers"), ("-3:3:0.001", "at most 121")])
def test_ev_lists_that_make_no_stack_are_refused(photos, weights, spec, message):
    result = runner.invoke(app, ["stack", str(photos), "--evs", spec, "--weights", str(weights)])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_convert_weights_takes_cevrs_own_training_checkpoints_with_their_variant(tmp_path):
    import torch

    from cevr_cli.model import CEVRNet, get_config, load_pair

    for seed, direction in enumerate(("inc", "dec")):  # as training/loop.py writes <dir>-best.pt
        torch.manual_seed(seed)
        torch.save({"model": CEVRNet(get_config("cevr-residual-tiny")).state_dict(), "epoch": 2, "psnr": {1.0: 30.0}},
                   tmp_path / f"{direction}-best.pt")
    pair_path = tmp_path / "pair.safetensors"
    result = runner.invoke(app, ["convert-weights", str(tmp_path / "inc-best.pt"), str(tmp_path / "dec-best.pt"),
                                 "--variant", "cevr-residual-tiny", "-o", str(pair_path)])
    assert result.exit_code == 0, result.output
    assert "role residual" in result.output and f"use it with --weights {pair_path}" in " ".join(result.output.split())
    assert load_pair(pair_path).config == get_config("cevr-residual-tiny")
    paper_path = tmp_path / "paper.safetensors"  # the same checkpoints as the paper's variant: run by cevr-paper
    result = runner.invoke(app, ["convert-weights", str(tmp_path / "inc-best.pt"), str(tmp_path / "dec-best.pt"),
                                 "--variant", "cevr-tiny", "-o", str(paper_path)])
    assert result.exit_code == 0, result.output
    assert f"use it with --model cevr-paper --weights {paper_path}" in " ".join(result.output.split())
    # Given to --weights as it is, it is named for what it is.
    result = runner.invoke(app, ["stack", str(tmp_path / "x.jpg"), "--weights", str(tmp_path / "inc-best.pt"),
                                 "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and "cevr training checkpoint" in result.output, result.output


@pytest.mark.parametrize("where", ["/proc/x.safetensors", "a-folder.safetensors"])
def test_convert_weights_to_where_it_cannot_write_is_one_line_before_reading(tmp_path, where):
    output = tmp_path / where if where.startswith("a-folder") else Path(where)
    if where.startswith("a-folder"):
        output.mkdir()
    result = runner.invoke(app, ["convert-weights", str(tmp_path / "inc-best.pt"), str(tmp_path / "dec-best.pt"),
                                 "-o", str(output)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {output}: "), result.output


@pytest.mark.parametrize("value", ["-1", "0", "nan"])
def test_train_refuses_a_non_positive_time_limit_before_loading_data(tmp_path, value):
    result = runner.invoke(app, ["train", "--data", str(tmp_path / "no-maps"), "-o", str(tmp_path / "run"),
                                 "--device", "cpu", "--max-minutes", value])
    assert result.exit_code == 2, result.output
    assert f"--max-minutes {float(value)}: must be a positive number" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()


@pytest.mark.parametrize(("extra", "message"), [
    (["--loss", "mean"], "Invalid value for '--loss'"),
    (["--variant", "cevr-tiny", "--loss", "photo"], "--loss photo: only for a residual variant"),
    (["--variant", "cevr-tiny", "--highlight-exposures", "0.3"], "--highlight-exposures: only for a residual variant"),
    (["--variant", "cevr-residual", "--highlight-exposures", "1.5"], "--highlight-exposures 1.5: must be a share"),
    (["--variant", "cevr-residual", "--highlight-exposures", "nan"], "--highlight-exposures nan: must be a share"),
])
def test_train_refuses_a_residual_option_it_cannot_use_before_loading_data(tmp_path, extra, message):
    result = runner.invoke(app, ["train", "--data", str(tmp_path / "no-maps"), "-o", str(tmp_path / "run"),
                                 "--device", "cpu", *extra], env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("extra", "message"), [  # each was a traceback, most after run/split.json was written
    (["--lr", "-1"], "--lr -1.0: a learning rate above 0, at most 1"),
    (["--lr", "nan"], "--lr nan: a learning rate above 0, at most 1"),
    (["--lr", "1e308"], "--lr 1e+308: a learning rate above 0, at most 1"),
    (["--seed", "-1"], "--seed -1: from 0 to 2**32 - 1"),
    (["--crop", "100000"], "--crop 100000: at most --max-long-side (1024)"),
    (["--val-size", "100000"], "--val-size 100000: at most 4096"),
    (["--val-size", "36"], "--val-size 36: must be a positive multiple of 8"),  # was a traceback after an epoch
    (["--crop", "36"], "--crop 36: must be a positive multiple of 8"),
    (["--cycle-weight", "-5"], "--cycle-weight -5.0: a weight from 0 to 100"),
    (["--init", "missing.safetensors"], "--init missing.safetensors: no such weights file"),
    (["--variant", "cevr-residual-tiny", "--dorf", "__file__"], "not the DoRF curves file dorf-201-crf.mat"),
])
def test_train_refuses_values_it_cannot_train_with_before_writing_anything(tmp_path, extra, message, monkeypatch):
    pytest.importorskip("scipy") if "--dorf" in extra else None
    monkeypatch.chdir(tmp_path)
    (tmp_path / "__file__").write_text("not a MATLAB file")
    result = runner.invoke(app, ["train", "--data", str(tmp_path / "no-maps"), "-o", str(tmp_path / "run"),
                                 "--device", "cpu", *extra], env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", ["stack", "fuse"])
def test_a_negative_megapixel_limit_is_refused(tmp_path, photos, weights, command):
    result = runner.invoke(app, [command, str(photos / "a.jpg"), "--weights", str(weights), "-o", str(tmp_path / "o"),
                                 "--max-megapixels", "-1"])
    assert result.exit_code == 2, result.output
    assert "--max-megapixels" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


def camera_dng(path):
    """A linear DNG with a camera's metadata, its Orientation 6 (turned upright by LibRaw)."""
    from tests.dng import write_camera_dng

    data = (np.random.default_rng(0).uniform(0.05, 0.9, (32, 48, 3)) * 4000).astype(np.uint16)
    return write_camera_dng(path, data, 4000, make="TestCam", model="Model 7", date="2024:05:01 10:11:12",
                            exposure_time=1 / 250, f_number=2.8, iso=200, lens="TestLens 35mm", orientation=6)


def test_raw_outputs_carry_the_camera_date_and_exposure_not_the_raws_description(tmp_path):
    """Issue 23 item 13: TIFF stacks and fuse PNGs of a RAW carried no Make/Model/date (the RAW has no EXIF
    block to copy); they carry cevr's own EXIF now, orientation 1, Software cevr, and not the DNG's
    ImageDescription (tifffile's shape JSON)."""
    from PIL import Image

    from cevr_cli.io.exif import CEVR_SOFTWARE

    raw = camera_dng(tmp_path / "shot.dng")
    stacks, hdr = tmp_path / "stacks", tmp_path / "hdr"
    for args in (["stack", str(raw), "-o", str(stacks), "--format", "tiff", "--evs", "-1,1"],
                 ["fuse", str(raw), "-o", str(hdr), "--tmo", "reinhard"]):
        result = runner.invoke(app, [*args, "--model", "physics", "-q"])
        assert result.exit_code == 0, result.output
    with Image.open(stacks / "shot" / "00_ev-1.00.tif") as tiff:
        tags = tiff.tag_v2
        assert (tags[271], tags[272], tags[306], tags[305]) == ("TestCam", "Model 7", "2024:05:01 10:11:12",
                                                                CEVR_SOFTWARE)
        assert 270 not in tags and tiff.size == (32, 48)  # upright: LibRaw applied the orientation
    with Image.open(hdr / "shot" / "shot-reinhard.png") as png:
        exif = png.getexif()
        sub = exif.get_ifd(0x8769)
    assert (exif[0x010F], exif[0x0110], exif[0x0112], exif[0x0131]) == ("TestCam", "Model 7", 1, CEVR_SOFTWARE)
    assert sub[0x9003] == "2024:05:01 10:11:12" and sub[0xA434] == "TestLens 35mm" and sub[0x8827] == 200
    assert float(sub[0x829A]) == pytest.approx(1 / 250) and float(sub[0x829D]) == pytest.approx(2.8)


@pytest.mark.parametrize("raw_mode", ["linear", "cevr"])
def test_a_dngs_opcodes_not_applied_are_warned_by_name_and_recorded(tmp_path, raw_mode):
    """A DNG whose OpcodeList3 holds a WarpRectilinear (lens distortion, not flagged optional) and a FixVignetteRadial
    (flagged optional): cevr applies neither, and said nothing. The required one is a warning naming the photo; both
    are recorded in the manifest."""
    from tests.dng import gain_map_opcode, opcode_list, write_linear_dng

    flat = np.ones((1, 1, 1))
    raw = write_linear_dng(tmp_path / "lens.dng", np.full((32, 48, 3), 1000, np.uint16), 4000,
                           opcode_list_3=opcode_list(gain_map_opcode(flat, 32, 48, opcode=1),
                                                     gain_map_opcode(flat, 32, 48, opcode=3, flags=1)))
    result = runner.invoke(app, ["stack", str(raw), "-o", str(tmp_path / "out"), "--evs", "-1,1", "--model",
                                 "physics", "--raw-mode", raw_mode], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert (f"warning: {raw}: DNG opcodes not applied, its pixels lack their corrections: WarpRectilinear "
            "(OpcodeList3)") in text and "FixVignetteRadial" not in text
    manifest = json.loads((tmp_path / "out" / "lens" / "stack.json").read_text())
    assert manifest["dng_opcodes_not_applied"] == ["WarpRectilinear (OpcodeList3)",
                                                   "FixVignetteRadial (OpcodeList3, optional)"]
    assert manifest["warnings"] == ["DNG opcodes not applied, its pixels lack their corrections: WarpRectilinear "
                                    "(OpcodeList3)"]
    # the stack folder fused later keeps the record (read back, it said none were skipped)
    result = runner.invoke(app, ["fuse", str(tmp_path / "out" / "lens"), "-o", str(tmp_path / "hdr")])
    assert result.exit_code == 0, result.output
    (fused,) = (tmp_path / "hdr").glob("*/fuse.json")
    assert json.loads(fused.read_text())["dng_opcodes_not_applied"] == manifest["dng_opcodes_not_applied"]


@pytest.mark.parametrize("raw_mode", ["linear", "cevr"])
def test_a_librarys_log_warning_on_a_raw_names_the_photo(tmp_path, raw_mode):
    """tifffile logs a tag it cannot read (Orientation 0, which EXIF does not define): the warning line named no
    photo, in a batch of many not knowing which one (log records were not told with the photo being decoded, and
    the linear RAW reader did not say which photo it decoded)."""
    from tests.dng import write_camera_dng

    data = (np.random.default_rng(10).uniform(0.05, 0.9, (48, 64, 3)) * 4000).astype(np.uint16)
    raw = write_camera_dng(tmp_path / "turned.dng", data, 4000, make="TestCam", model="Model 7",
                           date="2024:05:01 10:11:12", exposure_time=1 / 250, f_number=2.8, iso=200,
                           lens="TestLens 35mm", orientation=0)
    result = runner.invoke(app, ["stack", str(raw), "-o", str(tmp_path / "out"), "--evs", "-1,1", "--model",
                                 "physics", "--raw-mode", raw_mode], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert lines and all(line.startswith(f"warning: {raw}: tifffile: ") for line in lines), result.output


@pytest.mark.parametrize("raw_mode", ["linear", "cevr"])
def test_a_dngs_outputs_are_its_default_crop_and_say_that_size(tmp_path, raw_mode):
    """A portrait DNG (Orientation 6) of 32x48 photosites whose DefaultCrop is 20x30 of them: its stack frames, its
    HDR image are the crop turned upright, 20 wide and 30 high (they were 32x48, the whole sensor), and so is the
    source size their manifests give (their EXIF gives none)."""
    from PIL import Image

    from tests.dng import write_camera_dng

    data = (np.random.default_rng(0).uniform(0.05, 0.9, (32, 48, 3)) * 4000).astype(np.uint16)
    raw = write_camera_dng(tmp_path / "shot.dng", data, 4000, make="TestCam", model="Model 7",
                           date="2024:05:01 10:11:12", exposure_time=1 / 250, f_number=2.8, iso=200,
                           lens="TestLens 35mm", orientation=6, crop=(4, 6, 20, 30))
    stacks, hdr = tmp_path / "stacks", tmp_path / "hdr"
    for args in (["stack", str(raw), "-o", str(stacks), "--format", "tiff", "--evs", "-1,1"],
                 ["fuse", str(raw), "-o", str(hdr), "--tmo", "reinhard"]):
        result = runner.invoke(app, [*args, "--model", "physics", "--raw-mode", raw_mode, "-q"])
        assert result.exit_code == 0, result.output
    for manifest in (stacks / "shot" / "stack.json", hdr / "shot" / "fuse.json"):
        assert json.loads(manifest.read_text())["source_size"] == [20, 30], manifest
    for image in (stacks / "shot" / "00_ev-1.00.tif", hdr / "shot" / "shot-reinhard.png"):
        with Image.open(image) as im:
            assert im.size == (20, 30), image


def test_cevrs_own_renderings_are_read_back_as_srgb_not_as_camera_jpegs(tmp_path):
    """A RAW's TIFF stack and a tone-mapped PNG carry the camera's Make, but their pixels are cevr's sRGB
    rendering: `--response auto` reads them as sRGB, and says why."""
    from PIL import Image

    raw = camera_dng(tmp_path / "shot.dng")
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "EOS R5"
    Image.fromarray(np.full((32, 48, 3), 128, np.uint8)).save(tmp_path / "jpeg.jpg", exif=exif.tobytes())
    for args in (["stack", str(raw), "-o", str(tmp_path / "stacks"), "--format", "tiff", "--evs", "-1,1"],
                 ["fuse", str(tmp_path / "jpeg.jpg"), "-o", str(tmp_path / "hdr"), "--tmo", "reinhard"]):
        assert runner.invoke(app, [*args, "--model", "physics", "-q"]).exit_code == 0
    renders = [tmp_path / "stacks" / "shot" / "00_ev-1.00.tif", tmp_path / "hdr" / "jpeg" / "jpeg-reinhard.png"]
    for render in renders:
        out = tmp_path / "again" / render.suffix
        result = runner.invoke(app, ["stack", str(render), "-o", str(out), "--evs", "-1,1", "--model", "physics",
                                     "-q"])
        assert result.exit_code == 0, result.output
        response = json.loads((out / render.stem / "stack.json").read_text())["response"]
        assert response["name"] == "srgb" and response["reason"].endswith("cevr's own sRGB rendering"), render


def test_names_that_look_like_rich_markup_are_printed_as_they_are(tmp_path):
    """A failing photo whose path reads like a rich closing tag (folder ``a[``, file ``b].jpg``) used to end the run
    with a MarkupError."""
    photos = tmp_path / "photos"
    (photos / "a[").mkdir(parents=True)
    (photos / "a[" / "b].jpg").write_bytes(b"not a jpeg")
    translucent = np.full((16, 16, 4), 128, np.uint8)
    translucent[:4, :, 3] = 0  # a dropped alpha channel that hid something: a warning naming the photo
    cv2.imwrite(str(photos / "x[bold]y.png"), translucent)
    result = runner.invoke(app, ["stack", str(photos), "-r", "-o", str(tmp_path / "out"), "--model", "physics",
                                 "--evs", "-1,1"])
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert f"failed: {photos / 'a[' / 'b].jpg'}: " in text and "Traceback" not in text
    assert f"warning: {photos / 'x[bold]y.png'}: " in text  # its name whole, not half read as a style
    assert "stack: 1 done, 0 skipped (already complete), 1 failed" in text


def test_a_file_name_holding_a_newline_is_reported_on_one_line(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a\nb.jpg").write_bytes(b"")
    result = runner.invoke(app, ["stack", str(photos), "-o", str(tmp_path / "out"), "--model", "physics", "-q"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"failed: {photos}/a\\nb.jpg: empty file (0 bytes)"]


def test_each_stage_reads_the_previous_stages_default_output_when_given_no_inputs(tmp_path, photos, weights,
                                                                                   monkeypatch):
    """The brief's pipeline: `cevr stack photos/`, then `cevr fuse --tmo reinhard`, then `cevr tonemap`."""
    monkeypatch.chdir(tmp_path)
    for stage, folder, writer in (("fuse", "cevr-stacks", "stack"), ("tonemap", "cevr-hdr", "fuse")):
        refused = runner.invoke(app, [stage])
        assert refused.exit_code == 2 and refused.output.strip() == (
            f"error: no inputs given, and no ./{folder} (where `cevr {writer}` writes by default) here: give the "
            f"{stage} command its inputs")
    common = ["--weights", str(weights), "--device", "cpu", "-q"]
    assert runner.invoke(app, ["stack", str(photos), "--evs", "-1,0,1", *common]).exit_code == 0
    assert sorted(p.name for p in (tmp_path / "cevr-stacks").iterdir()) == ["a", "b"]
    fused = runner.invoke(app, ["fuse", "--tmo", "reinhard", *common])
    assert fused.exit_code == 0, fused.output
    assert sorted(p.name for p in (tmp_path / "cevr-hdr").glob("*/*.exr")) == ["a.exr", "b.exr"]
    record = json.loads((tmp_path / "cevr-hdr" / "a" / "fuse.json").read_text())
    assert record["stack"] == str(tmp_path / "cevr-stacks" / "a")  # fused from the stack, not the photo again
    shown = runner.invoke(app, ["tonemap", "-q"])
    assert shown.exit_code == 0, shown.output
    assert len(list((tmp_path / "cevr-tonemapped").glob("*.png"))) == 2


def test_json_keeps_the_warnings_on_stderr_and_quiet_drops_them(tmp_path):
    from PIL import Image

    rgba = np.full((32, 32, 4), 200, np.uint8)
    rgba[..., 3] = 128  # translucent: the alpha channel is dropped with a warning
    Image.fromarray(rgba).save(tmp_path / "alpha.png")
    for flags, warned in ((["--json"], True), (["--json", "-q"], False)):
        out = tmp_path / f"out{len(flags)}"
        result = runner.invoke(app, ["stack", str(tmp_path / "alpha.png"), "-o", str(out), "--evs", "1", "--model",
                                     "physics", *flags])
        assert result.exit_code == 0 and json.loads(result.stdout)["counts"] == {"done": 1}
        assert ("warning: " in result.stderr and "alpha channel dropped" in result.stderr) == warned, result.stderr
        assert "inputs" not in result.stderr  # no progress display with --json


@pytest.mark.parametrize(("args", "message"), [
    (["tonemap", "x.exr", "--srgb", "--gamma", "2.2"],
     "--srgb encodes with the sRGB curve, which takes no --gamma (got 2.2): give one or the other"),
    (["fuse", "--evs", "1,,2"], "EV list '1,,2': an empty item"),
    (["tonemap"], "no inputs given, and no ./cevr-hdr"),
    (["stack", "x.jpg", "--weights", "missing.safetensors"], "missing.safetensors"),
])
def test_with_json_a_request_refused_by_its_own_checks_is_a_json_object_on_stdout(tmp_path, monkeypatch, args,
                                                                                   message):
    """stdout was empty: a script reading it had nothing to parse. The line stays on stderr, exit 2."""
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 2 and result.stderr.startswith(f"error: {message}"), result.output
    answer = json.loads(result.stdout)
    assert answer == {"error": answer["error"], "exit_code": 2} and answer["error"].startswith(message)
    assert " ".join(result.stderr.split()) == f"error: {answer['error']}"
    plain = runner.invoke(app, args)  # without --json (run after it: nothing of the earlier run is kept)
    assert plain.exit_code == 2 and plain.stdout == ""


def test_bench_never_replaces_a_photo_a_map_or_its_other_table(tmp_path, weights):
    data = tmp_path / "maps"
    data.mkdir()
    (data / "s0.hdr").write_bytes(b"radiance")
    (tmp_path / "f0.png").write_bytes(b"photo")
    cases = [(["--json-out", str(data / "s0.hdr")], "--json-out"), (["--csv", str(tmp_path / "f0.png")], "--csv"),
             (["--json-out", str(data / "results.json")], "inside the dataset folder"),
             (["--csv", str(tmp_path / "r.csv"), "--json-out", str(tmp_path / "r.csv")], "give a .json file name")]
    for args, told in cases:
        result = runner.invoke(app, ["bench", "--dataset", "synthetic", str(data), "--weights", str(weights), *args])
        assert result.exit_code == 2 and told in result.output, result.output
    assert (data / "s0.hdr").read_bytes() == b"radiance" and (tmp_path / "f0.png").read_bytes() == b"photo"


def test_convert_weights_never_replaces_a_checkpoint_or_a_photo_and_keeps_the_recorded_variant(tmp_path):
    import torch

    from cevr_cli.model import CEVRNet, get_config

    for seed, direction in enumerate(("inc", "dec")):  # as training/loop.py writes <dir>-last.pt
        torch.manual_seed(seed)
        torch.save({"model": CEVRNet(get_config("cevr-tiny")).state_dict(), "epoch": 1, "direction": direction,
                    "config": {"variant": "cevr-tiny"}}, tmp_path / f"{direction}-last.pt")
    inc, dec = str(tmp_path / "inc-last.pt"), str(tmp_path / "dec-last.pt")
    (tmp_path / "f2.png").write_bytes(b"photo")
    for out, told in ((inc, "give a .safetensors file name"), (str(tmp_path / "f2.png"), "give a .safetensors"),
                      (str(tmp_path / "x.safetensors"), "but " + inc + " was trained as cevr-tiny")):
        extra = ["--variant", "cevr-residual-tiny"] if out.endswith(".safetensors") else []
        result = runner.invoke(app, ["convert-weights", inc, dec, "-o", out, *extra], env={"COLUMNS": "300"})
        assert result.exit_code == 2 and told in result.output, result.output
    assert (tmp_path / "f2.png").read_bytes() == b"photo" and torch.load(inc, weights_only=False)["epoch"] == 1
    assert not (tmp_path / "x.safetensors").exists()
    notes = tmp_path / "notes.safetensors"  # the suffix alone let it be replaced
    notes.write_text("my notes")
    result = runner.invoke(app, ["convert-weights", inc, dec, "-o", str(notes)], env={"COLUMNS": "300"})
    assert result.exit_code == 2 and notes.read_text() == "my notes", result.output
    assert f"-o {notes}: something that is not a cevr weights pair is there; it is never replaced" in result.output
    pair = tmp_path / "pair.safetensors"  # a pair is replaced: a reconversion
    for extra in (["--quiet"], ["--json"]):
        result = runner.invoke(app, ["convert-weights", inc, dec, "-o", str(pair), *extra], env={"COLUMNS": "300"})
        assert result.exit_code == 0, result.output
        if extra == ["--quiet"]:
            assert result.output == ""
    from cevr_cli.model.weights_format import read_header

    assert json.loads(result.output) == {"output": str(pair), "variant": "cevr-tiny", "role": "paper",
                                         "weights_id": read_header(pair).weights_id,
                                         "use": f"--model cevr-paper --weights {pair}"}


@pytest.mark.parametrize("command", ["stack", "fuse"])
def test_a_folder_named_like_its_photo_is_never_its_output(tmp_path, gradient_image, command):
    """shoot/IMG_1/IMG_1.png with -o shoot: the output cannot be shoot/IMG_1, the folder the photo is in (with
    --overwrite that would delete the photo and what lies beside it); it is shoot/IMG_1_, on every run."""
    shoot = tmp_path / "shoot"
    (shoot / "IMG_1").mkdir(parents=True)
    photo = shoot / "IMG_1" / "IMG_1.png"
    cv2.imwrite(str(photo), np.round(gradient_image[..., ::-1] * 255).astype(np.uint8))
    (shoot / "IMG_1" / "notes.txt").write_text("mine")
    before = photo.read_bytes()
    args = [command, str(photo), "-o", str(shoot), "--model", "physics", "--json"]
    if command == "stack":
        args += ["--evs", "1"]
    for extra, status in (([], "done"), (["--overwrite"], "done"), ([], "skipped")):
        result = runner.invoke(app, args + extra)
        assert result.exit_code == 0, result.output
        (item,) = json.loads(result.stdout)["items"]
        assert (item["output"], item["status"]) == (str(shoot / "IMG_1_"), status)
    assert photo.read_bytes() == before and (shoot / "IMG_1" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in shoot.iterdir()) == ["IMG_1", "IMG_1_"]


@pytest.mark.parametrize("recursive", [True, False])
def test_a_folder_that_cannot_be_listed_fails_by_name_and_the_rest_goes_on(tmp_path, gradient_image, monkeypatch,
                                                                            recursive):
    """No permission to list a folder (given, or met by -r): pathlib's walk passed over it without a word, and the
    run said "0 failed". It is a failed input naming the folder (exit 1); the readable photos are done."""
    import errno

    bgr = np.round(gradient_image[..., ::-1] * 255).astype(np.uint8)
    shoot = tmp_path / "shoot"
    for day in ("a", "b"):
        (shoot / day).mkdir(parents=True)
        cv2.imwrite(str(shoot / day / f"{day}.png"), bgr)
    locked = shoot / "b"
    scandir, listdir = os.scandir, os.listdir

    def refuse(real):
        def call(path="."):
            if not isinstance(path, int) and Path(os.fsdecode(path)).resolve() == locked.resolve():
                raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(path))
            return real(path)
        return call

    monkeypatch.setattr(os, "scandir", refuse(scandir))  # as chmod 000 does, also where the tests run as root
    monkeypatch.setattr(os, "listdir", refuse(listdir))
    inputs = [str(shoot), "-r"] if recursive else [str(shoot / "a"), str(locked)]
    result = runner.invoke(app, ["stack", *inputs, "-o", str(tmp_path / "out"), "--evs", "1", "--model", "physics",
                                 "--json"])
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert summary["counts"] == {"done": 1, "failed": 1}
    (failed,) = [item for item in summary["items"] if item["status"] == "failed"]
    assert failed["message"] == (f"{locked}: a folder that cannot be listed (Permission denied): the files in it "
                                 "were not searched")


def test_a_photo_keeps_its_output_when_a_namesake_comes_beside_it_later(tmp_path, gradient_image):
    """IMG_9.png stacked, then IMG_9.jpg copied beside it: the PNG's output stays IMG_9 (skipped, not redone as
    IMG_9_png with IMG_9 left over for a later fuse to take twice); the newcomer gets IMG_9_jpg."""
    card = tmp_path / "card"
    card.mkdir()
    bgr = np.round(gradient_image[..., ::-1] * 255).astype(np.uint8)
    cv2.imwrite(str(card / "IMG_9.png"), bgr)
    out = tmp_path / "out"
    args = ["stack", str(card), "-o", str(out), "--evs", "1", "--model", "physics", "--json"]
    assert runner.invoke(app, args).exit_code == 0
    cv2.imwrite(str(card / "IMG_9.jpg"), bgr[::-1].copy())
    items = {Path(i["source"]).name: (Path(i["output"]).name, i["status"])
             for i in json.loads(runner.invoke(app, args).stdout)["items"]}
    assert items == {"IMG_9.jpg": ("IMG_9_jpg", "done"), "IMG_9.png": ("IMG_9", "skipped")}
    assert sorted(p.name for p in out.iterdir()) == ["IMG_9", "IMG_9_jpg"]


def test_the_json_summary_stays_utf8_for_a_name_that_is_not(tmp_path, gradient_image):
    """A file name with a byte that is not UTF-8 (an old camera card's caf\\xe9.jpg) is processed, and the --json
    summary is still valid UTF-8 JSON naming it, by an escape that os.fsencode turns back into its bytes."""
    folder = tmp_path / "card"
    folder.mkdir()
    name = os.fsdecode(b"caf\xe9.png")
    cv2.imwrite(str(tmp_path / "plain.png"), np.round(gradient_image[..., ::-1] * 255).astype(np.uint8))
    os.rename(tmp_path / "plain.png", folder / name)
    result = runner.invoke(app, ["stack", str(folder), "-o", str(tmp_path / "out"), "--evs", "1", "--model",
                                 "physics", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout_bytes.decode("utf-8"))  # strict: a raw \xe9 byte fails here
    (item,) = summary["items"]
    assert os.fsencode(item["source"]) == os.fsencode(folder / name)


def test_a_stages_output_folder_given_as_photos_fails_by_name(tmp_path, photos):
    """A stack folder given to `cevr stack` (or a fuse folder to `cevr fuse`) was read as photos, its contact sheet
    too; it is one failed input that names what takes it, and the photos beside it are done."""
    stacks = tmp_path / "stacks"
    args = ["--evs", "1", "--model", "physics", "--json"]
    assert runner.invoke(app, ["stack", str(photos / "a.jpg"), "-o", str(stacks), *args]).exit_code == 0
    result = runner.invoke(app, ["stack", str(stacks / "a"), str(photos / "b.png"), "-o", str(tmp_path / "again"),
                                 *args])
    assert result.exit_code == 1
    items = {Path(i["source"]).name: (i["status"], i["message"]) for i in json.loads(result.stdout)["items"]}
    assert items == {"a": ("failed", f"{stacks / 'a'}: a cevr stack folder, not a photo (`cevr fuse` takes it)"),
                     "b.png": ("done", "")}
    hdr = tmp_path / "hdr"
    fused = runner.invoke(app, ["fuse", str(photos / "a.jpg"), "-o", str(hdr), "--model", "physics", "-q"])
    assert fused.exit_code == 0, fused.output
    result = runner.invoke(app, ["fuse", str(hdr / "a"), "-o", str(tmp_path / "hdr2"), "--model", "physics", "--json"])
    assert result.exit_code == 1 and json.loads(result.stdout)["items"][0]["message"] == (
        f"{hdr / 'a'}: a cevr fuse output folder, not a photo (`cevr tonemap` takes it)")


def test_fuse_takes_a_stack_folder_met_twice_once_and_does_not_search_its_own_output(tmp_path, photos,
                                                                                    monkeypatch):
    """`cevr fuse s s/a ./s/a` made a twice (a and a_, and a tonemap would take both); fuse's own output folder
    given back to it fused the stack --keep-stack kept inside it, besides failing."""
    stacks = tmp_path / "s"
    made = runner.invoke(app, ["stack", str(photos), "-o", str(stacks), "--evs", "-2:2:1", "--model", "physics",
                               "-q"])
    assert made.exit_code == 0, made.output
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["fuse", "s", "s/a", "./s/a", "-o", "f", "--json"])
    assert result.exit_code == 0, result.output
    assert sorted(Path(i["output"]).name for i in json.loads(result.stdout)["items"]) == ["a", "b"]
    kept = runner.invoke(app, ["fuse", str(photos / "a.jpg"), "-o", "h", "--model", "physics", "--keep-stack", "-q"])
    assert kept.exit_code == 0 and (tmp_path / "h" / "a" / "stack" / "stack.json").is_file(), kept.output
    result = runner.invoke(app, ["fuse", "h/a", "-o", "h2", "--model", "physics", "--json"])
    assert result.exit_code == 1
    assert [i["status"] for i in json.loads(result.stdout)["items"]] == ["failed"]


def _bracket_dataset(root):
    for name, value in (("ev-1.png", 60), ("ev+0.png", 120), ("ev+1.png", 240)):
        (root / "kitchen").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "kitchen" / name), np.full((20, 24, 3), value, np.uint8))
    return root


def test_bench_keeps_a_users_files_and_replaces_only_its_own_results(tmp_path):
    data = _bracket_dataset(tmp_path / "brackets")
    mine = tmp_path / "mydata.csv"
    mine.write_text("name,salary\n")
    (tmp_path / "r-psnr.png").write_bytes(b"someone's chart")
    run = ["bench", "--dataset", "brackets", str(data), "--model", "physics", "--no-baselines", "--size", "16",
           "--metrics", "psnr", "--evs", "-1,1", "-q"]
    for args, told in (([ "--csv", str(mine)], f"--csv {mine}: a file that no cevr bench wrote is there"),
                       (["--json-out", str(tmp_path / "r.json")], f"{tmp_path / 'r-psnr.png'}: there already")):
        result = runner.invoke(app, [*run, *args])
        assert result.exit_code == 2 and told in result.output, result.output
    assert mine.read_text() == "name,salary\n" and (tmp_path / "r-psnr.png").read_bytes() == b"someone's chart"
    ours = tmp_path / "ours.csv"
    for _ in range(2):  # the second run replaces the first one's table and plot
        result = runner.invoke(app, [*run, "--csv", str(ours)])
        assert result.exit_code == 0, result.output
    assert ours.read_text().startswith("predictor,metric,ev,mean,std,count\n")
    assert (tmp_path / "ours-psnr.png").is_file()
    result = runner.invoke(app, [*run, "--csv", str(ours), "--json-out", str(tmp_path / "ours.json")])
    assert result.exit_code == 0, result.output  # the plots beside the earlier CSV are bench's own


def test_bench_that_scores_part_of_what_was_asked_says_so_and_exits_1(tmp_path):
    data = _bracket_dataset(tmp_path / "brackets")
    result = runner.invoke(app, ["bench", "--dataset", "brackets", str(data), "--model", "physics", "--no-baselines",
                                 "--size", "16", "--metrics", "psnr,reinhard_psnr", "--evs", "-1,1,2"])
    assert result.exit_code == 1, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: incomplete")]
    assert warnings == ["warning: incomplete: reinhard_psnr: no HDR truth in any of the 1 scenes (looked for an .exr "
                        "or .hdr in the scene's folder)"]
    assert "LDR PSNR per EV" in result.stdout  # the tables of what was scored come first


@pytest.mark.parametrize("command", ["stack", "fuse"])
def test_an_output_file_cut_short_or_replaced_since_is_made_again_not_skipped(tmp_path, photos, command):
    """The marker records each listed file's size: a frame or HDR of another size (a power cut before the disk had
    it, or a file replaced) was taken as complete, and skipped on every later run."""
    out = tmp_path / "o"
    args = [command, str(photos / "a.jpg"), "-o", str(out), "--model", "physics", "--evs", "-1,1", "--json"]
    assert json.loads(runner.invoke(app, args).stdout)["counts"] == {"done": 1}
    marker = json.loads((out / "a" / f"{command}.json").read_text())
    listed = marker["files"] if command == "stack" else marker["outputs"]
    assert sorted(marker["file_sizes"]) == sorted(listed + ([marker["contact_sheet"]] if command == "stack" else []))
    victim = out / "a" / listed[0]
    assert marker["file_sizes"][listed[0]] == victim.stat().st_size > 100
    victim.write_bytes(victim.read_bytes()[:100])
    assert json.loads(runner.invoke(app, args).stdout)["counts"] == {"done": 1}
    assert victim.stat().st_size == marker["file_sizes"][listed[0]]
    assert json.loads(runner.invoke(app, args).stdout)["counts"] == {"skipped": 1}


def test_a_full_disk_when_the_marker_is_written_fails_that_photo_in_one_line_naming_the_marker(tmp_path, photos,
                                                                                               monkeypatch):
    import errno

    import cevr_cli.io.atomic

    sync = cevr_cli.io.atomic._sync

    def full_for_markers(path):
        if Path(path).name.startswith(".fuse."):
            raise OSError(errno.ENOSPC, "No space left on device")
        sync(path)

    monkeypatch.setattr(cevr_cli.io.atomic, "_sync", full_for_markers)
    out = tmp_path / "o"
    result = runner.invoke(app, ["fuse", str(photos / "a.jpg"), str(photos / "b.png"), "-o", str(out), "--model",
                                 "physics", "--evs", "-1,1", "-q"], env={"COLUMNS": "300"})
    assert result.exit_code == 1
    failed = [line for line in result.output.splitlines() if line.startswith("failed:")]
    assert len(failed) == 2, result.output
    for line, name, stem in zip(failed, ("a.jpg", "b.png"), "ab", strict=True):  # the folder as it was being made
        assert re.fullmatch(rf"failed: {re.escape(str(photos / name))}: {re.escape(str(out))}/\.{stem}\.partial-"
                            r"[0-9a-f-]+/fuse\.json: cannot write it \(No space left on device\)", line), line
    assert sorted(p.name for p in out.iterdir()) == []  # nothing partial left


def test_train_stopped_before_any_validation_says_no_weights_yet_not_one_direction(tmp_path, monkeypatch):
    """Both directions trained, stopped (--max-minutes) within their first epoch: no best checkpoint, so no pair;
    the line said 'n/a (one direction)', as if only one direction had been asked for."""
    from cevr_cli.training import loop

    maps = tmp_path / "maps"
    maps.mkdir()
    seen = []

    def stopped_early(cfg, on_event=None):
        seen.append(cfg.direction)
        return loop.TrainResult(weights=None, best_psnr={}, epochs={"inc": 1, "dec": 1},
                                iterations={"inc": 1, "dec": 1}, seconds=0.1)

    monkeypatch.setattr(loop, "run_training", stopped_early)
    base = ["train", "--data", str(maps), "-o", str(tmp_path / "run"), "--device", "cpu"]
    result = runner.invoke(app, base)
    assert result.exit_code == 0 and seen == ["both"], result.output
    assert "weights: none yet (no epoch validated; --resume continues the run)" in result.output
    assert "one direction" not in result.output
    result = runner.invoke(app, [*base, "--direction", "inc"])
    assert result.exit_code == 0 and "weights: n/a (one direction)" in result.output, result.output


def test_train_stopped_before_training_starts_still_prints_its_json(tmp_path, monkeypatch):
    """A Ctrl-C or SIGTERM while torch and the data load (the first seconds) printed nothing under --json, although
    a stop prints {"interrupted": true, ...}: the except covered run_training alone."""
    import cevr_cli.model

    def stopped(device):
        raise KeyboardInterrupt

    monkeypatch.setattr(cevr_cli.model, "resolve_device", stopped)
    run = tmp_path / "run"
    run.mkdir()
    (run / "inc-last.pt").write_bytes(b"")  # what an earlier chunk of the run left
    result = runner.invoke(app, ["train", "--data", str(tmp_path), "-o", str(run), "--json"])
    assert result.exit_code == 130, result.output
    assert json.loads(result.stdout) == {"interrupted": True, "out": str(run), "resumable": ["inc-last.pt"]}


def test_bench_goes_on_past_a_scene_it_cannot_read_and_names_it(tmp_path):
    """A corrupt frame stopped the whole benchmark at the first; the other scenes are now scored, the one left out
    is named in one line after the results, and the exit code says the score is partial."""
    for scene in ("t1", "t2"):
        folder = tmp_path / "vds" / "test_set" / scene
        folder.mkdir(parents=True)
        for ev in range(-1, 2):
            cv2.imwrite(str(folder / f"{scene}_{ev}EV_true.jpg.png"), np.full((20, 24, 3), 100 + 40 * ev, np.uint8))
    broken = tmp_path / "vds" / "test_set" / "t1" / "t1_1EV_true.jpg.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    result = runner.invoke(app, ["bench", "--dataset", "vds", str(tmp_path / "vds"), "--model", "physics",
                                 "--no-baselines", "--size", "16", "--metrics", "psnr", "--evs", "-1,1", "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["scenes"] == 1 and len(report["gaps"]) == 1
    assert report["gaps"][0].startswith(f"scene skipped: {broken}: ")
    assert {row["count"] for row in report["rows"]} == {1}  # t2 scored at both EVs
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: incomplete")]
    assert warnings == [f"warning: incomplete: {report['gaps'][0]}"]


def test_bench_on_hdreye_prints_no_ldr_table_of_nothing_but_n_a(tmp_path):
    """HDREye has no truth at any EV but 0: it is scored on the HDR metrics alone (its plots too), yet a table of 12
    EV rows, every cell n/a, came first."""
    from cevr_cli.io.hdrfile import write_radiance_hdr

    images = tmp_path / "eye" / "images"
    (images / "LDR").mkdir(parents=True)
    y, x = np.mgrid[0:24, 0:32] / 8.0
    radiance = (np.exp(np.sin(x) * np.cos(y))[..., None] * np.array([1.0, 0.8, 1.2])).astype(np.float32) * 0.3
    cv2.imwrite(str(images / "LDR" / "C01_LDR.tif"),
                np.round(np.clip(radiance, 0, 1) ** (1 / 2.2) * 65535)[..., ::-1].astype(np.uint16))
    write_radiance_hdr(images / "HDR" / "C01_HDR.hdr", radiance)
    result = runner.invoke(app, ["bench", "--dataset", "hdreye", str(tmp_path / "eye"), "--model", "physics",
                                 "--response", "gamma:2.2", "--no-baselines", "--size", "16",
                                 "--metrics", "psnr,reinhard_psnr"])
    assert result.exit_code == 0, result.output
    assert "LDR PSNR" not in result.stdout and "n/a" not in result.stdout
    assert "HDR quality (hdreye)" in result.stdout and "reinhard_psnr" in result.stdout
