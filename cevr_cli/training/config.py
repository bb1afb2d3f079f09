"""What a training run is asked to do: one dataclass, whose field docs are also `cevr train`'s option help.

Torch-free, so that the CLI can build `cevr train`'s options from it without importing torch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..vocabulary import (
    CYCLE_SPLITS,
    DEVICE_HELP,
    KEPT_CHECKPOINTS,
    MODEL_VARIANTS,
    RESIDUAL_LOSSES,
    RESIDUAL_OBJECTIVES,
    TRAIN_DIRECTIONS,
    TRAINING_PRECISIONS,
)


def _described(what: str, names: dict[str, str]) -> str:
    return f"{what}: " + "; ".join(f"{name} = {meaning}" for name, meaning in names.items()) + "."


def _opt(default: Any, help_text: str, **extra: Any) -> Any:
    return field(default=default, metadata={"help": help_text, **extra})


@dataclass
class TrainConfig:
    """Defaults follow the official recipe (Chen et al. 2023 and the released code).

    Options marked ``resumable`` say how long and where a run goes; the others define it, and ``--resume`` must
    repeat them (:func:`resume_conflicts`)."""

    data: str | list[str] = _opt("", "Folder(s) of radiance maps (.exr/.hdr) to synthesise brackets from; "
                                     "repeat --data for several.", resumable=True)
    out: str = _opt("runs/cevr", "Output folder: checkpoints, the scene split, a summary and the weights pair.",
                    resumable=True)
    direction: str = _opt("both", "Train the EV-increase model (inc), the decrease model (dec), or both.",
                           choices=TRAIN_DIRECTIONS, resumable=True)
    variant: str = _opt("cevr", _described("Model variant", MODEL_VARIANTS), choices=MODEL_VARIANTS)
    freeze_encoder: bool = _opt(False, "Keep the encoder (and its BatchNorm statistics) as initialised: fine-tune "
                                       "the decoder only (faster; for --init from a trained pair).")
    objective: str = _opt("frame", _described("Residual variants: what the loss scores", RESIDUAL_OBJECTIVES),
                           choices=RESIDUAL_OBJECTIVES)
    loss: str = _opt("pixel", _described("Residual variants: how errors are pooled", RESIDUAL_LOSSES),
                      choices=RESIDUAL_LOSSES)
    inference_scale: float | None = _opt(None, "Residual --objective light: run the network as `cevr` runs it on "
                                               "photos, at 1/N of the view's resolution behind its mirrored border "
                                               "(`cevr`'s default: 2), in training and validation; default: on the "
                                               "whole view at its resolution.")
    highlight_exposures: float = _opt(0.0, "Residual darkening: share of samples exposed so that the brightest 2% "
                                           "of the view lie 1-1.6x white (highlights barely clipped, as highlight-"
                                           "weighted metering leaves them), not -0.5..+2 EV from the meter.")
    dorf: str | None = _opt(None, "cevr-residual: also train on the DoRF curves (dorf-201-crf.mat; needs scipy).")
    epochs: int = _opt(1250, "Epochs (the paper: 1250).", min=1, resumable=True)
    samples_per_epoch: int = _opt(48, "Random training pairs per epoch (VDS has 48 scenes).", min=1)
    batch_size: int = _opt(4, "Batch size.", min=1)
    crop: int = _opt(256, "Training crop size in pixels (multiple of 8).", min=8)
    lr: float = _opt(2e-4, "Adam learning rate.")
    t0: int = _opt(10, "Cosine warm restarts: epochs of the first cycle.", min=1)
    t_mult: int = _opt(2, "Cosine warm restarts: cycle length multiplier.", min=1)
    cycle: bool = _opt(True, "Cycle loss (Eq. 4); --no-cycle for the ablation.")
    cycle_weight: float = _opt(0.1, "Weight of the cycle loss (Eq. 5).")
    cycle_split: str = _opt("random", "random = a ~ U[0,1] (paper, Eq. 4); half = s/2 (released code).",
                             choices=CYCLE_SPLITS)
    continuous_steps: bool = _opt(False, "Sample s uniformly in (0, 3] instead of integer steps.")
    max_long_side: int = _opt(1024, "Radiance maps are downscaled to this long side on load.", min=64)
    val_size: int = _opt(256, "Validation images are size x size, a multiple of 8 (the paper's protocol: 256).", min=8)
    val_cameras: int = _opt(4, "Synthetic cameras per validation scene (checkpoint choice).", min=1)
    checkpoint_every: int = _opt(200, "Save a resumable checkpoint about every N iterations.", min=1, resumable=True)
    seed: int = _opt(0, "Random seed.")
    device: str = _opt("cpu", DEVICE_HELP, resumable=True)
    resume: bool = _opt(False, "Continue from OUT/<direction>-last.pt.", resumable=True)
    overwrite: bool = _opt(False, "Start a new run in an output folder that holds checkpoints of the direction(s) "
                                  "asked for, replacing them (without it, or --resume, that is refused).",
                           resumable=True)
    init: str | None = _opt(None, "Fine-tune: start from this weights pair (.safetensors), or from the shipped pair "
                                  "of --model cevr or cevr-paper, by that name.")
    encoder_init: str | None = _opt(None, "Start the encoder from ImageNet VGG16 convolutions (safetensors, "
                                          "torchvision vgg16 numbering), e.g. vgg16-imagenet-stages1-3.safetensors.")
    keep: str = _opt("best", _described("Which checkpoint the exported pair holds", KEPT_CHECKPOINTS),
                     choices=KEPT_CHECKPOINTS, resumable=True)
    max_minutes: float | None = _opt(None, "Stop each direction after this many minutes (validated and checkpointed "
                                                  "first; --keep says which checkpoint is exported).", resumable=True)
    threads: int | None = _opt(None, "CPU threads for PyTorch (default: all cores).", min=1, resumable=True)
    workers: int = _opt(0, "Data-synthesis processes (0 = in the training process; 4+ on a GPU).", min=0,
                        resumable=True)
    nproc: int = _opt(1, "Training processes on this machine (DistributedDataParallel: one per GPU, NCCL; or "
                         "several on the CPU, gloo); --batch-size is per process. Under torchrun leave it out.",
                      min=1, resumable=True)
    precision: str = _opt("auto", _described("Training arithmetic", TRAINING_PRECISIONS), choices=TRAINING_PRECISIONS,
                          resumable=True)
    channels_last: bool = _opt(True, "channels_last memory format (faster convolutions on CPU and GPU).",
                               resumable=True)


def resume_conflicts(saved: dict[str, Any], cfg: TrainConfig) -> list[str]:
    """The options of ``cfg`` that differ from those a checkpoint was trained with (``saved``, its ``config``
    record), among those that define the run (the model, its data, the optimiser and its schedule): ``--flag
    old -> new`` each. How long and where it runs (fields with ``resumable`` metadata) may change; an option
    the checkpoint does not record (an older cevr) is not compared."""
    conflicts = []
    for f in fields(TrainConfig):
        if f.metadata.get("resumable") or f.name not in saved:
            continue
        old, new = saved[f.name], getattr(cfg, f.name)
        if old != new and not _same_file(old, new):
            flag = f.name.replace("_", "-")
            if isinstance(new, bool):  # the flags as typed: --cycle -> --no-cycle
                conflicts.append(f"--{'' if old else 'no-'}{flag} -> --{'' if new else 'no-'}{flag}")
            else:
                conflicts.append(f"--{flag} {old} -> {new}")
    return conflicts


def _same_file(old: Any, new: Any) -> bool:
    """Two values of a path option name one file (``--init pair.safetensors`` and its absolute path)."""
    try:
        return isinstance(old, str) and isinstance(new, str) and os.path.samefile(old, new)
    except OSError:
        return False


def vocabulary_fields() -> dict[str, list[str]]:
    """The options that take one of a vocabulary's names (field metadata ``choices``): name -> allowed values."""
    return {f.name: list(f.metadata["choices"]) for f in fields(TrainConfig) if "choices" in f.metadata}


def resumable_checkpoints(out: str | Path) -> list[str]:
    """The checkpoints ``--resume`` continues from in ``out`` (``<direction>-last.pt``, what a stopped run saved);
    torch-free, for a run stopped while torch loads."""
    return sorted(path.name for path in Path(out).glob("*-last.pt"))
