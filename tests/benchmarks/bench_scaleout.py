"""Scale-out overheads on this machine: the same batch serial, with ``--workers N`` and with ``--ray local``.

Each variant is one `cevr stack` process (as a user runs it), on the same photos into its own folder, timed
end to end; the photos are small so that the figures are the per-photo cost of the machinery, not of the
network. Also the model-load cost of one worker: a fresh Python process importing cevr and loading the
shipped residual model, as each worker and each Ray actor does once.

    python tests/benchmarks/bench_scaleout.py [--photos 40] [--size 256x192] [--workers 2] [--evs -1,1]

Prints one JSON object: seconds per variant, the overhead per photo against the serial run of the same
invocation, the model-load seconds, and the driver's own bookkeeping per 1,000 inputs (discovery, planning,
completion checks), which bounds how many photos one driver can feed a cluster.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_photos(folder: Path, count: int, width: int, height: int) -> None:
    import cv2
    from procedural import procedural_radiance  # beside this script

    from cevr_cli.training.camera import CameraResponse, auto_exposure_scale, render_ldr

    folder.mkdir(parents=True)
    for index in range(count):
        radiance = procedural_radiance(height, width, seed=index)
        photo = render_ldr(radiance, 0.0, CameraResponse("srgb"), exposure_scale=auto_exposure_scale(radiance))
        cv2.imwrite(str(folder / f"photo{index:03d}.jpg"), (photo[..., ::-1] * 255).round().astype("uint8"))


def timed_stack(photos: Path, out: Path, evs: str, extra: list[str]) -> float:
    command = [sys.executable, "-m", "cevr_cli", "stack", str(photos), "-o", str(out), "--evs", evs,
               "--device", "cpu", "--quiet", *extra]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - started


def model_load_seconds() -> dict[str, float]:
    code = ("import time; t0 = time.perf_counter(); from cevr_cli.exposure import ModelSpec; "
            "t1 = time.perf_counter(); ModelSpec(device='cpu').load(); t2 = time.perf_counter(); "
            "print(t1 - t0, t2 - t1)")
    imports, load = map(float, subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                              text=True).stdout.split())
    return {"import_seconds": round(imports, 2), "load_seconds": round(load, 2)}


def driver_bookkeeping_seconds(count: int, root: Path) -> dict[str, float]:
    """The driver's own work per photo, without any photo work, on a resumed batch: discovering ``count`` inputs,
    planning their outputs (half of them complete stack folders, each recording the photo it was made from, which
    planning reads to tell namesakes apart) and checking each for completion against its photo."""
    import json

    from cevr_cli.batch import completion, discover_inputs, input_record, plan_outputs

    photos = root / "many"
    photos.mkdir()
    for index in range(count):
        (photos / f"p{index:05d}.jpg").write_bytes(b"x")
    for source in sorted(photos.iterdir())[::2]:
        output = root / "many-out" / source.stem
        output.mkdir(parents=True)
        (output / "00_ev-1.00.png").write_bytes(b"x")
        (output / "stack.json").write_text(json.dumps({"files": ["00_ev-1.00.png"], "request": {},
                                                       "cevr_version": "0.1.0", "made_from": input_record(source)}))
    started = time.perf_counter()
    plan = plan_outputs(discover_inputs([photos]), root / "many-out", roots=[photos], marker="stack.json")
    planned = time.perf_counter() - started
    started = time.perf_counter()
    states = [completion(output, "stack.json", {}, source) for source, output in plan.items()]
    checked = time.perf_counter() - started
    assert states.count("complete") == (count + 1) // 2
    return {"inputs": count, "discover_and_plan_ms_per_1000": round(planned / count * 1e6, 1),
            "completion_check_ms_per_1000": round(checked / count * 1e6, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=40)
    parser.add_argument("--size", default="256x192")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--evs", default="-1,1")
    parser.add_argument("--no-ray", action="store_true", help="skip --ray local (Ray not installed)")
    parser.add_argument("--bookkeeping", type=int, default=10000, help="inputs for the driver's bookkeeping")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="cevr-bench-scaleout-") as tmp:
        root = Path(tmp)
        make_photos(root / "photos", args.photos, width, height)
        variants = {"serial": [], f"workers {args.workers}": ["--workers", str(args.workers)]}
        if not args.no_ray:
            variants[f"ray local, {args.workers} actors"] = ["--ray", "local", "--workers", str(args.workers)]
        seconds = {name: timed_stack(root / "photos", root / f"out{index}", args.evs, extra)
                   for index, (name, extra) in enumerate(variants.items())}
        bookkeeping = driver_bookkeeping_seconds(args.bookkeeping, root)
    serial = seconds["serial"]
    report = {
        "photos": args.photos, "size": args.size, "evs": args.evs, "cpus": _cpus(),
        "seconds": {name: round(value, 2) for name, value in seconds.items()},
        "ratio_to_serial": {name: round(value / serial, 2) for name, value in seconds.items()},
        "overhead_per_photo_seconds": {name: round((value - serial) / args.photos, 3)
                                       for name, value in seconds.items() if name != "serial"},
        "one_worker_startup": model_load_seconds(),
        "driver_bookkeeping": bookkeeping,
    }
    print(json.dumps(report, indent=2))


def _cpus() -> int:
    import os

    return os.cpu_count() or 1


if __name__ == "__main__":
    main()
