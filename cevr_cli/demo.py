"""`cevr demo`: the whole pipeline (stack, HDR, tone map) on the bundled sample with the shipped weights."""

from __future__ import annotations

import os
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
from .vocabulary import FUSE_MANIFEST, MIN_PHOTO_SIDE


def run_demo(out_dir: Path, model: ExposureModel | ModelSpec, *, long_side: int | None = None,
             on_event: Callable[[str, Any], None] | None = None) -> BatchReport:
    """Stack (kept), fuse and tone-map the sample photo into ``out_dir/sample/``; redone on every run.

    ``long_side`` downsizes the sample first (a quick check of an install); its EXIF and ICC profile go along.
    The photo fused is a copy in ``out_dir/.input/`` (downsized or not), rewritten only when it changes: one input
    path for every run, so each run redoes ``sample/`` itself, whatever the size.
    """
    from .errors import UsageError
    from .io.atomic import check_writable

    if isinstance(model, ModelSpec):
        model.check_device()  # a device this machine lacks: refused before the sample is copied
    check_writable(out_dir, folder=True)
    made = Path(out_dir) / "sample"
    if os.path.lexists(made) and not (made / FUSE_MANIFEST).is_file():
        raise UsageError(f"{made}: exists and was not made by cevr demo; choose another -o")
    options = FuseOptions(CONTINUOUS_EVS, tmo="reinhard", keep_stack=True)
    policy = BatchPolicy(redo=True)  # its own sample/ again, whatever the size; never a folder it did not make
    photo = Path(out_dir) / ".input" / sample_photo_path().name
    _place_sample(photo, long_side)
    return run_fuse([photo], out_dir, options, model, policy, on_event=on_event)


def _place_sample(dst: Path, long_side: int | None) -> None:
    """The sample at ``dst``, downsized to ``long_side`` if given; the file is left as it is when it holds that."""
    from .io.atomic import atomic_path, check_writable

    check_writable(dst)
    data = sample_photo_path().read_bytes() if long_side is None else _downsized(long_side)
    if dst.is_file() and dst.read_bytes() == data:
        return
    with atomic_path(dst) as tmp:
        tmp.write_bytes(data)


def _downsized(long_side: int) -> bytes:
    """The sample's JPEG bytes at ``long_side`` pixels on its long side, with its EXIF and ICC profile; its short
    side at least the 16 px a photo needs, the long side growing with it (the shape kept, not stretched)."""
    import cv2

    from .io.images import read_photo, write_ldr

    photo = read_photo(sample_photo_path())
    h, w = photo.rgb.shape[:2]
    scale = min(1.0, max(long_side / max(h, w), MIN_PHOTO_SIDE / min(h, w)))
    size = (max(MIN_PHOTO_SIDE, round(w * scale)), max(MIN_PHOTO_SIDE, round(h * scale)))
    small = cv2.resize(photo.rgb, size, interpolation=cv2.INTER_AREA)
    with tempfile.TemporaryDirectory(prefix="cevr-demo-") as tmp:
        path = Path(tmp) / sample_photo_path().name
        write_ldr(path, small, bit_depth=8, exif_bytes=photo.exif_bytes, icc_profile=photo.icc_profile)
        return path.read_bytes()
