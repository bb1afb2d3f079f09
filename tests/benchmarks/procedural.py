"""A procedural high-dynamic-range scene, made from formulas, for the benchmark scripts (no data files needed).

Sky with a sun (very bright), a window-like light panel, a ground plane with texture, coloured spheres
with soft shading and shadows: a dynamic range of about 17 stops, enough that any single exposure clips
somewhere.
"""

from __future__ import annotations

import numpy as np


def procedural_radiance(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Scene-linear float32 RGB radiance, HxWx3."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = x / width, y / height
    horizon = 0.55
    sky = np.stack([0.35 + 0.4 * v, 0.55 + 0.35 * v, 1.0 + 0.0 * v], axis=-1) * (2.0 + 6.0 * (1 - v))[..., None]
    sun_d2 = (u - 0.78) ** 2 + ((v - 0.18) * height / width) ** 2
    sky += (4000.0 * np.exp(-sun_d2 / 2e-4) + 40.0 * np.exp(-sun_d2 / 4e-3))[..., None] * np.array([1.0, 0.95, 0.85])
    texture = 0.6 + 0.4 * np.sin(40 * u + 6 * np.sin(25 * v)) * np.cos(30 * v)
    noise = rng.random((height // 8 + 1, width // 8 + 1)).astype(np.float32)
    noise = np.kron(noise, np.ones((8, 8), np.float32))[:height, :width]
    ground = np.stack([0.35, 0.28, 0.18]) * (texture * (0.7 + 0.3 * noise))[..., None] * 1.5
    image = np.where((v < horizon)[..., None], sky, ground).astype(np.float32)
    # A dim interior panel with a bright window in it.
    panel = (u > 0.05) & (u < 0.32) & (v > 0.25) & (v < 0.9)
    image[panel] = np.array([0.05, 0.045, 0.04]) * (1 + 0.3 * np.sin(60 * v[panel]))[..., None]
    window = (u > 0.1) & (u < 0.2) & (v > 0.35) & (v < 0.55)
    image[window] = np.array([60.0, 58.0, 50.0])
    for cx, cy, r, colour in ((0.45, 0.7, 0.09, (0.8, 0.15, 0.1)), (0.62, 0.75, 0.07, (0.1, 0.5, 0.9)),
                              (0.85, 0.72, 0.1, (0.9, 0.85, 0.2))):
        d2 = ((u - cx) / r) ** 2 + ((v - cy) * height / width / r) ** 2
        inside = d2 < 1
        shade = np.clip(0.25 + 0.75 * np.sqrt(np.clip(1 - d2, 0, 1)) * (1 - (u - cx) / r * 0.5), 0.05, None)
        du, dv = (u - cx + 0.3 * r) / r, (v - cy + 0.3 * r * width / height) / r
        highlight = 30.0 * np.exp(-(du**2 + dv**2) / 0.01)
        image[inside] = (np.array(colour) * shade[inside][..., None] * 2.0 + highlight[inside][..., None])
        shadow = (((u - cx - 0.5 * r) / (1.6 * r)) ** 2 + ((v - cy - 1.1 * r * width / height) / (0.4 * r)) ** 2) < 1
        image[shadow & ~inside & (v > horizon)] *= 0.25
    return np.clip(image, 1e-4, None).astype(np.float32)
