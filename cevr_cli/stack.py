"""`cevr stack`: photos in, one folder of re-exposed images per photo out.

Each output folder holds one image per EV (``00_ev-3.00.png`` ... sorted by EV) and ``stack.json``,
written last: a folder counts as done only once its ``stack.json`` exists, so an interrupted batch
resumes where it stopped.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__
from .batch import BatchReport, discover_inputs, plan_outputs, run_batch
from .errors import UsageError
from .evs import ev_filename
from .io.atomic import atomic_write_text
from .io.images import read_photo, write_ldr

STACK_MANIFEST = "stack.json"
FORMATS = {"png": (".png", 8), "tiff": (".tif", 16)}


@dataclass(frozen=True)
class StackOptions:
    evs: Sequence[float]
    image_format: str = "png"  # png (8-bit) | tiff (16-bit)
    overwrite: bool = False
    dry_run: bool = False
    recursive: bool = False
    max_megapixels: float = 250.0

    def suffix_and_bits(self) -> tuple[str, int]:
        try:
            return FORMATS[self.image_format]
        except KeyError:
            raise UsageError(f"--format {self.image_format!r}: use png (8-bit) or tiff (16-bit)") from None


def write_stack(predictor: Any, photo_path: Path, folder: Path, options: StackOptions,
                on_ev: Callable[[float], None] | None = None,
                on_warning: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Predict and write the stack of one photo into ``folder``; returns the manifest written."""
    suffix, bits = options.suffix_and_bits()
    started = time.monotonic()
    photo = read_photo(photo_path, max_megapixels=options.max_megapixels)
    index = {ev: i for i, ev in enumerate(sorted(options.evs))}
    files = {}
    for ev, image in predictor.iter_predictions(photo.rgb, options.evs):
        name = ev_filename(index[ev], ev, suffix)
        write_ldr(folder / name, image, bit_depth=bits, exif_bytes=photo.exif_bytes, icc_profile=photo.icc_profile)
        files[ev] = name
        if on_ev:
            on_ev(ev)
    exif = photo.exif
    missing = exif.missing_exposure_fields() if exif is not None else ["exposure_time", "f_number", "iso"]
    warnings = [f"no EXIF {', '.join(missing)}: the photo's absolute exposure (EV100) is unknown"] if missing else []
    for warning in warnings:
        if on_warning:
            on_warning(f"{photo_path}: {warning}")
    manifest = {
        "cevr_version": __version__,
        "source": str(photo_path.resolve()),
        "source_size": [photo.rgb.shape[1], photo.rgb.shape[0]],
        "source_bit_depth": photo.bit_depth,
        "exif": exif.to_json() if exif is not None else None,
        "source_ev100": exif.exposure_value() if exif is not None else None,
        "warnings": warnings,
        "evs": sorted(files),
        "files": [files[ev] for ev in sorted(files)],
        "format": {"container": options.image_format, "bit_depth": bits},
        "model": {"name": "CEVR (Chen et al., ICCV 2023)", "variant": predictor.pair.config.variant,
                  "weights_id": predictor.pair.weights_id},
        "device": str(predictor.device),
        "precision": "fp16" if str(predictor.dtype) == "torch.float16" else "fp32",
        "seconds": round(time.monotonic() - started, 3),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
    }
    atomic_write_text(folder / STACK_MANIFEST, json.dumps(manifest, indent=2))
    return manifest


def run_stack(
    inputs: Sequence[Path], out_dir: Path, predictor: Any, options: StackOptions,
    on_event: Callable[[str, Any], None] | None = None,
) -> BatchReport:
    """Stack every photo found in ``inputs`` into ``out_dir/<photo>/``; failures don't stop the batch."""
    options.suffix_and_bits()
    photos = discover_inputs(list(inputs), recursive=options.recursive)
    if not photos:
        raise UsageError("no photos found in " + ", ".join(str(p) for p in inputs))
    plan = plan_outputs(photos, out_dir, roots=list(inputs))

    def job(photo: Path, folder: Path) -> None:
        write_stack(predictor, photo, folder, options,
                    on_ev=(lambda ev: on_event("ev", {"photo": photo, "ev": ev})) if on_event else None,
                    on_warning=(lambda text: on_event("warning", text)) if on_event else None)

    return run_batch(plan, job, overwrite=options.overwrite, dry_run=options.dry_run, on_event=on_event)
