"""A 13-EV stack (float frames, not written) of a large camera photo read through the camera prior, per model.

    python tests/benchmarks/bench_camera_stack.py [--megapixels 12] [--darken 0 1] [--models physics cevr]

The photo is ``bench_table_response.py``'s (the bundled sample upscaled, with noise); ``--darken D`` scales its
light by 2^-D before it is encoded again, so that less of it clipped (the sample clips 43 % of its pixels).
Peak RSS is the process's (``ru_maxrss``), so one model per process gives each its own. To compare two versions
of cevr, run the script from each checkout in turn (``PYTHONPATH=<checkout>``): the photo and the timings are
made the same way in both.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_table_response import photo  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--darken", type=float, nargs="+", default=[0.0, 1.0])
    parser.add_argument("--models", nargs="+", default=["physics", "cevr"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    import cevr_cli
    from cevr_cli.evs import CONTINUOUS_STACK, parse_evs
    from cevr_cli.exposure import load_exposure_model, measure_photo
    from cevr_cli.imaging import quantise
    from cevr_cli.response import camera_prior

    prior = camera_prior()
    base = prior.decode(photo(args.megapixels))
    results = []
    for model_name in args.models:
        model = load_exposure_model(model_name, device="cpu", precision="auto")
        for darken in args.darken:
            rgb = quantise(prior.encode(base * np.float32(2.0**-darken)), 8).astype(np.float32) / np.float32(255)
            started = time.perf_counter()
            measured = measure_photo(rgb, prior, 8)
            for _ in model.frames(measured, parse_evs(CONTINUOUS_STACK)):
                pass
            seconds = time.perf_counter() - started
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            results.append({"model": model_name, "darken": darken, "clipped": measured.clipped_fraction,
                            "seconds": seconds, "peak_rss_mib": peak})
            print(f"{model_name:8s} darken {darken:g} EV ({measured.clipped_fraction:.1%} clipped): {seconds:.1f} s, "
                  f"peak RSS so far {peak:.0f} MiB ({Path(cevr_cli.__file__).parent})", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
