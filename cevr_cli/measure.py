"""Stage 0, photo file -> what it measured: the decoded pixels read through the photo's response.

A camera RAW in linear mode gives its linear sensor data and the sensor's own clipping mask (frames are
sRGB-encoded); every other photo (JPEG, PNG, TIFF, HEIF, a RAW developed with ``--raw-mode cevr``) gives its
display-encoded codes read through the response ``--response`` names or ``auto`` picks from its EXIF
(:func:`cevr_cli.response.choose_response`). Both stages start here: ``stack`` makes frames of the
measurement, ``fuse`` its HDR image.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError
from .exposure import MeasuredImage, measure_linear, measure_photo
from .io.images import Photo, read_photo
from .provenance import SourceMetadata
from .response import LINEAR, SRGB, ResponseChoice, choose_response
from .vocabulary import LOSSY_SUFFIXES, RAW_SUFFIXES


@dataclass
class MeasuredPhoto:
    """One photo's measurement, the response it was read with and why, and the metadata outputs inherit.

    ``bits``: the depth of stacks made from it (8 for 8-bit photos, 16 for 16-bit images and RAW data).
    ``raw``: what stack.json / fuse.json record about RAW linear data (mode, clipped fraction, white level).
    """

    measured: MeasuredImage
    choice: ResponseChoice
    source: SourceMetadata
    bits: int
    raw: dict[str, Any] | None = None

    def record(self) -> dict[str, Any]:
        """The manifest fields this measurement adds: the response (and why), RAW facts."""
        from .batch import DEPENDENCIES_KEY, dependency_record

        record: dict[str, Any] = {"response": self.choice.describe(),
                                  "clipped_fraction": round(self.measured.clipped_fraction, 6)}
        if self.raw is not None:
            record["raw"] = self.raw
        if self.choice.depends_on:
            record[DEPENDENCIES_KEY] = dependency_record(self.choice.depends_on)
        return record


def is_raw(path: Path) -> bool:
    return path.suffix.lower() in RAW_SUFFIXES


def reads_linear(path: Path, raw_mode: str) -> bool:
    """Whether :func:`read_measured` reads ``path`` itself, as linear RAW data (no ``read`` function is used:
    a batch's prefetcher must not decode it)."""
    return raw_mode == "linear" and is_raw(path)


def photo_source(photo: Photo) -> SourceMetadata:
    return SourceMetadata(photo.path, photo.exif, photo.exif_bytes, photo.icc_profile,
                          (photo.rgb.shape[1], photo.rgb.shape[0]), photo.bit_depth, photo.colour,
                          photo.translucent, photo.frames, photo.not_applied)


def read_measured(path: str | os.PathLike[str], *, response: str | os.PathLike[str], raw_mode: str,
                  max_megapixels: float, read: Callable[[Path], Photo] | None = None) -> MeasuredPhoto:
    """Decode ``path`` and measure it. ``read``: how non-RAW-linear photos are decoded (a batch's prefetcher).

    Raises:
        InputError: the file cannot be decoded. UsageError: a bad ``response``.
    """
    path = Path(path)
    if reads_linear(path, raw_mode):
        from .io.raw import read_raw_linear

        raw = read_raw_linear(path, max_megapixels=max_megapixels)
        h, w = raw.linear.shape[:2]
        source = SourceMetadata(raw.path, raw.exif, raw.exif.rendered_exif(), None, (w, h), 16,
                                not_applied=raw.not_applied)
        reason = "camera RAW: linear sensor data, frames sRGB-encoded"
        if response not in ("auto", "linear"):
            reason += f" (--response {response} applies to encoded photos; --raw-mode cevr to use it)"
        choice = ResponseChoice(LINEAR, reason)
        record = {"mode": "linear", "clipped_fraction": round(raw.clipped_fraction, 6),
                  "white_level": raw.white_level}
        return MeasuredPhoto(measure_linear(raw.linear, raw.clipped), choice, source, 16, record)
    photo = (read or (lambda p: read_photo(p, max_megapixels=max_megapixels)))(path)
    exif = photo.exif
    if is_raw(path):  # --raw-mode cevr: LibRaw's sRGB rendering, re-exposed like any photo
        choice = ResponseChoice(SRGB, "camera RAW developed to sRGB (--raw-mode cevr)") if response == "auto" \
            else choose_response(response, raw=False, make=None, model=None)
    else:
        try:
            choice = choose_response(response, raw=False, make=exif.camera_make if exif else None,
                                     model=exif.camera_model if exif else None,
                                     software=exif.software if exif else None)
        except InputError as exc:  # only an installed profile is read here; --response files were checked
            raise InputError(path, f"its camera's installed profile {exc}: recalibrate it (cevr calibrate "
                                   "--install) or delete it") from None
    bits = 8 if photo.bit_depth <= 8 else 16
    lossy = path.suffix.lower() in LOSSY_SUFFIXES
    return MeasuredPhoto(measure_photo(photo.rgb, choice.response, bits, lossy), choice, photo_source(photo), bits)
