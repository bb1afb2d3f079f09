"""One device and precision resolution for inference and training, with the hardware mocked.

No GPU is needed: CUDA, MPS and the CPU's native bf16 are monkeypatched, so every branch runs on any machine.
"""

import pytest
import torch

from cevr_cli.errors import UsageError
from cevr_cli.model import device as D
from cevr_cli.model.device import resolve_device, resolve_precision

CPU, CUDA, MPS = torch.device("cpu"), torch.device("cuda"), torch.device("mps")


@pytest.fixture()
def hardware(monkeypatch):
    """Set what the machine has: hardware(cuda=..., mps=..., cpu_bf16=..., cuda_bf16=...)."""

    def set_(cuda: bool = False, mps: bool = False, cpu_bf16: bool = False, cuda_bf16: bool = False) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
        monkeypatch.setattr(D, "cpu_has_native_bf16", lambda: cpu_bf16)
        monkeypatch.setattr(torch.version, "hip", None)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0) if cuda_bf16 else (7, 5))

    return set_


@pytest.mark.parametrize(("cuda", "mps", "expected"), [
    (True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_auto_device_is_cuda_then_mps_then_cpu(hardware, cuda, mps, expected):
    hardware(cuda=cuda, mps=mps)
    assert resolve_device("auto") == torch.device(expected)


def test_explicit_devices_must_exist(hardware, monkeypatch):
    hardware(cuda=False, mps=False)
    assert resolve_device("CPU") == CPU
    assert resolve_device("cpu:0") == resolve_device(torch.device("cpu", 0)) == CPU
    with pytest.raises(UsageError, match="no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(UsageError, match="MPS is not available"):
        resolve_device("mps")
    with pytest.raises(UsageError, match=r"^--device 'tpu': use one of auto, cpu, cuda, mps, cuda:N$"):
        resolve_device("tpu")
    hardware(cuda=True, mps=True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    for name in ("cuda:2", "cuda:x", "cuda:"):  # a GPU not there was a traceback when the model moved to it
        with pytest.raises(UsageError, match=rf"^--device '{name}': this machine's CUDA GPUs are cuda:0 to cuda:1$"):
            resolve_device(name)
    assert resolve_device("mps") == resolve_device("mps:0") == resolve_device(torch.device("mps", 0)) == MPS
    with pytest.raises(UsageError, match=r"^--device 'cpu:1': use one of auto, cpu, cuda, mps, cuda:N"):
        resolve_device("cpu:1")


# (device, cpu_bf16, cuda_bf16) -> what auto is for inference and for training.
AUTO = [
    (CPU, False, False, torch.float32, torch.float32),
    (CPU, True, False, torch.float32, torch.bfloat16),
    (CUDA, False, True, torch.float32, torch.bfloat16),
    (CUDA, True, False, torch.float32, torch.float32),
    (MPS, True, True, torch.float32, torch.float32),
]


@pytest.mark.parametrize(("dev", "cpu_bf16", "cuda_bf16", "inference", "training"), AUTO)
def test_auto_is_fp32_for_inference_and_native_bf16_for_training(hardware, dev, cpu_bf16, cuda_bf16, inference,
                                                                 training):
    hardware(cpu_bf16=cpu_bf16, cuda_bf16=cuda_bf16)
    assert resolve_precision("auto", dev, "inference") == inference
    assert resolve_precision("auto", dev, "training") == training


@pytest.mark.parametrize("purpose", ["inference", "training"])
def test_explicit_names_follow_one_rule_for_both_purposes(hardware, purpose):
    hardware(cpu_bf16=True, cuda_bf16=True)
    assert resolve_precision("fp32", MPS, purpose) == torch.float32
    assert resolve_precision("bf16", CPU, purpose) == torch.bfloat16
    assert resolve_precision("bf16", CUDA, purpose) == torch.bfloat16
    with pytest.raises(UsageError, match="not supported on MPS"):
        resolve_precision("bf16", MPS, purpose)
    hardware(cpu_bf16=False, cuda_bf16=False)
    with pytest.raises(UsageError, match="no native bf16"):  # emulated bf16 would be slower than fp32
        resolve_precision("bf16", CPU, purpose)
    with pytest.raises(UsageError, match="not supported on CUDA"):
        resolve_precision("bf16", CUDA, purpose)


def test_fp16_is_for_inference_on_a_gpu(hardware):
    hardware()
    assert resolve_precision("fp16", CUDA, "inference") == torch.float16
    assert resolve_precision("fp16", MPS, "inference") == torch.float16
    with pytest.raises(UsageError, match="fp16 needs a GPU"):
        resolve_precision("fp16", CPU, "inference")
    with pytest.raises(UsageError, match=r"^--precision 'fp16': use one of auto, bf16, fp32 \(did you mean bf16\?\)$"):
        resolve_precision("fp16", CUDA, "training")
    with pytest.raises(UsageError, match=r"^--precision 'fp8': use one of auto, fp32, bf16, fp16$"):
        resolve_precision("fp8", CPU, "inference")


def test_the_mps_path_makes_no_cuda_call(monkeypatch, hardware):
    hardware(mps=True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: pytest.fail("a CUDA call on the MPS path"))
    assert resolve_device("auto") == MPS
    for purpose in ("inference", "training"):
        assert resolve_precision("auto", MPS, purpose) == torch.float32


def test_the_real_cpu_probe_agrees_with_the_kernels_cpu_flags():
    """The probe asks PyTorch's cpuinfo; on Linux the kernel's /proc/cpuinfo says it independently."""
    try:
        flags = set(open("/proc/cpuinfo").read().split())
    except OSError:
        pytest.skip("no /proc/cpuinfo")
    if not hasattr(torch.cpu, "get_capabilities"):
        pytest.skip("this PyTorch cannot tell native bf16")
    assert D.cpu_has_native_bf16() == bool(flags & {"avx512_bf16", "amx_bf16"})
