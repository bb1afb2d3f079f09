"""What every command shares: the console, option types built from the library's vocabularies, error
handling, batch progress and the summary line."""

from __future__ import annotations

import json
import os
import signal
import threading
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from ..__main__ import Terminated, stop_label_and_code
from ..errors import CevrError, use_one_of
from ..options import Given, option_specs
from ..stopping import StopRequests
from ..vocabulary import (
    DEVICE_HELP,
    DEVICES,
    INFERENCE_PRECISIONS,
    NUMBERED_GPU,
    PREVIOUS_STAGE,
    STAGE_OUTPUTS,
    device_name,
)

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)
# "json": the command was given --json; "stop_said": a stop was told (errors()); "output": stdout was written
state = {"debug": False, "terminated": False, "json": False, "stop_said": False, "output": False}


def say(text: str, label: str = "", style: str = "") -> None:
    """One line on stderr: ``label:`` in ``style``, then ``text`` as it is, line breaks shown as ``\\n``. File names
    and library messages are never read as rich markup: a photo named ``a[/b].jpg`` would otherwise end the run
    with a MarkupError, and ``x[bold].jpg`` would lose part of its name."""
    text = text.replace("\r", "\\r").replace("\n", "\\n")  # one line, even for a file name holding a newline
    err.print(Text.assemble((f"{label}:", style), f" {text}") if label else Text(text), soft_wrap=True)


def refuse(text: str, exit_code: int) -> None:
    """What ends a command with an error: its one ``error:`` line on stderr and, under ``--json``, on stdout the
    object a script reads there, ``{"error": text, "exit_code": exit_code}`` (the summaries' ``exit_code``, an
    ``error`` in place of their items), so that stdout is never empty. The caller exits with ``exit_code``."""
    say(text, "error", "red")
    if state["json"]:
        print_json({"error": text, "exit_code": exit_code})


def choices(name: str, values: Sequence[str]) -> type[Enum]:
    """A str Enum of ``values`` for Typer, generated from a library vocabulary so the two cannot drift."""
    return Enum(name, [(v.replace("-", "_"), v) for v in values], type=str)  # type: ignore[return-value]


def flag(options: type, name: str) -> Any:
    """``typer.Option(default, "--flag", help=...)`` for the field ``name`` of a stage's options class, which
    declares the option once (:mod:`cevr_cli.options`); the parameter is annotated with the field's plain type.

    Choices are listed by ``--help`` and completed by the shell; the values themselves are checked by the
    class, so ``cevr`` and Python refuse with the same line (``--tmo 'bogus': use one of ...``, exit 2).
    A bool that defaults to True gets ``--no-flag``. A flag given on the command line reaches the command as
    :class:`~cevr_cli.options.Given` (:func:`_mark_given`), for the options class, which unwraps it, to tell
    ``--gamma 2.2`` from no ``--gamma``: pass the parameter to the class, not elsewhere.
    """
    spec, default = option_specs(options)[name]
    names = spec.flag_for(name)
    if default is True:
        names += "/--no-" + names.removeprefix("--")
    if spec.choices is None and spec.suggestions:
        suggested = spec.suggestions

        def complete_free(incomplete: str) -> list[str]:  # the suggestions, and the .json files (profiles) there
            files = sorted(str(p) for p in Path().glob(f"{incomplete}*.json"))
            return [value for value in suggested if value.startswith(incomplete)] + files

        return typer.Option(default, names, help=spec.help, autocompletion=complete_free, callback=_mark_given)
    if spec.choices is None:
        return typer.Option(default, names, help=spec.help, callback=_mark_given)
    allowed = spec.choices

    def complete(incomplete: str) -> list[str]:
        return [value for value in allowed if value.startswith(incomplete)]

    return typer.Option(default, names, help=spec.help, metavar="<" + "|".join(allowed) + ">",
                        autocompletion=complete, callback=_mark_given)


def _mark_given(ctx, param, value):  # type: ignore[no-untyped-def]  # Typer reads untyped ones by position
    """A declared flag's value as :class:`~cevr_cli.options.Given` where the command line (or its environment
    variable) gave it, at its default value too; as it is where the default stands."""
    source = ctx.get_parameter_source(param.name)
    return value if source is None or source.name in ("DEFAULT", "DEFAULT_MAP") else Given(value)



def device_value(value: str) -> str:
    """``--device``'s parser: a device the library knows by name (:func:`cevr_cli.vocabulary.device_name`), checked
    without importing torch; whether this machine has it is the library's to say when the model loads."""
    name = device_name(value)
    if name is None:
        raise typer.BadParameter(f"{value!r}: {use_one_of(value, (*DEVICES, NUMBERED_GPU))}")
    return name


def _complete_device(incomplete: str) -> list[str]:
    return [name for name in (*DEVICES, "cuda:0", "cuda:1") if name.startswith(incomplete)]


def path_value(value: str | Path) -> Path:
    """A path given on the command line (every path parameter's ``parser``; Typer passes defaults through it too,
    as Paths). An empty one is refused: ``Path("")`` is ".", so an unset shell variable (``-o "$OUT"``) would
    silently mean the current folder."""
    if isinstance(value, Path):
        return value
    if not value.strip():
        raise typer.BadParameter("empty path (an unset shell variable?)")
    return Path(value)


EvsOpt = Annotated[str, typer.Option("--evs", help="EV steps: start:stop:step (inclusive) or a comma list.")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output folder (created if missing).", parser=path_value,
                                      metavar="<path>")]
WeightsOpt = Annotated[
    Path | None, typer.Option("--weights", help="Model weights (.safetensors); default: the shipped weights.",
                              parser=path_value, metavar="<path>")
]
DeviceOpt = Annotated[str, typer.Option("--device", help=DEVICE_HELP, parser=device_value,
                                         autocompletion=_complete_device,
                                         metavar="<" + "|".join((*DEVICES, NUMBERED_GPU)) + ">")]
Precision = choices("Precision", list(INFERENCE_PRECISIONS))
PrecisionOpt = Annotated[Precision, typer.Option(  # type: ignore[valid-type]
    "--precision", help="Inference arithmetic: " + "; ".join(f"{k} = {v}" for k, v in INFERENCE_PRECISIONS.items())
    + ".", case_sensitive=False)]


def stage_inputs(inputs: list[Path] | None, stage: str) -> list[Path]:
    """``inputs``, or when none are given the previous stage's default output folder
    (:data:`cevr_cli.vocabulary.PREVIOUS_STAGE`): `cevr stack photos/` then `cevr fuse` then `cevr tonemap`.

    Raises:
        UsageError: no inputs and no such folder here.
    """
    from ..errors import UsageError

    if inputs:
        return inputs
    previous = PREVIOUS_STAGE[stage]
    default = Path(STAGE_OUTPUTS[previous])
    if not default.is_dir():
        raise UsageError(f"no inputs given, and no ./{default} (where `cevr {previous}` writes by default) here: "
                         f"give the {stage} command its inputs")
    return [default]


def _route_library_noise(quiet: bool) -> bool:
    """``--quiet``'s callback (run for every command that has it, quiet or not): see :mod:`.noise`."""
    from .noise import route_library_noise

    route_library_noise(quiet)
    return quiet


_QUIET_HELP = "No progress or warnings, only errors"
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help=f"{_QUIET_HELP}.", callback=_route_library_noise)]
BatchQuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help=f"{_QUIET_HELP} (a dry run still lists its plan).",
                                             callback=_route_library_noise)]  # the batch stages', which have --dry-run


def _json_requested(value: bool) -> bool:
    """``--json``'s callback, eager: it runs before the command's other parameters are read, so that one refused
    (``--device tpu --json``) is told on stdout as JSON too (:func:`refuse`)."""
    state["json"] = value
    return value


JsonOpt = Annotated[bool, typer.Option("--json", help="Print a machine-readable summary on stdout (for a refused "
                                       "request: {\"error\": ..., \"exit_code\": 2}).", callback=_json_requested,
                                       is_eager=True)]
RecursiveOpt = Annotated[bool, typer.Option("--recursive", "-r", help="Walk folders recursively.")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Redo inputs whose outputs are already complete.")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="List what would be done; write nothing.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show Python tracebacks for errors.")]
WorkersOpt = Annotated[str, typer.Option(
    "--workers", metavar="N|auto", help="Worker processes sharing the batch, each with its own model (1: this "
    "process). auto: one per visible CUDA GPU, each on its own GPU; 1 elsewhere.")]
CpuWorkersOpt = Annotated[str, typer.Option(  # a stage without a model (tonemap)
    "--workers", metavar="N|auto", help="Worker processes sharing the batch (1: this process). auto: 1 (one "
    "process's numpy and OpenCV threads use every core already).")]
_RAY_HELP = ("Run the batch on a Ray cluster's actors: auto (RAY_ADDRESS or a running cluster), local (start one "
             "here for the run) or HOST:PORT; --workers actors (auto: {auto}). {shared} must be on a folder every "
             "node mounts at the same path. Needs pip install 'cevr[ray]'.")
RayOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045 - Typer reads the annotation at run time
    "--ray", metavar="ADDRESS", help=_RAY_HELP.format(auto="one per GPU with --device cuda, else one per 2 CPUs",
                                                      shared="Inputs, -o and --weights"))]
CpuRayOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045 - a stage without a model (tonemap)
    "--ray", metavar="ADDRESS", help=_RAY_HELP.format(auto="one per 2 CPUs", shared="Inputs and -o"))]


def terminate(signum: int, frame: Any) -> None:
    state["terminated"] = True  # remembered: a library may turn the exception into a plain KeyboardInterrupt
    raise Terminated


terminate.raises_keyboard_interrupt = True  # type: ignore[attr-defined]  # training holds it to save first


def _by_sigterm(stop: KeyboardInterrupt) -> bool:
    """Whether ``stop`` came of a SIGTERM (:func:`terminate`), not a Ctrl-C."""
    return isinstance(stop, Terminated) or bool(state.get("terminated"))


@contextmanager
def errors(debug: bool = False, resume_hint: str = "run the same command again to resume",
           kept: str = "finished outputs are kept", stop_object: bool = True) -> Iterator[None]:
    """Library errors become one red line and an exit code (with --json also an object on stdout, :func:`refuse`);
    tracebacks only with --debug. Ctrl-C and SIGTERM stop the work cleanly (exit 130 and 143, as shells report
    them), said in one line: what is ``kept``, and ``resume_hint``. Under --json a stop before the command printed
    its result also prints ``{"exit_code": 130, "interrupted": true}`` (as :func:`cevr_cli.cli.main` does for a stop
    before any command), unless ``stop_object`` is False (train: rank 0 prints its own, other ranks nothing)."""
    state["debug"] = state["debug"] or debug
    in_main_thread = threading.current_thread() is threading.main_thread()  # where Python runs signal handlers
    previous = signal.signal(signal.SIGTERM, terminate) if in_main_thread else None
    try:
        yield
    except CevrError as exc:
        if state["debug"]:
            traceback.print_exc()
        refuse(str(exc), exc.exit_code)
        raise typer.Exit(exc.exit_code) from None
    except OSError as exc:  # what no library check foresaw about a path given (a name the file system refuses)
        if state["debug"]:
            traceback.print_exc()
        where = f"{os.fsdecode(exc.filename)}: " if exc.filename is not None else ""
        refuse(f"{where}{exc.strerror or exc}", 2)
        raise typer.Exit(2) from None
    except KeyboardInterrupt as exc:
        label, code = stop_label_and_code(_by_sigterm(exc))
        state["stop_said"] = True  # for the entry point, which says a stop no command's handler met (cli.main)
        say(f"{kept}; {resume_hint}", label, "yellow")
        if stop_object and state["json"] and not state["output"]:  # stdout is never empty under --json
            print_json({"exit_code": code, "interrupted": True})
        raise typer.Exit(code) from None
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


def model_spec(name: str, weights: Path | None, device: str, precision: Enum) -> Any:
    """What ``--model``, ``--weights``, ``--device`` and ``--precision`` ask for, loaded where it is used."""
    from ..exposure import ModelSpec

    return ModelSpec(name, str(weights) if weights else None, device, precision.value)


def scale(workers: str, ray: str | None) -> Any:
    """Where the batch runs (``--workers``, ``--ray``), checked by the library."""
    from ..batch import Scale

    return Scale(workers, ray)


class BatchProgress:
    """rich progress over inputs, and over the EVs of each photo in the making (one line per worker); warning and
    failure lines on stderr. ``as_json``: no display and no plan lines (the summary on stdout says it all), but the
    warnings still (they are in no item); ``quiet``: failure lines, and a dry run's plan (what it was asked for).
    A batch stopped by Ctrl-C or SIGTERM under ``as_json`` still prints its summary of the inputs finished so far,
    marked ``"interrupted": true``, so that a script learns what was done: a stage enters it before loading its
    modules (torch takes the first second), and sets ``per_item``, the EVs made per input, once its options are read.
    """

    def __init__(self, quiet: bool, per_item: int = 0, *, as_json: bool = False) -> None:
        self.quiet = quiet or as_json  # no display, no note lines
        self.warn = not quiet
        self.plan = not as_json
        self.as_json = as_json
        self.finished: list[Any] = []  # every input's result as it comes: the summary of a stopped batch
        self.per_item = per_item
        self.progress: Any = None
        self.items_task: Any = None
        self.evs_tasks: dict[Path, Any] = {}  # photo in the making -> its EV line
        self.free_evs_tasks: list[Any] = []  # lines of finished photos, reused by the next ones

    def __enter__(self) -> BatchProgress:
        return self

    def _start(self) -> None:
        """The display starts once the batch is planned: a request refused before then is its error line alone
        (a display stopped empty leaves a blank line where stderr is not a terminal)."""
        if not self.quiet and self.progress is None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=False)
            self.progress.__enter__()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if self.progress is not None:
            self.progress.__exit__(kind, exc, tb)
        if self.as_json and isinstance(exc, KeyboardInterrupt):
            from ..batch import BatchReport

            _, code = stop_label_and_code(_by_sigterm(exc))
            summary = BatchReport(self.finished).to_json()
            print_json({**summary, "exit_code": code, "interrupted": True})

    def event(self, kind: str, payload: Any) -> None:
        if kind == "planned":
            self._start()
        if kind == "planned" and self.progress is not None:
            self.items_task = self.progress.add_task("inputs", total=payload)
        elif kind == "start" and self.progress is not None and self.per_item:
            line = self.free_evs_tasks.pop() if self.free_evs_tasks else self.progress.add_task("", total=self.per_item)
            self.progress.update(line, completed=0, description=f"  {escape(Path(payload).name)}", visible=True)
            self.evs_tasks[Path(payload)] = line
        elif kind == "ev" and self.progress is not None:
            line = self.evs_tasks.get(Path(payload["photo"]))
            if line is not None:
                self.progress.advance(line)
        elif kind == "warning" and self.warn:
            say(str(payload), "warning", "yellow")
        elif kind == "item":
            self.finished.append(payload)
            if payload.status == "failed":
                say(payload.message, "failed", "red")
            elif payload.status == "planned" and self.plan:
                say(f"{payload.source} -> {payload.output}", payload.message)
            elif payload.message and payload.status == "done" and not self.quiet:
                say(payload.message, str(payload.source))
            if Path(payload.source) in self.evs_tasks:
                line = self.evs_tasks.pop(Path(payload.source))
                self.free_evs_tasks.append(line)
                if self.progress is not None:
                    self.progress.update(line, visible=False)
            if self.progress is not None and self.items_task is not None:
                self.progress.advance(self.items_task)


def print_json(data: Any, default: Any = None) -> None:
    """``data`` as JSON on stdout, all ASCII: a file name that is not valid UTF-8 (its bytes kept by Python as lone
    surrogates) is written as a ``\\udcXX`` escape, so the output stays valid UTF-8 for whatever parses it."""
    state["output"] = True  # a Ctrl-C from here on is not told again (cli.main): stdout holds one object
    out.print_json(json.dumps(data, default=default), ensure_ascii=True)


def finish(report: Any, as_json: bool, quiet: bool, verb: str) -> None:
    """The summary (a line, or JSON on stdout) and the exit code: 1 if any input failed. A Ctrl-C or SIGTERM while
    the summary is written acts once it is whole (exit 130 or 143, cli.main): raised midway, Typer made it exit 130
    without a word, stdout empty under --json, a SIGTERM told as a Ctrl-C (a chaos run's SIGTERM at the batch's end)."""
    state["output"] = True  # the batch is told: a Ctrl-C from here on is no stop before any work (cli.main)
    with StopRequests():
        if as_json:
            print_json(report.to_json())
        elif not quiet:
            c = report.counts()
            say(f"{c.get('done', 0)} done, {c.get('skipped', 0)} skipped (already complete), "
                f"{c.get('failed', 0)} failed" + (f", {c.get('planned', 0)} planned" if c.get("planned") else ""), verb)
    raise typer.Exit(report.exit_code)
