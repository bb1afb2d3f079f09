"""Running a batch's jobs outside this process: local worker processes (``--workers``) or a Ray cluster (``--ray``).

The batch engine (:mod:`cevr_cli.batch`) keeps every rule (plan, completion, locks, partial folders, reports);
an executor only decides where each :class:`~cevr_cli.batch.Task` runs and brings its result and events back.
"""

from __future__ import annotations

from ..batch import Event, Executor, JobFactory, Scale
from ..machine import usable_cores, visible_gpus


def open_executor(factory: JobFactory, scale: Scale, tasks: int, on_event: Event) -> Executor:
    """The executor ``scale`` asks for, its workers started (never more of them than ``tasks``)."""
    if scale.ray is not None:
        from .raycluster import RayActors

        return RayActors(factory, scale.ray, scale.workers, tasks, on_event)
    from .processes import ProcessPool

    workers = local_workers(scale.workers, factory.accelerator)
    cores = usable_cores()
    if not factory.accelerator.startswith("cuda") and min(workers, tasks) > cores:
        on_event("warning", f"--workers {workers} on {cores} CPU cores this process may use: the workers share "
                            "them, so the batch runs slower than with fewer (on the CPU, one process already uses "
                            "every core: --workers 1)")
    return ProcessPool(factory, workers, tasks, on_event)


def local_workers(workers: int | str, accelerator: str) -> int:
    """``--workers auto``: one per visible CUDA GPU; elsewhere 1 (a numbered GPU, ``cuda:N``, is one GPU; on the
    CPU one process's torch and OpenCV threads already use every core: see README, "Scale out", for what more
    workers gave there)."""
    if workers != "auto":
        return int(workers)
    return len(visible_gpus()) if accelerator == "cuda" else 1


def forward_library_warnings(emit: Event) -> None:
    """In a worker: the libraries' Python warnings and log records become the driver's warning lines, as in a
    serial run (where the CLI routes them), instead of raw text on the worker's stderr; a decoder's warning names
    the photo, as there."""
    import logging
    import warnings

    from ..io.images import log_warning_text, warning_text

    class _Forward(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            emit("warning", log_warning_text(record))

    warnings.showwarning = lambda message, *rest, **keywords: emit("warning", warning_text(message))
    logging.getLogger().addHandler(_Forward(logging.WARNING))
