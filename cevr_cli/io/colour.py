"""Colour management at decode time: photos with an embedded ICC profile are converted to sRGB.

cevr's working space is sRGB / Rec.709: the model was trained on sRGB photos, the tone mappers weight
luminance with Rec.709 coefficients and EXRs are labelled with Rec.709 chromaticities. A Display P3
photo from a phone decoded as if it were sRGB would be desaturated and mislabelled, so its pixels go
through littlecms (Pillow's ImageCms) into sRGB first.

Intent: relative colorimetric. Colours inside sRGB are kept exactly (the radiance cevr reconstructs is
meant to be colorimetric), and the matrix/TRC profiles that cameras and phones embed have no
perceptual tables anyway (littlecms would fall back to colorimetric). Colours outside sRGB, such as
P3's most saturated reds and greens, are clipped to the sRGB gamut: the working space is 8-bit sRGB.

The chromaticity arithmetic (a colour space's primaries and white to XYZ, SMPTE RP 177; Bradford adaptation) is
here too, for what describes colour without a profile: an EXR's chromaticities header, an nclx box (HEIF).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import numpy as np

from ..errors import UsageError
from ..imaging import srgb_decode, srgb_encode

SRGB = "sRGB"
CONVERTED = "converted to sRGB (littlecms, relative colorimetric; out-of-gamut colours clipped)"
UNCHANGED = "none: already sRGB"
ASSUMED = "none: no ICC profile, decoded as sRGB"
UNREADABLE = "none: unreadable ICC profile, decoded as sRGB"
NOT_RGB = "none: ICC profile is not an RGB profile, decoded as sRGB"
RAW_DEVELOPED = "developed to sRGB by LibRaw"
CONVERTED_16 = ("converted to sRGB (the profile's matrix and tone curves, as littlecms at 8 bits; out-of-gamut "
                "colours clipped)")
SIXTEEN_BIT = ("none: 16-bit image with a table-based profile, decoded as sRGB (Pillow's littlecms binding transforms "
               "8-bit images only)")
NCLX_CONVERTED = "converted to sRGB from the file's nclx colour description (its primaries, the sRGB curve)"
NCLX_UNCONVERTED = ("none: nclx colour description with another curve than sRGB's (an HDR PQ or HLG image?), "
                    "decoded as sRGB")
EXIF_ADOBE_RGB = ("Adobe RGB (1998), as the EXIF says (ColorSpace uncalibrated, InteroperabilityIndex R03: DCF 2.0's "
                  "optional colour space)")
EXIF_CONVERTED = "converted to sRGB from Adobe RGB (1998): its primaries, its 563/256 gamma"
# ITU-T H.273 code points an nclx box (HEIF, AVIF) gives: ColourPrimaries 1 is BT.709 / sRGB, 2 unspecified;
# TransferCharacteristics 13 is IEC 61966-2-1, the sRGB curve (Display P3 photos use it with primaries 12).
_NCLX_SRGB_PRIMARIES, _NCLX_UNSPECIFIED, _NCLX_SRGB_CURVE = 1, 2, 13
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
        if self.conversion in (NOT_RGB, SIXTEEN_BIT, NCLX_UNCONVERTED):
            return f"ICC profile {self.source!r} not applied ({self.conversion.removeprefix('none: ')})"
        return None

    @property
    def converted(self) -> bool:
        """The pixels were converted from another colour space to sRGB."""
        return self.conversion in (CONVERTED, CONVERTED_16, NCLX_CONVERTED, EXIF_CONVERTED)

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
    they were converted (untagged means sRGB) or where the profile cannot be read or is not an RGB one (the pixels
    were taken as sRGB; a viewer must not apply a damaged profile, and a grey or CMYK profile on an RGB PNG is
    invalid: libpng warns "Gray color space not permitted on RGB PNG" on every read).
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
        return codes, ColourSpace(name, NOT_RGB), None
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
        shaper = MatrixShaper.parse(icc_profile)
        if shaper is None:
            return codes, ColourSpace(name, SIXTEEN_BIT), icc_profile
        return shaper.to_srgb_codes(codes), ColourSpace(name, CONVERTED_16), None
    return _apply(transform, np.ascontiguousarray(codes)), ColourSpace(name, CONVERTED), None


# Rec.709 / sRGB primaries and D65 white as chromaticities (OpenEXR's order): red, green, blue, white (x, y).
REC709_CHROMATICITIES: tuple[float, ...] = (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290)
_MIN_GAMUT = 1e-4  # |det| of the primaries' xyz columns: Rec.709's is 0.11, XYZ's 1; a real gamut is far above
# Bradford cone-response matrix (Lam 1985), used to adapt a file's white point to D65.
_BRADFORD = np.array(
    [[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]], dtype=np.float64
)


def rgb_to_xyz_matrix(chromaticities: tuple[float, ...]) -> np.ndarray:
    """RGB->XYZ matrix of a colour space given its primaries and white xy (SMPTE RP 177-1993).

    Columns are the primaries' chromaticity vectors (x, y, 1 - x - y) scaled so that RGB (1, 1, 1) maps to
    the white with Y = 1. Unlike the usual Y = 1 normalisation of each primary this also holds for a
    primary with y = 0, as OpenEXR's XYZ files have (blue = (0, 0)).

    Raises:
        UsageError: a white point with y = 0 or primaries that are not independent.
    """
    rx, ry, gx, gy, bx, by, wx, wy = chromaticities
    shown = f"chromaticities ({', '.join(f'{v:.4g}' for v in chromaticities)})"
    if not all(np.isfinite(chromaticities)):
        raise UsageError(f"{shown}: not all finite")
    if wy <= 0:
        raise UsageError(f"{shown}: the white point needs y > 0")
    primaries = np.array([[x, y, 1.0 - x - y] for x, y in ((rx, ry), (gx, gy), (bx, by))]).T
    white = np.array([wx / wy, 1.0, (1.0 - wx - wy) / wy])
    # Twice the area of the primaries' triangle in xy: two primaries at one point (or on one line) leave no
    # colour space, and a solve that rounding keeps from failing turns every pixel one colour.
    if abs(np.linalg.det(primaries)) < _MIN_GAMUT:
        raise UsageError(f"{shown}: the primaries are not independent")
    return primaries * np.linalg.solve(primaries, white)


def _xyz_white(chromaticities: tuple[float, ...]) -> np.ndarray:
    wx, wy = chromaticities[6:8]
    return np.array([wx / wy, 1.0, (1.0 - wx - wy) / wy])


# OpenEXR's chromaticities for CIE XYZ data in R, G, B (Technical Introduction, "CIE XYZ Color").
XYZ_CHROMATICITIES: tuple[float, ...] = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1 / 3, 1 / 3)


def is_xyz(chromaticities: tuple[float, ...]) -> bool:
    """Whether the primaries are OpenEXR's CIE XYZ ones: red (1, 0), green (0, 1), blue (0, 0)."""
    return bool(np.allclose(chromaticities[:6], XYZ_CHROMATICITIES[:6], atol=1e-4))


def to_rec709_matrix(chromaticities: tuple[float, ...]) -> np.ndarray:
    """3x3 matrix taking linear RGB in ``chromaticities`` to linear Rec.709 RGB.

    An RGB space with a different white point (e.g. ACES AP0, D60) is adapted to D65 with the Bradford
    transform, so the file's white stays neutral, as OpenEXR's ImfAcesFile and the published
    ACES2065-1 -> sRGB matrices do.

    CIE XYZ files (:func:`is_xyz`) are not adapted: their pixels are tristimulus values, and the white
    (1/3, 1/3) that OpenEXR's Technical Introduction ("CIE XYZ Color") prescribes for them is where
    RGB (1, 1, 1) = XYZ (1, 1, 1) falls, not the scene's adopted white. So XYZ -> Rec.709 is the plain
    colorimetric inverse of the Rec.709 RGB -> XYZ matrix (SMPTE RP 177): D65 (0.9505, 1, 1.089) gives
    (1, 1, 1), as OpenEXR's RGBtoXYZ/XYZtoRGB (ImfChromaticities) do. Adapting E -> D65 made
    OpenEXR's XYZ.exr show 12 % less red than Rec709.exr, the same scene.
    """
    source = rgb_to_xyz_matrix(chromaticities)
    target = rgb_to_xyz_matrix(REC709_CHROMATICITIES)
    if is_xyz(chromaticities):
        return np.linalg.solve(target, source)
    cone_src = _BRADFORD @ _xyz_white(chromaticities)
    cone_dst = _BRADFORD @ _xyz_white(REC709_CHROMATICITIES)
    adapt = np.linalg.inv(_BRADFORD) @ np.diag(cone_dst / cone_src) @ _BRADFORD
    return np.linalg.solve(target, adapt @ source)


# ITU-T H.273 Table 2: ColourPrimaries code point -> chromaticities (OpenEXR's order), the ones image files use; for
# an nclx box that gives the code alone (an AVIF's, as cevr reads it; pillow-heif gives HEIF's chromaticities too).
_H273_PRIMARIES: dict[int, tuple[float, ...]] = {
    1: REC709_CHROMATICITIES,  # BT.709, sRGB
    4: (0.67, 0.33, 0.21, 0.71, 0.14, 0.08, 0.310, 0.316),  # BT.470 System M (NTSC 1953)
    5: (0.64, 0.33, 0.29, 0.60, 0.15, 0.06, 0.3127, 0.3290),  # BT.601 625 lines (PAL)
    6: (0.630, 0.340, 0.310, 0.595, 0.155, 0.070, 0.3127, 0.3290),  # BT.601 525 lines, SMPTE 170M
    7: (0.630, 0.340, 0.310, 0.595, 0.155, 0.070, 0.3127, 0.3290),  # SMPTE 240M
    8: (0.681, 0.319, 0.243, 0.692, 0.145, 0.049, 0.310, 0.316),  # generic film
    9: (0.708, 0.292, 0.170, 0.797, 0.131, 0.046, 0.3127, 0.3290),  # BT.2020, BT.2100
    10: XYZ_CHROMATICITIES,  # SMPTE ST 428-1, CIE XYZ
    11: (0.680, 0.320, 0.265, 0.690, 0.150, 0.060, 0.314, 0.351),  # SMPTE RP 431-2, DCI-P3
    12: (0.680, 0.320, 0.265, 0.690, 0.150, 0.060, 0.3127, 0.3290),  # SMPTE EG 432-1, Display P3
    22: (0.630, 0.340, 0.295, 0.605, 0.155, 0.077, 0.3127, 0.3290),  # EBU Tech. 3213-E
}
_NCLX_CHROMATICITY_KEYS = tuple(f"color_primary_{c}_{axis}" for c in ("red", "green", "blue", "white") for axis in "xy")


def nclx_to_srgb(codes: np.ndarray, nclx: Mapping[str, Any] | None) -> tuple[np.ndarray, ColourSpace] | None:
    """Codes of a photo whose colour only an nclx box describes (ITU-T H.273, as HEIF and AVIF files from phones
    carry it instead of an ICC profile) in sRGB, and what was done; None where it describes sRGB's primaries or
    none (the pixels are then sRGB as they are). The primaries are converted in linear light (the file's white
    adapted to D65 by Bradford, :func:`to_rec709_matrix`, as an EXR's are), colours outside sRGB clipped; a curve
    other than sRGB's is left as it is, and said."""
    primaries = (nclx or {}).get("color_primaries")
    if primaries in (None, _NCLX_SRGB_PRIMARIES, _NCLX_UNSPECIFIED):
        return None
    name = f"nclx colour primaries {primaries}"
    if nclx.get("transfer_characteristics") != _NCLX_SRGB_CURVE:
        return codes, ColourSpace(f"{name}, transfer {nclx.get('transfer_characteristics')}", NCLX_UNCONVERTED)
    try:
        given = [nclx.get(key) for key in _NCLX_CHROMATICITY_KEYS]
        chromaticities = tuple(map(float, given)) if None not in given else _H273_PRIMARIES[primaries]
        matrix = to_rec709_matrix(chromaticities)
    except (KeyError, TypeError, ValueError, UsageError):
        return codes, ColourSpace(name, UNREADABLE)
    return _codes_to_srgb(codes, lambda rows: srgb_decode(rows) @ matrix.T), ColourSpace(name, NCLX_CONVERTED)


# Adobe RGB (1998) Color Image Encoding, version 2005-05, sec. 4.3: its primaries and D65 white (OpenEXR's order, as
# REC709_CHROMATICITIES), and its transfer function, a pure power of 2 51/256.
ADOBE_RGB_CHROMATICITIES: tuple[float, ...] = (0.64, 0.33, 0.21, 0.71, 0.15, 0.06, 0.3127, 0.3290)
ADOBE_RGB_GAMMA = 563 / 256


def adobe_rgb_to_srgb(codes: np.ndarray) -> tuple[np.ndarray, ColourSpace]:
    """Codes of an Adobe RGB (1998) photo that carries no ICC profile, only its EXIF's word for it (cameras set to
    Adobe RGB write DCF 2.0's marks, :func:`cevr_cli.io.exif.says_adobe_rgb`), in sRGB: decoded by the 563/256
    gamma, taken to sRGB's primaries in linear light (both whites D65), colours outside sRGB clipped; what
    littlecms makes of an Adobe RGB ICC profile (tests/io/test_colour.py holds the two together)."""
    matrix = to_rec709_matrix(ADOBE_RGB_CHROMATICITIES)
    converted = _codes_to_srgb(codes, lambda rows: (rows**ADOBE_RGB_GAMMA) @ matrix.T)
    return converted, ColourSpace(EXIF_ADOBE_RGB, EXIF_CONVERTED)


@dataclass(frozen=True)
class MatrixShaper:
    """A matrix/TRC ICC profile (ICC.1:2010 sec. 8.3.2, the kind cameras, phones and photo editors embed: Display P3,
    Adobe RGB, ProPhoto): per-channel tone curves to linear light, then a matrix to the D50 connection space.

    Pillow's littlecms binding transforms 8-bit images only, so a 16-bit image is converted here, in float: the
    same relative colorimetric transform littlecms makes of such a profile (tests/io/test_colour.py holds the two
    together at 8 bits), without the 8-bit rounding.
    """

    to_xyz: np.ndarray  # 3x3, linear RGB -> XYZ (D50), the rXYZ/gXYZ/bXYZ colorants as columns
    curves: tuple[Any, Any, Any]  # each [0, 1] codes -> [0, 1] linear, from rTRC/gTRC/bTRC

    @classmethod
    def parse(cls, icc_profile: bytes) -> MatrixShaper | None:
        """The profile's colorants and curves; None where it has none of them readable, or tables that littlecms
        would use instead (A2B0 ...: a table-based profile), or curves that do not rise from black to white."""
        tags = _icc_tags(icc_profile)
        if tags.keys() & {"A2B0", "A2B1", "A2B2", "D2B0"}:
            return None  # littlecms would use those tables instead: the 8-bit and 16-bit paths must agree
        probe = np.linspace(0.0, 1.0, 1025)
        try:
            with np.errstate(all="ignore"):  # a damaged profile's curve may divide by zero: it is refused below
                columns = [_xyz(tags[f"{c}XYZ"]) for c in "rgb"]
                curves = tuple(_curve(tags[f"{c}TRC"]) for c in "rgb")
                sampled = [curve(probe) for curve in curves]
        except (KeyError, ValueError, struct.error):
            return None
        matrix = np.array(columns).T
        usable = all(np.all(np.isfinite(y)) and np.all(np.diff(y) >= 0) and y[0] < y[-1] for y in sampled)
        if not (usable and np.all(np.isfinite(matrix)) and abs(np.linalg.det(matrix)) > 1e-9):
            return None  # not a curve from black to white or no matrix to invert: treated as a table-based profile
        return cls(matrix, curves)  # type: ignore[arg-type]

    def to_linear_srgb(self, codes: np.ndarray) -> np.ndarray:
        """[0, 1] codes (..., 3) -> linear sRGB (D65 white at 1), float64, not clipped."""
        linear = np.stack([curve(codes[..., c]) for c, curve in enumerate(self.curves)], axis=-1)
        return linear @ self._to_linear_srgb.T

    @cached_property
    def _to_linear_srgb(self) -> np.ndarray:
        """3x3: this profile's linear RGB -> XYZ (D50) -> littlecms's sRGB, once per profile, not per row chunk."""
        return np.linalg.inv(_srgb_shaper().to_xyz) @ self.to_xyz

    def to_srgb_codes(self, codes: np.ndarray) -> np.ndarray:
        """16-bit codes (HxWx3 uint16) in this profile -> 16-bit sRGB codes, out-of-gamut colours clipped
        (:func:`_codes_to_srgb`)."""
        return _codes_to_srgb(codes, self.to_linear_srgb)


def _codes_to_srgb(codes: np.ndarray, to_linear_srgb: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Integer codes (HxWx3, uint8 or uint16) -> sRGB codes of the same type: ``to_linear_srgb`` takes the codes
    in [0, 1] to linear sRGB, which is clipped to its gamut and encoded; a few rows at a time, so that a 24 MP
    image holds no float64 copy of itself."""
    top = float(np.iinfo(codes.dtype).max)
    out = np.empty_like(codes)
    for start in range(0, codes.shape[0], _ROWS):
        rows = codes[start:start + _ROWS].astype(np.float64) / top
        encoded = srgb_encode(np.clip(to_linear_srgb(rows), 0.0, 1.0))
        out[start:start + _ROWS] = np.round(encoded.astype(np.float64) * top).astype(codes.dtype)
    return out


_ROWS = 256


@lru_cache(maxsize=1)
def _srgb_shaper() -> MatrixShaper:
    """littlecms's own sRGB profile (Pillow's ``createProfile("sRGB")``), read as any other: its D50 matrix."""
    from PIL import ImageCms

    shaper = MatrixShaper.parse(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    assert shaper is not None
    return shaper


def _icc_tags(icc_profile: bytes) -> dict[str, bytes]:
    """The tagged elements of an ICC profile by signature (its tag table: count at byte 128, then 12-byte entries
    of signature, offset, size); entries that point outside the profile are left out."""
    try:
        (count,) = struct.unpack_from(">I", icc_profile, 128)
        tags = {}
        for k in range(min(count, 1024)):
            signature, offset, size = struct.unpack_from(">4sII", icc_profile, 132 + 12 * k)
            if offset + size <= len(icc_profile):
                tags[signature.decode("latin-1")] = icc_profile[offset:offset + size]
        return tags
    except struct.error:
        return {}


def _s15f16(data: bytes, offset: int, count: int) -> np.ndarray:
    return np.array(struct.unpack_from(f">{count}i", data, offset), dtype=np.float64) / 65536.0


def _xyz(tag: bytes) -> np.ndarray:
    """An XYZType element (ICC.1 sec. 10.31): 'XYZ ', 4 reserved bytes, X Y Z as s15Fixed16."""
    if tag[:4] != b"XYZ ":
        raise ValueError("not an XYZType")
    return _s15f16(tag, 8, 3)


def _curve(tag: bytes) -> Any:
    """A tone curve element as a function of [0, 1] codes: curveType (sec. 10.6: the identity, a gamma as
    u8Fixed8, or a table of uint16 samples interpolated linearly) or parametricCurveType (sec. 10.18, its
    five functions)."""
    kind = tag[:4]
    if kind == b"curv":
        (n,) = struct.unpack_from(">I", tag, 8)
        if n == 0:
            return lambda x: np.asarray(x, dtype=np.float64)
        if n == 1:
            gamma = struct.unpack_from(">H", tag, 12)[0] / 256.0
            return lambda x: np.power(np.clip(x, 0.0, 1.0), gamma)
        table = np.array(struct.unpack_from(f">{n}H", tag, 12), dtype=np.float64) / 65535.0
        grid = np.linspace(0.0, 1.0, n)
        return lambda x: np.interp(x, grid, table)
    if kind == b"para":
        (function,) = struct.unpack_from(">H", tag, 8)
        params = _s15f16(tag, 12, {0: 1, 1: 3, 2: 4, 3: 5, 4: 7}[function])
        # every function as Y = (aX + b)^g + e for X >= d, else cX + f
        g, (a, b, c, d, e, f) = params[0], (1.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        if function == 1:  # (aX + b)^g, 0 below -b/a
            a, b = params[1:3]
            d = -b / a
        elif function == 2:  # (aX + b)^g + c, c below -b/a
            a, b, e = params[1:4]
            d, f = -b / a, e
        elif function == 3:  # (aX + b)^g, cX below d
            a, b, c, d = params[1:5]
        elif function == 4:
            a, b, c, d, e, f = params[1:7]
        return lambda x: _parametric(np.asarray(x, dtype=np.float64), g, a, b, c, d, e, f)
    raise ValueError("not a tone curve")


def _parametric(x: np.ndarray, g: float, a: float, b: float, c: float, d: float, e: float, f: float) -> np.ndarray:
    return np.where(x >= d, np.power(np.maximum(a * x + b, 0.0), g) + e, c * x + f)
