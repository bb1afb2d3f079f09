"""Training CEVR models (Chen et al. 2023, Sec. 3.3) on synthetic brackets of real radiance maps.

Loss, Eq. 5: L = L_rec + 0.1 L_cyc, with L_rec = |F(I, s) - I_s|_1 (Eq. 3) and the cycle term
L_cyc = |F(F(I, u), v) - I_s|_1, u = a s, v = (1 - a) s, a ~ U[0, 1] per sample and step (Eq. 4).
(The released code split s in halves, ``cycle_split="half"``.) Defaults follow the official recipe:
Adam, lr 2e-4, batch 4, 256x256 inputs, cosine annealing with warm restarts (T_0 = 10 epochs, T_mult = 2)
stepped every iteration, integer steps {0,1,2,3} for the increase model and {-3,...,0} for the decrease
model. The checkpoint kept is the best on the validation split; test data is never looked at.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import CevrError, InputError, UsageError, use_one_of
from ..io.atomic import atomic_path, atomic_write_text, check_writable, remove_abandoned_temporaries
from ..model.cevr import CEVRNet
from ..model.config import CEVRConfig, get_config
from ..model.device import precision_name, resolve_precision
from ..model.imagenet import init_encoder_from_vgg16
from ..model.weights import ModelPair, check_direction, load_pair, save_pair
from ..stopping import StopRequests, ignore_stop_signals
from .config import TrainConfig, resume_conflicts, vocabulary_fields
from .distributed import ALONE, Rank, check_processes, environment_rank, launch, process_group
from .pairs import SyntheticPairs, ValidationSet, make_validation
from .residual import (
    ResidualLightValidation,
    ResidualPairs,
    ResidualValidation,
    ResponseBank,
    make_residual_light_validation,
    make_residual_validation,
    residual_light_loss,
    residual_loss,
    validate_residual,
    validate_residual_light,
)
from .scenes import find_radiance_maps, load_radiance, split_scenes

VAL_EVS = {"inc": [0.5, 1.0, 1.5, 2.0, 2.5, 3.0], "dec": [-3.0, -2.5, -2.0, -1.5, -1.0, -0.5]}


@dataclass
class EpochLog:
    direction: str
    epoch: int
    iteration: int
    loss: float
    val_psnr: dict[float, float]
    seconds: float


@dataclass
class TrainResult:
    weights: Path | None
    best_psnr: dict[str, float]
    epochs: dict[str, int]
    iterations: dict[str, int]
    seconds: float
    history: list[EpochLog] = field(default_factory=list)


Event = Callable[[str, dict[str, Any]], None]


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute error, reduced in fp32 even when the prediction came out of bf16 autocast."""
    return (a.float() - b.float()).abs().mean()


def training_loss(
    model: CEVRNet, image: torch.Tensor, target: torch.Tensor, s: torch.Tensor, *, cycle: bool,
    cycle_weight: float = 0.1, split: str = "random", generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq. 5. The cycle term chains two passes of the same model through the intermediate F(I, u)."""
    reconstruction = l1(model(image, s), target)
    if not cycle:
        return reconstruction, {"rec": reconstruction.item()}
    if split == "random":
        # Drawn on the CPU generator (resumable, device-independent), then moved to the model's device.
        a = torch.rand(s.shape, generator=generator).to(s.device)
    else:
        a = torch.full_like(s, 0.5)
    u, v = a * s, (1.0 - a) * s
    chained = model(model(image, u), v)
    cycle_term = l1(chained, target)
    loss = reconstruction + cycle_weight * cycle_term
    return loss, {"rec": reconstruction.item(), "cyc": cycle_term.item()}


@torch.inference_mode()
def validate(model: CEVRNet, val: ValidationSet, device: torch.device) -> dict[float, float]:
    """Mean PSNR (dB, [0,1] images, -10 log10(MSE + 1e-8) as the official code) per EV."""
    model.eval()
    result = {}
    inputs = [torch.from_numpy(x.transpose(2, 0, 1).copy())[None].to(device) for x in val.inputs]
    encoded = [model.encode(x) for x in inputs]
    for ev, truths in val.truths.items():
        scores = []
        for x, enc, truth in zip(inputs, encoded, truths, strict=True):
            y = model.decode(x, enc, torch.tensor([ev], device=device)).clamp(0, 1)[0].cpu().numpy()
            mse = float(np.mean((y.transpose(1, 2, 0) - truth) ** 2))
            scores.append(-10 * math.log10(mse + 1e-8))
        result[ev] = float(np.mean(scores))
    model.train()
    return result


Validation = ValidationSet | ResidualValidation | ResidualLightValidation


def _validate(model: CEVRNet, val: Validation, device: torch.device) -> dict[float, float]:
    """Mean PSNR (dB) per EV on the validation set of the model's role and objective."""
    if isinstance(val, ResidualLightValidation):
        return validate_residual_light(model, val, device)
    if isinstance(val, ResidualValidation):
        return validate_residual(model, val, device)
    return validate(model, val, device)


def _memory_format(cfg: TrainConfig) -> torch.memory_format:
    return torch.channels_last if cfg.channels_last else torch.contiguous_format


def train_step(
    model: CEVRNet, optimizer: torch.optim.Optimizer, batch: dict[str, torch.Tensor], cfg: TrainConfig,
    generator: torch.Generator, dtype: torch.dtype,
) -> tuple[float, dict[str, float]]:
    """One optimiser step on a batch of training pairs (Eq. 5), under autocast to ``dtype`` unless it is float32.

    ``model`` may be a :class:`CEVRNet` in DistributedDataParallel, which averages the gradients over the ranks.
    """
    device = next(model.parameters()).device
    role = getattr(model, "module", model).config.role
    with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
        if role == "residual" and cfg.objective == "light":
            loss, parts = residual_light_loss(model, {
                k: v.to(device, memory_format=_memory_format(cfg)) if v.dim() == 4 else v.to(device)
                for k, v in batch.items()}, cfg.loss, cfg.inference_scale)
        elif role == "residual":
            loss, parts = residual_loss(model, {k: v.to(device) if k == "s" else
                                               v.to(device, memory_format=_memory_format(cfg))
                                               for k, v in batch.items()}, cfg.loss)
        else:
            image, target = (batch[k].to(device, memory_format=_memory_format(cfg)) for k in ("input", "target"))
            loss, parts = training_loss(model, image, target, batch["s"].to(device), cycle=cfg.cycle,
                                        cycle_weight=cfg.cycle_weight, split=cfg.cycle_split, generator=generator)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item(), parts


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _train_mode(model: CEVRNet, cfg: TrainConfig) -> None:
    """Training mode, except a frozen encoder, whose BatchNorm keeps its running statistics."""
    model.train()
    if cfg.freeze_encoder:
        for stage in (model.encoder1, model.encoder2, model.encoder3):
            stage.eval()


def _out_of_time(cfg: TrainConfig, started: float) -> bool:
    """Past ``--max-minutes`` (on this rank: the caller makes it the ranks' shared decision, or those left would
    wait for the others)."""
    return cfg.max_minutes is not None and (time.monotonic() - started) / 60 > cfg.max_minutes


def _resume_state(path: Path, rank: Rank) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if there is one, read by rank 0 and sent to the others (whose machines need
    not share its disk)."""
    return rank.share(torch.load(path, map_location="cpu", weights_only=False)
                      if rank.is_main and path.is_file() else None)


def _initial_model(cfg: TrainConfig, direction: str, device: torch.device) -> CEVRNet:
    """The model a run starts from on ``device``: seeded per direction, its encoder from ImageNet VGG16
    (``--encoder-init``) or the whole of it from ``--init`` weights (of the variant: :func:`check_init_variant`),
    frozen where asked, in the memory format the run computes in."""
    torch.manual_seed(cfg.seed + (0 if direction == "inc" else 1))
    model = CEVRNet(get_config(cfg.variant))
    if cfg.encoder_init and not cfg.init:
        init_encoder_from_vgg16(model, cfg.encoder_init)
    model = model.to(device)
    if cfg.init:
        initial = load_pair(cfg.init)  # of the variant: check_config has checked its header
        model.load_state_dict(getattr(initial, direction).state_dict())
        if initial.config.role != model.config.role:
            # A paper model's maps re-expose the photo; in the residual role they act on the physics frame,
            # so they restart as the identity (G = P) and only the features are kept.
            model.reset_intensity_transforms()
    model = model.to(memory_format=_memory_format(cfg))
    if cfg.freeze_encoder:
        for stage in (model.encoder1, model.encoder2, model.encoder3):
            stage.requires_grad_(False)
    return model


def check_init_variant(cfg: TrainConfig, initial: CEVRConfig) -> None:
    """``--init`` weights (their config: ``initial``) must be of ``--variant``'s shapes; a paper-role pair may start
    a residual model (its features are kept, its maps restart as the identity), but a residual pair cannot start
    a paper-role one: its maps act on the physics frame, which the paper role has not, and a direction not trained
    would be left the identity, a frame equal to the photo.

    Raises:
        UsageError: ``--init PATH: its variant (V) is not --variant W``.
    """
    wanted = get_config(cfg.variant)
    same_shape = replace(initial, variant=wanted.variant, role=wanted.role) == wanted
    if not same_shape or (initial.role == "residual" and wanted.role != "residual"):
        raise UsageError(f"--init {cfg.init}: its variant ({initial.variant}) is not --variant {cfg.variant}")


def _training_pairs(cfg: TrainConfig, role: str, direction: str,
                    train_maps: list[np.ndarray]) -> SyntheticPairs | ResidualPairs:
    """The run's training pairs: through the response bank for a residual model, else the paper's synthetic
    camera pairs."""
    if role == "residual":
        return ResidualPairs(train_maps, direction, ResponseBank.default(cfg.dorf), crop=cfg.crop,
                             samples_per_epoch=cfg.samples_per_epoch, seed=cfg.seed, objective=cfg.objective,
                             highlight_exposures=cfg.highlight_exposures)
    return SyntheticPairs(train_maps, direction, crop=cfg.crop, samples_per_epoch=cfg.samples_per_epoch,
                          seed=cfg.seed, continuous_steps=cfg.continuous_steps)


def trained_precision(cfg: TrainConfig, rank: Rank = ALONE) -> str:
    """The arithmetic ``cfg.precision`` means on this rank's device (``bf16`` or ``fp32``; ``auto`` resolved as
    :func:`~cevr_cli.model.device.resolve_precision` does), which summary.json records beside the config's request."""
    return precision_name(resolve_precision(cfg.precision, rank.device(cfg.device), "training"))


def train_direction(
    cfg: TrainConfig, direction: str, train_maps: list[np.ndarray], val: Validation | None,
    on_event: Event | None = None, rank: Rank = ALONE,
) -> tuple[CEVRNet, dict[str, Any]]:
    """Train one model; returns the best-on-validation model and a summary.

    Among several ranks (``rank``, in a process group), each draws its share of every epoch's samples and
    DistributedDataParallel averages the gradients; rank 0 alone validates (``val``, None elsewhere), writes the
    checkpoints and sends events. The other ranks return their last model, the same as rank 0's last one, and a
    summary without validation results.
    """
    device = rank.device(cfg.device)
    out = Path(cfg.out)
    last_path, best_path = out / f"{direction}-last.pt", out / f"{direction}-best.pt"
    if rank.is_main:
        out.mkdir(parents=True, exist_ok=True)
        for path in (last_path, best_path):  # a run killed while saving left its temporary: none writes it now
            remove_abandoned_temporaries(path)
    model = _initial_model(cfg, direction, device)
    dtype = resolve_precision(cfg.precision, device, "training")
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    data = _training_pairs(cfg, model.config.role, direction, train_maps)
    iters_per_epoch = math.ceil(len(epoch_indices(len(data), 0, rank)) / cfg.batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        optimizer, T_0=cfg.t0 * iters_per_epoch, T_mult=cfg.t_mult, eta_min=0.0)
    # The cycle split's draws: rank 0's stream is a lone process's; each other rank has its own.
    generator = torch.Generator().manual_seed(cfg.seed + rank.rank)
    start_epoch, done, iteration, best = 0, 0, 0, {"mean_psnr": -math.inf, "epoch": -1, "psnr": {}}
    history: list[EpochLog] = []
    losses: list[float] = []
    state = _resume_state(last_path, rank) if cfg.resume else None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generators = state.get("generators", [state["generator"]])
        if rank.rank < len(generators):  # a rank the checkpointed run did not have keeps its fresh stream
            generator.set_state(generators[rank.rank])
        start_epoch, iteration, best = state["epoch"], state["iteration"], state["best"]
        # stopped mid-epoch: the samples all ranks trained, and each rank's losses so far
        done, every_losses = state.get("samples_done", 0), state.get("epoch_losses", [])
        losses = _resumed_losses(every_losses, rank)
        history = [EpochLog(**entry) for entry in state.get("history", [])]
        _rescale_schedule(scheduler, state.get("iters_per_epoch", iters_per_epoch), iters_per_epoch)
    trained = rank.wrap(model)  # after resuming: DDP starts every replica from rank 0's weights
    samples = len(data)

    def save_last(epoch: int, validated: bool = False) -> None:
        """The resumable state after ``done`` of ``epoch``'s samples, all ranks' together (every rank takes part;
        rank 0 writes). An epoch counts as finished once validated: a stop after its last step resumes into
        its validation."""
        generators = rank.gather(generator.get_state())
        every_losses = rank.gather(losses)
        if rank.is_main:
            finished = done >= samples and (validated or val is None)
            _save_checkpoint(last_path, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "generator": generator.get_state(), "generators": generators,
                "epoch": epoch + 1 if finished else epoch, "samples_done": 0 if finished else done,
                "epoch_losses": [] if finished else every_losses, "iteration": iteration, "best": best,
                "iters_per_epoch": iters_per_epoch,
                "direction": direction, "history": [asdict(entry) for entry in history], "config": asdict(cfg)})

    def stop_now(epoch: int, validated: bool) -> None:
        """Ctrl-C or SIGTERM on any rank: save, then let the signal act (every rank stops)."""
        save_last(epoch, validated)
        stop.deliver()
        raise KeyboardInterrupt  # a rank that was not signalled stops with the others

    started = time.monotonic()
    _train_mode(model, cfg)
    epochs_run = start_epoch  # a resumed run that had finished runs none
    with StopRequests() as stop:
        for epoch in range(start_epoch, cfg.epochs):
            epochs_run = epoch + 1  # one stopped mid-epoch by --max-minutes counts
            data.set_epoch(epoch)
            loader = torch.utils.data.DataLoader(data, batch_size=cfg.batch_size, shuffle=False,
                                                 sampler=epoch_indices(samples, done, rank), drop_last=False,
                                                 num_workers=cfg.workers, pin_memory=device.type == "cuda",
                                                 worker_init_fn=ignore_stop_signals if cfg.workers else None)
            halted = False
            for batch in loader:
                loss, parts = train_step(trained, optimizer, batch, cfg, generator, dtype)
                if rank.any(not math.isfinite(loss)):  # its weights are NaN now: nothing to train on, or to save
                    kept = f"; {last_path} from before it is kept" if last_path.is_file() else ""
                    raise CevrError(f"{direction} training diverged at epoch {epoch + 1}, step {iteration + 1}: its "
                                    f"loss is not a number (--lr {cfg.lr:g} too high? the paper's is 2e-4){kept}")
                scheduler.step()
                iteration += 1
                done = min(samples, done + cfg.batch_size * rank.world_size)
                losses.append(loss)
                if on_event:
                    on_event("iteration", {"direction": direction, "epoch": epoch, "iteration": iteration, **parts,
                                           "loss": loss, "lr": scheduler.get_last_lr()[0]})
                halted = rank.any(stop.requested or _out_of_time(cfg, started))
                if halted:
                    break
                if iters_per_epoch > cfg.checkpoint_every and iteration % cfg.checkpoint_every == 0:
                    save_last(epoch)  # long epochs: within them too
            if halted and rank.any(stop.requested):
                stop_now(epoch, validated=False)
            if halted and done < samples:  # the time limit, mid-epoch: validated when a resume finishes it
                save_last(epoch)
                break
            epoch_loss = _epoch_loss(losses, rank)
            if val is not None:
                psnr = _validate(model, val, device)
                mean_psnr = float(np.mean(list(psnr.values())))
                if mean_psnr > best["mean_psnr"]:
                    best = {"mean_psnr": mean_psnr, "epoch": epoch, "psnr": psnr}
                    _save_checkpoint(best_path, {"model": model.state_dict(), "epoch": epoch, "psnr": psnr,
                                                 "direction": direction})
                _train_mode(model, cfg)  # validation left every module in training mode
                log = EpochLog(direction, epoch, iteration, epoch_loss, psnr, time.monotonic() - started)
                history.append(log)
                if on_event:
                    on_event("epoch", asdict(log))
            if rank.any(stop.requested):  # one that came during validation
                stop_now(epoch, validated=True)
            if halted or iteration % cfg.checkpoint_every < iters_per_epoch or epoch + 1 == cfg.epochs:
                save_last(epoch, validated=True)  # at the time limit, about every --checkpoint-every, at the end
            if halted:
                break
            done, losses = 0, []
    if val is not None and best_path.is_file():  # none yet: the time limit came within the first epoch
        model.load_state_dict(torch.load(best_path, map_location=device, weights_only=False)["model"])
    summary = {"best_epoch": best["epoch"], "best_val_psnr": best["psnr"], "epochs_run": epochs_run,
               "iterations": iteration, "seconds": round(time.monotonic() - started, 1), "history": history}
    return model.eval(), summary


def _resumed_losses(every_losses: list[list[float]], rank: Rank) -> list[float]:
    """This rank's step losses of a checkpointed epoch; rank 0 also takes those of the ranks a resume with a
    smaller --nproc lacks, so that the epoch's loss still averages every step it took."""
    own = list(every_losses[rank.rank]) if rank.rank < len(every_losses) else []
    if rank.is_main:
        own += [loss for lost in every_losses[rank.world_size:] for loss in lost]
    return own


def _epoch_loss(losses: list[float], rank: Rank) -> float:
    """The mean loss over the epoch's steps on all ranks (a rank that a resume with a larger --nproc added after
    the epoch's last step has none of its own)."""
    return float(np.mean([loss for part in rank.gather(losses) for loss in part]))


PAIR_FILE = "cevr-pair.safetensors"  # what a run in -o exports: the weights pair `--weights` takes


def epoch_indices(samples: int, start: int, rank: Rank) -> list[int]:
    """This rank's share of an epoch's samples from ``start`` on (those before were trained before a stop), as
    DistributedSampler splits a whole epoch: the samples in order, padded with the epoch's first so that every
    rank runs as many steps, rank r taking every world-size-th from r; so a resumed epoch trains what the
    unstopped one would have, and a resume with another ``--nproc`` trains each remaining sample once."""
    if start >= samples:  # all trained: the epoch stopped before its validation
        return []
    world = rank.world_size
    order = list(range(samples))
    order += order[: math.ceil(samples / world) * world - samples]
    return order[start:][rank.rank :: world]


def _rescale_schedule(scheduler: Any, saved_iters: int, iters: int) -> None:
    """Keep the cosine schedule's restarts on epochs when a resume runs another number of steps an epoch (another
    ``--nproc``): its periods are counted in steps, and the checkpoint's are for the old count."""
    if saved_iters == iters or saved_iters <= 0:
        return
    cycles = max(1, round(scheduler.T_i / scheduler.T_0))  # T_i = T_0 t_mult^k
    scheduler.T_0 = max(1, round(scheduler.T_0 * iters / saved_iters))
    scheduler.T_i = scheduler.T_0 * cycles
    scheduler.T_cur = scheduler.T_cur * iters / saved_iters


def export_pair(out: Path, cfg: TrainConfig, train_paths: list[Path], val_paths: list[Path]) -> Path | None:
    """Write :data:`PAIR_FILE` once both directions' kept checkpoints (``cfg.keep``: best or last) exist
    in ``out``.

    The two directions may be trained by separate processes (one core each); whichever finishes last
    writes the pair. When fine-tuning one direction (``cfg.init``), the other is taken unchanged from
    the initial weights.
    """
    paths = {d: out / f"{d}-{cfg.keep}.pt" for d in ("inc", "dec")}
    initial = load_pair(cfg.init) if cfg.init else None
    if not all(p.is_file() for p in paths.values()) and initial is None:
        return None
    config = get_config(cfg.variant)
    models, results = {}, {}
    for direction, path in paths.items():
        models[direction] = CEVRNet(config)
        if not path.is_file():
            models[direction].load_state_dict(getattr(initial, direction).state_dict())
            results[direction] = {"unchanged_from": Path(cfg.init).name}
            if initial.config.role != config.role:  # not trained in its new role: the identity, G = P
                models[direction].reset_intensity_transforms()
                results[direction] = {"identity": "not trained in the residual role: frames are physics only"}
            continue
        state = torch.load(path, map_location="cpu", weights_only=False)
        models[direction].load_state_dict(state["model"])
        results[direction] = _checkpoint_record(state, cfg.keep)
    info = {"data": "synthetic brackets of " + ", ".join(p.name for p in train_paths),
            "validation": [p.name for p in val_paths], "results": results, "recipe": asdict(cfg)}
    weights = out / PAIR_FILE
    save_pair(ModelPair(models["inc"], models["dec"], config), weights, info=info)
    return weights


def _checkpoint_record(state: dict[str, Any], kept: str) -> dict[str, Any]:
    """What the weights' info says of the checkpoint they hold: its epoch and validation PSNR per EV."""
    if kept == "best":
        return {"best_epoch": state["epoch"], "val_psnr": {str(k): v for k, v in state["psnr"].items()}}
    psnr = state["history"][-1]["val_psnr"] if state["history"] else {}
    return {"last": {"epochs": state["epoch"], "iterations": state["iteration"]},
            "val_psnr": {str(k): v for k, v in psnr.items()}}


MAX_VAL_SIZE = 4096  # validation images are val_size x val_size: 100,000 filled the memory


def check_config(cfg: TrainConfig) -> None:
    """Refuse options that cannot run, before any data is read or any process is started.

    Raises:
        UsageError: an unknown choice, a non-positive count or time limit, processes that cannot run
            (:func:`~cevr_cli.training.distributed.check_processes`), ``--init`` weights of another variant
            (:func:`check_init_variant`).
        WeightsError: ``--init`` or ``--encoder-init`` weights that cannot be read, or (``--encoder-init``) do not
            fit the variant.
    """
    for name, allowed in vocabulary_fields().items():
        if (value := getattr(cfg, name)) not in allowed:
            raise UsageError(f"--{name.replace('_', '-')} {value!r}: {use_one_of(value, allowed)}")
    for name in ("epochs", "samples_per_epoch", "batch_size", "t0", "t_mult", "val_size", "val_cameras",
                 "checkpoint_every"):
        if getattr(cfg, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} {getattr(cfg, name)}: must be at least 1")
    for name in ("crop", "val_size"):  # the encoder halves the image three times
        if (size := getattr(cfg, name)) < 8 or size % 8:
            raise UsageError(f"--{name.replace('_', '-')} {size}: must be a positive multiple of 8")
    if cfg.crop > cfg.max_long_side:
        raise UsageError(f"--crop {cfg.crop}: at most --max-long-side ({cfg.max_long_side}), the size maps are read at")
    if cfg.val_size > MAX_VAL_SIZE:
        raise UsageError(f"--val-size {cfg.val_size}: at most {MAX_VAL_SIZE} (the paper's protocol is 256)")
    if not 0 < cfg.lr <= 1:  # NaN too: a rate of 1e308 trained to NaN and then failed on a missing checkpoint
        raise UsageError(f"--lr {cfg.lr}: a learning rate above 0, at most 1 (the paper's is 2e-4)")
    if not 0 <= cfg.cycle_weight <= 100:
        raise UsageError(f"--cycle-weight {cfg.cycle_weight}: a weight from 0 to 100 (the paper's is 0.1)")
    if not 0 <= cfg.seed < 2**32:
        raise UsageError(f"--seed {cfg.seed}: from 0 to 2**32 - 1")
    if cfg.init is not None:
        from ..model.weights_format import read_header

        if not Path(cfg.init).is_file():
            raise UsageError(f"--init {cfg.init}: no such weights file (give a .safetensors pair to fine-tune)")
        # milliseconds: a file that is no cevr weights, or of another variant, fails before any output is written
        check_init_variant(cfg, read_header(cfg.init).config)
    elif cfg.encoder_init is not None:  # read now, into a model of the variant: its shapes fit, or nothing is written
        init_encoder_from_vgg16(CEVRNet(get_config(cfg.variant)), cfg.encoder_init)
    if cfg.dorf is not None:
        from .residual import dorf_responses

        try:
            dorf_responses(cfg.dorf)  # read now: a file that is no DoRF table fails before any output is written
        except InputError as exc:
            raise UsageError(f"--dorf {exc}") from None
    if cfg.workers < 0:
        raise UsageError(f"--workers {cfg.workers}: must be 0 or more")
    residual = get_config(cfg.variant).role == "residual"
    if cfg.objective == "light" and (not residual or cfg.direction != "dec"):
        raise UsageError(f"--objective light: only for a residual variant's darkening model (--variant "
                         f"cevr-residual --direction dec), not --variant {cfg.variant} --direction {cfg.direction}")
    if cfg.loss != "pixel" and not residual:
        raise UsageError(f"--loss {cfg.loss}: only for a residual variant (--variant cevr-residual), not --variant "
                         f"{cfg.variant}")
    if cfg.inference_scale is not None and (cfg.objective != "light" or not cfg.inference_scale >= 1.0):  # NaN too
        raise UsageError(f"--inference-scale {cfg.inference_scale}: a factor of at least 1, with --objective light")
    if not 0.0 <= cfg.highlight_exposures <= 1.0:  # NaN too
        raise UsageError(f"--highlight-exposures {cfg.highlight_exposures}: must be a share from 0 to 1")
    if cfg.highlight_exposures > 0 and not residual:
        raise UsageError(f"--highlight-exposures: only for a residual variant (--variant cevr-residual), not "
                         f"--variant {cfg.variant}")
    if cfg.max_minutes is not None and not cfg.max_minutes > 0:  # NaN too
        raise UsageError(f"--max-minutes {cfg.max_minutes}: must be a positive number of minutes")
    check_processes(cfg.nproc, cfg.device)


def training_scenes(cfg: TrainConfig, *, writes: bool = True) -> tuple[list[Path], list[Path]]:
    """The training and validation scenes' files; with ``writes`` (the process that writes the outputs), also
    check the output folder and, for ``resume``, its checkpoint, so that a bad request fails before any work.

    Raises:
        UsageError: fewer than 2 radiance maps; ``resume`` without a checkpoint, with an unreadable one, or
            with other options than it was trained with (:func:`check_resumable`); without ``resume`` or
            ``overwrite``, an output folder holding checkpoints of the directions asked for.
        WeightsError: a checkpoint in the output folder of another direction than its name says.
        OutputError: the output folder cannot be written.
    """
    train_paths, val_paths = split_scenes(find_radiance_maps(cfg.data))
    folders = ", ".join(map(str, [cfg.data] if isinstance(cfg.data, str | Path) else cfg.data))
    if not val_paths:
        raise UsageError(f"--data {folders}: need at least 2 radiance maps (one is held out for validation)")
    if not train_paths:  # each one is named as a fixed validation scene: nothing to train on (was a traceback)
        held_out = ", ".join(p.name for p in val_paths)
        raise UsageError(f"--data {folders}: every map is a fixed validation scene ({held_out}; training/scenes.py "
                         "VALIDATION_SCENES): add maps to train on")
    if writes:
        out = Path(cfg.out)
        directions = ["inc", "dec"] if cfg.direction == "both" else [cfg.direction]
        if cfg.resume and cfg.overwrite:
            raise UsageError("--resume and --overwrite: continue the run in -o, or start it again there; not both")
        for folder in [cfg.data] if isinstance(cfg.data, str | Path) else cfg.data:
            if out.resolve().is_relative_to(Path(folder).resolve()):
                raise UsageError(f"-o {cfg.out}: inside the radiance maps' folder {folder}; choose another -o")
        partners = [d for d in ("inc", "dec") if d not in directions and (out / f"{d}-last.pt").is_file()]
        if partners:  # the other model of the pair this run's model will join (trained by another process)
            check_partner(cfg, out / f"{partners[0]}-last.pt")
            check_same_split(out, train_paths, val_paths, lead="--data gives other",
                             remedy=f"its {partners[0]} model learnt from those: train this direction with the same "
                                    "--data, or use another -o")
        if cfg.resume and not any((out / f"{d}-last.pt").is_file() for d in directions):
            started = [d for d in directions if (out / f"{d}-best.pt").is_file()]
            if started:
                raise UsageError(f"--resume: {cfg.out} holds {started[0]}-best.pt but no {started[0]}-last.pt: the run "
                                 "stopped before its first resumable checkpoint; --overwrite starts it again there")
            wanted = " or ".join(f"{d}-last.pt" for d in directions)
            raise UsageError(f"--resume: no checkpoint to continue in {cfg.out} ({wanted}); run without --resume "
                             "to start")
        if cfg.resume:
            orphans = [d for d in directions
                       if (out / f"{d}-best.pt").is_file() and not (out / f"{d}-last.pt").is_file()]
            if orphans:  # resuming would start that direction again and replace its best checkpoint
                raise UsageError(f"--resume: {cfg.out} holds {orphans[0]}-best.pt but no {orphans[0]}-last.pt to "
                                 "continue from; resume only the other direction (--direction), or start a new run")
            check_resumable(cfg, [out / f"{d}-last.pt" for d in directions])
            check_same_split(out, train_paths, val_paths)
        elif not cfg.overwrite:
            earlier = [f"{d}-{kind}.pt" for d in directions for kind in ("last", "best")
                       if (out / f"{d}-{kind}.pt").is_file()]
            if (out / PAIR_FILE).is_file() and not partners:  # weights kept, checkpoints deleted (a partner's run
                earlier.append(PAIR_FILE)  # exported it: it is made again with this direction)
            if earlier:
                resumable = any(name.endswith("-last.pt") for name in earlier)
                raise UsageError(f"{cfg.out} holds an earlier run's {'checkpoints' if resumable else 'files'} "
                                 f"({', '.join(earlier)}): {'--resume to continue it, ' if resumable else ''}"
                                 "--overwrite to start again there, or another -o")
        check_writable(cfg.out, folder=True)  # one clear line now, not a traceback at the first checkpoint
    return train_paths, val_paths


SPLIT_RECORD = "split.json"  # a run's training and validation scenes, by file name, for --resume to compare


def record_split(out: Path, train_paths: list[Path], val_paths: list[Path]) -> None:
    """Write the run's scene split (:data:`SPLIT_RECORD`), which :func:`check_same_split` holds a resume to."""
    atomic_write_text(out / SPLIT_RECORD, json.dumps({"train": [p.name for p in train_paths],
                                                      "val": [p.name for p in val_paths]}, indent=2))


def check_same_split(out: Path, train_paths: list[Path], val_paths: list[Path], *, lead: str = "--resume: --data "
                     "gives other", remedy: str = "resume with its radiance maps, or start a new run in another -o"
                     ) -> None:
    """A resumed run, or the other direction of a pair trained in the same -o, trains and validates on the scenes
    the run started with (the same maps may have moved): other maps would train on earlier validation scenes and
    compare its best checkpoint across validation sets.

    Raises:
        UsageError: the scenes differ from the run's record (runs without one are not checked).
    """
    try:
        recorded = json.loads((out / SPLIT_RECORD).read_text())
    except (OSError, ValueError):
        return
    now = {"train": [p.name for p in train_paths], "val": [p.name for p in val_paths]}
    for part, names in now.items():
        if isinstance(recorded, dict) and recorded.get(part) not in (None, names):
            added = sorted(set(names) - set(recorded[part]))
            gone = sorted(set(recorded[part]) - set(names))
            change = "; ".join(filter(None, (f"now also {', '.join(added)}" if added else "",
                                             f"no longer {', '.join(gone)}" if gone else "")))
            raise UsageError(f"{lead} {'training' if part == 'train' else 'validation'} scenes than the run in "
                             f"{out} ({change or 'another order'}); {remedy}")


def _other_directions(summary: Path, trained: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The results and history an earlier run recorded in ``summary`` for the directions this run did not train
    (the two directions trained by separate processes into one -o: the second replaced the first's record)."""
    try:
        earlier = json.loads(summary.read_text())
        results = {d: r for d, r in earlier["results"].items() if d not in trained}
        return results, [e for e in earlier.get("history", []) if e.get("direction") in results]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}, []


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and its ancestors that do not exist yet, deepest first."""
    missing = []
    for path in (folder, *folder.absolute().parents):
        if path.exists():
            break
        missing.append(path)
    return missing


def check_resumable(cfg: TrainConfig, checkpoints: list[Path]) -> None:
    """A resumed run asks for what its checkpoints were trained with (:func:`resume_conflicts`): the model, data,
    optimiser and schedule it continues are theirs, so another --variant, --lr or --crop would be ignored in part
    or load weights into a model of another role. Each ``<direction>-last.pt``, and the ``-best.pt`` beside it (read
    back at the run's end), must be readable and hold that direction's model (:func:`_checkpoint_state`).

    Raises:
        UsageError: an unreadable checkpoint, or the options that differ, with the checkpoint's values.
        WeightsError: a checkpoint of the other direction.
    """
    for path in checkpoints:
        if not path.is_file():
            continue
        direction = path.name.split("-")[0]
        saved = _checkpoint_state(path, direction, "--resume: ", "start a new run in another -o")
        conflicts = resume_conflicts(saved.get("config", {}), cfg)
        if conflicts:
            raise UsageError(f"--resume: {path} was trained with other options ({'; '.join(conflicts)}): resume "
                             "with the checkpoint's options, or start a new run in another -o")
        if saved.get("epoch", 0) > cfg.epochs:  # it would train none and say nothing: a typo, or another run's -o
            raise UsageError(f"--resume --epochs {cfg.epochs}: {path} has finished {saved['epoch']} epochs already; "
                             f"give --epochs {saved['epoch']} or more")
        best = path.with_name(f"{direction}-best.pt")
        if best.is_file():
            _checkpoint_state(best, direction, "--resume: ", "start a new run in another -o")


def _checkpoint_state(checkpoint: Path, direction: str, lead: str, remedy: str) -> dict[str, Any]:
    """What a ``<direction>-last.pt`` or ``-best.pt`` checkpoint holds, read memory-mapped (its tensors stay on
    disk), checked to be ``direction``'s model (:func:`~cevr_cli.model.weights.check_direction`: a copy of the
    other direction's would be trained or exported as this one).

    Raises:
        UsageError: ``{lead}{checkpoint}: not a readable checkpoint (...); {remedy}``.
        WeightsError: ``{lead}{checkpoint}: a dec checkpoint given as the inc one: {remedy}``.
    """
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=False, mmap=True)
        recorded = state.get("direction")
    except OSError as exc:
        raise UsageError(f"{lead}{checkpoint}: cannot be read ({exc.strerror or exc}); {remedy}") from None
    except Exception as exc:  # torch.load raises anything from pickle, zipfile or its own checks, whose texts
        # advise re-saving with torch.save options or paragraphs of zip internals: no help to whoever resumes
        raise UsageError(f"{lead}{checkpoint}: not a readable checkpoint (damaged or not one torch.save wrote: "
                         f"{type(exc).__name__}); {remedy}") from None
    check_direction(checkpoint, recorded, direction, remedy=remedy, lead=lead)
    return state


def check_partner(cfg: TrainConfig, checkpoint: Path) -> None:
    """This run's model and the other direction's, trained by another run into the same -o, become one pair: they
    must be of one variant (its shape and role), or the pair fails to load or holds a model of the other role; with
    ``--keep best`` the other direction's ``-best.pt``, which the pair is made of, must be readable too.

    Raises:
        UsageError: another --variant, or a checkpoint that cannot be read.
        WeightsError: a checkpoint of another direction than its name says.
    """
    direction = checkpoint.name.split("-")[0]
    saved = _checkpoint_state(checkpoint, direction, "", "train in another -o").get("config", {})
    if saved.get("variant", cfg.variant) != cfg.variant:
        raise UsageError(f"-o {cfg.out} holds the {direction} model of a --variant "
                         f"{saved['variant']} run; the pair needs one variant: train this direction with --variant "
                         f"{saved['variant']}, or use another -o")
    best = checkpoint.with_name(f"{direction}-best.pt")
    if cfg.keep == "best" and best.is_file():
        _checkpoint_state(best, direction, "", "train in another -o")


def with_shipped_init(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with ``--init cevr`` or ``--init cevr-paper`` (a ``--model`` name) read as the shipped pair that model
    loads, wherever the package is installed; any other ``--init`` is a file."""
    from ..exposure import ModelSpec, model_role
    from ..vocabulary import EXPOSURE_MODELS

    if cfg.init not in EXPOSURE_MODELS or model_role(cfg.init) is None:
        return cfg
    return replace(cfg, init=ModelSpec(cfg.init).weights_path())


def run_training(cfg: TrainConfig, on_event: Event | None = None) -> TrainResult:
    """Train the requested direction(s) and, for ``both``, write the pair as safetensors in ``cfg.out``.

    With ``cfg.nproc`` > 1 the training runs in that many processes (:func:`~cevr_cli.training.distributed.launch`);
    in a process started by torchrun (or by that launcher) it joins the other ranks, and every rank returns
    rank 0's result.
    """
    cfg = with_shipped_init(cfg)
    check_config(cfg)
    if cfg.nproc > 1 and environment_rank() is None:
        training_scenes(cfg)  # here, before N processes start
        return launch(cfg, on_event)
    with process_group(cfg.device) as rank:
        return rank.share(_train(cfg, rank, on_event if rank.is_main else None))


def _train(cfg: TrainConfig, rank: Rank, on_event: Event | None) -> TrainResult | None:
    """:func:`run_training` in one process of ``rank``'s group; the result on rank 0, None on the others."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True  # the per-pixel MLPs are matmuls; TF32 keeps their accuracy
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True  # fixed crop size: let cuDNN pick the fastest kernels once
    new_folders = _missing_folders(Path(cfg.out)) if rank.is_main else []
    try:
        train_paths, val_paths = training_scenes(cfg, writes=rank.is_main)
        train_maps = [load_radiance(p, cfg.max_long_side) for p in train_paths]
        val_maps = [load_radiance(p, cfg.max_long_side) for p in val_paths] if rank.is_main else []
        if rank.is_main and (not cfg.resume or not (Path(cfg.out) / SPLIT_RECORD).is_file()):
            record_split(Path(cfg.out), train_paths, val_paths)  # once the maps read: a refused run writes nothing
    except BaseException:
        for folder in new_folders:  # a run refused before its first output leaves no empty folders behind
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise
    if on_event:
        on_event("data", {"train": [p.name for p in train_paths], "val": [p.name for p in val_paths]})
    started = time.monotonic()
    directions = ["inc", "dec"] if cfg.direction == "both" else [cfg.direction]
    summaries: dict[str, dict[str, Any]] = {}
    history: list[EpochLog] = []
    residual = get_config(cfg.variant).role == "residual"
    for direction in directions:
        val: Validation | None = None  # only rank 0 validates
        if rank.is_main and residual and cfg.objective == "light":
            val = make_residual_light_validation(val_maps, ResponseBank.default(cfg.dorf), size=cfg.val_size,
                                                 cameras=cfg.val_cameras, inference_scale=cfg.inference_scale)
        elif rank.is_main and residual:
            val = make_residual_validation(val_maps, VAL_EVS[direction], ResponseBank.default(cfg.dorf),
                                           size=cfg.val_size, cameras=cfg.val_cameras)
        elif rank.is_main:
            val = make_validation([p.stem for p in val_paths], val_maps, VAL_EVS[direction], size=cfg.val_size,
                                  cameras=cfg.val_cameras)
        _, summaries[direction] = train_direction(cfg, direction, train_maps, val, on_event, rank)
        history += summaries[direction].pop("history")
    if not rank.is_main:
        return None
    out = Path(cfg.out)
    other_results, other_history = _other_directions(out / "summary.json", summaries)
    with atomic_path(out / "summary.json") as tmp:
        tmp.write_text(json.dumps({"config": asdict(cfg), "processes": rank.world_size,
                                   "precision": trained_precision(cfg, rank),
                                   "train_scenes": [p.name for p in train_paths],
                                   "val_scenes": [p.name for p in val_paths], "results": {**other_results, **summaries},
                                   "history": other_history + [asdict(entry) for entry in history]}, indent=2))
    weights = export_pair(out, cfg, train_paths, val_paths)
    return TrainResult(
        weights=weights,
        best_psnr={d: float(np.mean(list(s["best_val_psnr"].values())))  # none: stopped within the first epoch
                   for d, s in summaries.items() if s["best_val_psnr"]},
        epochs={d: s["epochs_run"] for d, s in summaries.items()},
        iterations={d: s["iterations"] for d, s in summaries.items()},
        seconds=round(time.monotonic() - started, 1),
        history=history,
    )
