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


_INTERRUPT_AT_IMPORT = '''
import os
import signal
import sys


class InterruptAt:
    """Ctrl-C (or SIGTERM) at the moment {module} is first imported: where the first 0.2-0.5 s of a run are spent."""

    def find_spec(self, name, path=None, target=None):
        if name == "{module}":
            sys.meta_path.remove(self)
            {stop}


sys.meta_path.insert(0, InterruptAt())
'''


@pytest.mark.parametrize(("stop", "code", "label"), [("raise KeyboardInterrupt", 130, "interrupted"),
                                                    ("os.kill(os.getpid(), signal.SIGTERM)", 143, "terminated")])
@pytest.mark.parametrize("module", ["typer", "cevr_cli.cli.bench", "cevr_cli.cli.noise", "OpenEXR"])
@pytest.mark.parametrize("as_json", [False, True])
def test_ctrl_c_while_the_command_line_loads_is_a_stop_not_a_traceback(tmp_path, module, as_json, stop, code, label):
    """A Ctrl-C in the first half second (the command line's modules importing, Typer building the commands) ended
    in a KeyboardInterrupt traceback, killed by SIGINT, with nothing on stdout under --json; a SIGTERM there, before
    the command's handler, killed the process without a word (empty stdout under --json). typer and
    cevr_cli.cli.bench: imported with the command line; cevr_cli.cli.noise: by a parameter's callback, as the parser
    reads the line (exit 130 without a word: Typer's); OpenEXR: by the command, inside its own handler (the batch's
    summary, interrupted)."""
    (tmp_path / "x.exr").write_bytes(b"v/1\x01" + bytes(64))  # OpenEXR's magic number: read by OpenEXR
    (tmp_path / "sitecustomize.py").write_text(_INTERRUPT_AT_IMPORT.format(module=module, stop=stop))
    args = ["tonemap", str(tmp_path / "x.exr"), "-o", str(tmp_path / "out")] + (["--json"] if as_json else [])
    result = subprocess.run([sys.executable, "-m", "cevr_cli", *args], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])})
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.splitlines()[-1].startswith(f"{label}: ")
    if as_json:
        assert json.loads(result.stdout)["interrupted"] is True and json.loads(result.stdout)["exit_code"] == code
    else:
        assert result.stdout == ""
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_sigterm_while_python_tears_down_after_the_command_ends_it_as_by_default(tmp_path):
    """A SIGTERM after the command had said everything, as Python tore down (its threads joined, its atexit callbacks
    run), met the command line's handler: a "Terminated" traceback, "Exception ignored in atexit callback", and exit
    0. The handling found at the start is back by then: the process ends as SIGTERM ends it (the shell's 143)."""
    (tmp_path / "sitecustomize.py").write_text(
        "import atexit, os, signal\natexit.register(os.kill, os.getpid(), signal.SIGTERM)\n")
    result = subprocess.run([sys.executable, "-m", "cevr_cli", "--version"], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])})
    assert (result.returncode, result.stderr) == (-15, "")  # -SIGTERM
    assert result.stdout.startswith("cevr ")


def test_a_ctrl_c_after_the_summary_adds_nothing_to_stdout(monkeypatch, capsys):
    """Typer turns a KeyboardInterrupt its command let through into exit 130 without a word; cli.main says such a
    stop itself, but not once the command has printed its result: under --json stdout would hold two objects."""
    import cevr_cli.cli
    from cevr_cli.cli.common import print_json

    def summary_then_ctrl_c(**kwargs):
        print_json({"counts": {"done": 1}, "exit_code": 0, "items": []})
        return 130  # what Typer returns for the KeyboardInterrupt

    monkeypatch.setattr(cevr_cli.cli, "app", summary_then_ctrl_c)
    monkeypatch.setattr(sys, "argv", ["cevr", "stack", "x.jpg", "--json"])
    with pytest.raises(SystemExit) as exited:
        cevr_cli.cli.main()
    assert exited.value.code == 130
    assert json.loads(capsys.readouterr().out) == {"counts": {"done": 1}, "exit_code": 0, "items": []}


@pytest.mark.parametrize(("signum", "code"), [(2, 130), (15, 143)])  # SIGINT, SIGTERM
def test_a_stop_while_the_summary_is_written_keeps_the_summary_and_its_signal(tmp_path, monkeypatch, capsys,
                                                                             signum, code):
    """A chaos run's SIGTERM as a finished batch printed its summary (outside the command's errors()): Typer turned
    it into exit 130 without a word, stdout empty under --json. The summary is written whole, then the stop acts:
    one JSON object, exit 130 for Ctrl-C, 143 for SIGTERM."""
    import signal

    import cv2
    import numpy as np

    import cevr_cli.cli
    from cevr_cli.cli import common

    hdr = tmp_path / "scene.hdr"
    cv2.imwrite(str(hdr), np.full((8, 12, 3), 0.5, np.float32))
    written = common.out.print_json

    def stopped_while_writing(*args, **kwargs):
        os.kill(os.getpid(), signum)  # the handler runs here, at once, in this (the main) thread
        written(*args, **kwargs)

    monkeypatch.setattr(common.out, "print_json", stopped_while_writing)
    monkeypatch.setattr(sys, "argv", ["cevr", "tonemap", str(hdr), "-o", str(tmp_path / "out"), "--json"])
    with pytest.raises(SystemExit) as exited:
        cevr_cli.cli.main()
    assert exited.value.code == code
    summary = json.loads(capsys.readouterr().out)
    assert summary["counts"] == {"done": 1} and summary["exit_code"] == 0
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handlers are put back
