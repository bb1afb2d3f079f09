"""`cevr tonemap`: HDR images -> display images; :class:`cevr_cli.tonemap.TonemapOptions` declares the options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..tonemap import TonemapOptions
from ..vocabulary import STAGE_OUTPUTS
from .common import (
    BatchProgress,
    BatchQuietOpt,
    CpuRayOpt,
    CpuWorkersOpt,
    DebugOpt,
    DryRunOpt,
    JsonOpt,
    OutOpt,
    OverwriteOpt,
    RecursiveOpt,
    errors,
    finish,
    flag,
    path_value,
    scale,
    stage_inputs,
)


def tonemap(
    inputs: Annotated[list[Path] | None, typer.Argument(
        parser=path_value, metavar="HDR",
        help=f"HDR images (.exr, .hdr) or folders of them; default: ./{STAGE_OUTPUTS['fuse']}, where `cevr fuse` "
             "writes.", show_default=False)] = None,
    output: OutOpt = Path(STAGE_OUTPUTS["tonemap"]),
    tmo: str = flag(TonemapOptions, "tmo"),
    image_format: str = flag(TonemapOptions, "image_format"),
    key: float | None = flag(TonemapOptions, "key"),
    white: float | None = flag(TonemapOptions, "white"),
    gamma: float = flag(TonemapOptions, "gamma"),
    srgb: bool = flag(TonemapOptions, "srgb"),
    max_megapixels: float = flag(TonemapOptions, "max_megapixels"),
    recursive: RecursiveOpt = False,
    overwrite: OverwriteOpt = False,
    dry_run: DryRunOpt = False,
    workers: CpuWorkersOpt = "1",
    ray: CpuRayOpt = None,
    quiet: BatchQuietOpt = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Tone-map HDR images to displayable 8-bit PNG/JPEG or 16-bit TIFF."""
    with errors(debug), BatchProgress(quiet, as_json=as_json) as progress:  # a stop while modules load: a summary too
        from ..batch import BatchPolicy
        from ..tonemap import run_tonemap

        options = TonemapOptions(tmo=tmo, image_format=image_format, key=key, white=white, gamma=gamma, srgb=srgb,
                                 max_megapixels=max_megapixels)
        where, sources = scale(workers, ray), stage_inputs(inputs, "tonemap")
        policy = BatchPolicy(overwrite=overwrite, dry_run=dry_run, recursive=recursive)
        report = run_tonemap(sources, output, options, policy, on_event=progress.event, scale=where)
    finish(report, as_json, quiet, "tonemap")
