"""`cevr train`: its options are generated from :class:`cevr_cli.training.config.TrainConfig`, so each is
written once (name, type, default, help) and the CLI cannot drift from the library."""

from __future__ import annotations

import inspect
import os
import sys
from dataclasses import MISSING, asdict, fields
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..training.config import TrainConfig, resumable_checkpoints, vocabulary_fields
from .common import DebugOpt, DeviceOpt, JsonOpt, QuietOpt, choices, err, errors, path_value, print_json, say

_CHOICES: dict[str, type[Enum]] = {
    name: choices(name.title().replace("_", ""), allowed) for name, allowed in vocabulary_fields().items()
}
_PATHS = {"out", "init", "encoder_init", "dorf"}
_SCALARS: dict[str, Any] = {"int": int, "float": float, "str": str, "bool": bool,
                            "int | None": Optional[int], "float | None": Optional[float]}  # noqa: UP045
_DEFAULT_OVERRIDES = {"device": "auto"}  # the CLI picks the best device; the library's default stays the CPU


def _parameter(field_: Any) -> inspect.Parameter:
    name, meta = field_.name, dict(field_.metadata)
    flag = "--" + name.replace("_", "-")
    option: dict[str, Any] = {"help": meta.pop("help")}
    if "min" in meta:
        option["min"] = meta["min"]
    default = _DEFAULT_OVERRIDES.get(name, field_.default)
    if name == "device":  # the inference commands' option: the same names (cuda:N too), parser and completion
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=DeviceOpt, default=default)
    if name == "data":
        annotation: Any = list[Path]
        default = MISSING
        option.update(parser=path_value, metavar="<path>")
    elif name in _CHOICES:
        annotation = _CHOICES[name]
        default = annotation(default)
    elif name in _PATHS:
        annotation = Path if field_.default is not None else Optional[Path]  # noqa: UP045
        default = Path(default) if default is not None else None
        option.update(parser=path_value, metavar="<path>")
    else:
        annotation = _SCALARS[field_.type]
    names = [flag, "-o"] if name == "out" else [f"{flag}/--no-{flag[2:]}"] if annotation is bool else [flag]
    hint = Annotated[annotation, typer.Option(*names, **option)]
    empty = inspect.Parameter.empty
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=hint,
                             default=empty if default is MISSING else default)


def _to_config_value(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list):
        return [_to_config_value(v) for v in value]
    return value


def train(**options: Any) -> None:
    """Train CEVR models on synthetic brackets of real radiance maps (L1 plus 0.1 x the cycle loss: Eq 5)."""
    quiet, as_json = options.pop("quiet"), options.pop("as_json")
    hint = "add --resume to the same command to continue from the last checkpoint"
    out = str(options["out"])
    reports = os.environ.get("RANK", "0") == "0"  # until torch has loaded to say (environment_rank)
    with errors(options.pop("debug"), resume_hint=hint, stop_object=False):
        try:  # from the start: a stop while torch loads is a stop too, of which a script under --json learns
            from ..model import resolve_device
            from ..training.distributed import environment_rank
            from ..training.loop import run_training

            rank = environment_rank()
            reports = rank is None or rank.is_main  # under torchrun, rank 0 alone shows progress and the result
            values = {name: _to_config_value(value) for name, value in options.items()}
            values["device"] = str(resolve_device(values["device"]))
            cfg = TrainConfig(**values)
            with TrainProgress(quiet or as_json or not reports, cfg.epochs) as progress:
                result = run_training(cfg, on_event=progress.event)
        except KeyboardInterrupt:
            if as_json and reports:  # a script learns where the run can be resumed from
                print_json({"interrupted": True, "out": out, "resumable": resumable_checkpoints(out)})
            raise
    if as_json and reports:
        print_json(asdict(result), default=str)
    elif not quiet and reports:
        from ..exposure import weights_flags
        from ..model.config import get_config

        if result.weights:
            weights = f"{result.weights} (use it with {weights_flags(get_config(cfg.variant).role, result.weights)})"
        elif cfg.direction != "both" and not cfg.init:  # the pair is written once the other direction is trained
            weights = "n/a (one direction)"
        else:  # both directions (or --init's other one), but no best checkpoint yet: stopped within the first epoch
            weights = "none yet (no epoch validated; --resume continues the run)"
        psnr = ", ".join(f"{direction} {value:.2f} dB" for direction, value in result.best_psnr.items())
        say(f"best validation PSNR {psnr or 'none yet (stopped within the first epoch)'}; weights: {weights}",
            "train")
    if rank is not None:
        _end_worker()


def _end_worker() -> None:
    """End a torchrun worker now, its outputs written, as multiprocessing ends `--nproc`'s workers: without the
    interpreter's teardown, in which PyTorch's C++ side was seen to abort ("terminate called without an active
    exception", SIGABRT) in a few runs in a hundred after a gloo run, turning a finished run into a failed one."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


_extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=hint, default=False)
          for name, hint in (("quiet", QuietOpt), ("as_json", JsonOpt), ("debug", DebugOpt))]
train.__signature__ = inspect.Signature([_parameter(f) for f in fields(TrainConfig)] + _extra)  # type: ignore[attr-defined]
train.__annotations__ = {p.name: p.annotation for p in train.__signature__.parameters.values()}  # type: ignore[attr-defined]


class TrainProgress:
    """Per-direction epoch bar with the latest loss and validation PSNR."""

    def __init__(self, quiet: bool, epochs: int) -> None:
        self.quiet, self.epochs = quiet, epochs
        self.progress: Any = None
        self.task: Any = None

    def __enter__(self) -> TrainProgress:
        return self

    def _start(self) -> None:
        """The display starts with the run's first event: a request refused before then is its error line alone
        (a display stopped empty leaves a blank line where stderr is not a terminal)."""
        if not self.quiet and self.progress is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=err)
            self.progress.__enter__()

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def event(self, kind: str, payload: dict[str, Any]) -> None:
        self._start()
        if self.progress is None:
            return
        if kind == "data":
            say(f"{', '.join(payload['train'])}; validation: {', '.join(payload['val'])}", "train scenes")
        elif kind == "iteration":
            desc = f"{payload['direction']} epoch {payload['epoch'] + 1}"
            if self.task is None or self.progress.tasks[self.task].description.split()[0] != payload["direction"]:
                self.task = self.progress.add_task(desc, total=self.epochs, status="")
            self.progress.update(self.task, description=desc, status=f"loss {payload['loss']:.4f}")
        elif kind == "epoch" and self.task is not None:
            psnr = " ".join(f"{ev:+g}:{v:.1f}" for ev, v in payload["val_psnr"].items())
            self.progress.update(self.task, completed=payload["epoch"] + 1, status=f"val PSNR {psnr}")
