"""Stage 2, exposure stack -> HDR image: `cevr fuse` merges stacks with Debevec & Malik 1997.

The response g is recovered from the stack and the stack merged with Eq. 6 (``hdr/debevec1997.py``, our
own calibration and per-channel merge). The EVs are relative, so exposure times are dt = 2^EV and the
radiance is relative too (E = 1 is what EV 0 records at the middle code). Stacks come from `cevr stack`
folders, or are made on the fly from photos at the photo's own bit depth (8 or 16 bits).

Per input, one output folder ``OUT/<name>/`` holds ``<name>.exr`` (or ``.hdr``), the tone-mapped
``<name>-<tmo>.png`` when asked, the response curve with ``--save-crf``, and ``fuse.json`` written last.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from .batch import (
    IN_PROCESS,
    BatchPolicy,
    BatchReport,
    Event,
    Job,
    Scale,
    discover_inputs,
    fruitless_folders,
    is_dir_safely,
    is_stage_output,
    marked_folders_below,
    marked_subfolders,
    nothing_found,
    plan_outputs,
    resolved,
    run_batch,
    with_file_sizes,
)
from .errors import InputError, UsageError, use_one_of
from .exposure import ExposureModel, ModelJob, ModelSpec, batch_models
from .hdr.debevec1997 import ResponseCurve, merge_radiance, recover_response
from .imaging import quantise
from .io.atomic import atomic_write_text, check_writable
from .io.images import check_input_file, read_photo
from .measure import MeasuredPhoto, read_measured, reads_linear
from .provenance import provenance_record
from .response import Response
from .stack import PhotoPrefetcher, predict_stack
from .stackdir import STACK_MANIFEST, frame_key, is_stack_folder, read_stack_folder, save_stack_folder
from .stage_options import FuseOptions
from .values import ExposureStack, HDRImage
from .vocabulary import EXR_COMPRESSION, FUSE_MANIFEST, HDR_FORMATS

PathLike = str | os.PathLike[str]

KEPT_STACK = "stack"  # the subfolder of a fuse output where --keep-stack puts the photo's stack
MERGE_METHOD = "Debevec & Malik 1997: cevr's response recovery (Eq. 3) and per-channel merge (Eq. 6)"
MEASURED_METHOD = ("measured: the photo's light R^-1(x) through its response where it did not clip; clipped pixels "
                   "the model's light (the one every darker frame re-exposes; for a model of separate frames, their "
                   "Debevec & Malik Eq. 6 merge with the known response)")


@dataclass(frozen=True)
class FuseResult:
    """A fused stack: float32 HxWx3 relative radiance, the recovered response, the dt used."""

    radiance: np.ndarray
    response: ResponseCurve
    exposure_times: np.ndarray


def exposure_times_from_evs(evs: Sequence[float]) -> np.ndarray:
    """dt_j = 2^EV_j relative to EV 0; EVs must be finite and distinct.

    Raises:
        UsageError: EVs that are not numbers, non-finite or repeated EVs.
    """
    try:
        ev = np.asarray(evs, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):  # ['a'], [None], [[1], [2, 3]]: numpy's own error, not the library's
        raise UsageError(f"EVs must be numbers, got {evs!r}") from None
    if not np.all(np.isfinite(ev)):
        raise UsageError("EVs must be finite numbers")
    if np.unique(ev).size != ev.size:
        raise UsageError("EVs must be distinct: each exposure needs its own EV")
    with np.errstate(over="ignore", under="ignore"):  # EV 2000: numpy's overflow warning, then "exposure times"
        times = np.exp2(ev)
    if not np.all(np.isfinite(times) & (times > 0)):
        beyond = float(ev[~(np.isfinite(times) & (times > 0))][0])
        raise UsageError(f"EV {beyond:g}: 2^EV is beyond what a float holds; EVs are stops from the EV 0 frame")
    return times


def fuse_stack(images: Sequence[np.ndarray], evs: Sequence[float]) -> FuseResult:
    """Merge an exposure stack (uint8 or uint16 HxWx3 RGB, one EV each) into a radiance map.

    Raises:
        UsageError: fewer than two images, EV count mismatch, mixed shapes or dtypes.
    """
    if len(images) != len(evs):
        raise UsageError(f"{len(images)} images but {len(evs)} EVs")
    times = exposure_times_from_evs(evs)
    response = recover_response(images, times)
    return FuseResult(merge_radiance(images, times, response), response, times)


def fuse(stack: ExposureStack) -> HDRImage:
    """The HDR image of an exposure stack."""
    result = fuse_stack(stack.images, stack.evs)
    return HDRImage(result.radiance, result.response, stack.source)


def write_hdr_output(path: PathLike, radiance: np.ndarray, fmt: str = "exr", *, half: bool = True,
                     compression: str = EXR_COMPRESSION, attributes: Mapping[str, str | float] | None = None) -> None:
    """Write ``radiance`` as OpenEXR (``half``/``compression``/``attributes`` apply) or Radiance .hdr, atomically.

    Raises:
        UsageError: unknown format or compression, a name whose suffix is not the format's.
        OutputError: the file cannot be written.
    """
    from .io.hdrfile import write_exr, write_radiance_hdr

    fmt = fmt.lower().lstrip(".")
    if fmt == "exr":
        write_exr(path, radiance, half=half, compression=compression, attributes=attributes)
    elif fmt == "hdr":
        write_radiance_hdr(path, radiance)
    else:
        raise UsageError(f"HDR format {fmt!r}: {use_one_of(fmt, HDR_FORMATS)}")


def write_crf_csv(path: PathLike, response: ResponseCurve) -> None:
    """Write the response as CSV: code, then g = ln(E dt) for R, G, B (Debevec & Malik Eq. 2)."""
    lines = ["code,g_r,g_g,g_b"]
    lines += [f"{code:g},{r:.6f},{g:.6f},{b:.6f}" for code, (r, g, b) in zip(response.codes, response.g,
                                                                            strict=True)]
    atomic_write_text(path, "\n".join(lines) + "\n")


_PLOT_SCALE, _PLOT_INK = 0.4, (40, 40, 40)  # small dark-grey labels
_PLOT_TICKS = 5


def write_crf_plot(path: PathLike, response: ResponseCurve, *, size: tuple[int, int] = (512, 384)) -> None:
    """Draw g(code) per channel as a PNG with OpenCV, atomically: x = pixel code (0 .. the top code), y = ln
    exposure (g = ln E dt, Debevec & Malik Eq. 2), each axis labelled with its name and tick values.

    Raises:
        OutputError: the file cannot be written.
    """
    import cv2

    from .io.images import write_ldr

    width, height = size
    left, right, top, bottom = 52, 12, 12, 36  # room for the y tick values and label, the x ticks and label
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    g = response.g
    lo, hi = float(g.min()), float(g.max())
    span = hi - lo if hi > lo else 1.0
    top_code = float(response.codes[-1])

    def at_x(code: float) -> int:
        return round(left + code / top_code * (width - left - right))

    def at_y(value: float) -> int:
        return round(height - bottom - (value - lo) / span * (height - top - bottom))

    def text(label: str, x: int, y: int, image: np.ndarray = canvas) -> None:
        cv2.putText(image, label, (x, y), cv2.FONT_HERSHEY_SIMPLEX, _PLOT_SCALE, _PLOT_INK, 1, cv2.LINE_AA)

    def text_width(label: str) -> int:
        return cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, _PLOT_SCALE, 1)[0][0]

    cv2.rectangle(canvas, (left, top), (width - right, height - bottom), (160, 160, 160), 1)
    for tick in np.linspace(0.0, 1.0, _PLOT_TICKS):
        code, value = min(tick * (top_code + 1), top_code), lo + tick * span  # 0, 64, 128, 192, 255
        x, y = at_x(code), at_y(value)
        cv2.line(canvas, (x, height - bottom), (x, height - bottom + 3), _PLOT_INK, 1)
        text(f"{code:.0f}", min(x - text_width(f"{code:.0f}") // 2, width - 1 - text_width(f"{code:.0f}")),
             height - bottom + 14)
        cv2.line(canvas, (left - 3, y), (left, y), _PLOT_INK, 1)
        text(f"{value:.1f}", left - 5 - text_width(f"{value:.1f}"), y + 4)
    text("code", (left + width - right) // 2 - text_width("code") // 2, height - 6)
    label = "ln exposure"
    strip = np.full((14, text_width(label) + 2, 3), 255, dtype=np.uint8)  # drawn level, then turned upright
    text(label, 1, 10, strip)
    strip = np.ascontiguousarray(np.rot90(strip))
    y0 = max(0, (top + height - bottom) // 2 - strip.shape[0] // 2)
    strip = strip[: height - y0]
    canvas[y0 : y0 + strip.shape[0], 2 : 2 + strip.shape[1]] = strip
    for c, rgb in enumerate(((220, 0, 0), (0, 160, 0), (0, 0, 220))):
        points = np.array([(at_x(code), at_y(value)) for code, value in zip(response.codes, g[:, c], strict=True)],
                          dtype=np.int32).reshape(-1, 1, 2)
        cv2.polylines(canvas, [points], isClosed=False, color=rgb, thickness=1, lineType=cv2.LINE_AA)
    write_ldr(Path(path), canvas, bit_depth=8)


def write_fused(folder: Path, name: str, hdr: HDRImage, options: FuseOptions, provenance: dict[str, Any],
                request: dict[str, Any], evs: Sequence[float], started: float, merge: str = MERGE_METHOD,
                also_written: Sequence[str] = ()) -> None:
    """The HDR file, response curve, tone-mapped image and, last, ``fuse.json``, which lists them and
    ``also_written`` (the kept stack's manifest, ``stack/stack.json``)."""
    from .tonemap import tonemap_array_to_file

    hdr_path = folder / f"{name}.{options.hdr_format}"
    attributes = hdr.source.exif.exr_attributes() if hdr.source.exif else None
    write_hdr_output(hdr_path, hdr.radiance, fmt=options.hdr_format, half=options.half,
                     compression=options.compression, attributes=attributes)
    written = [hdr_path.name]
    if options.save_crf and hdr.response is not None:
        crf_path = folder / f"{name}-crf.csv"
        write_crf_csv(crf_path, hdr.response)
        write_crf_plot(crf_path.with_suffix(".png"), hdr.response)
        written += [crf_path.name, crf_path.with_suffix(".png").name]
    if options.tone_mapper:
        ldr_path = folder / f"{name}-{options.tone_mapper}.png"
        tonemap_array_to_file(hdr.radiance, ldr_path, options.tone_mapper, exif_bytes=hdr.source.exif_bytes,
                              icc_profile=hdr.source.icc_profile)
        written.append(ldr_path.name)
    written += also_written
    manifest = {**provenance, "evs": [float(e) for e in evs], "outputs": written,
                "hdr": _hdr_record(options),
                "merge": merge, "tmo": options.tone_mapper, "request": request,
                "seconds": round(time.monotonic() - started, 3)}
    atomic_write_text(folder / FUSE_MANIFEST, json.dumps(with_file_sizes(folder, manifest), indent=2))


def _hdr_record(options: FuseOptions) -> dict[str, Any]:
    """How the HDR file is stored: an EXR's sample type and compression; a Radiance file has neither (RGBE)."""
    if options.hdr_format != "exr":
        return {"format": options.hdr_format,
                "encoding": "scene-linear Rec.709, RGBE (8-bit mantissas, shared exponent)"}
    return {"format": "exr", "half": options.half, "compression": options.compression,
            "encoding": "scene-linear Rec.709"}


def fuse_photo(
    model: ExposureModel, photo: MeasuredPhoto, options: FuseOptions, on_ev: Callable[[float], None] | None = None,
) -> tuple[HDRImage, str, ExposureStack | None, dict[str, str]]:
    """The HDR image of one measured photo, how it was merged, and (``keep_stack``) its stack and frame sources;
    ``on_ev`` hears of each frame the paper's merge makes (the measured merge is one step).

    ``model`` makes the frames, and the merge ``auto`` follows it, whatever ``options.model`` says
    (:meth:`FuseOptions.for_model`): Debevec's for the paper's model on a photo, else the measured merge.
    Measured merge: the model's own HDR image (:meth:`ExposureModel.hdr`); with ``keep_stack`` the same model
    pass makes the stack.

    Raises:
        UsageError: one EV for the paper's model (its merge recovers the response from the stack).
    """
    options = options.for_model(model)
    merge = options.merge_for(photo)
    if merge == "debevec":
        stack, how = predict_stack(model, photo, options.evs, on_ev=on_ev)
        return fuse(stack), MERGE_METHOD, stack if options.keep_stack else None, how
    radiance, frames = model.hdr(photo.measured, options.evs, options.keep_stack)
    stack = None
    if options.keep_stack:
        stack = ExposureStack([quantise(f, photo.bits) for _, f, _ in frames], [ev for ev, _, _ in frames],
                              photo.bits, photo.source)
    # the photo's response (fuse.json's ``response``), not the frames' encoding: a RAW file's linear data is its light
    # as it is (response ``linear``), though its frames, and the model's frames that fill its clipped region, are
    # sRGB-encoded; ``--save-crf`` wrote that sRGB curve until 2026-12-07
    hdr = HDRImage(radiance, known_response_curve(photo.choice.response, photo.bits), photo.source)
    return hdr, MEASURED_METHOD, stack, {frame_key(ev): m for ev, _, m in frames}


def known_response_curve(response: Response, bits: int) -> ResponseCurve:
    """The response a measured merge used, in Debevec & Malik's form (g = ln R^-1(z), g(middle code) = 0) so that
    ``--save-crf`` writes and plots it like a recovered one; 256 levels (bin centres for 16-bit photos)."""
    top = 2**bits - 1
    codes = np.linspace(0, top, 256) if bits > 8 else np.arange(256, dtype=np.float64)
    linear = response.decode(np.repeat((codes / top)[:, None], 3, axis=1)).astype(np.float64)
    g = np.log(np.maximum(linear, 1e-6))
    return ResponseCurve(g - g[len(codes) // 2], codes, bits)


def find_fuse_sources(inputs: Sequence[Path], recursive: bool) -> tuple[list[Path], list[Path]]:
    """(stack folders, photos) among ``inputs``: stack folders, folders of stack folders, photos, folders of photos.
    A stack folder met twice (given, and found in a folder given) is one. The output folder of another stage (fuse's
    own, holding the stack ``--keep-stack`` kept) is not searched: it fails by name as a photo would."""
    stacks: dict[Path, Path] = {}  # resolved -> as met
    others: list[Path] = []
    for item in inputs:
        if is_stack_folder(item):
            stacks.setdefault(resolved(item), item)
        elif is_dir_safely(item) and not is_stage_output(item) and (
                inner := marked_folders_below(item, STACK_MANIFEST) if recursive
                else marked_subfolders(item, STACK_MANIFEST)):  # a `cevr stack -o` folder
            for folder in inner:
                if is_stack_folder(folder):
                    stacks.setdefault(resolved(folder), folder)
                else:  # one that cannot be looked into: it fails by name where its photos are sought
                    others.append(folder)
            others.append(item)  # and the photos beside them, if any
        else:
            others.append(item)
    photos = discover_inputs(others, recursive=recursive) if others else []
    return list(stacks.values()), photos


def no_darker_frame_warning(options: FuseOptions, photos: Sequence[Path]) -> str | None:
    """What to say when ``options`` (their model the one that runs) ask the paper's model for a measured merge with no
    EV below 0: that merge fills clipped pixels from the model's frames at the requested darker EVs
    (:func:`cevr_cli.exposure.merge_own_frames`), so with none the hue fill alone fills them and the network adds
    nothing, silently. (The residual model fills from darker frames of its own, whatever ``--evs`` holds.)"""
    if not photos or options.model != "cevr-paper" or any(ev < 0 for ev in options.evs):
        return None
    if all(options.merge_for_source(reads_linear(p, options.raw_mode)) != "measured" for p in photos):
        return None  # the paper's Debevec merge: the network makes every frame
    return (f"--evs {','.join(f'{ev:g}' for ev in options.evs)} has no darker frame: the model does not fill "
            "clipped highlights in the measured merge (the hue fill alone does); add negative EVs (e.g. -3:3:0.5)")


def run_fuse(
    inputs: Sequence[PathLike], out_dir: PathLike, options: FuseOptions, model: ExposureModel | ModelSpec,
    policy: BatchPolicy, on_event: Callable[[str, Any], None] | None = None, scale: Scale = IN_PROCESS,
) -> BatchReport:
    """Fuse stack folders, or photos (measured, and stacked where the merge needs it), into HDR images.

    A :class:`ModelSpec` is checked before any photo is touched and loaded once, only when there are photos left
    to fuse: a missing or broken weights file is one error, not one per photo (workers, ``scale``, load their own
    copy).
    Photos are decoded one ahead (``PhotoPrefetcher``). Paths may be ``str`` or ``Path`` (``str`` inputs raised
    AttributeError: 'str' object has no attribute 'is_dir').
    """
    inputs, out_dir = [Path(item) for item in inputs], Path(out_dir)
    stack_folders, photos = find_fuse_sources(inputs, policy.recursive)
    if not stack_folders and not photos:
        deeper = [] if policy.recursive else [path for found in find_fuse_sources(inputs, True) for path in found]
        raise nothing_found("nothing to fuse", inputs, deeper, takes=STACK_MANIFEST)
    photos += fruitless_folders(inputs, stack_folders + photos)  # each fails by name, as in stack and tonemap
    jobs_model = batch_models(model, scale) if photos else None
    plan = plan_outputs(stack_folders + photos, out_dir, roots=list(inputs), marker=FUSE_MANIFEST)
    if not policy.dry_run:
        check_writable(out_dir, folder=True)  # one clear line now, not a traceback after the first input
    request, stack_request = options.request(model if photos else None), options.stack_folder_request()
    ignored = options.photo_only_flags() if stack_folders else []
    if ignored and on_event:
        on_event("warning", f"{', '.join(ignored)}: for photos only; the {len(stack_folders)} stack folder(s) are "
                            "fused as they are, by Debevec & Malik's merge of their own frames")
    unfilled = no_darker_frame_warning(options.for_model(model), photos)
    if unfilled and on_event:
        on_event("warning", unfilled)
    names = {source: folder.name for source, folder in plan.items()}
    job = FuseJob(jobs_model, options, request, frozenset(stack_folders), stack_request, names)
    return run_batch(plan, job, policy, marker=FUSE_MANIFEST, on_event=on_event, scale=scale,
                     request=lambda source: stack_request if source in job.stack_folders else request,
                     keep_earlier=True,  # another --tmo adds its image beside the earlier one
                     check=lambda source: None if source in job.stack_folders else check_input_file(source))


@dataclass(frozen=True)
class FuseJob(ModelJob):
    """Fuses one stack folder or photo per call, in whatever process runs it (a :class:`JobFactory`)."""

    model: ExposureModel | ModelSpec | None  # None: only stack folders to fuse
    options: FuseOptions
    request: dict[str, Any]
    stack_folders: frozenset[Path]
    stack_request: dict[str, Any]  # what a stack folder's fuse.json records (FuseOptions.stack_folder_request)
    # each input's output folder name, which its files take too (cevr-hdr/a__IMG_1/a__IMG_1.exr): named after the
    # photo instead, IMG_1.JPG in a/ and b/ both gave IMG_1.exr, and a photo and its stack folder differed
    names: Mapping[Path, str]

    @contextmanager
    def open(self, emit: Event, order: Sequence[Path]) -> Iterator[Job]:
        model = self.loaded_model()
        options = self.options
        decoded_here = [p for p in order
                        if p not in self.stack_folders and not reads_linear(p, options.raw_mode)]
        with PhotoPrefetcher(decoded_here, partial(read_photo, max_megapixels=options.max_megapixels)) as prefetcher:
            def job(source: Path, folder: Path) -> None:
                started = time.monotonic()
                if source in self.stack_folders:
                    stack = read_stack_folder(source, max_megapixels=options.max_megapixels)
                    if len(stack.evs) == 1:  # `cevr stack --evs 0`: said here, where the folder and the way out are
                        raise InputError(source, f"a stack of one frame (EV {stack.evs[0]:+g}): Debevec & Malik's "
                                                 "merge needs two or more exposures; stack the photo with several EVs "
                                                 "(--evs -3:3:0.5), or fuse the photo itself")
                    record = {**provenance_record(stack.source), "stack": str(source.resolve())}
                    write_fused(folder, self.names[source], fuse(stack), options, record,
                                self.stack_request, stack.evs, started)
                    return
                assert model is not None  # photos imply a model
                photo = read_measured(source, response=options.response, raw_mode=options.raw_mode,
                                      max_megapixels=options.max_megapixels, read=prefetcher.read)
                for warning in photo.source.warnings():
                    emit("warning", f"{source}: {warning}")
                hdr, merge, stack, how = fuse_photo(model, photo, options,
                                                    lambda ev: emit("ev", {"photo": source, "ev": ev}))
                record = {**provenance_record(photo.source, model), **photo.record()}
                kept_stack: list[str] = []
                if stack is not None:
                    save_stack_folder(folder / KEPT_STACK, stack, {**record, "frames": how},
                                      options.stack_options(photo.bits).request(model))
                    kept_stack.append(f"{KEPT_STACK}/{STACK_MANIFEST}")
                del photo, stack  # the photo's measured arrays (1 GB at 24 MP) are not held while it tone-maps
                write_fused(folder, self.names[source], hdr, options, record, self.request, options.evs, started,
                            merge, kept_stack)

            yield job
