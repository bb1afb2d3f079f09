"""Speed of a 13-EV stack on the physics-first path against one plain VGG16 pass, timed in the same run.

The reference is one fp32 forward pass of VGG16's conv1_1..conv3_3 (torchvision's layer layout, no
BatchNorm, random weights: only the arithmetic matters) on the photo's size. The arms make the 13-image
continuous stack (EV -3..+3 in 0.5 steps, float frames, no file writing) of the bundled sample photo resized
to ``--width`` x ``--height`` (its sky is clipped: the worst case for the residual network):

* physics only (``--model physics``), and the same without the hue fill of clipped pixels (``no hue fill``:
  the physics before :mod:`cevr_cli.highlight_fill`);
* physics + residual at full resolution (``ResidualModel(scale=1)``);
* physics + residual at half resolution (``scale=2``, the default), and the same without the hue fill;
* the paper's CEVR (``--model cevr-paper``), the previous default.

Each arm runs ``--repeats`` times after a warm-up, each run on a fresh copy of the measurement (its cached
soft masks and hue fill are made again, as they are once per photo); the best time is reported, and its
ratio to the best reference pass.

    python tests/benchmarks/bench_response_speed.py [--residual weights/cevr-residual.safetensors] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import numpy as np


def best_of(repeats: int, run) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    import cv2
    import torch
    from torchvision.models.vgg import make_layers

    from cevr_cli.assets import sample_photo_path
    from cevr_cli.evs import CONTINUOUS_EVS
    from cevr_cli.exposure import PaperModel, PhysicsModel, ResidualModel, measure_photo
    from cevr_cli.io.images import read_photo
    from cevr_cli.model import load_predictor
    from cevr_cli.response import SRGB

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residual", default="weights/cevr-residual.safetensors")
    parser.add_argument("--paper", default="weights/cevr-synthetic.safetensors")
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=683)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--skip-paper", action="store_true", help="the paper arm takes ~20 s per stack")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    rgb = cv2.resize(read_photo(sample_photo_path()).rgb, (args.width, args.height), interpolation=cv2.INTER_AREA)
    measured = measure_photo(rgb, SRGB, 8)
    vgg = make_layers([64, 64, "M", 128, 128, "M", 256, 256, 256]).eval()
    x = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]

    def reference() -> None:
        with torch.inference_mode():
            vgg(x)

    residual = load_predictor(args.residual, "cpu", precision="fp32")
    half = ResidualModel(residual, scale=2.0)
    arms = {"physics, no hue fill": PhysicsModel(), "physics": PhysicsModel(),
            "residual, full resolution": ResidualModel(residual, scale=1.0),
            "residual, half resolution, no hue fill": half, "residual, half resolution": half}
    if not args.skip_paper:
        arms["CEVR (paper)"] = PaperModel(load_predictor(args.paper, "cpu", precision="fp32"))
    reference()
    results = {"size": [args.width, args.height], "clipped_fraction": measured.clipped_fraction,
               "threads": torch.get_num_threads(), "reference_vgg16_conv1_1_to_conv3_3_s": best_of(args.repeats,
                                                                                                   reference)}
    for name, model in arms.items():
        fill_hue = not name.endswith("no hue fill")

        def stack(model=model, fill_hue=fill_hue) -> None:
            for _ in model.frames(replace(measured, fill_hue=fill_hue), CONTINUOUS_EVS):
                pass

        stack()  # warm-up
        seconds = best_of(args.repeats, stack)
        results[name] = {"seconds": seconds, "x_reference": seconds / results["reference_vgg16_conv1_1_to_conv3_3_s"]}
    results["reference_again_s"] = best_of(args.repeats, reference)  # the machine's load did not change much
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
