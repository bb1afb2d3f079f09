"""What this machine lends the process: the CPU cores it may run on and the CUDA GPUs it may use.

A stage sizes its own threads by these (stack's image encoders), as the executors (:mod:`cevr_cli.scaleout`) and
distributed training size their workers, without a stage knowing of the executors.
"""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The CPU cores this process may run on: its affinity set where the system has one (taskset, a container's
    cpuset), which ``os.cpu_count`` ignores, so that workers split the cores they will really get."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def visible_gpus() -> list[str]:
    """The CUDA devices this process may use, as CUDA_VISIBLE_DEVICES names them (or their indices)."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [name.strip() for name in listed.split(",") if name.strip() and name.strip() != "-1"]
    import torch

    return [str(index) for index in range(torch.cuda.device_count())]
