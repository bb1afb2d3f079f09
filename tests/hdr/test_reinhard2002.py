"""Reinhard et al. 2002 (HDR Toolbox form) against its formulas evaluated by hand on a 3x4 image."""

import math

import numpy as np
import pytest

from cevr_cli.errors import UsageError
from cevr_cli.hdr.reinhard2002 import reinhard2002

HDR = np.array(
    [[[0.01, 0.02, 0.03], [0.1, 0.1, 0.1], [0.5, 0.2, 0.1], [1.0, 1.0, 1.0]],
     [[2.0, 3.0, 1.0], [5.0, 5.0, 5.0], [0.05, 0.3, 0.9], [8.0, 4.0, 2.0]],
     [[20.0, 20.0, 20.0], [0.002, 0.001, 0.004], [50.0, 30.0, 10.0], [0.7, 0.8, 0.9]]]
)
H, W = 3, 4
E = 1e-9


def _lum() -> list[float]:
    return [0.2126 * r + 0.7152 * g + 0.0722 * b for r, g, b in HDR.reshape(-1, 3)]


def _key_white_lav() -> tuple[float, float, float]:
    lum = _lum()
    ranked = sorted(lum)  # n = 12: the 1st percentile is rank 1, the 99th rank round(11.88) = 12
    l_min, l_max = ranked[0], ranked[11]
    l_av = math.exp(sum(math.log(v + 1e-6) for v in lum) / len(lum))
    lo, hi, av = math.log2(l_min + E), math.log2(l_max + E), math.log2(l_av + E)
    alpha = 0.18 * 4 ** ((2 * av - lo - hi) / (hi - lo))
    white = 1.5 * 2 ** (hi - lo - 5)
    return alpha, white, l_av


def _apply(ld: list[float]) -> np.ndarray:
    out = [[c * d / l for c in p] for p, d, l in zip(HDR.reshape(-1, 3), ld, _lum(), strict=True)]
    return np.array(out).reshape(HDR.shape)


def _global(alpha: float, white: float, l_av: float) -> np.ndarray:
    ls = [alpha * v / l_av for v in _lum()]
    return _apply([s * (1 + s / white**2) / (1 + s) for s in ls])


def _blur(ls: list[float], sigma: float) -> list[float]:
    """Direct circular convolution with the sampled, unnormalised kernel of Eq. 5."""
    out = []
    for y in range(H):
        for x in range(W):
            total = 0.0
            for qy in range(H):
                for qx in range(W):
                    dy, dx = (qy - y) % H, (qx - x) % W
                    dy, dx = min(dy, H - dy), min(dx, W - dx)
                    tap = math.exp(-(dx * dx + dy * dy) / sigma**2) / (math.pi * sigma**2)
                    total += ls[qy * W + qx] * tap
            out.append(total)
    return out


def _local(alpha: float, white: float, l_av: float, constant_s: bool) -> np.ndarray:
    ls = [alpha * v / l_av for v in _lum()]
    scales = [1.6**i for i in range(8)]
    v = [_blur(ls, s / (2 * math.sqrt(2))) for s in scales]
    ld = []
    for p, s_p in enumerate(ls):
        adapt = v[7][p]
        for i in range(7):
            s = 1.6**8 if constant_s else scales[i]
            if abs((v[i][p] - v[i + 1][p]) / (2**8 * alpha / s**2 + v[i][p])) > 0.05:
                adapt = v[i][p]
                break
        ld.append(s_p * (1 + s_p / white**2) / (1 + adapt))
    return _apply(ld)


def test_global_automatic_key_and_white() -> None:
    out = reinhard2002(HDR)
    assert out.shape == HDR.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, _global(*_key_white_lav()), rtol=1e-5)


def test_global_explicit_key_and_white() -> None:
    l_av = _key_white_lav()[2]
    np.testing.assert_allclose(reinhard2002(HDR, key=0.36, white=4.0), _global(0.36, 4.0, l_av), rtol=1e-5)


@pytest.mark.parametrize("constant_s", [False, True])
def test_local_dodging_and_burning(constant_s: bool) -> None:
    out = reinhard2002(HDR, local=True, toolbox_scale=constant_s)
    np.testing.assert_allclose(out, _local(*_key_white_lav(), constant_s), rtol=1e-5)


def test_local_modes_differ_and_global_differs() -> None:
    paper = reinhard2002(HDR, local=True)
    assert not np.allclose(paper, reinhard2002(HDR, local=True, toolbox_scale=True))
    assert not np.allclose(paper, reinhard2002(HDR))


def test_flat_image_uses_default_key() -> None:
    out = reinhard2002(np.full((2, 2, 3), 3.0))
    ls = 0.18 * 3.0 / (3.0 + 1e-6)
    white = 1.5 * 2**-5
    np.testing.assert_allclose(out, np.full((2, 2, 3), ls * (1 + ls / white**2) / (1 + ls)), rtol=1e-5)


def test_bad_input() -> None:
    with pytest.raises(UsageError):
        reinhard2002(HDR[0])
    with pytest.raises(UsageError, match="key"):
        reinhard2002(HDR, key=-1.0)
    with pytest.raises(UsageError, match="white"):
        reinhard2002(HDR, white=float("nan"))
