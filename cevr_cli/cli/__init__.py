"""The `cevr` command line: a file per command; each parses, calls one library function, renders the result.

Only this package imports typer and rich. torch and the heavy parts of the library are imported inside the
commands, so that ``cevr --help`` and shell completion answer at once.
"""

from __future__ import annotations

from typing import Annotated

import typer

from .. import __version__
from .bench import bench
from .calibrate import calibrate
from .common import DebugOpt, out, state
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
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    debug: DebugOpt = False,
) -> None:
    state["debug"] = debug


for command in (stack, fuse, tonemap, calibrate, demo, train, bench, info):
    app.command()(command)
app.command("convert-weights")(convert_weights)


def main() -> None:
    app()
