"""Where an output came from: the source photo's metadata and one provenance record for every manifest.

``stack.json`` and ``fuse.json`` both start with :func:`provenance_record`, so a stack or an HDR image
names its source, the cevr version, the model and weights and the device the same way.
"""

from __future__ import annotations

import datetime as _dt
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from . import __version__
from .io.colour import ColourSpace
from .io.dng_opcodes import Opcode
from .io.exif import ExifInfo


@dataclass(frozen=True)
class SourceMetadata:
    """What outputs inherit from the source photo: capture facts (EXR header, manifests), EXIF bytes and
    ICC profile (carried into display images), its size and bit depth, and its colour space."""

    path: Path | None = None
    exif: ExifInfo | None = None
    exif_bytes: bytes | None = None
    icc_profile: bytes | None = None
    size: tuple[int, int] | None = None  # width, height
    bit_depth: int | None = None
    colour: ColourSpace | None = None
    translucent: float = 0.0  # fraction of pixels the dropped alpha channel made not fully opaque
    frames: int = 1  # images in the file; the first was read
    not_applied: tuple[Opcode, ...] = ()  # a DNG's opcodes the pixels lack (dng_opcodes.opcodes_not_applied)

    def warnings(self) -> list[str]:
        """What changed the pixels cevr works on and the user should know: an unconverted colour space,
        transparency dropped, the other images of a file holding several. (An unknown absolute exposure is not
        one: no output depends on it, and the manifests record ``source_ev100`` null; a folder of exported PNGs
        got one warning per file for it.)"""
        colour = self.colour.warning() if self.colour is not None else None
        alpha = (f"alpha channel dropped ({self.translucent:.1%} of the pixels were not opaque: they show their "
                 "stored colour)") if self.translucent else None
        frames = (f"holds {self.frames} images (an animation or a multi-page file): only the first is used"
                  if self.frames > 1 else None)
        required = [str(opcode) for opcode in self.not_applied if not opcode.optional]  # optional ones: recorded
        opcodes = (f"DNG opcodes not applied, its pixels lack their corrections: {', '.join(required)}"
                   if required else None)
        return [text for text in (colour, alpha, frames, opcodes) if text]

    def to_json(self) -> dict[str, Any]:
        return {
            "source": str(self.path.resolve()) if self.path else None,
            "source_size": list(self.size) if self.size else None,
            "source_bit_depth": self.bit_depth,
            "exif": self.exif.to_json() if self.exif is not None else None,
            "source_ev100": self.exif.exposure_value() if self.exif is not None else None,
            "colour": self.colour.to_json() if self.colour is not None else None,
            "dng_opcodes_not_applied": [str(opcode) for opcode in self.not_applied],
        }


class ModelInfo(Protocol):
    """What a predictor tells about itself (:class:`cevr_cli.model.CEVRPredictor` implements it)."""

    def describe(self) -> dict[str, Any]: ...


def provenance_record(source: SourceMetadata, model: ModelInfo | None = None) -> dict[str, Any]:
    """The common head of every manifest: cevr version, time, host, source facts, model and device."""
    record: dict[str, Any] = {
        "cevr_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        **source.to_json(),
    }
    if model is not None:
        record.update(model.describe())
    return record
