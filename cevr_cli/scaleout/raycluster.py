"""``--ray ADDRESS``: a batch run by the actors of a Ray cluster (Ray Core), one model load per actor.

Outputs travel through a shared folder: every actor reads its photo and writes its output where the driver's
plan says, so inputs, ``-o`` and ``--weights`` must be on a file system every node mounts at the same path
(actors work in the driver's current folder when their node has it, so relative paths work there too). The
batch engine's locks and partial folders work unchanged on it. Only results (a few hundred bytes) and progress
events travel through Ray. Inputs are dealt one at a time to whichever actor is free; an actor that dies fails
the input it was making and is replaced (one that died idle fails none: the input sent to it goes to another).
``--device cuda`` gives each actor one GPU of the cluster.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from ..batch import BatchItemResult, Event, Job, JobFactory, Task, clean_abandoned, ray_endpoint, run_task
from ..errors import InputError, UsageError, WorkerError
from ..io.library_output import stderr_without
from ..machine import usable_cores
from ..stopping import StopRequests
from . import forward_library_warnings

_LOCAL_OBJECT_STORE_BYTES = 128 * 1024**2  # results and events are small; Ray's default takes 30 % of the RAM
_POLL_SECONDS = 0.05  # how often the driver forwards the actors' progress events
_CPUS_PER_CPU_ACTOR = 2  # `--workers auto` on a CPU cluster: one actor per this many CPUs
_PROBE_SECONDS = 5.0  # how long an address that does not answer is given
# HTTP/2's client connection preface and an empty SETTINGS frame (RFC 9113, 3.4 and 6.5), and the frame type a server
# answers with; every frame starts with a 9-byte header whose fourth byte is its type
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
_FRAME_HEADER_BYTES = 9
_SETTINGS_FRAME = 4
_REASON_CHARS = 120  # the most of Ray's words a one-line failure message quotes
# What Ray's GCS client prints (to fd 2, from C++) for each failed try to join a cluster, and what it says there of a
# cluster that uses token authentication (Ray 2.5x: `ray start --head` does wherever a token exists) when this
# process has none: Ray enables it for `auto` only, never for an explicit address
_GCS_RETRY = re.compile(rb"\[[^\]]*\] gcs_client\.cc:\d+: Failed to get cluster ID from GCS server")
_TOKEN_REFUSED = b"InvalidAuthToken"


class BatchActor:
    """One Ray actor's state: the job, opened once in the driver's folder (wrapped by ``ray.remote`` at run time,
    so that importing this module does not import Ray)."""

    def __init__(self, factory: JobFactory, events: Any, folder: str, threads: int) -> None:
        if os.path.isdir(folder):
            os.chdir(folder)
        import cv2

        cv2.setNumThreads(threads)
        self._events = events
        forward_library_warnings(self._emit)
        self._stack = ExitStack()
        started = time.monotonic()
        self._job: Job = self._stack.enter_context(factory.open(self._emit, ()))
        self.load_seconds = time.monotonic() - started

    def _emit(self, kind: str, payload: Any) -> None:
        self._events.put((kind, payload))

    def ready(self) -> float:
        """The seconds the actor took to open its job (load its model)."""
        return self.load_seconds

    def run(self, task: Task) -> BatchItemResult | None:
        return run_task(self._job, task, self._emit)


def connect(address: str) -> bool:
    """Join the cluster at ``address`` (``local``: start one on this machine); True when this call started Ray.

    Raises:
        UsageError: Ray is not installed, or no cluster answers at ``address`` (nothing was touched: exit 2).
    """
    try:
        import ray
    except ImportError:
        raise UsageError("--ray needs Ray: pip install 'cevr[ray]'") from None
    if ray.is_initialized():  # a library user's own session
        return False
    quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
    in_main_thread = threading.current_thread() is threading.main_thread()
    if address not in ("local", "auto"):
        _probe(address)
    retries: list[bytes] = []  # Ray's lines for each try to reach the cluster's GCS (a line a second, for 20 s)
    # Ctrl-C and SIGTERM held while Ray starts (a few seconds): ray.init cut midway left the processes it had started
    # (its dashboard and runtime-env agents) running for a minute or more, and at times the driver ended by SIGSEGV
    # instead of exit 130. Leaving puts the caller's handlers back, also over the SIGTERM handler Ray puts in (Ray's
    # driver aborts on SIGTERM: core dump, partial outputs, a local cluster left running), then lets them act.
    stops = StopRequests(hold_every=True)
    try:
        with stops, _ray_sigterm_handler_left_out(in_main_thread):
            try:
                if address == "local":
                    ray.init(num_cpus=usable_cores(), object_store_memory=_LOCAL_OBJECT_STORE_BYTES, **quiet)
                else:
                    with stderr_without(_GCS_RETRY, retries):
                        ray.init(address=address, **quiet)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                reason = str(exc).splitlines()[0]
                if any(_TOKEN_REFUSED in line for line in retries):
                    raise UsageError(f"--ray {address}: the Ray cluster there refused the connection, it uses token "
                                     f"authentication ({reason}); set RAY_AUTH_MODE=token and give its token "
                                     "(~/.ray/auth_token, RAY_AUTH_TOKEN_PATH or RAY_AUTH_TOKEN)") from None
                hint = "start one with `ray start --head`, set RAY_ADDRESS, or use --ray local"
                raise UsageError(f"--ray {address}: no Ray cluster answered ({reason}); {hint}") from None
            except SystemExit as exc:  # SIGTERM: ray.init first puts in its own handler, sys.exit(15)
                if exc.code != signal.SIGTERM or not in_main_thread:
                    raise
                stops.hold(signal.SIGTERM)  # acts as the caller handles it (cevr: KeyboardInterrupt, exit 143)
    except BaseException:
        if stops.delivering:  # the run stops: Ray started for it stops too
            ray.shutdown()
        raise
    return True


@contextmanager
def _ray_sigterm_handler_left_out(in_main_thread: bool) -> Iterator[None]:
    """Ray's own SIGTERM handler not put in while ``ray.init`` runs, so that the one holding stops stays in force.

    ``ray.init`` puts in a handler that ends the process (``sys.exit(15)``) as its first step, replacing the one
    that holds the stop: a SIGTERM in the seconds Ray takes to start then ended ``ray.init`` midway, its node not
    yet known to ``ray.shutdown``, and its dashboard and runtime-env agents ran on for a minute. :func:`connect`
    puts the caller's handler back once Ray has started anyway. Where Ray has no ``set_sigterm_handler`` (another
    version) its handler goes in, and :func:`connect` turns its ``sys.exit(15)`` into the caller's stop.
    """
    try:
        from ray._private import utils
    except ImportError:
        utils = None
    if not in_main_thread or not callable(getattr(utils, "set_sigterm_handler", None)):
        yield
        return
    original = utils.set_sigterm_handler
    utils.set_sigterm_handler = lambda handler: None
    try:
        yield
    finally:
        utils.set_sigterm_handler = original


def _probe(address: str) -> None:
    """Fail fast when nothing listens at ``[ray://]HOST:PORT``: Ray itself retries an unreachable address for
    minutes, printing a line every few seconds.

    Raises:
        UsageError: no answer within :data:`_PROBE_SECONDS`.
    """
    try:
        connection = socket.create_connection(ray_endpoint(address), timeout=_PROBE_SECONDS)
    except OSError as exc:
        raise UsageError(f"--ray {address}: nothing answers there ({exc.strerror or exc}); is the head node up "
                          "(`ray start --head`) and the port open?") from None
    # Ray's GCS and its client server are gRPC servers, which answer HTTP/2's preface with a SETTINGS frame (RFC 9113,
    # 3.4); ray.init waited on anything else listening there for more than 11 minutes, unstoppable but by SIGKILL
    with connection:
        try:
            connection.sendall(_HTTP2_PREFACE)
            reply = connection.recv(_FRAME_HEADER_BYTES)
        except OSError:
            reply = b""
    if len(reply) < _FRAME_HEADER_BYTES or reply[3] != _SETTINGS_FRAME:
        raise UsageError(f"--ray {address}: something answers there, but not as a Ray cluster does (no gRPC reply in "
                         f"{_PROBE_SECONDS:g} s); is it the head node's port (`ray start --head`: 6379)?")


def actor_shape(workers: int | str, accelerator: str, resources: dict[str, float]) -> tuple[int, float, float]:
    """(actors, CPUs per actor, GPUs per actor) for ``--workers`` on a cluster with ``resources``.

    CUDA: one GPU per actor, ``auto`` = every GPU of the cluster. The CPU: ``auto`` = one actor per
    :data:`_CPUS_PER_CPU_ACTOR` CPUs; a given count shares the cluster's CPUs.

    Raises:
        UsageError: ``--device cuda`` on a cluster without GPUs.
    """
    cpus = max(1.0, resources.get("CPU", 1.0))
    if accelerator == "cuda":
        gpus = int(resources.get("GPU", 0))
        if gpus < 1:
            raise UsageError("--ray with --device cuda: the cluster has no GPUs")
        actors = gpus if workers == "auto" else int(workers)
        return actors, max(1.0, min(4.0, cpus // actors)), 1.0
    actors = max(1, int(cpus // _CPUS_PER_CPU_ACTOR)) if workers == "auto" else int(workers)
    return actors, max(1.0, cpus // actors), 0.0


class RayActors:
    """A batch's tasks on Ray actors (see the module docstring)."""

    def __init__(self, factory: JobFactory, address: str, workers: int | str, tasks: int, on_event: Event) -> None:
        self._started_ray = connect(address)  # first: it says in one line that Ray is not installed
        self._restore_notices = _raylet_notices_dropped() if self._started_ray else None
        import ray
        from ray.util.queue import Queue

        self._on_event = on_event
        self._in_flight: dict[Any, tuple[Any, Task]] = {}
        self._begun: set[Path] = set()  # inputs whose "start" event came: an actor took them in hand
        try:
            count, cpus, gpus = actor_shape(workers, factory.accelerator, ray.cluster_resources())
            self._events = Queue(actor_options={"num_cpus": 0})
            self._actor_class = ray.remote(BatchActor).options(num_cpus=cpus, num_gpus=gpus, max_concurrency=1)
            self._arguments = (factory, self._events, os.getcwd(), int(cpus))
            self._actors = [self._actor_class.remote(*self._arguments) for _ in range(max(1, min(count, tasks)))]
            self.load_seconds = self._wait_ready(self._actors)
            self._proven = set(self._actors)  # actors known to have run (their job opened): see _lost_idle
        except BaseException:
            self.close()
            raise

    def _wait_ready(self, actors: Sequence[Any]) -> list[float]:
        import ray

        try:
            return list(ray.get([actor.ready.remote() for actor in actors]))
        except ray.exceptions.RayError as exc:
            raise WorkerError(f"a Ray actor could not start: {_cause(exc)}") from None

    def run(self, tasks: Sequence[Task]) -> Iterator[tuple[Task, BatchItemResult | None]]:
        import ray

        pending = list(reversed(tasks))
        idle = list(self._actors)
        while pending or self._in_flight:
            while idle and pending:
                actor, task = idle.pop(), pending.pop()
                self._begun.discard(task.source)
                self._in_flight[actor.run.remote(task)] = (actor, task)
            done, _ = ray.wait(list(self._in_flight), num_returns=1, timeout=_POLL_SECONDS)
            self._forward_events()
            for ref in done:
                actor, task = self._in_flight.pop(ref)
                try:
                    result = ray.get(ref)
                    self._proven.add(actor)
                except ray.exceptions.RayActorError as exc:  # the actor's process died, making this input or before
                    clean_abandoned(task.output)
                    lost_idle = self._lost_idle(actor, task, exc)
                    idle.append(self._replace(actor))
                    if lost_idle:
                        pending.append(task)  # dealt again, to a live actor or the replacement
                        continue
                    result = BatchItemResult(task.source, "failed", None, str(InputError(
                        task.source, f"its Ray actor died while making it ({_death(exc)})")), detail=_full(exc))
                    yield task, result
                    continue
                except ray.exceptions.RayTaskError as exc:
                    raise WorkerError(f"{task.source}: {_cause(exc)}") from None
                idle.append(actor)
                yield task, result
        self._forward_events()

    def _lost_idle(self, actor: Any, task: Task, exc: BaseException) -> bool:
        """Whether ``actor`` died before it took ``task`` in hand: killed while idle (the OOM killer, a ``kill``, a
        node lost between inputs), which Ray reports only when the next input is sent to it. Such an input was never
        begun (no "start" event came for it; the events are drained first), so it goes to another actor instead of
        failing for a death it had no part in. Only for an actor that had run (its job opened, or an input made): one
        that dies on its way up (its model does not fit) would die again, and its input fails as before."""
        self._forward_events()  # an actor's "start" is put (synchronously) before its input is touched
        init_failed = getattr(exc, "actor_init_failed", False)
        return actor in self._proven and not init_failed and task.source not in self._begun

    def _replace(self, dead: Any) -> Any:
        fresh = self._actor_class.remote(*self._arguments)
        self._actors[self._actors.index(dead)] = fresh
        self._proven.discard(dead)
        return fresh

    def _forward_events(self) -> None:
        if getattr(self, "_events", None) is None:
            return
        while not self._events.empty():
            kind, payload = self._events.get_nowait()
            if kind == "start":
                self._begun.add(payload)
            self._on_event(kind, payload)

    def close(self) -> None:
        """Stop the actors, clean what they left, and stop Ray if this run started it.

        Inputs in the making are cancelled (``ray.cancel``; a synchronous actor finishes its input instead, as
        a complete output) and given 30 s; then the actors are killed and each abandoned output's partial
        folder or temporary file removed under its lock.
        """
        import ray

        for ref in self._in_flight:
            ray.cancel(ref)  # KeyboardInterrupt in the actor
        if self._in_flight:
            ray.wait(list(self._in_flight), num_returns=len(self._in_flight), timeout=30)
        for actor in getattr(self, "_actors", []):
            ray.kill(actor)
        for _, task in self._in_flight.values():
            clean_abandoned(task.output)
        self._in_flight.clear()
        if self._started_ray:
            ray.shutdown()
        if self._restore_notices is not None:
            self._restore_notices()
            self._restore_notices = None


def _raylet_notices_dropped() -> Callable[[], None]:
    """Ray's driver prints every error the cluster publishes ("(raylet) A worker died or was killed while executing
    a task by an unexpected system error. ...", 900 characters) on stdout, whatever ``log_to_driver`` says: one
    actor's death put it before ``--json``'s summary (no longer JSON) and across the progress display. The batch
    already says it in the input's line (and ``--json`` keeps Ray's account in ``detail``; Ray's session logs keep
    the rest), so the notices its listener thread prints are dropped while this run's Ray session lasts. Returns
    what puts Ray's printing back (nothing to put back where this Ray prints otherwise)."""
    try:
        from ray._private import worker
    except ImportError:
        return lambda: None
    original = getattr(worker, "print_to_stdstream", None)
    if not callable(original):
        return lambda: None

    def print_to_stdstream(data: dict[str, Any], *args: Any, **keywords: Any) -> None:
        if data.get("pid") != "raylet":  # the error listener's notices; the workers' own output goes through
            original(data, *args, **keywords)

    worker.print_to_stdstream = print_to_stdstream

    def restore() -> None:
        worker.print_to_stdstream = original

    return restore


def _cause(exc: BaseException) -> str:
    """The last line of what went wrong inside Ray (its errors wrap the remote traceback: the last line is the
    exception), cut to :data:`_REASON_CHARS`: it ends up in a one-line message."""
    cause = getattr(exc, "cause", None)
    text = str(cause) if cause is not None else str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return _shortened(lines[-1]) if lines else type(exc).__name__


def _death(exc: BaseException) -> str:
    """How an actor died, in a few words for its input's one-line failure: the first sentence of Ray's "Worker exit
    detail" (or the signal it names: "the process receives a SIGTERM"), not Ray's whole paragraph, which made
    the line 700 characters long (it advises on the OOM killer and ``ray stop --force``; :func:`_full` keeps it
    for ``--json``)."""
    text = _full(exc)
    detail = text.split("Worker exit detail:", 1)[1].strip() if "Worker exit detail:" in text else text
    detail = detail.split("Some common causes", 1)[0]  # Ray's advice, which names signals it did not see
    sentences = [sentence.strip() for sentence in re.split(r"(?<=\.)\s+", detail) if sentence.strip()]
    signalled = [sentence for sentence in sentences if re.search(r"\bSIG[A-Z]+\b", sentence)]
    chosen = (signalled or sentences or [type(exc).__name__])[0].rstrip(".")
    return _shortened(chosen[:1].lower() + chosen[1:])


def _full(exc: BaseException) -> str:
    """Ray's whole account of an error, on one line (for a result's ``detail``)."""
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip())


def _shortened(text: str) -> str:
    """``text`` cut to :data:`_REASON_CHARS` characters, ending with "..." where it was cut."""
    return text if len(text) <= _REASON_CHARS else text[:_REASON_CHARS - 3].rstrip() + "..."
