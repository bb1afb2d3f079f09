"""What OpenCV reads from the environment when it is imported, checked without importing it."""

from __future__ import annotations

import os
import re

from ..errors import UsageError

PIXEL_LIMIT_VARIABLE = "OPENCV_IO_MAX_IMAGE_PIXELS"
_DEFAULT_PIXEL_LIMIT = 1 << 30  # OpenCV's default CV_IO_MAX_IMAGE_PIXELS


def check_pixel_limit_variable() -> None:
    """Refuse an ``OPENCV_IO_MAX_IMAGE_PIXELS`` that is not a whole number above 0: OpenCV reads it when it is
    imported and, for anything else ("", "-1", " 5", "lots"), aborts the process (SIGABRT, no message). The CLI
    runs it before any command; in the library, :mod:`cevr_cli.io.opencv` runs it before it imports OpenCV (other
    modules import OpenCV directly: a library user who sets the variable must set it as OpenCV reads it).

    Raises:
        UsageError: naming the variable, its value and what to do.
    """
    value = os.environ.get(PIXEL_LIMIT_VARIABLE)
    if value is not None and not _parsed(value):
        raise UsageError(f"{PIXEL_LIMIT_VARIABLE}={value!r}: OpenCV needs a whole number of pixels above 0, "
                         f"optionally with KB or MB (its default is {_DEFAULT_PIXEL_LIMIT}); unset it or give one")


# OpenCV's size parameters: ASCII digits and an optional KB/MB (any of three spellings), nothing around them.
_SIZE = re.compile(r"([0-9]+)(KB|Kb|kb|MB|Mb|mb)?")
_UNITS = {None: 1, "kb": 1024, "mb": 1024 * 1024}


def _parsed(value: str) -> int | None:
    match = _SIZE.fullmatch(value)
    if match is None:
        return None
    number = int(match[1]) * _UNITS[match[2].lower() if match[2] else None]
    return number if number > 0 else None


def pixel_limit() -> int:
    """The most pixels OpenCV's decoders accept: ``OPENCV_IO_MAX_IMAGE_PIXELS`` (default 2**30, about 1074 MP),
    read from the environment as OpenCV itself reads it."""
    return _parsed(os.environ.get(PIXEL_LIMIT_VARIABLE, "")) or _DEFAULT_PIXEL_LIMIT
