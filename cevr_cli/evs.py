"""EV lists: ``-3:3:0.5`` ranges and ``-2,-1,1,2`` lists, and the paper's two stacks."""

from __future__ import annotations

import math
from collections.abc import Iterable

from .errors import UsageError

CONTINUOUS_STACK = "-3:3:0.5"  # the paper's "continuous stack", 13 images
PREDEFINED_STACK = "-3:3:1"  # integer EVs, 7 images
MAX_EVS = 121  # images per photo; more is a typo (e.g. a step of 0.001), not a stack
MAX_ABS_EV = 6.0  # stops either way; beyond, one photo holds too little of the scene to re-expose


def parse_evs(spec: str) -> list[float]:
    """Parse ``start:stop:step`` (inclusive of stop) or a comma list (no empty item: ``1,,2`` and ``1,2,`` are
    typos, :func:`comma_list`); sorted, unique, rounded to 1e-6."""
    text = spec.strip()
    if not text:
        raise UsageError("empty EV list")
    shown = _shown(spec)
    try:
        if ":" in text:
            parts = [ev_number(p) for p in text.split(":")]
            start, stop, step = parts  # ValueError (read as a bad list) unless three numbers
            if not all(math.isfinite(v) for v in parts):
                raise UsageError(f"EV list {shown} has a non-finite value")
            if step <= 0 or stop < start:
                raise UsageError(f"EV range {shown}: need start <= stop and a positive step")
            span = (stop - start) / step  # counted before any list is built: 0:3:1e-9 must not fill the memory
            if not math.isfinite(span):
                raise _too_many(shown, "endless")
            count = math.floor(span + 1e-9) + 1
            if count > MAX_EVS:
                raise _too_many(shown, f"{count:.3g}" if count >= 10**6 else str(count))
            values = [start + i * step for i in range(count)]
        else:
            values = comma_list(text, f"EV list {shown}")
    except ValueError:
        raise UsageError(f"cannot read EV list {shown}: use start:stop:step (e.g. -3:3:0.5) or a comma list") from None
    if not values:
        raise UsageError(f"EV list {shown} holds no numbers")
    if len(values) > MAX_EVS:
        raise _too_many(shown, str(len(values)))
    if any(not math.isfinite(v) for v in values):
        raise UsageError(f"EV list {shown} has a non-finite value")
    evs = sorted({round(v, 6) + 0.0 for v in values})
    if max(abs(v) for v in evs) > MAX_ABS_EV:
        raise UsageError(f"EV list {shown}: steps beyond +-{MAX_ABS_EV:g} EV are outside what the model can do")
    clash = label_clash(evs)
    if clash is not None:
        raise UsageError(f"EV list {shown}: {clash[0]:g} and {clash[1]:g} are one EV to 0.01 stop, as frames are "
                         "named; give EVs at least 0.01 apart")
    return evs


def comma_list(text: str, what: str) -> list[float]:
    """The numbers of a comma list (``-2,-1,1,2``; spaces around them allowed); none for a list of no numbers
    at all (``,``), which the caller names.

    Raises:
        UsageError: an empty item (``1,,2``, ``1,2,``): a number left out by mistake, not skipped, as a range
            (``1:2``) is not read either; ``what`` names the list (``EV list '1,,2'``).
        ValueError: an item that is not a number (:func:`ev_number`).
    """
    items = [item.strip() for item in text.split(",")]
    if not any(items):
        return []
    if not all(items):
        raise UsageError(f"{what}: an empty item (two commas in a row, or one at an end): give a number between "
                         "every two commas, e.g. -2,-1,1,2")
    return [ev_number(item) for item in items]


def ev_number(text: str) -> float:
    """One number of an EV list or range: ``float(text)``, but not where it holds ``_`` (Python reads ``1_0`` as 10,
    a typo taken for ten stops).

    Raises:
        ValueError: not a number, or one written with ``_``.
    """
    if "_" in text:
        raise ValueError(f"{text!r}: digits grouped with _")
    return float(text)


def ev_label(ev: float) -> str:
    """An EV to the hundredth of a stop, as frames are named and manifests key them (``-2.00``, ``+0.50``); a step
    that rounds to zero is ``+0.00`` whatever its sign."""
    return f"{round(ev, 2) + 0.0:+.2f}"


def label_clash(evs: Iterable[float]) -> tuple[float, float] | None:
    """Two of ``evs`` that share an :func:`ev_label` (frames are named to the hundredth of a stop,
    ``00_ev+1.00.png``), in ascending order; None when every EV has its own."""
    ordered = sorted(evs)
    return next(((a, b) for a, b in zip(ordered, ordered[1:], strict=False) if ev_label(a) == ev_label(b)), None)


def check_ev_values(evs: Iterable[float], *, at_least_one: bool = False) -> list[float]:
    """The EV steps a library caller gives a predictor, as floats in their order: each a finite number within
    +-:data:`MAX_ABS_EV` (a NaN step made a frame no one could look up); with ``at_least_one``, not none (what a
    predictor's ``predict`` needs: it returns one image per EV).

    Raises:
        UsageError: a string (:func:`parse_evs` reads ``'-3:3:0.5'``), something not a number, out of range, or
            with ``at_least_one`` no EV.
    """
    if isinstance(evs, (str, bytes)):
        raise UsageError(f"EV list {_shown(repr(evs))}: give numbers (parse_evs reads '-3:3:0.5' or '-2,-1,1,2')")
    try:
        values = [float(ev) for ev in evs]
    except (TypeError, ValueError):
        raise UsageError(f"EV list {_shown(repr(evs))}: give numbers (parse_evs reads '-3:3:0.5')") from None
    if at_least_one and not values:
        raise UsageError("EV list []: give at least one EV (one image is made per EV)")
    outside = next((v for v in values if not abs(v) <= MAX_ABS_EV), None)
    if outside is not None:
        raise UsageError(f"EV list {_shown(repr(values))}: {outside:g} is not a finite step within +-{MAX_ABS_EV:g}")
    return values


def ev_steps(evs: Iterable[float]) -> list[float]:
    """:func:`check_ev_values`, sorted and distinct: the order in which models make their frames."""
    return sorted(set(check_ev_values(evs)))


def _shown(spec: str) -> str:
    """``spec`` quoted for a message, its middle left out when long (a list of 60,000 EVs was echoed whole)."""
    return repr(spec) if len(spec) <= 60 else f"{spec[:28]!r}...{spec[-20:]!r} ({len(spec)} characters)"


def _too_many(shown: str, count: str) -> UsageError:
    return UsageError(f"EV list {shown} asks for {count} images per photo; at most {MAX_EVS} "
                      "(a 0.05-stop step over -3..+3): use a larger step")


CONTINUOUS_EVS: tuple[float, ...] = tuple(parse_evs(CONTINUOUS_STACK))  # -3, -2.5, ..., 3: 13 EVs
