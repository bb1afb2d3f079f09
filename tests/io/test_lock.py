"""Output locks: a lock that cannot be taken leaves nothing open behind it."""

import errno
import os

import pytest

import cevr_cli.io.lock
from cevr_cli.io.lock import OutputLock


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc/self/fd (Linux)")
def test_a_file_system_without_locks_fails_each_try_without_keeping_a_descriptor(tmp_path, monkeypatch):
    """NFS without lockd answers flock with ENOLCK: every output of a batch failed (rightly), and each kept the lock
    file open, until the batch's photos failed with 'Too many open files' instead."""

    def no_locks(fd):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(cevr_cli.io.lock, "_try_lock", no_locks)
    before = len(os.listdir("/proc/self/fd"))
    for index in range(20):
        with pytest.raises(OSError, match="No locks available"):
            OutputLock(tmp_path / f"out{index}").acquire(wait=False)
    assert len(os.listdir("/proc/self/fd")) == before
