"""Exclusive locks between processes on one output: two runs writing the same output take turns.

The lock of ``out/name`` is the hidden file ``out/.name.lock``, held with ``fcntl.flock`` (POSIX) or
``msvcrt.locking`` (Windows). The operating system releases it when its holder exits, however it exits,
so a crashed run never leaves a lock that blocks the next one; the holder removes the file when done.
"""

from __future__ import annotations

import os
import time
from contextlib import suppress
from pathlib import Path

_POLL_SECONDS = 0.2  # how often a waiting run tries again

if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


class OutputLock:
    """The exclusive lock on one output (a folder or a file), held by at most one process at a time."""

    def __init__(self, output: Path) -> None:
        self.path = output.parent / f".{output.name}.lock"
        self._fd: int | None = None

    def acquire(self, *, wait: bool) -> bool:
        """Take the lock; with ``wait`` block until its holder lets go, else return False when it is held."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while not self._try_acquire():
            if not wait:
                return False
            time.sleep(_POLL_SECONDS)
        return True

    def _try_acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            if _try_lock(fd) and self._is_current(fd):
                self._fd = fd
                return True
        except BaseException:  # a file system without locks (NFS without lockd: ENOLCK): each try kept a descriptor
            os.close(fd)
            raise
        os.close(fd)
        return False

    def _is_current(self, fd: int) -> bool:
        """Whether ``fd`` is still the file at the lock's path: a holder removes the file as it lets go, so a
        lock taken on the removed file excludes nobody (the caller tries again on a new file)."""
        try:
            return os.path.samestat(os.fstat(fd), os.stat(self.path))
        except FileNotFoundError:
            return False

    def release(self) -> None:
        """Let go and remove the lock file (before unlocking on POSIX, so a waiter never takes a removed file
        for the current one; after closing on Windows, where an open file cannot be removed)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if os.name != "nt":
            with suppress(OSError):
                os.unlink(self.path)
        os.close(fd)
        if os.name == "nt":  # pragma: no cover - Windows only
            with suppress(OSError):
                os.unlink(self.path)
