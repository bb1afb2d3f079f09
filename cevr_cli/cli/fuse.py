"""`cevr fuse`: stacks (or photos) -> HDR images, optionally tone-mapped."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..vocabulary import EXR_COMPRESSIONS, HDR_FORMATS, TONE_MAPPERS
from .common import (
    BatchProgress,
    DebugOpt,
    Device,
    DeviceOpt,
    DryRunOpt,
    EvsOpt,
    ExposureModelName,
    JsonOpt,
    Merge,
    MergeOpt,
    ModelOpt,
    OutOpt,
    OverwriteOpt,
    Precision,
    PrecisionOpt,
    QuietOpt,
    RawMode,
    RawModeOpt,
    RecursiveOpt,
    ResponseOpt,
    WeightsOpt,
    choices,
    errors,
    finish,
    load_model,
)

TMO_HELP = (
    "Tone mapping: reinhard = Reinhard et al. 2002 photographic operator, global (HDR Toolbox automatic key and "
    "white point); reinhard-local = the same with dodging-and-burning; kimkautz = Kim & Kautz 2008 consistent "
    "tone reproduction. (OpenCV's TonemapReinhard is Reinhard & Devlin 2005, a different operator.)"
)
FuseTMO = choices("FuseTMO", [*TONE_MAPPERS, "none"])
HDRFormat = choices("HDRFormat", HDR_FORMATS)
Compression = choices("Compression", EXR_COMPRESSIONS)


def fuse(
    inputs: Annotated[list[Path], typer.Argument(
        help="Stack folders written by `cevr stack` (or the folder holding them), or photos/folders (stacked first).")],
    output: OutOpt = Path("cevr-hdr"),
    tmo: Annotated[FuseTMO, typer.Option("--tmo", help=TMO_HELP + " none = only the HDR file.")  # type: ignore[valid-type]
                   ] = FuseTMO("reinhard"),
    hdr_format: Annotated[HDRFormat, typer.Option(  # type: ignore[valid-type]
        "--format", help="exr = OpenEXR, hdr = Radiance RGBE.")] = HDRFormat("exr"),
    full_float: Annotated[bool, typer.Option("--float", help="32-bit float EXR instead of half.")] = False,
    compression: Annotated[Compression, typer.Option(help="EXR compression.")] = Compression("zip"),  # type: ignore[valid-type]
    evs: EvsOpt = "-3:3:0.5",
    save_crf: Annotated[
        bool, typer.Option("--save-crf", help="Also write the recovered camera response (CSV and PNG plot).")
    ] = False,
    keep_stack: Annotated[bool, typer.Option("--keep-stack", help="From photos: also keep the stack.")] = False,
    response: ResponseOpt = "auto",
    model: ModelOpt = ExposureModelName("cevr"),
    merge: MergeOpt = Merge("auto"),
    raw_mode: RawModeOpt = RawMode("linear"),
    weights: WeightsOpt = None,
    device: DeviceOpt = Device("auto"),
    precision: PrecisionOpt = Precision("auto"),
    recursive: RecursiveOpt = False,
    overwrite: OverwriteOpt = False,
    dry_run: DryRunOpt = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Fuse stacks into scene-linear HDR images with Debevec & Malik 1997, optionally tone-mapped."""
    with errors(debug):
        from ..batch import BatchPolicy
        from ..evs import parse_evs
        from ..fuse import FuseOptions, run_fuse

        ev_list = parse_evs(evs)
        options = FuseOptions(evs=ev_list, tmo=None if tmo.value == "none" else tmo.value,
                              hdr_format=hdr_format.value, half=not full_float, compression=compression.value,
                              save_crf=save_crf, keep_stack=keep_stack, raw_mode=raw_mode.value, response=response,
                              model=model.value, merge=merge.value)
        with BatchProgress(quiet or as_json, len(ev_list)) as progress:
            report = run_fuse(inputs, output, options, lambda: load_model(options.model, weights, device, precision),
                              BatchPolicy(overwrite, dry_run, recursive), on_event=progress.event)
    finish(report, as_json, quiet, "fuse")
