"""Stage 1, photo -> exposure stack: `cevr stack` re-exposes each photo by every EV step.

Each photo is measured through its response (:mod:`cevr_cli.measure`) and its frames made by the exposure
model (:mod:`cevr_cli.exposure`: exact physics, the residual CEVR network where the photo clipped, or the
paper's CEVR). Each photo gets its own stack folder (format in :mod:`cevr_cli.stackdir`). Images are
written as they are made, one EV at a time, so a large photo's stack is never all in memory.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .batch import (
    IN_PROCESS,
    BatchPolicy,
    BatchReport,
    Event,
    Job,
    Scale,
    discover_batch_inputs,
    plan_outputs,
    run_batch,
)
from .exposure import ExposureModel, ModelJob, ModelSpec, batch_models
from .imaging import quantise
from .io.atomic import check_writable
from .io.images import Photo, check_input_file
from .machine import usable_cores
from .measure import MeasuredPhoto, read_measured, reads_linear
from .provenance import provenance_record
from .stackdir import STACK_MANIFEST, StackFolderWriter, frame_key
from .stage_options import StackOptions
from .values import ExposureStack


def default_encoders(model: ExposureModel) -> int:
    """Image-encoding threads beside inference: 2 on the CPU (on 2 cores a 13-EV 1024x683 stack took
    23.8-25.6 s with them, 24.9-29.7 s without: the encoders mostly use time the network leaves idle);
    beside a GPU, where encoding 13 PNGs of a 12 MP photo takes longer than computing them, up to 8."""
    if str(model.describe().get("device", "cpu")).startswith("cpu"):
        return 2
    return max(2, min(8, usable_cores()))


def measure(path: str | os.PathLike[str], options: StackOptions, read: Callable[[Path], Photo] | None = None
            ) -> MeasuredPhoto:
    """Decode and measure one photo as ``options`` ask (response, RAW mode, size limit)."""
    return read_measured(path, response=options.response, raw_mode=options.raw_mode,
                         max_megapixels=options.max_megapixels, read=read or options.read)


def predict_stack(model: ExposureModel, photo: MeasuredPhoto, evs: Sequence[float], *, bits: int | None = None,
                  on_ev: Callable[[float], None] | None = None) -> tuple[ExposureStack, dict[str, str]]:
    """The stack of a measured photo in memory, quantised to ``bits`` (default: the photo's), and how each
    frame was made (``{"-2.00": "exact ..."}``)."""
    bits = bits or photo.bits
    images, steps, how = [], [], {}
    for ev, frame, made in model.frames(photo.measured, evs):
        images.append(quantise(frame, bits))
        steps.append(ev)
        how[frame_key(ev)] = made
        if on_ev:
            on_ev(ev)
    return ExposureStack(images, steps, bits, photo.source), how


def write_stack(model: ExposureModel, photo_path: str | os.PathLike[str], folder: str | os.PathLike[str],
                options: StackOptions, on_ev: Callable[[float], None] | None = None,
                on_warning: Callable[[str], None] | None = None,
                read: Callable[[Path], Photo] | None = None) -> dict[str, Any]:
    """Measure one photo, make its frames and write them into ``folder``; returns the manifest written.

    ``read``: how the photo is decoded (default: :func:`read_photo` with the options' size limit; a batch
    passes a :class:`PhotoPrefetcher`'s ``read``). Camera RAW files in linear mode are always read here. Paths may
    be ``str`` or ``Path`` (a ``str`` folder raised TypeError: unsupported operand type(s) for /).
    """
    photo_path, folder = Path(photo_path), Path(folder)
    started = time.monotonic()
    photo = measure(photo_path, options, read)
    encoders = default_encoders(model) if options.encoders is None else options.encoders
    how = {}
    with StackFolderWriter(folder, list(options.evs), options.image_format, photo.source, encoders) as writer:
        for ev, frame, made in model.frames(photo.measured, options.evs):
            writer.add(ev, quantise(frame, writer.bits))  # codes wait for the encoders: a quarter of the memory
            how[frame_key(ev)] = made
            if on_ev:
                on_ev(ev)
        warnings = photo.source.warnings()
        for warning in warnings:
            if on_warning:
                on_warning(f"{photo_path}: {warning}")
        return writer.finish(provenance_record(photo.source, model), options.request(model), **photo.record(),
                             frames=how, warnings=warnings, seconds=round(time.monotonic() - started, 3))


def run_stack(
    inputs: Sequence[Path], out_dir: Path, model: ExposureModel | ModelSpec, options: StackOptions,
    policy: BatchPolicy, on_event: Callable[[str, Any], None] | None = None, scale: Scale = IN_PROCESS,
) -> BatchReport:
    """Stack every photo found in ``inputs`` into ``out_dir/<photo>/``; failures don't stop the batch.

    ``model``: loaded, or a :class:`ModelSpec` (needed when ``scale`` asks for workers, which load their own).
    """
    photos = discover_batch_inputs(inputs, policy.recursive, "no photos found")
    jobs_model = batch_models(model, scale)  # a weights problem: one error, before any output
    plan = plan_outputs(photos, out_dir, roots=list(inputs), marker=STACK_MANIFEST)
    if not policy.dry_run:
        check_writable(out_dir, folder=True)  # one clear line now, not a traceback after the first input
    job = StackJob(jobs_model, options)
    return run_batch(plan, job, policy, marker=STACK_MANIFEST, request=options.request(model), on_event=on_event,
                     scale=scale, check=check_input_file)


@dataclass(frozen=True)
class StackJob(ModelJob):
    """Stacks one photo per call into its folder, in whatever process runs it (a :class:`JobFactory`)."""

    model: ExposureModel | ModelSpec
    options: StackOptions

    @contextmanager
    def open(self, emit: Event, order: Sequence[Path]) -> Iterator[Job]:
        model = self.loaded_model()
        decoded_here = [p for p in order if not reads_linear(p, self.options.raw_mode)]
        with PhotoPrefetcher(decoded_here, self.options.read) as prefetcher:
            def job(photo: Path, folder: Path) -> None:
                write_stack(model, photo, folder, self.options,
                            on_ev=lambda ev: emit("ev", {"photo": photo, "ev": ev}),
                            on_warning=lambda text: emit("warning", text), read=prefetcher.read)

            yield job


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

