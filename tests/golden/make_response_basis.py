"""Build ``cevr_cli/data/response_basis.npz``: a low-dimensional basis of inverse camera responses for
``cevr calibrate --method basis`` (Grossberg & Nayar, "What is the space of camera response functions?",
CVPR 2003: a mean curve plus the leading principal components of measured curves, EMoR-style).

Curves that go in (inverse responses f^-1: code in [0, 1] -> relative linear light, 0 at 0, 1 at 1):

* darktable's measured camera-JPEG curves, the **training** rows only (``validation`` False) of
  ``cevr_cli/data/darktable_curves.npz`` (the 7 held-out curves stay out: they are what calibration is
  measured on);
* the 201 curves of the DoRF database (``dorf-201-crf.mat``: ``B`` brightness as a function of the shared
  irradiance grid ``I``, one row per curve), inverted by linear interpolation;
* sRGB (IEC 61966-2-1) and the power laws x = y^G for G = 1.8, 1.9, ..., 2.6.

The PCA is done on the log of linear light g(z) = ln f^-1(z) (the space the fit works in) on ``N_CODES`` codes
z = k / (N_CODES - 1), k >= 1 (g(0) = -inf is not stored: code 0 is black), with each code weighted by
1 / g_mean'(z)^2, i.e. in the metric of code errors (a log-light error d at code z moves the curve by
d / g'(z) codes): without it the darkest codes, where curves differ by several log units but which hold
almost no information, would take the leading components. darktable's curves are modern camera JPEGs
(what cevr sees), DoRF's are mostly film and early digital cameras, so the darktable curves are given the
same total weight as the DoRF curves. The components are orthonormal in the weighted inner product
(``weights``), stored as rows; every curve is 0 in log light at code 1 (the white point), so the components
are 0 there too.

The raw DoRF curves are research data that may not be shipped (``/work/shared/data/camera-curves/README.md``):
only the derived mean and components are written.

Usage::

    python tests/golden/make_response_basis.py /work/shared/data/camera-curves/dorf-201-crf.mat
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[2] / "cevr_cli" / "data" / "response_basis.npz"
N_CODES = 1024
N_COMPONENTS = 16  # stored; calibrate.py uses the first BASIS_COMPONENTS of them
GAMMAS = tuple(round(1.8 + 0.1 * k, 1) for k in range(9))
DARKTABLE_SHARE = 0.5  # of the total weight given to darktable's training curves
REFERENCE_GAMMA = 2.2  # the code-error metric: 1 / g'(z)^2 of the power law x = z^2.2
FLOOR = 1e-7  # linear light below this is clamped before the log (codes of ~0 in the steepest curves)


def srgb_decode(y: np.ndarray) -> np.ndarray:
    return np.where(y <= 0.04045, y / 12.92, ((y + 0.055) / 1.055) ** 2.4)


def strictly_increasing(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop the repeated x values of a non-decreasing table (keep the first of each run)."""
    keep = np.concatenate([[True], np.diff(x) > 0])
    return x[keep], y[keep]


def source_curves(dorf: Path, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(K, N_CODES) inverse responses on ``codes``, their weights, and one label per curve."""
    import scipy.io

    from cevr_cli.response import darktable_curves

    curves, labels = [], []
    table = darktable_curves()
    for k in np.flatnonzero(~table["validation"]):
        curves.append(np.interp(codes, table["codes"], table["linear"][k]))
        labels.append(f"darktable:{table['names'][k]}")
    n_darktable = len(curves)
    mat = scipy.io.loadmat(dorf)
    irradiance, brightness = np.asarray(mat["I"], np.float64), np.asarray(mat["B"], np.float64)
    for k in range(brightness.shape[0]):
        b, i = strictly_increasing(brightness[k], irradiance[k])
        curves.append(np.interp(codes, b, i))
        labels.append(f"dorf:{k}")
    n_dorf = len(curves) - n_darktable
    curves.append(srgb_decode(codes))
    labels.append("srgb")
    for g in GAMMAS:
        curves.append(codes**g)
        labels.append(f"gamma:{g:g}")
    curves = np.asarray(curves)
    curves /= curves[:, -1:]
    weights = np.ones(len(curves))
    others = len(curves) - n_darktable
    weights[:n_darktable] = DARKTABLE_SHARE / n_darktable
    weights[n_darktable:] = (1 - DARKTABLE_SHARE) / others
    assert n_dorf == 201, n_dorf
    return curves, weights / weights.sum(), labels


def build(dorf: Path, n_codes: int = N_CODES, n_components: int = N_COMPONENTS) -> dict[str, np.ndarray]:
    codes = np.linspace(0.0, 1.0, n_codes)
    curves, curve_weights, labels = source_curves(dorf, codes)
    g = np.log(np.maximum(curves[:, 1:], FLOOR))  # codes 1..: code 0 is black (-inf)
    mean = curve_weights @ g
    code_weights = (codes[1:] / REFERENCE_GAMMA) ** 2  # 1 / g'^2 of g = G ln z
    code_weights /= code_weights.mean()
    centred = (g - mean) * np.sqrt(curve_weights)[:, None] * np.sqrt(code_weights)[None, :]
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    components = vt[:n_components] / np.sqrt(code_weights)[None, :]  # orthonormal under code_weights
    signs = np.sign(components[:, components.shape[1] // 2])
    components *= np.where(signs == 0, 1, signs)[:, None]
    explained = singular**2 / np.sum(singular**2)
    return {"codes": codes[1:].astype(np.float32), "mean": mean.astype(np.float32),
            "components": components.astype(np.float32), "weights": code_weights.astype(np.float32),
            "explained": explained[:n_components].astype(np.float32),
            "sources": np.asarray(sorted({label.split(":")[0] for label in labels})),
            "curves": np.asarray([len(labels)]),
            "darktable_names": np.asarray([lab.split(":", 1)[1] for lab in labels if lab.startswith("darktable:")]),
            "description": np.asarray(
                "ln f^-1 on codes[k] (code 0 = black omitted): mean + components.T @ c; PCA weighted by "
                f"1/mean'^2 (code-error metric); curves: darktable training (weight {DARKTABLE_SHARE:g} in all), "
                "DoRF 201, sRGB, gamma 1.8..2.6; see cevr_cli/data/README.md")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dorf", type=Path, help="dorf-201-crf.mat (DoRF's 201 curves)")
    parser.add_argument("-o", "--out", type=Path, default=OUT)
    args = parser.parse_args()
    basis = build(args.dorf)
    np.savez_compressed(args.out, **basis)
    cumulative = np.cumsum(basis["explained"])
    print(f"{args.out}: {int(basis['curves'][0])} curves, {basis['codes'].size} codes, "
          f"{basis['components'].shape[0]} components; cumulative weighted variance "
          + ", ".join(f"{c:.5f}" for c in cumulative[:10]))


if __name__ == "__main__":
    main()
