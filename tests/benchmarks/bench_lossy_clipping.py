"""Near-white channels next to clipped pixels in JPEG photos: lower bounds (``MeasuredImage.lossy``) or light?

The held-out views (the fixed validation split, ``--size`` px, +0.5 EV above the meter) are photographed by an
sRGB camera and JPEG-compressed at ``--qualities``; each is measured as a lossy photo with ``NEAR_WHITE_CODES``
set to each of ``--codes`` (0: the clip code alone, as for a lossless photo), and its physics frames at -3, -2
and -1 EV compared with the exact rendering over the clipped pixels: PSNR (dB) and hue error (degrees), and PSNR
over the whole image. ``--grow``: with and/or without :func:`cevr_cli.exposure.lossy_clipping` (near-white pixels
joined to a clip count as clipped); every arm is scored on the widest clipped mask of the largest ``--codes``.
``--model cevr``: the frames of the default model (physics + the shipped residual) instead of physics alone.

    python tests/benchmarks/bench_lossy_clipping.py ../shared/data/openexr-scenes ../shared/data/polyhaven-hdri
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from eval_residual import hue_error, psnr  # noqa: E402

EVS = (-3.0, -2.0, -1.0)


def main() -> None:
    import cevr_cli.exposure as exposure
    from cevr_cli.response import SRGB
    from cevr_cli.training.camera import _jpeg_roundtrip, auto_exposure_scale
    from cevr_cli.training.scenes import find_radiance_maps, load_radiance, scene_views, split_scenes

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--qualities", type=int, nargs="+", default=[75, 92])
    parser.add_argument("--codes", type=int, nargs="+", default=[0, 3, 6, 10])
    parser.add_argument("--grow", choices=("yes", "no", "both"), default="both",
                        help="near-white pixels joined to a clip count as clipped (exposure.lossy_clipping)")
    parser.add_argument("--model", choices=("physics", "cevr"), default="physics",
                        help="the frames of physics alone, or of physics + the shipped residual network")
    args = parser.parse_args()
    model = exposure.load_exposure_model(args.model, device="cpu", precision="fp32")
    grown = exposure.lossy_clipping
    grows = {"yes": (True,), "no": (False,), "both": (False, True)}[args.grow]
    arms = [(codes, grow) for codes in args.codes for grow in ((False,) if codes == 0 else grows)]

    _, val = split_scenes(find_radiance_maps(args.folders))
    views = [v for p in val for v in scene_views(load_radiance(p, 1024), args.size)]
    print("| JPEG quality | near-white codes | joined near-white pixels clipped | "
          + " | ".join(f"{ev:+.0f} EV: dB / degrees" for ev in EVS) + " | "
          + " | ".join(f"{ev:+.0f} EV, whole image" for ev in EVS) + " |")
    print("|---:|---:|---|" + "---:|" * (2 * len(EVS)))
    for quality in args.qualities:
        scores: dict[tuple[int, bool, float], list[tuple[float, float, float]]] = {}
        for view in views:
            light = view.astype(np.float32) * np.float32(auto_exposure_scale(view) * 2.0**0.5)
            photo = (np.round(_jpeg_roundtrip(SRGB.encode(light), quality) * 255) / 255).astype(np.float32)
            exposure.NEAR_WHITE_CODES = max(args.codes)
            # every arm is scored on the widest clipped mask (the pixels any arm may treat as clipped)
            widest = exposure.measure_photo(photo, SRGB, 8, lossy=True).clipped
            if not widest.any():
                continue
            for codes, grow in arms:
                exposure.NEAR_WHITE_CODES = codes
                exposure.lossy_clipping = grown if grow else (lambda rgb, clipped: clipped)
                measured = exposure.measure_photo(photo, SRGB, 8, lossy=codes > 0)
                for ev, frame, _ in model.frames(measured, EVS):
                    truth = SRGB.encode(light * np.float32(2.0**ev))
                    scores.setdefault((codes, grow, ev), []).append(
                        (psnr(frame, truth, widest), hue_error(SRGB.decode(frame), SRGB.decode(truth), widest),
                         psnr(frame, truth)))
        for codes, grow in arms:
            cells = [np.mean(scores[(codes, grow, ev)], axis=0) for ev in EVS]
            print(f"| {quality} | {codes} | {'yes' if grow else 'no'} | "
                  + " | ".join(f"{c[0]:.2f} / {c[1]:.2f}" for c in cells) + " | "
                  + " | ".join(f"{c[2]:.2f}" for c in cells) + " |", flush=True)

if __name__ == "__main__":
    main()
