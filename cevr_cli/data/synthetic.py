"""Synthetic exposure brackets from real HDR radiance maps, with exact ground truth at any EV.

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

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

LUMA_709 = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


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
            return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)
        return np.power(x, 1.0 / self.gamma).astype(np.float32)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        y = np.clip(y, 0.0, 1.0)
        if self.kind == "sigmoid":
            ratio = self.sigma * y / np.maximum(1.0 + self.sigma - y, 1e-6)
            return np.power(ratio, 1.0 / self.n).astype(np.float32)
        if self.kind == "srgb":
            return np.where(y <= 0.04045, y / 12.92, np.power((y + 0.055) / 1.055, 2.4)).astype(np.float32)
        return np.power(y, self.gamma).astype(np.float32)


def sample_response(rng: np.random.Generator) -> CameraResponse:
    """A random camera: half sigmoid fits of measured curves, a quarter sRGB, a quarter gamma 1.8-2.6."""
    u = rng.random()
    if u < 0.5:
        return CameraResponse("sigmoid", n=float(np.clip(rng.normal(0.9, 0.1), 0.6, 1.2)),
                              sigma=float(np.clip(rng.normal(0.6, 0.1), 0.3, 0.9)))
    if u < 0.75:
        return CameraResponse("srgb")
    return CameraResponse("gamma", gamma=float(rng.uniform(1.8, 2.6)))


def luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb @ LUMA_709


def auto_exposure_scale(radiance: np.ndarray, key: float = 0.18) -> float:
    """Scale that maps the log-average luminance to ``key``, like a camera's averaging meter."""
    lum = luminance(radiance)
    log_avg = math.exp(float(np.mean(np.log(lum + 1e-6))))
    return key / max(log_avg, 1e-9)


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
        levels = float(2**bits - 1)
        encoded = np.round(encoded * levels) / levels
    return encoded.astype(np.float32)


def _jpeg_roundtrip(encoded: np.ndarray, quality: int) -> np.ndarray:
    import cv2

    bgr = np.round(np.clip(encoded, 0, 1)[..., ::-1] * 255).astype(np.uint8)
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


RADIANCE_SUFFIXES = (".exr", ".hdr")


def find_radiance_maps(folders: str | Path | Sequence[str | Path]) -> list[Path]:
    """Radiance maps (.exr/.hdr) in one or more folders, sorted by name."""
    paths = []
    for folder in [folders] if isinstance(folders, str | Path) else folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise InputError(folder, "not a folder of radiance maps (.exr/.hdr)")
        found = [p for p in folder.iterdir() if p.suffix.lower() in RADIANCE_SUFFIXES and not p.name.startswith(".")]
        if not found:
            raise InputError(folder, "no .exr or .hdr radiance maps found")
        paths += found
    return sorted(paths, key=lambda p: p.name)


# The fixed validation scenes of ../shared/data (OpenEXR samples + Poly Haven panoramas), never trained on.
# The three OpenEXR scenes are the ones the 7db9fb03a5c9 release held out, so both pairs compare on unseen data.
VALIDATION_SCENES: dict[str, str] = {
    "Bonita": "outdoor, day (OpenEXR)",
    "CrissyField": "outdoor, overcast, wide range (OpenEXR)",
    "MtTamWest": "outdoor landscape, sunlit (OpenEXR)",
    "noon_grass": "outdoor, sun in frame (Poly Haven)",
    "sunset": "outdoor, low sun in frame (Poly Haven)",
    "dikhololo_night": "night sky, outdoor (Poly Haven)",
    "st_fagans_interior": "indoor, windows (Poly Haven)",
    "lab": "indoor, lamps (Poly Haven)",
    "brown_photostudio_02": "indoor studio, softboxes (Poly Haven)",
}


def split_scenes(paths: list[Path], val_every: int = 4, offset: int = 1) -> tuple[list[Path], list[Path]]:
    """Train/validation split by scene, never by crop.

    Scenes named in ``VALIDATION_SCENES`` validate when any is present; otherwise (a user's own folder)
    every ``val_every``-th scene by sorted name does.
    """
    ordered = sorted(paths, key=lambda p: p.name)
    val = [p for p in ordered if p.stem in VALIDATION_SCENES]
    if not val:
        val = [p for i, p in enumerate(ordered) if i % val_every == offset]
    train = [p for p in ordered if p not in val]
    return train, val


def fit_long_side(image: np.ndarray, long_side: int | None) -> np.ndarray:
    """Downscale (area filter) so the long side is at most ``long_side``; never upscales."""
    import cv2

    if long_side is None or max(image.shape[:2]) <= long_side:
        return image
    scale = long_side / max(image.shape[:2])
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def load_radiance(path: Path, long_side: int | None = None) -> np.ndarray:
    """Read a radiance map as float32 RGB, optionally downscaled."""
    from ..io.hdrfile import read_hdr_image

    return fit_long_side(read_hdr_image(path), long_side)


def make_scene(name: str, radiance: np.ndarray, seed: int, *, noisy: bool = True) -> SyntheticScene:
    """A reproducible camera for ``radiance``: the same seed always gives the same bracket."""
    rng = np.random.default_rng(seed)
    response = sample_response(rng)
    noise = sample_noise(rng) if noisy else None
    return SyntheticScene(name, radiance, response, auto_exposure_scale(radiance), noise, seed)
