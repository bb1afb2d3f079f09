"""The measured merge of `cevr fuse`: the model's own light (``ExposureModel.hdr``) against merging its darker frames.

Until physics revision 3's follow-up, `fuse` made the residual model's darker frames (each the re-exposure of the
one light L the model estimates) and merged them again with Debevec & Malik's weighted average, giving back L
within 0.45 %. Now the HDR image is L itself. This script times both on the sample photo upscaled to
``--megapixels`` (bicubic, sRGB, 43 % of its pixels clipped: the residual's worst case), in the same run, and
prints the largest relative difference of the two HDR images.

    python tests/benchmarks/bench_fuse_measured.py [--megapixels 12] [--repeats 2]
"""

from __future__ import annotations

import argparse
import time
from importlib import resources

import cv2
import numpy as np

from cevr_cli.evs import CONTINUOUS_EVS
from cevr_cli.exposure import load_exposure_model, measure_photo, measured_radiance
from cevr_cli.response import SRGB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    path = resources.files("cevr_cli") / "samples" / "sample.jpg"
    photo = cv2.imread(str(path))[..., ::-1].astype(np.float32) / np.float32(255)
    h, w = photo.shape[:2]
    factor = (args.megapixels * 1e6 / (h * w)) ** 0.5
    photo = cv2.resize(photo, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_CUBIC)
    photo = np.round(photo.clip(0, 1) * 255).astype(np.float32) / np.float32(255)
    measured = measure_photo(photo, SRGB, 8)
    model = load_exposure_model("cevr", device="cpu", precision="fp32")
    darker = [ev for ev in CONTINUOUS_EVS if ev < 0]
    print(f"{photo.shape[1]}x{photo.shape[0]}, {measured.clipped_fraction:.0%} clipped")
    for _ in range(args.repeats):
        started = time.perf_counter()
        merged = measured_radiance(measured, model.frames(measured, darker))
        merging = time.perf_counter() - started
        started = time.perf_counter()
        light, _ = model.hdr(measured, CONTINUOUS_EVS)
        own = time.perf_counter() - started
        difference = np.max(np.abs(light - merged) / np.maximum(merged, 1e-6))
        print(f"frames + merge {merging:.2f} s; the model's light {own:.2f} s ({own / merging:.2f}x); "
              f"largest relative difference {difference:.4f}")


if __name__ == "__main__":
    main()
