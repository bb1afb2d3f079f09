"""Stage 3, HDR image -> display image: `cevr tonemap`, and the tone-mapped image `cevr fuse` writes.

The operators are in ``hdr/`` (Reinhard et al. 2002, Kim & Kautz 2008, as Banterle's HDR Toolbox defines
them); this module reads HDR files, writes display images (8-bit PNG/JPEG, 16-bit TIFF, with the source's
EXIF and ICC profile when known) and runs batches on the shared engine. Each image of a batch records the
request that made it, so a rerun with another ``--gamma`` redoes it.

numpy and the operators are imported where they are used, so that the CLI reads :class:`TonemapOptions`
(its flags' one declaration) without them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .batch import (
    IN_PROCESS,
    BatchPolicy,
    BatchReport,
    Event,
    Job,
    Scale,
    discover_batch_inputs,
    is_dir_safely,
    marked_subfolders,
    plan_outputs,
    run_batch,
)
from .errors import OutputError, UsageError
from .io.atomic import check_writable
from .options import given, option, request_record, validate
from .vocabulary import (
    DISPLAY_FORMATS,
    DISPLAY_GAMMA,
    DISPLAY_GAMMA_RANGE,
    FUSE_MANIFEST,
    HDR_SUFFIXES,
    MAX_MEGAPIXELS,
    TONE_MAPPERS,
    TONEMAP_KEY_RANGE,
    TONEMAP_WHITE_RANGE,
)

if TYPE_CHECKING:
    import numpy as np

PathLike = str | os.PathLike[str]

# Display-image suffix -> bits per channel written.
DISPLAY_SUFFIX_BITS: dict[str, int] = {suffix: bits for suffix, bits in DISPLAY_FORMATS.values()} | {
    ".jpeg": 8, ".tiff": 16}


def _display_bits(dst: Path) -> int:
    bits = DISPLAY_SUFFIX_BITS.get(dst.suffix.lower())
    if bits is None:
        raise UsageError(f"{dst}: write display images as {', '.join(DISPLAY_SUFFIX_BITS)}")
    return bits


TMO_HELP = ("Tone mapping: " + "; ".join(f"{name} = {what}" for name, what in TONE_MAPPERS.items())
            + ". (OpenCV's TonemapReinhard is Reinhard & Devlin 2005, a different operator.)")


@dataclass(frozen=True)
class TonemapOptions:
    """What `cevr tonemap` is asked; each field is also its flag (:mod:`cevr_cli.options`)."""

    tmo: str = option("reinhard", TMO_HELP, choices=TONE_MAPPERS, request=True)
    image_format: str = option("png", "png/jpg 8-bit, tiff 16-bit.", flag="--format", choices=DISPLAY_FORMATS,
                               request=True)
    key: float | None = option(None, "Reinhard key (alpha); default: automatic.", ge=TONEMAP_KEY_RANGE[0],
                               le=TONEMAP_KEY_RANGE[1], request=True)
    white: float | None = option(None, "Reinhard white point; default: automatic.", ge=TONEMAP_WHITE_RANGE[0],
                                 le=TONEMAP_WHITE_RANGE[1], request=True)
    gamma: float = option(DISPLAY_GAMMA, "Display gamma (HDR Toolbox GammaTMO).", ge=DISPLAY_GAMMA_RANGE[0],
                          le=DISPLAY_GAMMA_RANGE[1], request=True)
    srgb: bool = option(False, "Encode with the sRGB curve instead of a plain gamma.", request=True)
    max_megapixels: float = option(MAX_MEGAPIXELS, "Refuse HDR images larger than this (told from the header).",
                                   gt=0)

    def __post_init__(self) -> None:
        validate(self)
        if self.tmo == "kimkautz" and (self.key is not None or self.white is not None):
            raise UsageError("--tmo kimkautz takes no --key or --white")
        if self.srgb and given(self, "gamma"):  # the sRGB curve has its own exponent: --gamma would be ignored
            raise UsageError(f"--srgb encodes with the sRGB curve, which takes no --gamma (got {self.gamma:g}): "
                             "give one or the other")


def tonemap_array_to_file(radiance: np.ndarray, dst: PathLike, operator: str, *, key: float | None = None,
                          white: float | None = None, gamma: float = DISPLAY_GAMMA, srgb: bool = False,
                          exif_bytes: bytes | None = None, icc_profile: bytes | None = None,
                          request: dict[str, Any] | None = None, made_from: dict[str, Any] | None = None) -> None:
    """Tone-map linear RGB and write it: 8-bit for .png/.jpg, 16-bit for .tif, atomically.

    ``exif_bytes`` / ``icc_profile`` (the source photo's), ``request`` (what made the image) and ``made_from``
    (the file it was made from) are carried
    as :func:`cevr_cli.io.images.write_ldr` allows, the EXIF marked as cevr's rendering (its Make is not
    the pixels' camera encoding any more).

    Raises:
        UsageError: unknown operator or output suffix.
        OutputError: the file cannot be written.
    """
    from .hdr.tonemap import tonemap_to_display
    from .io.exif import mark_rendered
    from .io.images import write_ldr

    dst = Path(dst)
    bits = _display_bits(dst)
    display = tonemap_to_display(radiance, operator, key=key, white=white, gamma=gamma, srgb=srgb)
    write_ldr(dst, display, bit_depth=bits, exif_bytes=mark_rendered(exif_bytes), icc_profile=icc_profile,
              request=request, made_from=made_from)


def reading_warning(src: Path, radiance: np.ndarray, non_finite: int) -> str | None:
    """One line naming ``src`` on what reading it made of its values (``radiance`` as read, ``non_finite`` pixels
    held NaN or Inf), or None: how many held NaN/Inf, or that no pixel holds positive light (the image is black).
    Never both: with no finite value above 0, +Inf has no brightest value to take and reads as 0, so "+Inf as the
    brightest finite value" and "every pixel is 0 or below" contradicted each other (an all-+Inf EXR said both)."""
    held = f"{non_finite} pixel{'s' * (non_finite != 1)} held NaN or Inf"
    if (radiance > 0).any():
        return f"{src}: {held} (NaN shown black, +Inf as the brightest finite value)" if non_finite else None
    if not non_finite:  # negatives read as 0: an image of nothing but them is black
        return f"{src}: holds no positive light (every pixel is 0 or below): the image is black"
    if non_finite == radiance[..., 0].size:  # as an all-NaN image: black, said once
        return f"{src}: no finite pixel (every pixel held NaN or Inf): the image is black"
    return f"{src}: holds no positive light ({held}, every other is 0 or below: no brightest finite value for +Inf " \
        "to take): the image is black"


def tonemap_file(src: PathLike, dst: PathLike, options: TonemapOptions,
                 on_warning: Callable[[str], None] | None = None) -> None:
    """Read an .exr/.hdr file, tone-map it as ``options`` ask and write a display image to ``dst`` that
    records them (:func:`cevr_cli.options.request_record`) and ``src`` (resolved: the batch tells namesakes apart
    by it).

    The capture facts an EXR's header holds (``cevr fuse`` writes the photo's there,
    :attr:`cevr_cli.io.hdrfile.HdrImage.capture`) go into the image's EXIF, marked as cevr's rendering.

    Pixels holding NaN/Inf are made finite (:mod:`cevr_cli.hdr.finite`: NaN -> 0, +Inf -> the brightest
    finite value) and ``on_warning`` is told, in one line naming ``src`` (:func:`reading_warning`), how many there
    were, or that no pixel holds positive light (the image is black).

    Raises:
        InputError: ``src`` unreadable.
        UsageError: unknown output suffix.
        OutputError: ``dst`` is ``src`` or cannot be written.
    """
    from .batch import input_record
    from .io.hdrfile import read_hdr_file

    src, dst = Path(src), Path(dst)
    _display_bits(dst)
    made = input_record(src)  # before it is read: a change while it is tone-mapped is seen by the next run
    if dst.exists() and src.exists() and dst.resolve() == src.resolve():
        raise OutputError(f"{dst}: refusing to overwrite the input")
    image = read_hdr_file(src, max_megapixels=options.max_megapixels)
    if on_warning and (warning := reading_warning(src, image.radiance, image.non_finite)):
        on_warning(warning)
    facts = image.capture
    tonemap_array_to_file(image.radiance, dst, options.tmo, key=options.key, white=options.white,
                          gamma=options.gamma, srgb=options.srgb, request=request_record(options),
                          made_from=made, exif_bytes=facts.rendered_exif() if facts is not None else None)


def with_fuse_folders(inputs: Sequence[Path], recursive: bool) -> list[Path]:
    """``inputs`` and, after each folder that holds the output folders of `cevr fuse` (one per photo, each with its
    :data:`FUSE_MANIFEST`), those folders: `cevr tonemap cevr-hdr/` takes fuse's output as it is, as `cevr fuse`
    takes stack's. Other subfolders are searched only with ``recursive``, which finds these anyway."""
    expanded: list[Path] = []
    for item in map(Path, inputs):
        expanded.append(item)
        if is_dir_safely(item) and not recursive:
            expanded += marked_subfolders(item, FUSE_MANIFEST)
    return expanded


def run_tonemap(
    inputs: Sequence[Path], out_dir: Path, options: TonemapOptions, policy: BatchPolicy,
    on_event: Callable[[str, Any], None] | None = None, scale: Scale = IN_PROCESS,
) -> BatchReport:
    """Tone-map every .exr/.hdr found in ``inputs`` (:func:`with_fuse_folders`) into ``out_dir/<name>-<tmo>.<ext>``.

    Names are collision-free as for every batch: ``a/x.exr`` and ``b/x.exr`` give ``a__x_exr-...`` and
    ``b__x_exr-...``. An image made by another request (another ``--gamma``...) is redone.
    """
    files = discover_batch_inputs(with_fuse_folders(inputs, policy.recursive), policy.recursive,
                                  "no .exr or .hdr files found", HDR_SUFFIXES, takes=FUSE_MANIFEST)
    suffix = DISPLAY_FORMATS[options.image_format][0]
    plan = plan_outputs(files, out_dir, roots=list(inputs), name_format=f"{{name}}-{options.tmo}{suffix}",
                        marker=None)
    if not policy.dry_run:
        check_writable(out_dir, folder=True)  # one clear line now, not a traceback after the first input

    from .io.images import check_input_file

    return run_batch(plan, TonemapJob(options), policy, marker=None, request=request_record(options),
                     on_event=on_event, scale=scale, check=lambda source: check_input_file(source, "an HDR image"))


@dataclass(frozen=True)
class TonemapJob:
    """Tone-maps one HDR file per call, in whatever process runs it (a :class:`JobFactory`)."""

    options: TonemapOptions
    accelerator: str = "cpu"

    def check(self) -> None:
        """Nothing to check: no model."""

    @contextmanager
    def open(self, emit: Event, order: Sequence[Path]) -> Iterator[Job]:
        yield lambda src, dst: tonemap_file(src, dst, self.options, on_warning=lambda text: emit("warning", text))
