"""Tabulated responses (the camera prior, darktable's curves, calibrated profiles): the lookup's cost.

    python tests/benchmarks/bench_table_response.py [--megapixels 12] [--repeats 3] [--threads 2]
    python tests/benchmarks/bench_table_response.py --megapixels 24 --save-jpeg big24cam.jpg  # for `cevr stack`

Every camera JPEG read with ``--response camera`` or a profile goes through a 4096-node table twice per frame
pixel and channel: R^-1 once per photo, R once per frame. Timed in one run, best of ``--repeats``:

* one 12 MP frame through R and R^-1: ``np.interp`` (the lookup before 2026-12-06: a float64 binary search
  of the nodes per value) against :class:`cevr_cli.response.PiecewiseLinear` (a uniform index of the segments),
  and their largest difference;
* a 13-EV physics stack (float frames, not written) of a photo that size (the bundled sample, upscaled, with
  noise, 43 % clipped) read through the camera prior, with each lookup, and the stack's largest code difference.

``--save-jpeg PATH`` writes that photo instead, as a camera JPEG (quality 92, EXIF Make Canon, so that ``cevr``'s
``auto`` reads it through the camera prior), for timing ``cevr stack`` end to end (README, Benchmarks).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_response_speed import best_of  # noqa: E402


def interp_table(self, values: np.ndarray, forward: bool) -> np.ndarray:
    """The previous lookup: ``np.interp`` per channel (the camera prior has one row)."""
    xp, fp = (self.linear, self.codes) if forward else (self.codes, self.linear)
    return np.interp(values, np.atleast_2d(xp)[0], np.atleast_2d(fp)[0]).astype(np.float32)


def photo(megapixels: float) -> np.ndarray:
    import cv2
    from PIL import Image

    from cevr_cli.assets import sample_photo_path

    sample = np.asarray(Image.open(sample_photo_path()).convert("RGB"))
    height = int(round((megapixels * 1e6 * sample.shape[0] / sample.shape[1]) ** 0.5))
    width = int(round(height * sample.shape[1] / sample.shape[0]))
    big = cv2.resize(sample, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    big += np.random.default_rng(0).normal(0.0, 1.5, big.shape).astype(np.float32)
    return np.clip(np.round(big), 0, 255).astype(np.float32) / np.float32(255)


def save_camera_jpeg(rgb: np.ndarray, path: Path) -> None:
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "EOS 5D"  # Make, Model
    Image.fromarray(np.round(rgb * 255).astype(np.uint8)).save(path, quality=92, exif=exif)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--save-jpeg", type=Path, default=None)
    args = parser.parse_args()
    if args.save_jpeg:
        save_camera_jpeg(photo(args.megapixels), args.save_jpeg)
        return

    import cv2

    cv2.setNumThreads(args.threads)
    from cevr_cli.evs import CONTINUOUS_STACK, parse_evs
    from cevr_cli.exposure import PhysicsModel, measure_photo
    from cevr_cli.response import Response, camera_prior

    prior = camera_prior()
    rgb = photo(args.megapixels)
    light = prior.decode(rgb)
    lookups = {"np.interp": interp_table, "PiecewiseLinear": Response._table}
    results: dict[str, dict[str, float]] = {}
    stacks: dict[str, list[np.ndarray]] = {}
    for name, table in lookups.items():
        Response._table = table
        encode = best_of(args.repeats, lambda: prior.encode(light))
        decode = best_of(args.repeats, lambda: prior.decode(rgb))

        def stack(name: str = name) -> None:
            stacks[name] = [frame for _, frame, _ in PhysicsModel().frames(measure_photo(rgb, prior, 8),
                                                                             parse_evs(CONTINUOUS_STACK))]

        results[name] = {"encode_s": encode, "decode_s": decode, "stack_s": best_of(args.repeats, stack)}
        print(f"{name:16s} R {encode:.3f} s, R^-1 {decode:.3f} s, 13-EV physics stack {results[name]['stack_s']:.2f} s",
              flush=True)
    Response._table = lookups["PiecewiseLinear"]
    old, new = results["np.interp"], results["PiecewiseLinear"]
    frame_difference = float(np.abs(prior.encode(light) - interp_table(prior, light, True)).max())
    stack_difference = max(float(np.abs(a - b).max()) for a, b in zip(stacks["np.interp"], stacks["PiecewiseLinear"],
                                                                         strict=True))
    summary = {"megapixels": rgb.shape[0] * rgb.shape[1] / 1e6, "threads": args.threads, **results,
               "speedup": {k: old[k] / new[k] for k in old}, "max_code_difference_frame": frame_difference,
               "max_code_difference_stack": stack_difference}
    print(f"speedup: R {summary['speedup']['encode_s']:.1f}x, R^-1 {summary['speedup']['decode_s']:.1f}x, "
          f"stack {summary['speedup']['stack_s']:.2f}x; largest difference {frame_difference:.1e} (frame), "
          f"{stack_difference:.1e} (stack) codes")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
