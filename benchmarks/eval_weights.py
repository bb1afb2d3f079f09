"""Shipped weights vs the naive exposure baseline on held-out scenes, per EV (LDR PSNR).

Scenes: the validation split of a folder of radiance maps (the same deterministic split `cevr train`
uses; never seen in training). Each scene is resized to 256x256 as the paper's protocol, photographed by
its own seeded synthetic camera (response, noise, exposure), and the model's stack from the EV 0 photo
is compared with the exact re-exposures.

    python benchmarks/eval_weights.py ../shared/data/openexr-scenes [--weights PATH] [--size 256]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np


def main() -> None:
    from cevr_cli.baselines import NaiveExposure
    from cevr_cli.bench import CONTINUOUS_EVS, run_bench
    from cevr_cli.data.synthetic import find_radiance_maps, split_scenes
    from cevr_cli.model import load_predictor

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenes", type=Path)
    parser.add_argument("--weights", default=None)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    _, val = split_scenes(find_radiance_maps(args.scenes))
    with tempfile.TemporaryDirectory() as tmp:
        for path in val:
            (Path(tmp) / path.name).symlink_to(path.resolve())
        predictors = [load_predictor(args.weights, "cpu"), NaiveExposure()]
        result = run_bench("synthetic", tmp, predictors, evs=CONTINUOUS_EVS, size=args.size,
                           metrics=("psnr", "ssim", "reinhard_psnr", "kimkautz_psnr"))
    names = result.predictors
    print(f"validation scenes: {', '.join(p.name for p in val)}")
    print(f"{'EV':>5} " + " ".join(f"{n[:24]:>24}" for n in names) + f" {'gain dB':>8}")
    table = {}
    for ev in CONTINUOUS_EVS:
        if ev == 0:
            continue
        rows = [result.row(n, "psnr", ev) for n in names]
        gain = rows[0].mean - rows[1].mean
        table[ev] = {"cevr": rows[0].mean, "naive": rows[1].mean, "gain": gain}
        print(f"{ev:+5.1f} " + " ".join(f"{r.mean:18.2f} ± {r.std:4.2f}" for r in rows) + f" {gain:+8.2f}")
    for metric in ("reinhard_psnr", "kimkautz_psnr"):
        rows = [result.row(n, metric) for n in names]
        print(f"{metric}: " + ", ".join(f"{n} {r.mean:.2f} ± {r.std:.2f}" for n, r in zip(names, rows, strict=True)))
    print(json.dumps({str(k): {kk: round(vv, 2) for kk, vv in v.items()} for k, v in table.items()}))
    print("mean gain over EVs: {:.2f} dB".format(np.mean([v["gain"] for v in table.values()])))


if __name__ == "__main__":
    main()
