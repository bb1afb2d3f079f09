"""HDR-VDP-2 (version 2.2.1): visibility and quality of differences between two HDR images.

Mantiuk, Kim, Rempel & Heidrich, "HDR-VDP-2: A calibrated visual metric for visibility and quality
predictions in all luminance conditions", ACM Trans. Graph. 30(4), 40 (2011), doi:10.1145/2010324.1964935,
with the calibration and quality pooling of the authors' release 2.2.1 (2014): Q = 100 for identical
images, lower for worse. Written from the paper; checked against the MATLAB release run in GNU Octave
(tests/golden/make_hdrvdp2_golden.py).

The model, stage by stage (section names of the paper):

1. *Optical and retinal pathway*: the eye's optical MTF (scattering), spectral sensitivities of L, M
   cones and rods, and the photoreceptor non-linearity (luminance masking), giving a response P in
   units of just-noticeable differences.
2. *Multi-scale decomposition*: a steerable pyramid (4 orientations) of P.
3. *Neural noise*: per band, the noise that the contrast sensitivity function (nCSF) implies at the
   local adapting luminance, plus contrast masking within a band, across orientations and across
   neighbouring bands.
4. *Visibility*: a psychometric function of the noise-normalised difference gives the probability of
   detection per pixel; *Quality*: per-band pooled differences, weighted, give Q.

Data tables (spectra, pyramid filters) are in ``data/hdrvdp2_tables.npz``; see
tests/golden/make_hdrvdp2_tables.py for their sources. The calibrated constants below are the 2.2.1
release's.

References
----------
- Mantiuk, R., Kim, K. J., Rempel, A. G., & Heidrich, W. (2011). HDR-VDP-2: A calibrated visual metric for
  visibility and quality predictions in all luminance conditions. ACM Transactions on Graphics, 30(4), 40.
  doi:10.1145/2010324.1964935
- Narwaria, M., Mantiuk, R. K., Perreira Da Silva, M., & Le Callet, P. (2015). HDR-VDP-2.2: a calibrated
  method for objective quality prediction of high-dynamic range and standard images. Journal of Electronic
  Imaging, 24(1), 010501. doi:10.1117/1.JEI.24.1.010501 (the recalibration of the 2.2 releases)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..assets import package_file
from ..errors import UsageError

ENCODINGS = ("rgb-bt.709", "luminance")
RGB_DISPLAYS = ("ccfl-lcd", "led-lcd", "crt")

# Photoreceptor and CSF luminance range (cd/m^2) the model is defined over.
L_MIN, L_MAX = 1e-5, 1e5
# Optical MTF, a sum of four exponentials in spatial frequency: a_k, b_k (2.2.1 fit).
_MTF_FIT = 0.997273700237771, 0.061466549455263
MTF_A = (_MTF_FIT[0] * 0.426, _MTF_FIT[0] * 0.574, (1 - _MTF_FIT[0]) * _MTF_FIT[1],
         (1 - _MTF_FIT[0]) * (1 - _MTF_FIT[1]))
MTF_B = (0.028, 0.37, 37.0, 360.0)
# Joint rod-cone sensitivity s_A(L) = p5 ((p6 / L)^p7 + 1)^-p8.
CSF_SA = (30.162, 4.0627, 1.6596, 0.2712)
# Rod sensitivity: peak luminance, low side (scale, exponent), high side (scale, exponent), log10 gain.
CSF_SR = (1.1732, 1.1478, 1.2167, 0.5547, 2.9899, 1.1414)
# nCSF parameters p1..p4 at the adapting luminances CSF_LUMS (linear interpolation in log luminance).
CSF_LUMS = (0.002, 0.02, 0.2, 2.0, 20.0, 150.0)
CSF_PARAMS = np.array([
    [0.991265, 3.74038, 0.50722, 4.46044],
    [0.800889, 3.54104, 0.682505, 4.94958],
    [0.476505, 4.37453, 0.750315, 5.28678],
    [0.405782, 4.40602, 0.935314, 5.61425],
    [0.334278, 3.79542, 1.07327, 6.4635],
    [0.394533, 2.7755, 1.16577, 7.45665],
])
# Peak contrast sensitivity of Daly's VDP; the peak_sensitivity option rescales relative to it.
DALY_PEAK_CONTRAST_SENSITIVITY = 0.006894596
# Quality pooling: per-band weights w_f at band frequencies (cycles/degree), interpolated linearly.
QUALITY_BAND_FREQ = (60, 30, 15, 7.5, 3.75, 1.875, 0.9375, 0.4688, 0.2344, 0.1172)
QUALITY_BAND_W = (0, 0.2832, 0.2832, 0.2142, 0.2690, 0.0398, 0.0003, 0.0003, 0, 0)
QUALITY_EPSILON = 1e-12
# A pixel counts as different when a channel differs by more than this fraction of the reference.
DIFF_THRESHOLD = 0.001
PYRAMID_FILTER_SIZE = 17  # the sp3 low-pass filter; a pyramid level needs an image at least this big


@dataclass(frozen=True)
class ViewingSetup:
    """A display seen square-on from ``distance_m``; ``resolution`` is (width, height) in pixels."""

    diagonal_inches: float = 24.0
    resolution: tuple[int, int] = (1920, 1080)
    distance_m: float = 0.5

    @property
    def pixels_per_degree(self) -> float:
        """Vertical pixels over the vertical visual angle, 2 atan(h / 2d) (the reference's convention)."""
        width, height = self.resolution
        height_m = self.diagonal_inches * 0.0254 * height / math.hypot(width, height)
        return height / (2.0 * math.degrees(math.atan(height_m / (2.0 * self.distance_m))))


DESKTOP_VIEWING = ViewingSetup()  # a 24-inch full-HD monitor at 0.5 m: about 32.5 pixels per degree


@dataclass(frozen=True)
class HdrVdp2Options:
    """Viewing conditions and calibrated parameters (defaults: release 2.2.1, calibrated 30 Aug 2011).

    ``surround_luminance``: cd/m^2 of the uniform surround the images are padded with for the optical
    MTF (near darkness by default). ``peak_sensitivity``: -log10 of the detection threshold at the
    CSF peak. ``mask_p``, ``mask_q``: log10 of the excitation and inhibition exponents of contrast
    masking; ``mask_self``, ``mask_xo``, ``mask_xn``: log10 weights of masking within the band, across
    orientations and across neighbouring bands. ``psych_func_slope``: log10 of the psychometric
    function's slope. ``rgb_display``: emission spectra for 'rgb-bt.709' input.
    """

    surround_luminance: float = 1e-5
    peak_sensitivity: float = 2.4
    mask_p: float = 0.544068
    mask_q: float = 0.49576
    mask_self: float = 0.189065
    mask_xo: float = 0.449199
    mask_xn: float = 1.52512
    psych_func_slope: float = math.log10(3.5)
    rgb_display: str = "ccfl-lcd"


@dataclass(frozen=True)
class HdrVdp2Result:
    """``Q``: quality, 100 for identical images, lower (possibly negative) for larger differences.
    ``P_det``: probability that a difference is detected anywhere; ``P_map``: per pixel.
    ``C_max``: maximum threshold-normalised contrast (1 = at threshold, P = 0.5); ``C_map``: per pixel."""

    Q: float
    P_det: float
    C_max: float
    P_map: np.ndarray
    C_map: np.ndarray


@lru_cache(maxsize=1)
def _tables() -> dict[str, np.ndarray]:
    with np.load(package_file("evaluation", "data", "hdrvdp2_tables.npz"), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


# --- input ------------------------------------------------------------------------------------------

def _channels_last(image: np.ndarray, encoding: str, name: str) -> np.ndarray:
    x = np.asarray(image)
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise UsageError(f"hdrvdp2: {name} image must be real numbers, got dtype {x.dtype}")
    x = x.astype(np.float64)
    if encoding == "luminance" and x.ndim == 2:
        x = x[..., None]
    channels = 1 if encoding == "luminance" else 3
    if x.ndim != 3 or x.shape[2] != channels:
        want = "HxW or HxWx1" if channels == 1 else "HxWx3"
        raise UsageError(f"hdrvdp2: '{encoding}' needs {want} images, {name} has shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise UsageError(f"hdrvdp2: {name} image contains NaN or infinite values")
    if np.any(x < 0):
        raise UsageError(f"hdrvdp2: {name} image has negative values; give absolute luminance (cd/m^2)")
    return x


def _check_request(encoding: str, pixels_per_degree: float, options: HdrVdp2Options) -> None:
    if encoding not in ENCODINGS:
        raise UsageError(f"hdrvdp2: unknown colour encoding {encoding!r}; choose one of {', '.join(ENCODINGS)}")
    if not (math.isfinite(pixels_per_degree) and pixels_per_degree > 0):
        raise UsageError(f"hdrvdp2: pixels per degree must be positive, got {pixels_per_degree}")
    if options.rgb_display not in RGB_DISPLAYS:
        raise UsageError(f"hdrvdp2: unknown rgb_display {options.rgb_display!r}; "
                         f"choose one of {', '.join(RGB_DISPLAYS)}")
    if not (math.isfinite(options.surround_luminance) and options.surround_luminance > 0):
        raise UsageError(f"hdrvdp2: surround luminance must be positive, got {options.surround_luminance}")


# --- optical and retinal pathway -----------------------------------------------------------------------

def _frequency_grid(shape: tuple[int, int], pixels_per_degree: float) -> np.ndarray:
    """Spatial frequency (cycles/degree) of each coefficient of a ``shape`` FFT."""
    fy = np.fft.fftfreq(shape[0]) * pixels_per_degree
    fx = np.fft.fftfreq(shape[1]) * pixels_per_degree
    return np.hypot(fy[:, None], fx[None, :])


def _filter_padded(x: np.ndarray, transfer: np.ndarray, pad_value: float) -> np.ndarray:
    """Filter ``x`` in the frequency domain with ``transfer`` (given for a 2x larger grid).

    Padding to twice the size with a constant (the surround) keeps the image from wrapping around.
    """
    padded = np.full(transfer.shape, pad_value)
    padded[: x.shape[0], : x.shape[1]] = x
    half = transfer[:, : transfer.shape[1] // 2 + 1]  # the transfer function is even in frequency
    out = np.fft.irfft2(np.fft.rfft2(padded) * half, s=transfer.shape)
    return out[: x.shape[0], : x.shape[1]]


def optical_mtf(rho: np.ndarray) -> np.ndarray:
    """Modulation transfer of the eye's optics at ``rho`` cycles/degree: sum_k a_k exp(-b_k rho)
    (paper, "Optical and retinal pathway")."""
    return sum(a * np.exp(-b * rho) for a, b in zip(MTF_A, MTF_B, strict=True))


def joint_rod_cone_sensitivity(luminance: np.ndarray) -> np.ndarray:
    """s_A(L): sensitivity of cones and rods together to luminance L (cd/m^2)."""
    p5, p6, p7, p8 = CSF_SA
    return p5 * ((p6 / luminance) ** p7 + 1.0) ** -p8


def rod_sensitivity(luminance: np.ndarray) -> np.ndarray:
    """s_R(L): rod sensitivity, an asymmetric Gaussian in log luminance about its peak."""
    peak, low_scale, low_exp, high_scale, high_exp, log_gain = CSF_SR
    dist = np.abs(np.log10(luminance / peak))
    high = luminance > peak
    s = np.where(high, np.exp(-(dist**high_exp) / high_scale), np.exp(-(dist**low_exp) / low_scale))
    return s * 10.0**log_gain


@lru_cache(maxsize=4)
def _photoreceptor_curves(peak_sensitivity: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Photoreceptor responses t(L) = integral of s(l) dl over log10 luminance, in JND units.

    The response to cone (L or M) and rod absorption on a log10 luminance grid: the paper's
    luminance-masking non-linearity, integrated numerically (trapezoid rule, 2048 samples over the
    model's range). Cone sensitivity is what the joint sensitivity leaves after the rods, taken at the
    L + M luminance (hence the 2 L), split between the two cone types.
    """
    log_l = np.linspace(math.log10(L_MIN), math.log10(L_MAX), 2048)
    lum = 10.0**log_l
    s_r = rod_sensitivity(lum)
    lum_lm = np.minimum(2.0 * lum, L_MAX)
    s_c = 0.5 * np.maximum(joint_rod_cone_sensitivity(lum_lm) - rod_sensitivity(lum_lm), 1e-3)
    gain = DALY_PEAK_CONTRAST_SENSITIVITY / 10.0**-peak_sensitivity

    def response(s: np.ndarray) -> np.ndarray:
        ds = s * math.log(10.0)  # dL/L = ln(10) dlog10(L)
        return gain * np.concatenate([[0.0], np.cumsum(0.5 * (ds[1:] + ds[:-1]) * np.diff(log_l))])

    return log_l, response(s_c), response(s_r)


@lru_cache(maxsize=8)
def _absorption_matrix(encoding: str, rgb_display: str) -> np.ndarray:
    """Channels x (L, M, rod) absorption: the integral over wavelength of emission x sensitivity."""
    t = _tables()
    emission = t["emission_d65"][:, None] if encoding == "luminance" else t[f"emission_{rgb_display}"]
    sensitivity = np.column_stack([t["cone_lms"][:, 0], t["cone_lms"][:, 1], t["rod"]])
    product = emission[:, :, None] * sensitivity[:, None, :]
    step = np.diff(t["wavelength"])[:, None, None]
    return np.sum(0.5 * (product[1:] + product[:-1]) * step, axis=0)  # trapezoid rule over wavelength


def _retinal_response(image: np.ndarray, encoding: str, pixels_per_degree: float,
                      options: HdrVdp2Options) -> tuple[np.ndarray, np.ndarray]:
    """Photoreceptor response P (JND units, mean removed) and adapting luminance L_a = L + M absorption."""
    mtf = optical_mtf(_frequency_grid((2 * image.shape[0], 2 * image.shape[1]), pixels_per_degree))
    optic = np.stack([_filter_padded(image[..., c], mtf, options.surround_luminance)
                      for c in range(image.shape[2])], axis=-1)
    optic = np.clip(optic, L_MIN, 1e10)
    absorbed = optic @ _absorption_matrix(encoding, options.rgb_display)  # H x W x (L, M, rod)
    log_l, cone, rod = _photoreceptor_curves(options.peak_sensitivity)

    def respond(x: np.ndarray, curve: np.ndarray) -> np.ndarray:
        return np.interp(np.log10(np.clip(x, L_MIN, L_MAX)), log_l, curve)

    p_cone = respond(absorbed[..., 0], cone) + respond(absorbed[..., 1], cone)
    p_rod = respond(absorbed[..., 2], rod)
    # Only contrast matters downstream; removing each mean keeps the pyramid's low-pass band small.
    return (p_cone - p_cone.mean()) + (p_rod - p_rod.mean()), absorbed[..., 0] + absorbed[..., 1]


def ncsf(rho: np.ndarray | float, adapting_luminance: np.ndarray | float) -> np.ndarray:
    """Neural contrast sensitivity at ``rho`` cycles/degree and adapting luminance (cd/m^2) (paper,
    "Neural noise"): p4 / sqrt((1 + (p1 rho)^p2) / (1 - exp(-(rho/7)^2))^p3), with p1..p4 interpolated
    linearly in log luminance between the calibrated luminances, clamped at both ends."""
    log_lums = np.log10(CSF_LUMS)
    log_la = np.clip(np.log10(adapting_luminance), log_lums[0], log_lums[-1])
    p1, p2, p3, p4 = (np.interp(log_la, log_lums, CSF_PARAMS[:, k]) for k in range(4))
    rho = np.asarray(rho, dtype=np.float64)
    with np.errstate(divide="ignore"):  # rho = 0 (the DC term) has zero sensitivity
        return p4 / np.sqrt((1.0 + (p1 * rho) ** p2) / (1.0 - np.exp(-((rho / 7.0) ** 2))) ** p3)


# --- steerable pyramid ---------------------------------------------------------------------------------

def _correlate(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    import cv2

    # BORDER_REFLECT_101 mirrors about the edge sample without repeating it, matlabPyrTools' "reflect1".
    return cv2.filter2D(x, cv2.CV_64F, kernel, borderType=cv2.BORDER_REFLECT_101)


def _convolve(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return _correlate(x, kernel[::-1, ::-1])


def _upsample(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    up = np.zeros(shape[:2])
    up[::2, ::2] = x
    return up


def pyramid_height(shape: tuple[int, ...]) -> int:
    """Levels of oriented bands: halve until a side is smaller than the low-pass filter."""
    h, w, levels = shape[0], shape[1], 0
    while min(h, w) >= PYRAMID_FILTER_SIZE:
        levels, h, w = levels + 1, h // 2, w // 2
    return levels


def steerable_pyramid(image: np.ndarray) -> list[list[np.ndarray]]:
    """Steerable pyramid (Simoncelli & Freeman 1995, sp3 filters): ``[[high-pass], [4 oriented bands]
    per level, ..., [low-pass residual]]``, as many levels as :func:`pyramid_height` allows."""
    t = _tables()
    bands = [[_correlate(image, t["sp3_hi0"])]]
    low = _correlate(image, t["sp3_lo0"])
    for _ in range(pyramid_height(image.shape)):
        bands.append([_correlate(low, f) for f in t["sp3_bands"]])
        low = _correlate(low, t["sp3_lo"])[::2, ::2]
    bands.append([low])
    return bands


def collapse_pyramid(bands: list[list[np.ndarray]]) -> np.ndarray:
    """Inverse of :func:`steerable_pyramid` (the filters are self-inverting): upsample and convolve."""
    t = _tables()
    image = bands[-1][0]
    for level in reversed(bands[1:-1]):
        image = _convolve(_upsample(image, level[0].shape), t["sp3_lo"])
        image = image + sum(_convolve(b, f) for b, f in zip(level, t["sp3_bands"], strict=True))
    return _convolve(image, t["sp3_lo0"]) + _convolve(bands[0][0], t["sp3_hi0"])


# --- resampling between band sizes ----------------------------------------------------------------------

def _keys_cubic(h: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel, a = -0.5."""
    a = np.abs(h)
    near = 1.5 * a**3 - 2.5 * a**2 + 1.0
    far = -0.5 * a**3 + 2.5 * a**2 - 4.0 * a + 2.0
    return np.where(a <= 1, near, np.where(a <= 2, far, 0.0))


@lru_cache(maxsize=64)
def _resize_weights(n_in: int, n_out: int) -> np.ndarray:
    """n_out x n_in bicubic resampling matrix, pixel centres aligned, half-sample symmetric edges; when
    shrinking, the kernel is stretched by the scale (anti-aliasing) and each row normalised to sum to one,
    as MATLAB's ``imresize`` does (Octave's image package 2.14 skips the normalisation, which changes
    nothing for the 2:1 ratios between pyramid bands and little for odd sizes)."""
    scale = n_out / n_in
    stretch = min(scale, 1.0)
    x = (np.arange(n_out) + 0.5) / scale - 0.5  # output pixel centres in input coordinates
    reach = math.ceil(2.0 / stretch)
    base = np.floor(x).astype(int)
    weights = np.zeros((n_out, n_in))
    for shift in range(1 - reach, reach + 1):
        j = base + shift
        w = stretch * _keys_cubic(stretch * (j - x))
        m = np.mod(j, 2 * n_in)
        np.add.at(weights, (np.arange(n_out), np.where(m < n_in, m, 2 * n_in - 1 - m)), w)
    return weights / weights.sum(axis=1, keepdims=True)


def _resize(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if x.shape[1] != shape[1]:
        x = x @ _resize_weights(x.shape[1], shape[1]).T
    if x.shape[0] != shape[0]:
        x = _resize_weights(x.shape[0], shape[0]) @ x
    return x


# --- neural noise, masking, visibility and quality --------------------------------------------------------

def _sign_pow(x: np.ndarray, e: float) -> np.ndarray:
    return np.sign(x) * np.abs(x) ** e


def _box3(x: np.ndarray) -> np.ndarray:
    """3x3 mean with zero padding: the phase-uncertainty blur of the masking signal."""
    import cv2

    return cv2.filter2D(x, cv2.CV_64F, np.full((3, 3), 1.0 / 9.0), borderType=cv2.BORDER_CONSTANT)


def _band(bands: list[list[np.ndarray]], b: int, o: int) -> np.ndarray:
    """Orientation ``o`` of band ``b``; single-band levels (high- and low-pass) serve every orientation."""
    return bands[b][min(o, len(bands[b]) - 1)]


def _quality_weight(frequency: float) -> float:
    freq = np.clip(frequency, QUALITY_BAND_FREQ[-1], QUALITY_BAND_FREQ[0])
    return float(np.interp(freq, QUALITY_BAND_FREQ[::-1], QUALITY_BAND_W[::-1]))


def _log_pooled(d: np.ndarray) -> float:
    """One orientation's quality term: log of the root sum of squares per pixel, relative to epsilon."""
    pooled = math.sqrt(float(np.sum(d**2))) / d.size
    return math.log(pooled + QUALITY_EPSILON) - math.log(QUALITY_EPSILON)


def _neural_noise(b: int, o: int, n_csf: np.ndarray | float, mutual: list[list[np.ndarray]],
                  options: HdrVdp2Options) -> np.ndarray:
    """Noise of band b, orientation o, with contrast masking (paper, "Neural noise"): the CSF noise
    N_nCSF^p combined with masking N_mask = sum_k w_k (n_f M_k / N_nCSF)^q over the band itself (self),
    the other orientations (xo) and the adjacent bands (xn). The adjacent bands' masking signal is
    resampled to this band's size and rescaled by the band's frequency ratio (2 or 1/2)."""
    p, q = 10.0**options.mask_p, 10.0**options.mask_q
    norm = 2.0**b  # 1/n_f: the pyramid's band gain doubles with each level
    self_mask = mutual[b][o]
    cross_orientation = np.maximum(sum(mutual[b]) - self_mask, 0.0)
    neighbours = np.zeros_like(self_mask)
    if b > 0:
        neighbours += np.maximum(_resize(_band(mutual, b - 1, o), self_mask.shape), 0.0) / (norm / 2.0)
    if b < len(mutual) - 2:  # the low-pass residual does not mask the band above it
        neighbours += np.maximum(_resize(_band(mutual, b + 1, o), self_mask.shape), 0.0) / (norm * 2.0)
    n_mask = norm * (10.0**options.mask_self * (self_mask / n_csf / norm) ** q
                     + 10.0**options.mask_xo * (cross_orientation / n_csf / norm) ** q
                     + 10.0**options.mask_xn * (neighbours / n_csf) ** q)
    return np.sqrt(n_csf ** (2.0 * p) + n_mask**2)


def hdrvdp2(test: np.ndarray, reference: np.ndarray, encoding: str = "rgb-bt.709",
            pixels_per_degree: float = 30.0, options: HdrVdp2Options | None = None) -> HdrVdp2Result:
    """HDR-VDP-2.2.1 of ``test`` against ``reference``, both in absolute units (cd/m^2).

    ``encoding``: 'rgb-bt.709' (HxWx3 linear BT.709 RGB) or 'luminance' (HxW or HxWx1 luminance).
    ``pixels_per_degree``: angular resolution of the viewing set-up (about 30 for a desktop display).
    """
    options = options or HdrVdp2Options()
    _check_request(encoding, pixels_per_degree, options)
    t = _channels_last(test, encoding, "test")
    r = _channels_last(reference, encoding, "reference")
    if t.shape != r.shape:
        raise UsageError(f"hdrvdp2: test and reference differ in shape: {t.shape} vs {r.shape}")
    if min(t.shape[:2]) < 2:
        raise UsageError(f"hdrvdp2: images must be at least 2x2 pixels, got {t.shape[1]}x{t.shape[0]}")

    p_ref, la_ref = _retinal_response(r, encoding, pixels_per_degree, options)
    p_test, la_test = _retinal_response(t, encoding, pixels_per_degree, options)
    b_ref, b_test = steerable_pyramid(p_ref), steerable_pyramid(p_test)
    count = len(b_ref)
    band_freq = [pixels_per_degree / 2.0 / 2.0**b for b in range(count)]

    # The low-pass residual is filtered by the CSF at the image's mean adaptation, on a grid whose
    # Nyquist frequency is the residual's nominal frequency times 2 sqrt(2). Both images are padded
    # with the reference's mean, so a uniform shift of the test still shows at the border.
    bb_grid = _frequency_grid(tuple(2 * s for s in b_ref[-1][0].shape), band_freq[-1] * 2.0 * math.sqrt(2.0))
    pad = float(b_ref[-1][0].mean())
    for bands, la in ((b_ref, la_ref), (b_test, la_test)):
        bands[-1][0] = _filter_padded(bands[-1][0], ncsf(bb_grid, la.mean()), pad)

    mutual = [[_box3(np.minimum(np.abs(bt), np.abs(br))) for bt, br in zip(lt, lr, strict=True)]
              for lt, lr in zip(b_test, b_ref, strict=True)]
    log_la = np.log10(np.clip((la_test + la_ref) / 2.0, L_MIN, L_MAX))
    diff_mask = np.any(np.abs(t - r) > DIFF_THRESHOLD * r, axis=2).astype(np.float64)
    p = 10.0**options.mask_p
    slope = 10.0**options.psych_func_slope / p
    quality, detection = 0.0, []
    for b in range(count):
        norm = 2.0**b  # 1/n_f
        shape = mutual[b][0].shape
        # The low-pass residual already went through the CSF above; the adapting luminance is resampled
        # to the band in the log domain.
        n_csf = 1.0 if b == count - 1 else 1.0 / ncsf(band_freq[b], 10.0 ** _resize(log_la, shape))
        d_band = [_sign_pow((b_test[b][o] - b_ref[b][o]) / norm, p) * norm
                  / _neural_noise(b, o, n_csf, mutual, options) for o in range(len(b_ref[b]))]
        detection.append([_sign_pow(d / norm, slope) * norm for d in d_band])
        # Quality pools the differences only where the images actually differ (paper, "Quality").
        mask_b = _resize(diff_mask, shape)
        quality += _quality_weight(band_freq[b]) * sum(_log_pooled(d * mask_b) for d in d_band)

    c_map = np.abs(collapse_pyramid(detection))
    # Spatial pooling: scale the map so that its peak equals the sum over all pixels.
    c_map = float(c_map.sum()) / (float(c_map.max()) + 1e-12) * c_map
    p_map = 1.0 - np.exp(math.log(0.5) * c_map)
    return HdrVdp2Result(Q=100.0 - quality, P_det=float(p_map.max()), C_max=float(c_map.max()),
                         P_map=p_map, C_map=c_map)
