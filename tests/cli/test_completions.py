"""completions/ holds the scripts the CLI generates today, and completion answers without torch."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def generate(shell: str) -> str:
    env = {**os.environ, "_CEVR_COMPLETE": f"source_{shell}"}
    cevr = Path(sys.executable).parent / "cevr"  # the installed console script, so the program name is "cevr"
    return subprocess.run([str(cevr)], env=env, capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_are_current(shell):
    assert (ROOT / "completions" / f"cevr.{shell}").read_text() == generate(shell), (
        f"completions/cevr.{shell} is stale: regenerate with "
        f"`_CEVR_COMPLETE=source_{shell} cevr > completions/cevr.{shell}`"
    )


def test_cli_import_does_not_import_torch_or_numpy():
    code = "import sys, cevr_cli.cli; print(sorted({'torch', 'numpy', 'cv2'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_options_declared_by_a_stage_complete_their_choices():
    words = "cevr tonemap x --tmo reinh"
    env = {**os.environ, "_CEVR_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": "4"}
    code = "from cevr_cli.cli import app; app(prog_name='cevr')"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.stdout.split() == ["reinhard", "reinhard-local"]
