"""Reinhard, Stark, Shirley, Ferwerda 2002, "Photographic tone reproduction for digital images".

As Banterle's HDR Toolbox implements it (the version before December 2023, which CEVR's evaluation
used): automatic key from the 1st/99th luminance percentiles, automatic white point, adaptation
luminance = log-average luminance. Returns a linear image; display encoding is a separate step.
(OpenCV's TonemapReinhard is Reinhard & Devlin 2005, a different operator.)
"""

from __future__ import annotations

import numpy as np

from .tonemap_common import change_luminance, log_average, luminance, percentile_nearest_rank

EPS = 1e-9


def automatic_key(lum: np.ndarray) -> float:
    """alpha = 0.18 * 4^((2 log2(Lav) - log2(Lmin) - log2(Lmax)) / (log2(Lmax) - log2(Lmin)))."""
    l_av = log_average(lum)
    l_min, l_max = percentile_nearest_rank(lum, 0.01), percentile_nearest_rank(lum, 0.99)
    lo, hi, av = np.log2(l_min + EPS), np.log2(l_max + EPS), np.log2(l_av + EPS)
    if hi - lo <= 0:
        return 0.18
    return float(0.18 * 4.0 ** ((2 * av - lo - hi) / (hi - lo)))


def automatic_white(lum: np.ndarray) -> float:
    """W = 1.5 * 2^(log2(Lmax) - log2(Lmin) - 5), percentiles 1 and 99."""
    l_min, l_max = percentile_nearest_rank(lum, 0.01), percentile_nearest_rank(lum, 0.99)
    return float(1.5 * 2.0 ** (np.log2(l_max + EPS) - np.log2(l_min + EPS) - 5.0))


def _gaussian_fft(image: np.ndarray, sigma: float) -> np.ndarray:
    """Blur with exp(-(x^2+y^2)/sigma^2)/(pi sigma^2) by FFT (circular borders, as the toolbox)."""
    h, w = image.shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    # Fourier transform of the normalised kernel above: exp(-pi^2 sigma^2 (fx^2 + fy^2)).
    kernel = np.exp(-(np.pi**2) * sigma**2 * (fx**2 + fy**2))
    return np.real(np.fft.ifft2(np.fft.fft2(image) * kernel))


def local_adaptation(ls: np.ndarray, alpha: float, phi: float = 8.0, threshold: float = 0.05,
                     toolbox_constant_scale: bool = False) -> np.ndarray:
    """Dodging-and-burning (Sec. 3.2): per pixel, the largest scale whose centre-surround activity stays small."""
    a1 = 1.0 / (2.0 * np.sqrt(2.0))
    scales = [1.6**i for i in range(8)]
    blurred = [_gaussian_fft(ls, a1 * s) for s in scales]
    adapt = blurred[-1].copy()
    chosen = np.zeros(ls.shape, dtype=bool)
    for i in range(len(scales) - 1):
        s = 1.6**8 if toolbox_constant_scale else scales[i]
        activity = np.abs((blurred[i] - blurred[i + 1]) / (2.0**phi * alpha / s**2 + blurred[i]))
        hit = (activity > threshold) & ~chosen
        adapt[hit] = blurred[i][hit]
        chosen |= hit
    return adapt


def reinhard2002(hdr: np.ndarray, *, key: float | None = None, white: float | None = None, local: bool = False,
                 toolbox_constant_scale: bool = False) -> np.ndarray:
    """Tone-map ``hdr`` (linear RGB); returns linear RGB (may exceed 1 before display encoding)."""
    lum = luminance(hdr)
    alpha = automatic_key(lum) if key is None else key
    w = automatic_white(lum) if white is None else white
    ls = alpha * lum / log_average(lum)
    if local:
        ld = ls * (1 + ls / w**2) / (1 + local_adaptation(ls, alpha, toolbox_constant_scale=toolbox_constant_scale))
    else:
        ld = ls * (1 + ls / w**2) / (1 + ls)
    return change_luminance(hdr, lum, ld)
