"""``cevr bench``: score exposure predictors on a dataset with the CEVR paper's protocol and ours.

For every scene the EV 0 image is the input; each predictor makes the stack at ``evs``.

LDR metrics (per EV, over scenes whose ground truth has that EV; EV 0 is skipped since it is the input,
as the official ``test.py`` leaves it out of its average): PSNR = -10 log10(MSE + 1e-8), SSIM and
MS-SSIM with data range 1, on the predictions clamped to [0, 1] (the official code scores the float
output), images resized to ``size`` x ``size`` (256 in the paper).

HDR metrics (per predictor, over scenes with an HDR ground truth): the predictions are rounded to 8 bits
(the paper saved PNGs; its code truncates, rounding is the better choice), the input joins them at EV 0,
and :func:`cevr_cli.fuse.fuse_stack` merges them (Debevec & Malik 1997, exposure times 2^EV). Then

* ``reinhard_psnr`` / ``kimkautz_psnr``: predicted and true HDR are each tone-mapped with Reinhard et al.
  2002 (global, automatic key and white point) or Kim & Kautz 2008, in their HDR Toolbox form, display
  gamma 2.2 (GammaTMO), and compared by PSNR on [0, 1]. Both operators normalise by image statistics, so
  the unknown global scale of the merged radiance does not matter. This is our reading of the paper's
  unpublished MATLAB script (see docs: tone-mapping defaults are an assumption).
* ``pu21_psnr`` / ``pu21_ssim``: PU21 (Mantiuk & Azimi 2021) on absolute luminance, the prediction scaled
  to the truth by the median log-luminance ratio and the truth's peak mapped to 1000 cd/m^2.
* ``hdrvdp2``: HDR-VDP-2.2.1 quality Q (:mod:`.mantiuk2011`, checked against the MATLAB release), same
  scaling, seen on a 24-inch 1920x1080 display at 0.5 m (:data:`.mantiuk2011.DESKTOP_VIEWING`, 32.5 pixels
  per degree). The paper's HDR-VDP-2 figures (:data:`PUBLISHED`) came from its own, unpublished scaling
  and viewing set-up, so ours are comparable in kind, not necessarily in absolute value.
* ``cvvdp``: ColorVideoVDP JOD (optional package ``cvvdp``), same scaling.

Means are over scenes, standard deviations are population (ddof 0), as the paper's +- figures.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CevrError, StackContentError, UsageError
from ..evs import CONTINUOUS_EVS
from ..exposure import ImagePredictor
from ..fuse import MERGE_METHOD
from ..imaging import quantise
from ..io.atomic import atomic_write_text
from ..vocabulary import HDR_METRICS, LDR_METRICS
from . import metrics as M
from .datasets import HDR_TRUTH_PLACES, MIN_BENCH_SIZE, BenchScene, load_dataset
from .mantiuk2011 import DESKTOP_VIEWING

# cvvdp is opt-in: optional package and slow on CPU
DEFAULT_METRICS = (*LDR_METRICS, *(m for m in HDR_METRICS if m != "cvvdp"))
_EV_MATCH = 1e-6

# The paper's figures (Chen et al., ICCV 2023, Table 2: mean +- std over test scenes), to print beside
# ours. "hdrvdp2" is the paper's HDR-VDP-2 Q.
PUBLISHED: dict[str, dict[str, tuple[float, float]]] = {
    "vds": {"reinhard_psnr": (34.67, 3.50), "kimkautz_psnr": (30.04, 4.45), "hdrvdp2": (59.00, 5.78)},
    "hdreye": {"reinhard_psnr": (26.54, 3.10), "kimkautz_psnr": (24.81, 2.91), "hdrvdp2": (53.15, 4.91)},
}

ASSUMPTIONS = {
    "ldr_range": "PSNR/SSIM/MS-SSIM on the float predictions clamped to [0, 1] (not rounded to 8 bits, as the "
                 "official code scores them), PSNR = -10 log10(MSE + 1e-8)",
    "resize": "size x size with cv2.INTER_AREA (paper: 256x256)",
    "stack": "for the HDR merge, predictions rounded to 8 bits, input added at EV 0; " + MERGE_METHOD,
    "tonemap": "Reinhard 2002 global with automatic key/white; Kim & Kautz 2008 defaults; gamma 2.2",
    "pu21": "banding_glare; prediction scaled to truth by median log-luminance ratio; "
            "truth peak -> 1000 cd/m2",
    "hdrvdp2": "HDR-VDP-2.2.1 Q, rgb-bt.709, same scaling as pu21; 24-inch 1920x1080 display at 0.5 m "
               f"({DESKTOP_VIEWING.pixels_per_degree:.1f} pixels per degree)",
    "std": "population standard deviation over scenes",
}


@dataclass
class BenchRow:
    """One cell of the table: ``metric`` of ``predictor`` at ``ev`` (None for whole-stack HDR metrics)."""

    predictor: str
    metric: str
    ev: float | None
    mean: float
    std: float
    count: int


@dataclass
class BenchResult:
    dataset: str
    path: str
    split: str
    size: int | None
    evs: list[float]
    predictors: list[str]
    metrics: list[str]
    scenes: int
    rows: list[BenchRow] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)  # what the scores leave out (:func:`_gaps`): a partial result

    def row(self, predictor: str, metric: str, ev: float | None = None) -> BenchRow:
        """The row for ``predictor``/``metric``/``ev``; KeyError when there is none."""
        for r in self.rows:
            if r.predictor == predictor and r.metric == metric and _same_ev(r.ev, ev):
                return r
        raise KeyError((predictor, metric, ev))

    def published(self) -> dict[str, tuple[float, float]]:
        """The paper's figures for this dataset kind (empty for kinds the paper did not report)."""
        return PUBLISHED.get(self.dataset, {})

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; NaN (no data) becomes null."""
        return {
            "dataset": self.dataset, "path": self.path, "split": self.split, "size": self.size,
            "evs": self.evs, "predictors": self.predictors, "metrics": self.metrics, "scenes": self.scenes,
            "assumptions": ASSUMPTIONS,
            "rows": [{k: _finite_or_none(v) for k, v in asdict(r).items()} for r in self.rows],
            "published": {k: {"mean": m, "std": s} for k, (m, s) in self.published().items()},
            "gaps": self.gaps,
        }

    def to_csv(self, path: str | Path) -> None:
        """Write the rows as CSV (predictor, metric, ev, mean, std, count), atomically."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for r in self.rows:
            writer.writerow([r.predictor, r.metric, "" if r.ev is None else f"{r.ev:g}",
                             _csv_number(r.mean), _csv_number(r.std), r.count])
        atomic_write_text(path, buffer.getvalue())


CSV_HEADER = ("predictor", "metric", "ev", "mean", "std", "count")
PSNR_PLOT, HDR_PLOT = "-psnr.png", "-hdr.png"  # evaluation/plots.py's, written beside a result file on its stem
PLOT_SUFFIXES = (PSNR_PLOT, HDR_PLOT)

# Scenes are resized to SIZE x SIZE; a stack of 13 frames per predictor at 4096 px is already several GB.
MAX_BENCH_SIZE = 4096


def check_bench_size(size: int | None) -> None:
    """Refuse a ``--size`` outside 16..:data:`MAX_BENCH_SIZE` (None: each scene at its own size).

    Raises:
        UsageError: naming the size and the range.
    """
    if size is not None and not MIN_BENCH_SIZE <= size <= MAX_BENCH_SIZE:
        raise UsageError(f"--size {size}: give {MIN_BENCH_SIZE} to {MAX_BENCH_SIZE} px (the paper's protocol is 256), "
                         "or 0 for each scene's own size")


def run_bench(
    dataset_kind: str,
    path: str | Path,
    predictors: Sequence[ImagePredictor],
    *,
    evs: Sequence[float] = CONTINUOUS_EVS,
    split: str = "test",
    size: int | None = 256,
    metrics: Sequence[str] = DEFAULT_METRICS,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> BenchResult:
    """Load the dataset and score every predictor; ``on_progress(done, total, scene)`` after each scene.

    Raises:
        UsageError: ``size`` outside 16..:data:`MAX_BENCH_SIZE` (None: each scene at its own size).
    """
    check_bench_size(size)
    skipped: list[str] = []
    scenes = load_dataset(dataset_kind, path, split=split, size=size, synthetic_evs=list(evs), skipped=skipped)
    return score_scenes(scenes, predictors, evs=evs, metrics=metrics, on_progress=on_progress,
                        dataset=dataset_kind, path=str(path), split=split, size=size, skipped=skipped)


def bench_predictors(model: str, *, weights: str | None = None, device: str = "auto", response: str = "camera",
                     baselines: bool = True) -> list[ImagePredictor]:
    """What `cevr bench` scores: the ``model`` (the response-aware ones read each image through ``response``; the
    paper's CEVR guesses the curve itself), and with ``baselines`` the physics-only path through the same response,
    the paper's CEVR and the naive-exposure and Akyuz 2007 baselines. Models run in fp32: scores of the weights
    exactly.

    Raises:
        UsageError: ``response`` auto (the benchmark's images carry no EXIF to route by), or as the models' loading.
        WeightsError: weights that cannot be loaded.
    """
    from ..exposure import MeasuringPredictor, ModelSpec
    from ..response import check_response_spec, parse_response
    from .baselines import AkyuzExpansion, NaiveExposure

    if check_response_spec(response) == "auto":
        raise UsageError("bench --response auto: the benchmark's images carry no EXIF to route by; give camera, "
                         "srgb, gamma:G, linear or a profile .json")
    curve = parse_response(response)

    def load(name: str, path: str | None = None) -> Any:
        return ModelSpec(name, path, device, "fp32").load()

    chosen = load(model, weights)
    predictors: list[Any] = [chosen.predictor if model == "cevr-paper" else MeasuringPredictor(chosen, curve)]
    if baselines:
        if model != "physics":
            predictors.append(MeasuringPredictor(load("physics"), curve))
        if model != "cevr-paper":
            predictors.append(load("cevr-paper").predictor)
        predictors += [NaiveExposure(), AkyuzExpansion()]
    return predictors


def benchmark(dataset_kind: str, path: str | Path | None, *, model: str = "cevr", weights: str | None = None,
              device: str = "auto", response: str = "camera", baselines: bool = True, evs: str = "-3:3:0.5",
              split: str = "test", size: int | None = 256, metrics: Sequence[str] | None = None,
              csv_path: Path | None = None, json_path: Path | None = None, plots: bool = True,
              on_progress: Callable[[int, int, str], None] | None = None,
              on_written: Callable[[Path], None] | None = None) -> BenchResult:
    """What `cevr bench` does: check the request (the result files, the EV list ``evs`` as :func:`parse_evs` reads
    it, the size, the metrics) before any model loads, load the predictors (:func:`bench_predictors`), score the
    dataset at ``path`` (None: :func:`~cevr_cli.evaluation.datasets.default_dataset_path`) and write the CSV, JSON
    and, with ``plots``, the plots beside them (``on_written`` each).

    Raises:
        UsageError, OutputError: a request that cannot run, before any scoring; as :func:`run_bench`.
    """
    from ..evs import parse_evs
    from ..io.atomic import check_writable
    from .datasets import default_dataset_path

    root = Path(path) if path is not None else default_dataset_path(dataset_kind)
    check_result_files(csv_path, json_path, root, plots=plots)
    for target in (csv_path, json_path):  # fail before the benchmark runs, not after it
        if target is not None:
            check_writable(target)
    ev_list = parse_evs(evs)
    check_bench_size(size)  # before any model loads
    names = list(DEFAULT_METRICS) if metrics is None else [m.strip() for m in metrics if m.strip()]
    if not names:
        raise UsageError("--metrics: name at least one metric (or leave --metrics out: the default)")
    names = _check_metrics(names)  # here, not after the models and the whole dataset have loaded
    _targets(ev_list)
    predictors = bench_predictors(model, weights=weights, device=device, response=response, baselines=baselines)
    result = run_bench(dataset_kind, root, predictors, evs=ev_list, split=split, size=size, metrics=names,
                       on_progress=on_progress)
    if csv_path:
        result.to_csv(csv_path)
    if json_path:
        atomic_write_text(json_path, json.dumps(result.to_json(), indent=2))
    beside = json_path or csv_path
    if plots and beside is not None:
        from .plots import write_plots

        for written in write_plots(result, beside.with_suffix("")):
            if on_written is not None:
                on_written(written)
    return result


def score_scenes(
    scenes: Sequence[BenchScene],
    predictors: Sequence[ImagePredictor],
    *,
    evs: Sequence[float] = CONTINUOUS_EVS,
    metrics: Sequence[str] = DEFAULT_METRICS,
    on_progress: Callable[[int, int, str], None] | None = None,
    dataset: str = "scenes",
    path: str = "",
    split: str = "",
    size: int | None = None,
    skipped: Sequence[str] = (),
) -> BenchResult:
    """Score ``predictors`` on already loaded scenes (see the module docstring for the protocol).

    ``dataset``, ``path``, ``split`` and ``size`` only label the result; ``skipped`` (what the dataset's folder
    held that is no scene of its layout: :func:`~cevr_cli.evaluation.datasets.load_dataset`) heads its gaps. A
    predicted stack that cannot be merged (:class:`~cevr_cli.errors.StackContentError`: a dark scene) leaves that
    scene out of the predictor's HDR scores, and says so in a gap.
    """
    metrics = _check_metrics(metrics)
    if not predictors:
        raise UsageError("no predictors to benchmark")
    if not scenes:
        raise UsageError("the dataset has no scenes")
    targets = _targets(evs)
    names = [p.name for p in predictors]
    if len(set(names)) != len(names):
        raise UsageError(f"predictor names must be unique: {names}")

    hdr = [m for m in metrics if m in HDR_METRICS]
    values: dict[tuple[str, str, float | None], list[float]] = defaultdict(list)
    unmerged: list[str] = []
    for done, scene in enumerate(scenes, start=1):
        truth_hdr = _prepared_truth(scene, metrics)
        for predictor in predictors:
            stack = _predict(predictor, scene.input_ev0, targets)
            for metric in (m for m in metrics if m in LDR_METRICS):
                for ev, pred in zip(targets, stack, strict=True):
                    gt = _truth_at(scene, ev)
                    if gt is not None:
                        values[(predictor.name, metric, ev)].append(M.METRICS[metric](pred, gt))
            if scene.hdr is not None and hdr:
                try:
                    radiance = _fuse(scene.input_ev0, stack, targets)
                except StackContentError as exc:
                    unmerged.append(f"{', '.join(hdr)}: scene {scene.name} by {predictor.name}: {exc.reason}")
                    continue
                for metric in hdr:
                    values[(predictor.name, metric, None)].append(M.METRICS[metric](radiance, truth_hdr[metric]))
        if on_progress is not None:
            on_progress(done, len(scenes), scene.name)

    rows = []
    for name in names:
        for metric in metrics:
            for ev in (targets if metric in LDR_METRICS else [None]):
                scores = values.get((name, metric, ev), [])
                mean, std = M.mean_std(scores)
                rows.append(BenchRow(name, metric, ev, mean, std, len(scores)))
    return BenchResult(dataset, path, split, size, targets, names, list(metrics), len(scenes), rows,
                       [*skipped, *_gaps(scenes, targets, metrics, dataset, split), *unmerged])


def _targets(evs: Sequence[float]) -> list[float]:
    """The EVs to score: those of ``evs`` other than 0 (the input), sorted, once each.

    Raises:
        UsageError: none.
    """
    targets = sorted({round(float(ev), 6) + 0.0 for ev in evs if abs(ev) > _EV_MATCH})
    if not targets:
        raise UsageError("need at least one EV other than 0 to benchmark")
    return targets


def _gaps(scenes: Sequence[BenchScene], targets: list[float], metrics: Sequence[str], dataset: str,
          split: str) -> list[str]:
    """What the scores leave out: EVs that some scenes have no truth for, scenes without an HDR truth (a partial
    score does not compare with the paper's, nor with a run on the whole dataset; the line says where ``dataset``'s
    truths are looked for, :data:`~cevr_cli.evaluation.datasets.HDR_TRUTH_PLACES`), or no EV with a truth at all.
    An EV no scene has a truth for is no gap: it is predicted for the fusion (VDS has no half stops)."""
    gaps = []
    if any(m in LDR_METRICS for m in metrics):
        by_missing: dict[tuple[str, ...], list[float]] = defaultdict(list)  # one line for EVs that lack alike
        for ev in targets:
            missing = tuple(scene.name for scene in scenes if _truth_at(scene, ev) is None)
            if missing:
                by_missing[missing].append(ev)
        everywhere = tuple(scene.name for scene in scenes)
        has_ldr_truth = any(scene.ldr_by_ev for scene in scenes)  # HDREye has none: its scores are HDR only
        if has_ldr_truth and by_missing.get(everywhere) == targets:
            gaps.append(f"EV {', '.join(f'{ev:+g}' for ev in targets)}: no truth in the dataset (--evs picks the EVs "
                        "it has)")
        for missing, evs in by_missing.items():
            if missing != everywhere:
                shown = ", ".join(f"{ev:+g}" for ev in evs)
                gaps.append(f"EV {shown}: no truth in {_scenes(list(missing), len(scenes))}")
    hdr = [m for m in metrics if m in HDR_METRICS]
    missing = [scene.name for scene in scenes if scene.hdr is None]
    if hdr and missing:
        place = HDR_TRUTH_PLACES.get(dataset)
        where = f" (looked for {place.format(split=split or 'test')})" if place else ""
        gaps.append(f"{', '.join(hdr)}: no HDR truth in {_scenes(missing, len(scenes))}{where}")
    return gaps


def _scenes(names: list[str], total: int) -> str:
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return f"any of the {total} scenes" if len(names) == total else f"{len(names)} of {total} scenes ({shown})"


# --- pieces ---------------------------------------------------------------------------------------------

def check_result_files(csv_path: Path | None, json_path: Path | None, dataset: Path, *, plots: bool = False) -> None:
    """Refuse result files that would replace what they must not: a name without its format's suffix (a photo or
    a radiance map given by mistake is never overwritten), a file inside the dataset, or an existing file that an
    earlier `cevr bench` did not write (a user's own table); with ``plots``, the plots beside the JSON (else the
    CSV) file too, unless that file is an earlier result (the plots are its own).

    Raises:
        UsageError: naming the option and the file.
    """
    given = {"--csv": (csv_path, ".csv"), "--json-out": (json_path, ".json")}
    for flag, (path, suffix) in given.items():
        if path is None:
            continue
        if Path(path).suffix.lower() != suffix:
            raise UsageError(f"{flag} {path}: give a {suffix} file name (a file of another kind is never replaced)")
        if Path(path).resolve().is_relative_to(Path(dataset).resolve()):
            raise UsageError(f"{flag} {path}: inside the dataset folder {dataset}; write the results elsewhere")
        if os.path.isfile(path) and not _is_bench_result(Path(path)):  # a fifo or device: check_writable's
            raise UsageError(f"{flag} {path}: a file that no cevr bench wrote is there; it is never replaced: "
                             "give another name")
    beside = json_path or csv_path
    if not plots or beside is None:
        return
    stem = Path(beside).with_suffix("")
    if not any(_is_bench_result(stem.with_name(stem.name + suffix)) for suffix in (".json", ".csv")):
        for suffix in PLOT_SUFFIXES:  # the plots beside an earlier result (a table of either kind) are its own
            plot = stem.with_name(stem.name + suffix)
            if os.path.lexists(plot):
                raise UsageError(f"{plot}: there already, and not beside an earlier cevr bench result; it is never "
                                 "replaced: --no-plots, or give the results another name")


def _is_bench_result(path: Path) -> bool:
    """Whether ``path`` holds what :meth:`BenchResult.to_csv` or :meth:`BenchResult.to_json` wrote."""
    if not os.path.isfile(path):  # opening a fifo to read it would wait for a writer forever
        return False
    try:
        with open(path, encoding="utf-8") as stream:
            if path.suffix.lower() == ".csv":
                return stream.readline().rstrip("\r\n") == ",".join(CSV_HEADER)
            record = json.load(stream)
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(record, dict) and {"rows", "predictors", "assumptions"} <= record.keys()


def _check_metrics(metrics: Sequence[str]) -> list[str]:
    known = [*LDR_METRICS, *HDR_METRICS]
    unknown = [m for m in metrics if m not in known]
    if unknown:
        raise UsageError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    if "cvvdp" in metrics and not M.cvvdp_available():
        raise M.MetricUnavailable("metric 'cvvdp' needs the optional package: pip install 'cevr[metrics]' (or cvvdp)")
    return list(dict.fromkeys(metrics))


def _predict(predictor: ImagePredictor, rgb: np.ndarray, evs: list[float]) -> np.ndarray:
    stack = np.asarray(predictor.predict(rgb, evs), dtype=np.float32)
    if stack.shape != (len(evs), *rgb.shape):
        raise CevrError(f"predictor {predictor.name!r} returned shape {stack.shape}, "
                        f"expected {(len(evs), *rgb.shape)}")
    return np.clip(stack, 0.0, 1.0)


def _same_ev(a: float | None, b: float | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) < _EV_MATCH)


def _truth_at(scene: BenchScene, ev: float) -> np.ndarray | None:
    return next((im for key, im in scene.ldr_by_ev.items() if abs(key - ev) < _EV_MATCH), None)


def _fuse(input_ev0: np.ndarray, stack: np.ndarray, evs: list[float]) -> np.ndarray:
    from ..fuse import fuse_stack

    pairs = sorted(zip([*evs, 0.0], [*stack, input_ev0], strict=True), key=lambda pair: pair[0])
    return fuse_stack([quantise(im, 8) for _, im in pairs], [ev for ev, _ in pairs]).radiance


def _prepared_truth(scene: BenchScene, metrics: Sequence[str]) -> dict[str, np.ndarray]:
    """The truth's radiance map as each HDR metric compares it (tone-mapped once per scene, shared by all
    predictors)."""
    if scene.hdr is None:
        return {}
    return {metric: M.METRICS[metric].prepare(scene.hdr) for metric in metrics if metric in HDR_METRICS}


def _finite_or_none(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _csv_number(value: float) -> str:
    return "" if not math.isfinite(value) else f"{value:.6g}"
