"""Which photos decide the clipped-pixel cells of ``eval_residual.py``: residual - physics per view.

``eval_residual.py`` reports, per curve family and darkening EV, the mean over photos of the PSNR over the pixels
the photo clipped. A mean of dB is decided by the photos where physics is already near exact: a barely clipped
overcast sky (physics 43 dB over its clipped pixels) that the network brightens by a quarter loses 10 dB there,
and outweighs gains of tenths of a dB on the other views. This prints, for one family, each view's clipped
fraction, how far above white the truth lies there (the median and 90th percentile of the true light's largest
channel, 1 = white), the physics path's PSNR at -3 EV and the residual's difference at each darkening EV, for
each ``--gains`` value; then the mean with and without the view that loses most. The same views, cameras, seeds
and PSNR as ``eval_residual.py`` (``--size``, ``--cameras``, ``--offset``, ``--camera-set``), through
:class:`cevr_cli.exposure.ResidualModel`'s own path (the network runs once per photo, replayed for every gain).

    python tests/benchmarks/clipped_views.py ../shared/data/openexr-scenes ../shared/data/polyhaven-hdri \
        [--family srgb] [--size 192] [--gains 0.25 0.5] [--residual weights/cevr-residual.safetensors]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from choose_residual_gain import DARKENING, ReplayPredictor  # noqa: E402
from eval_residual import FAMILIES, cameras, psnr  # noqa: E402


def main() -> None:
    from cevr_cli.exposure import PhysicsModel, ResidualModel, measure_photo
    from cevr_cli.model import load_predictor
    from cevr_cli.training.camera import auto_exposure_scale
    from cevr_cli.training.residual import render
    from cevr_cli.training.scenes import find_radiance_maps, load_radiance, scene_views, split_scenes

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--family", choices=FAMILIES, default="srgb")
    parser.add_argument("--residual", default="weights/cevr-residual.safetensors")
    parser.add_argument("--gains", type=float, nargs="+", default=[0.25, 0.5])
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--cameras", type=int, default=1)
    parser.add_argument("--offset", type=float, default=0.5)
    parser.add_argument("--camera-set", choices=("held-out", "training"), default="held-out")
    args = parser.parse_args()

    _, val = split_scenes(find_radiance_maps(args.folders))
    views = [(p.stem, v) for p in val for v in scene_views(load_radiance(p, 1024), args.size)]
    replay = ReplayPredictor(load_predictor(args.residual, "cpu", precision="fp32"))
    arms = {g: ResidualModel(replay, scale=2.0, gain=g) for g in args.gains}
    family_index = FAMILIES.index(args.family)
    header = ["view", "scene", "clipped", "truth p50", "truth p90", "physics -3"]
    header += [f"g{g:g} {ev:+.1f}" for g in args.gains for ev in DARKENING]
    print("| " + " | ".join(header) + " |\n|" + "---|" * 2 + "---:|" * (len(header) - 2))
    rows: list[list[float]] = []
    for i, (scene, view) in enumerate(views):
        for true, assumed in cameras(args.family, args.cameras, 1000 * i + family_index, args.camera_set):
            scale = auto_exposure_scale(view) * 2.0**args.offset
            photo = render(view, scale, true, np.random.default_rng(i))
            measured = measure_photo(photo, assumed, 8)
            if not measured.clipped.any():
                continue
            truths = {ev: render(view, scale * 2.0**ev, true, None) for ev in DARKENING}
            physics = {ev: f for ev, f, _ in PhysicsModel().frames(measured, DARKENING)}
            base = {ev: psnr(physics[ev], truths[ev], measured.clipped) for ev in DARKENING}
            deltas = []
            for model in arms.values():
                frames = {ev: f for ev, f, _ in model.frames(measured, DARKENING)}
                deltas += [psnr(frames[ev], truths[ev], measured.clipped) - base[ev] for ev in DARKENING]
            light = (view[measured.clipped] * np.float32(scale)).max(axis=1)
            p50, p90 = np.quantile(light, [0.5, 0.9])
            rows.append(deltas)
            print(f"| {i} | {scene} | {measured.clipped_fraction:.3f} | {p50:.2f} | {p90:.2f} | {base[-3.0]:.2f} | "
                  + " | ".join(f"{d:+.2f}" for d in deltas) + " |", flush=True)
    table = np.array(rows)
    worst = int(np.argmin(table.min(axis=1)))
    for label, selected in (("mean", table), ("mean without the worst view", np.delete(table, worst, axis=0))):
        print(f"| {label} |" + " |" * 5 + " " + " | ".join(f"{d:+.2f}" for d in selected.mean(axis=0)) + " |")


if __name__ == "__main__":
    main()
