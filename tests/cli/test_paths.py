"""Paths on the command line: empty ones, names the file system refuses, and the lines they give."""

import subprocess
import sys

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
    out = tmp_path / ("D" * 300)
    for args in (["stack", str(photo), "-o", str(out), "--model", "physics"], ["tonemap", str(photo), "-o", str(out)],
                 ["calibrate", str(photo), str(photo), "--evs", "0,1", "-o", f"{out}.json"]):
        done = subprocess.run([sys.executable, "-m", "cevr_cli", *args], capture_output=True, text=True,
                              cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("error: ") and done.stderr.endswith(": cannot write there (File name too long)\n")
        assert done.stderr.count("\n") == 1  # one line: no traceback, no blank line before it


def test_a_refused_request_is_its_error_line_alone(tmp_path):
    (tmp_path / "empty").mkdir()
    done = subprocess.run([sys.executable, "-m", "cevr_cli", "stack", str(tmp_path / "empty")], capture_output=True,
                          text=True, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr == f"error: no photos found in {tmp_path / 'empty'}\n"
