"""What OpenCV reads from the environment when it is imported, checked without importing it."""

from __future__ import annotations

import os

from ..errors import UsageError

PIXEL_LIMIT_VARIABLE = "OPENCV_IO_MAX_IMAGE_PIXELS"
_DEFAULT_PIXEL_LIMIT = 1 << 30  # OpenCV's default CV_IO_MAX_IMAGE_PIXELS


def check_pixel_limit_variable() -> None:
    """Refuse an ``OPENCV_IO_MAX_IMAGE_PIXELS`` that is not a whole number above 0: OpenCV reads it when it is
    imported and, for anything else ("", "-1", "lots"), aborts the process (SIGABRT, no message). Run before
    :mod:`cevr_cli.io.opencv` imports OpenCV, and by the CLI before any command.

    Raises:
        UsageError: naming the variable, its value and what to do.
    """
    value = os.environ.get(PIXEL_LIMIT_VARIABLE)
    if value is not None and not (value.strip().isdecimal() and int(value) > 0):
        raise UsageError(f"{PIXEL_LIMIT_VARIABLE}={value!r}: OpenCV needs a whole number of pixels above 0 (its "
                         f"default is {_DEFAULT_PIXEL_LIMIT}); unset it or give one")


def pixel_limit() -> int:
    """The most pixels OpenCV's decoders accept: ``OPENCV_IO_MAX_IMAGE_PIXELS`` (default 2**30, about 1074 MP),
    read from the environment as OpenCV itself reads it."""
    value = os.environ.get(PIXEL_LIMIT_VARIABLE, "")
    return int(value) if value.strip().isdecimal() else _DEFAULT_PIXEL_LIMIT
