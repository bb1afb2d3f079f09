"""Build ``cevr_cli/data/darktable_curves.npz``: camera-JPEG tone responses derived from darktable's base curves.

darktable's base-curve module (``src/iop/basecurve.c`` of darktable-org/darktable, GPL-3.0) ships presets
whose node tables were measured from RAW+JPEG pairs: ``basecurve_camera_presets`` (one camera model each)
and ``basecurve_presets`` (per-maker "... like" curves, plus the non-camera "cubic spline" and "neutral").
darktable applies a preset to linear camera RGB in [0, 1] and the sRGB output profile then encodes it, so a
camera's JPEG response is ``R(x) = srgb_encode(basecurve(x))``. This script parses the node tables out of the
C source (no darktable code is copied or run), evaluates each curve with our own monotone cubic Hermite
interpolation, composes it with sRGB and stores the inverse responses ``R^-1`` on 4096 codes.

The interpolation reproduces darktable's ``MONOTONE_HERMITE`` (``monotone_hermite_set`` in
``src/common/curve_tools.c``): Fritsch-Carlson with the mean of the neighbouring secants as initial tangents,
both tangents of a flat interval set to 0, and ``(alpha, beta)`` pulled back onto the circle of radius 3 when
``alpha^2 + beta^2 > 9``, interval by interval from the left. scipy's ``PchipInterpolator`` (Fritsch-Butland
harmonic-mean tangents) is a different curve, so it is not used. Outside the first/last node darktable holds
the end value, and it clamps the output to [0, 1]; both are done here too.

Usage (numpy only)::

    python tests/golden/make_camera_curves.py /path/to/basecurve.c -o cevr_cli/data/darktable_curves.npz
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[2] / "cevr_cli" / "data" / "darktable_curves.npz"
SOURCE = "darktable-org/darktable src/iop/basecurve.c @ cb1506d8863bef4b34ce36be4ae0e420f7ea8c96"
# Presets (commented-out lines excluded) in each table at that commit; a different count fails loudly.
EXPECTED = {"basecurve_camera_presets": 14, "basecurve_presets": 18}
N_CODES = 4096
N_FINE = 65536
END_TOL = 0.005  # how far basecurve(0) may sit above 0 and basecurve(1) below 1 (then rescaled onto [0, 1])
DUP_TOL = 2e-6  # node tables equal up to one unit of the printed 6th decimal count as the same curve
EPS = 1e-9  # slope of the ramp that makes a flat stretch strictly increasing
MAKERS = {"EASTMAN KODAK COMPANY": "Kodak"}  # EXIF maker strings whose first word is not the brand

_PRESET = re.compile(
    r"\{\s*(?P<name>N_\(\s*\"[^\"]*\"\s*\)|\"[^\"]*\"|\w+)\s*,\s*\"(?P<maker>[^\"]*)\"\s*,\s*\"(?P<model>[^\"]*)\"\s*,"
    r"[^,{]*,[^,{]*,\s*\{\s*\{\s*\{(?P<nodes>(?:\s*\{[^{}]*\}\s*,?)+)\}\s*\}\s*,"
    r"\s*\{\s*(?P<n>\d+)\s*\}\s*,\s*\{\s*(?P<type>\w+)\s*\}"
)
_NODE = re.compile(r"\{\s*([-+0-9.eE]+)\s*,\s*([-+0-9.eE]+)\s*\}")
_LABEL = re.compile(r"static\s+const\s+char\s+(\w+)\s*\[\]\s*=\s*N_\(\s*\"([^\"]*)\"\s*\)")


@dataclass
class Preset:
    """One darktable base-curve preset: display name, EXIF maker and model, nodes and interpolation type."""

    name: str
    maker: str
    model: str
    x: np.ndarray
    y: np.ndarray
    kind: str
    table: str


def parse_presets(text: str) -> list[Preset]:
    """Every preset initialiser of the two preset arrays in ``basecurve.c``, in file order."""
    text = re.sub(r"//[^\n]*", "", text)
    labels = dict(_LABEL.findall(text))
    macros = dict(re.findall(r"#define\s+(\w+)\s+(\w+)", text))
    presets: list[Preset] = []
    for table, expected in EXPECTED.items():
        body = re.search(rf"basecurve_preset_t\s+{table}\s*\[\]\s*=\s*\{{(.*?)\n\}};", text, re.S)
        if body is None:
            raise SystemExit(f"{table}[] not found in the source")
        found = list(_PRESET.finditer(body.group(1)))
        if len(found) != expected:
            raise SystemExit(f"{table}[]: parsed {len(found)} presets, expected {expected}")
        for p in found:
            name = p["name"]
            name = re.sub(r'^N_\(\s*"|"\s*\)$|^"|"$', "", name) if '"' in name else labels[name]
            nodes = np.array(_NODE.findall(p["nodes"]), dtype=np.float64)[: int(p["n"])]
            if len(nodes) != int(p["n"]):
                raise SystemExit(f"{name}: {len(nodes)} nodes listed, {p['n']} declared")
            kind = macros.get(p["type"], p["type"])
            presets.append(Preset(name, p["maker"].strip(), p["model"].strip(), nodes[:, 0], nodes[:, 1], kind, table))
    return presets


def hermite_tangents(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Node tangents of darktable's monotone Hermite curve (Fritsch-Carlson, see the module docstring)."""
    n = len(x)
    delta = np.empty(n)
    delta[:-1] = np.diff(y) / np.diff(x)
    delta[-1] = delta[-2]
    m = np.empty(n + 1)
    m[0], m[n - 1], m[n] = delta[0], delta[n - 1], 0.0
    m[1 : n - 1] = 0.5 * (delta[:-2] + delta[1:-1])
    for i in range(n):  # sequential: a tangent limited on interval i is the left tangent of interval i + 1
        if abs(delta[i]) < 2 * np.finfo(np.float32).tiny:
            m[i] = m[i + 1] = 0.0
            continue
        alpha, beta = m[i] / delta[i], m[i + 1] / delta[i]
        tau = alpha * alpha + beta * beta
        if tau > 9.0:
            m[i], m[i + 1] = 3.0 * alpha * delta[i] / np.sqrt(tau), 3.0 * beta * delta[i] / np.sqrt(tau)
    return m[:n]


def hermite(x: np.ndarray, y: np.ndarray, t: np.ndarray) -> np.ndarray:
    """darktable's base curve through nodes ``(x, y)`` at ``t``: held constant outside, clamped to [0, 1]."""
    m = hermite_tangents(x, y)
    i = np.clip(np.searchsorted(x, t, side="right") - 1, 0, len(x) - 2)
    h = x[i + 1] - x[i]
    s = (t - x[i]) / h
    s2, s3 = s * s, s * s * s  # cubic Hermite basis h00, h01, h10, h11 below
    v = (2 * s3 - 3 * s2 + 1) * y[i] + (3 * s2 - 2 * s3) * y[i + 1]
    v += ((s3 - 2 * s2 + s) * m[i] + (s3 - s2) * m[i + 1]) * h
    v = np.where(t < x[0], y[0], np.where(t > x[-1], y[-1], v))
    return np.clip(v, 0.0, 1.0)


def srgb_encode(v: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB transfer function, linear [0, 1] -> encoded [0, 1]."""
    v = np.clip(v, 0.0, 1.0)
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * np.power(v, 1 / 2.4) - 0.055)


def strictly_increasing(v: np.ndarray, what: str) -> np.ndarray:
    """``v`` (0 at the start, 1 at the end) with a tiny ramp added where it is flat; reports when it does."""
    if np.all(np.diff(v) > 0):
        return v
    ramp = np.linspace(0.0, 1.0, len(v))
    flat = np.diff(v) <= 0
    print(f"  {what}: flat over {ramp[1:][flat].min():.4f}..{ramp[1:][flat].max():.4f}, epsilon ramp added")
    return (v + EPS * ramp) / (1.0 + EPS)


def brand(maker: str) -> str:
    """A brand from an EXIF maker string ("NIKON CORPORATION" -> "Nikon")."""
    return MAKERS.get(maker, maker.split()[0].capitalize() if maker.isupper() else maker.split()[0])


def camera_curves(presets: list[Preset]) -> tuple[list[str], list[str], list[np.ndarray]]:
    """Names, makers and node tables of the usable camera curves, duplicates merged (reported as it goes)."""
    names: list[str] = []
    makers: list[str] = []
    tables: list[np.ndarray] = []
    for p in presets:
        if p.kind != "MONOTONE_HERMITE" or not p.maker:
            print(f"  skip {p.name!r}: not a camera curve ({p.kind}, maker {p.maker!r})")
            continue
        if np.any(np.diff(p.y) < 0):
            print(f"  skip {p.name!r}: nodes not monotone increasing (y = {p.y[:3].round(6).tolist()}...)")
            continue
        if p.y[0] > END_TOL or p.y[-1] < 1 - END_TOL or p.x[0] != 0 or p.x[-1] != 1:
            print(f"  skip {p.name!r}: does not map 0 -> ~0 and 1 -> ~1")
            continue
        nodes = np.stack([p.x, p.y], axis=1)
        same = [k for k, t in enumerate(tables) if t.shape == nodes.shape and np.abs(t - nodes).max() <= DUP_TOL]
        if same:
            k = same[0]
            print(f"  merge {p.name!r} into {names[k]!r} (node tables equal to {DUP_TOL:g})")
            names[k] += f" / {p.name}"
            if brand(p.maker) not in makers[k].split("/"):
                makers[k] += f"/{brand(p.maker)}"
            continue
        names.append(p.name)
        makers.append(brand(p.maker))
        tables.append(nodes)
    return names, makers, tables


def inverse_response(nodes: np.ndarray, name: str, codes: np.ndarray, fine: np.ndarray) -> np.ndarray:
    """``R^-1(codes)`` for ``R = srgb_encode(basecurve)``, with the base curve rescaled to run from 0 to 1."""
    b = hermite(nodes[:, 0], nodes[:, 1], fine)
    if b[0] != 0 or b[-1] != 1:
        print(f"  {name}: base curve runs {b[0]:.6f}..{b[-1]:.6f}, rescaled onto 0..1")
        b = (b - b[0]) / (b[-1] - b[0])
    r = strictly_increasing(srgb_encode(b), f"{name} response")
    return strictly_increasing(np.interp(codes, r, fine), f"{name} inverse")


def forward(linear: np.ndarray, codes: np.ndarray, fine: np.ndarray) -> np.ndarray:
    """Responses ``R_k(fine)`` implied by stored inverse tables ``linear`` (K, codes): the prior is built from these."""
    return np.stack([np.interp(fine, inv, codes) for inv in linear])


def code_difference(inv_a: np.ndarray, inv_b: np.ndarray, codes: np.ndarray) -> float:
    """Mean 8-bit |R_b(R_a^-1(c)) - c| over codes c: how far camera b would encode the light camera a coded as c."""
    return float(255 * np.mean(np.abs(np.interp(inv_a, inv_b, codes) - codes)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("basecurve", type=Path, help="darktable's src/iop/basecurve.c")
    parser.add_argument("-o", "--out", type=Path, default=OUT)
    args = parser.parse_args()

    presets = parse_presets(args.basecurve.read_text(encoding="utf-8"))
    print(f"parsed {len(presets)} presets: {EXPECTED}")
    names, makers, tables = camera_curves(presets)
    n_presets = sum(p.kind == "MONOTONE_HERMITE" and bool(p.maker) for p in presets)

    order = sorted(range(len(names)), key=lambda k: (makers[k].casefold(), names[k].casefold()))
    names, makers, tables = [names[k] for k in order], [makers[k] for k in order], [tables[k] for k in order]
    codes = np.linspace(0.0, 1.0, N_CODES)
    fine = np.linspace(0.0, 1.0, N_FINE)
    linear = np.stack([inverse_response(t, n, codes, fine) for t, n in zip(tables, names, strict=True)])
    validation = np.arange(len(names)) % 4 == 1  # sorted by maker then name: every 4th, spread over makers

    prior_r = forward(linear[~validation], codes, fine).mean(axis=0)
    camera_prior = np.interp(codes, prior_r, fine)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out, codes=codes, linear=linear, names=np.array(names), makers=np.array(makers),
        validation=validation, camera_prior=camera_prior, source=np.array(SOURCE),
    )  # fmt: skip

    srgb_inv = np.interp(codes, srgb_encode(fine), fine)
    held = [code_difference(linear[k], camera_prior, codes) for k in np.flatnonzero(validation)]
    prior_at = np.interp([0.18, 0.5], camera_prior, codes)
    print(f"wrote {args.out}: {len(names)} curves from {n_presets} camera presets")
    print(f"makers: {', '.join(sorted(set('/'.join(makers).split('/'))))}")
    print(f"held out: {', '.join(n for n, v in zip(names, validation, strict=True) if v)}")
    print(f"mean |code difference| prior vs sRGB: {code_difference(camera_prior, srgb_inv, codes):.2f} (8-bit)")
    print(f"held-out curves vs prior: min {min(held):.2f} mean {np.mean(held):.2f} max {max(held):.2f} (8-bit)")
    for x, c in zip([0.18, 0.5], prior_at, strict=True):
        print(f"prior code at linear {x}: {c:.4f} ({255 * c:.1f}), sRGB {srgb_encode(np.array(x)):.4f}"
              f" ({255 * srgb_encode(np.array(x)):.1f})")  # fmt: skip


if __name__ == "__main__":
    main()
