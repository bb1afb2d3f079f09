"""The `cevr` command line: parses, calls one library function, renders the result.

Only this module imports typer and rich. torch and the library are imported inside the commands so
that ``cevr --help`` and shell completion answer at once.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from . import __version__
from .errors import CevrError

app = typer.Typer(
    name="cevr",
    help="Single photos to HDR: continuous exposure stacks (CEVR, ICCV 2023), Debevec fusion, tone mapping.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False)
out = Console(highlight=False)
_state = {"debug": False}


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


class StackFormat(str, Enum):
    png = "png"
    tiff = "tiff"


class FuseTMO(str, Enum):
    reinhard = "reinhard"
    reinhard_local = "reinhard-local"
    kimkautz = "kimkautz"
    none = "none"


class ToneOperator(str, Enum):
    reinhard = "reinhard"
    reinhard_local = "reinhard-local"
    kimkautz = "kimkautz"


class HDRFormat(str, Enum):
    exr = "exr"
    hdr = "hdr"


class Compression(str, Enum):
    zip = "zip"
    piz = "piz"
    dwaa = "dwaa"
    none = "none"


class LDRFormat(str, Enum):
    png = "png"
    jpg = "jpg"
    tiff = "tiff"


class Dataset(str, Enum):
    vds = "vds"
    hdreye = "hdreye"
    brackets = "brackets"
    synthetic = "synthetic"


class StackKind(str, Enum):
    continuous = "continuous"
    predefined = "predefined"


class Direction(str, Enum):
    inc = "inc"
    dec = "dec"
    both = "both"


TMO_HELP = (
    "Tone mapping: reinhard = Reinhard et al. 2002 photographic operator, global (HDR Toolbox automatic key and "
    "white point); reinhard-local = the same with dodging-and-burning; kimkautz = Kim & Kautz 2008 consistent "
    "tone reproduction. (OpenCV's TonemapReinhard is Reinhard & Devlin 2005, a different operator.)"
)

EvsOpt = Annotated[str, typer.Option("--evs", help="EV steps: start:stop:step (inclusive) or a comma list.")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output folder (created if missing).")]
WeightsOpt = Annotated[
    Path | None, typer.Option("--weights", help="Model weights (.safetensors); default: the shipped weights.")
]
DeviceOpt = Annotated[Device, typer.Option("--device", help="auto picks CUDA, then MPS, then CPU.")]
HalfOpt = Annotated[bool, typer.Option("--half", help="fp16 inference (CUDA only).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress, only errors.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a machine-readable summary on stdout.")]
RecursiveOpt = Annotated[bool, typer.Option("--recursive", "-r", help="Walk folders recursively.")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Redo photos whose outputs are already complete.")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="List what would be done; write nothing.")]


def _version(value: bool) -> None:
    if value:
        out.print(f"cevr {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show Python tracebacks for errors.")] = False,
) -> None:
    _state["debug"] = debug


@contextmanager
def _errors() -> Iterator[None]:
    """Library errors become one red line and an exit code; tracebacks only with --debug."""
    try:
        yield
    except CevrError as exc:
        if _state["debug"]:
            traceback.print_exc()
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err.print("[yellow]interrupted:[/yellow] finished outputs are kept; run the same command again to resume")
        raise typer.Exit(130) from None


class _Progress:
    """rich progress over photos (and EVs within the current photo), silent when quiet."""

    def __init__(self, quiet: bool, per_photo: int) -> None:
        self.quiet = quiet
        self.per_photo = per_photo
        self.progress = None
        self.photos_task = self.evs_task = None

    def __enter__(self) -> _Progress:
        if not self.quiet:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), console=err, transient=False)
            self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def event(self, kind: str, payload: Any) -> None:
        if kind == "planned" and self.progress is not None:
            self.photos_task = self.progress.add_task("photos", total=payload)
            if self.per_photo:
                self.evs_task = self.progress.add_task("  EVs", total=self.per_photo)
        elif kind == "start" and self.progress is not None and self.evs_task is not None:
            self.progress.update(self.evs_task, completed=0, description=f"  {Path(payload).name}")
        elif kind == "ev" and self.progress is not None and self.evs_task is not None:
            self.progress.advance(self.evs_task)
        elif kind == "warning" and not self.quiet:
            err.print(f"[yellow]warning:[/yellow] {payload}")
        elif kind == "item":
            if payload.status == "failed":
                err.print(f"[red]failed:[/red] {payload.message}")
            elif payload.status == "planned" and not self.quiet:
                err.print(f"would write {payload.source} -> {payload.output}")
            if self.progress is not None and self.photos_task is not None:
                self.progress.advance(self.photos_task)


def _finish(report: Any, as_json: bool, quiet: bool, verb: str) -> None:
    if as_json:
        out.print_json(json.dumps(report.to_json()))
    elif not quiet:
        c = report.counts()
        err.print(f"{verb}: {c.get('done', 0)} done, {c.get('skipped', 0)} skipped (already complete), "
                  f"{c.get('failed', 0)} failed" + (f", {c.get('planned', 0)} planned" if c.get("planned") else ""))
    raise typer.Exit(report.exit_code)


def _predictor(weights: Path | None, device: Device, half: bool) -> Any:
    from .model import load_predictor

    return load_predictor(str(weights) if weights else None, device.value, half=half)


@app.command()
def stack(
    inputs: Annotated[list[Path], typer.Argument(help="Photos (JPEG, PNG, TIFF, camera RAW) or folders of photos.")],
    output: OutOpt = Path("cevr-stacks"),
    evs: EvsOpt = "-3:3:0.5",
    image_format: Annotated[
        StackFormat, typer.Option("--format", help="png = 8-bit PNG, tiff = 16-bit TIFF.")
    ] = StackFormat.png,
    weights: WeightsOpt = None,
    device: DeviceOpt = Device.auto,
    half: HalfOpt = False,
    recursive: RecursiveOpt = False,
    overwrite: OverwriteOpt = False,
    dry_run: DryRunOpt = False,
    max_megapixels: Annotated[float, typer.Option(help="Refuse photos larger than this.")] = 250.0,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Write a continuous exposure stack (one image per EV) for each photo: OUT/<photo>/00_ev-3.00.png ..."""
    with _errors():
        from .evs import parse_evs
        from .stack import StackOptions, run_stack

        ev_list = parse_evs(evs)
        options = StackOptions(ev_list, image_format.value, overwrite, dry_run, recursive, max_megapixels)
        predictor = None if dry_run else _predictor(weights, device, half)
        with _Progress(quiet or as_json, len(ev_list)) as progress:
            report = run_stack(inputs, output, predictor, options, on_event=progress.event)
    _finish(report, as_json, quiet, "stack")


@app.command()
def fuse(
    inputs: Annotated[
        list[Path], typer.Argument(help="Stack folders written by `cevr stack`, or photos/folders (stacked first).")
    ],
    output: OutOpt = Path("cevr-hdr"),
    tmo: Annotated[FuseTMO, typer.Option("--tmo", help=TMO_HELP + " none = only the HDR file.")] = FuseTMO.reinhard,
    hdr_format: Annotated[
        HDRFormat, typer.Option("--format", help="exr = OpenEXR, hdr = Radiance RGBE.")
    ] = HDRFormat.exr,
    full_float: Annotated[bool, typer.Option("--float", help="32-bit float EXR instead of half.")] = False,
    compression: Annotated[Compression, typer.Option(help="EXR compression.")] = Compression.zip,
    evs: EvsOpt = "-3:3:0.5",
    save_crf: Annotated[
        bool, typer.Option("--save-crf", help="Also write the recovered camera response (CSV and PNG plot).")
    ] = False,
    weights: WeightsOpt = None,
    device: DeviceOpt = Device.auto,
    half: HalfOpt = False,
    recursive: RecursiveOpt = False,
    overwrite: OverwriteOpt = False,
    dry_run: DryRunOpt = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Fuse stacks into scene-linear HDR images with Debevec & Malik 1997, optionally tone-mapped."""
    with _errors():
        from .evs import parse_evs
        from .pipeline import FuseOptions, run_fuse

        ev_list = parse_evs(evs)
        options = FuseOptions(
            evs=ev_list, tmo=None if tmo is FuseTMO.none else tmo.value, hdr_format=hdr_format.value,
            half=not full_float, compression=compression.value, save_crf=save_crf, overwrite=overwrite,
            dry_run=dry_run, recursive=recursive,
        )
        predictor_factory: Callable[[], Any] = lambda: _predictor(weights, device, half)  # noqa: E731
        with _Progress(quiet or as_json, len(ev_list)) as progress:
            report = run_fuse(inputs, output, options, predictor_factory, on_event=progress.event)
    _finish(report, as_json, quiet, "fuse")


@app.command()
def tonemap(
    inputs: Annotated[list[Path], typer.Argument(help="HDR images (.exr, .hdr) or folders of them.")],
    output: OutOpt = Path("cevr-tonemapped"),
    tmo: Annotated[ToneOperator, typer.Option("--tmo", help=TMO_HELP)] = ToneOperator.reinhard,
    image_format: Annotated[LDRFormat, typer.Option("--format", help="png/jpg 8-bit, tiff 16-bit.")] = LDRFormat.png,
    key: Annotated[float | None, typer.Option(help="Reinhard key (alpha); default: automatic.")] = None,
    white: Annotated[float | None, typer.Option(help="Reinhard white point; default: automatic.")] = None,
    gamma: Annotated[float, typer.Option(help="Display gamma (HDR Toolbox GammaTMO).")] = 2.2,
    srgb: Annotated[bool, typer.Option("--srgb", help="Encode with the sRGB curve instead of a plain gamma.")] = False,
    recursive: RecursiveOpt = False,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Tone-map HDR images to displayable 8-bit PNG/JPEG or 16-bit TIFF."""
    with _errors():
        from .pipeline import TonemapOptions, run_tonemap

        options = TonemapOptions(tmo=tmo.value, image_format=image_format.value, key=key, white=white,
                                 gamma=gamma, srgb=srgb, overwrite=overwrite, recursive=recursive)
        with _Progress(quiet or as_json, 0) as progress:
            report = run_tonemap(inputs, output, options, on_event=progress.event)
    _finish(report, as_json, quiet, "tonemap")


@app.command()
def demo(
    output: OutOpt = Path("cevr-demo"),
    device: DeviceOpt = Device.auto,
    quiet: QuietOpt = False,
) -> None:
    """Run the whole pipeline on the bundled sample photo with the shipped weights: stack, HDR, tone map."""
    from importlib.resources import files

    sample = Path(str(files("cevr_cli") / "samples" / "sample.jpg"))
    with _errors():
        from .evs import CONTINUOUS_STACK, parse_evs
        from .pipeline import FuseOptions, run_fuse

        ev_list = parse_evs(CONTINUOUS_STACK)
        options = FuseOptions(evs=ev_list, tmo="reinhard", keep_stack=True, overwrite=True)
        with _Progress(quiet, len(ev_list)) as progress:
            report = run_fuse([sample], output, options, lambda: _predictor(None, device, False),
                              on_event=progress.event)
    if not quiet and report.exit_code == 0:
        err.print(f"demo: stack, HDR and tone-mapped image of {sample.name} are in {output}/")
    _finish(report, False, quiet, "demo")


@app.command()
def train(
    data: Annotated[
        Path, typer.Option("--data", help="Folder of radiance maps (.exr/.hdr) to synthesise brackets from.")
    ],
    output: OutOpt = Path("runs/cevr"),
    direction: Annotated[
        Direction, typer.Option(help="Train the EV-increase model, the decrease model, or both.")
    ] = Direction.both,
    epochs: Annotated[int, typer.Option(help="Epochs (the paper: 1250).")] = 1250,
    samples_per_epoch: Annotated[int, typer.Option(help="Random pairs per epoch (VDS has 48 scenes).")] = 48,
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 4,
    crop: Annotated[int, typer.Option(help="Training crop size (multiple of 8).")] = 256,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 2e-4,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    no_cycle: Annotated[
        bool, typer.Option("--no-cycle", help="Ablation: reconstruction loss only (no Eq. 4).")
    ] = False,
    cycle_split: Annotated[
        str, typer.Option(help="random = a ~ U[0,1] (paper); half = s/2 (released code).")
    ] = "random",
    continuous_steps: Annotated[
        bool, typer.Option(help="Sample s uniformly in (0, 3] instead of integer steps.")
    ] = False,
    val_cameras: Annotated[
        int, typer.Option(min=1, help="Synthetic cameras per validation scene (checkpoint choice).")
    ] = 4,
    checkpoint_every: Annotated[int, typer.Option(help="Save a resumable checkpoint every N iterations.")] = 200,
    workers: Annotated[
        int, typer.Option(min=0, help="Data-loading processes (0 = in the training process; use 4+ on a GPU).")
    ] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/<direction>-last.pt.")] = False,
    init: Annotated[
        Path | None, typer.Option("--init", help="Fine-tune: start from this weights pair (.safetensors).")
    ] = None,
    max_minutes: Annotated[float | None, typer.Option(help="Stop each direction after this many minutes.")] = None,
    variant: Annotated[str, typer.Option(help="Model variant: cevr or cevr-tiny.")] = "cevr",
    device: DeviceOpt = Device.auto,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Train CEVR models with L1 + 0.1 x cycle loss (Eq. 5) on synthetic brackets of real radiance maps."""
    with _errors():
        from dataclasses import asdict

        from .model import resolve_device
        from .training.loop import TrainConfig, run_training

        cfg = TrainConfig(
            data=str(data), out=str(output), direction=direction.value, variant=variant, epochs=epochs,
            samples_per_epoch=samples_per_epoch, batch_size=batch_size, crop=crop, lr=lr, cycle=not no_cycle,
            cycle_split=cycle_split, continuous_steps=continuous_steps, checkpoint_every=checkpoint_every,
            val_cameras=val_cameras, seed=seed, device=str(resolve_device(device.value)), resume=resume,
            max_minutes=max_minutes, init=str(init) if init else None, workers=workers,
        )
        with _TrainProgress(quiet or as_json, epochs) as progress:
            result = run_training(cfg, on_event=progress.event)
    if as_json:
        out.print_json(json.dumps({k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(result).items()},
                                  default=str))
    elif not quiet:
        weights_note = result.weights or "n/a (one direction)"
        err.print(f"train: best validation PSNR {result.best_psnr} dB; weights: {weights_note}")


class _TrainProgress:
    def __init__(self, quiet: bool, epochs: int) -> None:
        self.quiet, self.epochs = quiet, epochs
        self.progress = None
        self.task = None

    def __enter__(self) -> _TrainProgress:
        if not self.quiet:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=err)
            self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def event(self, kind: str, payload: dict[str, Any]) -> None:
        if self.progress is None:
            return
        if kind == "data":
            err.print(f"train scenes: {', '.join(payload['train'])}; validation: {', '.join(payload['val'])}")
        elif kind == "iteration":
            desc = f"{payload['direction']} epoch {payload['epoch'] + 1}"
            if self.task is None or self.progress.tasks[self.task].description.split()[0] != payload["direction"]:
                self.task = self.progress.add_task(desc, total=self.epochs, status="")
            self.progress.update(self.task, description=desc, status=f"loss {payload['loss']:.4f}")
        elif kind == "epoch" and self.task is not None:
            psnr = " ".join(f"{ev:+g}:{v:.1f}" for ev, v in payload["val_psnr"].items())
            self.progress.update(self.task, completed=payload["epoch"] + 1, status=f"val PSNR {psnr}")


@app.command()
def bench(
    path: Annotated[Path, typer.Argument(help="Dataset root (or folder of radiance maps for --dataset synthetic).")],
    dataset: Annotated[Dataset, typer.Option("--dataset", help="Dataset layout.")] = Dataset.synthetic,
    weights: WeightsOpt = None,
    device: DeviceOpt = Device.auto,
    stack_kind: Annotated[
        StackKind, typer.Option("--stack", help="continuous = EV -3:3:0.5, predefined = -3:3:1 (paper Tab. 4).")
    ] = StackKind.continuous,
    evs: Annotated[str | None, typer.Option("--evs", help="Override the EV list.")] = None,
    split: Annotated[str, typer.Option(help="Dataset split.")] = "test",
    size: Annotated[int, typer.Option(help="Resize images to SIZE x SIZE as the paper's protocol (0 = native).")] = 256,
    baselines: Annotated[bool, typer.Option(help="Also run the naive-exposure and Akyuz 2007 baselines.")] = True,
    metrics: Annotated[str | None, typer.Option(
        "--metrics", help="Comma list of psnr, ssim, ms_ssim, reinhard_psnr, kimkautz_psnr, pu21_psnr, pu21_ssim, "
        "cvvdp (ColorVideoVDP, Mantiuk et al. 2024; needs pip install 'cevr[metrics]'; not HDR-VDP-2). "
        "Default: all but cvvdp.")] = None,
    csv_path: Annotated[Path | None, typer.Option("--csv", help="Also write the table as CSV.")] = None,
    json_path: Annotated[Path | None, typer.Option("--json-out", help="Also write the results as JSON.")] = None,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate as the paper does: LDR stack PSNR/SSIM/MS-SSIM per EV and HDR quality after fusion and tone mapping."""
    with _errors():
        from .evaluation.baselines import AkyuzExpansion, NaiveExposure
        from .evaluation.bench import DEFAULT_METRICS, run_bench
        from .evs import CONTINUOUS_STACK, PREDEFINED_STACK, parse_evs

        ev_list = parse_evs(evs or (CONTINUOUS_STACK if stack_kind is StackKind.continuous else PREDEFINED_STACK))
        predictors = [_predictor(weights, device, False)]
        if baselines:
            predictors += [NaiveExposure(), AkyuzExpansion()]

        def progress(done: int, total: int, name: str) -> None:
            err.print(f"[dim]{done}/{total} {name}[/dim]")

        metric_names = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else DEFAULT_METRICS
        result = run_bench(dataset.value, path, predictors, evs=ev_list, split=split, size=size or None,
                           metrics=metric_names, on_progress=None if (quiet or as_json) else progress)
        if csv_path:
            result.to_csv(csv_path)
        if json_path:
            from .io.atomic import atomic_write_text

            atomic_write_text(json_path, json.dumps(result.to_json(), indent=2))
    if as_json:
        out.print_json(json.dumps(result.to_json()))
    elif not quiet:
        _render_bench(result)


def _render_bench(result: Any) -> None:
    """Tables like the paper's: LDR metrics per EV (Tab. 1), HDR metrics per method (Tab. 2)."""
    from rich.table import Table

    def cell(row: Any) -> str:
        return "n/a" if row.count == 0 or row.mean != row.mean else f"{row.mean:.2f} ± {row.std:.2f}"

    ldr = [m for m in result.metrics if m in ("psnr", "ssim", "ms_ssim")]
    for metric in ldr:
        table = Table(title=f"LDR {metric.upper()} per EV ({result.dataset}, {result.scenes} scenes)")
        table.add_column("EV")
        for name in result.predictors:
            table.add_column(name)
        for ev in result.evs:
            if ev == 0:
                continue
            cells = []
            for name in result.predictors:
                try:
                    cells.append(cell(result.row(name, metric, ev)))
                except KeyError:
                    cells.append("n/a")
            table.add_row(f"{ev:+g}", *cells)
        out.print(table)
    hdr = [m for m in result.metrics if m not in ldr]
    if hdr:
        published = result.published()
        table = Table(title=f"HDR quality ({result.dataset})")
        table.add_column("metric")
        for name in result.predictors:
            table.add_column(name)
        if published:
            table.add_column("CEVR paper")
        for metric in hdr:
            cells = []
            for name in result.predictors:
                try:
                    cells.append(cell(result.row(name, metric)))
                except KeyError:
                    cells.append("n/a")
            if published:
                ref = published.get(metric)
                cells.append(f"{ref[0]:.2f} ± {ref[1]:.2f}" if ref else "")
            table.add_row(metric, *cells)
        out.print(table)


@app.command()
def info(as_json: JsonOpt = False) -> None:
    """Device found, weights loaded and their id, library versions."""
    with _errors():
        from .diagnostics import collect_info

        facts = collect_info()
    if as_json:
        out.print_json(json.dumps(facts))
    else:
        for key, value in facts.items():
            out.print(f"{key:>16}: {value}")


@app.command("convert-weights")
def convert_weights(
    inc: Annotated[Path, typer.Argument(help="Official increase-EV checkpoint (.../inc/final_model.pth).")],
    dec: Annotated[Path, typer.Argument(help="Official decrease-EV checkpoint (.../dec/final_model.pth).")],
    output: Annotated[
        Path, typer.Option("--out", "-o", help="Output .safetensors file.")
    ] = Path("cevr-official.safetensors"),
) -> None:
    """Convert the official CEVR checkpoints (plain PyTorch state dicts) to cevr's safetensors format."""
    with _errors():
        from .model import load_official_pair, save_pair

        pair = load_official_pair(inc, dec)
        file_id = save_pair(pair, output, half=False)
    err.print(f"wrote {output} (id {file_id}); use it with --weights {output}")


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
