"""Build ``cevr_cli/evaluation/data/hdrvdp2_tables.npz``, the data tables HDR-VDP-2 needs.

The tables are published measurements and filter taps, carried as data (no code is copied):

* ``cone_lms``: Smith & Pokorny (1975) L, M, S cone fundamentals (the reference ships them as log10);
* ``rod``: CIE 1951 scotopic luminous efficiency V'(lambda);
* ``emission_<display>``: R, G, B emission spectra of a CCFL-backlit LCD, an LED-backlit LCD and a CRT;
* ``emission_d65``: the CIE D65 illuminant, the spectrum of achromatic ("luminance") input;
* ``sp3_*``: the order-3 (4-orientation) steerable pyramid filters of Simoncelli & Freeman
  ("The steerable pyramid", ICIP 1995), as distributed in matlabPyrTools ``sp3Filters``.

All spectra are resampled the way HDR-VDP 2.2.1 resamples them (``load_spectral_resp``: PCHIP onto
420 samples evenly spaced over 360..780 nm, zero outside each table), by running that reference
function in GNU Octave, so the wavelength grid and interpolation are the reference's exactly. Where the
cone table is zero (outside its 380..825 nm range) the reference substitutes the table's minimum
log10 value; ``cone_lms`` is stored after that substitution, as linear sensitivities.

Usage (needs GNU Octave and scipy)::

    python tests/golden/make_hdrvdp2_tables.py /path/to/hdrvdp-2.2.1
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import scipy.io

OUT = Path(__file__).resolve().parents[2] / "cevr_cli" / "evaluation" / "data" / "hdrvdp2_tables.npz"

OCTAVE_DUMP = """
addpath('{ref}'); addpath('{ref}/matlabPyrTools_1.4_fixed');
[lambda, cone_log] = load_spectral_resp('log_cone_smith_pokorny_1975.csv');
[~, rod] = load_spectral_resp('cie_scotopic_lum.txt');
[~, ccfl] = load_spectral_resp('emission_spectra_ccfl-lcd.csv');
[~, led] = load_spectral_resp('emission_spectra_led-lcd.csv');
[~, crt] = load_spectral_resp('emission_spectra_crt.csv');
[~, d65] = load_spectral_resp('d65.csv');
[lo0filt, hi0filt, lofilt, bfilts] = sp3Filters();
save('-v6', '{out}', 'lambda', 'cone_log', 'rod', 'ccfl', 'led', 'crt', 'd65', 'lo0filt', 'hi0filt', ...
     'lofilt', 'bfilts');
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path, help="the hdrvdp-2.2.1 folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        mat = Path(tmp) / "tables.mat"
        script = OCTAVE_DUMP.format(ref=args.reference.resolve(), out=mat)
        subprocess.run(["octave-cli", "--no-gui", "-q", "--eval", script], check=True)
        d = scipy.io.loadmat(mat)
    cone_log = d["cone_log"]
    cone_log[cone_log == 0] = cone_log.min()
    bfilts = d["bfilts"]
    np.savez_compressed(
        OUT,
        wavelength=d["lambda"].ravel(),
        cone_lms=10.0**cone_log,
        rod=d["rod"].ravel(),
        **{"emission_ccfl-lcd": d["ccfl"], "emission_led-lcd": d["led"], "emission_crt": d["crt"]},
        emission_d65=d["d65"].ravel(),
        sp3_lo0=d["lo0filt"],
        sp3_hi0=d["hi0filt"],
        sp3_lo=d["lofilt"],
        # bfilts holds one 9x9 filter per column, flattened in MATLAB's column-major order.
        sp3_bands=np.stack([bfilts[:, k].reshape(9, 9, order="F") for k in range(bfilts.shape[1])]),
    )
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
