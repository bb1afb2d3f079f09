"""`cevr calibrate`: a camera's response curve from one bracket, as a profile for `--response`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..options import plain
from ..stage_options import StackOptions
from ..vocabulary import CALIBRATION_METHODS
from .common import DebugOpt, JsonOpt, QuietOpt, choices, errors, flag, path_value, print_json, say

CalibrationMethod = choices("CalibrationMethod", list(CALIBRATION_METHODS))


def calibrate(
    frames: Annotated[list[Path], typer.Argument(
        parser=path_value, metavar="FRAME",
        help="The bracket: two or more photos (JPEG, PNG, TIFF) of one static scene at different exposures, or a "
             "folder of them (taken in name order).")],
    output: Annotated[Path | None, typer.Option("--out", "-o", help="The profile to write (.json).",
                                                parser=path_value, metavar="<path>")] = None,
    evs: Annotated[str | None, typer.Option(
        "--evs", help="The frames' relative EVs in the order given (more light = higher): a comma list or "
        "start:stop:step. Default: from EXIF exposure time, aperture and ISO.")] = None,
    install: Annotated[bool, typer.Option(
        "--install", help="Also install the profile where --response auto finds it by EXIF make and model.")] = False,
    make: Annotated[str | None, typer.Option("--make", help="Camera make (default: EXIF Make).")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Camera model (default: EXIF Model).")] = None,
    method: Annotated[CalibrationMethod, typer.Option(  # type: ignore[valid-type]
        "--method", help="; ".join(f"{k} = {v}" for k, v in CALIBRATION_METHODS.items()) + ".")
    ] = CalibrationMethod("basis"),
    max_megapixels: float = flag(StackOptions, "max_megapixels"),
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace an existing -o file that is not a cevr profile (a profile is always "
        "replaced).")] = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Fit a camera's response curve to one bracket and write it as a profile (use it with --response)."""
    with errors(debug, kept="nothing was written", resume_hint="a calibration starts over when run again"):
        from ..calibrate import calibrate_to_profile

        def reading(path: Path) -> None:
            if not quiet and not as_json:
                say(f"reading {path}")

        result, written = calibrate_to_profile(frames, output, install=install, evs=evs, make=make, model=model,
                                               method=method.value, overwrite=overwrite, on_frame=reading,
                                               max_megapixels=plain(max_megapixels))
    record = result.record()
    summary = {"written": [str(p) for p in written], "make": result.make, "model": result.model,
               "method": result.method, "evs": record["evs"], "frames": record["frames"],
               "channels": record["channels"], "residual_codes_rms": record["residual_codes_rms"],
               "outliers": record["outliers"], "warnings": result.warnings()}
    if as_json:
        print_json(summary)
    elif not quiet:
        camera = " ".join(v for v in (result.make, result.model) if v) or "unknown camera"
        evs_text = ", ".join(f"{v:+g}" for v in record["evs"])
        say(f"{result.method} fit of {record['frames']} frames (EV {evs_text}), {record['channels']} curve, "
            f"residual {record['residual_codes_rms']:.2f} codes RMS, {record['outliers']:.1%} of the readings left "
            "out", str(camera))
        for warning in result.warnings():
            say(warning, "warning", "yellow")
        for path in written:
            say(f"wrote {path}")
