"""Accuracy of `cevr calibrate`'s two fits on synthetic brackets through known curves (the README's table).

A 9-frame 8-bit bracket (EV -4..+4) of the synthetic scene of tests/test_calibrate.py (64x96 px, 20 stops of
radiance) is rendered through each held-out darktable camera curve, sRGB and gamma 2.2, optionally with sensor
noise (Gaussian in linear light, standard deviation ``noise * sqrt(x)``), fitted by each method, and compared
with the truth as max |R_fit(x) - R_true(x)| in 8-bit codes over the light the bracket recorded: "direct" as
the tables stand (white point at 1 in both), "aligned" after the best global scale of the fit's light (what
re-exposure depends on; see tests/test_calibrate.py code_errors).

    PYTHONPATH=. python tests/benchmarks/calibrate_accuracy.py [--noise 0.003]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from cevr_cli.calibrate import METHODS, fit_bracket
from cevr_cli.imaging import quantise
from cevr_cli.response import SRGB, darktable_curves, darktable_response, gamma_response
from tests.test_calibrate import BRACKET, LOWEST, RADIANCE, code_errors, render


def noisy(response, noise: float, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    frames = []
    for ev in BRACKET:
        light = RADIANCE * 2.0**ev
        light = light + noise * np.sqrt(np.clip(light, 0, 1)) * rng.standard_normal(light.shape)
        frames.append(quantise(response.encode(np.clip(light, 0, 1).astype(np.float32)), 8))
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise", type=float, default=0.0)
    args = parser.parse_args()
    table = darktable_curves()
    curves = [(str(table["names"][i]), darktable_response(i)) for i in np.flatnonzero(table["validation"])]
    curves += [("srgb", SRGB), ("gamma 2.2", gamma_response(2.2))]
    print(f"noise {args.noise:g}; light from {LOWEST:.2e}; max code error direct / aligned")
    print(f"| curve | {' | '.join(METHODS)} |\n|---|{'---|' * len(METHODS)}")
    worst = {m: [0.0, 0.0] for m in METHODS}
    for name, response in curves:
        frames = noisy(response, args.noise) if args.noise else render(response, RADIANCE, BRACKET)
        cells = []
        for method in METHODS:
            start = time.perf_counter()
            fit = fit_bracket(frames, BRACKET, method)
            direct, aligned = max(code_errors(response, fit.positions, row, LOWEST, c)
                                  for c, row in enumerate(fit.linear))
            worst[method] = [max(worst[method][0], direct), max(worst[method][1], aligned)]
            cells.append(f"{direct:.2f} / {aligned:.2f} ({'shared' if fit.shared else 'per-channel'}, "
                         f"{time.perf_counter() - start:.1f} s)")
        print(f"| {name} | {' | '.join(cells)} |", flush=True)
    print(f"| worst | {' | '.join(f'{d:.2f} / {a:.2f}' for d, a in worst.values())} |")


if __name__ == "__main__":
    main()
