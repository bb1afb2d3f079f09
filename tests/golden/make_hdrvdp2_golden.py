"""Run the MATLAB HDR-VDP 2.2.1 reference in GNU Octave on the pairs of hdrvdp2_pairs.py and store its
Q, P_det and C_max in tests/golden/hdrvdp2_golden.json (the test needs only that JSON).

Preparing the reference (once, outside the repository)::

    cp -r hdrvdp-2.2.1 /tmp/hdrvdp-ref && cd /tmp/hdrvdp-ref/matlabPyrTools_1.4_fixed/MEX
    sed -i 's|#include <matrix.h>.*||' *.c   # a MATLAB-only header; Octave's mex.h suffices
    for f in corrDn upConv; do mkoctfile --mex $f.c convolve.c wrap.c edges.c; done
    mkoctfile --mex pointOp.c; mkoctfile --mex range2.c; mkoctfile --mex histo.c
    apt-get install octave-image   # imresize, padarray, fspecial
    # Octave's ifft2 has no 'symmetric' flag; the product is Hermitian, so the real part is the same:
    sed -i "s/real(ifft2( fX.\\*fH, size(fX,1), size(fX,2), 'symmetric' ))/real(ifft2( fX.*fH ))/" \\
        /tmp/hdrvdp-ref/fast_conv_fft.m /tmp/hdrvdp-ref/fast_gauss.m

Usage: ``python tests/golden/make_hdrvdp2_golden.py /tmp/hdrvdp-ref``
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
from hdrvdp2_pairs import pairs  # noqa: E402

OUT = Path(__file__).resolve().parent / "hdrvdp2_golden.json"

OCTAVE_RUN = """
addpath('{ref}'); addpath('{ref}/matlabPyrTools_1.4_fixed'); addpath('{ref}/matlabPyrTools_1.4_fixed/MEX');
pkg load image
warning('off', 'all');
function x = load_raw(path, sz)
  fid = fopen(path, 'r'); x = reshape(fread(fid, Inf, 'double'), sz); fclose(fid);
end
fid = fopen('{out}', 'w');
fprintf(fid, '{{"octave_version": "%s", "hdrvdp_version": "%g", "results": [', OCTAVE_VERSION, hdrvdp_version());
{calls}
fprintf(fid, ']}}'); fclose(fid);
"""

OCTAVE_CALL = """
res = hdrvdp(load_raw('{test}', {shape}), load_raw('{ref}', {shape}), '{enc}', {ppd}, {{}});
fprintf(fid, '%s{{"name": "{name}", "Q": %.10g, "P_det": %.10g, "C_max": %.10g}}', '{sep}', ...
        res.Q, res.P_det, res.C_max);
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path, help="a scratch copy of hdrvdp-2.2.1 with the MEX files built")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        calls = []
        for k, pair in enumerate(pairs()):
            paths = {}
            for role, image in (("test", pair.test), ("ref", pair.reference)):
                paths[role] = Path(tmp) / f"{k}-{role}.bin"
                np.asfortranarray(image, dtype=np.float64).ravel(order="F").tofile(paths[role])
            calls.append(OCTAVE_CALL.format(test=paths["test"], ref=paths["ref"], shape=list(pair.test.shape),
                                             enc=pair.encoding, ppd=pair.pixels_per_degree, name=pair.name,
                                             sep="" if k == 0 else ", "))
        out = Path(tmp) / "golden.json"
        script = OCTAVE_RUN.format(ref=args.reference.resolve(), out=out, calls="".join(calls))
        (Path(tmp) / "run.m").write_text("1;\n" + script)
        subprocess.run(["octave-cli", "--no-gui", "-q", str(Path(tmp) / "run.m")], check=True)
        golden = json.loads(out.read_text())
    meta = {p.name: {"encoding": p.encoding, "pixels_per_degree": p.pixels_per_degree, "shape": list(p.test.shape)}
            for p in pairs()}
    for row in golden["results"]:
        row.update(meta[row["name"]])
    OUT.write_text(json.dumps(golden, indent=1) + "\n")
    print(json.dumps(golden, indent=1))


if __name__ == "__main__":
    main()
