"""Issue 20 item 7: does a blind response estimator earn its place (``--response estimate``)?

A small CNN looks at one 8-bit photo and predicts its camera's inverse response as coefficients of cevr's own
basis (``cevr_cli/data/response_basis.npz``: g = ln R^-1 = mean + sum_k c_k h_k, the EMoR-style model of
``cevr calibrate``) plus a confidence (the log of its expected squared error in g). The rule under test: use
the estimate when its predicted error is below the camera prior's mean error over the training cameras, else
fall back to ``camera``. The issue's bar: on held-out curves it beats ``camera`` on S-shaped cameras and loses
at most 0.5 dB on power laws.

Training (CPU, minutes): random views of the training scenes of the fixed split, photographed through the
training bank of ``cevr train --variant cevr-residual`` (darktable's 19 training camera curves, DoRF's 201 when
``--dorf`` is given, Eilertsen sigmoid fits, sRGB, gamma 1.8-2.6), exposure -1..+2.5 EV from the meter, sensor
noise, 8-bit. Evaluation: the held-out views (validation scenes, as ``eval_residual.py``) photographed once per
camera at +0.5 EV above the meter through four families: darktable's 7 held-out camera curves and Eilertsen
sigmoid fits (S-shaped), sRGB and gamma 1.8-2.6 (power laws). Per family, PSNR (dB) of the physics frame
R(min(2^s R^-1(y), 1)) at EV -3..+3 (step 0.5) against the exact rendering, read through the true curve, the
camera prior, the raw estimate and the estimate with its fallback.

    python tests/benchmarks/blind_response.py ../shared/data/openexr-scenes ../shared/data/polyhaven-hdri \
        [--dorf ../shared/data/camera-curves/dorf-201-crf.mat] [--minutes 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

EVS = tuple(float(ev) for ev in np.arange(-3.0, 3.01, 0.5) if ev != 0)
COMPONENTS = 6
LOWEST_CODE = 0.05  # below it ln R^-1 is dominated by noise and black level; the loss ignores it
HISTOGRAM_BINS = 32


def basis_tensors() -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    """(codes kept, mean g there, first COMPONENTS components there)."""
    from cevr_cli.calibrate import response_basis

    basis = response_basis()
    keep = basis["codes"] >= LOWEST_CODE
    return (basis["codes"][keep], torch.tensor(basis["mean"][keep], dtype=torch.float32),
            torch.tensor(basis["components"][:COMPONENTS, keep], dtype=torch.float32))


def log_inverse(response, codes: np.ndarray) -> np.ndarray:
    """g = ln R^-1 on ``codes`` (the first channel; the bank's curves are grey)."""
    light = response.decode(np.repeat(codes[:, None], 3, axis=1).astype(np.float32))[:, 0]
    return np.log(np.maximum(light.astype(np.float64), 1e-12))


class Estimator(nn.Module):
    """Photo (3xHxW codes) + its code histogram -> (COMPONENTS coefficients, log expected squared error)."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        layers, channels = [], 3
        for out in (width, 2 * width, 3 * width, 4 * width):
            layers += [nn.Conv2d(channels, out, 3, stride=2, padding=1), nn.GroupNorm(4, out), nn.SiLU(),
                       nn.Conv2d(out, out, 3, padding=1), nn.SiLU()]
            channels = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(2 * channels + 3 * HISTOGRAM_BINS, 128), nn.SiLU(),
                                  nn.Linear(128, COMPONENTS + 1))

    def forward(self, photo: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(photo)
        histogram = torch.stack([torch.stack([torch.histc(photo[b, c], HISTOGRAM_BINS, 0.0, 1.0)
                                              for c in range(3)]) for b in range(photo.shape[0])])
        histogram = histogram.flatten(1) / photo[0, 0].numel()
        out = self.head(torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3)), histogram], dim=1))
        return out[:, :COMPONENTS], out[:, COMPONENTS]


def photograph(view: np.ndarray, offset_ev: float, response, rng: np.random.Generator) -> np.ndarray:
    from cevr_cli.training.camera import auto_exposure_scale
    from cevr_cli.training.residual import render

    return render(view, auto_exposure_scale(view) * 2.0**offset_ev, response, rng)


def training_batch(maps, bank, codes, rng, batch: int, crop: int) -> tuple[torch.Tensor, torch.Tensor]:
    from cevr_cli.training.pairs import _random_patch

    photos, targets = [], []
    for _ in range(batch):
        view = _random_patch(maps[int(rng.integers(len(maps)))], crop, rng)
        true, _ = bank.sample(rng)
        photos.append(photograph(view, float(rng.uniform(-1.0, 2.5)), true, rng))
        targets.append(log_inverse(true, codes))
    return (torch.from_numpy(np.stack(photos)).permute(0, 3, 1, 2).contiguous(),
            torch.tensor(np.stack(targets), dtype=torch.float32))


def curve_error(coefficients: torch.Tensor, target: torch.Tensor, mean: torch.Tensor,
                components: torch.Tensor) -> torch.Tensor:
    """Per sample: mean squared error of g over the kept codes (up to the white point's scale, which
    re-exposure does not see: g's mean difference is removed)."""
    diff = mean + coefficients @ components - target
    return ((diff - diff.mean(dim=1, keepdim=True)) ** 2).mean(dim=1)


def train(maps, bank, args) -> tuple[Estimator, float]:
    """The estimator after ``args.minutes`` of Adam, and the fallback threshold: the camera prior's mean
    curve error over training cameras (photos it never decides on)."""
    from cevr_cli.response import camera_prior

    codes, mean, components = basis_tensors()
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    model = Estimator()
    optimiser = torch.optim.Adam(model.parameters(), lr=args.lr)
    prior_g = torch.tensor(log_inverse(camera_prior(), codes), dtype=torch.float32)
    prior_errors = []
    started, step = time.perf_counter(), 0
    while time.perf_counter() - started < 60 * args.minutes:
        photos, targets = training_batch(maps, bank, codes, rng, args.batch, args.crop)
        coefficients, log_error = model(photos)
        error = curve_error(coefficients, targets, mean, components)
        loss = error.mean() + 0.1 * (error.detach() / log_error.exp() + log_error).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        diff = prior_g - targets
        prior_errors += ((diff - diff.mean(dim=1, keepdim=True)) ** 2).mean(dim=1).tolist()
        step += 1
        if step % 100 == 0:
            recent = np.mean(prior_errors[-100 * args.batch:])
            print(f"step {step}: curve error {error.mean().item():.4f} (prior {recent:.4f}), "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
    return model.eval(), float(np.mean(prior_errors))


def estimated_response(model: Estimator, photo: np.ndarray, threshold: float):
    """(the estimate as a response, whether the rule keeps it over the camera prior)."""
    from cevr_cli.calibrate import response_basis
    from cevr_cli.response import table_response

    basis = response_basis()
    with torch.no_grad():
        coefficients, log_error = model(torch.from_numpy(photo).permute(2, 0, 1)[None].contiguous())
    g = basis["mean"] + coefficients[0].numpy().astype(np.float64) @ basis["components"][:COMPONENTS]
    light = np.maximum.accumulate(np.exp(g - g[-1]))
    light = light + np.arange(light.size) * 1e-9  # strictly increasing
    codes = np.concatenate([[0.0], basis["codes"]])
    light = np.concatenate([[0.0], light / light[-1]])
    return table_response("estimate", codes, light), bool(np.exp(log_error.item()) < threshold)


def evaluate(model: Estimator, threshold: float, views, seed: int) -> dict:
    from cevr_cli.exposure import measure_photo, physics_frame
    from cevr_cli.response import SRGB, camera_prior, darktable_curves, darktable_response, gamma_response
    from cevr_cli.training.camera import auto_exposure_scale, sample_sigmoid
    from cevr_cli.training.residual import render, sigmoid_response

    table = darktable_curves()
    held_out = [int(i) for i in np.flatnonzero(table["validation"])]
    rng = np.random.default_rng(seed)
    prior = camera_prior()
    scores: dict[tuple[str, str, float], list[float]] = {}
    kept: dict[str, list[bool]] = {}
    for family in ("camera (held out)", "sigmoid", "srgb", "gamma"):
        for i, view in enumerate(views):
            for k in range(len(held_out) if family == "camera (held out)" else 2):
                if family == "camera (held out)":
                    true = darktable_response(held_out[k])
                elif family == "sigmoid":
                    true = sigmoid_response(sample_sigmoid(rng))
                elif family == "srgb":
                    true = SRGB
                else:
                    true = gamma_response(round(float(rng.uniform(1.8, 2.6)), 2))
                scale = auto_exposure_scale(view) * 2.0**0.5
                photo = render(view, scale, true, np.random.default_rng((seed, i, k)))
                estimate, keep = estimated_response(model, photo, threshold)
                kept.setdefault(family, []).append(keep)
                readers = {"true curve": true, "camera prior": prior, "estimate": estimate,
                           "estimate, else camera": estimate if keep else prior}
                measured = {name: measure_photo(photo, r, 8) for name, r in readers.items()}
                for ev in EVS:
                    truth = render(view, scale * 2.0**ev, true, None).astype(np.float64)
                    for name, m in measured.items():
                        mse = float(np.mean((physics_frame(m, ev).astype(np.float64) - truth) ** 2))
                        scores.setdefault((family, name, ev), []).append(-10 * np.log10(mse + 1e-10))
        print(f"{family}: evaluated", flush=True)
    return {"psnr": {f"{f}|{n}|{ev:+.1f}": float(np.mean(v)) for (f, n, ev), v in scores.items()},
            "estimate_kept": {f: float(np.mean(v)) for f, v in kept.items()}}


def main() -> None:
    from cevr_cli.training.residual import ResponseBank
    from cevr_cli.training.scenes import find_radiance_maps, load_radiance, scene_views, split_scenes

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--dorf", default=None)
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--crop", type=int, default=96)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--size", type=int, default=192, help="evaluation view size, px")
    parser.add_argument("--limit", type=int, default=0, help="only the first N evaluation views (0 = all)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    train_paths, val_paths = split_scenes(find_radiance_maps(args.folders))
    maps = [load_radiance(p, 1024) for p in train_paths]
    model, threshold = train(maps, ResponseBank.default(args.dorf), args)
    views = [v for p in val_paths for v in scene_views(load_radiance(p, 1024), args.size)]
    views = views[: args.limit] if args.limit else views
    result = evaluate(model, threshold, views, args.seed)
    result["threshold"] = threshold
    print(f"\nfallback threshold (the prior's mean curve error on training cameras): {threshold:.4f}")
    readers = ("true curve", "camera prior", "estimate", "estimate, else camera")
    print("\n| family | read through | " + " | ".join(f"{ev:+.1f}" for ev in EVS) + " | mean |")
    print("|---|---|" + "---:|" * (len(EVS) + 1))
    psnr = result["psnr"]
    for family in ("camera (held out)", "sigmoid", "srgb", "gamma"):
        for name in readers:
            row = [psnr[f"{family}|{name}|{ev:+.1f}"] for ev in EVS]
            print(f"| {family} | {name} | " + " | ".join(f"{v:.2f}" for v in row) + f" | {np.mean(row):.2f} |")
        print(f"| {family} | estimate kept | {100 * result['estimate_kept'][family]:.0f} % of photos |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
