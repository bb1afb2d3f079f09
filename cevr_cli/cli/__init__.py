"""The `cevr` command line: a file per command; each parses, calls one library function, renders the result.

Only this package imports typer and rich. torch and the heavy parts of the library are imported inside the
commands, so that ``cevr --help`` and shell completion answer at once.
"""

from __future__ import annotations

import signal
import sys
from typing import Annotated, Any

import typer

from .. import __version__
from ..__main__ import json_in_line, stop_label_and_code
from .bench import bench
from .calibrate import calibrate
from .common import DebugOpt, errors, out, print_json, refuse, say, state, terminate
from .demo import demo
from .fuse import fuse
from .info import convert_weights, info
from .stack import stack
from .tonemap import tonemap
from .train import train

app = typer.Typer(
    name="cevr",
    help="Single photos to HDR: continuous exposure stacks (CEVR, ICCV 2023), Debevec fusion, tone mapping.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        out.print(f"cevr {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    debug: DebugOpt = False,
) -> None:
    # the command's --json sets state["json"] once its line is read (one process may run several); until then, for a
    # refusal here, what its line says
    name = ctx.invoked_subcommand
    command = ctx.command.get_command(ctx, name) if name else None  # type: ignore[attr-defined]  # a Group's
    state["debug"], state["json"] = debug, command is not None and _asks_for_json(command)
    from ..io.opencv_environment import check_pixel_limit_variable

    with errors(debug):  # what would abort the process once OpenCV is imported, said in one line first
        check_pixel_limit_variable()


def _zsh_script_starts_with_compdef() -> None:
    """Typer's zsh script starts with a blank line, and zsh's compinit only reads ``#compdef`` on line 1, so
    the script did nothing where it belongs (a file ``_cevr`` in $fpath): strip the line, in the script that
    ``_CEVR_COMPLETE=source_zsh cevr`` prints (completions/cevr.zsh) and in ``--install-completion``'s."""
    from typer import _completion_classes, _completion_shared

    script = _completion_shared.COMPLETION_SCRIPT_ZSH.lstrip("\n")
    _completion_classes.ZshComplete.source_template = script
    _completion_shared._completion_scripts["zsh"] = script


_zsh_script_starts_with_compdef()
for command in (stack, fuse, tonemap, calibrate, demo, train, bench, info):
    app.command()(command)
app.command("convert-weights")(convert_weights)


def _asks_for_json(command: Any) -> bool:
    """Whether ``command`` has ``--json`` and its line was given it (before any ``--``), for a refusal before
    ``--json``'s callback runs: the parser's, of a line it cannot split (``--bogus``, an option without its value),
    or :func:`main_options`'. None, for an error that names no command (Click's for an option without its value), is a
    command's: each has ``--json``."""
    if command is not None and not any(param.name == "as_json" for param in command.params):
        return False  # `cevr --json`, `cevr bogus --json`: refused before any command
    return json_in_line()


def _stopped_before_any_work() -> None:
    label, code = stop_label_and_code(bool(state["terminated"]))
    say("stopped before any work", label, "yellow")
    if json_in_line():
        print_json({"exit_code": code, "interrupted": True})
    sys.exit(code)


def main() -> None:
    """The `cevr` command: Typer's parser in its non-standalone mode, so that a request it refuses (an unknown
    option, a bad value, a missing argument) is one ``error:`` line and exit 2, as the commands' own refusals are,
    instead of Click's usage block; with ``--json`` also the error object on stdout (:func:`~.common.refuse`).

    A Ctrl-C before a command's own handler took over (Typer building the commands; the parser reading the line and
    running the options' callbacks, which Typer turns into exit 130 without a word) is one ``interrupted:`` line,
    exit 130, with ``--json`` also ``{"exit_code": 130, "interrupted": true}`` on stdout: it printed a traceback or
    nothing at all. A SIGTERM there is one ``terminated:`` line, exit 143 (``"exit_code": 143``)."""
    previous = signal.signal(signal.SIGTERM, terminate)  # Typer tells no stop apart: the handler remembers SIGTERM
    try:
        _parse_and_run()
    finally:
        signal.signal(signal.SIGTERM, previous)


def _parse_and_run() -> None:
    """Typer's app on the command line, its refusals and early stops told as :func:`main` says; exits the process."""
    state["stop_said"] = state["output"] = state["terminated"] = False
    try:
        code = app(standalone_mode=False)
    except (typer.Abort, KeyboardInterrupt):
        _stopped_before_any_work()
    except typer.TyperException as exc:  # Click's UsageError (and BadParameter ...), as Typer vendors it
        if type(exc).__name__ == "NoArgsIsHelpError":  # plain `cevr`: the help, as Click shows it
            exc.show()  # type: ignore[attr-defined]
        else:
            context = getattr(exc, "ctx", None)
            where = f" (see {context.command_path} --help)" if context is not None else ""
            text = " ".join(str(exc.format_message()).split()).replace("Value error, ", "")  # type: ignore[attr-defined]
            state["json"] = state["json"] or _asks_for_json(context.command if context is not None else None)
            refuse(text + where, getattr(exc, "exit_code", 2))
        sys.exit(getattr(exc, "exit_code", 2))
    if code == 130 and not state["stop_said"] and not state["output"]:  # Typer's word for a KeyboardInterrupt
        _stopped_before_any_work()
    if code == 130 and not state["stop_said"]:  # a stop after the command's result: told by its code alone
        code = stop_label_and_code(bool(state["terminated"]))[1]
    sys.exit(code if isinstance(code, int) else 0)
