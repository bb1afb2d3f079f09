"""Shipped weights vs the naive exposure baseline on held-out scenes, per EV (LDR PSNR).

Scenes: the validation split of a folder of radiance maps (the same deterministic split `cevr train`
uses; never seen in training). Each scene is resized to 256x256 as the paper's protocol and photographed
by ``--cameras`` seeded synthetic cameras (response, noise, exposure); the model's stack from each EV 0
photo is compared with the exact re-exposures. Camera 0 is the camera `cevr bench --dataset synthetic`
uses, so ``--cameras 1`` reproduces the bench. With three held-out scenes one camera each is a small
sample (a checkpoint's rank can flip with the camera drawn), hence several cameras per scene by default.
The table is also broken down by the kind of camera response drawn: on pure power-law and sRGB curves the
naive baseline is (nearly) the true camera model, on the sigmoid fits of measured curves it is not.

    python benchmarks/eval_weights.py ../shared/data/openexr-scenes [--weights PATH] [--cameras 8]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def held_out_scenes(folder: Path, size: int, cameras: int, evs: tuple[float, ...]) -> dict[str, list]:
    """BenchScenes for every (validation scene, camera) pair, grouped by the kind of camera response."""
    from cevr_cli.evaluation.datasets import synthetic_bench_scenes
    from cevr_cli.training.scenes import find_radiance_maps, split_scenes

    _, val = split_scenes(find_radiance_maps(folder))
    scenes: dict[str, list] = {}
    for bench_scene, scene in synthetic_bench_scenes(val, size, evs, cameras):
        scenes.setdefault(scene.response.kind, []).append(bench_scene)
    return scenes


def main() -> None:
    from cevr_cli.evaluation.baselines import NaiveExposure
    from cevr_cli.evaluation.bench import score_scenes
    from cevr_cli.evs import CONTINUOUS_EVS
    from cevr_cli.model import load_predictor

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenes", type=Path)
    parser.add_argument("--weights", default=None)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--cameras", type=int, default=8, help="synthetic cameras per held-out scene")
    args = parser.parse_args()
    groups = held_out_scenes(args.scenes, args.size, args.cameras, CONTINUOUS_EVS)
    predictors = [load_predictor(args.weights, "cpu"), NaiveExposure()]
    results = {kind: score_scenes(scenes, predictors, evs=CONTINUOUS_EVS,
                                  metrics=("psnr", "ssim", "reinhard_psnr", "kimkautz_psnr"))
               for kind, scenes in sorted(groups.items())}
    names = predictors[0].name, predictors[1].name
    total = sum(len(scenes) for scenes in groups.values())
    print(f"held-out scene x camera pairs: {total} ({args.cameras} cameras per scene); by response: "
          + ", ".join(f"{kind} {len(scenes)}" for kind, scenes in sorted(groups.items())))
    print(f"{'EV':>5} " + " ".join(f"{n[:24]:>24}" for n in names) + f" {'gain dB':>8}"
          + "".join(f" {kind + ' gain':>12}" for kind in results))
    table = {}
    for ev in CONTINUOUS_EVS:
        if ev == 0:
            continue
        pooled = [pool([r.row(n, "psnr", ev) for r in results.values()]) for n in names]
        gains = {kind: r.row(names[0], "psnr", ev).mean - r.row(names[1], "psnr", ev).mean
                 for kind, r in results.items()}
        gain = pooled[0][0] - pooled[1][0]
        table[ev] = {"cevr": pooled[0][0], "naive": pooled[1][0], "gain": gain, **gains}
        print(f"{ev:+5.1f} " + " ".join(f"{m:18.2f} ± {sd:4.2f}" for m, sd in pooled) + f" {gain:+8.2f}"
              + "".join(f" {g:+12.2f}" for g in gains.values()))
    for metric in ("reinhard_psnr", "kimkautz_psnr"):
        pooled = [pool([r.row(n, metric) for r in results.values()]) for n in names]
        print(f"{metric}: " + ", ".join(f"{n} {m:.2f} ± {sd:.2f}" for n, (m, sd) in zip(names, pooled, strict=True)))
    print(json.dumps({str(k): {kk: round(vv, 2) for kk, vv in v.items()} for k, v in table.items()}))
    print("mean gain over EVs: {:.2f} dB".format(np.mean([v["gain"] for v in table.values()])))


def pool(rows: list) -> tuple[float, float]:
    """Mean and population std over all scenes from per-group rows (mean, std, count)."""
    counts = np.array([r.count for r in rows], dtype=float)
    means = np.array([r.mean for r in rows])
    stds = np.array([r.std for r in rows])
    mean = float(np.sum(counts * means) / counts.sum())
    return mean, float(np.sqrt(np.sum(counts * (stds**2 + (means - mean) ** 2)) / counts.sum()))


if __name__ == "__main__":
    main()
