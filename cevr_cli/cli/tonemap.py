"""`cevr tonemap`: HDR images -> display images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..hdr.tonemap import TONEMAPPERS
from ..vocabulary import DISPLAY_FORMATS
from .common import (
    BatchProgress,
    DebugOpt,
    DryRunOpt,
    JsonOpt,
    OutOpt,
    OverwriteOpt,
    QuietOpt,
    RecursiveOpt,
    choices,
    errors,
    finish,
)
from .fuse import TMO_HELP

ToneOperator = choices("ToneOperator", list(TONEMAPPERS))
DisplayFormat = choices("DisplayFormat", list(DISPLAY_FORMATS))


def tonemap(
    inputs: Annotated[list[Path], typer.Argument(help="HDR images (.exr, .hdr) or folders of them.")],
    output: OutOpt = Path("cevr-tonemapped"),
    tmo: Annotated[ToneOperator, typer.Option("--tmo", help=TMO_HELP)] = ToneOperator("reinhard"),  # type: ignore[valid-type]
    image_format: Annotated[DisplayFormat, typer.Option(  # type: ignore[valid-type]
        "--format", help="png/jpg 8-bit, tiff 16-bit.")] = DisplayFormat("png"),
    key: Annotated[float | None, typer.Option(help="Reinhard key (alpha); default: automatic.")] = None,
    white: Annotated[float | None, typer.Option(help="Reinhard white point; default: automatic.")] = None,
    gamma: Annotated[float, typer.Option(help="Display gamma (HDR Toolbox GammaTMO).")] = 2.2,
    srgb: Annotated[bool, typer.Option("--srgb", help="Encode with the sRGB curve instead of a plain gamma.")] = False,
    recursive: RecursiveOpt = False,
    overwrite: OverwriteOpt = False,
    dry_run: DryRunOpt = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Tone-map HDR images to displayable 8-bit PNG/JPEG or 16-bit TIFF."""
    with errors(debug):
        from ..batch import BatchPolicy
        from ..tonemap import TonemapOptions, run_tonemap

        options = TonemapOptions(tmo=tmo.value, image_format=image_format.value, key=key, white=white, gamma=gamma,
                                 srgb=srgb)
        with BatchProgress(quiet or as_json, 0) as progress:
            report = run_tonemap(inputs, output, options, BatchPolicy(overwrite, dry_run, recursive),
                                 on_event=progress.event)
    finish(report, as_json, quiet, "tonemap")
