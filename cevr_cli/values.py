"""The values the stages pass: an exposure stack (stage 1's output) and an HDR image (stage 2's), one home.

Photo -> :class:`cevr_cli.exposure.MeasuredImage` -> :class:`ExposureStack` -> :class:`HDRImage` -> display.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import UsageError
from .evs import check_ev_values
from .imaging import CODE_TYPES
from .provenance import SourceMetadata


@dataclass
class ExposureStack:
    """Images of one scene at known EV steps (EV 0 = the photo), integer codes as written to disk."""

    images: list[np.ndarray]  # HxWx3 uint8 or uint16 RGB, sorted by EV
    evs: list[float]
    bit_depth: int
    source: SourceMetadata

    def __post_init__(self) -> None:
        """Raises: UsageError: images that are not ``bit_depth`` codes of one HxWx3 shape, or EVs not one each,
        ascending and finite (a NaN EV named a frame ``01_ev+nan.png``; 16-bit codes given as 8 wrote white PNGs;
        frames of two sizes made a stack folder that reading refuses)."""
        evs = check_ev_values(self.evs)
        if len(evs) != len(self.images) or evs != sorted(set(evs)):
            raise UsageError(f"a stack needs one image per EV, EVs distinct and ascending: {len(self.images)} "
                             f"images at EVs {evs}")
        dtype = CODE_TYPES.get(self.bit_depth)
        if dtype is None:
            raise UsageError(f"a stack's bit depth is 8 or 16, not {self.bit_depth}")
        wrong = next((image.dtype for image in self.images if np.asarray(image).dtype != dtype), None)
        if wrong is not None:
            raise UsageError(f"a {self.bit_depth}-bit stack holds {np.dtype(dtype).name} codes, not {wrong} "
                             "(imaging.quantise makes them)")
        shapes = sorted({np.shape(image) for image in self.images})
        if shapes and (len(shapes) > 1 or len(shapes[0]) != 3 or shapes[0][2] != 3 or 0 in shapes[0][:2]):
            raise UsageError(f"a stack's images are HxWx3 RGB of one size, not of shapes {', '.join(map(str, shapes))}")


@dataclass
class HDRImage:
    """Scene-linear Rec.709 radiance, how it was merged, and its source's metadata.

    ``response``: the Debevec & Malik curve recovered from a stack (``cevr_cli.hdr.debevec1997.ResponseCurve``),
    or, when the radiance is the photo's own measurement (:func:`cevr_cli.exposure.measured_radiance`), the known
    response it was read through in that form (:func:`cevr_cli.fuse.known_response_curve`); None only where the
    caller had no curve to give.
    """

    radiance: np.ndarray  # float32 HxWx3
    response: Any | None
    source: SourceMetadata
