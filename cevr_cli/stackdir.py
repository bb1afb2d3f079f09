"""The stack folder on disk, reader and writer together: the one definition of what `cevr stack` writes
and `cevr fuse` reads.

A stack folder holds one image per EV, ``00_ev-3.00.png`` ... (the index prefix makes a plain name sort
follow EV order; without it ``ev+`` sorts before ``ev-`` and ``ev-0.5`` before ``ev-3``), and
``stack.json``, written last: the provenance record, the EVs and file names, the format, and the request
that made it (a rerun with the same request skips the folder, another request redoes it).
"""

from __future__ import annotations

import json
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from .batch import with_file_sizes
from .errors import InputError, UsageError, use_one_of
from .evs import ev_label
from .io.atomic import atomic_write_text
from .io.colour import ColourSpace
from .io.dng_opcodes import Opcode
from .io.exif import FRAME_EXPOSURE, ExifInfo, photo_exif_of_frame, reexposed_exif, with_capture_facts
from .provenance import SourceMetadata
from .values import ExposureStack
from .vocabulary import MAX_MEGAPIXELS, STACK_FORMATS, STACK_MANIFEST, format_for_bits

CONTACT_SHEET = "contact.jpg"  # the whole stack at a glance: photographers look before they read
_THUMB_LONG_SIDE = 240
_SHEET_COLUMNS = 7


def ev_filename(index: int, ev: float, suffix: str, count: int) -> str:
    """``00_ev-3.00.png`` ... ``12_ev+3.00.png``: the index of ``count`` images, as wide as the largest one
    (at least two digits), so that a plain name sort follows EV order (``000_`` ... ``120_`` for 121 images)."""
    return f"{index:0{max(2, len(str(count - 1)))}d}_ev{ev_label(ev)}{suffix}"


def frame_key(ev: float) -> str:
    """How manifests key a frame by its EV (``"-2.00"``, ``"+0.50"``): the ``frames`` record of stack.json."""
    return ev_label(ev)


def stack_format(name: str) -> tuple[str, int]:
    """(suffix, bits) of a stack image format."""
    try:
        return STACK_FORMATS[name]
    except KeyError:
        raise UsageError(f"--format {name!r}: {use_one_of(name, STACK_FORMATS)}") from None


class StackFolderWriter:
    """Writes a stack one EV at a time (so a 13-EV stack of a large photo is never all in memory).

    With ``encoders > 0`` images are encoded and written by that many background threads while the
    caller computes the next EV (PNG/TIFF encoding releases the GIL); at most ``encoders + 1`` images wait
    in memory. Use it as a context manager so the threads are joined whatever happens; ``finish`` waits for
    every image, re-raises the first failure, and only then writes ``stack.json``.
    """

    def __init__(self, folder: Path, evs: list[float], image_format: str, source: SourceMetadata,
                 encoders: int = 0) -> None:
        self.folder = folder
        self.suffix, self.bits = stack_format(image_format)
        self.image_format = image_format
        self.index = {ev: i for i, ev in enumerate(sorted(evs))}
        self.source = source
        self.files: dict[float, str] = {}
        self.thumbnails: dict[float, np.ndarray] = {}
        self._pool = ThreadPoolExecutor(encoders, thread_name_prefix="cevr-encode") if encoders > 0 else None
        self._pending: deque[Future[None]] = deque()
        self._limit = encoders + 1

    def __enter__(self) -> StackFolderWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def add(self, ev: float, image: np.ndarray) -> None:
        """Write the image at ``ev`` (float in [0, 1], or integer codes of the format's bit depth)."""
        if self._pool is None:
            self._write(ev, image)
            return
        while len(self._pending) >= self._limit:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self._write, ev, image))

    def _write(self, ev: float, image: np.ndarray) -> None:
        from .io.images import write_ldr

        name = ev_filename(self.index[ev], ev, self.suffix, len(self.index))
        write_ldr(self.folder / name, image, bit_depth=self.bits,
                  exif_bytes=reexposed_exif(self.source.exif_bytes, ev), icc_profile=self.source.icc_profile)
        self.thumbnails[ev] = _thumbnail(image)
        self.files[ev] = name

    def finish(self, provenance: dict[str, Any], request: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """Write ``stack.json`` last; returns the manifest."""
        while self._pending:
            self._pending.popleft().result()
        evs = sorted(self.files)
        from .io.images import write_ldr

        write_ldr(self.folder / CONTACT_SHEET, contact_sheet([(ev, self.thumbnails[ev]) for ev in evs]), bit_depth=8)
        manifest = {**provenance, **extra, "evs": evs, "files": [self.files[ev] for ev in evs],
                    "contact_sheet": CONTACT_SHEET,
                    # PNG frames carry the EXIF their exposure was written into; 16-bit TIFFs only an XMP copy
                    **({"frame_exif": FRAME_EXPOSURE} if self.suffix == ".png" else {}),
                    "format": {"container": self.image_format, "bit_depth": self.bits}, "request": request}
        manifest = with_file_sizes(self.folder, manifest)
        atomic_write_text(self.folder / STACK_MANIFEST, json.dumps(manifest, indent=2))
        return manifest


def _thumbnail(image: np.ndarray) -> np.ndarray:
    """A small 8-bit copy (area-averaged) of a stack image, float [0, 1] or integer codes."""
    import cv2

    from .imaging import quantise

    codes = image if image.dtype == np.uint8 else (
        (image >> 8).astype(np.uint8) if image.dtype == np.uint16 else quantise(image, 8))
    h, w = codes.shape[:2]
    scale = min(1.0, _THUMB_LONG_SIDE / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(codes, size, interpolation=cv2.INTER_AREA)


def contact_sheet(thumbnails: list[tuple[float, np.ndarray]], columns: int = _SHEET_COLUMNS) -> np.ndarray:
    """Thumbnails in EV order on a dark grid, each labelled with its EV as its frame is named (uint8 RGB)."""
    import cv2

    h = max(t.shape[0] for _, t in thumbnails)
    w = max(t.shape[1] for _, t in thumbnails)
    label, pad = 22, 6
    rows = -(-len(thumbnails) // columns)
    cols = min(columns, len(thumbnails))
    sheet = np.full((rows * (h + label + pad) + pad, cols * (w + pad) + pad, 3), 32, dtype=np.uint8)
    for i, (ev, thumb) in enumerate(thumbnails):
        y = pad + (i // columns) * (h + label + pad)
        x = pad + (i % columns) * (w + pad)
        sheet[y : y + thumb.shape[0], x : x + thumb.shape[1]] = thumb
        cv2.putText(sheet, f"EV {ev_label(ev)}", (x + 2, y + h + label - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (230, 230, 230), 1, cv2.LINE_AA)
    return sheet


def save_stack_folder(folder: str | os.PathLike[str], stack: ExposureStack, provenance: dict[str, Any],
                      request: dict[str, Any]) -> dict[str, Any]:
    """Write an in-memory stack as a stack folder, in the format that keeps its bit depth."""
    folder = Path(folder)
    writer = StackFolderWriter(folder, stack.evs, format_for_bits(stack.bit_depth), stack.source)
    for ev, image in zip(stack.evs, stack.images, strict=True):
        writer.add(ev, image)
    return writer.finish(provenance, request)


def is_stack_folder(path: Path) -> bool:
    """Whether ``path`` is a folder `cevr stack` wrote; False for one that cannot be listed (chmod 000), whose
    manifest pathlib's ``is_file`` raises on: it fails by name where inputs are checked, not the whole batch."""
    from .batch import is_dir_safely

    return is_dir_safely(path) and os.path.isfile(path / STACK_MANIFEST)


_JSON_TYPES = {list: "list", str: "text", int: "number", float: "number", bool: "boolean"}


def read_stack_manifest(folder: Path) -> dict[str, Any]:
    path = folder / STACK_MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(path, f"not a complete stack manifest ({exc})") from None
    if not isinstance(manifest, dict):  # Python's own words ("'NoneType' object is not subscriptable") said nothing
        found = "null" if manifest is None else f"a {_JSON_TYPES.get(type(manifest), type(manifest).__name__)}"
        raise InputError(path, f"not a complete stack manifest (a JSON object expected, found {found})")
    for key in ("evs", "files"):
        if key not in manifest:
            raise InputError(path, f"not a complete stack manifest (it has no {key!r} list)")
    try:
        manifest["evs"] = [float(e) for e in manifest["evs"]]
    except (ValueError, TypeError):
        raise InputError(path, "not a complete stack manifest (its 'evs' must be a list of numbers)") from None
    if not isinstance(manifest["files"], list):
        raise InputError(path, "not a complete stack manifest (its 'files' must list the frames' names)")
    if len(manifest["evs"]) != len(manifest["files"]):
        raise InputError(path, "stack manifest lists a different number of EVs and files")
    if not manifest["files"] or not all(isinstance(name, str) and name for name in manifest["files"]):
        raise InputError(path, "not a complete stack manifest (its 'files' must list the frames' names)")
    # an absolute path has a separator, so its base name differs from it
    outside = next((name for name in manifest["files"] if name in (".", "..") or os.path.basename(name) != name), None)
    if outside is not None:  # "/etc/x.png", "../other/00_ev-1.00.png": read from elsewhere, unseen by made_from
        raise InputError(path, f"stack manifest names a frame outside its folder ({outside!r}): frames are files "
                               "of the stack folder itself")
    _check_metadata(path, manifest)
    return manifest


def _check_metadata(path: Path, manifest: dict[str, Any]) -> None:
    """Refuse, naming ``path``, recorded facts of a type no `cevr stack` writes (a hand-edited stack.json): they
    failed later as a TypeError or AttributeError deep inside fuse (``"source_size": 5``, ``"exif": "x"``)."""
    def wrong(key: str, what: str) -> InputError:
        return InputError(path, f"not a complete stack manifest (its {key!r} must be {what})")

    if manifest.get("source") is not None and not isinstance(manifest["source"], str):
        raise wrong("source", "a path")
    size = manifest.get("source_size")
    if size is not None and not (isinstance(size, list) and len(size) == 2
                                 and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in size)):
        raise wrong("source_size", "[width, height]")
    opcodes = manifest.get("dng_opcodes_not_applied")
    if opcodes is not None and not (isinstance(opcodes, list) and all(isinstance(text, str) for text in opcodes)):
        raise wrong("dng_opcodes_not_applied", "a list of opcodes' names")
    exif = manifest.get("exif")
    if exif is None:
        return
    if not isinstance(exif, dict):
        raise wrong("exif", "an object")
    for field in fields(ExifInfo):
        value = exif.get(field.name)
        numeric = field.name in ("exposure_time", "f_number", "iso", "orientation")
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float) if numeric else str)):
            raise wrong(f"exif.{field.name}", "a number" if numeric else "text")


def _check_frame_size(path: Path, max_megapixels: float) -> None:
    """Refuse, from its header, a frame larger than ``max_megapixels`` before it is decoded (as a photo is)."""
    from PIL import Image

    from .io.images import DECOMPRESSION_BOMB, allow_in_pillow, check_dimensions

    allow_in_pillow(max_megapixels)
    try:
        with Image.open(path) as im:
            width, height = im.size
    except Image.DecompressionBombError:
        raise InputError(path, DECOMPRESSION_BOMB) from None
    except (OSError, SyntaxError, ValueError):  # not an image Pillow reads: the decoder says what it is
        return
    check_dimensions(path, width, height, max_megapixels, 1)


def read_stack_folder(folder: str | os.PathLike[str], *, max_megapixels: float = MAX_MEGAPIXELS) -> ExposureStack:
    """The stack a `cevr stack` folder holds, with its source's metadata (EXIF/ICC from its first image).

    Raises:
        InputError: an incomplete manifest, a frame missing, unreadable (without permission, empty: as a photo), not
            RGB or (told from its header, before it is decoded) larger than ``max_megapixels``, frames of different
            sizes or bit depths.
    """
    folder = Path(folder)
    from .io import opencv
    from .io.images import check_input_file, check_size_limits, read_image_metadata

    check_size_limits(max_megapixels)
    manifest = read_stack_manifest(folder)
    images = []
    for name in manifest["files"]:
        if (folder / name).is_file():
            check_input_file(folder / name, "a stack image")  # unreadable, empty: said as a photo's, not OpenCV's
            _check_frame_size(folder / name, max_megapixels)
        image = opencv.imread(folder / name) if (folder / name).is_file() else None
        if image is None:
            raise InputError(folder / name, "missing or unreadable stack image")
        if image.ndim != 3 or image.shape[2] < 3:  # a frame replaced by a grey one: readable, but not a frame
            raise InputError(folder / name, f"stack image is not RGB ({1 if image.ndim == 2 else image.shape[2]} "
                                            "channel(s)): a frame replaced by hand?")
        images.append(np.ascontiguousarray(image[..., 2::-1]))
    if len({(im.shape, im.dtype) for im in images}) > 1:
        raise InputError(folder, "stack images differ in size or bit depth")
    exif_bytes, icc = read_image_metadata(folder / manifest["files"][0]) if images else (None, None)
    # the first frame's metadata says its own exposure; what the folder's outputs carry is the photo's
    exif_bytes = photo_exif_of_frame(exif_bytes, manifest["evs"][0], manifest.get("frame_exif"))
    info = ExifInfo.from_json(manifest.get("exif"))
    exif_bytes = with_capture_facts(exif_bytes, info)  # a 16-bit TIFF frame says its exposure in XMP only
    size = manifest.get("source_size")
    source = SourceMetadata(Path(manifest["source"]) if manifest.get("source") else folder,
                            info, exif_bytes, icc,
                            tuple(size) if size else None, manifest.get("source_bit_depth"),
                            ColourSpace.from_json(manifest.get("colour")),
                            not_applied=tuple(opcode for text in manifest.get("dng_opcodes_not_applied") or []
                                              if (opcode := Opcode.from_text(text))))
    bits = 8 if images and images[0].dtype == np.uint8 else 16
    return ExposureStack(images, manifest["evs"], bits, source)
