"""`cevr fuse`: photos (or stacks) -> HDR images, optionally tone-mapped. Its options are declared once, in
:class:`cevr_cli.stage_options.FuseOptions`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..evs import CONTINUOUS_STACK
from ..stage_options import FuseOptions
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
    stage_inputs,
)


def fuse(
    inputs: Annotated[list[Path] | None, typer.Argument(
        parser=path_value, metavar="INPUT",
        help="Photos or folders of photos, or stack folders written by `cevr stack` (or the folder holding them); "
             f"default: ./{STAGE_OUTPUTS['stack']}, where `cevr stack` writes.", show_default=False)] = None,
    output: OutOpt = Path(STAGE_OUTPUTS["fuse"]),
    tmo: str = flag(FuseOptions, "tmo"),
    hdr_format: str = flag(FuseOptions, "hdr_format"),
    full_float: bool = flag(FuseOptions, "full_float"),
    compression: str = flag(FuseOptions, "compression"),
    evs: EvsOpt = CONTINUOUS_STACK,
    save_crf: bool = flag(FuseOptions, "save_crf"),
    keep_stack: bool = flag(FuseOptions, "keep_stack"),
    response: str = flag(FuseOptions, "response"),
    model: str = flag(FuseOptions, "model"),
    merge: str = flag(FuseOptions, "merge"),
    raw_mode: str = flag(FuseOptions, "raw_mode"),
    weights: WeightsOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = Precision("auto"),
    recursive: RecursiveOpt = False,
    overwrite: OverwriteOpt = False,
    dry_run: DryRunOpt = False,
    max_megapixels: float = flag(FuseOptions, "max_megapixels"),
    workers: WorkersOpt = "1",
    ray: RayOpt = None,
    quiet: BatchQuietOpt = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Make a scene-linear HDR image of each photo (exact where it measured, the model where it clipped), or
    merge stack folders with Debevec & Malik 1997; optionally tone-mapped."""
    with errors(debug), BatchProgress(quiet, as_json=as_json) as progress:  # a stop while torch loads: a summary too
        from ..batch import BatchPolicy
        from ..evs import parse_evs
        from ..fuse import run_fuse

        options = FuseOptions(parse_evs(evs), tmo, hdr_format, full_float, compression, save_crf, keep_stack,
                              raw_mode, response, model, merge, max_megapixels)
        where, sources = scale(workers, ray), stage_inputs(inputs, "fuse")
        policy = BatchPolicy(overwrite=overwrite, dry_run=dry_run, recursive=recursive)
        progress.per_item = options.frames_per_photo
        report = run_fuse(sources, output, options, model_spec(options.model, weights, device, precision),
                          policy, on_event=progress.event, scale=where)
    finish(report, as_json, quiet, "fuse")
