"""`cevr stack`: photos -> continuous exposure stacks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..vocabulary import STACK_FORMATS
from .common import (
    BatchProgress,
    DebugOpt,
    Device,
    DeviceOpt,
    DryRunOpt,
    EvsOpt,
    ExposureModelName,
    JsonOpt,
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

StackFormat = choices("StackFormat", list(STACK_FORMATS))


def stack(
    inputs: Annotated[list[Path], typer.Argument(help="Photos (JPEG, PNG, TIFF, camera RAW) or folders of photos.")],
    output: OutOpt = Path("cevr-stacks"),
    evs: EvsOpt = "-3:3:0.5",
    image_format: Annotated[
        StackFormat, typer.Option("--format", help="png = 8-bit PNG, tiff = 16-bit TIFF.")  # type: ignore[valid-type]
    ] = StackFormat("png"),
    response: ResponseOpt = "auto",
    model: ModelOpt = ExposureModelName("cevr"),
    raw_mode: RawModeOpt = RawMode("linear"),
    weights: WeightsOpt = None,
    device: DeviceOpt = Device("auto"),
    precision: PrecisionOpt = Precision("auto"),
    recursive: RecursiveOpt = False,
    overwrite: OverwriteOpt = False,
    dry_run: DryRunOpt = False,
    max_megapixels: Annotated[float, typer.Option(help="Refuse photos larger than this.")] = 250.0,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Write a continuous exposure stack (one image per EV) for each photo: OUT/<photo>/00_ev-3.00.png ..."""
    with errors(debug):
        from ..batch import BatchPolicy
        from ..evs import parse_evs
        from ..stack import StackOptions, run_stack

        ev_list = parse_evs(evs)
        options = StackOptions(ev_list, image_format.value, max_megapixels, raw_mode.value, response, model.value)
        policy = BatchPolicy(overwrite, dry_run, recursive)
        exposure_model = load_model(options.model, weights, device, precision)
        with BatchProgress(quiet or as_json, len(ev_list)) as progress:
            report = run_stack(inputs, output, exposure_model, options, policy, on_event=progress.event)
    finish(report, as_json, quiet, "stack")
