"""The response-aware path against the paper's CEVR and the naive baseline, per curve family and EV.

Held-out scenes (the fixed validation split `cevr train` uses, never trained on: a flat map resized to
``--size`` square, a panorama as two 90-degree views) are photographed by synthetic cameras (8-bit, sensor
noise, metered exposure + ``--offset`` EV) whose curves come from four families:

* ``camera (held out)``: darktable's held-out measured camera curves (never in training nor in the prior);
  cevr reads them with ``--response camera`` (the generic prior), as a user without a profile would;
* ``srgb``: renders and exports, read with ``--response srgb``;
* ``gamma``: power laws 1.8-2.6, read with their own ``gamma:G``;
* ``sigmoid``: Eilertsen et al.'s fits of measured curves, read with ``--response camera``.

Per family and EV, PSNR (dB) against the exact rendering at that EV of: physics only, physics + residual
(``--model cevr``), both also without the hue fill of clipped pixels (``no hue fill``: darkened clipped
pixels keep their recorded value, the physics before :mod:`cevr_cli.highlight_fill`), the paper's CEVR
(``--model cevr-paper``, the shipped paper-role pair), and naive (invert gamma 2.2, x 2^EV, clip); the fused
HDR image after Reinhard and Kim-Kautz tone mapping (HDR Toolbox form, as bench); the tone-mapped HDR inside
the clipped region only; and the hue error in the clipped region: the mean angle (degrees) between the
linear RGB of the result and of the truth (frames at -3 and -1 EV read through the true curve, over all the
clipped pixels and over those the true frame shows, i.e. did not clip itself; the HDR); and the HDR's clipped
region in light (:func:`clipped_light_errors`: log error, bias, and a tone curve that does not adapt to the image).

    python tests/benchmarks/eval_residual.py ../shared/data/openexr-scenes ../shared/data/polyhaven-hdri \
        [--residual weights/cevr-residual.safetensors] [--paper weights/cevr-synthetic.safetensors] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

EVS = (-3.0, -2.5, -2.0, -1.5, -1.0, -0.5, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)
FAMILIES = ("camera (held out)", "srgb", "gamma", "sigmoid")


def cameras(family: str, count: int, seed: int, camera_set: str = "held-out"):
    """``count`` (true response, response cevr reads it with) pairs of a family."""
    from cevr_cli.response import SRGB, camera_prior, darktable_curves, darktable_response, gamma_response
    from cevr_cli.training.camera import sample_sigmoid
    from cevr_cli.training.residual import sigmoid_response

    rng = np.random.default_rng(seed)
    held_out = [i for i, v in enumerate(darktable_curves()["validation"]) if v == (camera_set == "held-out")]
    for k in range(count):
        if family == "camera (held out)":
            yield darktable_response(held_out[k % len(held_out)]), camera_prior()
        elif family == "srgb":
            yield SRGB, SRGB
        elif family == "gamma":
            gamma = gamma_response(round(float(rng.uniform(1.8, 2.6)), 2))
            yield gamma, gamma
        else:
            yield sigmoid_response(sample_sigmoid(rng)), camera_prior()


def family_label(family: str, camera_set: str) -> str:
    """How a family is printed: the camera family names the curve set it used (the keys keep one name)."""
    return f"camera ({camera_set.replace('-', ' ')})" if family == FAMILIES[0] else family


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    diff = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    mse = float(diff[mask].mean()) if mask is not None else float(diff.mean())
    return -10 * np.log10(mse + 1e-10)


def hue_error(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Mean angle (degrees) between the RGB vectors of ``a`` and ``b`` over ``mask`` (black pixels: 0)."""
    x, y = a[mask].astype(np.float64), b[mask].astype(np.float64)
    norms = np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)
    cosine = np.where(norms > 0, (x * y).sum(axis=1) / np.maximum(norms, 1e-30), 1.0)
    return float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))).mean())


def score_hdr(scores: dict, key: tuple, radiance: np.ndarray, truth_tm: dict[str, np.ndarray],
              clipped: np.ndarray) -> None:
    """Append to ``scores[(*key, op)]`` the PSNR of ``radiance`` after each tone mapper (HDR Toolbox form) against
    the tone-mapped truth ``truth_tm[op]``, and to ``scores[(*key, op + " clipped")]`` over the clipped pixels."""
    from cevr_cli.hdr.tonemap import tonemap_to_display

    for op in ("reinhard", "kimkautz"):
        mapped = tonemap_to_display(radiance, op, toolbox=True)
        scores.setdefault((*key, op), []).append(psnr(mapped, truth_tm[op]))
        if clipped.any():
            scores.setdefault((*key, op + " clipped"), []).append(psnr(mapped, truth_tm[op], clipped))


def clipped_light_errors(radiance: np.ndarray, truth: np.ndarray, clipped: np.ndarray) -> dict[str, float]:
    """How close the HDR's clipped region is to the truth in light, not through an image-adaptive operator.

    The result is first scaled to the truth by the median ratio of their luminance over the unclipped pixels
    (the camera prior's light and a Debevec merge have their own scale). ``log2 error``: mean |log2 L - log2 L*|
    over the clipped pixels (stops); ``bias``: the mean signed difference (stops; negative: too dark);
    ``fixed curve``: PSNR over the clipped pixels of Reinhard's global curve L / (1 + L) (2002, Eq. 3; display
    gamma 2.2) with both images at the truth's key (0.18 at its median luminance), the same curve for both.
    """
    lum, lum_truth = radiance.mean(axis=2), truth.mean(axis=2)
    k = float(np.median(lum_truth[~clipped] / np.maximum(lum[~clipped], 1e-9)))
    diff = np.log2(np.maximum(lum[clipped] * k, 1e-9)) - np.log2(np.maximum(lum_truth[clipped], 1e-9))
    exposure = 0.18 / float(np.median(lum_truth))

    def curve(x: np.ndarray) -> np.ndarray:
        x = x * exposure
        return (x / (1.0 + x)) ** (1.0 / 2.2)

    return {"log2 error": float(np.mean(np.abs(diff))), "bias": float(np.mean(diff)),
            "fixed curve": psnr(curve(radiance * k), curve(truth), clipped)}


def main() -> None:
    from dataclasses import replace

    from cevr_cli.evaluation.baselines import NaiveExposure
    from cevr_cli.exposure import (
        PaperModel,
        PhysicsModel,
        ResidualModel,
        clip_threshold,
        measure_photo,
    )
    from cevr_cli.fuse import fuse_stack
    from cevr_cli.hdr.tonemap import tonemap_to_display
    from cevr_cli.imaging import quantise
    from cevr_cli.model import load_predictor
    from cevr_cli.training.camera import auto_exposure_scale
    from cevr_cli.training.residual import render
    from cevr_cli.training.scenes import find_radiance_maps, load_radiance, scene_views, split_scenes

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--residual", default="weights/cevr-residual.safetensors")
    parser.add_argument("--paper", default="weights/cevr-synthetic.safetensors")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--cameras", type=int, default=2, help="cameras per view and family")
    parser.add_argument("--offset", type=float, default=0.5, help="exposure above the meter, EV")
    parser.add_argument("--scale", type=float, default=2.0, help="the residual's resolution divisor")
    parser.add_argument("--limit", type=int, default=0, help="only the first N views (0 = all)")
    parser.add_argument("--no-paper", action="store_true", help="skip the paper's CEVR (the slowest arm)")
    parser.add_argument("--gain", type=float, default=None, help="the residual's gain (default: the weights')")
    parser.add_argument("--camera-set", choices=("held-out", "training"), default="held-out",
                        help="darktable curves of the camera family: held-out (evaluation) or training (for choosing "
                             "the gain without looking at held-out curves)")
    parser.add_argument("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES),
                        help="only these curve families (default: all four)")
    parser.add_argument("--no-rise", action="store_true",
                        help="fully clipped pixels keep their least light (physics revision 6, no rise)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.no_rise:
        import cevr_cli.highlight_fill

        cevr_cli.highlight_fill.RISE_GAIN = 0.0

    _, val = split_scenes(find_radiance_maps(args.folders))
    views = [v for p in val for v in scene_views(load_radiance(p, 1024), args.size)]
    views = views[: args.limit] if args.limit else views
    residual_predictor = load_predictor(args.residual, "cpu", precision="fp32")
    residual = ResidualModel(residual_predictor, scale=args.scale, gain=args.gain)
    models = {"physics, no hue fill": PhysicsModel(), "physics": PhysicsModel(),
              "physics + residual, no hue fill": residual, "physics + residual": residual}
    if not args.no_paper:
        models["CEVR (paper)"] = PaperModel(load_predictor(args.paper, "cpu", precision="fp32"))
    naive = NaiveExposure()
    methods = [*models, "naive"]
    ldr: dict[tuple[str, str, float], list[float]] = {}
    hdr: dict[tuple[str, str, str], list[float]] = {}
    hue: dict[tuple[str, str, str], list[float]] = {}
    light: dict[tuple[str, str, str], list[float]] = {}
    seconds = {m: 0.0 for m in methods}
    clipped_fractions = []
    for family in args.families:
        label = family_label(family, args.camera_set)
        for i, view in enumerate(views):
            for true, assumed in cameras(family, args.cameras, 1000 * i + FAMILIES.index(family), args.camera_set):
                scale = auto_exposure_scale(view) * 2.0**args.offset
                rng = np.random.default_rng(i)
                photo = render(view, scale, true, rng)
                truths = {ev: render(view, scale * 2.0**ev, true, None) for ev in EVS}
                truth_hdr = view * np.float32(scale)
                truth_tm = {op: tonemap_to_display(truth_hdr, op, toolbox=True) for op in ("reinhard", "kimkautz")}
                filled = measure_photo(photo, assumed, 8)
                clipped_fractions.append(filled.clipped_fraction)
                for name in methods:
                    measured = replace(filled, fill_hue=False) if name.endswith("no hue fill") else filled
                    started = time.perf_counter()
                    if name == "naive" or name == "CEVR (paper)":  # the paper's protocol: Debevec merge
                        frames = (dict(zip(EVS, naive.predict(photo, EVS), strict=True)) if name == "naive"
                                  else {ev: f for ev, f, _ in models[name].frames(measured, EVS)})
                        stack = {**{ev: quantise(f, 8) for ev, f in frames.items()}, 0.0: quantise(photo, 8)}
                        radiance = fuse_stack(list(stack.values()), list(stack.keys())).radiance
                    else:  # the measured merge, as cevr fuse makes it: one pass for the HDR image and the stack
                        radiance, kept = models[name].hdr(measured, EVS, keep_frames=True)
                        frames = {ev: f for ev, f, _ in kept}
                    seconds[name] += time.perf_counter() - started
                    for ev in EVS:
                        ldr.setdefault((family, name, ev), []).append(psnr(frames[ev], truths[ev]))
                        if measured.clipped.any() and ev < 0:
                            ldr.setdefault((family, name + ", clipped pixels", ev), []).append(
                                psnr(frames[ev], truths[ev], measured.clipped))
                    if measured.clipped.any():
                        for ev in (-3.0, -1.0):
                            ours, truth = true.decode(frames[ev]), true.decode(truths[ev])
                            hue.setdefault((family, name, f"{ev:+.1f}"), []).append(
                                hue_error(ours, truth, measured.clipped))
                            shown = measured.clipped & (truths[ev].max(axis=2) < clip_threshold(8))
                            if shown.any():
                                hue.setdefault((family, name, f"{ev:+.1f} shown"), []).append(
                                    hue_error(ours, truth, shown))
                        hue.setdefault((family, name, "HDR"), []).append(
                            hue_error(radiance, truth_hdr, measured.clipped))
                        for key, value in clipped_light_errors(radiance, truth_hdr, measured.clipped).items():
                            light.setdefault((family, name, key), []).append(value)
                    score_hdr(hdr, (family, name), radiance, truth_tm, measured.clipped)
            print(f"{label}: view {i + 1} of {len(views)} done ({args.cameras} camera(s))", flush=True)

    result = {"views": len(views), "cameras": args.cameras, "offset": args.offset, "scale": args.scale,
              "clipped_fraction_mean": float(np.mean(clipped_fractions)),
              "ldr": {f"{f}|{m}|{ev:+.1f}": float(np.mean(v)) for (f, m, ev), v in ldr.items()},
              "hdr": {f"{f}|{m}|{op}": float(np.mean(v)) for (f, m, op), v in hdr.items()},
              "hue_error_degrees": {f"{f}|{m}|{k}": float(np.mean(v)) for (f, m, k), v in hue.items()},
              "hdr_clipped_light": {f"{f}|{m}|{k}": float(np.mean(v)) for (f, m, k), v in light.items()},
              "seconds": seconds}
    for family in args.families:
        label = family_label(family, args.camera_set)
        print(f"\n### {label}: LDR PSNR (dB) per EV\n")
        print("| method | " + " | ".join(f"{ev:+.1f}" for ev in EVS) + " |")
        print("|---|" + "---:|" * len(EVS))
        for name in methods:
            print(f"| {name} | " + " | ".join(f"{np.mean(ldr[(family, name, ev)]):.2f}" for ev in EVS) + " |")
        gain = [np.mean(ldr[(family, 'physics + residual', ev)]) - np.mean(ldr[(family, 'naive', ev)]) for ev in EVS]
        print("| residual - naive | " + " | ".join(f"{g:+.2f}" for g in gain) + " |")
        for name in methods:
            key = name + ", clipped pixels"
            print(f"| {key} | " + " | ".join(f"{np.mean(ldr[(family, key, ev)]):.2f}" if (family, key, ev) in ldr
                                           else "" for ev in EVS) + " |")
        print(f"\nHDR after tone mapping ({label}):\n")
        print("| method | Reinhard | Kim-Kautz | Reinhard, clipped region | Kim-Kautz, clipped region |")
        print("|---|---:|---:|---:|---:|")
        for name in methods:
            cells = [np.mean(hdr.get((family, name, key), [np.nan]))
                     for key in ("reinhard", "kimkautz", "reinhard clipped", "kimkautz clipped")]
            print(f"| {name} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
        print(f"\nThe HDR's clipped region in light ({label}; see clipped_light_errors):\n")
        print("| method | log2 error (stops) | bias (stops) | fixed curve, PSNR (dB) |")
        print("|---|---:|---:|---:|")
        for name in methods:
            cells = [np.mean(light.get((family, name, key), [np.nan])) for key in ("log2 error", "bias", "fixed curve")]
            print(f"| {name} | {cells[0]:.3f} | {cells[1]:+.3f} | {cells[2]:.2f} |")
        print(f"\nHue error in the clipped region, degrees ({label}):\n")
        print("| method | -3.0 EV | -3.0 EV, shown | -1.0 EV | -1.0 EV, shown | HDR |")
        print("|---|---:|---:|---:|---:|---:|")
        for name in methods:
            cells = [np.mean(hue.get((family, name, key), [np.nan]))
                     for key in ("-3.0", "-3.0 shown", "-1.0", "-1.0 shown", "HDR")]
            print(f"| {name} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
    print(f"\nclipped fraction (mean over photos): {result['clipped_fraction_mean']:.3f}; seconds per method: "
          + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
