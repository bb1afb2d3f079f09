"""Benchmark: tone-map a large HDR image for display, per operator: wall time and peak RSS.

The image is a 3:2 scene with a 16-stop radiance range, texture and a clipped-free sun, float32 as
`cevr fuse` hands it over. Each operator runs in its own subprocess so its peak RSS (``resource.getrusage``,
Linux kB) is its own; "input" is the peak reached while making the image, so the operator's own cost is the
difference. Compare commits by running the script from each checkout on the same machine, one after the other.

    python tests/benchmarks/bench_tonemap.py                  # 24 megapixels, as `cevr fuse` of a 24 MP photo
    python tests/benchmarks/bench_tonemap.py --megapixels 2   # quicker
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

OPERATORS = ("reinhard", "kimkautz", "reinhard-local")


def synthetic_hdr(megapixels: float) -> np.ndarray:
    """Float32 HxWx3 linear radiance over 16 stops with a warm tint and a small very bright disc."""
    w = max(4, int(round(math.sqrt(megapixels * 1e6 * 3 / 2))))
    h = max(3, int(round(w * 2 / 3)))
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    log2_e = -8.0 + 14.0 * x / w + 0.8 * np.sin(x / 37.0) * np.cos(y / 23.0)
    log2_e += 2.0 * (((x - 0.8 * w) ** 2 + (y - 0.2 * h) ** 2) < (0.02 * w) ** 2)
    return np.exp2(log2_e)[..., None] * np.array([1.0, 0.85, 0.7], dtype=np.float32)


def run_child(operator: str, megapixels: float) -> dict[str, float]:
    from cevr_cli.hdr.tonemap import tonemap_to_display

    hdr = synthetic_hdr(megapixels)
    rss_input = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    display = tonemap_to_display(hdr, operator)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "input_mib": rss_input / 1024, "checksum": float(display.astype(np.float64).sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", type=float, default=24.0)
    parser.add_argument("--operators", default=",".join(OPERATORS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(args.child, args.megapixels)))
        return
    print(f"{args.megapixels:g} MP float32 HDR ({args.megapixels * 12:.0f} MB)")
    for operator in args.operators.split(","):
        out = subprocess.run([sys.executable, __file__, "--child", operator, "--megapixels", str(args.megapixels)],
                             check=True, capture_output=True, text=True).stdout
        result = json.loads(out.strip().splitlines()[-1])
        print(f"{operator:15s} {result['seconds']:6.2f} s  peak RSS {result['peak_mib']:6.0f} MiB "
              f"(input {result['input_mib']:.0f} MiB)  checksum {result['checksum']:.6e}")


if __name__ == "__main__":
    main()
