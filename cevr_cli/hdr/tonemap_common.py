"""Helpers shared by the tone-mapping operators, as Banterle's HDR Toolbox defines them."""

from __future__ import annotations

import numpy as np

LUMA_709 = np.array([0.2126, 0.7152, 0.0722], dtype=np.float64)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Linear Rec.709 luminance."""
    return rgb.astype(np.float64) @ LUMA_709


def log_average(lum: np.ndarray, delta: float = 1e-6) -> float:
    """exp(mean(ln(L + delta)))."""
    return float(np.exp(np.mean(np.log(lum + delta))))


def percentile_nearest_rank(values: np.ndarray, p: float) -> float:
    """The toolbox's percentile: sorted ascending, element at 1-based index max(round(n p), 1)."""
    flat = np.sort(values, axis=None)
    index = max(int(np.floor(flat.size * p + 0.5)), 1)  # MATLAB round: half away from zero
    return float(flat[min(index, flat.size) - 1])


def change_luminance(rgb: np.ndarray, old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """out_c = rgb_c * new / old per channel, NaN/Inf set to 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = rgb.astype(np.float64) * (new / old)[..., None]
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def gamma_encode(linear: np.ndarray, gamma: float = 2.2, fstop: float = 0.0) -> np.ndarray:
    """The toolbox's GammaTMO: clamp((2^fstop x)^(1/gamma), 0, 1)."""
    scaled = np.clip(linear * 2.0**fstop, 0.0, None)
    return np.clip(scaled ** (1.0 / gamma), 0.0, 1.0).astype(np.float32)


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB transfer function, clamped to [0, 1]."""
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)
