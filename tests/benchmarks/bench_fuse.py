"""Benchmark: fuse a 13-exposure 8-bit synthetic stack with cevr (Debevec & Malik 1997) and with
OpenCV's CalibrateDebevec + MergeDebevec, reporting wall time and peak RSS of each.

Each method runs in its own subprocess so its peak RSS (``resource.getrusage``, Linux kB) is its
own; both include the stack itself, whose size is printed alongside, and "before" is the peak
reached while building the stack (so the fuse's own peak shows only where it exceeds that).

    python tests/benchmarks/bench_fuse.py                  # 12 megapixels, as a 12 MP phone photo
    python tests/benchmarks/bench_fuse.py --megapixels 2   # quicker
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time

import numpy as np

from cevr_cli.evs import CONTINUOUS_EVS

EVS = list(CONTINUOUS_EVS)  # -3 .. 3 EV in half stops: 13 exposures


def synthetic_stack(megapixels: float) -> list[np.ndarray]:
    """A 4:3 scene with a 12-stop radiance range and texture, seen through a gamma-2.2 camera."""
    w = max(4, int(round(math.sqrt(megapixels * 1e6 * 4 / 3))))
    h = max(3, int(round(w * 3 / 4)))
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    log2_e = -6.0 + 12.0 * x / w + 0.8 * np.sin(x / 37.0) * np.cos(y / 23.0)
    tint = np.array([1.0, 0.85, 0.7], dtype=np.float32)
    stack = []
    for ev in EVS:
        exposure = np.exp2(log2_e + ev)[..., None] * tint
        stack.append(np.round(255.0 * np.clip(exposure, 0.0, 1.0) ** (1 / 2.2)).astype(np.uint8))
    return stack


def run_child(method: str, megapixels: float) -> dict[str, float]:
    import cv2

    from cevr_cli.hdr.debevec1997 import merge_radiance, recover_response

    stack = synthetic_stack(megapixels)
    times = np.exp2(np.array(EVS))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    if method == "cevr":
        response = recover_response(stack, times)
        calibrated = time.perf_counter()
        radiance = merge_radiance(stack, times, response)
    else:
        times32 = times.astype(np.float32)
        response = cv2.createCalibrateDebevec().process(stack, times32)
        calibrated = time.perf_counter()
        radiance = cv2.createMergeDebevec().process(stack, times32, response)
    end = time.perf_counter()
    return {"calibrate_s": calibrated - start, "merge_s": end - calibrated, "total_s": end - start,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_before_mb": rss_before / 1024, "stack_mb": sum(im.nbytes for im in stack) / 2**20,
            "pixels": float(radiance.shape[0] * radiance.shape[1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--child", choices=["cevr", "opencv"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(args.child, args.megapixels)))
        return
    results = {}
    for method in ("cevr", "opencv"):
        command = [sys.executable, __file__, "--child", method, "--megapixels", str(args.megapixels)]
        out = subprocess.run(command, check=True, capture_output=True, text=True)
        results[method] = json.loads(out.stdout)
    ours, cv = results["cevr"], results["opencv"]
    print(f"{len(EVS)} x {ours['pixels'] / 1e6:.1f} MP 8-bit stack ({ours['stack_mb']:.0f} MiB)")
    print(f"{'method':<8}{'calibrate s':>13}{'merge s':>10}{'total s':>10}"
          f"{'peak RSS MiB':>14}{'before MiB':>12}")
    for name, r in results.items():
        print(f"{name:<8}{r['calibrate_s']:>13.2f}{r['merge_s']:>10.2f}{r['total_s']:>10.2f}"
              f"{r['peak_rss_mb']:>14.0f}{r['rss_before_mb']:>12.0f}")
    print(f"cevr / opencv: time {ours['total_s'] / cv['total_s']:.2f}x, "
          f"merge {ours['merge_s'] / cv['merge_s']:.2f}x, "
          f"peak RSS {ours['peak_rss_mb'] / cv['peak_rss_mb']:.2f}x")


if __name__ == "__main__":
    main()
