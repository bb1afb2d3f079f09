"""Where the time of a 13-EV stack goes, and how far each part is from this CPU's arithmetic limit.

    python tests/benchmarks/profile_stack.py [--width 1024 --height 683] [--precision fp32] [--json out.json]

Stages of `cevr stack` for one photo: JPEG decode, the encoder (once per model), each decoder level (bicubic
upsampling, the folded 3x3 convolution, the per-pixel MLPs with their GroupNorm), the intensity maps and
head, and writing the 13 PNGs. Then the network's multiply-adds per pixel, counted from the model's config
(3x3 convolutions and per-pixel linear layers; upsampling, norms and activations are not multiply-adds), set
against the measured throughput of a large 3x3 convolution on the same cores (NNPACK float32 and oneDNN
bf16): the time the network's convolutions alone would take at that throughput is the floor this CPU puts
under the stack. Timers wrap the fused model's methods (CPU ops run synchronously, so wall time per call is
the stage's time).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path


def network_macs_per_pixel(config) -> dict[str, float]:
    """Multiply-adds per input pixel of the fused network, by part (each level's pixels are 4^-k of the input's)."""
    c1, c2, c3 = config.encoder_channels
    conv = 9  # 3x3 taps
    encoder = (conv * (3 * c1 + c1 * c1) + conv * (c1 * c2 + c2 * c2) / 4 + conv * (c2 * c3 + 2 * c3 * c3) / 16)
    # decoder level: folded conv (up_ch -> in_ch), skip product, mlp3 and mlp4 collapsed (C x C each), map taps
    levels = {"decoder3 (1/4 res)": (c3, c3, c3, 16, 18), "decoder4 (1/2 res)": (c3, c2, c2, 4, 18),
              "decoder5 (full res)": (c2, c1, c1, 1, 0)}  # the last number: intensity-map taps
    per_ev: dict[str, float] = {}
    for name, (up_ch, in_ch, out_ch, area, taps) in levels.items():
        per_ev[f"{name} conv"] = conv * up_ch * out_ch / area
        per_ev[f"{name} per-pixel MLPs"] = (in_ch * out_ch + 2 * out_ch * out_ch + taps * out_ch) / area
    per_ev["neck (1/8 res)"] = c3 * c3 / 64
    per_ev["head"] = 2 * c1
    return {"encoder (per model)": encoder, **per_ev}


def conv_throughput(threads: int) -> dict[str, float]:
    """GFLOP/s of the decoder5-shaped 3x3 convolution (128 -> 64 channels, 2 x 704 x 1040) on these cores."""
    import torch
    import torch.nn.functional as F

    from cevr_cli.model.device import cpu_has_native_bf16
    from cevr_cli.model.fastops import conv3x3

    torch.set_num_threads(threads)
    x, weight, bias = torch.rand(2, 128, 704, 1040), torch.rand(64, 128, 3, 3) * 0.01, torch.rand(64)
    flops = 2 * x.shape[0] * 128 * 64 * 9 * 704 * 1040
    results = {"nnpack_fp32": flops / _best_of(lambda: conv3x3(x, weight, bias)) / 1e9}
    if cpu_has_native_bf16():
        xb = x.contiguous(memory_format=torch.channels_last).bfloat16()
        wb, bb = weight.contiguous(memory_format=torch.channels_last).bfloat16(), bias.bfloat16()
        results["onednn_bf16"] = flops / _best_of(lambda: F.conv2d(xb, wb, bb, padding=1)) / 1e9
    return results


def _best_of(run, repeats: int = 3) -> float:
    run()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def _timed(table: dict[str, float], name: str, function):
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        result = function(*args, **kwargs)
        table[name] += time.perf_counter() - started
        return result

    return wrapper


def profile_stages(width: int, height: int, precision: str) -> dict[str, float]:
    """Seconds per stage of one 13-EV stack, end to end (decode to written PNGs)."""
    import cv2
    from procedural import procedural_radiance  # beside this script

    from cevr_cli.evs import CONTINUOUS_EVS
    from cevr_cli.io.images import read_photo
    from cevr_cli.model import fused, load_predictor
    from cevr_cli.stack import predict_stack
    from cevr_cli.stackdir import save_stack_folder
    from cevr_cli.training.camera import CameraResponse, auto_exposure_scale, render_ldr

    table: dict[str, float] = defaultdict(float)
    radiance = procedural_radiance(height, width, seed=3)
    ldr = render_ldr(radiance, 0.0, CameraResponse("srgb"), exposure_scale=auto_exposure_scale(radiance))
    predictor = load_predictor(None, "cpu", precision=precision)
    for direction, model in predictor._fused.items():
        model.encode = _timed(table, f"encoder ({direction})", model.encode)
        for level, decoder in zip(("decoder3", "decoder4", "decoder5"), model.decoders, strict=True):
            decoder.forward = _timed(table, f"{level} (upsample, conv, MLPs)", decoder.forward)
            decoder.intensity_maps = _timed(table, f"{level} intensity maps", decoder.intensity_maps)
        model._head = _timed(table, "head", model._head)
    fused.upsample_bicubic = _timed(table, "  of which bicubic upsampling", fused.upsample_bicubic)
    fused.conv3x3 = _timed(table, "  of which 3x3 convolutions", fused.conv3x3)
    fused.pointwise_chain = _timed(table, "  of which per-pixel MLPs", fused.pointwise_chain)
    with tempfile.TemporaryDirectory() as tmp:
        jpeg = Path(tmp) / "photo.jpg"
        cv2.imwrite(str(jpeg), cv2.cvtColor((ldr * 255 + 0.5).astype("uint8"), cv2.COLOR_RGB2BGR))
        total = time.perf_counter()
        started = time.perf_counter()
        photo = read_photo(jpeg)
        table["decode JPEG"] = time.perf_counter() - started
        started = time.perf_counter()
        stack = predict_stack(predictor, photo, list(CONTINUOUS_EVS))
        table["network, all"] = time.perf_counter() - started
        started = time.perf_counter()
        save_stack_folder(Path(tmp) / "stack", stack, {}, {})
        table["encode and write 13 PNGs + contact sheet"] = time.perf_counter() - started
        table["total"] = time.perf_counter() - total
    return dict(table)


def main() -> None:
    import torch

    from cevr_cli.evs import CONTINUOUS_EVS
    from cevr_cli.model import get_config

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=683)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    stages = profile_stages(args.width, args.height, args.precision)
    macs = network_macs_per_pixel(get_config("cevr"))
    throughput = conv_throughput(args.threads)
    pixels = (args.width + 16) * (args.height + 16)  # the predictor's 8-px mirrored border
    steps = len([e for e in CONTINUOUS_EVS if e != 0])
    conv_macs = sum(v for k, v in macs.items() if k.endswith("conv")) * steps + 2 * macs["encoder (per model)"]
    all_macs = sum(v for k, v in macs.items() if not k.startswith("encoder")) * steps + 2 * macs["encoder (per model)"]
    best = max(throughput.values())
    floor = {"network_gflop": 2 * all_macs * pixels / 1e9, "conv_gflop": 2 * conv_macs * pixels / 1e9,
             "conv_floor_s_at_best_conv_throughput": 2 * conv_macs * pixels / 1e9 / best,
             "network_floor_s_at_best_conv_throughput": 2 * all_macs * pixels / 1e9 / best}
    report = {"size": f"{args.width}x{args.height}", "precision": args.precision, "threads": args.threads,
              "stages_s": {k: round(v, 3) for k, v in stages.items()},
              "macs_per_pixel": {k: round(v) for k, v in macs.items()},
              "conv_gflops": {k: round(v, 1) for k, v in throughput.items()},
              "floor": {k: round(v, 2) for k, v in floor.items()},
              "achieved_gflops": round(floor["network_gflop"] / stages["network, all"], 1)}
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
