"""Helpers shared by the tone-mapping operators, as Banterle's HDR Toolbox defines them.

Luminance and encoding as the toolbox uses them: Rec.709 luminance, log-average, the toolbox's
nearest-rank percentile, ChangeLuminance, GammaTMO; plus the sRGB transfer function.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import UsageError
from ..imaging import check_rgb, luminance, srgb_encode
from ..options import is_number
from ..vocabulary import DISPLAY_GAMMA
from .finite import finite_radiance

__all__ = ["change_luminance", "check_hdr", "gamma_encode", "log_average", "luminance", "MIDDLE_GREY",
           "percentiles_nearest_rank", "srgb_encode"]

LOG_AVERAGE_DELTA = 1e-6
# Middle grey: 18 % reflectance, Zone V, the key of Reinhard et al. 2002 (Eq. 2) and the level an averaging
# meter exposes for.
MIDDLE_GREY = 0.18


def check_hdr(hdr: np.ndarray) -> np.ndarray:
    """Validate a linear HxWx3 image; return it as a new float64 array made finite and non-negative as
    :func:`cevr_cli.hdr.finite.finite_radiance` does (NaN -> 0, +Inf -> the largest finite value).

    The toolbox assumes clean input; ``read_hdr_image`` cleans files the same way.

    Raises:
        UsageError: not a non-empty HxWx3 numeric array.
    """
    hdr = check_rgb(hdr, "linear image")
    return finite_radiance(hdr)[0].astype(np.float64, copy=False)  # cleaned first: one float64 image, not two


def log_average(lum: np.ndarray, delta: float = LOG_AVERAGE_DELTA) -> float:
    """Lav = exp(mean(ln(L + delta))) (Reinhard et al. 2002, Eq. 1)."""
    return math.exp(float(np.mean(np.log(lum + delta))))


def percentiles_nearest_rank(values: np.ndarray, *ps: float) -> tuple[float, ...]:
    """The toolbox's percentile at each of ``ps``: sort ascending, take the element at 1-based index
    max(round(n p), 1). MATLAB's round takes halves away from zero, hence floor(x + 0.5) for the positive n p.

    One partial sort serves every ``p``: ``np.partition`` puts each asked rank's element where a full sort would
    (tests/benchmarks/bench_tonemap.py: the sort was two thirds of Reinhard's time on a 24 MP image).
    """
    for p in ps:
        if not 0.0 <= p <= 1.0:
            raise UsageError(f"percentile must be in [0, 1], got {p}")
    if not ps:
        return ()
    flat = np.asarray(values).reshape(-1)
    if flat.size == 0:
        raise UsageError("percentile of an empty array")
    ranks = [max(int(np.floor(flat.size * p + 0.5)), 1) - 1 for p in ps]
    ordered = np.partition(flat, sorted(set(ranks)))
    return tuple(float(ordered[rank]) for rank in ranks)


def change_luminance(rgb: np.ndarray, old: np.ndarray, new: np.ndarray, *, in_place: bool = False) -> np.ndarray:
    """out_c = rgb_c * new / old per channel (the toolbox's ChangeLuminance); NaN/Inf become 0.

    ``in_place``: scale float64 ``rgb`` itself (an operator's own copy), which saves an image of float64 (576 MB
    at 24 MP) at the peak.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = (new / old)[..., None]
        if in_place:
            out = np.multiply(rgb, ratio, out=rgb)
        else:
            out = np.asarray(rgb, dtype=np.float64) * ratio
    if np.isfinite(out).all():  # the usual case; the replacement's own tests for each kind cost 3x this one
        return out
    return np.nan_to_num(out, copy=False, nan=0.0, posinf=0.0, neginf=0.0)


def gamma_encode(linear: np.ndarray, gamma: float = DISPLAY_GAMMA, fstop: float = 0.0) -> np.ndarray:
    """The toolbox's GammaTMO: clamp((2^fstop x)^(1/gamma), 0, 1), float32.

    Raises:
        UsageError: gamma not a positive finite number (text raised numpy's TypeError), or fstop not a finite one.
    """
    if not is_number(gamma) or not np.isfinite(gamma) or gamma <= 0:
        raise UsageError(f"gamma must be a positive number, got {gamma!r}")
    if not is_number(fstop) or not np.isfinite(fstop):
        raise UsageError(f"fstop must be a finite number, got {fstop!r}")
    scaled = np.asarray(linear, dtype=np.float64) * 2.0**fstop  # float64 as the toolbox, one image of it
    np.maximum(scaled, 0.0, out=scaled)
    np.power(scaled, 1.0 / gamma, out=scaled)
    return np.clip(scaled, 0.0, 1.0, out=scaled).astype(np.float32)

