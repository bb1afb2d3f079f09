"""Debevec & Malik 1997 on synthetic stacks with a known response, and against OpenCV."""

import cv2
import numpy as np
import pytest

from cevr_cli.errors import StackContentError, UsageError
from cevr_cli.hdr import debevec1997
from cevr_cli.hdr.debevec1997 import (
    LEVELS_16BIT,
    ResponseCurve,
    hat_weights,
    level_codes,
    merge_radiance,
    recover_response,
    select_samples,
    solve_samples,
)

EVS = np.arange(-3.0, 3.01, 0.5)
TIMES = 2.0**EVS
GAMMA = 2.2  # camera response f(x) = x^(1/2.2), so ln f^-1(z) = 2.2 ln(z / zmax)


def _radiance(h: int = 48, w: int = 64) -> np.ndarray:
    """A log-uniform ramp from 0.002 to 6 (every pixel well exposed in some frame), channels scaled."""
    ramp = np.exp(np.linspace(np.log(0.002), np.log(6.0), h * w)).reshape(h, w)
    return np.stack([ramp, 0.7 * ramp, 1.2 * ramp], axis=-1)


def _stack(radiance: np.ndarray, bits: int) -> list[np.ndarray]:
    peak = 2**bits - 1
    dtype = np.uint8 if bits == 8 else np.uint16
    return [np.round(peak * np.clip(radiance * dt, 0, 1) ** (1 / GAMMA)).astype(dtype) for dt in TIMES]


def _offset_free(diff: np.ndarray) -> np.ndarray:
    return np.abs(diff - diff.mean(axis=0))


def test_hat_weights_match_paper() -> None:
    w = hat_weights(256)
    assert w.shape == (256,)
    assert w[0] == 0 and w[255] == 0 and w[127] == 127 and w[128] == 127 and w[10] == 10


@pytest.mark.parametrize("bits", [8, 16])
def test_recovered_response_matches_known_crf(bits: int) -> None:
    curve = recover_response(_stack(_radiance(), bits), TIMES)
    levels = 256 if bits == 8 else LEVELS_16BIT
    assert isinstance(curve, ResponseCurve) and curve.bits == bits
    assert curve.g.shape == (levels, 3) and curve.codes.shape == (levels,)
    peak = 2**bits - 1
    # Well-exposed range: codes 10..245 of 255 (and the same fractions for 16 bits).
    keep = (curve.codes >= 10 / 255 * peak) & (curve.codes <= 245 / 255 * peak)
    truth = GAMMA * np.log(curve.codes[keep] / peak)
    # Up to the additive constant g leaves free, within 0.1 in ln (10% in exposure).
    assert _offset_free(curve.g[keep] - truth[:, None]).max() < 0.1


@pytest.mark.parametrize("bits", [8, 16])
def test_merged_radiance_is_proportional_to_truth(bits: int) -> None:
    radiance = _radiance()
    stack = _stack(radiance, bits)
    merged = merge_radiance(stack, TIMES, recover_response(stack, TIMES))
    assert merged.shape == radiance.shape and merged.dtype == np.float32
    scale = np.exp(np.median(np.log(merged / radiance)))
    rel = np.abs(merged / (scale * radiance) - 1)
    # One global scale; 8-bit quantisation limits the worst pixels to a few percent.
    assert np.median(rel) < 0.005 and rel.max() < 0.06


@pytest.mark.slow
def test_a_three_frame_16_bit_stack_takes_enough_samples_for_its_1024_levels() -> None:
    """EV -2, 0, +2 in 16 bits: the paper's N (P - 1) > Zmax - Zmin on 1024 levels needs over 512 samples; the
    default takes 2 x 1023 / 2 = 1023 and recovers the curve within 0.05 in ln (measured 0.021), where
    the 8-bit default of 70 left it 0.11 off."""
    times = 2.0 ** np.array([-2.0, 0.0, 2.0])
    radiance = _radiance()
    stack = [np.round(65535 * np.clip(radiance * dt, 0, 1) ** (1 / GAMMA)).astype(np.uint16) for dt in times]
    curve = recover_response(stack, times)
    keep = (curve.codes >= 10 / 255 * 65535) & (curve.codes <= 245 / 255 * 65535)
    truth = GAMMA * np.log(curve.codes[keep] / 65535)
    assert _offset_free(curve.g[keep] - truth[:, None]).max() < 0.05


def test_merge_with_true_response_is_exact_up_to_quantisation() -> None:
    radiance = _radiance()
    stack = _stack(radiance, 8)
    g = np.repeat((GAMMA * np.log(np.maximum(np.arange(256), 0.5) / 255))[:, None], 3, axis=1)
    merged = merge_radiance(stack, TIMES, g)
    # Half a code of rounding at the darkest pixels' best code (about 32) is 2.2 * 0.5 / 32 = 3.4 %.
    np.testing.assert_allclose(merged, radiance, rtol=0.035)


def test_agrees_with_opencv() -> None:
    """Same stack, OpenCV's response fed to both merges; and the two calibrations agree."""
    grey = _radiance()[..., :1].repeat(3, axis=2)  # equal channels: OpenCV shares weights across them
    stack = _stack(grey, 8)
    bgr = [np.ascontiguousarray(im[..., ::-1]) for im in stack]
    times32 = TIMES.astype(np.float32)
    response = cv2.createCalibrateDebevec(70, 10.0, False).process(bgr, times32)
    theirs = cv2.createMergeDebevec().process(bgr, times32, response)[..., ::-1]
    g_cv = np.log(response.reshape(256, 3)[:, ::-1]).astype(np.float64)
    ours = merge_radiance(stack, TIMES, g_cv)
    rel = np.abs(ours / theirs - 1)
    # OpenCV adds a small epsilon to its hat weights; it only matters near codes 0 and 255.
    assert np.median(rel) < 0.005 and np.percentile(rel, 95) < 0.02
    curve = recover_response(stack, TIMES)
    keep = slice(10, 246)
    assert _offset_free(curve.g[keep] - g_cv[keep]).max() < 0.1


@pytest.mark.parametrize("evs", [[-20.0, -4.0, -3.0, -2.0, -1.0, 0.0], [-4.0, -3.0, -2.0, -20.0, -1.0, 0.0]])
def test_samples_are_read_from_the_middle_exposure_not_a_nearly_black_one(evs: list[float]) -> None:
    """Frames at EV -20 and -4..0 of a ramp (1e-3..1) with a small lamp: the -20 EV frame records only the lamp
    (codes 0 and 148), so samples spread over its intensities would be two pixels, one of them the lamp, clipped
    in every other frame, and the curve the smoothness term's guess (0.67 in ln off the known curve, measured).
    The middle exposure (EV -2) sees the ramp over a wide range of codes; the middle by exposure time, not by
    place in the list (the second order puts the -20 EV frame in the middle)."""
    evs = np.array(evs)
    radiance = np.exp(np.linspace(np.log(1e-3), 0.0, 48 * 64)).reshape(48, 64)
    radiance[:4, :4] = 0.3 * 2.0**20
    radiance = np.repeat(radiance[..., None], 3, axis=2)
    stack = [np.round(255 * np.clip(radiance * 2.0**ev, 0, 1) ** (1 / GAMMA)).astype(np.uint8) for ev in evs]
    assert set(np.unique(stack[int(np.argmin(evs))])) == {0, 148}
    curve = recover_response(stack, 2.0**evs)
    keep = slice(10, 246)
    truth = GAMMA * np.log(curve.codes[keep] / 255)
    assert _offset_free(curve.g[keep] - truth[:, None]).max() < 0.1  # measured 0.016


@pytest.mark.parametrize("strip_pixels", [5 * 64, 10])
def test_merge_in_row_strips_equals_whole_image(monkeypatch: pytest.MonkeyPatch, strip_pixels: int) -> None:
    """Five rows per strip, the last one short; and a strip budget below one row (a panorama wider than
    _STRIP_PIXELS), which must still take a row at a time."""
    stack = _stack(_radiance(), 16)
    curve = recover_response(stack, TIMES)
    whole = merge_radiance(stack, TIMES, curve)
    monkeypatch.setattr(debevec1997, "_STRIP_PIXELS", strip_pixels)
    np.testing.assert_array_equal(merge_radiance(stack, TIMES, curve), whole)


def test_pixels_without_a_good_exposure_use_the_best_frame() -> None:
    radiance = np.full((2, 2, 3), 1.0)
    radiance[0, 0] = 1e4  # saturated in every frame
    radiance[1, 1] = 1e-9  # black in every frame
    stack = _stack(radiance, 8)
    g = np.repeat((GAMMA * np.log(np.maximum(np.arange(256), 0.5) / 255))[:, None], 3, axis=1)
    merged = merge_radiance(stack, TIMES, g)
    np.testing.assert_allclose(merged[0, 0], 1.0 / TIMES.min(), rtol=1e-5)  # g(255) = 0, shortest dt
    np.testing.assert_allclose(merged[1, 1], 0.5 ** GAMMA / 255**GAMMA / TIMES.max(), rtol=1e-4)
    assert np.all(np.isfinite(merged))


def test_a_pixel_black_in_the_shortest_frame_and_saturated_in_the_longest_takes_the_longest() -> None:
    """Two frames 8 stops apart, no code between 0 and 255 in either: not saturated in the shortest, so Eq. 6's
    fallback is the longest frame, E = exp(g(255)) / dt_long = 1 / 256 with g(255) = 0."""
    stack = [np.zeros((1, 1, 3), np.uint8), np.full((1, 1, 3), 255, np.uint8)]
    g = np.repeat((GAMMA * np.log(np.maximum(np.arange(256), 0.5) / 255))[:, None], 3, axis=1)
    np.testing.assert_allclose(merge_radiance(stack, [1.0, 256.0], g), np.full((1, 1, 3), 1 / 256), rtol=1e-6)


def test_a_16_bit_curve_is_read_at_the_centre_of_each_level() -> None:
    """g = 2.2 ln(code / 65535) given at the 1024 level centres (code 64 l + 31.5): the merge interpolates it for
    every code, so a 16-bit stack of the known radiance comes back to 1e-3 (measured 1.8e-4); reading the levels
    as codes 64 l shifts g by half a bin, 2.2 * 31.5 / code in ln, 1.8 % at the darkest codes used."""
    radiance = _radiance()
    codes = level_codes(16)
    g = np.repeat((GAMMA * np.log(codes / 65535))[:, None], 3, axis=1)
    merged = merge_radiance(_stack(radiance, 16), TIMES, ResponseCurve(g=g, codes=codes, bits=16))
    np.testing.assert_allclose(merged, radiance, rtol=1e-3)


def test_samples_are_the_pixels_nearest_evenly_spaced_intensities() -> None:
    """A scene of four greys, 0, 40, 90 and 100, 16 pixels each: targets 0, 50 and 100 pick 0, 40 (10 from 50,
    where 90 is 40 away) and 100; four targets (0, 33.3, 66.7, 100) pick every grey."""
    greys = np.random.default_rng(2).permutation(np.repeat([0, 40, 90, 100], 16)).reshape(8, 8)
    image = np.repeat(greys[..., None], 3, axis=2).astype(np.uint8)
    for samples, expected in ((3, [0, 40, 100]), (4, [0, 40, 90, 100])):
        chosen = select_samples([image], np.array([1.0]), samples, seed=0)
        assert sorted(greys.reshape(-1)[chosen].tolist()) == expected


def test_solve_samples_recovers_the_natural_log_response() -> None:
    """Eq. 3 on 70 pixels of the ramp's 8-bit stack (one channel): g(z) = 2.2 ln(z / 255) up to a constant,
    in natural log (ln dt_j on the right-hand side), within 0.1 over codes 10..245."""
    stack = _stack(_radiance(), 8)
    pixels = np.linspace(0, 48 * 64 - 1, 70).astype(int)
    z = np.stack([im[..., 0].reshape(-1)[pixels] for im in stack], axis=1)
    g = solve_samples(z, TIMES, 256)
    codes = np.arange(10, 246)
    assert _offset_free(g[codes] - GAMMA * np.log(codes / 255)).max() < 0.1


def test_bad_input() -> None:
    stack = _stack(_radiance(8, 8), 8)
    with pytest.raises(UsageError, match="exposure times"):
        recover_response(stack, TIMES[:-1])
    with pytest.raises(UsageError, match="positive"):
        merge_radiance(stack, -TIMES, np.zeros((256, 3)))
    with pytest.raises(UsageError, match="uint8 or uint16"):
        recover_response([im.astype(np.float32) for im in stack], TIMES)
    with pytest.raises(UsageError, match="share"):
        recover_response([stack[0], stack[1][:4]], TIMES[:2])
    with pytest.raises(UsageError, match="two exposures"):
        recover_response(stack[:1], TIMES[:1])
    with pytest.raises(UsageError, match=r"\(256, 3\)"):
        merge_radiance(stack, TIMES, np.zeros((255, 3)))
    with pytest.raises(UsageError, match="black or saturated"):
        recover_response([np.zeros((4, 4, 3), np.uint8)] * 3, TIMES[:3])
    with pytest.raises(UsageError, match="empty exposure stack"):
        merge_radiance([], [], np.zeros((256, 3)))
    for times in ([1.0, 0.0], [1.0, np.nan], [1.0, np.inf]):
        with pytest.raises(UsageError, match="finite and positive"):
            merge_radiance(stack[:2], times, np.zeros((256, 3)))
    with pytest.raises(UsageError, match="share one shape and dtype"):
        merge_radiance([stack[0], stack[1].astype(np.uint16)], TIMES[:2], np.zeros((256, 3)))
    with pytest.raises(UsageError, match="HxWx3"):
        merge_radiance([np.zeros((0, 4, 3), np.uint8)] * 2, TIMES[:2], np.zeros((256, 3)))
    curve8 = ResponseCurve(g=np.zeros((256, 3)), codes=level_codes(8), bits=8)
    with pytest.raises(UsageError, match="8-bit images, stack is 16-bit"):
        merge_radiance([im.astype(np.uint16) * 257 for im in stack], TIMES, curve8)
    with pytest.raises(UsageError, match="non-finite"):
        merge_radiance(stack, TIMES, np.full((256, 3), np.nan))


@pytest.mark.parametrize(("options", "told"), [({"samples": 2.5}, r"^samples must be a whole number .*got 2\.5$"),
                                               ({"samples": 0}, "^samples must be"),
                                               ({"lambda_": float("nan")}, r"^lambda_ must be a finite number .*nan$"),
                                               ({"lambda_": -1.0}, "^lambda_ must be"),
                                               ({"lambda_": 0.0}, r"^lambda_ must be a finite number above 0"),
                                               ({"samples": True}, "^samples must be"),
                                               ({"lambda_": True}, "^lambda_ must be")])
def test_samples_and_smoothness_are_checked(options: dict, told: str) -> None:
    """samples=2.5 raised numpy's "expected a sequence of integers" TypeError; lambda_=NaN returned a NaN curve;
    lambda_=0 (documented as allowed) raised numpy's LinAlgError "Singular matrix": without the smoothness term
    nothing fixes g at the levels no sample reaches."""
    with pytest.raises(UsageError, match=told):
        recover_response(_stack(_radiance(8, 8), 8), TIMES, **options)


@pytest.mark.parametrize(("dtype", "top"), [(np.uint16, 4095), (np.uint16, 20000), (np.uint8, 100)])
def test_a_stack_that_never_reaches_mid_grey_is_refused_not_merged_to_black(dtype, top):
    """12-bit sensor data kept in uint16 merged to radiance 3.6e-9 (0.0 for 10-bit): black in a half EXR."""
    radiance = np.exp2(np.random.default_rng(0).uniform(-4, 3, (16, 16, 3)))
    stack = [np.round(np.clip(radiance * 2.0**ev / 4, 0, 1) ** (1 / 2.2) * top).astype(dtype) for ev in (-2, 0, 2)]
    with pytest.raises(StackContentError, match=rf"brightest code is {top} of {np.iinfo(dtype).max}: no frame "
                                                 r"reaches mid-grey .*\(12-bit data in uint16\?") as caught:
        recover_response(stack, [0.25, 1.0, 4.0])
    assert caught.value.reason.endswith("where the fit is anchored")  # what a bench says of a dark scene: no advice


@pytest.mark.parametrize("bits", [8, 16])
def test_the_recovered_curve_is_zero_at_the_middle_level(bits: int) -> None:
    """Eq. 3's extra row g(Z_mid) = 0 fixes the constant every other row leaves free, so the fit meets it exactly."""
    curve = recover_response(_stack(_radiance(), bits), TIMES)
    np.testing.assert_allclose(curve.g[len(curve.g) // 2], 0.0, atol=1e-6)


def test_a_16_bit_level_stands_for_the_mean_code_of_its_bin() -> None:
    np.testing.assert_array_equal(level_codes(16), np.arange(65536.0).reshape(LEVELS_16BIT, -1).mean(axis=1))


def test_lambda_smooths_a_16_bit_curve_as_much_as_the_papers_8_bit_one() -> None:
    """The 8-bit stack's codes x 257 as a 16-bit stack: on its 1024-level grid, lambda 100 must give the curve the
    paper's 256-level system gives (within 0.02 in ln once the free constant is removed); a smoothness weight that
    grew as the grid's (levels / 256)^2, not ^1.5, bent it by 0.16."""
    stack = _stack(_radiance(), 8)
    g8 = recover_response(stack, TIMES, lambda_=100.0, samples=70).g
    curve16 = recover_response([im.astype(np.uint16) * 257 for im in stack], TIMES, lambda_=100.0, samples=70)
    g16 = np.stack([np.interp(np.arange(256) * 257.0, curve16.codes, curve16.g[:, c]) for c in range(3)], axis=1)
    keep = slice(20, 236)
    assert _offset_free(g16[keep] - g8[keep]).max() < 0.02
