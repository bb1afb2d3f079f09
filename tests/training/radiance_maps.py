"""Small radiance maps for the training tests (importable by the worker processes they spawn)."""

import numpy as np


def radiance_map(seed: int, h: int = 48, w: int = 64) -> np.ndarray:
    """A smooth positive HDR image with texture, different for each seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / 16.0
    base = np.exp(2.0 * np.sin(x + seed) * np.cos(y) + rng.normal(0, 0.1, (h, w)))
    return np.stack([base, base * 0.8, base * 1.2], axis=-1).astype(np.float32)
