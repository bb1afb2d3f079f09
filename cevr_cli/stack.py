"""Stage 1, photo -> exposure stack: `cevr stack` re-exposes each photo by every EV step with CEVR.

Each photo gets its own stack folder (format in :mod:`cevr_cli.stackdir`). Images are written as the model
produces them, one EV at a time, so a large photo's stack is never all in memory.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .batch import BatchPolicy, BatchReport, completion, discover_inputs, plan_outputs, run_batch
from .errors import UsageError
from .imaging import quantise
from .io.atomic import check_writable
from .io.images import RAW_EXTENSIONS, Photo, read_photo
from .provenance import SourceMetadata, provenance_record
from .stackdir import STACK_MANIFEST, ExposureStack, StackFolderWriter, stack_format
from .vocabulary import RAW_MODES


class ExposurePredictor(Protocol):
    """A model that re-exposes a photo: :class:`cevr_cli.model.CEVRPredictor` (and the baselines)."""

    def iter_predictions(self, rgb: np.ndarray, evs: Sequence[float]) -> Iterator[tuple[float, np.ndarray]]: ...

    def describe(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class StackOptions:
    evs: Sequence[float]
    image_format: str = "png"  # png (8-bit) | tiff (16-bit)
    max_megapixels: float = 250.0
    raw_mode: str = "linear"  # one of vocabulary.RAW_MODES
    encoders: int | None = None  # threads encoding images while the next EV computes; None: default_encoders()

    def __post_init__(self) -> None:
        check_raw_mode(self.raw_mode)

    def read(self, path: Path) -> Photo:
        """Decode a photo within this request's size limit."""
        return read_photo(path, max_megapixels=self.max_megapixels)

    def request(self, predictor: ExposurePredictor) -> dict[str, Any]:
        """What the stack folder records as asked; another request redoes the folder."""
        return {"evs": [float(e) for e in self.evs], "format": self.image_format, "raw_mode": self.raw_mode,
                "weights_id": predictor.describe()["model"]["weights_id"]}


def default_encoders(predictor: ExposurePredictor) -> int:
    """Image-encoding threads beside inference: 2 on the CPU (on 2 cores a 13-EV 1024x683 stack took
    23.8-25.6 s with them, 24.9-29.7 s without: the encoders mostly use time the network leaves idle);
    beside a GPU, where encoding 13 PNGs of a 12 MP photo takes longer than computing them, up to 8."""
    if str(predictor.describe().get("device", "cpu")).startswith("cpu"):
        return 2
    return max(2, min(8, os.cpu_count() or 2))


def _stack_writer(folder: Path, options: StackOptions, source: SourceMetadata,
                  predictor: ExposurePredictor) -> StackFolderWriter:
    encoders = default_encoders(predictor) if options.encoders is None else options.encoders
    return StackFolderWriter(folder, list(options.evs), options.image_format, source, encoders)


def check_raw_mode(raw_mode: str) -> None:
    """Raises UsageError unless ``raw_mode`` is one of :data:`cevr_cli.vocabulary.RAW_MODES`."""
    if raw_mode not in RAW_MODES:
        raise UsageError(f"--raw-mode {raw_mode!r}: use one of {', '.join(RAW_MODES)}")


def is_raw(path: Path) -> bool:
    return path.suffix.lower() in RAW_EXTENSIONS


def photo_source(photo: Photo) -> SourceMetadata:
    return SourceMetadata(photo.path, photo.exif, photo.exif_bytes, photo.icc_profile,
                          (photo.rgb.shape[1], photo.rgb.shape[0]), photo.bit_depth, photo.colour)


def predict_stack(predictor: ExposurePredictor, photo: Photo, evs: Sequence[float], *, bits: int | None = None,
                  on_ev: Callable[[float], None] | None = None) -> ExposureStack:
    """The stack of ``photo`` in memory, quantised to ``bits`` (default: the photo's own bit depth)."""
    bits = bits or (8 if photo.bit_depth <= 8 else 16)
    pairs = []
    for ev, image in predictor.iter_predictions(photo.rgb, evs):
        pairs.append((ev, quantise(image, bits)))
        if on_ev:
            on_ev(ev)
    pairs.sort(key=lambda pair: pair[0])
    return ExposureStack([im for _, im in pairs], [ev for ev, _ in pairs], bits, photo_source(photo))


def write_stack(predictor: ExposurePredictor, photo_path: Path, folder: Path, options: StackOptions,
                on_ev: Callable[[float], None] | None = None,
                on_warning: Callable[[str], None] | None = None,
                read: Callable[[Path], Photo] | None = None) -> dict[str, Any]:
    """Predict and write the stack of one photo into ``folder``; returns the manifest written.

    ``read``: how the photo is decoded (default: :func:`read_photo` with the options' size limit; a batch
    passes a :class:`PhotoPrefetcher`'s ``read``). Camera RAW files in linear mode are always read here.
    """
    stack_format(options.image_format)
    started = time.monotonic()
    if is_raw(photo_path) and options.raw_mode == "linear":
        return _write_linear_stack(predictor, photo_path, folder, options, started, on_ev)
    photo = (read or options.read)(photo_path)
    source = photo_source(photo)
    with _stack_writer(folder, options, source, predictor) as writer:
        for ev, image in predictor.iter_predictions(photo.rgb, options.evs):
            writer.add(ev, image)
            if on_ev:
                on_ev(ev)
        warnings = source.warnings()
        for warning in warnings:
            if on_warning:
                on_warning(f"{photo_path}: {warning}")
        return writer.finish(provenance_record(source, predictor), options.request(predictor), warnings=warnings,
                             seconds=round(time.monotonic() - started, 3))


def _write_linear_stack(predictor: ExposurePredictor, path: Path, folder: Path, options: StackOptions,
                        started: float, on_ev: Callable[[float], None] | None) -> dict[str, Any]:
    """A RAW photo's stack from its linear data (``--raw-mode linear``, see :mod:`cevr_cli.linear`)."""
    from .io.raw import read_raw_linear
    from .linear import linear_frames, linear_source

    photo = read_raw_linear(path, max_megapixels=options.max_megapixels)
    source = linear_source(photo)
    frame_sources = {}
    with _stack_writer(folder, options, source, predictor) as writer:
        for ev, frame, how in linear_frames(predictor, photo, options.evs, on_ev):
            writer.add(ev, frame)
            frame_sources[f"{ev:+.2f}"] = how
        return writer.finish(provenance_record(source, predictor), options.request(predictor),
                             raw={"mode": "linear", "clipped_fraction": round(photo.clipped_fraction, 6),
                                  "white_level": photo.white_level, "frames": frame_sources},
                             warnings=source.warnings(), seconds=round(time.monotonic() - started, 3))


def run_stack(
    inputs: Sequence[Path], out_dir: Path, predictor: ExposurePredictor, options: StackOptions,
    policy: BatchPolicy, on_event: Callable[[str, Any], None] | None = None,
) -> BatchReport:
    """Stack every photo found in ``inputs`` into ``out_dir/<photo>/``; failures don't stop the batch."""
    stack_format(options.image_format)
    photos = discover_inputs(list(inputs), recursive=policy.recursive)
    if not photos:
        raise UsageError("no photos found in " + ", ".join(str(p) for p in inputs))
    plan = plan_outputs(photos, out_dir, roots=list(inputs))
    if not policy.dry_run:
        check_writable(out_dir, folder=True)  # one clear line now, not a traceback after the first input

    request = options.request(predictor)
    pending = [p for p, out in plan.items()
               if policy.overwrite or completion(out, STACK_MANIFEST, request) != "complete"]
    if options.raw_mode == "linear":
        pending = [p for p in pending if not is_raw(p)]  # read by the linear path itself

    with PhotoPrefetcher(pending, options.read) as prefetcher:
        def job(photo: Path, folder: Path) -> None:
            write_stack(predictor, photo, folder, options,
                        on_ev=(lambda ev: on_event("ev", {"photo": photo, "ev": ev})) if on_event else None,
                        on_warning=(lambda text: on_event("warning", text)) if on_event else None,
                        read=prefetcher.read)

        return run_batch(plan, job, policy, marker=STACK_MANIFEST, request=request, on_event=on_event)


class PhotoPrefetcher:
    """Decodes the next photo of a batch in a background thread while the current one is computed.

    ``order``: the photos the batch will read, in order. ``read(path)`` returns the photo (from the
    prefetch when it was the one expected, else decoded now) and starts decoding the one after it; a
    decoding error is raised by ``read`` of that photo, as an inline decode would. One photo waits in
    memory at most. Beside a GPU, decoding a 24 MP JPEG takes a sizeable part of the stack's time.
    """

    def __init__(self, order: Sequence[Path], load: Callable[[Path], Photo]) -> None:
        self._next = {a: b for a, b in zip(order, order[1:], strict=False)}
        self._load = load
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="cevr-decode")
        self._ahead: tuple[Path, Future[Photo]] | None = None

    def __enter__(self) -> PhotoPrefetcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def read(self, path: Path) -> Photo:
        ahead, self._ahead = self._ahead, None
        following = self._next.get(path)
        if following is not None:
            self._ahead = (following, self._pool.submit(self._load, following))
        if ahead is not None and ahead[0] == path:
            return ahead[1].result()
        return self._load(path)

