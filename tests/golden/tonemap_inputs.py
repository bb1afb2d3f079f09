"""The HDR images the tone mappers are pinned on, shared by the golden generator and the test.

Each image comes from a closed-form recipe plus numpy's PCG64 generator with a fixed seed, so the generator
that ran the HDR Toolbox under Octave and the test see bit-identical float64 arrays. They are small (the
golden JSON stores every pixel's output luminance) but cover what the operators branch on: several decades
of range, a few hot pixels above the 99th percentile, black pixels (0/0 in ChangeLuminance), saturated
colours, and an odd size (the toolbox's FFT kernel then sits half a pixel off the grid).
"""

from __future__ import annotations

import numpy as np


def gradient() -> np.ndarray:
    """16x24: luminance 0.01..100 left to right (a log ramp), a gentle vertical ripple, a slight warm tint."""
    y, x = np.mgrid[0:16, 0:24].astype(np.float64)
    lum = 10.0 ** (-2.0 + 4.0 * x / 23.0) * (1.0 + 0.3 * np.sin(2 * np.pi * y / 16.0))
    tint = np.array([1.1, 1.0, 0.85])
    return lum[..., None] * tint


def bright_spot() -> np.ndarray:
    """32x48: a dim textured room (0.02..0.6) with a window (~30) and a lamp peaking at 5000, grey-ish."""
    rng = np.random.default_rng(11)
    y, x = np.mgrid[0:32, 0:48].astype(np.float64)
    blocks = np.kron(rng.random((8, 12)), np.ones((4, 4)))
    room = 0.02 + 0.58 * blocks * (0.7 + 0.3 * rng.random((32, 48)))
    window = np.where((y >= 4) & (y < 14) & (x >= 30) & (x < 44), 30.0 * (1.0 + 0.2 * np.sin(x)), 0.0)
    lamp = 5000.0 * np.exp(-((y - 22.0) ** 2 + (x - 10.0) ** 2) / 3.0)
    lum = room + window + lamp
    colour = 1.0 + 0.15 * (rng.random((32, 48, 3)) - 0.5)
    return lum[..., None] * colour


def colour() -> np.ndarray:
    """20x28: a hue wheel of saturated colours, intensity over four decades, and five black pixels."""
    rng = np.random.default_rng(12)
    y, x = np.mgrid[0:20, 0:28].astype(np.float64)
    hue = 2 * np.pi * (x / 28.0 + y / 40.0)
    rgb = np.stack([np.cos(hue + k * 2 * np.pi / 3) for k in range(3)], axis=-1)
    rgb = np.maximum(rgb, 0.0) ** 2 + 0.02
    intensity = 10.0 ** (-1.0 + 4.0 * rng.random((20, 28)))
    image = rgb * intensity[..., None]
    for r, c in ((0, 0), (3, 17), (10, 5), (19, 27), (12, 20)):
        image[r, c] = 0.0
    image[7, 9] = (200.0, 0.0, 0.0)  # a pure primary
    return image


def odd() -> np.ndarray:
    """15x21: log-uniform noise over three decades with a bluish tint."""
    rng = np.random.default_rng(13)
    lum = 10.0 ** (-1.5 + 3.0 * rng.random((15, 21)))
    return lum[..., None] * np.array([0.8, 1.0, 1.3])


def inputs() -> dict[str, np.ndarray]:
    """Name -> HxWx3 float64 linear RGB."""
    return {"gradient": gradient(), "bright-spot": bright_spot(), "colour": colour(), "odd": odd()}
