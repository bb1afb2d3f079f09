"""Toolbox helpers and the operator registry, checked against hand arithmetic."""

import math

import numpy as np
import pytest

from cevr_cli.errors import UsageError
from cevr_cli.hdr.tonemap import TONEMAPPERS, tonemap_to_display
from cevr_cli.hdr.tonemap_common import (
    change_luminance,
    gamma_encode,
    log_average,
    luminance,
    percentile_nearest_rank,
    srgb_encode,
)


def test_percentile_is_nearest_rank() -> None:
    values = np.array([[9.0, 1.0, 5.0], [3.0, 7.0, 2.0]])  # sorted: 1 2 3 5 7 9, n = 6
    assert percentile_nearest_rank(values, 0.01) == 1.0  # round(0.06) = 0 -> rank 1
    assert percentile_nearest_rank(values, 0.25) == 2.0  # round(1.5) = 2 (MATLAB rounds half up)
    assert percentile_nearest_rank(values, 0.5) == 3.0  # rank 3, no interpolation
    assert percentile_nearest_rank(values, 0.99) == 9.0  # round(5.94) = 6
    with pytest.raises(UsageError):
        percentile_nearest_rank(values, 1.5)
    with pytest.raises(UsageError):
        percentile_nearest_rank(np.array([]), 0.5)


def test_luminance_and_log_average() -> None:
    rgb = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [2.0, 2.0, 2.0]]])
    np.testing.assert_allclose(luminance(rgb), [[0.2126, 0.7152, 0.0722, 2.0]])
    lum = np.array([1.0, 4.0])
    assert math.isclose(log_average(lum), math.sqrt((1 + 1e-6) * (4 + 1e-6)))


def test_change_luminance_zeroes_undefined_ratios() -> None:
    rgb = np.array([[[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]])
    out = change_luminance(rgb, np.array([[2.0, 0.0]]), np.array([[1.0, 5.0]]))
    np.testing.assert_array_equal(out, [[[0.5, 1.0, 1.5], [0.0, 0.0, 0.0]]])


def test_gamma_and_srgb_encoding() -> None:
    x = np.array([-1.0, 0.0, 0.002, 0.25, 1.0, 4.0])
    out = gamma_encode(x, 2.2)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0, 0, 0.002 ** (1 / 2.2), 0.25 ** (1 / 2.2), 1, 1], rtol=1e-6)
    np.testing.assert_allclose(gamma_encode(np.array([0.1]), 2.0, fstop=1.0), [math.sqrt(0.2)], rtol=1e-6)
    np.testing.assert_allclose(srgb_encode(x), [0, 0, 12.92 * 0.002, 1.055 * 0.25 ** (1 / 2.4) - 0.055, 1, 1],
                               rtol=1e-6)
    with pytest.raises(UsageError):
        gamma_encode(x, 0.0)


@pytest.mark.parametrize("name", ["reinhard", "reinhard-local", "kimkautz"])
def test_registry_gives_display_images(name: str) -> None:
    rng = np.random.default_rng(0)
    hdr = np.exp2(rng.uniform(-5, 5, size=(8, 10, 3))).astype(np.float32)
    out = tonemap_to_display(hdr, name)
    assert name in TONEMAPPERS
    assert out.shape == hdr.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1


def test_non_finite_and_negative_input_count_as_black() -> None:
    hdr = np.exp2(np.arange(24, dtype=np.float64).reshape(2, 4, 3) / 4)
    dirty = hdr.copy()
    dirty[0, 0] = [np.nan, np.inf, -1.0]
    clean = hdr.copy()
    clean[0, 0] = 0.0
    for name in TONEMAPPERS:
        np.testing.assert_array_equal(tonemap_to_display(dirty, name), tonemap_to_display(clean, name))


def test_registry_rejects_bad_requests() -> None:
    hdr = np.ones((2, 2, 3), np.float32)
    with pytest.raises(UsageError, match="unknown tone mapper"):
        tonemap_to_display(hdr, "drago")
    with pytest.raises(UsageError, match="key"):
        tonemap_to_display(hdr, "kimkautz", key=0.18)
    with pytest.raises(UsageError, match="HxWx3"):
        tonemap_to_display(np.ones((2, 2)), "reinhard")
