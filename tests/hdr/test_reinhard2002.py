"""Reinhard et al. 2002 (HDR Toolbox and photographers' forms) pinned to values worked out by hand.

Every expected number below is a literal, computed with a calculator from the paper's equations in the
HDR Toolbox form (summarised in shared/reference/tonemapping.md): luminance L = 0.2126 R + 0.7152 G + 0.0722 B,
Lav = exp(mean ln(L + 1e-6)), Ls = a L / Lav, global Ld = Ls (1 + Ls/W^2) / (1 + Ls), local
Ld = Ls (1 + Ls/W^2) / (1 + V_i), colour out_c = in_c Ld / L, GammaTMO x^(1/2.2) clamped to [0, 1].
None of them comes from calling our code. ``toolbox=True`` is the HDR Toolbox of CEVR's evaluation; the
default differs in the automatic white point (the 99.9th percentile of Ls), in kernels that sum to 1 and
in the paper's choice of scale (the largest one still calm).
"""

import numpy as np
import pytest

from cevr_cli.errors import UsageError
from cevr_cli.hdr.reinhard2002 import A1, automatic_key, automatic_white, gaussian_blur, gaussian_fft, reinhard2002
from cevr_cli.hdr.tonemap import tonemap_to_display
from cevr_cli.imaging import quantise


def _grey(values: np.ndarray) -> np.ndarray:
    return np.repeat(np.asarray(values, dtype=np.float64)[..., None], 3, axis=-1)


# --- global operator, explicit key and white --------------------------------------------------------------

# 1x2 image: a grey pixel and an orange one.
#   L1 = 1
#   L2 = 0.2126*4 + 0.7152*2 + 0.0722*1 = 0.8504 + 1.4304 + 0.0722 = 2.353
#   Lav = sqrt(1 * 2.353) = 1.533949   (the 1e-6 delta moves it by < 1e-6 relative)
# a = 0.18, W = 2 (W^2 = 4):
#   Ls1 = 0.18 * 1 / 1.533949 = 0.117344      Ls2 = 0.18 * 2.353 / 1.533949 = 0.276111
#   Ld1 = 0.117344 * (1 + 0.117344/4) / 1.117344 = 0.117344 * 1.029336 / 1.117344 = 0.108102
#   Ld2 = 0.276111 * (1 + 0.276111/4) / 1.276111 = 0.276111 * 1.069028 / 1.276111 = 0.231304
# Colour by ratio: pixel 2 * Ld2 / L2 = (4, 2, 1) * 0.231304 / 2.353 = (4, 2, 1) * 0.0983019
#   = (0.393208, 0.196604, 0.0983019)
# GammaTMO 2.2: 0.108102^(1/2.2) = 0.363775; 0.393208^(1/2.2) = 0.654240; 0.196604^(1/2.2) = 0.477425;
#   0.0983019^(1/2.2) = 0.348396
# sRGB: 1.055 x^(1/2.4) - 0.055: 0.108102 -> 0.362525; 0.393208 -> 0.660064; 0.196604 -> 0.480693;
#   0.0983019 -> 0.346316
TWO_PIXELS = np.array([[[1.0, 1.0, 1.0], [4.0, 2.0, 1.0]]])
TWO_PIXELS_LINEAR = [[[0.108102] * 3, [0.393208, 0.196604, 0.0983019]]]
TWO_PIXELS_GAMMA = [[[0.363775] * 3, [0.654240, 0.477425, 0.348396]]]
TWO_PIXELS_SRGB = [[[0.362525] * 3, [0.660064, 0.480693, 0.346316]]]


def test_global_explicit_key_and_white_two_pixels() -> None:
    out = reinhard2002(TWO_PIXELS, key=0.18, white=2.0)
    assert out.shape == (1, 2, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, TWO_PIXELS_LINEAR, rtol=1e-4)


def test_global_two_pixels_through_display_encoding() -> None:
    gamma = tonemap_to_display(TWO_PIXELS, "reinhard", key=0.18, white=2.0)
    np.testing.assert_allclose(gamma, TWO_PIXELS_GAMMA, rtol=1e-4)
    srgb = tonemap_to_display(TWO_PIXELS, "reinhard", key=0.18, white=2.0, srgb=True)
    np.testing.assert_allclose(srgb, TWO_PIXELS_SRGB, rtol=1e-4)


def test_white_point_is_the_smallest_luminance_mapped_to_one() -> None:
    # 1x3 grey, L = 1, 2, 4: Lav = (1*2*4)^(1/3) = 2. Key a = 1 -> Ls = L/2 = 0.5, 1, 2.
    # W = 2 (Eq. 4 with W^2 = 4): Ld(0.5) = 0.5*1.125/1.5 = 0.375; Ld(1) = 1*1.25/2 = 0.625; Ld(2) = 2*1.5/3 = 1
    # W -> infinity leaves Ls/(1 + Ls): 1/3, 1/2, 2/3
    hdr = _grey([[1.0, 2.0, 4.0]])
    np.testing.assert_allclose(reinhard2002(hdr, key=1.0, white=2.0)[..., 0], [[0.375, 0.625, 1.0]], rtol=1e-5)
    np.testing.assert_allclose(reinhard2002(hdr, key=1.0, white=1e9)[..., 0], [[1 / 3, 0.5, 2 / 3]], rtol=1e-5)


# --- global operator, the toolbox's automatic key and white point -----------------------------------------

# 200 grey pixels (10x20, shuffled): 1 at 2^-10, 99 at 1, 98 at 64, 2 at 4096.
# Nearest-rank percentiles (n = 200): 1% -> rank round(2) = 2 -> Lmin = 1; 99% -> rank round(198) = 198
#   -> Lmax = 64 (ranks 101..198 are 64; the two 4096 pixels are ranks 199, 200).
#   (Interpolated percentiles would give Lmax = 0.99*64 + 0.01*4096 = 104.32, the post-2023 min/max of
#   positive L would give Lmax = 4096, Lmin = 2^-10; both change W below.)
# log2 Lav = (-10 + 99*0 + 98*6 + 2*12) / 200 = 602/200 = 3.01 -> Lav = 2^3.01 = 8.055644
#   (the 1e-6 delta on the 2^-10 pixel moves Lav by 6e-6 relative)
# a = 0.18 * 4^((2*3.01 - 0 - 6) / (6 - 0)) = 0.18 * 4^(0.02/6) = 0.18 * 2^(1/150) = 0.180834
# W = 1.5 * 2^(6 - 0 - 5) = 3 (W^2 = 9)
# Ls = a L / Lav = 0.0224481 L:
#   L = 2^-10: Ls = 2.19219e-5, Ld = 2.19219e-5 * (1 + 2.4e-6) / 1.0000219 = 2.19215e-5 -> ^(1/2.2) 0.00762455
#   L = 1:     Ls = 0.0224481,  Ld = 0.0224481 * 1.0024942 / 1.0224481 = 0.0220100 -> 0.176460
#   L = 64:    Ls = 1.436677,   Ld = 1.436677 * 1.159631 / 2.436677 = 0.683724 -> 0.841290
#   L = 4096:  Ls = 91.94731,   Ld = 91.94731 * 11.21637 / 92.94731 = 11.09569 -> clamped to 1
AUTO_LEVELS = np.array([2.0**-10, 1.0, 64.0, 4096.0])
AUTO_COUNTS = [1, 99, 98, 2]
AUTO_LINEAR = [2.19215e-5, 0.0220100, 0.683724, 11.09569]
AUTO_GAMMA = [0.00762455, 0.176460, 0.841290, 1.0]


def _auto_image() -> np.ndarray:
    lum = np.repeat(AUTO_LEVELS, AUTO_COUNTS)
    return _grey(np.random.default_rng(7).permutation(lum).reshape(10, 20))


def test_automatic_key_and_white_use_nearest_rank_percentiles() -> None:
    lum = _auto_image()[..., 0]
    assert automatic_key(lum) == pytest.approx(0.180834, rel=1e-4)
    assert automatic_white(lum) == pytest.approx(3.0, rel=1e-6)


def test_global_automatic_key_and_white() -> None:
    hdr = _auto_image()
    out = reinhard2002(hdr, toolbox=True)
    shown = tonemap_to_display(hdr, "reinhard", toolbox=True)
    for level, linear, gamma in zip(AUTO_LEVELS, AUTO_LINEAR, AUTO_GAMMA, strict=True):
        mask = hdr[..., 0] == level
        np.testing.assert_allclose(out[mask], linear, rtol=1e-4)
        np.testing.assert_allclose(shown[mask], gamma, rtol=1e-4)


# Photographers' white point on the same image: the 99.9th nearest-rank percentile of Ls, rank
# max(round(200 * 0.999), 1) = round(199.8) = 200 -> L = 4096, W = Ls = 0.0224481 * 4096 = 91.94731
# (W^2 = 8454.31). Eq. 4 maps Ls = W to W (1 + 1/W) / (1 + W) = 1 exactly.
#   L = 64: Ld = 1.436677 * (1 + 1.436677/8454.31) / 2.436677 = 1.436677 * 1.00016993 / 2.436677 = 0.589708
#   -> ^(1/2.2) 0.786627
def test_default_white_point_maps_the_scene_white_to_display_white() -> None:
    hdr = _auto_image()
    out = reinhard2002(hdr)
    np.testing.assert_allclose(out[hdr[..., 0] == 4096.0], 1.0, rtol=1e-5)
    np.testing.assert_allclose(out[hdr[..., 0] == 64.0], 0.589708, rtol=1e-4)
    np.testing.assert_allclose(tonemap_to_display(hdr, "reinhard")[hdr[..., 0] == 64.0], 0.786627, rtol=1e-4)


def test_default_white_reaches_255_on_a_photo_of_moderate_range() -> None:
    # 400 greys log-spaced over 2^-3 .. 2^4 (7 stops, like a photo): log2 Lav = 0.5, Lmin/Lmax (1st/99th
    # nearest-rank) = 2^(-3 + 7*3/399), 2^(-3 + 7*395/399): alpha = 0.18 (the log-average sits mid-range),
    # Ls(16) = 0.18 * 16 / 2^0.5 = 2.036. The toolbox's W = 1.5 * 2^(6.86 - 5) = 5.44 maps it to
    # 2.036 * (1 + 2.036/29.6) / 3.036 = 0.717 -> 0.717^(1/2.2) * 255 = 219: grey whites. The scene's
    # white (rank round(399.6) = 400, the brightest pixel) must reach 255.
    hdr = _grey(np.exp2(np.linspace(-3.0, 4.0, 400)).reshape(20, 20))
    assert quantise(tonemap_to_display(hdr, "reinhard", toolbox=True), 8).max() < 230
    shown = quantise(tonemap_to_display(hdr, "reinhard"), 8)
    assert shown[-1, -1, 0] == 255 and shown.max() == 255


def test_flat_image_falls_back_to_key_018() -> None:
    # Lmin = Lmax leaves the automatic key 0/0 (the toolbox would return NaN); we use 0.18.
    # L = 3: Ls = 0.18 * 3 / (3 + 1e-6) = 0.18; W = 1.5 * 2^(0 - 5) = 0.046875, W^2 = 0.002197266
    # Ld = 0.18 * (1 + 0.18/0.002197266) / 1.18 = 0.18 * 82.92 / 1.18 = 12.64881
    out = reinhard2002(np.full((2, 2, 3), 3.0), toolbox=True)
    np.testing.assert_allclose(out, np.full((2, 2, 3), 12.64881), rtol=1e-5)
    # Default: a scene without range has no white to stretch to, W = max(Ls, 1) = 1 and Eq. 4 is the identity:
    # Ld = 0.18 * (1 + 0.18/1) / 1.18 = 0.18, middle grey (it was W = Ls = 0.18 -> Ld = 1, pure white).
    # Display: 0.18^(1/2.2) = exp(-1.714798 / 2.2) = exp(-0.779454) = 0.458652. A black image stays black.
    np.testing.assert_allclose(reinhard2002(np.full((2, 2, 3), 3.0)), np.full((2, 2, 3), 0.18), rtol=1e-5)
    np.testing.assert_allclose(tonemap_to_display(np.full((2, 2, 3), 3.0), "reinhard"), 0.458652, rtol=1e-5)
    assert np.all(reinhard2002(np.zeros((2, 2, 3))) == 0)


def test_plateau_with_a_few_highlights_keeps_them_white_and_the_plateau_grey() -> None:
    # 99 pixels at L = 1 and one at L = 16: the 1st and 99th percentiles (ranks 1 and 99) are both 1, so no
    # range; alpha = 0.18 (flat case). Lav = exp(ln 16 / 100) = 16^0.01 = 1.0281138; Ls = 0.18 / 1.0281138
    # = 0.1750779 and 16 Ls = 2.8012464. W = max(99.9th percentile (rank 100) = 2.8012464, 1), W^2 = 7.846981:
    # the highlight -> 1; the plateau -> 0.1750779 * (1 + 0.1750779 / 7.846981) / 1.1750779
    # = 0.1750779 * 1.0223117 / 1.1750779 = 0.152317.
    lum = np.ones(100)
    lum[37] = 16.0
    out = reinhard2002(_grey(lum.reshape(10, 10)))[..., 0].ravel()
    np.testing.assert_allclose(out[37], 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.delete(out, 37), 0.152317, rtol=1e-5)


# --- local operator (dodging and burning) -----------------------------------------------------------------

def test_toolbox_blur_of_an_impulse_is_the_sampled_kernel() -> None:
    # Eq. 5 kernel exp(-d^2/sigma^2) / (pi sigma^2) with sigma = 1, circular distances on a 1x5 strip,
    # impulse at column 1: distances 1, 0, 1, 2, min(3, 2) = 2.
    #   1/pi = 0.3183099, e^-1/pi = 0.1170996, e^-4/pi = 0.00583005
    impulse = np.array([[0.0, 1.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(gaussian_fft(impulse, 1.0),
                               [[0.1170996, 0.3183099, 0.1170996, 0.00583005, 0.00583005]], rtol=1e-6, atol=1e-12)


def test_photographers_blur_is_a_mirrored_local_average() -> None:
    # The row [0 1 0 0 0] mirrored (abc|cba) repeats its impulse at columns ..., -2, 1, 8, ... (the single row
    # repeats, and row weights cancel in the normalisation). Weights e^-k^2 cut at 4 sigma:
    # S = 1 + 2 (e^-1 + e^-4 + e^-9 + e^-16) = 1.7726372. col 0: (e^-1 + e^-4)/S = 0.2178647 (impulses at
    # distances 1 and 2); col 1: (1 + e^-9)/S = 0.5642008; col 2: (e^-1 + e^-16)/S = 0.2075323;
    # col 3: e^-4/S = 0.01033242 (column 8 lies 5 away, beyond the cut); col 4: (e^-9 + e^-16)/S = 6.968281e-5
    # (a circular blur gives it e^-4/S = 0.01033242 from column 1 wrapped round).
    impulse = np.array([[0.0, 1.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(gaussian_blur(impulse, 1.0),
                               [[0.2178647, 0.5642008, 0.2075323, 0.01033242, 6.968281e-5]], rtol=1e-6, atol=1e-12)


def test_photographers_blur_is_the_normalised_kernel_over_a_mirrored_image_by_fft() -> None:
    # An independent computation: mirror the image far beyond the kernel, convolve circularly by FFT with the
    # normalised samples, crop. The two agree to the kernel's cut (e^-16) inside and at the edges.
    image = np.exp(np.random.default_rng(5).normal(size=(37, 53)))
    for sigma in (A1, A1 * 1.6**4, A1 * 1.6**7):
        pad = int(np.ceil(6 * sigma))
        padded = np.pad(image, pad, mode="symmetric")
        h, w = padded.shape
        dy = np.minimum(np.arange(h), h - np.arange(h))[:, None]
        dx = np.minimum(np.arange(w), w - np.arange(w))[None, :]
        kernel = np.exp(-(dx**2 + dy**2) / sigma**2)
        reference = np.fft.irfft2(np.fft.rfft2(padded) * np.fft.rfft2(kernel / kernel.sum()), s=padded.shape)
        np.testing.assert_allclose(gaussian_blur(image, sigma), reference[pad:-pad, pad:-pad], rtol=1e-6)


@pytest.mark.parametrize("hot", [1e20, 3e38])
def test_one_extreme_pixel_leaves_the_rest_of_the_local_operators_picture_as_it_was(hot: float) -> None:
    # An FFT blur spreads the rounding error of 1e30 over every pixel (V_i of a pixel of 1 lost in it), which
    # blacked the whole picture out (mean code 0.2 of 255); a direct convolution keeps it local.
    hdr = np.random.default_rng(0).uniform(0.0, 4.0, (64, 64, 3))
    plain = reinhard2002(hdr, local=True)
    hdr[5, 5] = hot
    far = (slice(32, None), slice(32, None))  # far beyond the largest kernel's reach of 4 * 9.5 px
    np.testing.assert_allclose(reinhard2002(hdr, local=True)[far], plain[far], rtol=0.02)


def test_local_operator_has_no_line_along_the_edges_of_a_sky() -> None:
    # Bright sky above, dark ground below: a circular blur mixes the ground into the top row (a dark line).
    rows = np.concatenate([np.full(40, 20.0), np.full(40, 0.05)])
    hdr = np.repeat(np.repeat(rows[:, None], 60, axis=1)[..., None], 3, axis=2)
    out = reinhard2002(hdr, local=True)
    top, next_row = out[0].mean(), out[1].mean()
    assert abs(top - next_row) < 0.01, (top, next_row)


# 1x1 grey image, L = 1, a = 0.18, W = 1: Ls = 0.18 * 1 / (1 + 1e-6) = 0.18.
# Toolbox: on a 1x1 grid only the centre tap exists, so V_i = Ls / (pi sigma_i^2), sigma_i^2 = s_i^2 / 8,
#   s_i = 1.6^i: V_i = 0.18 * 8 / (pi 1.6^(2i)) = 0.4583662 / 2.56^i, V_0 = 0.4583662;
#   V_i - V_{i+1} = V_i (1 - 1/2.56) = 0.609375 V_i. With s = 1.6^8 = 42.94967 (s^2 = 1844.674), scale 0:
#   activity = 0.609375 * 0.4583662 / (46.08 / 1844.674 + 0.4583662) = 0.27932 / 0.4833462 = 0.57788 > 0.05
#   -> L_adapt = V_0; Ld = 0.18 * (1 + 0.18) / 1.4583662 = 0.2124 / 1.4583662 = 0.1456423
# Default: the kernel's one tap is normalised to 1, so V_i = Ls at every scale, no activity, L_adapt = V_7
#   = 0.18 and Ld = 0.18 * 1.18 / 1.18 = 0.18 (the global result, as a one-pixel image has no surround).


@pytest.mark.parametrize(("toolbox", "expected"), [(False, 0.18), (True, 0.1456423)])
def test_local_single_pixel_picks_the_scale_the_activity_test_gives(toolbox: bool, expected: float) -> None:
    out = reinhard2002(np.ones((1, 1, 3)), key=0.18, white=1.0, local=True, toolbox=toolbox)
    np.testing.assert_allclose(out, np.full((1, 1, 3), expected), rtol=1e-5)


# 1x2 grey image, L = 1 and 1024, a = 0.18, W = 10 (W^2 = 100).
#   Lav = sqrt(1 * 1024) = 32 -> Ls1 = 0.18/32 = 0.005625, Ls2 = 0.18*32 = 5.76
# Circular 1x2 grid: each pixel has one neighbour at distance 1. At scale i, sigma^2 = 1.6^(2i)/8, so
#   toolbox (unnormalised): V_i(p) = t0_i (Ls_p + e_i Ls_q), t0_i = 8 / (pi 1.6^(2i)), e_i = exp(-8 / 1.6^(2i))
#   default (taps sum to 1): V_i(p) = (Ls_p + e_i Ls_q) / (1 + e_i)
# Toolbox, dark pixel (Ls_p = 0.005625, Ls_q = 5.76):
#   i = 0: t0 = 2.5464791, e = 0.0003355 -> V_0 = 2.5464791 * (0.005625 + 0.0019325) = 0.0192444
#   i = 1: t0 = 0.9947184, e = 0.0439369 -> V_1 = 0.9947184 * (0.005625 + 0.2530765) = 0.2573354
#   i = 2: t0 = 0.3885619, e = 0.2950227 -> V_2 = 0.3885619 * (0.005625 + 1.6993308) = 0.6624807
#   i = 3: t0 = 0.1517820, e = 0.6207436 -> V_3 = 0.1517820 * (0.005625 + 3.5754831) = 0.5435477
#   i = 4: t0 = 0.0592898, e = 0.8300540 -> V_4 = 0.0592898 * (0.005625 + 4.7811110) = 0.2838048
#   toolbox form, s = 1.6^8: i = 0 gives 0.2380910 / (46.08/1844.674 + 0.0192444) = 5.38 > 0.05
#   -> L_adapt = V_0: Ld1 = 0.005625 * (1 + 0.005625/100) / 1.0192444 = 0.005625316 / 1.0192444 = 0.0055191
# Toolbox, bright pixel (Ls_p = 5.76): V_0 = 2.5464791 * (5.76 + 0.0003355*0.005625) = 14.667724,
#   V_1 = 5.729824; activity_0 = 8.937900 / (46.08/1844.674 + 14.667724) > 0.05
#   -> Ld2 = 5.76 * (1 + 5.76/100) / (1 + 14.667724) = 6.091776 / 15.667724 = 0.3888105
# Default: kernels normalised and the image mirrored, so the row [Ls1 Ls2] extends as the period-4 sequence
#   ... Ls1 Ls2 Ls2 Ls1 Ls1 Ls2 ...; with w_i(k) = exp(-k^2 / sigma_i^2) (the vertical factor cancels),
#   V_i(p) = sum_k w_i(k) Ls(p + k) / sum_k w_i(k), summed directly (no FFT: `_mirrored_v` below):
#   dark pixel:   V_0 = 0.0075541, V_1 = 0.2380699, V_2 = 1.1175868
#   bright pixel: V_0 = 5.7580709, V_1 = 5.5275551, V_2 = 4.6480382
# Activity |V_i - V_(i+1)| / (256*0.18/1.6^(2i) + V_i):
#   dark: 0.2305158 / 46.0875541 = 0.0050, 0.8795169 / (18 + 0.2380699) = 0.0482, then 0.1198 > 0.05
#     -> the largest calm scale is 1: L_adapt = V_1, Ld1 = 0.005625316 / 1.2380699 = 0.0045436
#   bright: 0.0044, 0.0374, then 0.0836 > 0.05 -> L_adapt = V_1, Ld2 = 6.091776 / 6.5275551 = 0.9332401
# GammaTMO: 0.0045436^(1/2.2) = 0.0861356, 0.9332401^(1/2.2) = 0.9690822
# (Global: Ld1 = 0.005625316 / 1.005625 = 0.0055939, Ld2 = 6.091776 / 6.76 = 0.9011503.)
LOCAL_PAIR = np.array([[[1.0] * 3, [1024.0] * 3]])


def _mirrored_v(row: list[float], p: int, s: float) -> float:
    """V_i at pixel p of a 1-row image, by direct summation over its mirrored (symmetric) extension."""
    sigma = 1 / (2 * np.sqrt(2)) * s
    k = np.arange(-60, 61)
    period = np.concatenate([row, row[::-1]])
    weights = np.exp(-(k**2) / sigma**2)
    return float(np.sum(weights * period[(p + k) % len(period)]) / weights.sum())


def test_mirrored_v_values_in_the_comment() -> None:
    row = [0.18 / 32, 0.18 * 32]
    got = [[_mirrored_v(row, p, 1.6**i) for i in range(3)] for p in (0, 1)]
    np.testing.assert_allclose(got, [[0.00755408, 0.2380699, 1.1175868], [5.7580709, 5.5275551, 4.6480382]],
                               rtol=1e-6)


@pytest.mark.parametrize(("toolbox", "expected"), [(False, [0.0045436, 0.9332401]),
                                                   (True, [0.0055191, 0.3888105])])
def test_local_two_pixels_settle_at_the_scale_the_activity_test_gives(toolbox: bool, expected: list[float]) -> None:
    out = reinhard2002(LOCAL_PAIR, key=0.18, white=10.0, local=True, toolbox=toolbox)
    np.testing.assert_allclose(out[0], np.repeat(np.array(expected)[:, None], 3, axis=1), rtol=1e-5)


def test_local_two_pixels_through_the_registry() -> None:
    # "reinhard-local" is the default form; the global operator differs as worked out above.
    shown = tonemap_to_display(LOCAL_PAIR, "reinhard-local", key=0.18, white=10.0)
    np.testing.assert_allclose(shown[0, :, 0], [0.0861356, 0.9690822], rtol=1e-5)
    np.testing.assert_allclose(reinhard2002(LOCAL_PAIR, key=0.18, white=10.0)[0, :, 0], [0.0055939, 0.9011503],
                               rtol=1e-5)
    # The single-pixel case above: 0.18^(1/2.2) = 0.4586564
    single = tonemap_to_display(np.ones((1, 1, 3)), "reinhard-local", key=0.18, white=1.0)
    np.testing.assert_allclose(single, np.full((1, 1, 3), 0.4586564), rtol=1e-5)


def test_local_operator_keeps_a_smooth_sky_monotone() -> None:
    # A smooth sky: luminance rising geometrically from 0.2 to 200 over 256 columns and back (periodic, as the
    # FFT blur wraps around), Lav = sqrt(0.2 * 200) = 6.32, Ls = 0.18 L / Lav from 0.0057 to 5.7. With kernels
    # that do not sum to 1, V_0 = 2.55 Ls and activity_0 = 1.37 Ls / (46.08 + 2.55 Ls) exceeds 0.05 once
    # Ls > 1.85: those pixels adapt to 2.55 Ls, their neighbours to V_7 = Ls, and the rising ramp steps down
    # (a dark blotch with an edge that speckles in noise). The tone-mapped ramp must rise wherever the input rises.
    up = np.geomspace(0.2, 200.0, 256)
    hdr = _grey(np.tile(np.concatenate([up, up[::-1]]), (16, 1)))
    out = reinhard2002(hdr, key=0.18, local=True)[8, :256, 0]
    assert np.count_nonzero(np.diff(out) <= 0) == 0


def test_local_equals_global_on_a_uniform_image_larger_than_the_kernels() -> None:
    # On a uniform image V_i = Ls * (sum of the sampled kernel's taps) = Ls * S_i. At s_7 = 1.6^7 (sigma = 9.49)
    # on a 96x96 grid S_7 = 1 to within 1e-9, and every activity is at most
    # Ls |S_i - S_(i+1)| / (256 a / s_i^2 + Ls S_i) < 0.05 for Ls = a (S_0 = 2.550, S_1 = 1.177,
    # then S_i ~ 1: scale 0 gives 0.18*1.37/(46.08 + 0.46) = 0.0053). So L_adapt = V_7 = Ls and
    # Eq. 9 reduces to Eq. 4. Colour (1, 2.5, 6): L = 0.2126 + 1.788 + 0.4332 = 2.4338 = Lav, so
    # Ls = 0.18 * L / Lav = 0.18 and, with W = 1, Ld = 0.18 * (1 + 0.18) / (1 + 0.18) = 0.18;
    # out = (1, 2.5, 6) * 0.18 / 2.4338
    #   = (0.0739584, 0.184896, 0.443750)
    hdr = np.broadcast_to(np.array([1.0, 2.5, 6.0]), (96, 96, 3))
    expected = np.broadcast_to([0.0739584, 0.184896, 0.443750], (96, 96, 3))
    for local in (False, True):
        np.testing.assert_allclose(reinhard2002(hdr, key=0.18, white=1.0, local=local), expected, rtol=1e-5)


def test_bad_input() -> None:
    hdr = np.ones((2, 2, 3))
    with pytest.raises(UsageError):
        reinhard2002(hdr[0])
    with pytest.raises(UsageError, match="key"):
        reinhard2002(hdr, key=-1.0)
    with pytest.raises(UsageError, match="white"):
        reinhard2002(hdr, white=float("nan"))
    # a key or white that is no number raised numpy's TypeError ("ufunc 'isfinite' not supported"); Kim-Kautz's
    # parameters and the display gamma already said so in one line
    with pytest.raises(UsageError, match=r"^Reinhard key must be a positive number, got '0\.18'$"):
        reinhard2002(hdr, key="0.18")
    with pytest.raises(UsageError, match="white"):
        reinhard2002(hdr, white=True)


@pytest.mark.parametrize("name", ["key", "white"])
@pytest.mark.parametrize("value", [0.0, float("inf")])
def test_a_key_or_white_of_zero_or_infinity_is_refused(name: str, value: float) -> None:
    """Key 0 makes Ls = 0 (a black picture), key inf NaN; white 0 divides Ls by W^2 = 0, white inf is Eq. 3 (a
    white point no scene has, which --white does not mean): each is a typo, refused in one line."""
    with pytest.raises(UsageError, match=f"^Reinhard {name} must be a positive number"):
        reinhard2002(np.ones((2, 2, 3)), **{name: value})


def test_a_scale_whose_activity_is_just_above_the_threshold_is_active() -> None:
    """L = 1 and 256 (Ls = 0.18/16 and 0.18*16, V_i by direct summation, `_mirrored_v`): the bright pixel's activity
    is 0.0023, 0.0211, then 0.0520 at scale 2, just above the paper's threshold 0.05 (the dark pixel's 0.0025,
    0.0242, 0.0641), so both take V_1, the largest calm scale."""
    row = [0.18 / 16, 0.18 * 16]
    v = [[_mirrored_v(row, p, 1.6**i) for i in range(4)] for p in (0, 1)]
    activity = [[abs(vp[i] - vp[i + 1]) / (2**8 * 0.18 / 1.6 ** (2 * i) + vp[i]) for i in range(3)] for vp in v]
    np.testing.assert_allclose(activity, [[0.0025, 0.0242, 0.0641], [0.0023, 0.0211, 0.0520]], atol=1e-4)
    ls = np.array(row)
    expected = ls * (1 + ls / 100.0) / (1 + np.array([v[0][1], v[1][1]]))
    out = reinhard2002(np.array([[[1.0] * 3, [256.0] * 3]]), key=0.18, white=10.0, local=True)
    np.testing.assert_allclose(out[0], np.repeat(expected[:, None], 3, axis=1), rtol=1e-5)


def test_the_automatic_key_reads_the_1st_and_99th_nearest_rank_luminances() -> None:
    """100 distinct luminances: Lmin and Lmax are the 1st and 99th smallest (rank max(round(100 p), 1)), put into
    Reinhard 2002b's alpha = 0.18 * 4^((2 log2 Lav - log2 Lmin - log2 Lmax) / (log2 Lmax - log2 Lmin))."""
    lum = np.random.default_rng(11).permutation(2.0 ** np.linspace(-6.0, 9.0, 100)).reshape(10, 10)
    ranked = np.sort(lum.reshape(-1))
    lo, hi = np.log2(ranked[0] + 1e-9), np.log2(ranked[98] + 1e-9)
    av = np.log2(np.exp(np.mean(np.log(lum + 1e-6))) + 1e-9)
    assert automatic_key(lum) == pytest.approx(0.18 * 4.0 ** ((2 * av - lo - hi) / (hi - lo)), rel=1e-9)


def test_a_pixel_never_active_adapts_to_the_largest_scale() -> None:
    """A gentle ramp, L = 1 .. 1.2 over 64 px: no scale's activity reaches 0.05 anywhere, so L_adapt is V_7, which
    the mirrored edges make differ from V_6 near the ends (V_i by direct summation, `_mirrored_v`)."""
    lum = np.linspace(1.0, 1.2, 64)
    ls = 0.18 * lum / np.exp(np.mean(np.log(lum + 1e-6)))
    v = np.array([[_mirrored_v(list(ls), p, 1.6**i) for i in range(8)] for p in range(64)])
    activity = np.abs(v[:, :-1] - v[:, 1:]) / (2**8 * 0.18 / 1.6 ** (2 * np.arange(7)) + v[:, :-1])
    assert activity.max() < 0.05 and np.abs(v[:, 7] - v[:, 6]).max() > 1e-4
    out = reinhard2002(_grey(lum[None]), key=0.18, white=10.0, local=True)
    np.testing.assert_allclose(out[0, :, 0], ls * (1 + ls / 100.0) / (1 + v[:, 7]), rtol=1e-5)
