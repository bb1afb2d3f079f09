"""Error types raised by the cevr library.

The CLI turns each of these into a one-line message and an exit code; library code never prints.
"""

from __future__ import annotations

from collections.abc import Iterable


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


class StackContentError(UsageError):
    """An exposure stack whose content leaves the response fit nothing to hold: every frame black or saturated, or
    none reaching mid-grey, where the fit is anchored. ``reason`` is the message without the advice it may end with
    (a benchmark, whose stacks are its predictions, names the scene instead)."""

    def __init__(self, reason: str, advice: str = "") -> None:
        self.reason = reason
        super().__init__(f"{reason} ({advice})" if advice else reason)


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
    """A batch's worker (a local process or a Ray actor) cannot start or run: the whole batch stops, a request that
    cannot run (exit 2; 1 says that inputs failed, each named, and the rest were made)."""

    exit_code = 2


def use_one_of(value: object, choices: Iterable[str]) -> str:
    """The end of an unknown-choice message: ``use one of a, b, c``, and the closest choice when the value looks
    like a misspelling of one (``kim-kautz`` -> ``did you mean kimkautz?``)."""
    from difflib import get_close_matches

    offered = list(choices)
    text = f"use one of {', '.join(offered)}"
    if isinstance(value, str):
        by_folded = {choice.lower().replace("-", "").replace("_", ""): choice for choice in offered}
        close = get_close_matches(value.lower().replace("-", "").replace("_", ""), list(by_folded), n=1, cutoff=0.75)
        if close:
            text += f" (did you mean {by_folded[close[0]]}?)"
    return text
