"""The `cevr` entry point (cevr_cli.cli.main): what the parser refuses is one line, as the commands' refusals are.
Real processes: the entry point, not CliRunner's call of the app, decides how a usage error is shown."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # a process per case


def cevr(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cevr_cli", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"})


@pytest.mark.parametrize(("args", "line"), [
    (["bogus"], "error: No such command 'bogus'. (see {prog} --help)"),
    (["calibrate"], "error: Missing argument 'FRAME'. (see {prog} calibrate --help)"),
    (["stack", "x.jpg", "--device", "tpu"],
     "error: Invalid value for '--device': 'tpu': use one of auto, cpu, cuda, mps, cuda:N (see {prog} stack --help)"),
    (["train", "--data", "d", "--device", "cuda:x"],
     "error: Invalid value for '--device': 'cuda:x': use one of auto, cpu, cuda, mps, cuda:N (did you mean cuda:N?) "
     "(see {prog} train --help)"),
    (["train", "--epochs", "0"], "error: Invalid value for '--epochs': Input should be greater than or equal to 1 "
                                 "(see {prog} train --help)"),
])
def test_a_request_the_parser_refuses_is_one_line_and_exit_2(args, line):
    """Click printed four lines (Usage, Try, a blank, 'Error: ...')."""
    result = cevr(*args)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [line.format(prog="python -m cevr_cli")]  # Click's name for `-m`


def test_help_version_and_exit_codes_pass_through():
    plain = cevr()
    assert plain.returncode == 2 and "Commands:" in plain.stdout + plain.stderr  # `cevr` alone: the help
    assert cevr("--version").stdout.strip().startswith("cevr ") and cevr("--version").returncode == 0
    assert cevr("stack", "--help").returncode == 0
    failed = cevr("tonemap", "/nonexistent/scene.exr", "-q")
    assert failed.returncode == 1 and failed.stderr.strip() == "failed: /nonexistent/scene.exr: file not found"
