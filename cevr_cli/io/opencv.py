"""OpenCV image codecs through byte buffers, never path strings.

``cv2.imread``/``imwrite`` take the path as a UTF-8 string: a file name holding a byte that is not valid
UTF-8 (common on old camera cards and network shares) crashed the process inside OpenCV. Python opens
such names itself (``os.fsencode``); OpenCV only ever sees the bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np


def imread(path: Path, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray | None:
    """``cv2.imread`` of ``path``, or None where OpenCV cannot decode it (as ``cv2.imread``)."""
    with open(path, "rb") as fh:
        data = np.frombuffer(fh.read(), dtype=np.uint8)
    if data.size == 0:
        return None
    return cv2.imdecode(data, flags)


def imencode(suffix: str, image: np.ndarray, params: Sequence[int] = ()) -> bytes | None:
    """The encoded file for ``suffix`` (".png", ".hdr", ...), or None where OpenCV cannot encode it; ``params``:
    OpenCV's ``IMWRITE_*`` pairs."""
    ok, buffer = cv2.imencode(suffix, image, list(params))
    return buffer.tobytes() if ok else None


def png_compression(level: int) -> tuple[int, int]:
    """``imencode``'s params for zlib ``level`` in a PNG."""
    return cv2.IMWRITE_PNG_COMPRESSION, level
