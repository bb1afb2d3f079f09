"""Training in several processes with torch.distributed: one process (rank) per GPU, or several on the CPU.

Each rank trains a replica wrapped in DistributedDataParallel, which averages the gradients over the ranks in
every backward pass (NCCL on CUDA, gloo on the CPU), and draws its own share of each epoch's samples
(:meth:`Rank.sampler`). Rank 0 alone validates, writes checkpoints, logs and exports; the others follow it.

Two ways to start the ranks:

- ``cevr train --nproc N`` (:func:`launch`, :func:`run_ranks`): this process starts N workers on this machine,
  gives them the environment torchrun gives its workers, relays rank 0's progress and result, and stops every
  worker as soon as one fails or on Ctrl-C.
- ``torchrun ... -m cevr_cli train``: each process finds RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
  MASTER_PORT in its environment and joins their process group (:func:`process_group`); this is how a run
  spans several machines.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import torch
import torch.distributed as dist

from ..errors import CevrError, UsageError
from ..machine import usable_cores

if TYPE_CHECKING:
    from .config import TrainConfig
    from .loop import TrainResult

# Joining the group, and every collective after it, gives up after this long. Ranks other than 0 wait in
# their next collective while rank 0 validates and writes checkpoints, so it must outlast a validation pass.
TIMEOUT = timedelta(minutes=30)
LOOPBACK = "127.0.0.1"
POLL_SECONDS = 0.2  # how often the launcher relays rank 0's events while the workers run
GRACE_SECONDS = 5.0  # a stopped worker's time to exit on SIGTERM before SIGKILL

T = TypeVar("T")
Event = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class Rank:
    """This process's place in its process group; the defaults are a process training alone (no collectives)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that validates, writes and reports."""
        return self.rank == 0

    @property
    def alone(self) -> bool:
        return self.world_size == 1

    def device(self, name: str) -> torch.device:
        """The device ``--device name`` means for this rank: among several, CUDA rank r uses GPU LOCAL_RANK."""
        device = torch.device(name)
        if device.type == "cuda" and not self.alone:
            return torch.device("cuda", self.local_rank)
        return device

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """``model`` in DistributedDataParallel, which starts every replica from rank 0's weights and averages
        the gradients in each backward pass; ``model`` itself when alone."""
        if self.alone:
            return model
        with torch.no_grad():
            for parameter in model.parameters():
                # channels_last gives a (1, C, 1, 1) weight strides (C, 1, C, C) that its gradient, laid out the
                # same in memory, does not have (C, 1, 1, 1); DDP would warn of a slow copy on every step.
                if parameter.is_contiguous():
                    parameter.data = parameter.data.clone(memory_format=torch.contiguous_format)
        device = next(model.parameters()).device
        return torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` holds on any rank: a decision (stop on the time limit) that every rank must share."""
        if self.alone:
            return flag
        value = torch.tensor([float(flag)], device=_collective_device())
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def gather(self, obj: T) -> list[T]:
        """Every rank's ``obj``, in rank order, on every rank."""
        if self.alone:
            return [obj]
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, obj)
        return gathered

    def share(self, obj: T) -> T:
        """Rank 0's ``obj`` on every rank (what the others pass is ignored)."""
        if self.alone:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]


ALONE = Rank()


def _collective_device() -> torch.device:
    """NCCL reduces tensors on this rank's GPU, gloo on the CPU."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def environment_rank() -> Rank | None:
    """The rank torchrun (or :func:`launch`) gave this process in its environment; None when started alone.

    Raises:
        UsageError: RANK is set but RANK, WORLD_SIZE or LOCAL_RANK is not a whole number.
    """
    if "RANK" not in os.environ:
        return None
    try:
        rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
    except (KeyError, ValueError):
        raise UsageError("RANK is set but WORLD_SIZE or LOCAL_RANK is missing or not a number: start several "
                         "processes with torchrun (or cevr train --nproc), or unset RANK") from None
    return Rank(rank, world_size, local_rank)


def check_processes(nproc: int, device: str) -> None:
    """Refuse a process count or device that cannot train, before any process starts.

    Raises:
        UsageError: ``nproc`` below 1; a ``--nproc`` that contradicts torchrun's WORLD_SIZE; several processes
            on MPS, on a numbered GPU, on more GPUs than there are, or on CUDA without NCCL.
    """
    if nproc < 1:
        raise UsageError(f"--nproc {nproc}: must be at least 1")
    started = environment_rank()
    if started is not None and nproc not in (1, started.world_size):
        raise UsageError(f"--nproc {nproc}: torchrun already started {started.world_size} processes "
                         "(its --nproc-per-node and --nnodes decide); leave --nproc out")
    if (started.world_size if started else nproc) == 1:
        return
    kind = device.split(":")[0]
    if not dist.is_available():
        raise UsageError("this PyTorch build has no torch.distributed: train with one process")
    if kind == "cpu":
        if not dist.is_gloo_available():
            raise UsageError("--device cpu with several processes needs gloo, which this PyTorch build lacks")
        return
    if kind != "cuda":
        raise UsageError(f"--device {device} with several processes: use cuda (NCCL) or cpu (gloo)")
    if not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA GPU is available to PyTorch here, so no NCCL; "
                         "--device cpu trains several processes with gloo")
    if not dist.is_nccl_available():
        raise UsageError("--device cuda with several processes needs NCCL, which this PyTorch build lacks")
    if device != "cuda":
        raise UsageError(f"--device {device} with several processes: give --device cuda; process r uses GPU "
                         "LOCAL_RANK = r on its machine")
    gpus = torch.cuda.device_count()
    if started is None and nproc > gpus:
        raise UsageError(f"--nproc {nproc}: only {gpus} CUDA GPU(s) here, and each process needs its own")
    if started is not None and started.local_rank >= gpus:
        raise UsageError(f"LOCAL_RANK {started.local_rank}: only {gpus} CUDA GPU(s) on this machine; start at most "
                         f"{gpus} processes per machine (torchrun --nproc-per-node)")


@contextlib.contextmanager
def process_group(device: str) -> Iterator[Rank]:
    """Join the process group the environment describes for the block, then leave it; alone: ``Rank()``.

    The backend is NCCL on CUDA (each rank on GPU LOCAL_RANK), gloo on the CPU.

    Raises:
        CevrError: the rendezvous at MASTER_ADDR:MASTER_PORT failed or outlasted :data:`TIMEOUT`.
    """
    rank = environment_rank()
    if rank is None or rank.alone:
        yield Rank()
        return
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.set_device(rank.local_rank)
    try:
        dist.init_process_group("nccl" if cuda else "gloo", timeout=TIMEOUT, rank=rank.rank,
                                world_size=rank.world_size)
    except (RuntimeError, ValueError) as exc:  # DistNetworkError and DistStoreError are RuntimeErrors
        where = f"{os.environ.get('MASTER_ADDR', '(no MASTER_ADDR)')}:{os.environ.get('MASTER_PORT', '(no port)')}"
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CevrError(f"rank {rank.rank} could not join the process group at {where}: {reason}") from exc
    try:
        yield rank
    finally:
        dist.destroy_process_group()


def launch(cfg: TrainConfig, on_event: Event | None = None) -> TrainResult:
    """Train in ``cfg.nproc`` worker processes on this machine; rank 0's events and result come back here.

    Raises:
        CevrError: the library error a worker raised, or one line on how a worker crashed.
    """
    return run_ranks(cfg.nproc, _train_rank, (cfg,), on_event)


def _train_rank(on_event: Event | None, cfg: TrainConfig) -> TrainResult:
    """A worker's training: :func:`run_training` finds torchrun's environment and joins the other ranks."""
    from .loop import run_training

    # Every worker using all the cores would oversubscribe them: each gets its share unless --threads is given.
    return run_training(replace(cfg, threads=cfg.threads or max(1, usable_cores() // cfg.nproc)), on_event)


def run_ranks(nproc: int, target: Callable[..., T], args: tuple[Any, ...] = (), on_event: Event | None = None) -> T:
    """``target(on_event, *args)`` in ``nproc`` processes on this machine, each with the environment torchrun
    gives rank r of ``nproc`` (the rendezvous store hosted here, on the loopback interface); returns what rank
    0's call returned.

    The workers are spawned (fresh interpreters: safe with CUDA and with threads); ``target`` and ``args`` must
    pickle. Rank 0's calls of its ``on_event`` are relayed to ``on_event`` here; the others get None. If a worker
    fails, or this process is interrupted, every worker is stopped: none waits for the group's timeout.

    Raises:
        CevrError: the library error a worker raised, or one line on how a worker crashed.
    """
    import torch.multiprocessing as mp
    from torch.multiprocessing.spawn import ProcessException

    # The launcher hosts the rendezvous store itself, as torchrun's agent does, on a port it holds from the start:
    # a port picked free and released for rank 0 to bind could be taken by another process meanwhile.
    store = dist.TCPStore(LOOPBACK, 0, world_size=nproc, is_master=True, wait_for_workers=False,
                          timeout=TIMEOUT)
    messages = mp.get_context("spawn").Queue()
    workers = mp.start_processes(_rank_main, args=(nproc, store.port, messages, target, args), nprocs=nproc,
                                 join=False, start_method="spawn")
    outcome: dict[str, Any] = {}
    try:
        finished = False
        while not finished:
            try:
                finished = workers.join(timeout=POLL_SECONDS)  # on a failure: SIGTERM to the others at once
            except ProcessException as exc:
                _relay(messages, on_event, outcome)
                raise _failure(exc, outcome) from exc
            _relay(messages, on_event, outcome)
    finally:
        _stop(workers.processes)
    if "result" not in outcome:
        raise CevrError("the worker processes ended without a result (were they interrupted?)")
    return outcome["result"]


def _rank_main(local_rank: int, nproc: int, port: int, messages: Any, target: Callable[..., Any],
               args: tuple[Any, ...]) -> None:
    """One worker of :func:`run_ranks`: torchrun's environment for this rank, then ``target``."""
    os.environ.update({"MASTER_ADDR": LOOPBACK, "MASTER_PORT": str(port), "RANK": str(local_rank),
                       "LOCAL_RANK": str(local_rank), "WORLD_SIZE": str(nproc), "LOCAL_WORLD_SIZE": str(nproc),
                       "TORCHELASTIC_USE_AGENT_STORE": "True"})  # every rank a client of the launcher's store
    relay = (lambda kind, payload: messages.put(("event", kind, payload))) if local_rank == 0 else None
    try:
        result = target(relay, *args)
    except CevrError as exc:
        messages.put(("error", _portable(exc)))
        raise
    if local_rank == 0:
        messages.put(("result", result))
    messages.close()
    messages.join_thread()  # everything put is through the pipe before the process ends
    sys.stdout.flush()
    sys.stderr.flush()
    # PyTorch's C++ teardown at interpreter exit sometimes aborts after the work is done ("terminate called
    # without an active exception": a gloo or store thread still joinable), which would fail a finished run.
    os._exit(0)


def _relay(messages: Any, on_event: Event | None, outcome: dict[str, Any]) -> None:
    """Pass the queued events on and keep the result and the first error."""
    while True:
        try:
            kind, *body = messages.get_nowait()
        except queue.Empty:
            return
        if kind == "event":
            if on_event is not None:
                on_event(*body)
        else:
            outcome.setdefault(kind, body[0])


def _stop(processes: list[Any]) -> None:
    """Stop the workers still running: SIGTERM, then SIGKILL after a grace period."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(GRACE_SECONDS)
        if process.is_alive():
            process.kill()
            process.join()


def _portable(error: CevrError) -> tuple[type[CevrError], tuple[Any, ...], dict[str, Any]]:
    """A library error as (class, args, attributes): errors whose __init__ takes other arguments than their
    message (InputError) do not survive pickling as they are."""
    return type(error), error.args, dict(vars(error))


def _failure(exc: Exception, outcome: dict[str, Any]) -> CevrError:
    """The error to raise for a failed worker: its own library error, or the last line of its traceback."""
    if "error" in outcome:
        kind, args, attributes = outcome["error"]
        error = kind.__new__(kind, *args)
        error.args = args
        error.__dict__.update(attributes)
        return error
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    return CevrError(f"training process {getattr(exc, 'error_index', '?')} failed: {lines[-1].strip()}")
