"""Kim & Kautz 2008, "Consistent tone reproduction", as Banterle's HDR Toolbox implements it."""

from __future__ import annotations

import numpy as np

from .tonemap_common import change_luminance, luminance, percentile_nearest_rank


def kimkautz2008(hdr: np.ndarray, *, ld_max: float = 300.0, ld_min: float = 0.3, c1: float = 3.0,
                 c2: float = 0.5) -> np.ndarray:
    """Tone-map ``hdr`` (linear RGB) for a display of range [ld_min, ld_max] cd/m2; returns linear RGB in [0, 1]."""
    lum = luminance(hdr)
    ll = np.log(lum + 1e-6)
    mu, max_l, min_l = float(ll.mean()), float(ll.max()), float(ll.min())
    span = max(max_l - min_l, 1e-9)
    k1 = (np.log(ld_max) - np.log(ld_min)) / span
    sigma = span / c1
    w = np.exp(-((ll - mu) ** 2) / (2 * sigma**2))
    k2 = (1 - k1) * w + k1
    ld = np.exp(c2 * k2 * (ll - mu) + mu)
    lo, hi = percentile_nearest_rank(ld, 0.01), percentile_nearest_rank(ld, 0.99)
    ld = (np.clip(ld, lo, hi) - lo) / max(hi - lo, 1e-12)
    return change_luminance(hdr, lum, ld)
