"""The values the stages pass: an exposure stack (stage 1's output) and an HDR image (stage 2's), one home.

Photo -> :class:`cevr_cli.exposure.MeasuredImage` -> :class:`ExposureStack` -> :class:`HDRImage` -> display.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .provenance import SourceMetadata


@dataclass
class ExposureStack:
    """Images of one scene at known EV steps (EV 0 = the photo), integer codes as written to disk."""

    images: list[np.ndarray]  # HxWx3 uint8 or uint16 RGB, sorted by EV
    evs: list[float]
    bit_depth: int
    source: SourceMetadata


@dataclass
class HDRImage:
    """Scene-linear Rec.709 radiance, how it was merged, and its source's metadata.

    ``response``: the Debevec & Malik curve recovered from a stack (``cevr_cli.hdr.debevec1997.ResponseCurve``),
    or None when the radiance is the photo's own measurement (:func:`cevr_cli.exposure.measured_radiance`).
    """

    radiance: np.ndarray  # float32 HxWx3
    response: Any | None
    source: SourceMetadata
