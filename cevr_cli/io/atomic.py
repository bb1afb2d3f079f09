"""Atomic file writes: write to a temporary name in the destination folder, then rename.

A crash or Ctrl-C while writing leaves at most a hidden ``.*.part`` file, never a truncated output
under the final name, so a re-run can trust every file it finds. A symbolic link is written through (the
file it points to is replaced, the link stays); devices, fifos and sockets are refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import OutputError


@contextlib.contextmanager
def atomic_path(destination: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; rename it into place if the block succeeds.

    The temporary name keeps the destination's suffix so writers that choose a format by extension
    (OpenCV, imageio) still work. On any exception the temporary file is removed.

    Raises:
        OutputError: ``destination`` is a device, fifo or socket (see :func:`write_target`).
    """
    destination = write_target(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = _temporary_affixes(destination)
    fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=destination.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates 0600 files, and some writers (safetensors) replace the file they are given, so
        # the usual permissions (0666 less the umask) are set on whatever was written, just before the rename.
        os.chmod(tmp, 0o666 & ~_process_umask())
        _sync(tmp)
        os.replace(tmp, destination)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _sync(path: Path) -> None:
    """Have the disk hold ``path``'s bytes before it is renamed into place (under a millisecond here): a rename the
    disk gets before the data leaves, after a power cut, an empty or short file under the final name, which a
    rerun would take as done."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temporary_affixes(destination: Path) -> tuple[str, str]:
    """The start and end of :func:`atomic_path`'s temporary names for ``destination``: ``.<stem>.`` and
    ``.part<suffix>``, around the 8 random characters of :func:`tempfile.mkstemp`."""
    return f".{destination.stem}.", f".part{destination.suffix}"


def remove_abandoned_temporaries(destination: str | os.PathLike[str]) -> None:
    """Remove the temporary files that :func:`atomic_path` left beside ``destination`` in a process killed while
    writing it (SIGKILL, a power cut: no cleanup ran). Only names of exactly its pattern are removed; call it only
    where no other process writes ``destination`` now."""
    destination = write_target(destination)
    prefix, suffix = _temporary_affixes(destination)
    pattern = re.compile(re.escape(prefix) + "[a-z0-9_]{8}" + re.escape(suffix))  # mkstemp's random part
    if destination.parent.is_dir():
        for path in destination.parent.iterdir():
            if pattern.fullmatch(path.name) and path.is_file() and not path.is_symlink():
                path.unlink(missing_ok=True)


def _umask_by_setting() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


_UMASK_AT_IMPORT = _umask_by_setting()  # before any thread of ours runs


def _process_umask() -> int:
    """The process's umask, read without setting it: Linux shows it in /proc/self/status. Setting it to read it
    (the only portable way) would give a moment of umask 0 in which another thread's new folder or file gets mode
    0777/0666; where /proc does not say, the umask at import stands."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return _UMASK_AT_IMPORT


def write_target(destination: str | os.PathLike[str]) -> Path:
    """The path a write to ``destination`` replaces: the file at the end of its symbolic links, if any.

    Raises:
        OutputError: it is a device, fifo or socket (``/dev/stdout``, ``/dev/null``), which a rename would
            replace with a regular file.
    """
    destination = Path(destination)
    try:
        mode = os.stat(destination).st_mode
    except OSError:  # nothing there yet (or a dangling link: its target is created)
        mode = None
    if mode is not None and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise OutputError(f"{destination}: not a regular file (a device, fifo or socket); give a file name")
    return Path(os.path.realpath(destination)) if destination.is_symlink() else destination


def write_failure(destination: str | os.PathLike[str], what: str, exc: OSError) -> OutputError:
    """The :class:`OutputError` of a write to ``destination`` that ``exc`` stopped, as one line: ``DEST: cannot write
    WHAT (reason)``, the reason naming the file that stands where a folder must be (mkdir's "File exists"), else the
    system's reason without the temporary file's name."""
    blocking = next((part for part in Path(destination).parents if os.path.isfile(part)), None)
    reason = f"{blocking} is a file, not a folder" if blocking is not None else exc.strerror or str(exc)
    return OutputError(f"{destination}: cannot write {what} ({reason})")


def atomic_write_bytes(destination: str | os.PathLike[str], data: bytes, what: str = "it") -> None:
    """Write ``data`` to ``destination`` atomically.

    Raises:
        OutputError: ``DEST: cannot write WHAT (reason)`` (:func:`write_failure`: a full disk, a read-only folder).
    """
    try:
        with atomic_path(destination) as tmp:
            tmp.write_bytes(data)
    except OSError as exc:
        raise write_failure(destination, what, exc) from None


def atomic_write_text(destination: str | os.PathLike[str], text: str, what: str = "it") -> None:
    """Write ``text`` (UTF-8) to ``destination`` atomically. Raises: OutputError, as :func:`atomic_write_bytes`."""
    atomic_write_bytes(destination, text.encode("utf-8"), what)


_PROBE_ATTEMPTS = 5


def check_writable(destination: str | os.PathLike[str], *, folder: bool = False) -> None:
    """Fail now, before any work, if ``destination`` (a file, or with ``folder`` a folder) cannot be written.

    Creates the folder (or the file's parent folder), writes and removes a probe file there, then removes the
    folders it created: a run that stops before its first output (no Ray cluster answers, every photo fails)
    leaves no empty folder behind; the writes create them again.

    Raises:
        OutputError: not creatable or not writable, with the reason; a file that is a device, fifo or socket.
    """
    destination = Path(destination)
    if not folder and os.path.isdir(destination):  # os.path: False for a name too long, where pathlib raises
        raise OutputError(f"{destination}: is a folder; give a file name")
    created: list[Path] = []
    try:
        where = destination if folder else write_target(destination).parent
        for attempt in range(_PROBE_ATTEMPTS):
            created = [part for part in (where, *where.parents) if not os.path.lexists(part)]
            where.mkdir(parents=True, exist_ok=True)
            try:
                fd, probe = tempfile.mkstemp(prefix=".cevr-probe.", dir=where)
            except FileNotFoundError:  # another run starting beside this one removed the folder it had made
                if attempt + 1 == _PROBE_ATTEMPTS:
                    raise
                continue
            os.close(fd)
            os.unlink(probe)
            break
    except OSError as exc:
        blocking = next((part for part in (destination, *destination.parents) if os.path.isfile(part)), None)
        if blocking is not None:  # mkdir says "File exists" or "Not a directory"; say which file is in the way
            raise OutputError(f"{destination}: cannot write there ({blocking} is a file, not a folder)") from None
        raise OutputError(f"{destination}: cannot write there ({exc.strerror or exc})") from None
    finally:
        _remove_empty(created)


def _remove_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (deepest first) where they are still empty: another run may have begun writing there."""
    for made in folders:
        try:
            made.rmdir()
        except OSError:
            return


def shortened_name(name: str, max_bytes: int) -> str:
    """``name`` as it is if it takes at most ``max_bytes`` (a file system allows 255 a name), else cut by characters
    (a multi-byte character is never split) and followed by ``~`` and 8 hex digits of the whole name's hash, so
    that two long names alike in their start stay apart; the same name always gives the same result."""
    if len(os.fsencode(name)) <= max_bytes:
        return name
    tag = "~" + hashlib.sha1(os.fsencode(name)).hexdigest()[:8]
    cut = name
    while len(os.fsencode(cut)) > max_bytes - len(tag):
        cut = cut[:-1]
    return cut + tag
