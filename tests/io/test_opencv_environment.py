"""OPENCV_IO_MAX_IMAGE_PIXELS, which OpenCV reads when imported (cevr_cli/io/opencv_environment.py)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cevr_cli.errors import UsageError
from cevr_cli.io.opencv_environment import check_pixel_limit_variable, pixel_limit

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("value", ["", "lots", "-1", "0", "1e9", " ", " 5", "5 ", "\u0665", "5GB"])
def test_a_value_opencv_would_abort_on_is_refused_in_one_line(monkeypatch, value):
    monkeypatch.setenv("OPENCV_IO_MAX_IMAGE_PIXELS", value)
    with pytest.raises(UsageError, match=r"^OPENCV_IO_MAX_IMAGE_PIXELS=.*: OpenCV needs a whole number of pixels"):
        check_pixel_limit_variable()


def test_a_whole_number_or_nothing_is_taken(monkeypatch):
    monkeypatch.delenv("OPENCV_IO_MAX_IMAGE_PIXELS", raising=False)
    check_pixel_limit_variable()
    assert pixel_limit() == 2**30  # OpenCV's own default
    for value, pixels in (("5000000", 5_000_000), ("1024MB", 1024 * 1024 * 1024), ("1mb", 1024 * 1024),
                          ("64Kb", 64 * 1024)):  # OpenCV reads KB and MB suffixes too
        monkeypatch.setenv("OPENCV_IO_MAX_IMAGE_PIXELS", value)
        check_pixel_limit_variable()
        assert pixel_limit() == pixels


def test_the_cli_says_so_instead_of_opencv_aborting_the_process():
    """OpenCV aborted (SIGABRT, exit 134, 'terminate called ... stoull') on import, in every command."""
    result = subprocess.run([sys.executable, "-m", "cevr_cli", "info"], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "OPENCV_IO_MAX_IMAGE_PIXELS": "lots"})
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: OPENCV_IO_MAX_IMAGE_PIXELS='lots': OpenCV needs a whole number of pixels "
                                     "above 0, optionally with KB or MB (its default is 1073741824); unset it or "
                                     "give one")
