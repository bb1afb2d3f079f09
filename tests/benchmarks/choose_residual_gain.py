"""Choose the residual's gain on darktable's TRAINING curves (never the held-out ones), as weights/README.md says.

The same views, cameras, seeds and PSNR as ``eval_residual.py --camera-set training --cameras 1 --size 192``
(its LDR rows ``physics`` and ``physics + residual`` at every darkening EV, with the hue fill), for several
gains in one pass: the network runs once per photo and each gain goes through :class:`ResidualModel`'s own
code path (a caching predictor replays the network's output). Also the fused HDR after Reinhard and
Kim-Kautz. The rule: the largest pooled mean gain over physics (4 families x 6 darkening EVs) with no family
and EV losing more than 0.5 dB, and, on the families whose curve the physics reads exactly (sRGB, gamma: there
the network's only job is the clipped light), no darkening EV where the clipped pixels lose (issue 20's bar);
gain 0 (physics only) when no gain > 0 has a positive pooled mean under both.

    python tests/benchmarks/choose_residual_gain.py ../shared/data/openexr-scenes ../shared/data/polyhaven-hdri \
        --residual weights/cevr-residual.safetensors [--gains 0.25 0.5 0.75 1.0] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from eval_residual import EVS, FAMILIES, cameras, family_label, psnr, score_hdr  # noqa: E402

DARKENING = [ev for ev in EVS if ev < 0]
EXACT_FAMILIES = ("srgb", "gamma")  # the physics reads these through their own curve: only clipped light is missing


class ReplayPredictor:
    """The wrapped predictor's ``iter_on_frames``, computed once per photo and replayed for every gain; the rest
    is the wrapped predictor's."""

    def __init__(self, predictor) -> None:
        self.predictor, self.cache = predictor, {}

    def __getattr__(self, name: str):
        return getattr(self.predictor, name)

    def iter_on_frames(self, rgb, frames):
        key = (rgb.tobytes(), tuple(ev for ev, _ in frames))
        if key not in self.cache:
            self.cache = {key: list(self.predictor.iter_on_frames(rgb, frames))}
        yield from self.cache[key]


def main() -> None:
    from cevr_cli.exposure import PhysicsModel, ResidualModel, measure_photo
    from cevr_cli.hdr.tonemap import tonemap_to_display
    from cevr_cli.model import load_predictor
    from cevr_cli.training.camera import auto_exposure_scale
    from cevr_cli.training.residual import render
    from cevr_cli.training.scenes import find_radiance_maps, load_radiance, scene_views, split_scenes

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--residual", default="weights/cevr-residual.safetensors")
    parser.add_argument("--gains", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--cameras", type=int, default=1)
    parser.add_argument("--offset", type=float, default=0.5)
    parser.add_argument("--camera-set", choices=("held-out", "training"), default="training")
    parser.add_argument("--max-loss", type=float, default=0.5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    _, val = split_scenes(find_radiance_maps(args.folders))
    views = [v for p in val for v in scene_views(load_radiance(p, 1024), args.size)]
    replay = ReplayPredictor(load_predictor(args.residual, "cpu", precision="fp32"))
    arms = {"physics": PhysicsModel(), **{f"gain {g:g}": ResidualModel(replay, scale=2.0, gain=g) for g in args.gains}}
    ldr: dict[tuple[str, str, float], list[float]] = {}
    clipped_ldr: dict[tuple[str, str, float], list[float]] = {}
    hdr: dict[tuple[str, str, str], list[float]] = {}
    for family in FAMILIES:
        for i, view in enumerate(views):
            for true, assumed in cameras(family, args.cameras, 1000 * i + FAMILIES.index(family), args.camera_set):
                scale = auto_exposure_scale(view) * 2.0**args.offset
                photo = render(view, scale, true, np.random.default_rng(i))
                truths = {ev: render(view, scale * 2.0**ev, true, None) for ev in EVS}
                truth_tm = {op: tonemap_to_display(view * np.float32(scale), op, toolbox=True)
                            for op in ("reinhard", "kimkautz")}
                measured = measure_photo(photo, assumed, 8)
                for name, model in arms.items():
                    radiance, kept = model.hdr(measured, EVS, keep_frames=True)
                    frames = {ev: f for ev, f, _ in kept}
                    for ev in DARKENING:
                        ldr.setdefault((family, name, ev), []).append(psnr(frames[ev], truths[ev]))
                        if measured.clipped.any():
                            clipped_ldr.setdefault((family, name, ev), []).append(
                                psnr(frames[ev], truths[ev], measured.clipped))
                    score_hdr(hdr, (family, name), radiance, truth_tm, measured.clipped)
        print(f"{family_label(family, args.camera_set)}: done", flush=True)

    mean = {k: float(np.mean(v)) for k, v in ldr.items()}
    print(f"\n{args.camera_set} curves, {len(views)} views x {args.cameras} camera(s) per family; "
          "residual - physics (dB), LDR, darkening EVs\n")
    print("| gain | family | " + " | ".join(f"{ev:+.1f}" for ev in DARKENING) + " | HDR Reinhard | HDR Kim-Kautz |")
    print("|---|---|" + "---:|" * (len(DARKENING) + 2))
    summary = {}
    for g in args.gains:
        name = f"gain {g:g}"
        deltas = []
        for family in FAMILIES:
            row = [mean[(family, name, ev)] - mean[(family, "physics", ev)] for ev in DARKENING]
            deltas += row
            tm = [np.mean(hdr[(family, name, op)]) - np.mean(hdr[(family, "physics", op)])
                  for op in ("reinhard", "kimkautz")]
            print(f"| {g:g} | {family_label(family, args.camera_set)} | " + " | ".join(f"{d:+.2f}" for d in row)
                  + f" | {tm[0]:+.2f} | {tm[1]:+.2f} |")
        clipped = [float(np.mean(clipped_ldr[(family, name, ev)]) - np.mean(clipped_ldr[(family, "physics", ev)]))
                   for family in EXACT_FAMILIES for ev in DARKENING]
        summary[g] = {"pooled": float(np.mean(deltas)), "worst": float(np.min(deltas)),
                      "worst_clipped_exact": float(np.min(clipped))}
    print("\n| gain | pooled | worst | worst clipped pixels, sRGB and gamma |\n|---:|---:|---:|---:|")
    for g, s in summary.items():
        print(f"| {g:g} | {s['pooled']:+.3f} | {s['worst']:+.3f} | {s['worst_clipped_exact']:+.3f} |")
    allowed = [g for g, s in summary.items()
               if s["worst"] >= -args.max_loss and s["worst_clipped_exact"] >= 0 and s["pooled"] > 0]
    chosen = max(allowed, key=lambda g: summary[g]["pooled"]) if allowed else 0.0
    print(f"\nchosen gain: {chosen:g}" + ("" if allowed else " (no gain > 0 passes: physics only)"))
    if args.json:
        args.json.write_text(json.dumps({
            "ldr": {f"{f}|{m}|{ev:+.1f}": v for (f, m, ev), v in mean.items()},
            "ldr_clipped": {f"{f}|{m}|{ev:+.1f}": float(np.mean(v)) for (f, m, ev), v in clipped_ldr.items()},
            "hdr": {f"{f}|{m}|{op}": float(np.mean(v)) for (f, m, op), v in hdr.items()},
            "summary": {str(g): s for g, s in summary.items()}, "chosen": chosen}, indent=2))


if __name__ == "__main__":
    main()
