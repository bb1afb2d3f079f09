"""`cevr demo`: the whole pipeline (stack, HDR, tone map) on the bundled sample with the shipped weights."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .assets import sample_photo_path
from .batch import BatchPolicy, BatchReport
from .evs import CONTINUOUS_EVS
from .exposure import ExposureModel, ModelSpec
from .fuse import run_fuse
from .stage_options import FuseOptions


def run_demo(out_dir: Path, model: ExposureModel | ModelSpec, *, long_side: int | None = None,
             on_event: Callable[[str, Any], None] | None = None) -> BatchReport:
    """Stack (kept), fuse and tone-map the sample photo into ``out_dir/sample/``; redone on every run.

    ``long_side`` downsizes the sample first (a quick check of an install); its EXIF and ICC profile go along.
    """
    options = FuseOptions(CONTINUOUS_EVS, tmo="reinhard", keep_stack=True)
    policy = BatchPolicy(overwrite=True)
    sample = sample_photo_path()
    if long_side is None:
        return run_fuse([sample], out_dir, options, model, policy, on_event=on_event)
    with tempfile.TemporaryDirectory(prefix="cevr-demo-") as tmp:
        small = Path(tmp) / sample.name
        _downsize(sample, small, long_side)
        return run_fuse([small], out_dir, options, model, policy, on_event=on_event)


def _downsize(src: Path, dst: Path, long_side: int) -> None:
    import cv2

    from .io.images import read_photo, write_ldr

    photo = read_photo(src)
    h, w = photo.rgb.shape[:2]
    scale = min(1.0, long_side / max(h, w))
    size = (max(16, round(w * scale)), max(16, round(h * scale)))
    small = cv2.resize(photo.rgb, size, interpolation=cv2.INTER_AREA)
    write_ldr(dst, small, bit_depth=8, exif_bytes=photo.exif_bytes, icc_profile=photo.icc_profile)
