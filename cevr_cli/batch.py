"""Safe, resumable batches over folders of photos.

* One output folder per input, named so that two inputs never collide.
* A job writes into a hidden ``.<name>.partial`` folder that is renamed into place when the job ends,
  and a folder counts as done only when its marker file (written last) parses: an interrupted batch
  leaves no half-written output, and a re-run redoes exactly what is missing.
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
from .io.images import PHOTO_EXTENSIONS


def discover_inputs(inputs: Sequence[Path], *, recursive: bool = False,
                    extensions: Sequence[str] = PHOTO_EXTENSIONS) -> list[Path]:
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


def plan_outputs(sources: Sequence[Path], out_dir: Path, *, roots: Sequence[Path],
                 allow_inside_input: bool = False) -> dict[Path, Path]:
    """Map each source to its own output folder under ``out_dir``.

    The folder is ``<stem>``; sources that share a stem (IMG_0001.JPG in two folders, or IMG_0001.JPG
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
        folder = out_dir / name
        if folder.resolve() == source.resolve():
            raise OutputError(f"{folder}: output would overwrite the input")
        plan[source] = folder
    return plan


def is_complete(folder: Path, marker: str = "stack.json") -> bool:
    try:
        json.loads((folder / marker).read_text())
    except (OSError, ValueError):
        return False
    return True


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


Job = Callable[[Path, Path], None]
Event = Callable[[str, Any], None]


def _run_one(source: Path, folder: Path, job: Job, overwrite: bool) -> BatchItemResult:
    started = time.monotonic()
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
    except CevrError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        return BatchItemResult(source, "failed", None, str(exc), time.monotonic() - started)
    except (OSError, ValueError, MemoryError) as exc:
        shutil.rmtree(partial, ignore_errors=True)
        message = str(InputError(source, f"{type(exc).__name__}: {exc}"))
        return BatchItemResult(source, "failed", None, message, time.monotonic() - started)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return BatchItemResult(source, "done", folder, "", time.monotonic() - started)


def run_batch(plan: dict[Path, Path], job: Job, *, overwrite: bool = False, dry_run: bool = False,
              on_event: Event | None = None, marker: str = "stack.json") -> BatchReport:
    """Run ``job(source, temporary_folder)`` for every planned source not already complete."""
    report = BatchReport()
    if on_event:
        on_event("planned", len(plan))
    for source, folder in plan.items():
        if is_complete(folder, marker) and not overwrite:
            result = BatchItemResult(source, "skipped", folder, "already complete")
        elif dry_run:
            result = BatchItemResult(source, "planned", folder, "would write")
        else:
            if on_event:
                on_event("start", source)
            result = _run_one(source, folder, job, overwrite)
        report.items.append(result)
        if on_event:
            on_event("item", result)
    return report
