"""Run Banterle's HDR Toolbox (MATLAB) in GNU Octave on the images of tonemap_inputs.py and store its
tone-mapped outputs in tests/golden/tonemap_golden.json (the test needs only that JSON).

Preparing the reference (once, outside the repository; the toolbox is GPL v3 and stays out of it)::

    apt-get install octave          # 7.3 was used; no Octave package is needed
    mkdir /tmp/hdrtoolbox-ref       # flat folder of these .m files from github.com/banterle/HDR_Toolbox:
      source_code/Tmo/ReinhardTMO.m, source_code/Tmo/KimKautzConsistentTMO.m,
      source_code/Tmo/util/ReinhardAlpha.m, source_code/Tmo/util/ReinhardFiltering.m,
      source_code/Tmo/util/ReinhardGaussianFilter.m        @ ad923d5290ee1deb01e06c7691364cde447cc3e5
      source_code/Tmo/util/ReinhardWhitePoint.m             @ ca6533ecb243fb2023aef8d85be3256046ffaa06
      source_code/Tmo/util/logMean.m                        @ 8e3b1d51d3093bbbcfb1133596bb526905c2704e
      source_code/ColorSpace/lum.m, source_code/Tmo/util/ChangeLuminance.m, source_code/Tmo/GammaTMO.m,
      source_code/util/{RemoveSpecials,check13Color,checkNegative,ClampImg,MaxQuart}.m

That is the toolbox of CEVR's era (before December 2023): ReinhardAlpha and ReinhardWhitePoint take the
1st/99th MaxQuart percentiles with a 1e-9 guard inside log2, KimKautzConsistentTMO has sigma = (maxL -
minL) / c1 and weights on the log luminance. Later versions differ; to reproduce with one, patch it back::

    # ReinhardWhitePoint.m from December 2023 on uses min/max of positive L and 1e-6:
    sed -i -e 's/LMin = min(L(L>0));/LMin = MaxQuart(L, 0.01);/' \\
        -e 's/LMax = max(L(L>0));/LMax = MaxQuart(L, 0.99);/' \\
        -e 's/+ 1e-6)/+ 1e-9)/' /tmp/hdrtoolbox-ref/ReinhardWhitePoint.m
    sed -i 's/+ 1e-6)/+ 1e-9)/' /tmp/hdrtoolbox-ref/ReinhardAlpha.m     # 1e-6 from February 2024

(Older copies of KimKautzConsistentTMO.m, e.g. @ 835314fd202c449d7b7e2a0ca6d347b94977a8de, have
d0 = maxL / minL and w computed on L instead of log L, a bug fixed upstream long before CEVR: ad923d52
already has the fix and still the pre-2024 1e-9 guards. Do not use them.)

Stored per image and operator (Reinhard global and local with automatic key and white, Kim-Kautz with the
default display range): the toolbox's alpha and white point, the luminance of the linear output for every
pixel (row-major), RGB and GammaTMO(2.2) RGB for every 9th pixel; and ReinhardGaussianFilter of L for three
scales on two images, which pins where the toolbox's FFT kernel is centred.

Usage: ``python tests/golden/make_tonemap_golden.py /tmp/hdrtoolbox-ref``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tonemap_inputs import inputs  # noqa: E402

OUT = Path(__file__).resolve().parent / "tonemap_golden.json"
SAMPLE_STEP = 9
FILTER_IMAGES = ("gradient", "odd")
FILTER_SCALES = (1.0, 1.6**3, 1.6**7)
OPERATORS = ("reinhard", "reinhard-local", "kimkautz")  # cevr_cli.hdr.tonemap.TONEMAPPERS names

OCTAVE_RUN = """
addpath('{ref}');
warning('off', 'all');
function x = load_raw(path, sz)
  fid = fopen(path, 'r'); x = reshape(fread(fid, Inf, 'double'), sz); fclose(fid);
end
function save_raw(path, x)
  fid = fopen(path, 'w'); fwrite(fid, real(x(:)), 'double'); fclose(fid);
end
fid = fopen('{tmp}/version.txt', 'w'); fprintf(fid, '%s', OCTAVE_VERSION); fclose(fid);
{calls}
"""

OCTAVE_IMAGE = """
img = load_raw('{tmp}/{name}.in', {shape});
[out, a, w] = ReinhardTMO(img);
save_raw('{tmp}/{name}.reinhard', out); save_raw('{tmp}/{name}.reinhard.gamma', GammaTMO(out, 2.2, 0));
save_raw('{tmp}/{name}.reinhard.params', [a, w]);
[out, a, w] = ReinhardTMO(img, -1, -1, 'local');
save_raw('{tmp}/{name}.reinhard-local', out); save_raw('{tmp}/{name}.reinhard-local.gamma', GammaTMO(out, 2.2, 0));
save_raw('{tmp}/{name}.reinhard-local.params', [a, w]);
out = KimKautzConsistentTMO(img);
save_raw('{tmp}/{name}.kimkautz', out); save_raw('{tmp}/{name}.kimkautz.gamma', GammaTMO(out, 2.2, 0));
"""

OCTAVE_FILTER = """
L = lum(load_raw('{tmp}/{name}.in', {shape}));
save_raw('{tmp}/{name}.filter{k}', ReinhardGaussianFilter(L, {s!r}, 1 / (2 * sqrt(2))));
"""


def _load(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    return np.fromfile(path, dtype=np.float64).reshape(shape, order="F")


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return 0.2126 * rgb[..., 0] + 0.7152 * rgb[..., 1] + 0.0722 * rgb[..., 2]


def _floats(values: np.ndarray) -> list[float]:
    """Eight significant digits: 1e-8 relative, short enough for a small JSON."""
    return [float(f"{v:.8g}") for v in np.asarray(values, dtype=np.float64).ravel()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path, help="a folder of the HDR Toolbox's .m files (see above)")
    args = parser.parse_args()
    images = inputs()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        calls = []
        for name, image in images.items():
            np.asfortranarray(image, dtype=np.float64).ravel(order="F").tofile(tmp / f"{name}.in")
            calls.append(OCTAVE_IMAGE.format(tmp=tmp, name=name, shape=list(image.shape)))
        for name in FILTER_IMAGES:
            calls += [OCTAVE_FILTER.format(tmp=tmp, name=name, shape=list(images[name].shape), k=k, s=s)
                      for k, s in enumerate(FILTER_SCALES)]
        (tmp / "run.m").write_text("1;\n" + OCTAVE_RUN.format(ref=args.reference.resolve(), tmp=tmp,
                                                               calls="".join(calls)))
        subprocess.run(["octave-cli", "--no-gui", "-q", str(tmp / "run.m")], check=True)
        golden: dict = {"octave_version": (tmp / "version.txt").read_text(), "sample_step": SAMPLE_STEP,
                        "cases": [], "filters": []}
        for name, image in images.items():
            n = image.shape[0] * image.shape[1]
            sample = np.arange(0, n, SAMPLE_STEP)
            for op in OPERATORS:
                out = _load(tmp / f"{name}.{op}", image.shape)
                gamma = _load(tmp / f"{name}.{op}.gamma", image.shape)
                case = {"image": name, "operator": op, "shape": list(image.shape)}
                if op.startswith("reinhard"):
                    alpha, white = np.fromfile(tmp / f"{name}.{op}.params", dtype=np.float64)
                    case.update(alpha=float(alpha), white=float(white))
                case["luminance"] = _floats(_luminance(out))
                case["rgb_sample"] = _floats(out.reshape(n, 3)[sample])
                case["gamma_sample"] = _floats(gamma.reshape(n, 3)[sample])
                golden["cases"].append(case)
        for name in FILTER_IMAGES:
            for k, s in enumerate(FILTER_SCALES):
                blurred = _load(tmp / f"{name}.filter{k}", images[name].shape[:2])
                golden["filters"].append({"image": name, "s": s, "values": _floats(blurred)})
    OUT.write_text(json.dumps(golden, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes): {len(golden['cases'])} cases, "
          f"{len(golden['filters'])} filters, Octave {golden['octave_version']}")


if __name__ == "__main__":
    main()
