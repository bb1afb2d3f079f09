"""Near-white channels next to clipped pixels in JPEG photos: lower bounds (``MeasuredImage.lossy``) or light?

The held-out views (the fixed validation split, ``--size`` px, +0.5 EV above the meter) are photographed by an
sRGB camera and JPEG-compressed at ``--qualities``; each is measured as a lossy photo with ``NEAR_WHITE_CODES``
set to each of ``--codes`` (0: the clip code alone, as for a lossless photo), and its physics frames at -3, -2
and -1 EV compared with the exact rendering over the clipped pixels: PSNR (dB) and hue error (degrees).

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
    args = parser.parse_args()

    _, val = split_scenes(find_radiance_maps(args.folders))
    views = [v for p in val for v in scene_views(load_radiance(p, 1024), args.size)]
    print("| JPEG quality | near-white codes | " + " | ".join(f"{ev:+.0f} EV: dB / degrees" for ev in EVS) + " |")
    print("|---:|---:|" + "---:|" * len(EVS))
    for quality in args.qualities:
        scores: dict[tuple[int, float], list[tuple[float, float]]] = {}
        for view in views:
            light = view.astype(np.float32) * np.float32(auto_exposure_scale(view) * 2.0**0.5)
            photo = (np.round(_jpeg_roundtrip(SRGB.encode(light), quality) * 255) / 255).astype(np.float32)
            for codes in args.codes:
                exposure.NEAR_WHITE_CODES = codes
                measured = exposure.measure_photo(photo, SRGB, 8, lossy=codes > 0)
                if not measured.clipped.any():
                    continue
                for ev in EVS:
                    frame = exposure.physics_frame(measured, ev)
                    truth = SRGB.encode(light * np.float32(2.0**ev))
                    scores.setdefault((codes, ev), []).append(
                        (psnr(frame, truth, measured.clipped),
                         hue_error(SRGB.decode(frame), SRGB.decode(truth), measured.clipped)))
        for codes in args.codes:
            cells = [np.mean(scores[(codes, ev)], axis=0) for ev in EVS]
            print(f"| {quality} | {codes} | " + " | ".join(f"{c[0]:.2f} / {c[1]:.2f}" for c in cells) + " |",
                  flush=True)


if __name__ == "__main__":
    main()
