"""Tone-mapping operators by their CLI names, and the display encoding that follows them."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..errors import UsageError, use_one_of
from ..options import is_number
from ..vocabulary import DISPLAY_GAMMA, DISPLAY_GAMMA_RANGE, TONEMAP_KEY_RANGE, TONEMAP_WHITE_RANGE
from .finite import finite_radiance
from .kimkautz2008 import kimkautz2008
from .reinhard2002 import reinhard2002
from .tonemap_common import gamma_encode, srgb_encode

Operator = Callable[[np.ndarray, float | None, float | None, bool], np.ndarray]


def _reinhard(hdr: np.ndarray, key: float | None, white: float | None, toolbox: bool) -> np.ndarray:
    return reinhard2002(hdr, key=key, white=white, toolbox=toolbox)


def _reinhard_local(hdr: np.ndarray, key: float | None, white: float | None, toolbox: bool) -> np.ndarray:
    return reinhard2002(hdr, key=key, white=white, local=True, toolbox=toolbox)


def _kimkautz(hdr: np.ndarray, key: float | None, white: float | None, toolbox: bool) -> np.ndarray:
    if key is not None or white is not None:
        raise UsageError("kimkautz takes no key or white point")
    return kimkautz2008(hdr, toolbox=toolbox)


# CLI name (one of vocabulary.TONE_MAPPERS) -> operator(hdr, key, white, toolbox) returning linear RGB.
TONEMAPPERS: dict[str, Operator] = {
    "reinhard": _reinhard,
    "reinhard-local": _reinhard_local,
    "kimkautz": _kimkautz,
}


def tonemap_to_display(hdr: np.ndarray, operator: str, *, key: float | None = None,
                       white: float | None = None, gamma: float = DISPLAY_GAMMA, srgb: bool = False,
                       toolbox: bool = False) -> np.ndarray:
    """Tone-map linear RGB with a named operator, then encode for display: float32 HxWx3 in [0, 1].

    Encoding is the toolbox's GammaTMO (``gamma``, 2.2 as in CEVR's evaluation) or, with ``srgb``,
    the sRGB transfer function. ``toolbox`` runs the operators exactly as the HDR Toolbox of CEVR's
    evaluation (for comparison with the paper; reinhard-local keeps its blur kernels centred, see
    ``reinhard2002.gaussian_fft``); the default is the photographers' form.

    Raises:
        UsageError: unknown operator, bad image, key, white or gamma.
    """
    try:
        tmo = TONEMAPPERS[operator]
    except KeyError:
        raise UsageError(f"unknown tone mapper {operator!r}: {use_one_of(operator, TONEMAPPERS)}") from None
    for name, value, bounds in (("key", key, TONEMAP_KEY_RANGE), ("white", white, TONEMAP_WHITE_RANGE),
                                ("gamma", gamma, DISPLAY_GAMMA_RANGE)):
        if value is not None and not (is_number(value) and bounds[0] <= value <= bounds[1]):
            raise UsageError(f"{name} {value!r}: a number from {bounds[0]:g} to {bounds[1]:g}")
    linear = tmo(hdr if toolbox else _units_near_one(hdr), key, white, toolbox)
    return srgb_encode(linear) if srgb else gamma_encode(linear, gamma)


def _units_near_one(hdr: np.ndarray) -> np.ndarray:
    """``hdr`` scaled so that its typical value (the geometric mean of its positive values) is 1 where that lies
    outside 1e-3 .. 1e3 (a float image; anything else as it is, for the operators' own checks).

    NaN and Inf are read as the operators read them (:mod:`cevr_cli.hdr.finite`), so an array holding them gives
    the picture its HDR file gives, which the reader makes finite first.

    Every operator reads the image's own key, so the picture should not depend on its units, but the fixed
    delta = 1e-6 in their logarithms does once the values approach it: an EXR stored in units 1e-8 of ours came out
    at mean code 34 (Reinhard) and 15 (Kim-Kautz) instead of 83. Within the range nothing changes (the papers'
    arithmetic, as the tests compute it by hand); the toolbox's form keeps the toolbox's arithmetic everywhere.
    """
    image = np.asarray(hdr)
    if image.dtype.kind != "f" or image.ndim < 2 or not image.size:
        return hdr
    # read from at most about _SAMPLE_PIXELS pixels spread over the image: the whole of a 24 MP image took 1.5 s, 40 %
    # of its tone mapping, for an order of magnitude; a non-finite value the sample misses stays where it is
    step = max(1, math.isqrt(image.shape[0] * image.shape[1] // _SAMPLE_PIXELS))
    sample = image[::step, ::step]
    if not np.isfinite(sample).all():  # read as the operators will see it (check_hdr): NaN 0, +Inf the brightest
        sample = finite_radiance(sample)[0]  # (returning the image unscaled darkened one in units 1e-8 to mean 50)
    positive = sample[sample > 0]
    if not positive.size:
        return hdr
    typical = float(np.exp(np.mean(np.log(positive, dtype=np.float64))))
    return hdr if _TYPICAL_RANGE[0] <= typical <= _TYPICAL_RANGE[1] else image / np.float32(typical)


_TYPICAL_RANGE = (1e-3, 1e3)  # typical values where delta = 1e-6 is negligible: brought to 1 outside it
_SAMPLE_PIXELS = 65536  # an image of up to this many pixels is read whole
