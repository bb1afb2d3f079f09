"""Job factories for the scale-out tests: importable by name, so worker processes can unpickle them."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

MARKER = "done.json"


def write_inputs(tmp_path: Path, names: Sequence[str]) -> list[Path]:
    """Small text inputs ``tmp_path/in/<name>``, each holding its own name."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in names:
        (folder / name).write_text(f"content of {name}")
    return [folder / name for name in names]


@dataclass(frozen=True)
class _OnTheCPU:
    """What every job factory here has: the CPU, and no request to check."""

    accelerator: str = "cpu"

    def check(self) -> None:
        pass


def _finish(folder: Path, data: str) -> None:
    """The output of one input: its data, then the marker that completes it."""
    (folder / "data.txt").write_text(data)
    (folder / MARKER).write_text(json.dumps({"files": ["data.txt"]}))


@dataclass(frozen=True)
class CopyJob:
    """Copies each input into ``<output>/data.txt`` and writes a marker naming the process that did it; an input
    named ``crash*`` kills its process (SIGKILL) halfway, as a decoder crash or the OOM killer would (``rtcrash*``:
    SIGRTMIN+6, a signal Python has no name for; ``term*``: SIGTERM, as ``kill <worker pid>`` from someone other than
    the driver); each input takes ``delay`` seconds after its data is written."""

    delay: float = 0.0
    accelerator: str = "cpu"

    def check(self) -> None:
        pass

    @contextmanager
    def open(self, emit, order: Sequence[Path]) -> Iterator:
        pid = os.getpid()

        def job(source: Path, folder: Path) -> None:
            emit("warning", f"{source.name}: made by {pid}")
            (folder / "data.txt").write_text(source.read_text())
            if source.name.startswith("crash"):
                os.kill(os.getpid(), signal.SIGKILL)
            if source.name.startswith("rtcrash"):  # a real-time signal, whose default action ends the process
                os.kill(os.getpid(), signal.SIGRTMIN + 6)
            if source.name.startswith("term"):
                os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(self.delay)
            (folder / MARKER).write_text(json.dumps({"files": ["data.txt"], "pid": pid}))

        yield job


@dataclass(frozen=True)
class BrokenJob(_OnTheCPU):
    """A job whose opening fails in the worker, as a model that does not fit its GPU would."""

    @contextmanager
    def open(self, emit, order: Sequence[Path]) -> Iterator:
        raise RuntimeError("CUDA out of memory (simulated)")
        yield  # pragma: no cover


@dataclass(frozen=True)
class WarningJob(_OnTheCPU):
    """Writes its output after a library-style Python warning and log record."""

    @contextmanager
    def open(self, emit, order: Sequence[Path]) -> Iterator:
        import logging
        import warnings

        def job(source: Path, folder: Path) -> None:
            warnings.warn(f"odd chunk in {source.name}", UserWarning, stacklevel=1)
            logging.getLogger("tifffile").warning("%s: odd tag", source.name)
            _finish(folder, source.read_text())

        yield job


@dataclass(frozen=True)
class DecodeJob(_OnTheCPU):
    """Decodes each input as a photo (its decoder's warnings come as in a real stage), then writes its output."""

    @contextmanager
    def open(self, emit, order: Sequence[Path]) -> Iterator:
        from cevr_cli.io.images import read_photo

        def job(source: Path, folder: Path) -> None:
            read_photo(source)
            _finish(folder, source.name)

        yield job


def print_blocked_signals() -> None:
    """A spawned process's target: print the signals it was born blocking."""
    print(sorted(int(signum) for signum in signal.pthread_sigmask(signal.SIG_BLOCK, [])), flush=True)
