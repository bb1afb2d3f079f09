"""The GPU check, one prepared script (at most a few minutes on an H100/H200): correctness of CUDA and half
precision against the CPU, the 12 MP photo -> 13-EV stack -> Debevec -> EXR + tone-mapped PNG pipeline with
wall time per stage, and photos per second on a batch of 24 MP JPEGs, with peak GPU memory.

    python tests/benchmarks/bench_gpu.py --out $OUT/gpu            # on the GPU machine
    python tests/benchmarks/bench_gpu.py --device cpu --megapixels 0.05 --batch-megapixels 0.05 --batch 2 \
        --check-size 64 --out /tmp/gpu-smoke                       # the same script, CI-sized, on a CPU

Correctness: the bundled sample (downscaled to ``--check-size``) stacked on the device and on the CPU, PSNR
of the device's stack against the CPU's fp32 one (targets: above 45 dB in fp32, above 40 dB in fp16/bf16).
The batch rate uses the precision whose 13-EV stack was fastest.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return -10 * math.log10(mse + 1e-12)


def _photo_of(megapixels: float, path: Path) -> Path:
    """The sample photo resized to ``megapixels`` and saved as a JPEG with its EXIF."""
    import cv2

    from cevr_cli.assets import sample_photo_path
    from cevr_cli.io.images import read_photo, write_ldr

    sample = read_photo(sample_photo_path())
    h, w = sample.rgb.shape[:2]
    scale = math.sqrt(megapixels * 1e6 / (h * w))
    size = (max(16, round(w * scale)), max(16, round(h * scale)))
    interpolation = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
    write_ldr(path, cv2.resize(sample.rgb, size, interpolation=interpolation), bit_depth=8,
              exif_bytes=sample.exif_bytes, icc_profile=sample.icc_profile)
    return path


def correctness(device: str, weights: str | None, size: int, precisions: list[str], tmp: Path) -> dict[str, float]:
    from cevr_cli.evs import CONTINUOUS_EVS
    from cevr_cli.io.images import read_photo
    from cevr_cli.model import load_predictor

    photo = read_photo(_photo_of(size * size / 1e6 * 1.5, tmp / "check.jpg"))
    reference = load_predictor(weights, "cpu", precision="fp32").predict(photo.rgb, CONTINUOUS_EVS)
    return {precision: _psnr(load_predictor(weights, device, precision=precision).predict(photo.rgb, CONTINUOUS_EVS),
                             reference) for precision in precisions}


def pipeline(device: str, weights: str | None, megapixels: float, precision: str, tmp: Path) -> dict[str, float]:
    """Wall time of each stage for one photo on the default path (measure, frames, measured merge, tone map)."""
    from cevr_cli.evs import CONTINUOUS_EVS
    from cevr_cli.exposure import load_exposure_model
    from cevr_cli.fuse import FuseOptions, fuse_photo, write_hdr_output
    from cevr_cli.stack import StackOptions, measure, predict_stack
    from cevr_cli.tonemap import tonemap_array_to_file

    path = _photo_of(megapixels, tmp / "photo.jpg")
    times: dict[str, float] = {}
    started = time.perf_counter()
    model = load_exposure_model("cevr", weights, device, precision)
    times["load_model"] = time.perf_counter() - started
    reading = StackOptions([-1.0, 1.0], response="srgb")
    predict_stack(model, measure(path, reading), [-1.0, 1.0])  # warm-up (kernels, allocator)
    _sync(device)
    total = time.perf_counter()
    started = time.perf_counter()
    photo = measure(path, reading)
    times["decode_and_measure"] = time.perf_counter() - started
    started = time.perf_counter()
    predict_stack(model, photo, CONTINUOUS_EVS)
    _sync(device)
    times["stack_13_evs"] = time.perf_counter() - started
    started = time.perf_counter()
    hdr, *_ = fuse_photo(model, photo, FuseOptions(list(CONTINUOUS_EVS), response="srgb"))
    times["measured_merge"] = time.perf_counter() - started
    started = time.perf_counter()
    write_hdr_output(tmp / "photo.exr", hdr.radiance)
    times["write_exr"] = time.perf_counter() - started
    started = time.perf_counter()
    tonemap_array_to_file(hdr.radiance, tmp / "photo-reinhard.png", "reinhard")
    times["tonemap_png"] = time.perf_counter() - started
    times["photo_to_hdr_total"] = time.perf_counter() - total
    return times


def batch_rate(device: str, weights: str | None, megapixels: float, count: int, precision: str, tmp: Path) -> dict:
    """Photos per second of `cevr stack` (13 EVs, 8-bit PNG) on ``count`` JPEGs, and decode's share."""
    from cevr_cli.batch import BatchPolicy
    from cevr_cli.evs import CONTINUOUS_EVS
    from cevr_cli.exposure import load_exposure_model
    from cevr_cli.io.images import read_photo
    from cevr_cli.stack import StackOptions, run_stack

    folder = tmp / "batch"
    folder.mkdir(exist_ok=True)
    first = _photo_of(megapixels, folder / "p00.jpg")
    for i in range(1, count):
        (folder / f"p{i:02d}.jpg").write_bytes(first.read_bytes())
    model = load_exposure_model("cevr", weights, device, precision)
    started = time.perf_counter()
    read_photo(first)
    decode = time.perf_counter() - started
    started = time.perf_counter()
    report = run_stack([folder], tmp / "stacks", model, StackOptions(list(CONTINUOUS_EVS)), BatchPolicy())
    _sync(device)
    seconds = time.perf_counter() - started
    return {"photos": count, "megapixels": megapixels, "precision": precision, "seconds": seconds,
            "photos_per_s": count / seconds, "decode_s_per_photo": decode, "done": report.counts().get("done", 0)}


def _precisions(device: str) -> list[str]:
    """fp32 and every 16-bit precision the device offers."""
    import torch

    from cevr_cli.model.device import cpu_has_native_bf16

    if device.startswith("cuda"):
        return ["fp32", "fp16"] + (["bf16"] if torch.cuda.is_bf16_supported() else [])
    return ["fp32"] + (["bf16"] if device == "cpu" and cpu_has_native_bf16() else [])


def main() -> None:
    import tempfile

    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--batch-megapixels", type=float, default=24.0)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--check-size", type=int, default=512)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    precisions = _precisions(args.device)
    result: dict = {"device": args.device, "torch": torch.__version__, "precisions": precisions}
    if args.device.startswith("cuda"):
        result["gpu"] = torch.cuda.get_device_name()
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        result["correctness_psnr_vs_cpu"] = correctness(args.device, args.weights, args.check_size, precisions,
                                                        tmp_path)
        for precision in precisions:
            result[f"pipeline_{precision}"] = pipeline(args.device, args.weights, args.megapixels, precision, tmp_path)
        fastest = min(precisions, key=lambda p: result[f"pipeline_{p}"]["stack_13_evs"])
        result["batch"] = batch_rate(args.device, args.weights, args.batch_megapixels, args.batch, fastest, tmp_path)
    if args.device.startswith("cuda"):
        result["peak_gpu_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    (args.out / "bench_gpu.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
