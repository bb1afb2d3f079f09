"""RAW stacks: `--raw-mode linear` against `--raw-mode cevr` and the naive baseline, per EV, with known truth.

A RAW-like sensor image is made from each held-out radiance map (views as training validation sees them):
radiance x exposure (metered so that the brightest 2 % of pixels clip), Poisson-Gaussian noise, clipped at
the saturation level 1.0, quantised to 14 bits. The truth at step s is the noise-free radiance x 2^s,
sRGB-encoded and clipped. Arms, all from the same sensor image:

* linear: :class:`cevr_cli.exposure.PaperModel` on the sensor's linear data (exact x 2^s, CEVR only where clipped);
* cevr: the sensor image sRGB-encoded at 16 bits and stacked by CEVR like a JPEG (today's RAW path);
* naive: the same 16-bit image linearised with the sRGB curve, x 2^s, re-encoded.

PSNR (dB) over the whole image and over the clipped pixels only, mean over scenes.

    python tests/benchmarks/bench_raw.py ../shared/data/openexr-scenes ../shared/data/polyhaven-hdri [--weights W]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np


def sensor_image(
    radiance: np.ndarray, rng: np.random.Generator, clip_fraction: float = 0.02
) -> tuple[np.ndarray, float]:
    """(14-bit quantised noisy sensor image clipped at 1, exposure scale)."""
    peak = float(np.quantile(radiance.max(axis=2), 1.0 - clip_fraction))
    scale = 1.0 / max(peak, 1e-9)
    linear = radiance * scale
    noisy = linear + np.sqrt(2e-5 * linear + 1e-4**2) * rng.standard_normal(linear.shape)
    return (np.round(np.clip(noisy, 0.0, 1.0) * 16383) / 16383).astype(np.float32), scale


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return -10 * math.log10(mse + 1e-10)


def main() -> None:
    from cevr_cli.evaluation.baselines import NaiveExposure
    from cevr_cli.evs import CONTINUOUS_EVS
    from cevr_cli.exposure import PaperModel, measure_linear
    from cevr_cli.imaging import quantise, srgb_encode
    from cevr_cli.model import load_predictor
    from cevr_cli.response import SRGB
    from cevr_cli.training.scenes import find_radiance_maps, load_radiance, scene_views, split_scenes

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    predictor = load_predictor(args.weights, "cpu")
    naive = NaiveExposure(SRGB)
    evs = [ev for ev in CONTINUOUS_EVS if ev != 0]
    _, val = split_scenes(find_radiance_maps(args.folders))
    rng = np.random.default_rng(0)
    scores: dict[str, dict[float, list[float]]] = {k: {ev: [] for ev in evs} for k in
                                                   ("linear", "cevr", "naive", "linear_clipped", "cevr_clipped",
                                                    "naive_clipped")}
    clipped_fractions = []
    for path in val:
        for view in scene_views(load_radiance(path, 1024), args.size):
            sensor, scale = sensor_image(view, rng)
            clipped = (sensor >= 1.0).any(axis=2)
            clipped_fractions.append(float(clipped.mean()))
            photo = measure_linear(sensor, clipped)
            developed = quantise(srgb_encode(sensor), 16).astype(np.float32) / 65535
            arms = {"linear": {ev: f for ev, f, _ in PaperModel(predictor).frames(photo, evs)},
                    "cevr": dict(zip(evs, predictor.predict(developed, evs), strict=True)),
                    "naive": dict(zip(evs, naive.predict(developed, evs), strict=True))}
            for ev in evs:
                truth = srgb_encode(view * scale * 2.0**ev)
                for arm, frames in arms.items():
                    scores[arm][ev].append(psnr(frames[ev], truth))
                    if ev < 0 and clipped.any():
                        scores[f"{arm}_clipped"][ev].append(psnr(frames[ev][clipped], truth[clipped]))
    table = {arm: {f"{ev:+.1f}": float(np.mean(v)) for ev, v in per_ev.items() if v} for arm, per_ev in scores.items()}
    print(f"views: {len(clipped_fractions)}, clipped fraction mean {np.mean(clipped_fractions):.3f}")
    print(f"{'EV':>5} {'linear':>8} {'cevr':>8} {'naive':>8} | clipped region: {'linear':>8} {'cevr':>8} {'naive':>8}")
    for ev in evs:
        key = f"{ev:+.1f}"
        row = [table[a].get(key, float('nan')) for a in ("linear", "cevr", "naive", "linear_clipped", "cevr_clipped",
                                                         "naive_clipped")]
        print(f"{ev:+5.1f} " + " ".join(f"{v:8.2f}" for v in row[:3]) + " | " + " " * 16
              + " ".join(f"{v:8.2f}" for v in row[3:]))
    if args.json:
        args.json.write_text(json.dumps({"views": len(clipped_fractions), "psnr": table}, indent=2))


if __name__ == "__main__":
    main()
