"""Benchmark: HDR-VDP-2.2.1 on one 512x512 pair with cevr's numpy version and, when GNU Octave and a
prepared reference are present, with the MATLAB release under Octave, in the same run.

The pair is the golden recipe's scene (tests/golden/hdrvdp2_pairs.py) at 512x512 with 10 % noise.
Each side is timed warm: the best of ``--repeats`` calls after one untimed call (ours caches its
tables; the reference caches its photoreceptor tables), so start-up is not counted. The reference is
prepared as tests/golden/make_hdrvdp2_golden.py describes.

    python tests/benchmarks/bench_hdrvdp2.py --reference /tmp/hdrvdp-ref
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "golden"))
from hdrvdp2_pairs import scene  # noqa: E402

from cevr_cli.evaluation.mantiuk2011 import hdrvdp2  # noqa: E402

SIZE = 512
OCTAVE_TIMING = """
addpath('{ref}'); addpath('{ref}/matlabPyrTools_1.4_fixed'); addpath('{ref}/matlabPyrTools_1.4_fixed/MEX');
pkg load image
warning('off', 'all');
fid = fopen('{test}', 'r'); T = reshape(fread(fid, Inf, 'double'), {shape}); fclose(fid);
fid = fopen('{reference}', 'r'); R = reshape(fread(fid, Inf, 'double'), {shape}); fclose(fid);
res = hdrvdp(T, R, 'rgb-bt.709', 30, {{}});
best = Inf;
for k = 1:{repeats}
  tic; res = hdrvdp(T, R, 'rgb-bt.709', 30, {{}}); best = min(best, toc);
end
printf('%.4f %.6f %.6f\\n', best, res.Q, res.P_det);
"""


def time_ours(test: np.ndarray, reference: np.ndarray, repeats: int) -> tuple[float, float, float]:
    res = hdrvdp2(test, reference, "rgb-bt.709", 30.0)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        res = hdrvdp2(test, reference, "rgb-bt.709", 30.0)
        best = min(best, time.perf_counter() - start)
    return best, res.Q, res.P_det


def time_octave(test: np.ndarray, reference: np.ndarray, repeats: int, ref_dir: Path) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for role, image in (("test", test), ("reference", reference)):
            paths[role] = Path(tmp) / f"{role}.bin"
            np.asfortranarray(image).ravel(order="F").tofile(paths[role])
        script = Path(tmp) / "run.m"
        script.write_text(OCTAVE_TIMING.format(ref=ref_dir.resolve(), shape=list(test.shape), repeats=repeats,
                                               **paths))
        out = subprocess.run(["octave-cli", "--no-gui", "-q", str(script)], check=True, capture_output=True,
                             text=True).stdout.split()
    seconds, q, p_det = (float(v) for v in out[-3:])
    return seconds, q, p_det


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=Path("/tmp/hdrvdp-ref"),
                        help="prepared hdrvdp-2.2.1 folder (see make_hdrvdp2_golden.py)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    reference = scene(SIZE)
    test = reference * (1.0 + 0.1 * (np.random.default_rng(1).random(reference.shape) - 0.5))
    ours = time_ours(test, reference, args.repeats)
    print(f"{SIZE}x{SIZE} rgb-bt.709, 30 ppd, best of {args.repeats}")
    print(f"cevr (numpy)     {ours[0]:7.3f} s   Q {ours[1]:.4f}  P_det {ours[2]:.4f}")
    if shutil.which("octave-cli") is None or not (args.reference / "hdrvdp.m").exists():
        print("reference: skipped (needs octave-cli and a prepared --reference folder)")
        return
    octave = time_octave(test, reference, args.repeats, args.reference)
    print(f"MATLAB in Octave {octave[0]:7.3f} s   Q {octave[1]:.4f}  P_det {octave[2]:.4f}")
    print(f"speed-up: {octave[0] / ours[0]:.2f}x")


if __name__ == "__main__":
    main()
