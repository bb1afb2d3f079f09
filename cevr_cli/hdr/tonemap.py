"""Tone-mapping operators by their CLI names, and display encoding."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import UsageError
from .kimkautz2008 import kimkautz2008
from .reinhard2002 import reinhard2002
from .tonemap_common import gamma_encode, srgb_encode

TONEMAPPERS: dict[str, Callable[..., np.ndarray]] = {
    "reinhard": lambda hdr, key=None, white=None: reinhard2002(hdr, key=key, white=white),
    "reinhard-local": lambda hdr, key=None, white=None: reinhard2002(hdr, key=key, white=white, local=True),
    "kimkautz": lambda hdr, key=None, white=None: kimkautz2008(hdr),
}


def tonemap_to_display(hdr: np.ndarray, operator: str, *, key: float | None = None, white: float | None = None,
                       gamma: float = 2.2, srgb: bool = False) -> np.ndarray:
    """Tone-map and encode for display: float32 in [0, 1]."""
    try:
        tmo = TONEMAPPERS[operator]
    except KeyError:
        raise UsageError(f"unknown tone mapper {operator!r}; use {', '.join(TONEMAPPERS)}") from None
    linear = tmo(hdr, key=key, white=white)
    return srgb_encode(linear) if srgb else gamma_encode(linear, gamma)
