"""OpenCV image codecs through byte buffers, never path strings.

``cv2.imread``/``imwrite`` take the path as a UTF-8 string: a file name holding a byte that is not valid
UTF-8 (common on old camera cards and network shares) crashed the process inside OpenCV. Python opens
such names itself (``os.fsencode``); OpenCV only ever sees the bytes.

OpenCV's own log lines (``[ERROR:0@0.02] global loadsave.cpp ... imdecode_``) are switched off: every
decoding failure becomes cevr's one line naming the file instead.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

from ..errors import InputError
from .opencv_environment import check_pixel_limit_variable, pixel_limit

check_pixel_limit_variable()  # before OpenCV reads it: a bad value aborts the process

import cv2  # noqa: E402
import numpy as np  # noqa: E402

cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


def check_pixel_limit(path: Path, width: int, height: int) -> None:
    """Refuse, before decoding, an image whose header claims more pixels than OpenCV decodes.

    Raises:
        InputError: naming the size and the limit.
    """
    limit = pixel_limit()
    if width * height > limit:
        raise InputError(path, f"too large: {width}x{height} px ({width * height / 1e6:.3g} MP) is more than "
                               f"OpenCV decodes ({limit / 1e6:g} MP, see OPENCV_IO_MAX_IMAGE_PIXELS)")


@functools.cache
def orients_tiff() -> bool:
    """Whether OpenCV's TIFF decoder turns pixels upright by the TIFF Orientation tag (274) itself. OpenCV 5 does,
    even with ``IMREAD_UNCHANGED`` and ``IMREAD_IGNORE_ORIENTATION``, which its JPEG, PNG and WebP decoders honour;
    asked of this OpenCV once, with a 1x2 TIFF stored upside down, rather than assumed from its version."""
    import io

    import tifffile

    probe = io.BytesIO()
    tifffile.imwrite(probe, np.array([[0], [255]], np.uint8), photometric="minisblack",
                     extratags=[(274, "H", 1, 3, True)])  # 3: rotated 180 degrees
    decoded = cv2.imdecode(np.frombuffer(probe.getvalue(), np.uint8), cv2.IMREAD_UNCHANGED)
    return decoded is not None and int(decoded.reshape(-1)[0]) == 255


@functools.cache
def inverts_16_bit_min_is_white() -> bool:
    """Whether OpenCV's TIFF decoder gives a 16-bit grey TIFF stored MinIsWhite (PhotometricInterpretation 0: 0 is
    white) as light, as it does an 8-bit one; OpenCV 5.1 gives the stored codes, a negative. Asked of this OpenCV
    once, with a 1x1 TIFF storing 0, rather than assumed from its version."""
    import io

    import tifffile

    probe = io.BytesIO()
    tifffile.imwrite(probe, np.zeros((1, 1), np.uint16), photometric="miniswhite")
    decoded = cv2.imdecode(np.frombuffer(probe.getvalue(), np.uint8), cv2.IMREAD_UNCHANGED)
    return decoded is not None and int(decoded.reshape(-1)[0]) == 65535


def imread(path: Path, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray | None:
    """``cv2.imread`` of ``path``, or None where OpenCV cannot decode it (as ``cv2.imread``).

    Raises:
        InputError: where a decoder refuses the file outright (OpenCV raises instead of returning None).
    """
    with open(path, "rb") as fh:
        return decode(path, fh.read(), flags)


def decode(path: Path, data: bytes, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray | None:
    """``cv2.imdecode`` of ``data`` (the bytes of ``path``, or what a reader made of them), or None where OpenCV
    cannot decode it.

    Raises:
        InputError: naming ``path``, where a decoder refuses the data outright.
    """
    if not data:
        return None
    try:
        return cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    except cv2.error as exc:
        raise InputError(path, f"OpenCV cannot decode it ({_opencv_reason(exc)})") from None


def _opencv_reason(exc: cv2.error) -> str:
    """The condition of an OpenCV error (``... error: (-215:Assertion failed) pixels <= ... in function 'f'``)
    without the build path around it."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "error: (" in text:
        text = text.split("error: (", 1)[1].split(") ", 1)[-1]
    return text.split(" in function")[0]


def imencode(suffix: str, image: np.ndarray, params: Sequence[int] = ()) -> bytes | None:
    """The encoded file for ``suffix`` (".png", ".hdr", ...), or None where OpenCV cannot encode it; ``params``:
    OpenCV's ``IMWRITE_*`` pairs."""
    ok, buffer = cv2.imencode(suffix, image, list(params))
    return buffer.tobytes() if ok else None


def png_compression(level: int) -> tuple[int, int]:
    """``imencode``'s params for zlib ``level`` in a PNG."""
    return cv2.IMWRITE_PNG_COMPRESSION, level
