"""Reinhard, Stark, Shirley, Ferwerda 2002, "Photographic tone reproduction for digital images".

Two forms share the equations: automatic key from the 1st/99th luminance percentiles (Reinhard 2002b),
adaptation luminance = the log-average luminance, global operator (Eq. 4) or dodging-and-burning
(Sec. 3.2, Eqs. 5-9).

- ``toolbox=True`` is Banterle's HDR Toolbox in the version CEVR's evaluation used (before December 2023),
  for comparison with the paper: white point from the percentile range, Gaussian kernels sampled without
  renormalising, activity with the constant s = 1.6^8, L_adapt from the first scale that is too active.
  Pinned to the toolbox run in GNU Octave (tests/hdr/test_tonemap_golden.py), with one deliberate departure:
  the kernels are centred on the pixel (see :func:`gaussian_fft`), so the local operator's output differs.
- The default is for photographers and follows the paper where the toolbox departs from it: the scene's
  white (99.9th percentile of Ls) maps to display white; kernels sum to 1, so each V_i is a local average;
  each scale's own s; L_adapt from the largest scale that is still calm (Sec. 3.2). Both forms keep Eq. 4's
  white-burn numerator in the local operator, Ld = Ls (1 + Ls/W^2) / (1 + L_adapt), as the toolbox does, where
  Eq. 9 has Ls / (1 + L_adapt): so ``white`` (``--white``) means the same in both operators.

Returns a linear image; display encoding is a separate step. OpenCV's ``TonemapReinhard`` is Reinhard
& Devlin 2005, a different operator, and pfstools' reinhard02 uses other defaults (phi = 1, key 0.18).

References
----------
- Reinhard, E., Stark, M., Shirley, P., & Ferwerda, J. (2002). Photographic tone reproduction for digital
  images. ACM Transactions on Graphics, 21(3), 267-276. doi:10.1145/566654.566575
- Reinhard, E. (2002b). Parameter estimation for photographic tone reproduction. Journal of Graphics Tools,
  7(1), 45-51. doi:10.1080/10867651.2002.10487554
"""

from __future__ import annotations

import numpy as np

from ..errors import UsageError
from ..options import is_number
from .tonemap_common import MIDDLE_GREY, change_luminance, check_hdr, log_average, luminance, percentiles_nearest_rank

EPS = 1e-9  # the toolbox's guard inside log2 (1e-6 only from February 2024)
DEFAULT_KEY = MIDDLE_GREY
PHI = 8.0
THRESHOLD = 0.05
SCALES = tuple(1.6**i for i in range(8))
A1 = 1.0 / (2.0 * np.sqrt(2.0))
TOOLBOX_S = 1.6**8  # the toolbox's s in the activity term: its loop variable after the last scale
# Percentile of Ls that the photographers' default maps to display white (at most 0.1% of pixels burn out).
WHITE_PERCENTILE = 0.999


def _percentile_range(lum: np.ndarray) -> tuple[float, float]:
    """log2 of the 1st and 99th nearest-rank percentiles of L, each plus EPS."""
    l_min, l_max = percentiles_nearest_rank(lum, 0.01, 0.99)
    return float(np.log2(l_min + EPS)), float(np.log2(l_max + EPS))


def automatic_key(lum: np.ndarray, l_av: float | None = None, log_range: tuple[float, float] | None = None) -> float:
    """alpha = 0.18 * 4^((2 log2 Lav - log2 Lmin - log2 Lmax) / (log2 Lmax - log2 Lmin)) (Reinhard 2002b).

    A flat image (Lmax = Lmin) leaves the ratio 0/0; it gets the paper's default key 0.18. ``l_av`` and
    ``log_range`` (log2 Lmin, log2 Lmax: :func:`_percentile_range`): when the caller has them (Eq. 1 over a 24 MP
    image is a fifth of the operator's time, the percentiles' partial sort another).
    """
    lo, hi = _percentile_range(lum) if log_range is None else log_range
    if hi <= lo:
        return DEFAULT_KEY
    av = np.log2((log_average(lum) if l_av is None else l_av) + EPS)
    return float(DEFAULT_KEY * 4.0 ** ((2.0 * av - lo - hi) / (hi - lo)))


def automatic_white(lum: np.ndarray, log_range: tuple[float, float] | None = None) -> float:
    """W = 1.5 * 2^(log2 Lmax - log2 Lmin - 5), on unscaled L (toolbox until November 2023); ``log_range`` as
    :func:`automatic_key` takes it.

    Applied to the scaled Ls, this W usually lies far above the scene's brightest Ls for photos of
    moderate range, so whites stop short of display white (226-231 of 255 on `cevr demo`).
    """
    lo, hi = _percentile_range(lum) if log_range is None else log_range
    return float(1.5 * 2.0 ** (hi - lo - 5.0))


def scene_white(ls: np.ndarray) -> float:
    """W = the 99.9th nearest-rank percentile of the scaled luminance Ls, which Eq. 4 maps to exactly 1.

    The paper sets L_white to the scene's maximum luminance so that nothing burns out (Sec. 3.1); the
    percentile keeps that intent while a few hot pixels (glints, the sun) cannot dim the whole picture.
    A scene without range (1st = 99th percentile, as :func:`automatic_key`'s flat case: a uniform wall, a
    black image) has no white to stretch to: W is at least 1, where Eq. 4 is the identity, so its
    plateau keeps Ls = alpha L / Lav = alpha, the key's middle grey (0.18 by default), instead of
    becoming display white; a black image stays black.
    """
    white, high, low = percentiles_nearest_rank(ls, WHITE_PERCENTILE, 0.99, 0.01)
    if high <= low:
        return max(white, 1.0)
    return white  # > 0: at least the 99th percentile, above the 1st, itself at least 0


def gaussian_fft(image: np.ndarray, sigma: float) -> np.ndarray:
    """The toolbox's blur: convolution with Eq. 5's samples exp(-(x^2 + y^2)/sigma^2) / (pi sigma^2), circular, by FFT.

    The kernel is sampled on the image-sized grid, centred on pixel (0, 0) with circular distances. The
    toolbox's ReinhardGaussianFilter samples it at (x - c/2, y - r/2) on the 1-based grid and fftshifts,
    which puts each blur one pixel up and left on even sizes (V_i(y, x) is the blur around (y+1, x+1))
    and half a pixel off on odd ones; we do not copy that, so the local operator's toolbox form does not
    reproduce the toolbox pixel for pixel (everything else does: tests/hdr/test_tonemap_golden.py
    substitutes the toolbox's placement and matches it to 1e-6). Eq. 5 has unit integral, but its samples
    do not: they sum to about 2.55 at s = 1 (sigma = a1 = 0.35 px) and tend to 1 at larger scales; the
    toolbox does not divide by that sum (:func:`gaussian_blur` does), and the circular convolution blends
    the top row with the bottom one.
    """
    h, w = image.shape
    dy = np.minimum(np.arange(h), h - np.arange(h))[:, None].astype(np.float64)
    dx = np.minimum(np.arange(w), w - np.arange(w))[None, :].astype(np.float64)
    kernel = np.exp(-(dx**2 + dy**2) / sigma**2) / (np.pi * sigma**2)
    return np.fft.irfft2(np.fft.rfft2(image) * np.fft.rfft2(kernel), s=image.shape)


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Eq. 5's Gaussian exp(-(x^2 + y^2)/sigma^2) (standard deviation sigma / sqrt 2) as a local average: its
    samples normalised to sum 1, the image mirrored at its edges (OpenCV's BORDER_REFLECT, abc|cba, as far as
    the kernel reaches), cut at 4 sigma where the weight is e^-16.

    Normalised, a flat bright region is calm at every scale (the toolbox's unnormalised kernel makes it look
    "active" at the smallest); mirrored, a photo whose top and bottom differ (a sky over dark ground) gets no
    line along its edges, as a circular blur gives. OpenCV's separable filter: the 8 scales of a 24 MP image
    in 1.6 s, where FFTs took 20 s (tests/benchmarks/bench_tonemap.py).
    """
    import cv2  # here, not at import: OpenCV reads OPENCV_IO_MAX_IMAGE_PIXELS then (io/opencv.py checks it first)

    radius = int(np.ceil(4.0 * sigma))  # at least 1: sigma > 0
    deviation = sigma / np.sqrt(2.0)
    return cv2.GaussianBlur(np.ascontiguousarray(image, dtype=np.float64), (2 * radius + 1, 2 * radius + 1),
                            sigmaX=deviation, sigmaY=deviation, borderType=cv2.BORDER_REFLECT)


def local_adaptation(ls: np.ndarray, alpha: float, *, toolbox: bool = False) -> np.ndarray:
    """L_adapt of dodging and burning (Eqs. 5-9) with phi = 8 and threshold 0.05.

    V_i = Gaussian blur of Ls at s_i = 1.6^i with a1 = 1/(2 sqrt 2) (V_{i+1} is the surround of scale
    i, a2 = 1.6 a1); activity |(V_i - V_{i+1}) / (2^phi alpha / s^2 + V_i)|. Where the activity of
    scale i first exceeds the threshold, the paper takes the largest scale still below it, V_{i-1}
    (V_0 when already scale 0 is active); a pixel never active takes the largest scale's V.
    ``toolbox``: unnormalised circular kernels, s = 1.6^8 for every scale and V_i itself, as the HDR Toolbox.
    Without kernel normalisation a smooth sky flips between V_0 (2.55 Ls) and V_7 (Ls) from one
    pixel to the next, which shows as dark blotches with a speckled edge.
    """
    blur = gaussian_fft if toolbox else gaussian_blur
    adapt = np.empty_like(ls, dtype=np.float64)
    settled = np.zeros(ls.shape, dtype=bool)
    previous = current = blur(ls, A1 * SCALES[0])  # V_{i-1}, V_i: three scales held at a time, not eight
    for i in range(len(SCALES) - 1):
        surround = blur(ls, A1 * SCALES[i + 1])
        s = TOOLBOX_S if toolbox else SCALES[i]
        activity = np.abs((current - surround) / (2.0**PHI * alpha / s**2 + current))
        first = (activity > THRESHOLD) & ~settled
        chosen = current if toolbox else previous
        adapt[first] = chosen[first]
        settled |= first
        previous, current = current, surround
    adapt[~settled] = current[~settled]
    return adapt


def reinhard2002(hdr: np.ndarray, *, key: float | None = None, white: float | None = None,
                 local: bool = False, toolbox: bool = False) -> np.ndarray:
    """Photographic tone reproduction of linear RGB ``hdr``; returns float32 linear RGB (may exceed 1).

    Ls = alpha L / Lav (Eq. 2); global Ld = Ls (1 + Ls/W^2) / (1 + Ls) (Eq. 4), local replaces the
    denominator by 1 + L_adapt (Eq. 9). ``key``/``white`` override the automatic alpha and W (W in
    units of Ls). ``toolbox`` reproduces the HDR Toolbox (module docstring); the default gives
    photographers the scene's white at display white and a blotch-free local operator.

    Raises:
        UsageError: not an HxWx3 image, or a key or white point that is not a positive number.
    """
    rgb = check_hdr(hdr)
    for name, value in (("key", key), ("white", white)):
        if value is not None and not (is_number(value) and np.isfinite(value) and value > 0):
            raise UsageError(f"Reinhard {name} must be a positive number, got {value!r}")
    lum = luminance(rgb)
    l_av = log_average(lum)
    # the toolbox's key and white read the same percentiles of L: one partial sort for both
    log_range = _percentile_range(lum) if key is None or (toolbox and white is None) else None
    alpha = automatic_key(lum, l_av, log_range) if key is None else float(key)
    ls = alpha * lum / l_av
    if white is not None:
        w = float(white)
    else:
        w = automatic_white(lum, log_range) if toolbox else scene_white(ls)
    adapt = local_adaptation(ls, alpha, toolbox=toolbox) if local else ls
    ld = ls * (1.0 + ls / w**2) / (1.0 + adapt)
    return change_luminance(rgb, lum, ld, in_place=True).astype(np.float32)  # rgb: check_hdr's copy
