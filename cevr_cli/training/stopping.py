"""Stopping a training run without losing it: Ctrl-C and SIGTERM wait for the step in progress to end.

A signal raised as an exception in the middle of ``optimizer.step()`` would leave weights and moments half
updated, so nothing resumable could be saved; a stopped run then had only what the last scheduled checkpoint
held (nothing, before the first). Here the signal is held, the loop finishes its step, saves a checkpoint at
that iteration, and then the signal acts as it would have (the CLI's exit 130 or 143). A second signal acts at
once.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType, TracebackType
from typing import Any

_HELD = (signal.SIGINT, signal.SIGTERM)


class StopRequests:
    """While entered (in the main thread, where Python runs handlers), SIGINT and SIGTERM are held:
    :attr:`requested` says one came, :meth:`deliver` lets it act."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            for signum in _HELD:
                if stops_the_run(signal.getsignal(signum)):
                    self._previous[signum] = signal.signal(signum, self._hold)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        if kind is None:  # one that came after the loop's last look (the final save): not lost
            self.deliver()

    def _hold(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
        signal.signal(signum, self._previous[signum])  # the next one is not held

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def deliver(self) -> None:
        """Act on the held signal as the handler in force before :meth:`__enter__` would have (raising
        KeyboardInterrupt, the CLI's Terminated, or ending the process by default)."""
        signum, self.signum = self.signum, None  # delivered once
        if signum is None:
            return
        handler = self._previous.get(signum, signal.SIG_DFL)
        if callable(handler):
            handler(signum, None)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


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
    for signum in _HELD:
        signal.signal(signum, signal.SIG_IGN)
