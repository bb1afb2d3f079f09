"""Where the network runs and in what arithmetic: one resolution for inference (`stack`, `fuse`, `bench`) and
training (`train`).

``--device auto`` picks CUDA, then Apple MPS, then the CPU. ``--precision auto`` means one thing per purpose:

* ``inference``: float32. On the 2-core AVX512-BF16 development CPU bf16 made a 1-megapixel stack no faster
  (22.6 s vs 21.8 s: the bf16 GEMMs gain what the float32<->bf16 conversions around OpenCV cost) and lost up
  to 0.31 dB at +0.5 EV; on GPUs half precision is unmeasured so far (tests/benchmarks/bench_gpu.py measures
  it). bf16 and fp16 stay opt-in.
* ``training``: bf16 autocast where the device computes bf16 natively (CUDA GPUs that support it, CPUs with
  AVX512-BF16 or AMX), else float32: one training step ran 1.80x faster in bf16 autocast on that CPU
  (tests/benchmarks/bench_train.py), and the weights stay float32.

Explicit names follow the same rules for both: fp16 needs a GPU (CUDA or MPS); bf16 needs a device that runs
it natively (emulated bf16 on a CPU is slower than float32; MPS has none).
"""

from __future__ import annotations

from typing import Literal

import torch

from ..errors import UsageError, use_one_of
from ..vocabulary import DEVICES, INFERENCE_PRECISIONS, NUMBERED_GPU, TRAINING_PRECISIONS, device_name

Purpose = Literal["inference", "training"]
PRECISIONS_FOR: dict[Purpose, dict[str, str]] = {"inference": INFERENCE_PRECISIONS, "training": TRAINING_PRECISIONS}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def precision_name(dtype: torch.dtype) -> str:
    """The ``--precision`` name of ``dtype`` (a value of :data:`DTYPES`)."""
    return next(name for name, known in DTYPES.items() if known == dtype)


def cpu_has_native_bf16() -> bool:
    """The CPU has bf16 dot-product instructions (AVX512-BF16 or AMX-BF16), so oneDNN's bf16 kernels beat float32.

    Not ``torch.ops.mkldnn._is_mkldnn_bf16_supported()``: that is true on every AVX512BW/VL/DQ CPU, where oneDNN
    emulates bf16 (PyTorch's ``mkldnn_bf16_device_check``, aten/src/ATen/native/mkldnn/Utils.h). A PyTorch
    without ``torch.cpu.get_capabilities`` cannot tell, and gets float32.
    """
    get_capabilities = getattr(torch.cpu, "get_capabilities", None)
    if get_capabilities is None:
        return False
    capabilities = get_capabilities()
    return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))


def bf16_is_native(device: torch.device) -> bool:
    """``device`` computes bf16 natively: a CPU with AVX512-BF16/AMX, a CUDA GPU of compute capability 8.0
    (Ampere) or newer, whose tensor cores take bf16, or a ROCm GPU; never MPS."""
    if device.type == "cuda":
        return bool(torch.version.hip) or torch.cuda.get_device_capability(device)[0] >= 8
    if device.type == "cpu":
        return cpu_has_native_bf16()
    return False


def resolve_precision(name: str, device: torch.device, purpose: Purpose) -> torch.dtype:
    """The compute dtype of ``--precision name`` on ``device`` for ``purpose`` (see the module docstring).

    Raises:
        UsageError: a name the purpose does not offer, or one the device cannot run.
    """
    offered = PRECISIONS_FOR[purpose]
    if name not in offered:
        raise UsageError(f"--precision {name!r}: {use_one_of(name, offered)}")
    if name == "auto":
        return torch.bfloat16 if purpose == "training" and bf16_is_native(device) else torch.float32
    if name == "fp16" and device.type not in ("cuda", "mps"):
        raise UsageError("--precision fp16 needs a GPU (CUDA or MPS): on the CPU use bf16 or fp32")
    if name == "bf16" and not bf16_is_native(device):
        if device.type == "cpu":
            raise UsageError("--precision bf16: this CPU has no native bf16 (AVX512-BF16 or AMX), it would be "
                             "slower than fp32; use --precision fp32")
        raise UsageError(f"--precision bf16 is not supported on {device.type.upper()} here; use fp16 or fp32")
    return DTYPES[name]


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU; an explicit device must exist (a ``torch.device`` too)."""
    name = str(name)
    name = device_name(name) or name.lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {name}: no CUDA GPU is available to PyTorch here (try --device auto)")
    if name == "mps" and not torch.backends.mps.is_available():
        raise UsageError("--device mps: Apple MPS is not available here (try --device auto)")
    if name.startswith("cuda:"):
        index, count = name[5:], torch.cuda.device_count()
        if not (index.isascii() and index.isdecimal() and int(index) < count):
            raise UsageError(f"--device {name!r}: this machine's CUDA GPUs are cuda:0 to cuda:{count - 1}")
    elif name not in DEVICES:
        raise UsageError(f"--device {name!r}: {use_one_of(name, (*DEVICES, NUMBERED_GPU))}")
    return torch.device(name)
