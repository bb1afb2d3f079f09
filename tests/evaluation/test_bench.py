"""A whole benchmark run on a tiny synthetic dataset made here."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from cevr_cli.errors import UsageError
from cevr_cli.evaluation import bench
from cevr_cli.evaluation.baselines import AkyuzExpansion, NaiveExposure
from cevr_cli.evaluation.datasets import BenchScene
from cevr_cli.evaluation.metrics import psnr
from cevr_cli.evs import CONTINUOUS_EVS
from cevr_cli.io.hdrfile import write_exr, write_radiance_hdr


def _radiance(seed: int) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    logs = cv2.GaussianBlur(rng.normal(0, 2.0, (48, 48, 1)).astype(np.float32), (0, 0), 4)[..., None]
    tint = rng.uniform(0.6, 1.0, (1, 1, 3)).astype(np.float32)
    return (np.exp(logs * 2.0) * tint).astype(np.float32)


@pytest.fixture
def synthetic_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "maps"
    folder.mkdir()
    write_exr(folder / "one.exr", _radiance(1), half=False)
    write_radiance_hdr(folder / "two.hdr", _radiance(2))
    return folder


def test_bench_on_synthetic_is_complete(synthetic_dir: Path, tmp_path: Path) -> None:
    progress: list[tuple[int, int, str]] = []
    predictors = [NaiveExposure(), AkyuzExpansion()]
    result = bench.run_bench("synthetic", synthetic_dir, predictors, size=32,
                             on_progress=lambda *a: progress.append(a))
    assert progress == [(1, 2, "one"), (2, 2, "two")]
    nonzero = [ev for ev in CONTINUOUS_EVS if ev != 0]
    assert result.evs == nonzero and result.scenes == 2
    for p in predictors:
        for metric in bench.LDR_METRICS:
            for ev in nonzero:
                row = result.row(p.name, metric, ev)
                assert row.count == 2 and math.isfinite(row.mean) and math.isfinite(row.std)
        for metric in ("reinhard_psnr", "kimkautz_psnr", "pu21_psnr", "pu21_ssim", "hdrvdp2"):
            row = result.row(p.name, metric)
            assert row.count == 2 and math.isfinite(row.mean), row
        assert result.row(p.name, "hdrvdp2").mean < 100.0  # predictions are never exact
    assert len(result.rows) == len(predictors) * (3 * len(nonzero) + 5)

    data = result.to_json()
    json.dumps(data, allow_nan=False)
    assert data["published"] == {}  # the paper reported no synthetic figures
    csv_path = tmp_path / "out" / "bench.csv"
    result.to_csv(csv_path)
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(result.rows)
    assert all(r["mean"] not in ("", "nan") for r in rows)


def test_bench_numbers_match_independent_computation() -> None:
    rng = np.random.default_rng(5)
    ev0 = rng.uniform(0.05, 0.9, (24, 24, 3)).astype(np.float32)
    truth = {1.0: np.clip(ev0 * 1.3, 0, 1), -1.0: ev0 * 0.7}
    scenes = [BenchScene("s", ev0, truth, None)]
    model = NaiveExposure()
    result = bench.score_scenes(scenes, [model], evs=[-1.0, 0.0, 1.0], metrics=["psnr"])
    expected = psnr(np.clip((ev0.astype(np.float64) ** 2.2 * 2) ** (1 / 2.2), 0, 1), truth[1.0])
    assert result.row(model.name, "psnr", 1.0).mean == pytest.approx(expected, abs=1e-4)
    assert result.row(model.name, "psnr", 1.0).std == 0.0
    assert [r.ev for r in result.rows] == [-1.0, 1.0]  # EV 0 is the input, not scored


def test_bench_rejects_bad_requests() -> None:
    scene = BenchScene("s", np.zeros((16, 16, 3), np.float32), {}, None)
    with pytest.raises(UsageError, match="unknown metric"):
        bench.score_scenes([scene], [NaiveExposure()], metrics=["hdr_vdp2"])
    with pytest.raises(UsageError, match="EV other than 0"):
        bench.score_scenes([scene], [NaiveExposure()], evs=[0.0])
    with pytest.raises(UsageError, match="unique"):
        bench.score_scenes([scene], [NaiveExposure(), NaiveExposure()])
    for size in (-5, 15, 4097, 100_000):  # 20000 px scenes filled 24 GB before the kernel stopped the run
        with pytest.raises(UsageError, match=rf"^--size {size}: give 16 to 4096 px"):
            bench.run_bench("synthetic", "nowhere", [NaiveExposure()], size=size)


def test_cli_refuses_a_size_before_loading_anything(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cevr_cli.cli import app

    result = CliRunner().invoke(app, ["bench", str(tmp_path), "--size", "20000", "--model", "physics"])
    assert result.exit_code == 2 and result.output.strip() == (
        "error: --size 20000: give 16 to 4096 px (the paper's protocol is 256), or 0 for each scene's own size")


@pytest.mark.parametrize(("request_", "message"), [
    ({"metrics": ["psnr", "hdr_vdp2"]}, "unknown metric"), ({"evs": "0"}, "EV other than 0")])
def test_a_bad_metric_or_ev_list_is_refused_before_models_or_scenes_load(monkeypatch, tmp_path, request_, message):
    """Both were checked only once the models had loaded and every scene of the dataset had been read."""
    def loaded(*args, **kwargs):
        raise AssertionError("loaded before the request was checked")

    monkeypatch.setattr(bench, "bench_predictors", loaded)
    monkeypatch.setattr(bench, "load_dataset", loaded)
    with pytest.raises(UsageError, match=message):
        bench.benchmark("vds", tmp_path, model="physics", **request_)


def test_a_black_hdr_truth_is_named_and_its_scene_left_out_not_a_stop_after_the_scores(tmp_path: Path) -> None:
    """An HDR truth with no light ended the run after every scene was scored with "reference HDR image has no
    positive luminance; cannot scale it for PU21" (exit 2, naming no file)."""
    import cv2

    for scene in ("t1", "t2"):
        for ev in (-1, 0, 1):
            folder = tmp_path / "test_set" / scene
            folder.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(folder / f"{scene}_{ev}EV_true.jpg.png"), np.full((20, 24, 3), 100 + 40 * ev, np.uint8))
        (tmp_path / "test_hdr_set" / scene).mkdir(parents=True)
    write_radiance_hdr(tmp_path / "test_hdr_set" / "t1" / "target_hdr.hdr", _radiance(1)[:20, :24])
    black = tmp_path / "test_hdr_set" / "t2" / "target_hdr.hdr"
    write_radiance_hdr(black, np.zeros((20, 24, 3), np.float32))
    result = bench.run_bench("vds", tmp_path, [NaiveExposure()], evs=[-1, 1], size=16, metrics=["psnr", "pu21_psnr"])
    assert result.scenes == 1 and result.row(NaiveExposure().name, "pu21_psnr").count == 1
    assert result.gaps == [f"scene skipped: {black}: holds no light (no pixel of positive luminance): no HDR truth to "
                           "score against"]


def test_cli_metrics_option_selects_what_is_computed(synthetic_dir: Path, tmp_path: Path, tiny_pair) -> None:
    from typer.testing import CliRunner

    from cevr_cli.cli import app
    from cevr_cli.evaluation.metrics import cvvdp_available
    from cevr_cli.model import save_pair

    weights = tmp_path / "tiny.safetensors"
    save_pair(tiny_pair, weights)
    chosen = ["psnr", "reinhard_psnr"] + (["cvvdp"] if cvvdp_available() else [])
    args = ["bench", str(synthetic_dir), "--model", "cevr-paper", "--weights", str(weights), "--device", "cpu",
            "--size", "64",
            "--no-baselines", "--evs", "-1,1", "--json"]
    result = CliRunner().invoke(app, [*args, "--metrics", ",".join(chosen)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["metrics"] == chosen
    assert sorted({r["metric"] for r in data["rows"]}) == sorted(chosen)
    for row in data["rows"]:
        assert row["count"] == 2 and row["mean"] is not None
        if row["metric"] == "cvvdp":  # JOD: 10 = indistinguishable from the reference
            assert 0.0 < row["mean"] <= 10.0

    bad = CliRunner().invoke(app, [*args, "--metrics", "psnr,hdrvdp3"])
    assert bad.exit_code != 0 and "unknown metric(s) hdrvdp3" in bad.output


def test_cli_writes_plots_beside_the_json(synthetic_dir: Path, tmp_path: Path, tiny_pair) -> None:
    from typer.testing import CliRunner

    from cevr_cli.cli import app
    from cevr_cli.model import save_pair

    weights = tmp_path / "tiny.safetensors"
    save_pair(tiny_pair, weights)
    args = ["bench", str(synthetic_dir), "--model", "cevr-paper", "--weights", str(weights), "--device", "cpu",
            "--size", "32",
            "--evs", "-1,1", "--metrics", "psnr,hdrvdp2", "--quiet"]
    result = CliRunner().invoke(app, [*args, "--json-out", str(tmp_path / "out" / "bench.json")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["bench-hdr.png", "bench-psnr.png", "bench.json"]
    result = CliRunner().invoke(app, [*args, "--no-plots", "--csv", str(tmp_path / "plain" / "bench.csv")])
    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "plain").iterdir()] == ["bench.csv"]
    for empty in ("", " , "):  # was: every metric, silently
        none = CliRunner().invoke(app, [*args, "--metrics", empty])
        assert none.exit_code == 2 and "name at least one metric" in none.output, none.output


def test_what_the_scores_leave_out_is_listed_as_gaps() -> None:
    from cevr_cli.evaluation.baselines import NaiveExposure
    from cevr_cli.evaluation.bench import score_scenes
    from cevr_cli.evaluation.datasets import BenchScene

    photo = np.full((16, 16, 3), 0.5, np.float32)
    whole = BenchScene("t1", photo, {-1.0: photo * 0.7, 1.0: photo * 1.3}, np.full((16, 16, 3), 2.0, np.float32))
    partial = BenchScene("t2", photo, {1.0: photo * 1.3}, None)
    result = score_scenes([whole, partial], [NaiveExposure()], evs=[-2.0, -1.0, 1.0, 2.0],
                          metrics=["psnr", "reinhard_psnr"])
    assert result.gaps == ["EV -1: no truth in 1 of 2 scenes (t2)",  # -2 and +2: in none, predicted for the fusion
                           "reinhard_psnr: no HDR truth in 1 of 2 scenes (t2)"]
    nothing = score_scenes([whole], [NaiveExposure()], evs=[5.0, 6.0], metrics=["psnr"])
    assert nothing.gaps == ["EV +5, +6: no truth in the dataset (--evs picks the EVs it has)"]
    assert result.row(NaiveExposure().name, "reinhard_psnr").count == 1 and result.to_json()["gaps"]
    complete = score_scenes([whole], [NaiveExposure()], evs=[-1.0, 1.0], metrics=["psnr", "reinhard_psnr"])
    assert complete.gaps == []
    # a dataset's gap says where its truths are looked for (a misnamed folder read as "no HDR truth", nothing more)
    vds = score_scenes([whole, partial], [NaiveExposure()], evs=[1.0], metrics=["reinhard_psnr"], dataset="vds",
                       split="test")
    assert vds.gaps == ["reinhard_psnr: no HDR truth in 1 of 2 scenes (t2) (looked for test_hdr_set/tN/target_hdr.hdr "
                        "beside test_set, or test/hdr_set/tN/target_hdr.hdr)"]
    eye = BenchScene("C01", photo, {}, whole.hdr)  # HDREye: EV 0 and the HDR truth, no other EV to score
    assert score_scenes([eye], [NaiveExposure()], evs=[-1.0, 1.0], metrics=["psnr", "reinhard_psnr"]).gaps == []



def test_a_scene_whose_predicted_stack_cannot_be_merged_is_a_gap_and_the_rest_is_scored() -> None:
    """A dark scene stopped the whole bench, naming no scene, with a hint about 12-bit data in uint16."""
    import re

    bright = np.random.default_rng(5).uniform(0.05, 0.9, (16, 16, 3)).astype(np.float32)
    dark = bright / 10  # +1 EV reaches code 35 or so: no frame of its stack is mid-grey
    scenes = [BenchScene(name, ev0, {-1.0: ev0 * 0.7, 1.0: ev0 * 1.3}, ev0**2.2)
              for name, ev0 in (("bright", bright), ("dark", dark))]
    naive = NaiveExposure()
    result = bench.score_scenes(scenes, [naive], evs=[-1.0, 1.0], metrics=["psnr", "reinhard_psnr"])
    assert result.row(naive.name, "psnr", 1.0).count == 2  # the dark scene's LDR scores are kept
    hdr_row = result.row(naive.name, "reinhard_psnr")
    assert hdr_row.count == 1 and math.isfinite(hdr_row.mean)  # the bright scene's HDR score too
    (gap,) = result.gaps
    assert re.fullmatch(rf"reinhard_psnr: scene dark by {re.escape(naive.name)}: the stack's brightest code is \d+ "
                        r"of 255: no frame reaches mid-grey \(128\), where the fit is anchored", gap), gap


def test_what_the_dataset_holds_that_is_no_scene_heads_the_gaps(tmp_path: Path) -> None:
    import cv2

    for scene in ("t1", "t2"):
        for ev in range(-1, 2):
            path = tmp_path / "test_set" / scene / f"{scene}_{ev}EV_true.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), np.full((16, 16, 3), 100 + 40 * ev, np.uint8))
    (tmp_path / "test_set" / "t2").rename(tmp_path / "test_set" / "t2_old")  # was scored as a dataset of one scene
    result = bench.run_bench("vds", tmp_path, [NaiveExposure()], evs=[-1.0, 1.0], size=16, metrics=["psnr"])
    assert result.scenes == 1
    assert result.gaps == [f"{tmp_path / 'test_set' / 't2_old'}: its frames are named for scene t2, not t2_old"]
