"""Kim & Kautz 2008 (HDR Toolbox form and defaults) pinned to values worked out by hand.

Equations (shared/reference/tonemapping.md): Ll = ln(L + 1e-6), mu = mean Ll,
k1 = ln(300/0.3) / (max Ll - min Ll) = ln(1000) / range, sigma = range / 3,
w = exp(-(Ll - mu)^2 / (2 sigma^2)), k2 = (1 - k1) w + k1, Ld = exp(0.5 k2 (Ll - mu) + mu),
clip Ld to its 1st/99th nearest-rank percentiles and rescale that range to [0, 1] (``toolbox=True``), or by
default to the display's range [Ld_min/Ld_max, 1] = [0.001, 1] with a linear toe 0.001 Ld / q(Ld, 0.01)
below the 1st percentile; colour by ratio.
Working in units of u = ln 10 keeps the arithmetic short: ln(1000) = 3u. The 1e-6 delta moves the
numbers below by < 1e-6 relative. Expected values are literals, not calls into our code.
"""

import numpy as np
import pytest

from cevr_cli.errors import UsageError
from cevr_cli.hdr.kimkautz2008 import kimkautz2008
from cevr_cli.hdr.tonemap import tonemap_to_display
from cevr_cli.imaging import quantise


def _grey(values: np.ndarray) -> np.ndarray:
    return np.repeat(np.asarray(values, dtype=np.float64)[..., None], 3, axis=-1)


# 1x4 grey image, L = 1, 1, 10, 100 -> Ll = 0, 0, 1u, 2u.
#   mu = 3u/4 = 0.75u; range = 2u -> k1 = 3u/2u = 1.5; sigma = 2u/3
#   (Ll - mu) / sigma = -1.125, -1.125, 0.375, 1.875
#   w = exp(-0.6328125) = 0.5310960, exp(-0.0703125) = 0.9321025, exp(-1.7578125) = 0.1724216
#   k2 = 1.5 - 0.5 w = 1.2344520, 1.0339488, 1.4137892
#   Ld = 10^(0.5 k2 (Ll/u - 0.75) + 0.75):
#     L = 1:   10^(0.5*1.2344520*(-0.75) + 0.75) = 10^0.2870805 = 1.936781
#     L = 10:  10^(0.5*1.0339488*0.25 + 0.75)    = 10^0.8792436 = 7.572575
#     L = 100: 10^(0.5*1.4137892*1.25 + 0.75)    = 10^1.6336182 = 43.01483
#   n = 4: percentiles are min and max, so (Ld - 1.936781) / (43.01483 - 1.936781):
#     0, 0, 5.635794 / 41.07805 = 0.1371972, 1;  GammaTMO 2.2: 0, 0, 0.4054004, 1
#   default, onto [0.001, 1]: 0.001, 0.001, 0.001 + 0.999 * 0.1371972 = 0.1380600, 1;
#     GammaTMO: 0.001^(1/2.2) = 0.0432876, 0.1380600^(1/2.2) = 0.4065573
FOUR = _grey([[1.0, 1.0, 10.0, 100.0]])


@pytest.mark.parametrize(("toolbox", "linear", "gamma"), [
    (True, [0.0, 0.0, 0.1371972, 1.0], [0.0, 0.0, 0.4054004, 1.0]),
    (False, [0.001, 0.001, 0.1380600, 1.0], [0.0432876, 0.0432876, 0.4065573, 1.0])])
def test_four_pixels_by_hand(toolbox: bool, linear: list[float], gamma: list[float]) -> None:
    out = kimkautz2008(FOUR, toolbox=toolbox)
    assert out.shape == (1, 4, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, _grey([linear]), rtol=1e-5, atol=1e-6)
    shown = tonemap_to_display(FOUR, "kimkautz", toolbox=toolbox)
    np.testing.assert_allclose(shown, _grey([gamma]), rtol=1e-5, atol=1e-6)


# 200 grey pixels (10x20, shuffled) at L = 10^x: one at x = -2, 99 at x = 0, one at x = 1, 98 at x = 2,
# one at x = 5.
#   mu = (-2 + 0 + 1 + 196 + 5) u / 200 = u; range = 7u -> k1 = 3/7; sigma = 7u/3
#   x = 1: Ll = mu, so w = 1, k2 = 1 and Ld = e^mu = 10
#   x = 0, 2: (Ll - mu)/sigma = -+3/7, w = exp(-9/98) = 0.9122541,
#             k2 = (4/7) 0.9122541 + 3/7 = 0.5212880 + 0.4285714 = 0.9498595
#             Ld = 10^(1 -+ 0.9498595/2) = 10^0.5250703 = 3.350196, 10^1.4749297 = 29.84900
#   outliers: x = -2 -> Ld = 0.9596, x = 5 -> Ld = 131.85 (beyond the other Ld either way)
# Nearest-rank percentiles, n = 200: rank 2 -> 3.350196 (x = 0), rank 198 -> 29.84900 (x = 2).
# Clip and rescale: x = -2 and 0 -> 0; x = 2 and 5 -> 1;
#   x = 1 -> (10 - 3.350196) / (29.84900 - 3.350196) = 6.649804 / 26.49880 = 0.2509473 -> ^(1/2.2) 0.5334368
# (Without the percentile clip, min/max rescaling would put x = 1 at (10 - 0.9596)/(131.85 - 0.9596) = 0.069.)
# Default, onto [0.001, 1]: x = -2 lies below the 1st percentile: Ld = 10^(1 - (3/7 + (4/7) exp(-81/98)) * 1.5)
#   = 10^(1 - 1.0178948) = 0.9595937 -> 0.001 * 0.9595937 / 3.350196 = 0.000286429 -> ^(1/2.2) 0.0245218
#   (black in the toolbox form); x = 0 -> 0.001 -> 0.0432876; x = 1 -> 0.001 + 0.999 * 0.2509473 = 0.2516964
#   -> 0.5341600; x = 2 and 5 -> 1.
KK_EXPONENTS = np.array([-2.0, 0.0, 1.0, 2.0, 5.0])
KK_COUNTS = [1, 99, 1, 98, 1]
KK_TOOLBOX = ([0.0, 0.0, 0.2509473, 1.0, 1.0], [0.0, 0.0, 0.5334368, 1.0, 1.0])
KK_DEFAULT = ([0.000286429, 0.001, 0.2516964, 1.0, 1.0], [0.0245218, 0.0432876, 0.5341600, 1.0, 1.0])


@pytest.mark.parametrize(("toolbox", "expected"), [(True, KK_TOOLBOX), (False, KK_DEFAULT)])
def test_percentile_clip_on_200_pixels_by_hand(toolbox: bool, expected: tuple[list[float], list[float]]) -> None:
    exponents = np.random.default_rng(3).permutation(np.repeat(KK_EXPONENTS, KK_COUNTS)).reshape(10, 20)
    hdr = _grey(10.0**exponents)
    out = kimkautz2008(hdr, toolbox=toolbox)
    shown = tonemap_to_display(hdr, "kimkautz", toolbox=toolbox)
    for x, linear, gamma in zip(KK_EXPONENTS, *expected, strict=True):
        mask = exponents == x
        np.testing.assert_allclose(out[mask], linear, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(shown[mask], gamma, rtol=1e-5, atol=1e-6)


def test_black_pixel_stays_black() -> None:
    # A black pixel has L = 0, so the colour ratio Ld/L is 0/0 or x/0 -> set to 0 (ChangeLuminance).
    hdr = FOUR.copy()
    hdr[0, 3] = 0.0
    assert np.all(kimkautz2008(hdr)[0, 3] == 0)
    assert np.all(kimkautz2008(np.zeros((2, 3, 3))) == 0)


@pytest.mark.parametrize("toolbox", [False, True])
def test_flat_image_maps_to_middle_grey_of_its_hue(toolbox: bool) -> None:
    # Flat image: range 0 leaves k1 = ln(1000)/0 (the toolbox's NaNs gave black). Nothing to compress: Ld = L,
    # and the display range shows the plateau at luminance 0.18. Colour (0.8, 2, 5): L = 0.2126 * 0.8 +
    # 0.7152 * 2 + 0.0722 * 5 = 1.96148; ratio 0.18 / 1.96148 = 0.0917674 -> (0.0734139, 0.183535, 0.458837).
    out = kimkautz2008(np.broadcast_to([0.8, 2.0, 5.0], (2, 3, 3)).copy(), toolbox=toolbox)
    np.testing.assert_allclose(out, np.broadcast_to([0.0734139, 0.183535, 0.458837], (2, 3, 3)), rtol=1e-5)
    np.testing.assert_allclose(kimkautz2008(np.ones((2, 3, 3)), toolbox=toolbox), 0.18, rtol=1e-5)


def test_plateau_with_one_highlight_maps_to_middle_grey_and_white() -> None:
    # 99 pixels at L = 1, one at L = e: the 1st and 99th percentiles of Ld (ranks 1 and 99) are both the
    # plateau's (0/0 before: black). Ll = 0, 1 (+1e-6); mu = 0.01, range 1: k1 = ln 1000 = 6.907755,
    # sigma = 1/3. Highlight: w = exp(-0.99^2 / (2/9)) = 0.012147, k2 = 6.907755 - 5.907755 w = 6.835993,
    # Ld = exp(0.5 * 6.835993 * 0.99 + 0.01) = 29.78; plateau: w = exp(-0.0001 / (2/9)) = 0.999550,
    # k2 = 0.002658, Ld = exp(0.5 * 0.002658 * -0.01 + 0.01) = 1.010037. Plateau -> 0.18, highlight
    # -> 0.18 * 29.78 / 1.010037 = 5.3 -> clipped to 1.
    lum = np.ones(100)
    lum[5] = np.e
    out = kimkautz2008(_grey(lum.reshape(10, 10)))[..., 0].ravel()
    np.testing.assert_allclose(out[5], 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.delete(out, 5), 0.18, rtol=1e-6)


def test_no_pure_black_where_there_is_light() -> None:
    # Dark shadows: 10% of a 20x20 image at L = 1e-4 .. 1e-3, the rest 0.1 .. 100. The toolbox form clips the
    # darkest 1% (4 pixels and more) to 0: holes in the shadows. By default every lit pixel stays above 0,
    # even after 8-bit display encoding, and the shadows keep their order.
    lum = np.concatenate([np.geomspace(1e-4, 1e-3, 40), np.geomspace(0.1, 100.0, 360)])
    hdr = _grey(np.random.default_rng(5).permutation(lum).reshape(20, 20))
    assert np.count_nonzero(quantise(tonemap_to_display(hdr, "kimkautz", toolbox=True), 8) == 0) >= 4 * 3
    shown = quantise(tonemap_to_display(hdr, "kimkautz"), 8)
    assert shown.min() > 0
    out = kimkautz2008(hdr)[..., 0].ravel()
    order = np.argsort(hdr[..., 0].ravel())
    assert np.all(np.diff(out[order]) >= 0)


def test_float32_input_and_bad_shape() -> None:
    out = kimkautz2008(FOUR.astype(np.float32), toolbox=True)
    np.testing.assert_allclose(out, _grey([[0.0, 0.0, 0.1371972, 1.0]]), rtol=1e-4, atol=1e-6)
    with pytest.raises(UsageError):
        kimkautz2008(FOUR[..., :2])


# The four pixels above on a display of 1..100 cd/m^2: k1 = ln(100) / 2u = 1, so k2 = 1 whatever w, and
#   Ld = 10^(0.5 (x - 0.75) + 0.75) = 10^0.375, 10^0.875, 10^1.375 = 2.371374, 7.498942, 23.71374;
#   x = 1 -> (7.498942 - 2.371374) / (23.71374 - 2.371374) = 0.2402531 (toolbox);
#   default onto [Ld_min/Ld_max, 1] = [0.01, 1]: 0.01 -> the two darkest, 0.01 + 0.99 * 0.2402531 = 0.2478505.
@pytest.mark.parametrize(("toolbox", "linear"), [(True, [0.0, 0.0, 0.2402531, 1.0]),
                                                 (False, [0.01, 0.01, 0.2478505, 1.0])])
def test_a_display_range_given_sets_the_compression_and_the_black(toolbox: bool, linear: list[float]) -> None:
    out = kimkautz2008(FOUR, ld_max=100.0, ld_min=1.0, toolbox=toolbox)
    np.testing.assert_allclose(out, _grey([linear]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("parameters", [{"ld_max": 0.0}, {"c1": 0.0}, {"ld_max": -1.0}, {"ld_min": 0.0},
                                        {"c2": float("nan")}, {"ld_max": float("inf")}, {"ld_max": 0.1},
                                        {"ld_min": 300.0}])
def test_parameters_outside_the_operators_domain_are_usage_errors(parameters) -> None:
    """ld_max 0 and c1 0 raised ZeroDivisionError; ld_max 0.1 < ld_min 0.3 gave luminance up to 31 (documented:
    [0, 1]); a negative ld_max, ld_min 0 or a NaN c2 a black image with numpy RuntimeWarnings; ld_min = ld_max
    a display of one level, the picture all white."""
    with pytest.raises(UsageError, match=r"^Kim-Kautz (ld_max, ld_min, c1 and c2 must be positive|display range)"):
        kimkautz2008(FOUR, **parameters)


def test_the_range_runs_from_the_1st_to_the_99th_nearest_rank_pixel() -> None:
    """100 distinct luminances, Ld rising with L: nearest rank max(round(100 p), 1) is the 1st and the 99th pixel,
    so in the toolbox form exactly the darkest is 0 and exactly the two brightest are 1."""
    order = np.random.default_rng(5).permutation(100)
    hdr = _grey(10.0 ** np.linspace(-2.0, 2.0, 100)[order].reshape(10, 10))
    out = kimkautz2008(hdr, toolbox=True)[..., 0].reshape(-1)
    ranked = out[np.argsort(order)]  # back in the order of L
    assert ranked[0] == 0.0 and ranked[1] > 0.0
    assert ranked[97] < 1.0 and ranked[98] == 1.0 and ranked[99] == 1.0
    assert np.all(np.diff(ranked) >= 0)
