"""Batch pipelines behind `cevr fuse` and `cevr tonemap`: photo or stack folder -> HDR -> display image.

Per input, one output folder ``OUT/<name>/`` holds ``<name>.exr`` (or ``.hdr``), the tone-mapped
``<name>-<tmo>.png`` when asked, the response curve with ``--save-crf``, and ``fuse.json`` written last
(the marker that the folder is complete, so interrupted batches resume).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .batch import BatchReport, discover_inputs, plan_outputs, run_batch
from .errors import InputError, UsageError
from .io.atomic import atomic_write_text
from .io.exif import ExifInfo

FUSE_MANIFEST = "fuse.json"
STACK_MANIFEST = "stack.json"
HDR_SUFFIXES = (".exr", ".hdr")
LDR_WRITE_SUFFIX = {"png": ".png", "jpg": ".jpg", "tiff": ".tif"}


@dataclass(frozen=True)
class FuseOptions:
    evs: Sequence[float] = field(default_factory=lambda: [e * 0.5 for e in range(-6, 7)])
    tmo: str | None = "reinhard"
    hdr_format: str = "exr"
    half: bool = True
    compression: str = "zip"
    save_crf: bool = False
    keep_stack: bool = False
    overwrite: bool = False
    dry_run: bool = False
    recursive: bool = False


@dataclass(frozen=True)
class SourceMetadata:
    """What the fused outputs inherit from the source photo: capture facts for the EXR header, EXIF and
    ICC profile for the tone-mapped image."""

    exif: ExifInfo | None = None
    exif_bytes: bytes | None = None
    icc_profile: bytes | None = None

    @classmethod
    def of_stack(cls, folder: Path, manifest: dict[str, Any]) -> SourceMetadata:
        """From a `cevr stack` folder: facts from stack.json, EXIF/ICC from its first image (they carry them)."""
        from .io.images import read_image_metadata

        files = manifest.get("files") or []
        exif_bytes, icc = read_image_metadata(folder / files[0]) if files else (None, None)
        return cls(ExifInfo.from_json(manifest.get("exif")), exif_bytes, icc)


@dataclass(frozen=True)
class TonemapOptions:
    tmo: str = "reinhard"
    image_format: str = "png"
    key: float | None = None
    white: float | None = None
    gamma: float = 2.2
    srgb: bool = False
    overwrite: bool = False
    recursive: bool = False


def read_stack_folder(folder: Path) -> tuple[list[np.ndarray], list[float], dict[str, Any]]:
    """Images (uint8/uint16 RGB, as written) and EVs of a folder written by `cevr stack`."""
    import cv2

    manifest_path = folder / STACK_MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
        evs = [float(e) for e in manifest["evs"]]
        names = list(manifest["files"])
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(manifest_path, f"not a complete stack manifest ({exc})") from None
    images = []
    for name in names:
        image = cv2.imread(str(folder / name), cv2.IMREAD_UNCHANGED)
        if image is None or image.ndim != 3:
            raise InputError(folder / name, "missing or unreadable stack image")
        images.append(np.ascontiguousarray(image[..., 2::-1]))
    return images, evs, manifest


def _quantise(image: np.ndarray, bits: int) -> np.ndarray:
    levels = 2**bits - 1
    dtype = np.uint8 if bits == 8 else np.uint16
    return np.round(np.clip(image, 0.0, 1.0) * levels).astype(dtype)


def _fuse_into(folder: Path, name: str, images: list[np.ndarray], evs: list[float], options: FuseOptions,
               provenance: dict[str, Any], source: SourceMetadata) -> None:
    from .fuse import fuse_stack, tonemap_array_to_file, write_crf_csv, write_crf_plot, write_hdr_output

    started = time.monotonic()
    result = fuse_stack(images, evs)
    hdr_path = folder / f"{name}.{options.hdr_format}"
    attributes = source.exif.exr_attributes() if source.exif else None
    write_hdr_output(hdr_path, result.radiance, fmt=options.hdr_format, half=options.half,
                     compression=options.compression, attributes=attributes)
    written = [hdr_path.name]
    if options.save_crf:
        crf_path = folder / f"{name}-crf.csv"
        write_crf_csv(crf_path, result.response)
        write_crf_plot(crf_path.with_suffix(".png"), result.response)
        written += [crf_path.name, crf_path.with_suffix(".png").name]
    if options.tmo:
        ldr_path = folder / f"{name}-{options.tmo}.png"
        tonemap_array_to_file(result.radiance, ldr_path, options.tmo, exif_bytes=source.exif_bytes,
                              icc_profile=source.icc_profile)
        written.append(ldr_path.name)
    manifest = {**provenance, "exif": source.exif.to_json() if source.exif else None, "evs": evs,
                "outputs": written, "hdr": {"format": options.hdr_format, "half": options.half,
                                            "compression": options.compression, "encoding": "scene-linear Rec.709"},
                "merge": "Debevec & Malik 1997", "tmo": options.tmo, "seconds": round(time.monotonic() - started, 3)}
    atomic_write_text(folder / FUSE_MANIFEST, json.dumps(manifest, indent=2))


def run_fuse(
    inputs: Sequence[Path], out_dir: Path, options: FuseOptions, predictor_factory: Callable[[], Any],
    on_event: Callable[[str, Any], None] | None = None,
) -> BatchReport:
    """Fuse stack folders, or photos (stacked on the fly with the model), into HDR images."""
    if options.hdr_format not in HDR_SUFFIXES and f".{options.hdr_format}" not in HDR_SUFFIXES:
        raise UsageError(f"--format {options.hdr_format!r}: use exr or hdr")
    stack_folders = [p for p in inputs if p.is_dir() and (p / STACK_MANIFEST).is_file()]
    other = [p for p in inputs if p not in stack_folders]
    photos = discover_inputs(other, recursive=options.recursive) if other else []
    sources = stack_folders + photos
    if not sources:
        raise UsageError("nothing to fuse in " + ", ".join(str(p) for p in inputs))
    plan = plan_outputs(sources, out_dir, roots=list(inputs))
    predictor: list[Any] = []

    def job(source: Path, folder: Path) -> None:
        if source in stack_folders:
            images, evs, manifest = read_stack_folder(source)
            _fuse_into(folder, source.name, images, evs, options, {"source": str(source.resolve()),
                                                                   "stack": manifest.get("model")},
                       SourceMetadata.of_stack(source, manifest))
            return
        from .io.images import read_photo
        from .stack import StackOptions, write_stack

        if not predictor:
            predictor.append(predictor_factory())
        model = predictor[0]
        if options.keep_stack:
            manifest = write_stack(model, source, folder / "stack", StackOptions(options.evs),
                                   on_ev=(lambda ev: on_event("ev", ev)) if on_event else None)
            images, evs, _ = read_stack_folder(folder / "stack")
            metadata = SourceMetadata.of_stack(folder / "stack", manifest)
        else:
            photo = read_photo(source)
            images, evs = [], []
            for ev, image in model.iter_predictions(photo.rgb, options.evs):
                images.append(_quantise(image, 8))
                evs.append(ev)
                if on_event:
                    on_event("ev", ev)
            metadata = SourceMetadata(photo.exif, photo.exif_bytes, photo.icc_profile)
        _fuse_into(folder, source.stem, images, evs, options,
                   {"source": str(source.resolve()), "model": {"name": "CEVR", "weights_id": model.pair.weights_id},
                    "device": str(model.device)}, metadata)

    return run_batch(plan, job, overwrite=options.overwrite, dry_run=options.dry_run, on_event=on_event,
                     marker=FUSE_MANIFEST)


def run_tonemap(
    inputs: Sequence[Path], out_dir: Path, options: TonemapOptions,
    on_event: Callable[[str, Any], None] | None = None,
) -> BatchReport:
    """Tone-map every .exr/.hdr found in ``inputs`` into ``out_dir``."""
    from .fuse import tonemap_file

    if options.image_format not in LDR_WRITE_SUFFIX:
        raise UsageError(f"--format {options.image_format!r}: use png, jpg or tiff")
    files = discover_inputs(list(inputs), recursive=options.recursive, extensions=HDR_SUFFIXES)
    if not files:
        raise UsageError("no .exr or .hdr files found in " + ", ".join(str(p) for p in inputs))
    suffix = LDR_WRITE_SUFFIX[options.image_format]
    plan = {src: out_dir / f"{src.stem}-{options.tmo}{suffix}" for src in files}
    report_items = []
    for src, dst in plan.items():
        if on_event:
            on_event("start", src)
        report_items.append(_tonemap_one(src, dst, options, tonemap_file))
        if on_event:
            on_event("item", report_items[-1])
    return BatchReport(report_items)


def _tonemap_one(src: Path, dst: Path, options: TonemapOptions, tonemap_file: Callable[..., Any]) -> Any:
    from .batch import BatchItemResult
    from .errors import CevrError

    started = time.monotonic()
    if dst.exists() and not options.overwrite:
        return BatchItemResult(src, "skipped", dst, "already exists", 0.0)
    try:
        tonemap_file(src, dst, options.tmo, key=options.key, white=options.white, gamma=options.gamma,
                     srgb=options.srgb)
    except CevrError as exc:
        return BatchItemResult(src, "failed", dst, str(exc), time.monotonic() - started)
    return BatchItemResult(src, "done", dst, "", time.monotonic() - started)
