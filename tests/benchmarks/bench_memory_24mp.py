"""Peak memory of tiled inference on a 24-megapixel (6000x4000) photo on the CPU.

    python tests/benchmarks/bench_memory_24mp.py [--evs 1.0] [--threads 2]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np


def main() -> None:
    import torch

    from cevr_cli.evs import parse_evs
    from cevr_cli.model import load_predictor

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evs", default="1.0")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    blocks = rng.random((4000 // 50, 6000 // 50, 3))
    photo = np.clip(np.kron(blocks, np.ones((50, 50, 1))) * 0.8 + 0.1, 0, 1).astype(np.float32)
    predictor = load_predictor(None, "cpu")
    started = time.perf_counter()
    for _ev, _image in predictor.iter_predictions(photo, parse_evs(args.evs)):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"24 MP, EVs {args.evs}: {time.perf_counter() - started:.1f} s, peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
