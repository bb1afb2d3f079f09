"""A stage's options, declared once: default, help text, allowed values and whether they change the outputs.

Each field of a stage's options dataclass is made with :func:`option`; the class validates itself at
construction with :func:`validate`, the batch engine records :func:`request_record` with each output (so
a rerun with another output-changing option redoes it), and the CLI builds each flag from the same field
(``cevr_cli.cli.common.flag``). A new option is one declaration::

    @dataclass(frozen=True)
    class TonemapOptions:
        gamma: float = option(2.2, "Display gamma (HDR Toolbox GammaTMO).", gt=0, request=True)
        tmo: str = option("reinhard", "Tone mapping operator.", choices=TONE_MAPPERS, request=True)

        def __post_init__(self) -> None:
            validate(self)

and in the command's signature ``gamma: float = flag(TonemapOptions, "gamma")``. The error messages are
the CLI's own lines (``--gamma -1: must be > 0``), so the library and ``cevr`` say the same thing.

Whether an option was asked for (:func:`given`) is more than whether it differs from its default: ``--srgb --gamma
2.2`` asks for a gamma, though 2.2 is the default. The CLI passes each flag given on its command line wrapped as
:class:`Given`, which :func:`validate` unwraps, so that a check between two options (``--srgb`` takes no
``--gamma``) refuses what was given, whatever its value.

Free of numpy and torch, like :mod:`cevr_cli.vocabulary`, so that ``cevr --help`` stays instant.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .errors import UsageError, use_one_of

_KEY = "cevr_option"
_GIVEN = "_cevr_given"  # the instance attribute naming the fields passed as Given
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


@dataclass(frozen=True)
class OptionSpec:
    """What :func:`option` records about one field."""

    help: str
    flag: str | None  # the CLI flag; None: ``--`` and the field name with dashes
    choices: tuple[str, ...] | None
    bounds: tuple[tuple[str, float], ...]  # (comparison, limit): the value must satisfy each
    request: bool  # the value changes the outputs, so it is recorded with them
    suggestions: tuple[str, ...] = ()  # offered by shell completion where any value is allowed (e.g. a file too)

    def flag_for(self, name: str) -> str:
        return self.flag or "--" + name.replace("_", "-")


def option(default: Any, help: str, *, flag: str | None = None, choices: Iterable[str] | None = None,
           gt: float | None = None, ge: float | None = None, lt: float | None = None, le: float | None = None,
           request: bool = False, suggestions: Iterable[str] = ()) -> Any:
    """A dataclass field that declares one option.

    ``choices``: the allowed values (a vocabulary tuple or dict, whose keys count). ``gt``/``ge``/``lt``/``le``:
    numeric bounds (None values, for optional fields, are not checked). ``request``: the field changes
    the outputs and is part of :func:`request_record`. ``suggestions``: values shell completion offers for a field
    without ``choices`` (``--response``: its built-in curves, besides profile files).
    """
    bounds = tuple((symbol, float(limit)) for symbol, limit in ((">", gt), (">=", ge), ("<", lt), ("<=", le))
                   if limit is not None)
    spec = OptionSpec(help, flag, tuple(choices) if choices is not None else None, bounds, request, tuple(suggestions))
    return field(default=default, metadata={_KEY: spec})


@dataclass(frozen=True)
class Given:
    """A value its caller asked for by name: an option field passed one counts as given (:func:`given`) whatever its
    value, its default too. The CLI passes each flag given on its command line so (``cevr_cli.cli.common.flag``);
    :func:`validate` unwraps it."""

    value: Any


def plain(value: Any) -> Any:
    """``value`` itself, unwrapped if :class:`Given`: for a flag's value used other than by its options class."""
    return value.value if isinstance(value, Given) else value


def given(options: Any, name: str) -> bool:
    """Whether the option field ``name`` of an options instance was asked for: passed as :class:`Given` (a flag on
    the command line, at its default value too), or holding another value than its default (a library caller's
    keyword at the default value cannot be told from none)."""
    return name in getattr(options, _GIVEN, ()) or getattr(options, name) != option_specs(options)[name][1]


def replaced(options: Any, **changes: Any) -> Any:
    """:func:`dataclasses.replace` that keeps the fields given as given (:func:`given`); ``changes`` count by value."""
    kept = {name: Given(getattr(options, name)) for name in getattr(options, _GIVEN, ()) if name not in changes}
    return replace(options, **kept, **changes)


def option_specs(options: Any) -> dict[str, tuple[OptionSpec, Any]]:
    """Field name -> (its spec, its default) for an options class or instance, in declaration order."""
    return {f.name: (f.metadata[_KEY], f.default) for f in fields(options) if _KEY in f.metadata}


def is_number(value: object) -> bool:
    """Whether ``value`` is a real number: ``int``, ``float`` or a NumPy scalar (``np.float32(2.2)``,
    :class:`numbers.Real`), not a bool (``True`` is an ``int`` to Python, never a gamma)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else f"{value:g}" if isinstance(value, float) else str(value)


def check_value(name: str, spec: OptionSpec, value: Any) -> None:
    """Raise :class:`UsageError` with the CLI's line if ``value`` is not allowed for the option ``name``."""
    where = f"{spec.flag_for(name)} {_show(value)}"
    if spec.choices is not None and value not in spec.choices:
        raise UsageError(f"{where}: {use_one_of(value, spec.choices)}")
    if value is None or not spec.bounds:
        return
    if not is_number(value):
        raise UsageError(f"{where}: must be a number")
    if not math.isfinite(value):
        raise UsageError(f"{where}: must be a finite number")
    for symbol, limit in spec.bounds:
        if not _COMPARISONS[symbol](value, limit):
            raise UsageError(f"{where}: must be {symbol} {limit:g}")


def validate(options: Any) -> None:
    """Check every declared field of an options instance (call it from ``__post_init__``, before any check that asks
    :func:`given`); a :class:`Given` value is unwrapped and its field remembered as given; a NumPy number in a
    numeric field becomes the Python ``int`` or ``float`` it equals, so that the request records it as JSON.

    Raises:
        UsageError: the first field whose value is not allowed, as ``--flag value: reason``.
    """
    specs = option_specs(options)
    marked = frozenset(name for name in specs if isinstance(getattr(options, name), Given))
    for name in marked:
        object.__setattr__(options, name, plain(getattr(options, name)))
    object.__setattr__(options, _GIVEN, marked)
    for name, (spec, _) in specs.items():
        value = getattr(options, name)
        check_value(name, spec, value)
        if spec.bounds and value is not None:
            object.__setattr__(options, name, int(value) if isinstance(value, numbers.Integral) else float(value))


def request_record(options: Any) -> dict[str, Any]:
    """The fields declared with ``request=True``, by field name: what an output records as asked."""
    return {name: getattr(options, name) for name, (spec, _) in option_specs(options).items() if spec.request}
