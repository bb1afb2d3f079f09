"""Toolbox helpers and the operator registry, checked against hand arithmetic."""

import numpy as np
import pytest

from cevr_cli.errors import UsageError
from cevr_cli.hdr.finite import finite_radiance
from cevr_cli.hdr.tonemap import TONEMAPPERS, tonemap_to_display
from cevr_cli.hdr.tonemap_common import (
    change_luminance,
    gamma_encode,
    log_average,
    luminance,
    percentiles_nearest_rank,
    srgb_encode,
)


def test_percentile_is_nearest_rank() -> None:
    values = np.array([[9.0, 1.0, 5.0], [3.0, 7.0, 2.0]])  # sorted: 1 2 3 5 7 9, n = 6
    # 0.01: round(0.06) = 0 -> rank 1; 0.25: round(1.5) = 2; 0.5: rank 3, no interpolation;
    # 0.7: round(4.2) = 4 -> 5 (ceil(4.2) = 5 would give 7); 0.99: round(5.94) = 6
    assert percentiles_nearest_rank(values, 0.01, 0.25, 0.5, 0.7, 0.99) == (1.0, 2.0, 3.0, 5.0, 9.0)
    assert percentiles_nearest_rank(values, 0.99, 0.01, 0.99) == (9.0, 1.0, 9.0)  # in the order asked
    # n = 10, p = 0.25: n p = 2.5 exactly; MATLAB's round gives 3 (round-half-to-even would give 2)
    assert percentiles_nearest_rank(np.arange(1.0, 11.0), 0.25) == (3.0,)
    with pytest.raises(UsageError):
        percentiles_nearest_rank(values, 0.5, 1.5)
    with pytest.raises(UsageError):
        percentiles_nearest_rank(np.array([]), 0.5)


def test_percentiles_from_one_partition_are_the_sorted_arrays_elements() -> None:
    values = np.random.default_rng(3).integers(0, 50, size=(97, 31)).astype(np.float64)  # many ties
    ps = (0.0, 0.01, 0.25, 0.5, 0.99, 0.999, 1.0)
    ordered = np.sort(values, axis=None)
    assert percentiles_nearest_rank(values, *ps) == tuple(
        ordered[max(int(np.floor(values.size * p + 0.5)), 1) - 1] for p in ps)


def test_luminance_and_log_average() -> None:
    # Rec. 709 / sRGB luminance weights (ITU-R BT.709 item 3.2): 0.2126, 0.7152, 0.0722; they sum to 1.
    rgb = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [2.0, 2.0, 2.0]]])
    np.testing.assert_allclose(luminance(rgb), [[0.2126, 0.7152, 0.0722, 2.0]])
    # Lav = exp((ln 1.000001 + ln 4.000001) / 2) = sqrt(1.000001 * 4.000001) = sqrt(4.000005000001) = 2.00000125
    assert log_average(np.array([1.0, 4.0])) == pytest.approx(2.00000125, rel=1e-12)
    # A zero pixel contributes ln(1e-6): exp((ln 1e-6 + ln(1 + 1e-6)) / 2) = sqrt(1e-6 * 1.000001) = 0.0010000005
    assert log_average(np.array([0.0, 1.0])) == pytest.approx(0.0010000005, rel=1e-9)


def test_change_luminance_zeroes_undefined_ratios() -> None:
    rgb = np.array([[[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]])
    out = change_luminance(rgb, np.array([[2.0, 0.0]]), np.array([[1.0, 5.0]]))
    np.testing.assert_array_equal(out, [[[0.5, 1.0, 1.5], [0.0, 0.0, 0.0]]])
    scaled = change_luminance(rgb, np.array([[2.0, 0.0]]), np.array([[1.0, 5.0]]), in_place=True)
    assert scaled is rgb
    np.testing.assert_array_equal(rgb, out)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_operators_leave_the_callers_image_as_it_was(dtype) -> None:
    hdr = np.exp(np.random.default_rng(2).normal(size=(16, 24, 3))).astype(dtype)
    before = hdr.copy()
    for name in TONEMAPPERS:
        tonemap_to_display(hdr, name)
    np.testing.assert_array_equal(hdr, before)


def test_gamma_tmo_at_known_points() -> None:
    # GammaTMO: clamp((2^fstop x)^(1/gamma), 0, 1). x^(1/2.2) = exp(ln x / 2.2):
    #   0.5 -> exp(-0.3150669) = 0.7297401; 0.18 -> exp(-0.7794538) = 0.4586564;
    #   0.002 -> exp(-2.8248219) = 0.05931922; negatives -> 0; above 1 -> 1
    x = np.array([-1.0, 0.0, 0.002, 0.18, 0.5, 1.0, 4.0])
    out = gamma_encode(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0.0, 0.0, 0.05931922, 0.4586564, 0.7297401, 1.0, 1.0], rtol=1e-6)
    # fstop = 1 doubles first: (2 * 0.1)^(1/2) = sqrt(0.2) = 0.4472136
    np.testing.assert_allclose(gamma_encode(np.array([0.1]), 2.0, fstop=1.0), [0.4472136], rtol=1e-6)
    with pytest.raises(UsageError):
        gamma_encode(x, 0.0)


@pytest.mark.parametrize(("gamma", "fstop", "told"), [("2.2", 0.0, r"^gamma must be a positive number, got '2\.2'$"),
                                                      (True, 0.0, "^gamma must be"),
                                                      (2.2, float("nan"), r"^fstop must be a finite number, got nan$"),
                                                      (2.2, "1", "^fstop must be")])
def test_gamma_encode_refuses_what_is_no_number_in_one_line(gamma, fstop, told) -> None:
    """Text raised numpy's "ufunc 'isfinite' not supported for the input types"; a NaN fstop gave a black image."""
    with pytest.raises(UsageError, match=told):
        gamma_encode(np.array([0.5]), gamma, fstop)


def test_srgb_at_known_points() -> None:
    # IEC 61966-2-1: 12.92 x for x <= 0.0031308, else 1.055 x^(1/2.4) - 0.055.
    #   0.001 -> 0.01292; 0.0031308 -> 12.92 * 0.0031308 = 0.04044994 (the other branch gives 0.04044991 there);
    #   0.18 -> 1.055 * 0.4894371 - 0.055 = 0.4613561; 0.5 -> 1.055 * 0.7491535 - 0.055 = 0.7353570;
    #   1 -> 1; outside [0, 1] clamped
    x = np.array([-1.0, 0.0, 0.001, 0.0031308, 0.18, 0.5, 1.0, 4.0])
    out = srgb_encode(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0.0, 0.0, 0.01292, 0.04044994, 0.4613561, 0.7353570, 1.0, 1.0], rtol=1e-6)


# Encoding choice, on the 1x2 Reinhard case worked out in test_reinhard2002 (linear Ld = 0.108102 for the grey
# pixel): gamma 2.2 -> 0.108102^(1/2.2) = 0.363775; gamma 1 -> 0.108102;
# sRGB -> 1.055 * 0.108102^(1/2.4) - 0.055 = 1.055 * 0.3957589 - 0.055 = 0.4175257 - 0.055 = 0.3625257.
def test_tonemap_to_display_applies_the_requested_encoding() -> None:
    hdr = np.array([[[1.0, 1.0, 1.0], [4.0, 2.0, 1.0]]])
    grey = {"gamma": 0.363775, "linear": 0.108102, "srgb": 0.362525}
    out = tonemap_to_display(hdr, "reinhard", key=0.18, white=2.0)
    assert out.shape == hdr.shape and out.dtype == np.float32
    assert out[0, 0, 0] == pytest.approx(grey["gamma"], rel=1e-4)
    assert tonemap_to_display(hdr, "reinhard", key=0.18, white=2.0, gamma=1.0)[0, 0, 0] == pytest.approx(
        grey["linear"], rel=1e-4)
    assert tonemap_to_display(hdr, "reinhard", key=0.18, white=2.0, srgb=True)[0, 0, 0] == pytest.approx(
        grey["srgb"], rel=1e-4)


def test_nan_and_negatives_count_as_black_and_inf_as_the_brightest_value() -> None:
    hdr = np.exp2(np.arange(24, dtype=np.float64).reshape(2, 4, 3) / 4)
    dirty = hdr.copy()
    dirty[0, 0] = [np.nan, np.inf, -1.0]
    clean = hdr.copy()
    clean[0, 0] = [0.0, 2.0 ** (23 / 4), 0.0]  # +Inf -> the largest finite value, 2^(23/4); was 0 (black)
    for name in TONEMAPPERS:
        np.testing.assert_array_equal(tonemap_to_display(dirty, name), tonemap_to_display(clean, name))


def test_finite_radiance_by_hand() -> None:
    rgb = np.array([[[1.0, 2.0, 3.0], [np.nan, np.inf, -1.0]], [[-np.inf, 0.5, 4.0], [5.0, 6.0, 7.0]]],
                   dtype=np.float32)
    clean, count = finite_radiance(rgb)
    np.testing.assert_array_equal(clean, [[[1, 2, 3], [0, 7, 0]], [[0, 0.5, 4], [5, 6, 7]]])
    assert count == 2 and clean.dtype == np.float32
    clean, count = finite_radiance(np.full((1, 2, 3), np.inf))
    assert count == 2 and np.all(clean == 0)  # no finite value to stand for +Inf
    finite = np.array([[[-1.0, 2.0, 3.0]]], dtype=np.float16)
    clean, count = finite_radiance(finite)
    np.testing.assert_array_equal(clean, [[[0, 2, 3]]])
    assert count == 0 and clean.dtype == np.float16 and finite[0, 0, 0] == -1.0  # a copy, the input untouched


def test_registry_rejects_bad_requests() -> None:
    hdr = np.ones((2, 2, 3), np.float32)
    with pytest.raises(UsageError, match="unknown tone mapper"):
        tonemap_to_display(hdr, "drago")
    with pytest.raises(UsageError, match="key"):
        tonemap_to_display(hdr, "kimkautz", key=0.18)
    with pytest.raises(UsageError, match="HxWx3"):
        tonemap_to_display(np.ones((2, 2)), "reinhard")
