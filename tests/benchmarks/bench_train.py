"""Training speed: samples/s of `cevr train`'s step (batch 4, 256 px, cycle loss), today's fp32 loop
against bf16 autocast and bf16 + channels_last, in the same run and on the same batches.

The step is the loop's own (:func:`cevr_cli.training.loop.train_step`), with brackets synthesised by the
loop's dataset from a procedural radiance map (no external data). A short quality check trains a tiny
model the same number of steps in fp32 and in bf16 and compares the validation PSNR.

    python tests/benchmarks/bench_train.py [--steps 4] [--crop 256] [--batch 4] [--device cpu|cuda] [--json]
"""

from __future__ import annotations

import argparse
import json
import time


def _batches(crop: int, batch: int, count: int, direction: str = "dec") -> list[dict]:
    import torch
    from procedural import procedural_radiance  # beside this script

    from cevr_cli.training.pairs import SyntheticPairs

    scene = procedural_radiance(2 * crop, 3 * crop, seed=0)
    data = SyntheticPairs([scene], direction, crop=crop, samples_per_epoch=batch * count, continuous_steps=True)
    loader = torch.utils.data.DataLoader(data, batch_size=batch)
    return list(loader)


def measure(arm: str, batches: list[dict], device: str, warmup: int = 1, variant: str = "cevr") -> float:
    """Samples per second of ``arm`` over ``batches`` after ``warmup`` steps (fresh model and optimizer)."""
    import torch

    from cevr_cli.model.cevr import CEVRNet
    from cevr_cli.model.config import get_config
    from cevr_cli.model.device import resolve_precision
    from cevr_cli.training.config import TrainConfig
    from cevr_cli.training.loop import train_step

    cfg = TrainConfig(data="", precision="fp32" if arm == "fp32" else "bf16", channels_last=arm == "bf16+channels_last")
    torch.manual_seed(0)
    model = CEVRNet(get_config(variant)).to(device).train()
    model = model.to(memory_format=torch.channels_last if cfg.channels_last else torch.contiguous_format)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    dtype = resolve_precision(cfg.precision, torch.device(device), "training")
    generator = torch.Generator().manual_seed(0)
    for batch in batches[:warmup]:
        train_step(model, optimizer, batch, cfg, generator, dtype)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    started = time.perf_counter()
    samples = 0
    for batch in batches[warmup:]:
        train_step(model, optimizer, batch, cfg, generator, dtype)
        samples += batch["input"].shape[0]
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return samples / (time.perf_counter() - started)


def quality(precision: str, steps: int, crop: int) -> dict[float, float]:
    """Validation PSNR per EV of a tiny model after ``steps`` steps at ``precision``."""
    import torch
    from procedural import procedural_radiance  # beside this script

    from cevr_cli.model.cevr import CEVRNet
    from cevr_cli.model.config import get_config
    from cevr_cli.model.device import resolve_precision
    from cevr_cli.training.config import TrainConfig
    from cevr_cli.training.loop import VAL_EVS, train_step, validate
    from cevr_cli.training.pairs import make_validation

    cfg = TrainConfig(data="", precision=precision)
    torch.manual_seed(0)
    model = CEVRNet(get_config("cevr-tiny")).train().to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    generator = torch.Generator().manual_seed(0)
    dtype = resolve_precision(precision, torch.device("cpu"), "training")
    for batch in _batches(crop, 4, steps):
        train_step(model, optimizer, batch, cfg, generator, dtype)
    val = make_validation(["procedural"], [procedural_radiance(96, 128, seed=7)], VAL_EVS["dec"], size=64, cameras=4)
    return validate(model, val, torch.device("cpu"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per arm (after one warm-up step)")
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--variant", default="cevr")
    parser.add_argument("--quality-steps", type=int, default=60, help="0 skips the bf16-vs-fp32 quality check")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    batches = _batches(args.crop, args.batch, args.steps + 1)
    arms = ("fp32", "bf16", "bf16+channels_last")
    rates = {arm: measure(arm, batches, args.device, variant=args.variant) for arm in arms}
    result = {"device": args.device, "batch": args.batch, "crop": args.crop, "steps": args.steps,
              "samples_per_s": rates, "speedup_vs_fp32": {arm: rates[arm] / rates["fp32"] for arm in arms}}
    if args.quality_steps:
        result["quality_psnr"] = {p: quality(p, args.quality_steps, 64) for p in ("fp32", "bf16")}
    if args.json:
        print(json.dumps(result, default=str))
        return
    for arm in arms:
        print(f"{arm:>20}: {rates[arm]:7.3f} samples/s  ({rates[arm] / rates['fp32']:.2f}x fp32)")
    for precision, psnr in result.get("quality_psnr", {}).items():
        print(f"tiny model, {args.quality_steps} steps, {precision}: validation PSNR "
              + " ".join(f"{ev:+g}:{v:.2f}" for ev, v in psnr.items()))


if __name__ == "__main__":
    main()
