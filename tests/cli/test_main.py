"""The `cevr` entry point (cevr_cli.cli.main): what the parser refuses is one line, as the commands' refusals are.
Real processes: the entry point, not CliRunner's call of the app, decides how a usage error is shown."""

import json
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


@pytest.mark.parametrize("args", [
    ["tonemap", "x.exr", "--json", "--bogus"],  # the parser's: before any parameter is read
    ["tonemap", "--bogus", "--json", "x.exr"],
    ["tonemap", "x.exr", "--json", "--gamma"],  # an option without its value
    ["stack", "x.jpg", "--device", "tpu", "--json"],  # a parameter's parser, before --json in the line
    ["stack", "--json"],  # no PHOTO
    ["stack", "x.jpg", "--json", "--evs", "1,,2"],  # the library's checks
    ["tonemap", "x.exr", "--srgb", "--gamma", "2.2", "--json"],
])
def test_with_json_a_refused_request_is_a_json_object_on_stdout_too(args):
    """A script reading stdout got nothing: the one line went to stderr alone. Now both: the line, and on stdout the
    object every --json run ends with, its exit_code as the summaries' (an "error" in place of the items)."""
    result = cevr(*args)
    lines = result.stderr.splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert json.loads(result.stdout) == {"error": lines[0].removeprefix("error: "), "exit_code": 2}


def test_without_json_or_after_a_double_dash_stdout_stays_empty():
    for args in (["tonemap", "x.exr", "--bogus"], ["tonemap", "--bogus", "--", "--json"], ["bogus", "--json"]):
        result = cevr(*args)
        assert result.returncode == 2 and result.stdout == "" and result.stderr.startswith("error: "), args


def test_with_json_a_refusal_before_the_command_is_read_is_a_json_object_on_stdout_too():
    """A bad OPENCV_IO_MAX_IMAGE_PIXELS is refused by `cevr`'s own options, before the command's --json is parsed:
    stdout stayed empty. Without --json, or for a command that has none, it still does."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", "OPENCV_IO_MAX_IMAGE_PIXELS": "lots"}
    for args, json_expected in ((["stack", "x.jpg", "--json"], True), (["stack", "x.jpg"], False),
                                (["stack", "x.jpg", "--", "--json"], False)):
        result = subprocess.run([sys.executable, "-m", "cevr_cli", *args], capture_output=True, text=True,
                                timeout=120, env=env)
        lines = result.stderr.splitlines()
        assert result.returncode == 2 and len(lines) == 1 and "OPENCV_IO_MAX_IMAGE_PIXELS='lots'" in lines[0], args
        expected = {"error": lines[0].removeprefix("error: "), "exit_code": 2}
        assert (json.loads(result.stdout) == expected) if json_expected else result.stdout == "", args
