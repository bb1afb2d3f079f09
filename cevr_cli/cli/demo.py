"""`cevr demo`: the whole pipeline on the bundled sample photo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..evs import CONTINUOUS_EVS
from .common import (
    BatchProgress,
    DebugOpt,
    DeviceOpt,
    JsonOpt,
    OutOpt,
    Precision,
    QuietOpt,
    errors,
    finish,
    model_spec,
    say,
)


def demo(
    output: OutOpt = Path("cevr-demo"),
    device: DeviceOpt = "auto",
    size: Annotated[int | None, typer.Option(
        "--size", min=16, help="Downsize the sample to this long side first (a quick check of an install).")] = None,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Run the whole pipeline on the bundled sample photo with the shipped weights: stack, HDR, tone map."""
    with errors(debug):
        from ..demo import run_demo

        with BatchProgress(quiet, len(CONTINUOUS_EVS), as_json=as_json) as progress:
            report = run_demo(output, model_spec("cevr", None, device, Precision("auto")), long_side=size,
                              on_event=progress.event)
    if not quiet and not as_json and report.exit_code == 0:
        say(f"stack, HDR and tone-mapped image of the sample are in {output}/sample/", "demo")
    finish(report, as_json, quiet, "demo")
