"""`cevr stack`: photos -> continuous exposure stacks. Its options are declared once, in
:class:`cevr_cli.stage_options.StackOptions`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..evs import CONTINUOUS_STACK
from ..stage_options import StackOptions
from ..vocabulary import STAGE_OUTPUTS
from .common import (
    BatchProgress,
    BatchQuietOpt,
    DebugOpt,
    DeviceOpt,
    DryRunOpt,
    EvsOpt,
    JsonOpt,
    OutOpt,
    OverwriteOpt,
    Precision,
    PrecisionOpt,
    RayOpt,
    RecursiveOpt,
    WeightsOpt,
    WorkersOpt,
    errors,
    finish,
    flag,
    model_spec,
    path_value,
    scale,
)


def stack(
    inputs: Annotated[list[Path], typer.Argument(
        parser=path_value, metavar="PHOTO",
        help="Photos (JPEG, PNG, TIFF, HEIC/HEIF, AVIF, WebP, camera RAW) or folders of photos.")],
    output: OutOpt = Path(STAGE_OUTPUTS["stack"]),
    evs: EvsOpt = CONTINUOUS_STACK,
    image_format: str = flag(StackOptions, "image_format"),
    response: str = flag(StackOptions, "response"),
    model: str = flag(StackOptions, "model"),
    raw_mode: str = flag(StackOptions, "raw_mode"),
    weights: WeightsOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = Precision("auto"),
    recursive: RecursiveOpt = False,
    overwrite: OverwriteOpt = False,
    dry_run: DryRunOpt = False,
    max_megapixels: float = flag(StackOptions, "max_megapixels"),
    workers: WorkersOpt = "1",
    ray: RayOpt = None,
    quiet: BatchQuietOpt = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Write a continuous exposure stack (one image per EV) for each photo: OUT/<photo>/00_ev-3.00.png ..."""
    with errors(debug), BatchProgress(quiet, as_json=as_json) as progress:  # a stop while torch loads: a summary too
        from ..batch import BatchPolicy
        from ..evs import parse_evs
        from ..stack import run_stack

        options = StackOptions(parse_evs(evs), image_format, max_megapixels, raw_mode, response, model)
        policy = BatchPolicy(overwrite=overwrite, dry_run=dry_run, recursive=recursive)
        where = scale(workers, ray)
        progress.per_item = len(options.evs)
        report = run_stack(inputs, output, model_spec(options.model, weights, device, precision), options, policy,
                           on_event=progress.event, scale=where)
    finish(report, as_json, quiet, "stack")
