"""The batch engine every batch command runs on: safe, resumable batches over files and folders.

One policy (:class:`BatchPolicy`) for all of them:

* One output per input (a folder, or a single file), named so that two inputs never collide, never
  inside the input tree.
* A folder job writes into a hidden ``.<name>.partial`` folder that is renamed into place when the job
  ends; a file job's writer is atomic itself. A folder counts as done only when its marker (written
  last) parses and records the same request: an interrupted batch leaves no half-written output, a
  re-run redoes exactly what is missing, and a re-run with other options redoes what they change.
* ``--dry-run`` lists the plan; ``--overwrite`` redoes everything.
* A failing input is reported in one line and the batch goes on; the report's exit code says so.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import CevrError, InputError, OutputError
from .vocabulary import PHOTO_SUFFIXES


def discover_inputs(inputs: Sequence[Path], *, recursive: bool = False,
                    extensions: Sequence[str] = PHOTO_SUFFIXES) -> list[Path]:
    """Files given explicitly are kept whatever their extension (they fail clearly later if unreadable);
    folders contribute their files with a known extension, hidden files and our temporaries skipped."""
    found: dict[Path, None] = {}
    for item in inputs:
        item = Path(item)
        if item.is_dir():
            walker = item.rglob("*") if recursive else item.iterdir()
            for path in sorted(walker):
                if (path.is_file() and path.suffix.lower() in extensions
                        and not any(part.startswith(".") for part in path.relative_to(item).parts)):
                    found[path] = None
        else:
            found[item] = None
    return list(found)


def _relative_key(path: Path, roots: Sequence[Path]) -> Path:
    resolved = path.resolve()
    for root in roots:
        root = Path(root).resolve()
        base = root if root.is_dir() else root.parent
        if resolved.is_relative_to(base):
            return resolved.relative_to(base)
    return Path(resolved.name)


@dataclass(frozen=True)
class BatchPolicy:
    """How a batch treats existing outputs and what it walks."""

    overwrite: bool = False  # redo inputs whose outputs are complete
    dry_run: bool = False  # plan and report, write nothing
    recursive: bool = False  # walk folders recursively


def plan_outputs(sources: Sequence[Path], out_dir: Path, *, roots: Sequence[Path],
                 allow_inside_input: bool = False, name_format: str = "{name}") -> dict[Path, Path]:
    """Map each source to its own output under ``out_dir``: ``name_format`` with ``{name}`` filled in.

    The name is ``<stem>``; sources that share a stem (IMG_0001.JPG in two folders, or IMG_0001.JPG
    beside IMG_0001.CR2) get ``<relative parent>__<stem>_<ext>`` instead, deterministically.
    """
    out_dir = Path(out_dir).resolve()
    for root in roots:
        root = Path(root).resolve()
        if root.is_dir() and not allow_inside_input and out_dir.is_relative_to(root):
            raise OutputError(f"{out_dir}: output folder is inside the input folder {root}; choose another -o")
    stems = Counter(Path(s).stem.lower() for s in sources)
    plan: dict[Path, Path] = {}
    used: set[str] = set()
    for source in sources:
        source = Path(source)
        name = source.stem
        if stems[source.stem.lower()] > 1:
            rel = _relative_key(source, roots)
            parent = "__".join(rel.parent.parts)
            name = f"{parent + '__' if parent else ''}{source.stem}_{source.suffix.lstrip('.').lower()}"
        while name.lower() in used:
            name += "_"
        used.add(name.lower())
        folder = out_dir / name_format.format(name=name)
        if folder.resolve() == source.resolve():
            raise OutputError(f"{folder}: output would overwrite the input")
        plan[source] = folder
    return plan


def completion(output: Path, marker: str | None, request: dict[str, Any] | None = None) -> str:
    """``complete``, ``stale`` (made by another request) or ``missing``.

    A folder output is complete when its ``marker`` parses and records ``request``; a file output
    (``marker`` None, written atomically) when it exists and, if ``request`` is given, records it in the
    image (:func:`cevr_cli.io.images.read_request`).
    """
    if marker is None:
        if not output.is_file():
            return "missing"
        from .io.images import read_request

        recorded = read_request(output) if request is not None else None
    else:
        try:
            recorded = json.loads((output / marker).read_text()).get("request")
        except (OSError, ValueError, AttributeError):
            return "missing"
    if request is not None and recorded != json.loads(json.dumps(request)):
        return "stale"
    return "complete"


@dataclass
class BatchItemResult:
    source: Path
    status: str  # done | skipped | failed | planned
    output: Path | None
    message: str = ""
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"source": str(self.source), "status": self.status, "output": str(self.output) if self.output else None,
                "message": self.message, "seconds": round(self.seconds, 3)}


@dataclass
class BatchReport:
    items: list[BatchItemResult] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return dict(Counter(item.status for item in self.items))

    @property
    def exit_code(self) -> int:
        return 1 if any(item.status == "failed" for item in self.items) else 0

    def to_json(self) -> dict[str, Any]:
        return {"counts": self.counts(), "exit_code": self.exit_code, "items": [i.to_json() for i in self.items]}


Job = Callable[[Path, Path], None]  # (source, output being written)
Event = Callable[[str, Any], None]


def _run_one(source: Path, output: Path, job: Job, marker: str | None) -> BatchItemResult:
    started = time.monotonic()
    if marker is None:
        return _run_file(source, output, job, started)
    folder = output
    partial = folder.parent / f".{folder.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)  # left by a crash of an earlier run
    partial.mkdir(parents=True)
    try:
        job(source, partial)
        if folder.exists():  # only reached with overwrite: replace the old result whole
            old = folder.parent / f".{folder.name}.old"
            shutil.rmtree(old, ignore_errors=True)
            folder.rename(old)
            partial.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            partial.rename(folder)
    except BaseException as exc:
        shutil.rmtree(partial, ignore_errors=True)
        return _failure(source, exc, started)
    return BatchItemResult(source, "done", folder, "", time.monotonic() - started)


def _run_file(source: Path, output: Path, job: Job, started: float) -> BatchItemResult:
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        job(source, output)
    except BaseException as exc:
        return _failure(source, exc, started)
    return BatchItemResult(source, "done", output, "", time.monotonic() - started)


def _failure(source: Path, exc: BaseException, started: float) -> BatchItemResult:
    """The one-line result of a failed input; anything but an input's own failure propagates."""
    if isinstance(exc, CevrError):
        message = str(exc)
    elif isinstance(exc, OSError | ValueError | MemoryError):
        message = str(InputError(source, f"{type(exc).__name__}: {exc}"))
    else:
        raise exc
    return BatchItemResult(source, "failed", None, message, time.monotonic() - started)


def run_batch(plan: dict[Path, Path], job: Job, policy: BatchPolicy, *, marker: str | None,
              request: dict[str, Any] | None = None, on_event: Event | None = None) -> BatchReport:
    """Run ``job(source, output)`` for every planned source whose output is not complete.

    ``marker``: the file that completes a folder output (None: outputs are single files). ``request``:
    what was asked, compared with the one a marker records.
    """
    report = BatchReport()
    if on_event:
        on_event("planned", len(plan))
    for source, output in plan.items():
        state = completion(output, marker, request)
        if state == "complete" and not policy.overwrite:
            result = BatchItemResult(source, "skipped", output, "already complete")
        elif policy.dry_run:
            note = "would redo (made with other options)" if state == "stale" else "would write"
            result = BatchItemResult(source, "planned", output, note)
        else:
            if on_event:
                on_event("start", source)
            result = _run_one(source, output, job, marker)
            if state == "stale" and result.status == "done":
                result.message = "redone: the earlier output was made with other options"
        report.items.append(result)
        if on_event:
            on_event("item", result)
    return report
