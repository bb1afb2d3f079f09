"""The stack folder on disk, reader and writer together: the one definition of what `cevr stack` writes
and `cevr fuse` reads.

A stack folder holds one image per EV, ``00_ev-3.00.png`` ... (the index prefix makes a plain name sort
follow EV order; without it ``ev+`` sorts before ``ev-`` and ``ev-0.5`` before ``ev-3``), and
``stack.json``, written last: the provenance record, the EVs and file names, the format, and the request
that made it (a rerun with the same request skips the folder, another request redoes it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError, UsageError
from .io.atomic import atomic_write_text
from .io.exif import ExifInfo
from .provenance import SourceMetadata
from .vocabulary import STACK_FORMATS

STACK_MANIFEST = "stack.json"


@dataclass
class ExposureStack:
    """Images of one scene at known EV steps (EV 0 = the photo), integer codes as written to disk."""

    images: list[np.ndarray]  # HxWx3 uint8 or uint16 RGB, sorted by EV
    evs: list[float]
    bit_depth: int
    source: SourceMetadata


def ev_filename(index: int, ev: float, suffix: str) -> str:
    """``00_ev-3.00.png`` ... ``12_ev+3.00.png``."""
    return f"{index:02d}_ev{ev:+.2f}{suffix}"


def stack_format(name: str) -> tuple[str, int]:
    """(suffix, bits) of a stack image format."""
    try:
        return STACK_FORMATS[name]
    except KeyError:
        raise UsageError(f"--format {name!r}: use one of {', '.join(STACK_FORMATS)}") from None


class StackFolderWriter:
    """Writes a stack one EV at a time (so a 13-EV stack of a large photo is never all in memory)."""

    def __init__(self, folder: Path, evs: list[float], image_format: str, source: SourceMetadata) -> None:
        self.folder = folder
        self.suffix, self.bits = stack_format(image_format)
        self.image_format = image_format
        self.index = {ev: i for i, ev in enumerate(sorted(evs))}
        self.source = source
        self.files: dict[float, str] = {}

    def add(self, ev: float, image: np.ndarray) -> None:
        """Write the image at ``ev`` (float in [0, 1], or integer codes of the format's bit depth)."""
        from .io.images import write_ldr

        name = ev_filename(self.index[ev], ev, self.suffix)
        write_ldr(self.folder / name, image, bit_depth=self.bits, exif_bytes=self.source.exif_bytes,
                  icc_profile=self.source.icc_profile)
        self.files[ev] = name

    def finish(self, provenance: dict[str, Any], request: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """Write ``stack.json`` last; returns the manifest."""
        evs = sorted(self.files)
        manifest = {**provenance, **extra, "evs": evs, "files": [self.files[ev] for ev in evs],
                    "format": {"container": self.image_format, "bit_depth": self.bits}, "request": request}
        atomic_write_text(self.folder / STACK_MANIFEST, json.dumps(manifest, indent=2))
        return manifest


def format_for_bits(bits: int) -> str:
    """The stack image format that holds ``bits`` per channel without loss."""
    return next(name for name, (_, depth) in STACK_FORMATS.items() if depth >= bits)


def save_stack_folder(folder: Path, stack: ExposureStack, provenance: dict[str, Any],
                      request: dict[str, Any]) -> dict[str, Any]:
    """Write an in-memory stack as a stack folder, in the format that keeps its bit depth."""
    writer = StackFolderWriter(folder, stack.evs, format_for_bits(stack.bit_depth), stack.source)
    for ev, image in zip(stack.evs, stack.images, strict=True):
        writer.add(ev, image)
    return writer.finish(provenance, request)


def is_stack_folder(path: Path) -> bool:
    return path.is_dir() and (path / STACK_MANIFEST).is_file()


def read_stack_manifest(folder: Path) -> dict[str, Any]:
    path = folder / STACK_MANIFEST
    try:
        manifest = json.loads(path.read_text())
        manifest["evs"] = [float(e) for e in manifest["evs"]]
        manifest["files"] = list(manifest["files"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(path, f"not a complete stack manifest ({exc})") from None
    if len(manifest["evs"]) != len(manifest["files"]):
        raise InputError(path, "stack manifest lists a different number of EVs and files")
    return manifest


def read_stack_folder(folder: Path) -> ExposureStack:
    """The stack a `cevr stack` folder holds, with its source's metadata (EXIF/ICC from its first image)."""
    from .io import opencv
    from .io.images import read_image_metadata

    manifest = read_stack_manifest(folder)
    images = []
    for name in manifest["files"]:
        image = opencv.imread(folder / name) if (folder / name).is_file() else None
        if image is None or image.ndim != 3 or image.shape[2] < 3:
            raise InputError(folder / name, "missing or unreadable stack image")
        images.append(np.ascontiguousarray(image[..., 2::-1]))
    if len({(im.shape, im.dtype) for im in images}) > 1:
        raise InputError(folder, "stack images differ in size or bit depth")
    exif_bytes, icc = read_image_metadata(folder / manifest["files"][0]) if images else (None, None)
    size = manifest.get("source_size")
    source = SourceMetadata(Path(manifest["source"]) if manifest.get("source") else folder,
                            ExifInfo.from_json(manifest.get("exif")), exif_bytes, icc,
                            tuple(size) if size else None, manifest.get("source_bit_depth"))
    bits = 8 if images and images[0].dtype == np.uint8 else 16
    return ExposureStack(images, manifest["evs"], bits, source)
