"""PNG plots of a ``cevr bench`` result: per-EV PSNR curves and HDR metric bars.

matplotlib is imported inside :func:`write_plots`, with the non-interactive Agg backend, so importing
this module (and starting the CLI) stays fast and works without a display.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from ..io.atomic import atomic_path
from ..vocabulary import HDR_METRICS
from .bench import HDR_PLOT, PSNR_PLOT, BenchResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 100
PUBLISHED_LABEL = "CEVR paper"


def _psnr_figure(result: BenchResult) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5), dpi=DPI)
    ax = fig.add_subplot()
    for k, name in enumerate(result.predictors):
        rows = [result.row(name, "psnr", ev) for ev in result.evs]
        # EV 0 is the input, never scored: darkening and brightening are drawn as two curves, not joined
        for side, label in (([r for r in rows if r.ev < 0]), name), (([r for r in rows if r.ev > 0]), None):
            if side:
                ax.errorbar([r.ev for r in side], [r.mean for r in side], yerr=[r.std for r in side],
                            marker="o", capsize=3, color=f"C{k}", label=label)
    ax.axvline(0.0, color="0.7", linewidth=0.8)
    ax.set(xlabel="EV (relative to the input)", ylabel="PSNR (dB)",
           title=f"LDR PSNR per EV ({result.dataset}, {_scenes(result)})")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def _hdr_figure(result: BenchResult, metrics: list[str]) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.2 * len(metrics) + 1, 4.5), dpi=DPI)
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    published = result.published()
    positions = range(len(result.predictors))
    for ax, metric in zip(axes, metrics, strict=True):
        rows = [result.row(name, metric) for name in result.predictors]
        ax.bar(positions, [r.mean for r in rows], yerr=[r.std for r in rows], capsize=3,
               color=[f"C{k}" for k in positions])
        if metric in published:
            ax.axhline(published[metric][0], color="k", linestyle="--", linewidth=1, label=PUBLISHED_LABEL)
            ax.legend(loc="lower right")
        ax.set_xticks(list(positions), result.predictors, rotation=30, ha="right")
        ax.set_title(metric)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"HDR quality ({result.dataset}, {_scenes(result)})")
    fig.tight_layout()
    return fig


def _scenes(result: BenchResult) -> str:
    return f"{result.scenes} scene" + ("" if result.scenes == 1 else "s")


def _has_data(result: BenchResult, metric: str) -> bool:
    return any(r.metric == metric and r.count > 0 and math.isfinite(r.mean) for r in result.rows)


def write_plots(result: BenchResult, stem: str | Path) -> list[Path]:
    """Write ``<stem>-psnr.png`` (PSNR per EV, one curve per predictor, +- std) when PSNR was computed
    and ``<stem>-hdr.png`` (one bar panel per HDR metric, the paper's figure dashed) when any HDR metric
    was; returns the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    stem = Path(stem)
    figures: list[tuple[Path, Figure]] = []
    if _has_data(result, "psnr"):
        figures.append((stem.with_name(stem.name + PSNR_PLOT), _psnr_figure(result)))
    hdr = [m for m in result.metrics if m in HDR_METRICS and _has_data(result, m)]
    if hdr:
        figures.append((stem.with_name(stem.name + HDR_PLOT), _hdr_figure(result, hdr)))
    for path, fig in figures:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    return [path for path, _ in figures]
