"""Image quality metrics for LDR exposure predictions and HDR reconstructions.

* ``psnr``: -10 log10(MSE + 1e-8) on [0, 1] images, the formula of the official CEVR code
  (skchen1993/2023_CEVR, ``avg_psnr``); generalised to a data range R as 10 log10(R^2 / (MSE + 1e-8)).
* ``ssim``: Wang, Bovik, Sheikh & Simoncelli, "Image quality assessment: from error visibility to
  structural similarity" (IEEE TIP 2004): 11x11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03,
  population (not sample) statistics, mean over the window-valid interior, colour channels averaged.
  Equals ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, channel_axis=-1)``.
* ``ms_ssim``: Wang, Simoncelli & Bovik, "Multi-scale structural similarity for image quality
  assessment" (Asilomar 2003): 5 scales, weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), 2x2
  average downsampling; contrast-structure terms at every scale, luminance only at the coarsest.
* ``pu21_encode`` / ``pu21_psnr`` / ``pu21_ssim``: Mantiuk & Azimi, "PU21: A novel perceptually
  uniform encoding for adapting existing quality metrics for HDR" (PCS 2021), the recommended
  ``banding_glare`` fit; metrics follow the authors' ``pu21_metric``: PSNR on PU-encoded RGB with peak
  256, SSIM on PU-encoded luminance with dynamic range 256.
* ``hdrvdp2_q``: HDR-VDP-2.2.1 quality Q (Mantiuk et al., ACM TOG 2011; :mod:`.mantiuk2011`), the metric the
  CEVR paper reports, on the same absolute scaling as PU21 and a 24-inch full-HD display at 0.5 m.
* ``cvvdp``: ColorVideoVDP (Mantiuk et al., SIGGRAPH 2024) through the optional ``cvvdp`` package.
  This is *not* HDR-VDP-2, the metric CEVR reported; the two scales are not comparable.

References
----------
- Wang, Z., Bovik, A. C., Sheikh, H. R., & Simoncelli, E. P. (2004). Image quality assessment: from error
  visibility to structural similarity. IEEE Transactions on Image Processing, 13(4), 600-612.
  doi:10.1109/TIP.2003.819861
- Wang, Z., Simoncelli, E. P., & Bovik, A. C. (2003). Multiscale structural similarity for image quality
  assessment. 37th Asilomar Conference on Signals, Systems & Computers, 1398-1402.
  doi:10.1109/ACSSC.2003.1292216
- Mantiuk, R. K., & Azimi, M. (2021). PU21: A novel perceptually uniform encoding for adapting existing
  quality metrics for HDR. Picture Coding Symposium (PCS), 1-5. doi:10.1109/PCS50896.2021.9477471
- Mantiuk, R. K., Hanji, P., Ashraf, M., Asano, Y., & Chapiro, A. (2024). ColorVideoVDP: A visual difference
  predictor for image, video and display distortions. ACM Transactions on Graphics, 43(4), 129.
  doi:10.1145/3658144
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from ..errors import CevrError, UsageError
from ..imaging import check_finite, float_codes, luminance
from .mantiuk2011 import DESKTOP_VIEWING, ViewingSetup, hdrvdp2

SSIM_K1 = 0.01
SSIM_K2 = 0.03
SSIM_SIGMA = 1.5
SSIM_WINDOW = 11  # 2 * ceil(3 * sigma) + 1, also skimage's truncate=3.5 radius for sigma 1.5
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _compared(image: np.ndarray, what: str) -> np.ndarray:
    """An image to compare, as float64: uint8 / uint16 codes in [0, 1] (:func:`~cevr_cli.imaging.float_codes`, as
    everywhere in cevr: uint8 compared as 0..255 with data_range 1 gave -9.5 dB), floats as they are.

    Raises:
        UsageError: another integer type or booleans (whose white is unknown), or NaN / infinite values (which
            made the score NaN).
    """
    return check_finite(float_codes(image, what).astype(np.float64, copy=False), what)


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two images to compare, as float64 (:func:`_compared`), of one HxW or HxWxC shape.

    Raises:
        UsageError: as :func:`_compared`, or shapes that differ or are not images.
    """
    a, b = _compared(a, "first image"), _compared(b, "second image")
    if a.shape != b.shape:
        raise UsageError(f"images to compare differ in shape: {a.shape} vs {b.shape}")
    if a.ndim not in (2, 3):
        raise UsageError(f"expected an HxW or HxWxC image, got shape {a.shape}")
    return a, b


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB over all pixels and channels; uint8 / uint16 codes are read as [0, 1]
    (:func:`_compared`), so ``data_range`` stays 1 for them.

    The 1e-8 in the denominator is the official code's; it caps identical images at 80 dB (R = 1).
    """
    a, b = _pair(a, b)
    mse = float(np.mean((a - b) ** 2))
    return 10.0 * math.log10(data_range**2 / (mse + 1e-8))


def _gaussian_blur(x: np.ndarray) -> np.ndarray:
    import cv2

    # BORDER_REFLECT (edge sample repeated) is scipy.ndimage's "reflect", which skimage uses; the score never
    # sees it: _ssim_terms crops the window's radius, so every pixel averaged has its whole window inside.
    return cv2.GaussianBlur(x, (SSIM_WINDOW, SSIM_WINDOW), SSIM_SIGMA, borderType=cv2.BORDER_REFLECT)


def _ssim_terms(a: np.ndarray, b: np.ndarray, data_range: float) -> tuple[float, float]:
    """Mean SSIM and mean contrast-structure term of two single-channel images (float64)."""
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    mu_a, mu_b = _gaussian_blur(a), _gaussian_blur(b)
    var_a = _gaussian_blur(a * a) - mu_a * mu_a
    var_b = _gaussian_blur(b * b) - mu_b * mu_b
    cov = _gaussian_blur(a * b) - mu_a * mu_b
    cs_map = (2.0 * cov + c2) / (var_a + var_b + c2)
    lum_map = (2.0 * mu_a * mu_b + c1) / (mu_a * mu_a + mu_b * mu_b + c1)
    # Only pixels whose whole window lies inside the image count, as in Wang's reference code.
    pad = (SSIM_WINDOW - 1) // 2
    crop = (slice(pad, -pad), slice(pad, -pad))
    return float(np.mean((lum_map * cs_map)[crop])), float(np.mean(cs_map[crop]))


def _channels(x: np.ndarray) -> list[np.ndarray]:
    return [x] if x.ndim == 2 else [np.ascontiguousarray(x[..., c]) for c in range(x.shape[2])]


def _check_size(shape: tuple[int, ...], minimum: int) -> None:
    if min(shape[:2]) < minimum:
        raise UsageError(f"image {shape[1]}x{shape[0]} is too small for SSIM "
                         f"(needs at least {minimum} px a side)")


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """Mean SSIM (Wang et al. 2004), averaged over colour channels."""
    a, b = _pair(a, b)
    _check_size(a.shape, SSIM_WINDOW)
    pairs = zip(_channels(a), _channels(b), strict=True)
    return float(np.mean([_ssim_terms(ca, cb, data_range)[0] for ca, cb in pairs]))


def ms_ssim_scales(shape: tuple[int, ...], max_scales: int = len(MS_SSIM_WEIGHTS)) -> int:
    """How many MS-SSIM scales fit: the coarsest scale must still hold one 11x11 window.

    A 256x256 image (the paper's protocol) keeps all 5 scales (coarsest 16x16); smaller images drop the
    coarsest scales and use the first weights, renormalised to sum to one.
    """
    side = min(shape[:2])
    scales = 0
    while scales < max_scales and side >= SSIM_WINDOW:
        scales += 1
        side //= 2
    return scales


def _downsample(x: np.ndarray) -> np.ndarray:
    """2x2 box average then decimation (Wang 2003); an odd last row/column is dropped."""
    h, w = (x.shape[0] // 2) * 2, (x.shape[1] // 2) * 2
    x = x[:h, :w]
    return 0.25 * (x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2])


def _ms_ssim_channel(a: np.ndarray, b: np.ndarray, weights: np.ndarray, data_range: float) -> float:
    value = 1.0
    for level, weight in enumerate(weights):
        full, cs = _ssim_terms(a, b, data_range)
        last = level == len(weights) - 1
        term = full if last else cs
        # A negative mean term raised to a fractional power is undefined; clamp at 0 as the usual
        # implementations (e.g. pytorch-msssim's relu) do -- such a pair is completely dissimilar anyway.
        value *= max(term, 0.0) ** weight
        if not last:
            a, b = _downsample(a), _downsample(b)
    return value


def ms_ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """Multi-scale SSIM (Wang et al. 2003), computed per colour channel and averaged.

    Uses ``ms_ssim_scales`` scales: 5 for images of at least 176 px a side, fewer (weights renormalised)
    for smaller ones; with one scale it equals :func:`ssim`.
    """
    a, b = _pair(a, b)
    _check_size(a.shape, SSIM_WINDOW)
    scales = ms_ssim_scales(a.shape)
    weights = np.array(MS_SSIM_WEIGHTS[:scales], dtype=np.float64)
    weights /= weights.sum()
    return float(np.mean([_ms_ssim_channel(ca, cb, weights, data_range)
                          for ca, cb in zip(_channels(a), _channels(b), strict=True)]))


# --- PU21 ---------------------------------------------------------------------------------------------

# banding_glare parameters p1..p7 of Mantiuk & Azimi 2021 (gfxdisp/pu21, pu21_encoder): the fit the
# authors recommend for metrics. V = p7 * (((p1 + p2 Y^p4) / (1 + p3 Y^p4))^p5 - p6), Y in cd/m^2.
PU21_BANDING_GLARE = (0.353487901, 0.3734658629, 8.277049286e-05, 0.9062562627, 0.09150303166,
                      0.9099517204, 596.3148142)
PU21_L_MIN = 0.005  # cd/m^2, the encoding's valid range
PU21_L_MAX = 10000.0
PU21_PEAK = 256.0  # pu21_metric's PSNR peak and SSIM dynamic range (100 cd/m^2 encodes to about 256)
DEFAULT_PEAK_LUMINANCE = 1000.0  # cd/m^2: a typical HDR display's peak


def pu21_encode(luminance: np.ndarray) -> np.ndarray:
    """PU21 (banding + glare) code values of absolute luminance in cd/m^2, clamped to [0.005, 10000]."""
    p1, p2, p3, p4, p5, p6, p7 = PU21_BANDING_GLARE
    y = np.clip(np.asarray(luminance, dtype=np.float64), PU21_L_MIN, PU21_L_MAX)
    yp = np.power(y, p4)
    return np.maximum(p7 * (np.power((p1 + p2 * yp) / (1.0 + p3 * yp), p5) - p6), 0.0)


def scale_to_match(test: np.ndarray, reference: np.ndarray) -> float:
    """Factor k minimising the log-luminance difference between k * test and reference.

    Radiance maps merged from an LDR stack are known only up to a global scale (Debevec & Malik recover
    radiance relative to the EV 0 exposure), so test and reference are put on one scale before absolute
    metrics: k = exp(median(ln L_ref - ln L_test)) over pixels where both luminances are positive. The
    median keeps clipped or noisy pixels from dominating.
    """
    lt, lr = luminance(test), luminance(reference)
    valid = (lt > 0) & (lr > 0) & np.isfinite(lt) & np.isfinite(lr)
    if not np.any(valid):
        return 1.0
    return float(np.exp(np.median(np.log(lr[valid]) - np.log(lt[valid]))))


@dataclass(frozen=True)
class DisplayScaling:
    """How relative HDR values become absolute luminance for PU21: the reference's peak luminance is
    mapped to ``peak_luminance`` cd/m^2 (the pu21 authors' example maps the image peak to the display
    peak), and, with ``align``, the test is first scaled to the reference by :func:`scale_to_match`."""

    peak_luminance: float = DEFAULT_PEAK_LUMINANCE
    align: bool = True

    def apply(self, test: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        test = np.maximum(np.asarray(test, dtype=np.float64), 0.0)
        reference = np.maximum(np.asarray(reference, dtype=np.float64), 0.0)
        if self.align:
            test = test * scale_to_match(test, reference)
        peak = float(np.max(luminance(reference)))
        if not math.isfinite(peak) or peak <= 0:
            raise UsageError("reference HDR image has no positive luminance; cannot scale it for PU21")
        factor = self.peak_luminance / peak
        return test * factor, reference * factor


def pu21_psnr(test: np.ndarray, reference: np.ndarray, scaling: DisplayScaling = DisplayScaling()) -> float:
    """PU21-PSNR (dB) of two relative linear RGB HDR images: PU-encode each channel, PSNR with peak 256."""
    t, r = scaling.apply(*_pair(test, reference))
    return psnr(pu21_encode(t), pu21_encode(r), data_range=PU21_PEAK)


def pu21_ssim(test: np.ndarray, reference: np.ndarray, scaling: DisplayScaling = DisplayScaling()) -> float:
    """PU21-SSIM of two relative linear RGB HDR images: SSIM of PU-encoded luminance, dynamic range 256."""
    t, r = scaling.apply(*_pair(test, reference))
    return ssim(pu21_encode(luminance(t)), pu21_encode(luminance(r)), data_range=PU21_PEAK)


def hdrvdp2_q(test: np.ndarray, reference: np.ndarray, scaling: DisplayScaling = DisplayScaling(),
              viewing: ViewingSetup = DESKTOP_VIEWING) -> float:
    """HDR-VDP-2.2.1 Q (100 = identical) of two relative linear RGB HDR images.

    ``scaling`` puts them in cd/m^2 as for PU21 (test aligned to the reference, the reference's peak at
    1000 cd/m^2, a typical HDR display's); they are read as linear BT.709 RGB ('rgb-bt.709') seen at
    ``viewing.pixels_per_degree`` (32.5 for the default 24-inch 1920x1080 display at 0.5 m).
    """
    t, r = scaling.apply(*_pair(test, reference))
    return hdrvdp2(t, r, "rgb-bt.709", viewing.pixels_per_degree).Q


# --- ColorVideoVDP (optional) ---------------------------------------------------------------------------

class MetricUnavailable(CevrError):
    """An optional metric's package is not installed or cannot run here."""


def _import_pycvvdp():
    # pycvvdp imports torch.utils.cpp_extension, which logs a CUDA warning on every CPU-only machine.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    import pycvvdp

    return pycvvdp


def cvvdp_available() -> bool:
    """Whether the optional ``cvvdp`` package (ColorVideoVDP) can be imported."""
    try:
        _import_pycvvdp()
    except Exception:  # any import failure (missing package or a broken dependency) means unavailable
        return False
    return True


def cvvdp_hdr(test: np.ndarray, reference: np.ndarray, *, display: str = "standard_hdr_linear",
              scaling: DisplayScaling = DisplayScaling()) -> float:
    """ColorVideoVDP JOD score (10 = identical) of two relative linear RGB HDR images.

    Images are put on an absolute scale by ``scaling`` (peak 1000 cd/m^2 by default) and given to
    cvvdp as linear-light content on its ``standard_hdr_linear`` display model. Not HDR-VDP-2.
    """
    try:
        import torch

        pycvvdp = _import_pycvvdp()
    except Exception as exc:
        raise MetricUnavailable(
            f"ColorVideoVDP needs the optional 'cvvdp' package (pip install 'cevr[metrics]'); import failed: {exc}"
        ) from None
    t, r = scaling.apply(*_pair(test, reference))
    metric = pycvvdp.cvvdp(display_name=display, device=torch.device("cpu"))
    jod, _ = metric.predict(t.astype(np.float32), r.astype(np.float32), dim_order="HWC")
    return float(jod)


# --- the registry `cevr bench --metrics` names --------------------------------------------------------

def _toolbox_tonemap(operator: str, radiance: np.ndarray) -> np.ndarray:
    """Radiance tone-mapped as the paper's evaluation did: HDR Toolbox form, GammaTMO 2.2."""
    from ..hdr.tonemap import tonemap_to_display

    return tonemap_to_display(radiance, operator, toolbox=True)


@dataclass(frozen=True)
class Metric:
    """One named metric: ``score(test, reference)``, after ``display`` where the images are compared as shown.

    ``prepare`` is separate so that a reference is displayed once and scored against every prediction.
    """

    score: Callable[[np.ndarray, np.ndarray], float]
    display: Callable[[np.ndarray], np.ndarray] | None = None

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """The image as this metric compares it."""
        return image if self.display is None else self.display(image)

    def __call__(self, test: np.ndarray, prepared_reference: np.ndarray) -> float:
        return self.score(self.prepare(test), prepared_reference)


# Every name of vocabulary.LDR_METRICS and HDR_METRICS; LDR metrics take [0, 1] images, HDR ones radiance maps.
METRICS: dict[str, Metric] = {
    "psnr": Metric(psnr),
    "ssim": Metric(ssim),
    "ms_ssim": Metric(ms_ssim),
    "reinhard_psnr": Metric(psnr, partial(_toolbox_tonemap, "reinhard")),
    "kimkautz_psnr": Metric(psnr, partial(_toolbox_tonemap, "kimkautz")),
    "pu21_psnr": Metric(pu21_psnr),
    "pu21_ssim": Metric(pu21_ssim),
    "hdrvdp2": Metric(hdrvdp2_q),
    "cvvdp": Metric(cvvdp_hdr),
}


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and population standard deviation (ddof = 0), as the paper's +- figures; NaN when empty."""
    if len(values) == 0:
        return math.nan, math.nan
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std())
