"""Non-finite and negative radiance: the one place that decides what NaN, +Inf and negatives become.

An HDR file can hold NaN (a renderer's 0/0), +Inf (a value above half float's 65504 saved as half, or a
sensor overflow) and small negatives (colour conversion, noise). Tone mapping and everything else that
reads HDR images (:func:`cevr_cli.io.hdrfile.read_hdr_image`) go through :func:`finite_radiance`:

- NaN -> 0: no light is known there;
- +Inf -> the image's largest finite value: the brightest thing in the picture, never black (the old
  ``nan_to_num(posinf=0)`` turned the sun into a black hole);
- -Inf and negatives -> 0: radiance is not negative.

The caller reports how many pixels held NaN/Inf (a count, not a silent fix).
"""

from __future__ import annotations

import numpy as np

__all__ = ["finite_radiance"]


def finite_radiance(rgb: np.ndarray) -> tuple[np.ndarray, int]:
    """``rgb`` (any float array, last axis the channels) with NaN -> 0, +Inf -> the largest finite value,
    -Inf and negatives -> 0; and the number of pixels that held NaN or +-Inf in any channel.

    The dtype is kept (float64 for integer input). An image with no finite value at all becomes 0.
    """
    rgb = np.asarray(rgb)
    if not np.issubdtype(rgb.dtype, np.floating):
        return np.maximum(rgb.astype(np.float64), 0.0), 0
    finite = np.isfinite(rgb)
    if finite.all():  # the usual case, without a masked copy of the image
        return np.maximum(rgb, 0), 0
    count = int(np.count_nonzero(~finite.all(axis=-1))) if rgb.ndim else 1
    largest = float(np.max(rgb, where=finite, initial=0.0))
    clean = np.nan_to_num(rgb, nan=0.0, posinf=largest, neginf=0.0)
    return np.maximum(clean, 0, out=clean), count
