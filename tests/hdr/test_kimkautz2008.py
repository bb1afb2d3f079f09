"""Kim & Kautz 2008 against the toolbox formula evaluated by hand on a 3x4 image."""

import math

import numpy as np
import pytest

from cevr_cli.errors import UsageError
from cevr_cli.hdr.kimkautz2008 import kimkautz2008

HDR = np.array(
    [[[0.01, 0.02, 0.03], [0.1, 0.1, 0.1], [0.5, 0.2, 0.1], [1.0, 1.0, 1.0]],
     [[2.0, 3.0, 1.0], [5.0, 5.0, 5.0], [0.05, 0.3, 0.9], [8.0, 4.0, 2.0]],
     [[20.0, 20.0, 20.0], [0.002, 0.001, 0.004], [50.0, 30.0, 10.0], [0.7, 0.8, 0.9]]]
)


def _by_hand() -> np.ndarray:
    pixels = [tuple(p) for p in HDR.reshape(-1, 3)]
    lum = [0.2126 * r + 0.7152 * g + 0.0722 * b for r, g, b in pixels]
    ll = [math.log(v + 1e-6) for v in lum]
    mu = sum(ll) / len(ll)
    k1 = (math.log(300) - math.log(0.3)) / (max(ll) - min(ll))
    sigma = (max(ll) - min(ll)) / 3.0
    ld = []
    for x in ll:
        k2 = (1 - k1) * math.exp(-((x - mu) ** 2) / (2 * sigma**2)) + k1
        ld.append(math.exp(0.5 * k2 * (x - mu) + mu))
    ranked = sorted(ld)  # n = 12: 1% -> rank max(round(0.12), 1) = 1, 99% -> rank round(11.88) = 12
    lo, hi = ranked[0], ranked[11]
    scaled = [(min(max(v, lo), hi) - lo) / (hi - lo) for v in ld]
    out = [[c * s / l for c in p] for p, s, l in zip(pixels, scaled, lum, strict=True)]
    return np.array(out).reshape(HDR.shape)


def test_matches_hand_computation() -> None:
    out = kimkautz2008(HDR)
    assert out.shape == HDR.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, _by_hand(), rtol=1e-5, atol=1e-7)


def test_black_pixels_stay_black_and_flat_image_is_defined() -> None:
    hdr = HDR.copy()
    hdr[0, 0] = 0.0
    assert np.all(kimkautz2008(hdr)[0, 0] == 0)
    assert np.all(kimkautz2008(np.ones((2, 3, 3))) == 0)


def test_float32_input_and_bad_shape() -> None:
    np.testing.assert_allclose(kimkautz2008(HDR.astype(np.float32)), _by_hand(), rtol=1e-4, atol=1e-6)
    with pytest.raises(UsageError):
        kimkautz2008(HDR[..., :2])
