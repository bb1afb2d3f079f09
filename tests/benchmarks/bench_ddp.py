"""Cost of `cevr train --nproc 2` against `--nproc 1` for the same run (same samples per epoch and epochs, the
same batch size per process), each as a user runs it: the `cevr` command in a fresh process, on procedural
radiance maps (no external data). A third arm, `--nproc 1 --threads 1`, shows what one process makes of one
core (`--nproc 2` gives each worker one thread on a 2-core machine). The arms alternate, so a change in the
machine's load hits all of them.

Two figures per arm: the wall time of the whole command (interpreter, imports, the workers' start and the
rendezvous included) and the training time the run reports (after the data is loaded). Medians are printed,
with the load average, as the machine may be shared.

    python tests/benchmarks/bench_ddp.py [--repeats 3] [--crop 32] [--samples 4] [--epochs 1] [--variant cevr-tiny]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def write_scenes(folder: Path, count: int = 4) -> None:
    from procedural import procedural_radiance  # beside this script

    from cevr_cli.io.hdrfile import write_radiance_hdr

    folder.mkdir(parents=True, exist_ok=True)
    for seed in range(count):
        write_radiance_hdr(folder / f"scene{seed}.hdr", procedural_radiance(96, 128, seed=seed))


ARMS = {"nproc 1": ["--nproc", "1"], "nproc 1, threads 1": ["--nproc", "1", "--threads", "1"],
        "nproc 2": ["--nproc", "2"]}


def run(arm: str, data: Path, out: Path, args: argparse.Namespace) -> tuple[float, float]:
    """(wall seconds, reported training seconds) of one `cevr train` in the setting ``arm`` names."""
    command = [sys.executable, "-m", "cevr_cli", "train", "--data", str(data), "-o", str(out), "--device", "cpu",
               *ARMS[arm], "--epochs", str(args.epochs), "--crop", str(args.crop),
               "--samples-per-epoch", str(args.samples), "--batch-size", str(args.batch), "--val-cameras", "1",
               "--val-size", "32", "--variant", args.variant, "--direction", "inc", "--json"]
    started = time.perf_counter()
    finished = subprocess.run(command, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - started
    return wall, float(json.loads(finished.stdout)["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--crop", type=int, default=32)
    parser.add_argument("--samples", type=int, default=4, help="--samples-per-epoch (all processes together)")
    parser.add_argument("--batch", type=int, default=4, help="--batch-size (per process)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--variant", default="cevr-tiny")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    times: dict[str, list[tuple[float, float]]] = {arm: [] for arm in ARMS}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "scenes"
        write_scenes(data)
        for repeat in range(args.repeats):
            for arm in ARMS:
                times[arm].append(run(arm, data, Path(tmp) / f"run-{len(times[arm])}-{repeat}", args))
    medians = {arm: {"wall_s": statistics.median(t[0] for t in runs),
                     "train_s": statistics.median(t[1] for t in runs)} for arm, runs in times.items()}
    result = {"cpus": os.cpu_count(), "load_average": os.getloadavg(), "settings": vars(args), "median": medians,
              "ratio_nproc2_over_nproc1": {k: medians["nproc 2"][k] / medians["nproc 1"][k]
                                           for k in ("wall_s", "train_s")},
              "runs": times}
    if args.json:
        print(json.dumps(result))
        return
    for arm, median in medians.items():
        print(f"{arm:>18}: {median['wall_s']:6.1f} s wall, {median['train_s']:6.1f} s training (median of "
              f"{args.repeats})")
    ratio = result["ratio_nproc2_over_nproc1"]
    print(f"nproc 2 / nproc 1: {ratio['wall_s']:.2f}x wall, {ratio['train_s']:.2f}x training; "
          f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
