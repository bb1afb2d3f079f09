"""EXIF facts a photographer cares about, and the exposure value they imply."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

_TAGS = {"Make": 0x010F, "Model": 0x0110, "Orientation": 0x0112, "DateTime": 0x0132}
_EXIF_IFD = 0x8769
_EXIF_TAGS = {"ExposureTime": 0x829A, "FNumber": 0x829D, "ISO": 0x8827, "DateTimeOriginal": 0x9003,
              "LensModel": 0xA434}


@dataclass
class ExifInfo:
    camera_make: str | None = None
    camera_model: str | None = None
    lens: str | None = None
    exposure_time: float | None = None
    f_number: float | None = None
    iso: float | None = None
    datetime_original: str | None = None
    orientation: int = 1

    def exposure_value(self) -> float | None:
        """EV at ISO 100: log2(N^2 / t) - log2(ISO / 100); None when any of the three is unknown."""
        if not self.exposure_time or not self.f_number or not self.iso:
            return None
        return math.log2(self.f_number**2 / self.exposure_time) - math.log2(self.iso / 100.0)

    def missing_exposure_fields(self) -> list[str]:
        names = {"exposure_time": self.exposure_time, "f_number": self.f_number, "iso": self.iso}
        return [name for name, value in names.items() if not value]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ev100": self.exposure_value()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> ExifInfo | None:
        """Inverse of :meth:`to_json` (as recorded in stack.json); None for no data."""
        if not data:
            return None
        return cls(**{f.name: data[f.name] for f in fields(cls) if data.get(f.name) is not None})

    def exr_attributes(self) -> dict[str, str | float]:
        """The known facts as OpenEXR standard attributes: ``capDate`` (EXIF's own "YYYY:MM:DD HH:MM:SS"
        format), ``expTime`` (s), ``aperture`` (f-number), ``isoSpeed``, and OpenEXR 3.2's ``cameraMake``,
        ``cameraModel`` and ``lensModel``."""
        values = {"capDate": self.datetime_original, "expTime": self.exposure_time, "aperture": self.f_number,
                  "isoSpeed": self.iso, "cameraMake": self.camera_make, "cameraModel": self.camera_model,
                  "lensModel": self.lens}
        return {k: (v if isinstance(v, str) else float(v)) for k, v in values.items() if v is not None}


def _number(value: Any) -> float | None:
    try:
        number = float(value[0] if isinstance(value, tuple) else value)
    except (TypeError, ValueError, ZeroDivisionError, IndexError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).strip("\x00 ").strip()
    return text or None


def exif_from_pillow(exif: Any) -> ExifInfo:
    """Build :class:`ExifInfo` from a Pillow ``Image.Exif`` mapping."""
    sub = exif.get_ifd(_EXIF_IFD) if hasattr(exif, "get_ifd") else {}
    orientation = exif.get(_TAGS["Orientation"], 1)
    return ExifInfo(
        camera_make=_text(exif.get(_TAGS["Make"])),
        camera_model=_text(exif.get(_TAGS["Model"])),
        lens=_text(sub.get(_EXIF_TAGS["LensModel"])),
        exposure_time=_number(sub.get(_EXIF_TAGS["ExposureTime"])),
        f_number=_number(sub.get(_EXIF_TAGS["FNumber"])),
        iso=_number(sub.get(_EXIF_TAGS["ISO"])),
        datetime_original=_text(sub.get(_EXIF_TAGS["DateTimeOriginal"]) or exif.get(_TAGS["DateTime"])),
        orientation=int(orientation) if isinstance(orientation, int) and 1 <= orientation <= 8 else 1,
    )


def read_exif(path: str | Path) -> ExifInfo | None:
    """EXIF of a JPEG/TIFF/PNG (and TIFF-based raws Pillow can parse); None when there is none."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            exif = im.getexif()
            # Inside the block: Pillow reads sub-IFDs (exposure, lens) lazily from the open file.
            return exif_from_pillow(exif) if exif else None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None
