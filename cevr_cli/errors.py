"""Error types raised by the cevr library.

The CLI turns each of these into a one-line message and an exit code; library code never prints.
"""

from __future__ import annotations


class CevrError(Exception):
    """Base class of every error the cevr library raises on purpose."""

    exit_code = 1


class InputError(CevrError):
    """An input file cannot be used: unreadable, truncated, wrong format, too small or too large."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class UsageError(CevrError):
    """The request itself is wrong (bad EV list, unknown option value)."""

    exit_code = 2


class WeightsError(CevrError):
    """Weights missing, of the wrong format version, or not matching the model configuration.

    Exit code 2, as a usage error: no input was touched, the request itself must change.
    """

    exit_code = 2


class OutputError(CevrError):
    """An output cannot be written (would overwrite an input, an unwritable folder, disk error).

    Exit code 2 when it stops a command before any input is touched; inside a batch it fails that input.
    """

    exit_code = 2


class WorkerError(CevrError):
    """A batch's worker (a local process or a Ray actor) cannot start or run: the whole batch stops."""
