"""What C libraries print past Python: silenced (OpenEXR's page of diagnostics for a damaged file) or filtered
(LibRaw's data-error lines), at the level of file descriptors 1 and 2, where their C stdio writes."""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator

# One redirection of fds 1 and 2 at a time in the process, whichever thread asks (a batch decodes the next photo in a
# prefetch thread while the current one is read): a block that redirected fd 2 while another thread's was open sent
# that one's lines into its own capture (a JPEG's libjpeg line out as a bare line on the terminal, the JPEG told
# nothing), or, ending last, put back the other's capture file as fd 2 for good (every later line lost). Re-entrant:
# a block nested in the same thread redirects within the outer one.
_redirecting = threading.RLock()


@contextlib.contextmanager
def quiet_library_output() -> Iterator[None]:
    """Silence file descriptors 1 and 2 for a block: the OpenEXR library prints a page of diagnostics (to
    both) for a damaged file before failing; the one-line error we raise says what the user needs. Waits for the
    redirections of other threads (:data:`_redirecting`)."""
    with _redirecting:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = [os.dup(1), os.dup(2)]
        try:
            with open(os.devnull, "wb") as null:
                os.dup2(null.fileno(), 1)
                os.dup2(null.fileno(), 2)
                try:
                    # The binding also writes through Python's sys.stdout (PySys_WriteStdout).
                    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                        yield
                finally:
                    flush_c_stdio()  # the library writes through C stdio: its buffer must empty into devnull
        finally:
            for fd, copy in zip((1, 2), saved, strict=True):
                os.dup2(copy, fd)
                os.close(copy)


def flush_c_stdio() -> None:
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).fflush(None)


@contextlib.contextmanager
def stderr_without(dropped: re.Pattern[bytes], caught: list[bytes] | None = None) -> Iterator[None]:
    """Capture file descriptor 2 for a block and write back all of it but the lines ``dropped`` matches, which are
    added to ``caught`` if given. Another thread's block waits for this one to end (:data:`_redirecting`); what
    other threads print meanwhile comes out when the block ends."""
    with _redirecting:
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as capture:
            os.dup2(capture.fileno(), 2)
            try:
                yield
            finally:
                flush_c_stdio()
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                capture.seek(0)
                lines = capture.read().splitlines(keepends=True)
                kept = b"".join(line for line in lines if not dropped.match(line))
                if caught is not None:
                    caught.extend(line for line in lines if dropped.match(line))
                if kept:
                    with open(2, "wb", closefd=False) as stderr:
                        stderr.write(kept)
