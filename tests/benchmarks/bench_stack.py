"""Stack benchmark: 13 EVs (-3:3:0.5) for one photo, our inference vs the naive way, same run.

naive    = one full forward pass per EV with the literal implementation (EV plane concatenated before
           every MLP, intensity maps convolved at full size): what a straightforward port does.
ours     = cevr's CEVRPredictor: encoder once per model, EVs batched through the decoder, EV folded into
           biases, MLPs collapsed, each decoder's 3x3 conv folded into its first MLP, intensity maps
           computed from 9 tap planes, and the CPU fast paths of
           cevr_cli/model/fastops.py (NNPACK Winograd 3x3 convolutions, OpenCV bicubic, BN folding).
plain    = ours with the fast paths switched off (plain F.conv2d / F.interpolate): what the reuse alone gives.
Each variant runs in its own subprocess so its peak RSS (ru_maxrss) is its own.

    PYTHONPATH=. python tests/benchmarks/bench_stack.py [--width 1024 --height 683] [--weights PATH] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def run_variant(variant: str, width: int, height: int, weights: str | None, threads: int) -> dict:
    import numpy as np
    import torch
    from procedural import procedural_radiance  # beside this script

    from cevr_cli.evs import CONTINUOUS_STACK, parse_evs
    from cevr_cli.model import CEVRPredictor, load_pair
    from cevr_cli.training.camera import CameraResponse, auto_exposure_scale, render_ldr
    from tests.model.reference import reference_forward  # the test oracle: run from the repository root

    torch.set_num_threads(threads)
    radiance = procedural_radiance(height, width, seed=3)
    photo = render_ldr(radiance, 0.0, CameraResponse("srgb"), exposure_scale=auto_exposure_scale(radiance))
    evs = [e for e in parse_evs(CONTINUOUS_STACK) if e != 0.0]
    pair = load_pair(weights)
    started = time.perf_counter()
    if variant == "plain":
        _disable_fast_paths()
    if variant in ("ours", "plain"):
        CEVRPredictor(pair).predict(photo, evs)
    else:
        ph, pw = (-height) % 8, (-width) % 8
        x = torch.from_numpy(np.pad(photo, ((0, ph), (0, pw), (0, 0)), mode="reflect").transpose(2, 0, 1).copy())[None]
        with torch.inference_mode():
            for ev in evs:
                reference_forward(pair.for_step(ev), x, torch.tensor([ev])).clamp(0, 1)[:, :, :height, :width].numpy()
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"variant": variant, "seconds": round(seconds, 2), "peak_rss_mib": round(peak_mib), "evs": len(evs) + 1,
            "size": f"{width}x{height}", "threads": threads}


def _disable_fast_paths() -> None:
    from cevr_cli.model import fastops

    fastops.FAST_PATHS = False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=683)
    parser.add_argument("--weights", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variant", choices=["ours", "plain", "naive"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.width, args.height, args.weights, args.threads)))
        return
    results = {}
    for variant in ("naive", "plain", "ours"):
        cmd = [sys.executable, __file__, "--variant", variant, "--width", str(args.width), "--height",
               str(args.height), "--threads", str(args.threads)] + (["--weights", args.weights] if args.weights else [])
        results[variant] = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        print(json.dumps(results[variant]))
    plain = results["naive"]["seconds"] / results["plain"]["seconds"]
    print(f"reuse alone (fast paths off): {plain:.2f}x faster than naive")
    speedup = results["naive"]["seconds"] / results["ours"]["seconds"]
    memory = results["ours"]["peak_rss_mib"] / results["naive"]["peak_rss_mib"]
    print(f"13-EV stack of {args.width}x{args.height}: ours {results['ours']['seconds']} s vs naive "
          f"{results['naive']['seconds']} s -> {speedup:.2f}x faster; peak RSS ratio ours/naive {memory:.2f}")


if __name__ == "__main__":
    main()
