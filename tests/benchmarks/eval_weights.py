"""Weights vs the previous release and the naive exposure baseline on held-out scenes, per EV (LDR PSNR).

Scenes: the validation split of the radiance-map folders (the fixed split `cevr train` uses, never trained
on), seen as training validation sees them (a flat map resized to 256x256 as the paper's protocol, a
panorama as two 90-degree views) and photographed by ``--cameras`` seeded synthetic cameras (response,
noise, exposure). Each model's stack from the EV 0 photo is compared with the exact re-exposures; the
fused HDR image (Debevec) after Reinhard and Kim-Kautz tone mapping with the true radiance's. Results are
pooled and broken down by the kind of camera response: on pure power-law and sRGB curves the naive
baseline is (nearly) the true camera model, on the sigmoid fits of measured curves it is not.

    python tests/benchmarks/eval_weights.py ../shared/data/openexr-scenes ../shared/data/polyhaven-hdri \
        [--weights NEW] [--compare OLD] [--cameras 8] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def held_out_scenes(folders: list[Path], size: int, cameras: int, evs: tuple[float, ...]) -> dict[str, list]:
    """BenchScenes for every (validation view, camera) pair, grouped by the kind of camera response."""
    from cevr_cli.evaluation.datasets import synthetic_bench_scenes
    from cevr_cli.training.scenes import find_radiance_maps, split_scenes

    _, val = split_scenes(find_radiance_maps(folders))
    scenes: dict[str, list] = {}
    for bench_scene, scene in synthetic_bench_scenes(val, size, evs, cameras):
        scenes.setdefault(scene.response.kind, []).append(bench_scene)
    return scenes


def pool(rows: list) -> tuple[float, float]:
    """Mean and population std over all scenes from per-group rows (mean, std, count)."""
    counts = np.array([r.count for r in rows], dtype=float)
    means = np.array([r.mean for r in rows])
    stds = np.array([r.std for r in rows])
    mean = float(np.sum(counts * means) / counts.sum())
    return mean, float(np.sqrt(np.sum(counts * (stds**2 + (means - mean) ** 2)) / counts.sum()))


def main() -> None:
    from cevr_cli.evaluation.baselines import NaiveExposure
    from cevr_cli.evaluation.bench import score_scenes
    from cevr_cli.evs import CONTINUOUS_EVS
    from cevr_cli.model import load_predictor

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--weights", default=None, help="weights to evaluate (default: the shipped pair)")
    parser.add_argument("--compare", default=None, help="a second pair, e.g. the previous release")
    parser.add_argument("--precision", default="fp32", help="inference precision of --weights (fp32, bf16)")
    parser.add_argument("--compare-precision", default=None,
                        help="also --weights at this precision (e.g. --precision bf16 --compare-precision fp32)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--cameras", type=int, default=8, help="synthetic cameras per held-out view")
    parser.add_argument("--json", type=Path, default=None, help="also write the tables as JSON")
    args = parser.parse_args()
    groups = held_out_scenes(args.folders, args.size, args.cameras, CONTINUOUS_EVS)
    predictors = [load_predictor(args.weights, "cpu", precision=args.precision)]
    predictors[0].name = f"{args.precision} {predictors[0].name}"
    if args.compare_precision:
        same = load_predictor(args.weights, "cpu", precision=args.compare_precision)
        same.name = f"{args.compare_precision} {same.name}"
        predictors.append(same)
    if args.compare:
        compare = load_predictor(args.compare, "cpu", precision="fp32")
        compare.name = f"compare {compare.name}"  # distinct even when a file is compared with itself
        predictors.append(compare)
    predictors.append(NaiveExposure())
    names = [p.name for p in predictors]
    results = {kind: score_scenes(scenes, predictors, evs=CONTINUOUS_EVS,
                                  metrics=("psnr", "reinhard_psnr", "kimkautz_psnr"))
               for kind, scenes in sorted(groups.items())}
    total = sum(len(scenes) for scenes in groups.values())
    print(f"held-out view x camera pairs: {total} ({args.cameras} cameras per view); by response: "
          + ", ".join(f"{kind} {len(scenes)}" for kind, scenes in sorted(groups.items())))
    print("predictors: " + ", ".join(names))
    header = f"{'EV':>5} " + " ".join(f"{n[:16]:>16}" for n in names) + " " + " ".join(
        f"{'gain ' + k:>14}" for k in ["pooled", *results])
    print(header)
    table: dict[str, dict] = {}
    for ev in CONTINUOUS_EVS:
        if ev == 0:
            continue
        pooled = {n: pool([r.row(n, "psnr", ev) for r in results.values()]) for n in names}
        gains = {kind: r.row(names[0], "psnr", ev).mean - r.row(names[-1], "psnr", ev).mean
                 for kind, r in results.items()}
        gain = pooled[names[0]][0] - pooled[names[-1]][0]
        per_kind = {kind: {n: r.row(n, "psnr", ev).mean for n in names} for kind, r in results.items()}
        table[f"{ev:+.1f}"] = {"pooled": {n: m for n, (m, _) in pooled.items()}, "by_response": per_kind,
                               "gain_vs_naive": {"pooled": gain, **gains}}
        print(f"{ev:+5.1f} " + " ".join(f"{pooled[n][0]:16.2f}" for n in names) + " "
              + " ".join(f"{g:+14.2f}" for g in [gain, *gains.values()]))
    hdr = {}
    for metric in ("reinhard_psnr", "kimkautz_psnr"):
        pooled = {n: pool([r.row(n, metric) for r in results.values()]) for n in names}
        hdr[metric] = {n: m for n, (m, _) in pooled.items()}
        print(f"{metric}: " + ", ".join(f"{n} {m:.2f} ± {sd:.2f}" for n, (m, sd) in pooled.items()))
    if args.json:
        args.json.write_text(json.dumps({"predictors": names, "views_x_cameras": total, "ldr_psnr": table,
                                         "hdr": hdr}, indent=2))


if __name__ == "__main__":
    main()
