"""The image pairs HDR-VDP-2 is checked on, shared by the golden generator and the test.

Each pair is built from a deterministic recipe (numpy's PCG64 generator with fixed seeds and closed-form
patterns), so the generator that ran the MATLAB reference and the test see bit-identical images.
Luminance spans 0.01 to 10,000 cd/m^2 across the scene (a log ramp left to right).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIZE = 128


@dataclass(frozen=True)
class Pair:
    name: str
    test: np.ndarray
    reference: np.ndarray
    encoding: str
    pixels_per_degree: float


def scene(size: int = SIZE, seed: int = 0) -> np.ndarray:
    """HxWx3 linear RGB in cd/m^2: log luminance ramp 0.01..10^4 with gratings, blocks and a tint."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / (size - 1)
    ramp = 10.0 ** (-2.0 + 6.0 * x)
    grating = 1.0 + 0.4 * np.sin(2 * np.pi * (9 * x + 3 * y)) * np.sin(2 * np.pi * 5 * y)
    blocks = np.kron(rng.random((size // 16, size // 16)), np.ones((16, 16)))
    texture = grating * (0.6 + 0.8 * blocks)
    tint = np.stack([1.0 + 0.2 * y, np.ones_like(y), 1.0 - 0.3 * y], axis=-1)
    return ramp[..., None] * texture[..., None] * tint


def box_blur(image: np.ndarray) -> np.ndarray:
    """3x3 mean, edge samples repeated."""
    padded = np.pad(image, ((1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = image.shape[:2]
    return sum(padded[i : i + h, j : j + w] for i in range(3) for j in range(3)) / 9.0


def pairs() -> list[Pair]:
    ref = scene()
    rng = np.random.default_rng(1)
    noise = ref * (1.0 + 0.2 * (rng.random(ref.shape) - 0.5))
    lum = ref[..., 1]
    faint = lum * (1.0 + 0.05 * (np.random.default_rng(2).random(lum.shape) - 0.5))
    odd = ref[:90, :77]  # sides that halve unevenly exercise the pyramid's borders
    odd_noise = odd * (1.0 + 0.1 * (np.random.default_rng(3).random(odd.shape) - 0.5))
    return [
        Pair("noise", noise, ref, "rgb-bt.709", 30.0),
        Pair("blur", box_blur(ref), ref, "rgb-bt.709", 30.0),
        Pair("tone-shift", ref**0.9, ref, "rgb-bt.709", 30.0),
        Pair("exposure-1EV", ref * 0.5, ref, "rgb-bt.709", 30.0),
        Pair("clipped-highlight", np.minimum(ref, 1000.0), ref, "rgb-bt.709", 30.0),
        Pair("identical", ref.copy(), ref, "rgb-bt.709", 30.0),
        Pair("faint-noise-luminance", faint, lum, "luminance", 45.0),
        Pair("noise-90x77-60ppd", odd_noise, odd, "rgb-bt.709", 60.0),
    ]
