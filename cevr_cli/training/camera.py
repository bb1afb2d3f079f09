"""The synthetic camera: exposure brackets of real HDR radiance maps, with exact ground truth at any EV.

An LDR photo at exposure value step ``ev`` is modelled as a camera would make it: scene radiance times
an exposure scale times ``2**ev``, sensor noise (Poisson-Gaussian, in linear light), clipping at
saturation, a camera response curve, and 8-bit quantisation (optionally JPEG). Because the radiance is
known, the ground truth at any ``ev`` -- including between integer steps -- is rendered the same way.

Camera responses come from the sigmoid family that Eilertsen et al. fitted to the DoRF database of
measured camera curves ("HDR image reconstruction from a single exposure using deep CNNs",
SIGGRAPH Asia 2017): ``f(x) = (1 + sigma) x^n / (x^n + sigma)``, n ~ N(0.9, 0.1), sigma ~ N(0.6, 0.1);
plus the sRGB curve and plain gammas, which many JPEG pipelines approximate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..hdr.tonemap_common import MIDDLE_GREY, log_average
from ..imaging import luminance, quantise, srgb_decode, srgb_encode


@dataclass(frozen=True)
class CameraResponse:
    """A monotone curve from [0, 1] linear sensor values to [0, 1] encoded pixel values."""

    kind: str  # "sigmoid" (Eilertsen 2017), "srgb" or "gamma"
    n: float = 0.9
    sigma: float = 0.6
    gamma: float = 2.2

    def apply(self, x: np.ndarray) -> np.ndarray:
        x = np.clip(x, 0.0, 1.0)
        if self.kind == "sigmoid":
            xn = np.power(x, self.n)
            return ((1.0 + self.sigma) * xn / (xn + self.sigma)).astype(np.float32)
        if self.kind == "srgb":
            return srgb_encode(x)
        return np.power(x, 1.0 / self.gamma).astype(np.float32)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        y = np.clip(y, 0.0, 1.0)
        if self.kind == "sigmoid":
            ratio = self.sigma * y / np.maximum(1.0 + self.sigma - y, 1e-6)
            return np.power(ratio, 1.0 / self.n).astype(np.float32)
        if self.kind == "srgb":
            return srgb_decode(y)
        return np.power(y, self.gamma).astype(np.float32)


def sample_sigmoid(rng: np.random.Generator) -> CameraResponse:
    """An Eilertsen-2017 sigmoid fit of a measured curve: n ~ N(0.9, 0.1) in [0.6, 1.2], sigma ~ N(0.6, 0.1) in
    [0.3, 0.9]."""
    return CameraResponse("sigmoid", n=float(np.clip(rng.normal(0.9, 0.1), 0.6, 1.2)),
                          sigma=float(np.clip(rng.normal(0.6, 0.1), 0.3, 0.9)))


def sample_response(rng: np.random.Generator) -> CameraResponse:
    """A random camera: half sigmoid fits of measured curves, a quarter sRGB, a quarter gamma 1.8-2.6."""
    u = rng.random()
    if u < 0.5:
        return sample_sigmoid(rng)
    if u < 0.75:
        return CameraResponse("srgb")
    return CameraResponse("gamma", gamma=float(rng.uniform(1.8, 2.6)))


def auto_exposure_scale(radiance: np.ndarray, key: float = MIDDLE_GREY) -> float:
    """Scale that maps the log-average luminance (Reinhard et al. 2002, Eq. 1) to ``key``, middle grey by default,
    like a camera's averaging meter."""
    return key / max(log_average(luminance(radiance, np.float32)), 1e-9)


@dataclass(frozen=True)
class Noise:
    """Poisson-Gaussian sensor noise on linear values: variance = shot * x + read**2."""

    shot: float = 0.0
    read: float = 0.0

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.shot == 0.0 and self.read == 0.0:
            return x
        std = np.sqrt(self.shot * np.clip(x, 0.0, None) + self.read**2)
        return (x + std * rng.standard_normal(x.shape).astype(np.float32)).astype(np.float32)


def sample_noise(rng: np.random.Generator) -> Noise:
    """Log-uniform shot and read noise spanning clean to high-ISO phone-like sensors."""
    return Noise(shot=float(10 ** rng.uniform(-5.0, -3.0)), read=float(10 ** rng.uniform(-4.0, -2.7)))


def render_ldr(
    radiance: np.ndarray,
    ev: float,
    response: CameraResponse,
    *,
    exposure_scale: float,
    noise: Noise | None = None,
    rng: np.random.Generator | None = None,
    bits: int | None = 8,
    jpeg_quality: int | None = None,
) -> np.ndarray:
    """The photo a camera with ``response`` takes of ``radiance`` at ``ev`` stops from the base exposure.

    Returns float32 HxWx3 in [0, 1], quantised to ``bits`` (None: no quantisation).
    """
    linear = radiance.astype(np.float32) * np.float32(exposure_scale * 2.0**ev)
    if noise is not None:
        linear = noise.apply(linear, rng or np.random.default_rng())
    encoded = response.apply(linear)
    if jpeg_quality is not None:
        return _jpeg_roundtrip(encoded, jpeg_quality)
    if bits is not None:
        encoded = quantise(encoded, bits) / np.float32(2**bits - 1)
    return encoded.astype(np.float32)


def _jpeg_roundtrip(encoded: np.ndarray, quality: int) -> np.ndarray:
    import cv2

    bgr = quantise(encoded[..., ::-1], 8)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("OpenCV failed to encode a JPEG in memory")
    return (cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255.0).copy()


@dataclass
class SyntheticScene:
    """A radiance map plus the camera that photographs it; ``photo(ev)`` renders the bracket."""

    name: str
    radiance: np.ndarray
    response: CameraResponse
    exposure_scale: float
    noise: Noise | None = None
    seed: int = 0

    def photo(self, ev: float, *, with_noise: bool = True, bits: int | None = 8) -> np.ndarray:
        rng = np.random.default_rng((self.seed, int(round(ev * 1000)) + 10_000))
        return render_ldr(
            self.radiance, ev, self.response, exposure_scale=self.exposure_scale,
            noise=self.noise if with_noise else None, rng=rng, bits=bits,
        )


def make_scene(name: str, radiance: np.ndarray, seed: int, *, noisy: bool = True) -> SyntheticScene:
    """A reproducible camera for ``radiance``: the same seed always gives the same bracket."""
    rng = np.random.default_rng(seed)
    response = sample_response(rng)
    noise = sample_noise(rng) if noisy else None
    return SyntheticScene(name, radiance, response, auto_exposure_scale(radiance), noise, seed)
