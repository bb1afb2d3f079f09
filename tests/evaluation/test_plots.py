"""``cevr bench`` plots: written as valid PNGs of a sensible size, and drawn from the data."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from cevr_cli.evaluation.bench import BenchResult, BenchRow
from cevr_cli.evaluation.plots import write_plots

EVS = [-2.0, -1.0, 1.0, 2.0]
PREDICTORS = ["cevr", "naive", "akyuz"]


def _result(offset: float, dataset: str = "vds", metrics: tuple[str, ...] = ("psnr", "pu21_psnr", "hdrvdp2")
            ) -> BenchResult:
    rows = []
    for k, name in enumerate(PREDICTORS):
        if "psnr" in metrics:
            rows += [BenchRow(name, "psnr", ev, 30.0 - abs(ev) * (k + 1) + offset, 1.0, 3) for ev in EVS]
        rows += [BenchRow(name, m, None, 40.0 + 5 * k + offset, 2.0, 3) for m in metrics if m != "psnr"]
    return BenchResult(dataset, "/data", "test", 256, EVS, PREDICTORS, list(metrics), 3, rows)


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, f"{path} is not a readable image"
    return image


def test_plots_are_written_as_images(tmp_path: Path) -> None:
    written = write_plots(_result(0.0), tmp_path / "out" / "bench")
    assert written == [tmp_path / "out" / "bench-psnr.png", tmp_path / "out" / "bench-hdr.png"]
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        h, w = _read(path).shape[:2]
        assert 300 <= h <= 2000 and 500 <= w <= 3000
        assert _read(path).std() > 5  # not a blank canvas
    assert not list((tmp_path / "out").glob(".*.part*"))  # written atomically, no leftovers


def test_plots_depend_on_the_data(tmp_path: Path) -> None:
    a = write_plots(_result(0.0), tmp_path / "a")
    b = write_plots(_result(3.0), tmp_path / "b")
    for pa, pb in zip(a, b, strict=True):
        ia, ib = _read(pa), _read(pb)
        assert ia.shape != ib.shape or np.any(ia != ib)


def test_only_the_plots_with_data_are_written(tmp_path: Path) -> None:
    assert write_plots(_result(0.0, metrics=("psnr",)), tmp_path / "ldr") == [tmp_path / "ldr-psnr.png"]
    assert write_plots(_result(0.0, metrics=("hdrvdp2",)), tmp_path / "hdr") == [tmp_path / "hdr-hdr.png"]
