"""completions/ holds the scripts the CLI generates today, each works in its shell, and completion answers
without torch."""

import os
import shutil
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


# Each shell loads its file (zsh through compinit from $fpath, as the README installs it, which reads `#compdef`
# on line 1 only) and completes `cevr st`; zsh's `_arguments` is stubbed to print what it is given (it only
# works inside a completion widget).
LOADERS = {
    "bash": ["bash", "--norc", "--noprofile", "-c",
             'source "$1"; COMP_WORDS=(cevr st); COMP_CWORD=1; _cevr_completion cevr; printf "%s\\n" "${COMPREPLY[@]}"',
             "bash"],
    "zsh": ["zsh", "-f", "-c",
            'mkdir "$2/fpath" && cp "$1" "$2/fpath/_cevr" && fpath=("$2/fpath" $fpath) && autoload -Uz compinit'
            ' && compinit -u -d "$2/zcompdump" && [[ $_comps[cevr] == _cevr ]] || { print "#compdef not seen"; exit 1 }'
            '; _arguments() { print -r -- "$@" }; _cevr; words=(cevr st); CURRENT=2; $_comps[cevr]',
            "zsh"],
    "fish": ["fish", "--no-config", "-c", 'source $argv[1]; complete -C "cevr st"'],
}


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_each_completion_file_completes_in_its_shell(shell, tmp_path):
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed (apt-get install {shell})")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    args = [*LOADERS[shell], str(ROOT / "completions" / f"cevr.{shell}"), str(tmp_path)]
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "stack" in result.stdout, (result.stdout, result.stderr)


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


def test_response_completes_its_built_in_curves_and_the_profiles_here(tmp_path):
    (tmp_path / "d750.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("")
    code = "from cevr_cli.cli import app; app(prog_name='cevr')"
    seen = {}
    for partial in ("", "g", "d"):
        env = {**os.environ, "_CEVR_COMPLETE": "complete_bash", "COMP_WORDS": f"cevr stack x --response {partial}",
               "COMP_CWORD": "4", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path)
        seen[partial] = result.stdout.split()
    assert seen == {"": ["auto", "camera", "srgb", "gamma:2.2", "linear", "d750.json"], "g": ["gamma:2.2"],
                    "d": ["d750.json"]}


@pytest.mark.parametrize(("partial", "offered"), [
    ("", ["auto", "cpu", "cuda", "mps", "cuda:0", "cuda:1"]), ("cu", ["cuda", "cuda:0", "cuda:1"]),
    ("cuda:", ["cuda:0", "cuda:1"])])
def test_device_completes_its_names_and_numbered_gpus_for_every_command(partial, offered):
    code = "from cevr_cli.cli import app; app(prog_name='cevr')"
    for command in ("stack", "train"):
        env = {**os.environ, "_CEVR_COMPLETE": "complete_bash", "COMP_WORDS": f"cevr {command} --device {partial}",
               "COMP_CWORD": "3"}
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert result.stdout.split() == offered, command
