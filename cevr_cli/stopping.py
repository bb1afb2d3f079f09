"""Ctrl-C and SIGTERM held while a section must not be cut midway, then let act as they would have.

A signal raised as an exception in the middle of ``optimizer.step()`` would leave weights and moments half updated,
so nothing resumable could be saved; in the middle of a batch's summary it left stdout empty under ``--json``; in
the middle of ``ray.init`` it left the processes Ray had started running for a minute or more. Here the signal is
held, the section ends (the training loop saves a checkpoint at that iteration, the summary is written, Ray has
started), and then the signal acts as the handler in force before would have (the CLI's exit 130 or 143).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

_STOPS = (signal.SIGINT, signal.SIGTERM)


class StopRequests:
    """While entered (in the main thread, where Python runs handlers), SIGINT and SIGTERM are held: :attr:`requested`
    says one came, :meth:`deliver` lets it act, and leaving the section without an exception does too.

    By default only a stop is held: a signal whose handler ends the run (:func:`stops_the_run`), and only the first
    (a second acts at once: who presses Ctrl-C twice wants out); a caller's own handler runs at once. With
    ``hold_every`` (a section that no signal may cut, ``ray.init``) every signal whose handler Python set is held,
    a second too, and each acts in turn on delivery (a handler that carries on lets the next act).
    """

    def __init__(self, hold_every: bool = False) -> None:
        self.hold_every = hold_every
        self.delivering = False  # a held signal is acting: what it raises is the stop, not the section's failure
        self._held: list[int] = []
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            for signum in _STOPS:
                handler = signal.getsignal(signum)
                # None: a handler not set from Python, which could not be put back
                if handler is not None and (self.hold_every or stops_the_run(handler)):
                    self._previous[signum] = signal.signal(signum, self._arrived)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        if kind is None:  # one that came after the section's last look (the final save): not lost
            self.deliver()

    def _arrived(self, signum: int, frame: FrameType | None) -> None:
        if self.hold_every or not self._held:
            self.hold(signum)
        if not self.hold_every:
            signal.signal(signum, self._previous[signum])  # the next one is not held

    def hold(self, signum: int) -> None:
        """Hold ``signum`` as if it had come while entered (one that came another way: Ray's own SIGTERM handler,
        which ends ``ray.init`` by ``sys.exit(15)``)."""
        self._held.append(signum)

    @property
    def requested(self) -> bool:
        return bool(self._held)

    @property
    def signum(self) -> int | None:
        """The first signal held and not yet delivered."""
        return self._held[0] if self._held else None

    def deliver(self) -> None:
        """Let each held signal act, once, as the handler in force before :meth:`__enter__` would have (raising
        KeyboardInterrupt or the CLI's Terminated, ending the process by default, nothing if it was ignored)."""
        while self._held:
            signum = self._held.pop(0)
            self.delivering = True
            if signum in self._previous:  # held by default: put back when it came; hold_every: on leaving
                signal.signal(signum, self._previous[signum])
            signal.raise_signal(signum)  # Python runs its handler before this returns


def stops_the_run(handler: Any) -> bool:
    """Whether a signal's ``handler`` ends the run, so that holding it is what its owner wants: Python's own (Ctrl-C
    raises KeyboardInterrupt, SIGTERM ends the process) or one that declares it raises KeyboardInterrupt
    (``handler.raises_keyboard_interrupt = True``: the CLI's SIGTERM handler). A library caller's own handler
    (one that logs and carries on) runs as it did, at once; an ignored signal stays ignored."""
    return handler in (signal.default_int_handler, signal.SIG_DFL) or bool(
        getattr(handler, "raises_keyboard_interrupt", False))


def ignore_stop_signals(worker_id: int = 0) -> None:
    """A data-synthesis worker's ``worker_init_fn``: Ctrl-C or ``kill`` sent to the whole process group (a
    terminal, ``timeout``, a job scheduler) would kill it mid-batch and fail the run with a traceback; the
    training process stops it instead, once its checkpoint is saved."""
    for signum in _STOPS:
        signal.signal(signum, signal.SIG_IGN)
