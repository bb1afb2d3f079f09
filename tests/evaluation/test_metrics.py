"""Metrics against hand computations and scikit-image's independent SSIM."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from skimage.metrics import structural_similarity

from cevr_cli.errors import UsageError
from cevr_cli.evaluation import metrics


def _pair(seed: int = 0, size: tuple[int, int] = (64, 48)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = gaussian_filter(rng.random((*size, 3)), sigma=(3, 3, 0))
    noisy = np.clip(base + rng.normal(0, 0.05, base.shape), 0, 1)
    return base.astype(np.float32), noisy.astype(np.float32)


def test_psnr_of_constant_offset_matches_hand_value() -> None:
    a = np.full((8, 8, 3), 0.5, np.float32)
    b = a + 0.1  # MSE = 0.01 -> 20 dB, minus the official 1e-8 guard
    assert metrics.psnr(a, b) == pytest.approx(-10 * math.log10(0.01 + 1e-8), abs=1e-4)
    assert metrics.psnr(a, a) == pytest.approx(80.0)
    assert metrics.psnr(a * 255, b * 255, data_range=255) == pytest.approx(20.0, abs=1e-3)


@pytest.mark.parametrize(("dtype", "white"), [(np.uint8, 255), (np.uint16, 65535)])
def test_integer_codes_are_compared_as_the_light_their_white_makes_one(dtype, white) -> None:
    """uint8 codes 3 apart scored -9.5 dB: they were compared as 0..255 with data_range 1."""
    a = np.full((16, 16, 3), white // 2, dtype)
    b = a + dtype(3)  # MSE = (3 / white)^2 exactly
    assert metrics.psnr(a, b) == pytest.approx(-10 * math.log10((3 / white) ** 2 + 1e-8), abs=1e-4)
    assert metrics.ssim(a, a) == pytest.approx(1.0)


@pytest.mark.parametrize(("bad", "told"), [
    (np.full((16, 16, 3), 3, np.int64), "second image of type int64: give floats, or uint8 or uint16 codes"),
    (np.ones((16, 16, 3), bool), "second image of type bool"),
    (np.where(np.eye(16, dtype=bool)[..., None], np.nan, np.full((16, 16, 3), 0.5)), "second image: 48 values are NaN"),
    (np.full((16, 16, 3), np.inf), "second image: 768 values are NaN or infinite"),
])
def test_what_has_no_known_light_is_refused_not_scored_nan(bad, told) -> None:
    good = np.full((16, 16, 3), 0.5)
    for metric in (metrics.psnr, metrics.ssim, metrics.pu21_psnr):
        with pytest.raises(UsageError, match=f"^{told}"):
            metric(good, bad)


@pytest.mark.parametrize("level", [1.0, 0.05])  # 0.05: dark, where K1's term weighs
def test_ssim_matches_skimage(level: float) -> None:
    a, b = (x * np.float32(level) for x in _pair())
    expected = structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                     data_range=1.0, channel_axis=-1)
    assert metrics.ssim(a, b) == pytest.approx(expected, abs=1e-6)  # both filter in float32 (OpenCV, scipy)
    assert metrics.ssim(a, a) == pytest.approx(1.0, abs=1e-9)


def _reference_ms_ssim(a: np.ndarray, b: np.ndarray, weights: list[float]) -> float:
    """Independent MS-SSIM: skimage SSIM at the coarsest scale, scipy-filtered cs terms elsewhere."""
    c2 = 0.03**2
    per_channel = []
    for c in range(a.shape[2]):
        x, y = a[..., c].astype(np.float64), b[..., c].astype(np.float64)
        value = 1.0
        for level, w in enumerate(weights):
            if level == len(weights) - 1:
                s = structural_similarity(x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                          data_range=1.0)
                value *= s**w
                break
            blur = lambda z: gaussian_filter(z, 1.5, truncate=3.5, mode="reflect")  # noqa: E731
            mx, my = blur(x), blur(y)
            cs = (2 * (blur(x * y) - mx * my) + c2) / (blur(x * x) - mx**2 + blur(y * y) - my**2 + c2)
            value *= cs[5:-5, 5:-5].mean() ** w
            h, wd = x.shape[0] // 2, x.shape[1] // 2
            x = x[: 2 * h, : 2 * wd].reshape(h, 2, wd, 2).mean(axis=(1, 3))
            y = y[: 2 * h, : 2 * wd].reshape(h, 2, wd, 2).mean(axis=(1, 3))
        per_channel.append(value)
    return float(np.mean(per_channel))


# Wang, Simoncelli & Bovik 2003, Sec. 3.2: the five scales' exponents, finest first
PAPER_MS_SSIM_WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])


@pytest.mark.parametrize("level", [1.0, 0.05])
def test_ms_ssim_matches_independent_computation(level: float) -> None:
    a, b = (x * np.float32(level) for x in _pair(1, (96, 100)))
    assert metrics.ms_ssim_scales(a.shape) == 4  # 96 -> 48 -> 24 -> 12 (>= 11), 6 would be too small
    w = PAPER_MS_SSIM_WEIGHTS[:4]
    assert metrics.ms_ssim(a, b) == pytest.approx(_reference_ms_ssim(a, b, list(w / w.sum())), abs=1e-9)
    a5, b5 = _pair(4, (180, 176))
    all_five = list(PAPER_MS_SSIM_WEIGHTS / PAPER_MS_SSIM_WEIGHTS.sum())  # they sum to 1.0001
    assert metrics.ms_ssim(a5, b5) == pytest.approx(_reference_ms_ssim(a5, b5, all_five), abs=1e-9)
    assert metrics.ms_ssim(a, a) == pytest.approx(1.0, abs=1e-9)


def test_ms_ssim_scale_count_and_single_scale_equals_ssim() -> None:
    assert metrics.ms_ssim_scales((256, 256, 3)) == 5
    assert metrics.ms_ssim_scales((20, 300, 3)) == 1
    assert metrics.ms_ssim_scales((88, 88)) == 4 and metrics.ms_ssim_scales((11, 11)) == 1  # 88/8 = 11: one window
    a, b = _pair(2, (20, 30))
    assert metrics.ms_ssim(a, b) == pytest.approx(metrics.ssim(a, b), abs=1e-9)
    with pytest.raises(UsageError):
        metrics.ssim(a[:8], b[:8])


def test_pu21_encode_known_values() -> None:
    # banding_glare of gfxdisp/pu21's pu21_encoder.m, transcribed here, not read from the module
    p1, p2, p3, p4, p5, p6, p7 = (0.353487901, 0.3734658629, 8.277049286e-05, 0.9062562627, 0.09150303166,
                                  0.9099517204, 596.3148142)
    y = 100.0
    by_hand = p7 * (((p1 + p2 * y**p4) / (1 + p3 * y**p4)) ** p5 - p6)
    v = metrics.pu21_encode(np.array([0.001, 0.005, 100.0, 1e4, 1e6]))
    assert v[2] == pytest.approx(by_hand, rel=1e-12)
    assert 240 < v[2] < 270  # PU21 maps 100 cd/m^2 near 256, the top of an 8-bit SDR range
    assert v[0] == v[1]  # clamped at 0.005 cd/m^2
    assert v[3] == v[4]  # clamped at 10000 cd/m^2
    assert np.all(np.diff(metrics.pu21_encode(np.geomspace(0.005, 1e4, 50))) > 0)


def test_pu21_metrics_are_scale_invariant_with_alignment() -> None:
    rng = np.random.default_rng(3)
    ref = np.exp(gaussian_filter(rng.normal(0, 1.5, (40, 40, 3)), sigma=(2, 2, 0))).astype(np.float32)
    test = ref * np.exp(rng.normal(0, 0.1, ref.shape)).astype(np.float32)
    base = metrics.pu21_psnr(test, ref)
    assert metrics.pu21_psnr(test * 7.0, ref) == pytest.approx(base, abs=1e-6)
    assert metrics.pu21_psnr(ref, ref) == pytest.approx(10 * math.log10(256**2 / 1e-8))
    assert 0 < metrics.pu21_ssim(test, ref) < metrics.pu21_ssim(ref, ref) + 1e-12
    # Without alignment a global scale error is penalised.
    raw = metrics.DisplayScaling(align=False)
    assert metrics.pu21_psnr(test * 7.0, ref, raw) < base - 5


def test_the_scale_between_radiance_maps_is_the_median_ratio_so_outliers_do_not_move_it() -> None:
    ref = np.exp(np.random.default_rng(5).normal(0.0, 1.0, (20, 20, 3)))
    test = ref / 2.0
    test[:4] *= 50.0  # a fifth of the pixels far off (clipped or noisy): the median ratio stays 2
    assert metrics.scale_to_match(test, ref) == pytest.approx(2.0, rel=1e-12)


def test_an_anti_correlated_pair_scores_zero_ms_ssim() -> None:
    """Its contrast-structure terms are negative: clamped to 0 (a negative number to a fractional power has no real
    value), the product is 0."""
    a = np.random.default_rng(6).random((64, 64, 3))  # white noise: every scale's structure inverted
    score = metrics.ms_ssim(a, 1.0 - a)
    assert score == 0.0 and isinstance(score, float)


def test_mean_std_is_population_std() -> None:
    assert metrics.mean_std([1.0, 3.0]) == (2.0, 1.0)
    assert all(math.isnan(x) for x in metrics.mean_std([]))


def test_cvvdp_missing_gives_clear_error(monkeypatch) -> None:
    """The import is made to fail, so this runs whether or not cvvdp is installed here."""

    def missing():
        raise ModuleNotFoundError("No module named 'pycvvdp'")

    monkeypatch.setattr(metrics, "_import_pycvvdp", missing)
    assert not metrics.cvvdp_available()
    a = np.ones((16, 16, 3), np.float32)
    with pytest.raises(metrics.MetricUnavailable, match=r"pip install 'cevr\[metrics\]'.*No module named 'pycvvdp'"):
        metrics.cvvdp_hdr(a, a)
    from cevr_cli.evaluation import bench

    with pytest.raises(metrics.MetricUnavailable, match="metric 'cvvdp' needs the optional package"):
        bench.score_scenes([], [], metrics=["psnr", "cvvdp"])


def test_cvvdp_scores_identical_and_blurred_images() -> None:
    if not metrics.cvvdp_available():
        pytest.skip("optional package cvvdp not installed")
    rng = np.random.default_rng(4)
    ref = np.exp(gaussian_filter(rng.normal(0, 2, (64, 64, 1)), sigma=(2, 2, 0))).repeat(3, axis=2)
    ref = ref.astype(np.float32)
    assert metrics.cvvdp_hdr(ref, ref) == pytest.approx(10.0, abs=1e-3)
    assert metrics.cvvdp_hdr(gaussian_filter(ref, sigma=(2, 2, 0)), ref) < 9.5


def test_the_registry_scores_each_name_as_its_function_does() -> None:
    """`cevr bench --metrics` names -> the functions above; the tone-mapped PSNRs compare both images as the
    paper's evaluation showed them (HDR Toolbox operators, GammaTMO 2.2)."""
    from cevr_cli.hdr.tonemap import tonemap_to_display

    rng = np.random.default_rng(8)
    truth = np.exp(rng.normal(0, 1.5, (32, 32, 3))).astype(np.float32)
    test = (truth * np.exp(rng.normal(0, 0.2, truth.shape))).astype(np.float32)
    for name, operator in (("reinhard_psnr", "reinhard"), ("kimkautz_psnr", "kimkautz")):
        shown = [tonemap_to_display(image, operator, toolbox=True) for image in (test, truth)]
        metric = metrics.METRICS[name]
        assert metric(test, metric.prepare(truth)) == pytest.approx(metrics.psnr(*shown), abs=1e-9)
    for name, function in (("pu21_psnr", metrics.pu21_psnr), ("pu21_ssim", metrics.pu21_ssim),
                           ("psnr", metrics.psnr), ("ssim", metrics.ssim), ("ms_ssim", metrics.ms_ssim),
                           ("hdrvdp2", metrics.hdrvdp2_q)):
        metric = metrics.METRICS[name]
        assert metric.prepare(truth) is truth
        assert metric(test, truth) == function(test, truth)


@pytest.mark.parametrize(("a", "b"), [(np.zeros((16, 16, 3)), np.zeros((16, 17, 3))), (np.zeros(16), np.zeros(16)),
                                      (np.zeros((2, 16, 16, 3)), np.zeros((2, 16, 16, 3)))])
def test_images_of_different_or_no_image_shape_are_refused(a, b) -> None:
    for metric in (metrics.psnr, metrics.ssim, metrics.ms_ssim):
        with pytest.raises(UsageError, match="differ in shape|expected an HxW or HxWxC image"):
            metric(a, b)


def test_ssim_of_codes_with_their_data_range_is_ssim_of_the_same_light_in_0_1() -> None:
    """K1 and K2 scale with the data range: 0..255 with data_range 255 is the same comparison as 0..1 with 1."""
    a, b = (x.astype(np.float64) for x in _pair(3))
    assert metrics.ssim(a * 255, b * 255, data_range=255) == pytest.approx(metrics.ssim(a, b), abs=1e-9)


def test_an_image_of_one_window_is_scored_as_skimage_scores_it() -> None:
    a, b = (x[:11, :11].astype(np.float64) for x in _pair(5))
    expected = structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                     data_range=1.0, channel_axis=-1)
    assert metrics.ssim(a, b) == pytest.approx(expected, abs=1e-6)
    assert metrics.ms_ssim(a, b) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("bad", ["inf", "zero"])
def test_the_scale_between_radiance_maps_ignores_pixels_without_a_positive_finite_luminance(bad) -> None:
    """Three fifths of the test's pixels infinite or black: their log ratio (-inf or +inf) would be the median."""
    ref = np.exp(np.random.default_rng(5).normal(0.0, 1.0, (20, 20, 3)))
    test = ref / 2.0
    test[:12] = np.inf if bad == "inf" else 0.0
    assert metrics.scale_to_match(test, ref) == pytest.approx(2.0, rel=1e-12)
    assert metrics.scale_to_match(np.zeros_like(ref), ref) == 1.0  # nothing to compare: no scaling


def test_display_scaling_puts_the_references_peak_luminance_at_the_display_peak() -> None:
    """Reference pixels pure red (L = 0.2126) and grey 0.1 (L = 0.1): the peak is the red one's luminance, not its
    channel 1, so a 500 cd/m^2 display multiplies both by 500 / 0.2126; negative values (a merge's ringing) are
    no light, 0, in either image; the test is not aligned here."""
    ref = np.array([[[1.0, 0.0, 0.0], [0.1, 0.1, 0.1], [0.0, -0.3, 0.0]]])
    test = np.array([[[0.5, -0.2, 0.0], [0.1, 0.1, 0.1], [0.0, 0.0, 0.0]]])
    t, r = metrics.DisplayScaling(peak_luminance=500.0, align=False).apply(test, ref)
    factor = 500.0 / 0.2126
    np.testing.assert_allclose(r, [[[factor, 0.0, 0.0], [0.1 * factor] * 3, [0.0] * 3]], rtol=1e-12)
    np.testing.assert_allclose(t, [[[0.5 * factor, 0.0, 0.0], [0.1 * factor] * 3, [0.0] * 3]], rtol=1e-12)
    with pytest.raises(UsageError, match="no positive luminance"):
        metrics.pu21_psnr(test, np.zeros((1, 3, 3)))


def _pu21_by_hand(y: np.ndarray) -> np.ndarray:
    """gfxdisp/pu21's banding_glare encoding, transcribed (not read from the module), input clipped to its range."""
    p1, p2, p3, p4, p5, p6, p7 = (0.353487901, 0.3734658629, 8.277049286e-05, 0.9062562627, 0.09150303166,
                                  0.9099517204, 596.3148142)
    y = np.clip(y, 0.005, 10000.0)
    return p7 * (((p1 + p2 * y**p4) / (1 + p3 * y**p4)) ** p5 - p6)


def test_pu21_ssim_is_skimages_ssim_of_pu_encoded_luminance_with_range_256() -> None:
    """pu21_metric's SSIM: both images' BT.709 luminance, the reference's peak at 1000 cd/m^2 (unaligned here),
    PU-encoded, compared with dynamic range 256."""
    rng = np.random.default_rng(9)
    ref = np.exp(gaussian_filter(rng.normal(0, 1.5, (40, 40, 3)), sigma=(2, 2, 0)))
    test = ref * np.exp(rng.normal(0, 0.2, ref.shape))
    bt709 = np.array([0.2126, 0.7152, 0.0722])
    factor = 1000.0 / (ref @ bt709).max()
    expected = structural_similarity(_pu21_by_hand(test @ bt709 * factor), _pu21_by_hand(ref @ bt709 * factor),
                                     gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=256.0)
    assert metrics.pu21_ssim(test, ref, metrics.DisplayScaling(align=False)) == pytest.approx(expected, abs=1e-6)


def test_hdrvdp2_q_takes_the_test_first_and_the_reference_second() -> None:
    """Q is not symmetric (the reference's own masking): the scaled test and reference, worked out here, go to
    HDR-VDP-2 in that order."""
    from cevr_cli.evaluation.mantiuk2011 import hdrvdp2

    rng = np.random.default_rng(8)
    ref = np.exp(rng.normal(0, 1.5, (32, 32, 3)))
    test = ref * np.exp(rng.normal(0, 0.2, ref.shape))
    bt709 = np.array([0.2126, 0.7152, 0.0722])
    k = np.exp(np.median(np.log(ref @ bt709) - np.log(test @ bt709)))
    factor = 1000.0 / (ref @ bt709).max()
    ppd = metrics.DESKTOP_VIEWING.pixels_per_degree
    expected = hdrvdp2(test * k * factor, ref * factor, "rgb-bt.709", ppd).Q
    assert expected != pytest.approx(hdrvdp2(ref * factor, test * k * factor, "rgb-bt.709", ppd).Q, abs=1e-6)
    assert metrics.hdrvdp2_q(test, ref) == pytest.approx(expected, abs=1e-9)
