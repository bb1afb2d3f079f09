"""Kim & Kautz 2008, "Consistent tone reproduction" (CGIM), with Banterle's HDR Toolbox defaults.

References
----------
- Kim, M. H., & Kautz, J. (2008). Consistent tone reproduction. Proceedings of the IASTED Conference on
  Computer Graphics and Imaging (CGIM 2008), ACTA Press. No DOI; https://actapress.com/Abstract.aspx?paperId=32616
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import UsageError
from .tonemap_common import MIDDLE_GREY, change_luminance, check_hdr, luminance, percentiles_nearest_rank

LD_MAX = 300.0  # display luminance range, cd/m^2
LD_MIN = 0.3
C1 = 3.0
C2 = 0.5
DELTA = 1e-6


def _display_range(ld: np.ndarray, black: float) -> np.ndarray:
    """Map [q(Ld, 0.01), q(Ld, 0.99)] linearly onto [black, 1], clip above; below, black * Ld / q(Ld, 0.01).

    The lower part is a linear toe that meets the rescaled range at ``black``, so the darkest 1% keep
    their gradation instead of all becoming ``black``. Ld > 0 everywhere, so the toe is > 0 for black > 0.
    Without a range (1st = 99th percentile: a uniform scene, or one with under 2 % of other pixels) the
    plateau is shown as middle grey, MIDDLE_GREY Ld / q(Ld, 0.01) clipped to 1, instead of 0/0.
    """
    lo, hi = percentiles_nearest_rank(ld, 0.01, 0.99)
    if hi <= lo:
        return np.minimum(MIDDLE_GREY * ld / lo, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ranged = black + (1.0 - black) * (np.minimum(ld, hi) - lo) / (hi - lo)
        return np.where(ld < lo, black * ld / lo, ranged)


def kimkautz2008(hdr: np.ndarray, *, ld_max: float = LD_MAX, ld_min: float = LD_MIN, c1: float = C1,
                 c2: float = C2, toolbox: bool = False) -> np.ndarray:
    """Tone-map linear RGB ``hdr``; returns float32 linear RGB whose luminance lies in [0, 1].

    With Ll = ln(L + 1e-6), mu its mean: k1 = (ln Ld_max - ln Ld_min) / (max Ll - min Ll),
    sigma = (max Ll - min Ll) / c1, w = exp(-(Ll - mu)^2 / (2 sigma^2)), k2 = (1 - k1) w + k1,
    Ld = exp(c2 k2 (Ll - mu) + mu). Ld from its 1st to its 99th nearest-rank percentile is then
    rescaled to the display's range relative to its white, [Ld_min / Ld_max, 1]; brighter pixels
    clip to 1 and darker ones fall linearly to 0 (:func:`_display_range`), so a lit pixel never turns
    black. ``toolbox`` rescales to [0, 1] and clips below as the HDR Toolbox does, which leaves the
    darkest 1% of pixels pure black: holes in dark shadows. A flat image (zero log range) has no
    defined k1 and nothing to compress: Ld = L, which the display range shows as MIDDLE_GREY (0.18) of the
    same hue, in both forms (the toolbox returns NaN, i.e. black).

    Raises:
        UsageError: not an HxWx3 image; ``ld_min`` and ``ld_max`` not finite with 0 < ld_min < ld_max, or ``c1``,
            ``c2`` not positive finite numbers (ld_max 0 or c1 0 raised ZeroDivisionError; ld_max below ld_min gave
            luminance far above 1, a negative or NaN one a black image).
    """
    if not all(isinstance(v, (int, float, np.number)) and math.isfinite(v) and v > 0 for v in (ld_max, ld_min, c1, c2)):
        raise UsageError(f"Kim-Kautz ld_max, ld_min, c1 and c2 must be positive numbers, got {ld_max}, {ld_min}, {c1}, "
                         f"{c2}")
    if ld_min >= ld_max:
        raise UsageError(f"Kim-Kautz display range: ld_min ({ld_min}) must be below ld_max ({ld_max})")
    rgb = check_hdr(hdr)
    lum = luminance(rgb)
    ll = np.log(lum + DELTA)
    mu, max_l, min_l = float(ll.mean()), float(ll.max()), float(ll.min())
    if max_l <= min_l:
        compressed = np.exp(ll)
    else:
        k1 = (np.log(ld_max) - np.log(ld_min)) / (max_l - min_l)
        sigma = (max_l - min_l) / c1
        w = np.exp(-((ll - mu) ** 2) / (2.0 * sigma**2))
        k2 = (1.0 - k1) * w + k1
        compressed = np.exp(c2 * k2 * (ll - mu) + mu)
    ld = _display_range(compressed, 0.0 if toolbox else ld_min / ld_max)
    return change_luminance(rgb, lum, ld, in_place=True).astype(np.float32)  # rgb: check_hdr's copy
