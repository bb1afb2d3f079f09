"""Reinhard, Stark, Shirley, Ferwerda 2002, "Photographic tone reproduction for digital images".

As Banterle's HDR Toolbox implements it in the version CEVR's evaluation used (before December 2023):
automatic key and white point from the 1st/99th luminance percentiles, adaptation luminance = the
log-average luminance, global operator (Eq. 4) or dodging-and-burning (Sec. 3.2, Eqs. 5-9).
Returns a linear image; display encoding is a separate step. OpenCV's ``TonemapReinhard`` is Reinhard
& Devlin 2005, a different operator, and pfstools' reinhard02 uses other defaults (phi = 1, key 0.18).
"""

from __future__ import annotations

import numpy as np

from ..errors import UsageError
from .tonemap_common import change_luminance, check_hdr, log_average, luminance, percentile_nearest_rank

EPS = 1e-9  # the toolbox's guard inside log2 (1e-6 only from February 2024)
DEFAULT_KEY = 0.18
PHI = 8.0
THRESHOLD = 0.05
SCALES = tuple(1.6**i for i in range(8))
A1 = 1.0 / (2.0 * np.sqrt(2.0))


def _percentile_range(lum: np.ndarray) -> tuple[float, float]:
    """log2 of the 1st and 99th nearest-rank percentiles of L, each plus EPS."""
    l_min, l_max = percentile_nearest_rank(lum, 0.01), percentile_nearest_rank(lum, 0.99)
    return float(np.log2(l_min + EPS)), float(np.log2(l_max + EPS))


def automatic_key(lum: np.ndarray) -> float:
    """alpha = 0.18 * 4^((2 log2 Lav - log2 Lmin - log2 Lmax) / (log2 Lmax - log2 Lmin)) (Reinhard 2002b).

    A flat image (Lmax = Lmin) leaves the ratio 0/0; it gets the paper's default key 0.18.
    """
    lo, hi = _percentile_range(lum)
    if hi <= lo:
        return DEFAULT_KEY
    av = np.log2(log_average(lum) + EPS)
    return float(DEFAULT_KEY * 4.0 ** ((2.0 * av - lo - hi) / (hi - lo)))


def automatic_white(lum: np.ndarray) -> float:
    """W = 1.5 * 2^(log2 Lmax - log2 Lmin - 5), on unscaled L (toolbox until November 2023)."""
    lo, hi = _percentile_range(lum)
    return float(1.5 * 2.0 ** (hi - lo - 5.0))


def gaussian_fft(image: np.ndarray, sigma: float) -> np.ndarray:
    """Circular convolution with exp(-(x^2 + y^2)/sigma^2) / (pi sigma^2) (Eq. 5), by FFT.

    Like the toolbox, the kernel is sampled on the image-sized grid and not renormalised, so its
    taps sum to about 2.55 at s = 1 (sigma = a1) and tend to 1 at larger scales. We centre it on
    pixel (0, 0) with circular distances; the toolbox's fftshift leaves it one pixel off centre on
    even sizes, which we do not copy.
    """
    h, w = image.shape
    dy = np.minimum(np.arange(h), h - np.arange(h))[:, None].astype(np.float64)
    dx = np.minimum(np.arange(w), w - np.arange(w))[None, :].astype(np.float64)
    kernel = np.exp(-(dx**2 + dy**2) / sigma**2) / (np.pi * sigma**2)
    return np.fft.irfft2(np.fft.rfft2(image) * np.fft.rfft2(kernel), s=image.shape)


def local_adaptation(ls: np.ndarray, alpha: float, *, toolbox_scale: bool = False) -> np.ndarray:
    """L_adapt of dodging and burning (Eqs. 5-9) with phi = 8 and threshold 0.05.

    V_i = Gaussian blur of Ls at s_i = 1.6^i with a1 = 1/(2 sqrt 2); activity
    |(V_i - V_{i+1}) / (2^phi alpha / s^2 + V_i)|. Each pixel takes V_i of the first scale whose
    activity exceeds the threshold, else the largest scale's V. The paper's s is each scale's own
    s_i; ``toolbox_scale`` uses the toolbox's constant s = 1.6^8 instead.
    """
    blurred = [gaussian_fft(ls, A1 * s) for s in SCALES]
    adapt = blurred[-1].copy()
    settled = np.zeros(ls.shape, dtype=bool)
    for i in range(len(SCALES) - 1):
        s = 1.6**8 if toolbox_scale else SCALES[i]
        activity = np.abs((blurred[i] - blurred[i + 1]) / (2.0**PHI * alpha / s**2 + blurred[i]))
        first = (activity > THRESHOLD) & ~settled
        adapt[first] = blurred[i][first]
        settled |= first
    return adapt


def reinhard2002(hdr: np.ndarray, *, key: float | None = None, white: float | None = None,
                 local: bool = False, toolbox_scale: bool = False) -> np.ndarray:
    """Photographic tone reproduction of linear RGB ``hdr``; returns float32 linear RGB (may exceed 1).

    Ls = alpha L / Lav (Eq. 2); global Ld = Ls (1 + Ls/W^2) / (1 + Ls) (Eq. 4), local replaces the
    denominator by 1 + L_adapt (Eq. 9). ``key``/``white`` override the automatic alpha and W.

    Raises:
        UsageError: not an HxWx3 image, or a non-positive key or white point.
    """
    rgb = check_hdr(hdr)
    for name, value in (("key", key), ("white", white)):
        if value is not None and not (np.isfinite(value) and value > 0):
            raise UsageError(f"Reinhard {name} must be a positive number, got {value}")
    lum = luminance(rgb)
    alpha = automatic_key(lum) if key is None else float(key)
    w = automatic_white(lum) if white is None else float(white)
    ls = alpha * lum / log_average(lum)
    adapt = local_adaptation(ls, alpha, toolbox_scale=toolbox_scale) if local else ls
    ld = ls * (1.0 + ls / w**2) / (1.0 + adapt)
    return change_luminance(rgb, lum, ld).astype(np.float32)
