"""What the libraries cevr calls say on stderr, routed: as cevr's own warning lines, and nothing under --quiet.

Pillow, tifffile, rawpy and torch speak through Python's ``warnings`` and ``logging``; those become
``warning: ...`` lines (none when quiet). libpng (inside OpenCV's decoders) and LibRaw print with C's
``fprintf(stderr)``, which no Python setting reaches (OpenCV's log level does not govern libpng): under
--quiet the process's file descriptor 2 goes to the null device, while Python's ``sys.stderr``, where
cevr's errors are printed, keeps writing to the real stderr through a copy of it.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from typing import Any

from .common import say


def show_warning(text: str) -> None:
    """One ``warning:`` line on stderr, as the batch progress prints cevr's own warnings."""
    say(text, "warning", "yellow")


class _LogWarnings(logging.Handler):
    """Library log records (tifffile logs what it finds odd in a file) as warning lines, naming the photo being
    decoded (:func:`cevr_cli.io.images.log_warning_text`); none when quiet."""

    quiet = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.quiet:
            from ..io.images import log_warning_text

            show_warning(log_warning_text(record))


_LOG_HANDLER = _LogWarnings(logging.WARNING)


def _python_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                    file: Any = None, line: str | None = None) -> None:
    """A Python warning as a warning line; one raised while a photo is decoded in this thread names the photo."""
    from ..io.images import warning_text

    show_warning(warning_text(message))


def route_library_noise(quiet: bool) -> None:
    """Route the libraries' warnings and log records to cevr's warning lines, or drop them (``quiet``), and
    under ``quiet`` keep C libraries' messages off stderr. Repeated calls are harmless."""
    if quiet:
        warnings.simplefilter("ignore")
        _silence_c_stderr()
    else:
        warnings.showwarning = _python_warning
    _LOG_HANDLER.quiet = quiet
    root = logging.getLogger()
    if _LOG_HANDLER not in root.handlers:
        root.addHandler(_LOG_HANDLER)


def _silence_c_stderr() -> None:
    """Point file descriptor 2 at the null device and ``sys.stderr`` at a copy of the old descriptor 2.

    Nothing is done when ``sys.stderr`` is not descriptor 2: a test runner's capture, or an earlier call.
    """
    try:
        if sys.stderr.fileno() != 2:
            return
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError and a ValueError
        return
    sys.stderr.flush()
    stderr = os.fdopen(os.dup(2), "w", encoding=sys.stderr.encoding, errors=sys.stderr.errors, buffering=1)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    sys.stderr = stderr
