"""Benchmark: reading one photo as `cevr stack` and `cevr fuse` read it, and tone-mapping one EXR as `cevr tonemap`
does, per file kind: wall time per file and how often the file is opened and parsed.

Inputs, made here at ``--megapixels``: an 8-bit JPEG with EXIF, a 16-bit TIFF, a CFA DNG with GainMaps (lens
shading, as phones write them) and camera tags, and an EXR with capture facts in its header. Each is read by the
same call the commands make (``read_photo``; ``read_raw_linear`` for `--raw-mode linear`; ``tonemap_file``), in a
subprocess per checkout, ``--repeat`` times; the least time is reported (as ``timeit`` advises: on a shared
machine the others' load only adds to a read's time), and the least CPU time of the process beside it. Counted
on a read apart from the timed ones: Python-level opens of the file (``open`` audit events: not OpenCV's nor the
OpenEXR binding's own, for which ``strace -e trace=openat`` serves), tifffile parses (``TiffFile``) and OpenEXR
parses (``OpenEXR.File``).

With ``--against OTHER_CHECKOUT`` the same inputs are read by both checkouts in alternating rounds on the same
machine, and the ratio of their times (other / this) is printed: a ratio measured in one run, not against a
figure from another machine. On a loaded machine small inputs' times move by 15 % between runs of unchanged code
(the JPEG and TIFF rows, whose reading two checkouts may share, are the control); the counts do not move.

    python tests/benchmarks/bench_photo_reads.py                            # this checkout
    python tests/benchmarks/bench_photo_reads.py --against ../main-before   # and the ratio to another
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
READS = ("jpeg", "tiff16", "dng-linear", "dng-developed", "exr-tonemap")


def make_inputs(folder: Path, megapixels: float) -> dict[str, Path]:
    """The four inputs in ``folder``: a 3:2 gradient with a clipped corner (the DNG also shaded at its corners)."""
    import tifffile
    from PIL import Image

    sys.path.insert(0, str(ROOT))  # tests.dng writes the DNG: run from any folder
    from cevr_cli.io.exif import ExifInfo
    from cevr_cli.io.hdrfile import write_exr
    from tests.dng import gain_map_opcode, opcode_list, write_cfa_dng

    w = max(64, int(round(math.sqrt(megapixels * 1e6 * 3 / 2))) // 2 * 2)
    h = max(44, int(round(w * 2 / 3)) // 2 * 2)
    x = np.linspace(0.0, 1.0, w)[None, :, None]
    scene = x * np.ones((h, 1, 3)) * np.array([1.0, 0.8, 0.6])
    scene[: h // 8, : w // 8] = 1.0
    exif = Image.Exif()
    exif[271], exif[272] = "Canon", "EOS R5"
    Image.fromarray(np.round(scene ** (1 / 2.2) * 255).astype(np.uint8)).save(folder / "photo.jpg", exif=exif)
    tifffile.imwrite(folder / "photo16.tif", np.round(scene ** (1 / 2.2) * 65535).astype(np.uint16),
                     photometric="rgb")
    shading = (1.0 + 0.5 * np.add.outer(np.linspace(-1, 1, 5) ** 2, np.linspace(-1, 1, 7) ** 2))[..., None]
    maps = [gain_map_opcode(shading, h, w, top=top, left=left, pitch=2) for top in (0, 1) for left in (0, 1)]
    write_cfa_dng(folder / "photo.dng", scene * 0.8, 4000, make="Testmake", model="T1",
                  opcode_list_2=opcode_list(*maps))
    write_exr(folder / "scene.exr", (scene * 4).astype(np.float32),
              attributes=ExifInfo(camera_make="Canon", exposure_time=0.01, iso=100.0).exr_attributes())
    return {"jpeg": folder / "photo.jpg", "tiff16": folder / "photo16.tif", "dng-linear": folder / "photo.dng",
            "dng-developed": folder / "photo.dng", "exr-tonemap": folder / "scene.exr"}


def _reader(kind: str, out: Path):
    from cevr_cli.io.images import read_photo
    from cevr_cli.io.raw import read_raw_linear
    from cevr_cli.tonemap import TonemapOptions, tonemap_file

    if kind == "dng-linear":
        return read_raw_linear
    if kind == "exr-tonemap":
        return lambda path: tonemap_file(path, out / "tonemapped.png", TonemapOptions())
    return read_photo


_COUNTED: dict[str, object] = {}  # the file being counted ("target") and its counts, while _counts runs


def _audit(event: str, args: tuple) -> None:
    target = _COUNTED.get("target")
    if event == "open" and target and isinstance(args[0], (str, os.PathLike)) and os.fspath(args[0]) == target:
        _COUNTED["python_opens"] += 1


def _counts(read, path: Path) -> dict[str, int]:
    """Opens and parses of ``path`` during one ``read(path)``."""
    import OpenEXR
    import tifffile

    target = os.fspath(path)
    _COUNTED.update(target=target, python_opens=0, tifffile_parses=0, openexr_parses=0)
    tiff_file, exr_file = tifffile.TiffFile, OpenEXR.File

    class CountedTiff(tiff_file):
        def __init__(self, file, *args, **kwargs):
            if isinstance(file, (str, os.PathLike)) and os.fspath(file) == target:
                _COUNTED["tifffile_parses"] += 1
            super().__init__(file, *args, **kwargs)

    def counted_exr(*args, **kwargs):
        _COUNTED["openexr_parses"] += 1
        return exr_file(*args, **kwargs)

    tifffile.TiffFile, OpenEXR.File = CountedTiff, counted_exr
    try:
        read(path)
    finally:
        tifffile.TiffFile, OpenEXR.File = tiff_file, exr_file
        target = _COUNTED.pop("target")
    return {name: int(value) for name, value in _COUNTED.items()}


def run_child(folder: Path, repeat: int) -> dict[str, dict[str, float]]:
    inputs = json.loads((folder / "inputs.json").read_text())
    out = Path(tempfile.mkdtemp(dir=folder))
    results = {}
    for kind, name in inputs.items():
        path, read = Path(name), _reader(kind, out)
        read(path)  # imports and caches warm
        seconds, cpu = [], []
        for _ in range(repeat):
            start, start_cpu = time.perf_counter(), time.process_time()
            read(path)
            seconds.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        results[kind] = {"seconds": min(seconds), "cpu_seconds": min(cpu)}
    sys.addaudithook(_audit)  # after timing: an audit hook, once added, stays
    for kind, name in inputs.items():
        results[kind].update(_counts(_reader(kind, out), Path(name)))
    import cevr_cli

    return {"cevr_cli": cevr_cli.__file__, **results}


def _child(checkout: Path, folder: Path, repeat: int) -> dict[str, dict[str, float]]:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    out = subprocess.run([sys.executable, __file__, "--child", str(folder), "--repeat", str(repeat)],
                         check=True, capture_output=True, text=True, env=env, cwd=folder).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=7, help="timed reads per input in each round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the checkouts")
    parser.add_argument("--against", type=Path, default=None, help="another checkout: the ratio of its times")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(args.child, args.repeat)))
        return
    checkouts = {"this": ROOT} | ({"other": args.against.resolve()} if args.against else {})
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        inputs = make_inputs(folder, args.megapixels)
        (folder / "inputs.json").write_text(json.dumps({kind: str(path) for kind, path in inputs.items()}))
        rounds: dict[str, list[dict]] = {name: [] for name in checkouts}
        for _ in range(args.rounds):
            for name, checkout in checkouts.items():
                rounds[name].append(_child(checkout, folder, args.repeat))
    report: dict[str, dict] = {"megapixels": args.megapixels, "repeat": args.repeat, "rounds": args.rounds}
    for name, results in rounds.items():
        report[name] = {"cevr_cli": results[0]["cevr_cli"]} | {
            kind: {**results[0][kind], "seconds": min(r[kind]["seconds"] for r in results),
                   "cpu_seconds": min(r[kind]["cpu_seconds"] for r in results)} for kind in READS}
    print(f"{args.megapixels:g} MP inputs; least of {args.rounds} rounds x {args.repeat} reads; "
          "opens = Python-level opens of the file; " + ", ".join(f"{name}: {report[name]['cevr_cli']}"
                                                                 for name in checkouts))
    for kind in READS:
        line = f"{kind:14s}"
        for name in checkouts:
            r = report[name][kind]
            line += (f"  {name}: {r['seconds'] * 1e3:7.2f} ms (CPU {r['cpu_seconds'] * 1e3:7.2f}), "
                     f"opens {r['python_opens']}, tifffile {r['tifffile_parses']}, openexr {r['openexr_parses']}")
        if args.against:
            ratios = {what: report["other"][kind][what] / report["this"][kind][what]
                      for what in ("seconds", "cpu_seconds")}
            report.setdefault("ratio_other_over_this", {})[kind] = ratios
            line += f"  other/this {ratios['seconds']:.3f} (CPU {ratios['cpu_seconds']:.3f})"
        print(line)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
