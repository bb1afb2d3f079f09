"""``--workers N``: a batch shared by N local worker processes, each with its own model.

Inputs are dealt one at a time to whichever worker is free, so a slow 45 MP RAW holds up one worker, not the
batch. Workers are started with ``spawn`` (the same on Linux, macOS and Windows, and safe beside the threads
of torch and rich); on CUDA each sees one GPU (``CUDA_VISIBLE_DEVICES``), on the CPU they split the cores.
A worker that dies while making an input (a decoder crash, the kernel's OOM killer) fails that input alone and
is replaced when there is work left. Workers ignore SIGINT; on Ctrl-C (or SIGTERM) the driver stops them:
each stops its input the way a serial run does (its partial output removed), and the driver cleans whatever a
worker killed outright left.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from ..batch import BatchItemResult, Event, JobFactory, Task, clean_abandoned, run_task
from ..errors import CevrError, InputError, WorkerError
from ..machine import usable_cores, visible_gpus
from . import forward_library_warnings

_REDELIVERY_SECONDS = 0.01  # a stop that landed where it could not be raised is sent again after this
_STOP_SECONDS = 30.0  # how long a stopping worker may take to remove its partial output before it is killed


def worker_environment(slot: int, workers: int, accelerator: str, gpus: Sequence[str]) -> dict[str, str]:
    """What worker ``slot`` of ``workers`` sees: its own GPU on CUDA; its share of the cores for torch and OpenCV."""
    env = {}
    if accelerator == "cuda" and gpus:
        env["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
    threads = max(1, usable_cores() // workers)
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    env["CEVR_WORKER_THREADS"] = str(threads)
    return env


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def redeliver_interrupts(unraisable: Any) -> None:
    """A worker's ``sys.unraisablehook``: the driver's stop (SIGTERM, raised as KeyboardInterrupt) that lands where
    Python cannot raise (a weakref callback of the import system while the job imports a module, a ``__del__``)
    would be printed as "Exception ignored ... Traceback" on the user's terminal and lost; it is sent again
    instead, a moment later (from a timer thread: a signal sent from here would be handled inside this hook,
    where it is lost again), to land in the worker's own code. Anything else goes to Python's default hook."""
    if isinstance(unraisable.exc_type, type) and issubclass(unraisable.exc_type, KeyboardInterrupt):
        threading.Timer(_REDELIVERY_SECONDS, os.kill, (os.getpid(), signal.SIGTERM)).start()
        return
    sys.__unraisablehook__(unraisable)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT held back while a worker is started, so that the worker is born holding it back (and ignores it from
    :func:`serve`'s start), while a Ctrl-C meanwhile still reaches the driver once the worker has started: with
    SIGINT ignored here for those 1-30 ms, as until 2026-12-07, it was lost and the batch ran to its end. Where
    signals cannot be blocked (Windows), it is ignored as before.

    Ctrl-C in a terminal signals every process of the job. A worker still importing would die with a traceback,
    and one mid-photo would stop on its own; instead the driver stops them all (:meth:`ProcessPool.close`:
    SIGTERM to those making a photo, which clean up as Ctrl-C does in a serial run).
    """
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    if hasattr(signal, "pthread_sigmask"):
        # Started here, not within the block: the first start launches multiprocessing's resource tracker, and
        # CPython unblocks SIGINT and SIGTERM once it has (bpo-33613), whatever was blocked before: the first worker
        # was born taking Ctrl-C, a traceback on the terminal when it came while the worker imported its modules
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # a spawned child inherits the mask
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)  # a Ctrl-C held back is delivered here
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # pragma: no cover - Windows
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _ignore_sigint() -> None:
    """In a worker: SIGINT ignored, then no longer held back (:func:`_sigint_ignored`), which drops a Ctrl-C that
    came while it started."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def serve(conn: Connection, factory: JobFactory, env: dict[str, str]) -> None:
    """A worker's life: open the job once, then run the tasks the driver sends until it sends None.

    Messages to the driver: ``("event", kind, payload)``, ``("result", result)``, ``("fatal", line)``.
    """
    _ignore_sigint()
    os.environ.update(env)  # before torch is imported: it reads the thread count and the visible GPUs then
    signal.signal(signal.SIGTERM, _interrupt)  # the driver stopping the batch: clean up as Ctrl-C does
    sys.unraisablehook = redeliver_interrupts
    try:
        import cv2

        cv2.setNumThreads(int(env["CEVR_WORKER_THREADS"]))

        def emit(kind: str, payload: Any) -> None:
            conn.send(("event", kind, payload))

        forward_library_warnings(emit)
        with factory.open(emit, ()) as job:
            while (task := conn.recv()) is not None:
                conn.send(("result", run_task(job, task, emit)))
    except KeyboardInterrupt:
        _end_by_sigterm()  # stopped by the driver, or by someone else (a kill, a scheduler): SIGTERM either way
    except (EOFError, BrokenPipeError):
        return  # the driver is gone
    except CevrError as exc:  # the job cannot start here (its model, its device)
        _report_fatal(conn, str(exc))
    except BaseException as exc:  # noqa: BLE001 - reported to the driver as one line, not lost in a child
        _report_fatal(conn, f"{type(exc).__name__}: {exc}")


def _end_by_sigterm() -> None:
    """End this worker as killed by SIGTERM, once its input is cleaned up (the KeyboardInterrupt that SIGTERM raises
    here has unwound through the job). Returning would end it with exit code 0, and a SIGTERM from someone other
    than the driver (``kill <pid>``) then failed its photo as "died (exit code 0)": the driver reads the exit
    status to say how a worker ended."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.raise_signal(signal.SIGTERM)
    os._exit(128 + signal.SIGTERM)  # not reached: the default action of SIGTERM ends the process


def _report_fatal(conn: Connection, line: str) -> None:
    """Tell the driver why this worker stops; quietly, if the driver is already stopping the batch (its SIGTERM
    interrupts the send, or it closed the pipe): another worker has told it, and a traceback helps no one."""
    try:
        conn.send(("fatal", line))
    except (KeyboardInterrupt, OSError):
        pass


@dataclass
class _Worker:
    slot: int
    process: BaseProcess
    conn: Connection
    task: Task | None = None
    served: bool = False  # it has finished an input


class ProcessPool:
    """N spawned worker processes running a batch's tasks, dealt one at a time (see the module docstring)."""

    def __init__(self, factory: JobFactory, workers: int, tasks: int, on_event: Event) -> None:
        self._factory = factory
        self._count = max(1, min(workers, tasks))
        self._on_event = on_event
        self._gpus = visible_gpus() if factory.accelerator == "cuda" else []
        self._context = multiprocessing.get_context("spawn")
        self._workers = [self._start(slot) for slot in range(self._count)]
        self._vacant: list[int] = []  # slots of workers that died, refilled when there is work for them

    def _start(self, slot: int) -> _Worker:
        driver_end, worker_end = self._context.Pipe()
        env = worker_environment(slot, self._count, self._factory.accelerator, self._gpus)
        process = self._context.Process(target=serve, args=(worker_end, self._factory, env),
                                        name=f"cevr-worker-{slot}", daemon=True)
        with _sigint_ignored():
            process.start()  # the worker inherits the ignored SIGINT: only the driver acts on Ctrl-C
        worker_end.close()
        return _Worker(slot, process, driver_end)

    def run(self, tasks: Sequence[Task]) -> Iterator[tuple[Task, BatchItemResult | None]]:
        pending = list(reversed(tasks))
        while pending or any(worker.task for worker in self._workers):
            while pending and self._vacant:
                self._workers.append(self._start(self._vacant.pop()))
            for worker in list(self._workers):
                if worker.task is None and pending:
                    worker.task = pending.pop()
                    try:
                        worker.conn.send(worker.task)
                    except OSError:  # its process ended
                        if worker.served:  # killed idle (the OOM killer, a kill) after its last input: none lost
                            pending.append(worker.task)
                            worker.task = None
                            worker.process.kill()
                            self._retire(worker)
                        # else it died starting: the input fails when its end is seen (a new worker may die alike)
            if not any(worker.task for worker in self._workers):
                continue  # every worker there died idle: new ones are started for the inputs left
            ready = wait([w.conn for w in self._workers] + [w.process.sentinel for w in self._workers])
            for worker in list(self._workers):
                if worker.conn in ready or worker.process.sentinel in ready:
                    yield from self._collect(worker, worker.process.sentinel in ready)

    def _collect(self, worker: _Worker, ended: bool) -> Iterator[tuple[Task, BatchItemResult | None]]:
        """What ``worker`` sent; if its process ended, the input it was making fails and its slot is left for a new
        worker (started by :meth:`run` when there is work left for it)."""
        try:
            while worker.conn.poll():
                message = worker.conn.recv()
                if message[0] == "event":
                    self._on_event(message[1], message[2])
                elif message[0] == "result":
                    task, worker.task = worker.task, None
                    worker.served = True
                    assert task is not None
                    yield task, message[1]
                else:  # its job could not open (its model, its device) or failed beyond one input
                    raise WorkerError(f"worker process {worker.slot} stopped: {message[1]}")
        except (EOFError, OSError):
            ended = True
        if ended or not worker.process.is_alive():
            task, worker.task = worker.task, None
            self._retire(worker)
            if task is not None:
                yield task, _died(task, worker.slot, worker.process.exitcode)

    def _retire(self, worker: _Worker) -> None:
        """Forget a worker whose process ended, leaving its slot for a new one."""
        worker.process.join()
        self._workers.remove(worker)
        worker.conn.close()
        self._vacant.append(worker.slot)

    def close(self) -> None:
        """Stop every worker (those making an input remove their partial output first), then clean what a
        worker killed outright left of the outputs it was writing."""
        for worker in self._workers:
            try:
                worker.conn.send(None)
            except OSError:
                pass
            if worker.task is not None and worker.process.is_alive():
                worker.process.terminate()  # SIGTERM: KeyboardInterrupt in the worker, which cleans up
        for worker in self._workers:
            worker.process.join(_STOP_SECONDS)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
            if worker.task is not None:
                clean_abandoned(worker.task.output)


def _died(task: Task, slot: int, exitcode: int | None) -> BatchItemResult:
    """The failure of the input a worker process was making when it ended: which worker, and how it ended (the
    signal that stopped it, by name where Python has one, or its exit code)."""
    if exitcode is not None and exitcode < 0:
        try:
            how = f"was stopped by signal {signal.Signals(-exitcode).name}"
        except ValueError:  # one Python has no name for (a real-time signal: SIGRTMIN+6)
            how = f"was stopped by signal {-exitcode}"
    else:
        how = f"ended (exit code {exitcode})"
    clean_abandoned(task.output)
    return BatchItemResult(task.source, "failed", None,
                           str(InputError(task.source, f"worker process {slot} {how} while making it")))
