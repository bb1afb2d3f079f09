"""Colour management at decode time: photos with an embedded ICC profile are converted to sRGB.

cevr's working space is sRGB / Rec.709: the model was trained on sRGB photos, the tone mappers weight
luminance with Rec.709 coefficients and EXRs are labelled with Rec.709 chromaticities. A Display P3
photo from a phone decoded as if it were sRGB would be desaturated and mislabelled, so its pixels go
through littlecms (Pillow's ImageCms) into sRGB first.

Intent: relative colorimetric. Colours inside sRGB are kept exactly (the radiance cevr reconstructs is
meant to be colorimetric), and the matrix/TRC profiles that cameras and phones embed have no
perceptual tables anyway (littlecms would fall back to colorimetric). Colours outside sRGB, such as
P3's most saturated reds and greens, are clipped to the sRGB gamut: the working space is 8-bit sRGB.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np

SRGB = "sRGB"
CONVERTED = "converted to sRGB (littlecms, relative colorimetric; out-of-gamut colours clipped)"
UNCHANGED = "none: already sRGB"
ASSUMED = "none: no ICC profile, decoded as sRGB"
UNREADABLE = "none: unreadable ICC profile, decoded as sRGB"
NOT_RGB = "none: ICC profile is not an RGB profile, decoded as sRGB"
RAW_DEVELOPED = "developed to sRGB by LibRaw"
SIXTEEN_BIT = "none: 16-bit image, decoded as sRGB (Pillow's littlecms binding transforms 8-bit images only)"
# Largest difference, in 8-bit codes, for which a profile's transform to sRGB counts as the identity.
IDENTITY_TOLERANCE = 1


@dataclass(frozen=True)
class ColourSpace:
    """The colour space a photo was encoded in and what decoding did about it (recorded in manifests)."""

    source: str  # the ICC profile's description, or "sRGB" for an untagged photo
    conversion: str  # one of the module's constants: CONVERTED, UNCHANGED, ...

    def warning(self) -> str | None:
        """One line when the pixels may be in another colour space than sRGB and were not converted."""
        if self.conversion == UNREADABLE:
            return "unreadable ICC profile: decoded as sRGB, colours may be off"
        if self.conversion in (NOT_RGB, SIXTEEN_BIT):
            return f"ICC profile {self.source!r} not applied ({self.conversion.removeprefix('none: ')})"
        return None

    def to_json(self) -> dict[str, str]:
        return {"source_colour_space": self.source, "colour_conversion": self.conversion}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ColourSpace | None:
        """Inverse of :meth:`to_json` (as recorded in stack.json); None when not recorded."""
        if not data or "source_colour_space" not in data or "colour_conversion" not in data:
            return None
        return cls(str(data["source_colour_space"]), str(data["colour_conversion"]))


def _probe() -> np.ndarray:
    """Every grey level and every level of each primary and secondary: 7 x 256 RGB codes."""
    ramp = np.arange(256, dtype=np.uint8)
    axes = [(1, 1, 1), (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (0, 1, 1), (1, 0, 1)]
    return np.stack([ramp[:, None] * np.array(a, dtype=np.uint8) for a in axes])


def _apply(transform: Any, codes: np.ndarray) -> np.ndarray:
    from PIL import Image, ImageCms

    return np.asarray(ImageCms.applyTransform(Image.fromarray(codes, "RGB"), transform))


def to_srgb(codes: np.ndarray, icc_profile: bytes | None) -> tuple[np.ndarray, ColourSpace, bytes | None]:
    """Convert RGB codes (HxWx3 uint8 or uint16) from their embedded profile to sRGB.

    Returns the codes, what was done, and the ICC profile outputs should carry: the source's whenever the
    pixels are unchanged (outputs are encoded as the input was, whatever the profile means), None once
    they were converted (untagged means sRGB) or where the profile cannot be read (the pixels were taken as
    sRGB, and a viewer must not apply the damaged profile to the outputs).
    A profile whose transform to sRGB is the identity within one code (an sRGB profile by any name)
    leaves the pixels untouched. A damaged profile never fails the decode: the photo is read as sRGB
    and :meth:`ColourSpace.warning` says so.
    """
    from PIL import ImageCms

    if not icc_profile:
        return codes, ColourSpace(SRGB, ASSUMED), None
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        name = (ImageCms.getProfileDescription(profile) or "").strip() or "unnamed ICC profile"
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return codes, ColourSpace("unreadable ICC profile", UNREADABLE), None
    if profile.profile.xcolor_space.strip() != "RGB":
        return codes, ColourSpace(name, NOT_RGB), icc_profile
    try:
        transform = ImageCms.buildTransform(profile, ImageCms.createProfile("sRGB"), "RGB", "RGB",
                                            renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC)
        probe = _probe()
        identity = int(np.abs(_apply(transform, probe).astype(np.int16) - probe).max()) <= IDENTITY_TOLERANCE
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return codes, ColourSpace(name, UNREADABLE), None
    if identity:
        return codes, ColourSpace(name, UNCHANGED), icc_profile
    if codes.dtype != np.uint8:
        return codes, ColourSpace(name, SIXTEEN_BIT), icc_profile
    return _apply(transform, np.ascontiguousarray(codes)), ColourSpace(name, CONVERTED), None
