"""Paths on the command line: empty ones, names the file system refuses, and the lines they give."""

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from cevr_cli.cli import app

runner = CliRunner()


@pytest.mark.parametrize("args", [
    ["stack", ""], ["stack", "x.jpg", "-o", ""], ["fuse", ""], ["tonemap", ""], ["calibrate", "a.jpg", ""],
    ["bench", "--csv", ""], ["stack", "x.jpg", "--weights", ""], ["train", "--data", "", "-o", "run"],
])
def test_an_empty_path_is_refused_not_read_as_the_current_folder(tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    cv2.imwrite(str(tmp_path / "x.jpg"), np.zeros((32, 32, 3), np.uint8))  # a photo "." would find
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "empty path (an unset shell variable?)" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.jpg"]  # nothing written


def test_an_output_name_too_long_is_one_line_and_exit_2(tmp_path):
    photo = tmp_path / "x.png"
    cv2.imwrite(str(photo), np.zeros((32, 32, 3), np.uint8))
    other = tmp_path / "y.png"
    cv2.imwrite(str(other), np.full((32, 32, 3), 9, np.uint8))
    out = tmp_path / ("D" * 300)
    for args in (["stack", str(photo), "-o", str(out), "--model", "physics"], ["tonemap", str(photo), "-o", str(out)],
                 ["calibrate", str(photo), str(other), "--evs", "0,1", "-o", f"{out}.json"]):
        done = runner.invoke(app, args, env={"COLUMNS": "1000"})
        assert done.exit_code == 2, done.stderr
        assert done.stderr.startswith("error: ") and done.stderr.endswith(": cannot write there (File name too long)\n")
        assert done.stderr.count("\n") == 1  # one line: no traceback, no blank line before it


def test_a_refused_request_is_its_error_line_alone(tmp_path):
    (tmp_path / "empty").mkdir()
    done = runner.invoke(app, ["stack", str(tmp_path / "empty")], env={"COLUMNS": "1000"})
    assert done.exit_code == 2 and done.stderr == f"error: no photos found in {tmp_path / 'empty'}\n"


def _photo(path, value=120):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    cv2.imwrite(str(path), rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))
    return path


def test_a_photo_with_a_long_name_is_fused_and_a_name_too_long_fails_alone(tmp_path):
    long = _photo(tmp_path / "in" / ("y" * 240 + ".jpg"))
    ok = _photo(tmp_path / "ok" / "P0.jpg")
    refused = tmp_path / ("x" * 260 + ".jpg")
    result = runner.invoke(app, ["fuse", str(long), str(refused), str(ok), "-o", str(tmp_path / "hdr"), "--model",
                                 "physics", "--tmo", "reinhard-local", "--json"])
    assert result.exit_code == 1, result.output
    items = json.loads(result.stdout)["items"]
    assert [item["status"] for item in items] == ["done", "failed", "done"]
    assert items[1]["message"] == f"{refused}: cannot be read (File name too long)"
    folder = Path(items[0]["output"])
    assert all(len(os.fsencode(p.name)) <= 230 for p in folder.iterdir())
    exr = Path(items[2]["output"]) / "P0.exr"
    result = runner.invoke(app, ["tonemap", str(refused.with_suffix(".exr")), str(exr), "-o", str(tmp_path / "ldr"),
                                 "--json"])
    assert result.exit_code == 1 and json.loads(result.stdout)["counts"] == {"done": 1, "failed": 1}, result.stdout


def test_fuse_takes_the_photos_beside_stack_folders_too(tmp_path):
    mixed = tmp_path / "mixed"
    _photo(mixed / "P0.jpg")
    other = _photo(tmp_path / "P1.jpg", 7)
    assert runner.invoke(app, ["stack", str(other), "-o", str(mixed), "--evs", "-1,0,1", "--model", "physics"]
                         ).exit_code == 0
    result = runner.invoke(app, ["fuse", str(mixed), "-o", str(tmp_path / "hdr"), "--model", "physics", "--json",
                                 "--dry-run"])
    assert sorted(Path(i["source"]).name for i in json.loads(result.stdout)["items"]) == ["P0.jpg", "P1"]


def test_calibrate_takes_a_stack_folders_frames_without_its_contact_sheet(tmp_path):
    photo = _photo(tmp_path / "P.png")
    assert runner.invoke(app, ["stack", str(photo), "-o", str(tmp_path / "s"), "--evs", "-2:2:1", "--model", "physics"]
                         ).exit_code == 0
    from cevr_cli.calibrate import bracket_frames

    frames = bracket_frames([tmp_path / "s" / "P"])
    assert [f.name for f in frames] == [f"{i:02d}_ev{ev:+.2f}.png" for i, ev in enumerate(range(-2, 3))]


def test_the_demo_never_replaces_a_users_own_sample_folder(tmp_path):
    (tmp_path / "sample").mkdir()
    (tmp_path / "sample" / "thesis.txt").write_text("precious")
    result = runner.invoke(app, ["demo", "--size", "32", "-o", str(tmp_path), "--device", "cpu"])
    assert result.exit_code == 2 and "exists and was not made by cevr demo; choose another -o" in result.output
    assert (tmp_path / "sample" / "thesis.txt").read_text() == "precious"


def test_fuse_r_finds_stack_folders_at_any_depth_but_not_inside_other_outputs(tmp_path):
    photo = _photo(tmp_path / "P1.jpg", 7)
    assert runner.invoke(app, ["stack", str(photo), "-o", str(tmp_path / "s"), "--evs", "-1,0,1", "--model",
                               "physics"]).exit_code == 0
    tree = tmp_path / "tree"
    (tree / "deep").mkdir(parents=True)
    (tmp_path / "s" / "P1").rename(tree / "deep" / "sb")
    assert runner.invoke(app, ["fuse", str(tree / "deep" / "sb"), "-o", str(tree / "hdr"), "--model", "physics",
                               "--keep-stack"]).exit_code == 0  # its kept stack lies inside a fuse output
    flat = runner.invoke(app, ["fuse", str(tree), "-o", str(tmp_path / "out"), "--dry-run"])
    assert flat.exit_code == 2 and "(1 in subfolders: add -r to search them)" in flat.output, flat.output
    deep = runner.invoke(app, ["fuse", str(tree), "-r", "-o", str(tmp_path / "out"), "--dry-run", "--json"])
    assert [Path(i["source"]).name for i in json.loads(deep.stdout)["items"]] == ["sb"]


def test_a_dry_run_lists_its_plan_under_quiet_too(tmp_path):
    photo = _photo(tmp_path / "P.jpg")
    result = runner.invoke(app, ["stack", str(photo), "-q", "--dry-run", "-o", str(tmp_path / "new")],
                           env={"COLUMNS": "300"})
    assert result.exit_code == 0 and "would write:" in result.stderr and "P.jpg" in result.stderr


@pytest.mark.parametrize("command", ["stack", "fuse", "tonemap"])
def test_a_dry_run_lists_the_inputs_that_would_fail_as_failing(tmp_path, command):
    """A dry run listed a missing file and a folder of no photos as "would write", exit 0, where the run fails them."""
    (tmp_path / "empty").mkdir()
    if command == "tonemap":
        given, missing, kind = tmp_path / "x.hdr", tmp_path / "gone.hdr", "HDR image"
        cv2.imwrite(str(given), np.full((32, 32, 3), 0.5, np.float32))
    else:
        given, missing, kind = _photo(tmp_path / "x.jpg"), tmp_path / "gone.jpg", "photo"
    result = runner.invoke(app, [command, str(given), str(missing), str(tmp_path / "empty"), "-o",
                                 str(tmp_path / "out"), "--dry-run", "--json"], env={"COLUMNS": "1000"})
    assert result.exit_code == 1, result.output
    items = {Path(item["source"]).name: item for item in json.loads(result.stdout)["items"]}
    assert {name: item["status"] for name, item in items.items()} == {
        given.name: "planned", missing.name: "failed", "empty": "failed"}
    assert items[missing.name]["message"] == f"{missing}: file not found"
    assert items["empty"]["message"] == f"{tmp_path / 'empty'}: a folder in which no {kind} was found"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["stack", "fuse", "tonemap"])
def test_a_folder_given_among_others_that_holds_nothing_fails_by_name(tmp_path, command):
    """`cevr stack 2024/ 2025/` where 2025 holds only day folders skipped 2025 in silence and reported success
    (`cevr fuse` did so until its inputs were held to the same rule)."""
    (tmp_path / "empty").mkdir()
    _photo(tmp_path / "days" / "d1" / "a.jpg")
    if command in ("stack", "fuse"):
        given = _photo(tmp_path / "x.jpg")
        args = ["--model", "physics", "--evs", "1"]
    else:
        given = tmp_path / "x.hdr"
        cv2.imwrite(str(given), np.full((32, 32, 3), 0.5, np.float32))
        args = []
    kind = "HDR image" if command == "tonemap" else "photo"
    result = runner.invoke(app, [command, str(given), str(tmp_path / "empty"), str(tmp_path / "days"), "-o",
                                 str(tmp_path / "out"), "--json", *args], env={"COLUMNS": "1000"})
    assert result.exit_code == 1, result.output
    items = {Path(item["source"]).name: item for item in json.loads(result.stdout)["items"]}
    assert items[given.name]["status"] == "done"
    assert items["empty"]["status"] == "failed"
    assert items["empty"]["message"] == f"{tmp_path / 'empty'}: a folder in which no {kind} was found"
    assert items["days"]["message"] == f"{tmp_path / 'days'}: a folder in which no {kind} was found (-r searches its " \
        "subfolders)"
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")) == [
        "x-reinhard.png" if command == "tonemap" else "x"]  # nothing written for the folders
    if command == "stack":  # a folder whose photos were found, under -r or through another input, is no failure
        again = runner.invoke(app, [command, str(tmp_path / "days"), str(tmp_path / "days" / "d1"), "-r", "-o",
                                    str(tmp_path / "out2"), *args])
        assert again.exit_code == 0, again.output
