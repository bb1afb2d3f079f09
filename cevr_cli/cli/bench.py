"""`cevr bench`: the paper's evaluation, printed as its tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from ..options import plain
from ..stage_options import StackOptions
from ..vocabulary import DATASET_KINDS, HDR_METRICS, LDR_METRICS, STACK_KINDS
from .common import (
    DebugOpt,
    DeviceOpt,
    JsonOpt,
    QuietOpt,
    WeightsOpt,
    choices,
    err,
    errors,
    flag,
    out,
    path_value,
    print_json,
    say,
)

Dataset = choices("Dataset", DATASET_KINDS)
StackKind = choices("StackKind", list(STACK_KINDS))
METRICS_HELP = ("Comma list of "
                + ", ".join(f"{name} ({what})" for name, what in {**LDR_METRICS, **HDR_METRICS}.items())
                + ". Default: all but cvvdp.")


def bench(
    path: Annotated[Path | None, typer.Argument(
        parser=path_value, metavar="PATH",
        help="Dataset root (or folder of radiance maps for --dataset synthetic); default: the dataset's folder "
             "(e.g. vds/ or VDS/) in $CEVR_DATASETS, else in ./datasets.", show_default=False)] = None,
    dataset: Annotated[Dataset, typer.Option("--dataset", help="Dataset layout.")] = Dataset("synthetic"),  # type: ignore[valid-type]
    model: str = flag(StackOptions, "model"),  # a Given where given: plain() below
    response: Annotated[str, typer.Option(
        "--response", help="Tone curve the benchmark's images are read through (no EXIF there): camera, srgb, "
        "gamma:G, linear or a profile .json.")] = "camera",
    weights: WeightsOpt = None,
    device: DeviceOpt = "auto",
    stack_kind: Annotated[StackKind, typer.Option(  # type: ignore[valid-type]
        "--stack", help="continuous = EV -3:3:0.5, predefined = -3:3:1 (paper Tab. 4).")] = StackKind("continuous"),
    evs: Annotated[str | None, typer.Option("--evs", help="Override the EV list.")] = None,
    split: Annotated[str, typer.Option(help="Dataset split.")] = "test",
    size: Annotated[int, typer.Option(help="Resize images to SIZE x SIZE as the paper's protocol (0 = native).")] = 256,
    baselines: Annotated[bool, typer.Option(
        help="Also run the physics-only path (through the same --response), the paper's CEVR, and the naive-exposure "
             "and Akyuz 2007 baselines.")] = True,
    metrics: Annotated[str | None, typer.Option("--metrics", help=METRICS_HELP)] = None,
    csv_path: Annotated[Path | None, typer.Option("--csv", help="Also write the table as CSV.", parser=path_value,
                                                  metavar="<path>")] = None,
    json_path: Annotated[Path | None, typer.Option("--json-out", help="Also write the results as JSON.",
                                                   parser=path_value, metavar="<path>")] = None,
    plots: Annotated[bool, typer.Option(
        help="With --csv or --json-out, also write NAME-psnr.png and NAME-hdr.png beside that file.")] = True,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Evaluate as the paper does: LDR stack PSNR/SSIM/MS-SSIM per EV and HDR quality after fusion and tone mapping."""
    with errors(debug, resume_hint="a benchmark starts over when run again"):
        from ..evaluation.bench import benchmark

        def progress(done: int, total: int, name: str) -> None:
            err.print(Text(f"{done}/{total} {name}", style="dim"))

        def written(path: Path) -> None:
            err.print(Text(f"wrote {path}", style="dim"))

        talk = not (quiet or as_json)
        result = benchmark(dataset.value, path, model=plain(model), weights=str(weights) if weights else None,
                           device=device, response=response, baselines=baselines,
                           evs=evs or STACK_KINDS[stack_kind.value], split=split, size=size or None,
                           metrics=None if metrics is None else metrics.split(","), csv_path=csv_path,
                           json_path=json_path, plots=plots, on_progress=progress if talk else None,
                           on_written=written if talk else None)
    if as_json:
        print_json(result.to_json())
    elif not quiet:
        _render_bench(result)
    for gap in result.gaps:  # after the tables, where they are read
        say(f"incomplete: {gap}", "warning", "yellow")  # what the scores leave out (a whole EV, or scenes)
    if result.gaps:
        raise typer.Exit(1)  # a partial score: it does not compare with the paper's or with a whole run


def _render_bench(result: Any) -> None:
    """Tables like the paper's: LDR metrics per EV (Tab. 1), HDR metrics per method (Tab. 2)."""
    from rich.table import Table

    def cell(row: Any) -> str:
        return "n/a" if row.count == 0 or row.mean != row.mean else f"{row.mean:.2f} ± {row.std:.2f}"

    ldr = [m for m in result.metrics if m in LDR_METRICS]
    scored = [m for m in ldr if any(r.count for r in result.rows if r.metric == m)]  # HDREye: no LDR truth at all
    for metric in scored:
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
