"""How far fully clipped pixels are raised above their least light (``cevr_cli.highlight_fill``'s rise), measured
on physics frames only: the constants RISE_GAIN, MAX_RISE_STOPS, RING_PIXELS and MIN_RING_LIGHT were chosen with
this script on the training split's views and reported on the validation split's.

Each view (a flat map resized to ``--size`` square, a panorama as two 90-degree views) is photographed by one
synthetic camera per family (8-bit, sensor noise, metered exposure + each ``--offsets`` EV; the families of
``eval_residual.py``); per family, offset and setting ``GAIN:CAP:RING:MIN_LIGHT`` it prints the change against
no rise (the first row's absolute values) of: PSNR (dB) of the darker frames at -3 .. -0.5 EV, of the HDR image
after Reinhard (HDR Toolbox form) over the whole image and over the clipped pixels, the clipped pixels' light
(mean |log2 error| and bias in stops, and PSNR through one fixed tone curve: ``eval_residual.clipped_light_errors``),
and the worst view's change at -3 EV and on the HDR.

    python tests/benchmarks/choose_highlight_rise.py ../shared/data/openexr-scenes ../shared/data/polyhaven-hdri \\
        --split train --offsets 0.5 1.5 --settings 0.25:0.5:3:0.5 0.5:0.5:3:0.5 0.35:0.75:3:0.5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from eval_residual import FAMILIES, cameras, clipped_light_errors, psnr  # noqa: E402

DARKER = (-3.0, -2.5, -2.0, -1.5, -1.0, -0.5)
COLUMNS = (*DARKER, "HDR", "HDR clipped", "log2 error", "bias", "fixed curve")


def scores(view: np.ndarray, offset: float, true, assumed, seed: int) -> dict[str, float] | None:
    """The columns for one photo of ``view`` at the rise settings now in ``highlight_fill``; None if nothing clipped."""
    from cevr_cli.exposure import measure_photo
    from cevr_cli.hdr.tonemap import tonemap_to_display
    from cevr_cli.training.camera import auto_exposure_scale
    from cevr_cli.training.residual import render

    scale = auto_exposure_scale(view) * 2.0**offset
    photo = render(view, scale, true, np.random.default_rng(seed))
    measured = measure_photo(photo, assumed, 8)
    if not measured.clipped.any():
        return None
    light = measured.linear.copy()
    light[measured.clipped] = measured.clipped_light()
    row = {ev: psnr(measured.output.encode(np.minimum(light * np.float32(2.0**ev), 1.0)),
                    render(view, scale * 2.0**ev, true, None)) for ev in DARKER}
    truth = view * np.float32(scale)
    mapped, mapped_truth = (tonemap_to_display(x, "reinhard", toolbox=True) for x in (light, truth))
    row["HDR"], row["HDR clipped"] = psnr(mapped, mapped_truth), psnr(mapped, mapped_truth, measured.clipped)
    row.update(clipped_light_errors(light, truth, measured.clipped))
    return row


def main() -> None:
    import cevr_cli.highlight_fill as fill
    from cevr_cli.training.scenes import find_radiance_maps, load_radiance, scene_views, split_scenes

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--split", choices=("train", "validation"), default="validation")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--offsets", type=float, nargs="+", default=[0.5], help="exposure above the meter, EV")
    parser.add_argument("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    parser.add_argument("--settings", nargs="+", default=[f"{fill.RISE_GAIN}:{fill.MAX_RISE_STOPS}:"
                                                          f"{fill.RING_PIXELS}:{fill.MIN_RING_LIGHT}"],
                        help="GAIN:CAP:RING:MIN_LIGHT, each compared with no rise")
    args = parser.parse_args()

    train, validation = split_scenes(find_radiance_maps(args.folders))
    maps = train if args.split == "train" else validation
    views = [v for path in maps for v in scene_views(load_radiance(path, 1024), args.size)]
    settings = [(0.0, 0.0, 3.0, 0.5)] + [tuple(float(x) for x in s.split(":")) for s in args.settings]
    for family in args.families:
        for offset in args.offsets:
            table: dict[tuple, dict[str, list[float]]] = {s: {c: [] for c in COLUMNS} for s in settings}
            for i, view in enumerate(views):
                for true, assumed in cameras(family, 1, 1000 * i + 7):
                    for setting in settings:
                        fill.RISE_GAIN, fill.MAX_RISE_STOPS, fill.RING_PIXELS, fill.MIN_RING_LIGHT = setting
                        row = scores(view, offset, true, assumed, i)
                        if row is None:
                            break
                        for column in COLUMNS:
                            table[setting][column].append(row[column])
            base = table[settings[0]]
            print(f"\n### {family}, {args.split} views, {offset:+.1f} EV above the meter: "
                  f"{len(base[DARKER[0]])} photos with clipped pixels\n")
            print("| setting | " + " | ".join(str(c) for c in COLUMNS) + " | worst view -3 EV | worst view HDR |")
            print("|---|" + "---:|" * (len(COLUMNS) + 2))
            print("| no rise | " + " | ".join(f"{np.mean(base[c]):.2f}" for c in COLUMNS) + " | | |")
            for setting in settings[1:]:
                ours = table[setting]
                worst = [float(np.min(np.subtract(ours[c], base[c]))) for c in (DARKER[0], "HDR")]
                print(f"| {':'.join(f'{x:g}' for x in setting)} | "
                      + " | ".join(f"{np.mean(ours[c]) - np.mean(base[c]):+.2f}" for c in COLUMNS)
                      + f" | {worst[0]:+.2f} | {worst[1]:+.2f} |")


if __name__ == "__main__":
    main()
