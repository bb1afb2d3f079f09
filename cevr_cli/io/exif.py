"""EXIF facts a photographer cares about, the exposure value they imply, and the EXIF cevr writes.

An image whose EXIF Software is :data:`CEVR_SOFTWARE` (``cevr <version>``) holds cevr's own sRGB rendering
(a stack frame of a camera RAW, a tone-mapped image), whatever camera its Make names: ``--response auto``
reads it as sRGB, not as that camera's JPEG (:func:`cevr_cli.response.choose_response`).
"""

from __future__ import annotations

import io
import math
import re
import struct
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from .. import __version__

_CEVR = "cevr"
CEVR_SOFTWARE = f"{_CEVR} {__version__}"

_TAGS = {"Make": 0x010F, "Model": 0x0110, "Orientation": 0x0112, "Software": 0x0131, "DateTime": 0x0132}
ORIENTATION_TAG, SOFTWARE_TAG = _TAGS["Orientation"], _TAGS["Software"]
_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_PIXEL_X_DIMENSION, _PIXEL_Y_DIMENSION = 0xA002, 0xA003  # the EXIF IFD's size of the image (EXIF 2.32 sec. 4.6.5)
_IMAGE_SIZE = (0x0100, 0x0101)  # IFD0's ImageWidth and ImageLength
XMP_TAG = 700  # IFD0's XMP packet (TIFF; Adobe XMP Specification Part 3)
_EXIF_TAGS = {"ExposureTime": 0x829A, "FNumber": 0x829D, "ISO": 0x8827, "DateTimeOriginal": 0x9003,
              "ShutterSpeedValue": 0x9201, "ExposureBiasValue": 0x9204, "LensModel": 0xA434}
# Canon CR3 (ISO base media file format): the uuid box inside moov that holds the metadata boxes, of which CMT1 is
# a TIFF structure whose IFD0 is the photo's IFD0 and CMT2 one whose IFD0 is its EXIF IFD (L. Clevy, "Describing
# the Canon Raw v3 (CR3) file format", github.com/lclevy/canon_cr3; P. Harvey, ExifTool's Canon uuid tags)
CR3_BRAND = b"ftypcrx "
CR3_METADATA_UUID = bytes.fromhex("85c0b687820f11e08111f4ce462b6a48")
# Fujifilm RAF: a big-endian header, this magic first, then at 0x54 the offset and length of a JPEG preview that
# carries the photo's EXIF (archiveteam's "Fujifilm RAF"); the camera's name at 0x1C (32 bytes) when it has none
RAF_MAGIC = b"FUJIFILMCCD-RAW "
_RAF_CAMERA, _RAF_PREVIEW = slice(0x1C, 0x3C), slice(0x54, 0x5C)
_XMP_LIMIT = 1 << 20  # bytes: an XMP packet larger than this is not read for exposure facts
_CONTAINER_LIMIT = 64 << 20  # bytes of metadata (a CMT box, RAF's preview) read at most, whatever a length says
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
# stack.json's record that its frames' EXIF says their exposure (reexposed_exif), so that a reader can undo it; the
# second, of stacks made before 2026-12-07, whose frames kept the photo's ShutterSpeedValue
FRAME_EXPOSURE = "EXIF ExposureTime x 2^EV, ShutterSpeedValue - EV, ExposureBiasValue + EV"
FRAME_EXPOSURE_BEFORE_SHUTTER_SPEED = "EXIF ExposureTime x 2^EV, ExposureBiasValue + EV"


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
    software: str | None = None

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

    @classmethod
    def from_exr_attributes(cls, header: Mapping[str, Any]) -> ExifInfo | None:
        """Inverse of :meth:`exr_attributes`, from an EXR header (``cevr fuse``'s, or any writer's that uses
        OpenEXR's standard attributes); None where it holds none of them, or none of the type they have."""
        names = {"camera_make": "cameraMake", "camera_model": "cameraModel", "lens": "lensModel",
                 "datetime_original": "capDate"}
        numbers = {"exposure_time": "expTime", "f_number": "aperture", "iso": "isoSpeed"}
        known: dict[str, Any] = {field: value.strip() for field, attribute in names.items()
                                 if isinstance(value := header.get(attribute), str) and value.strip()}
        # an EXR's float attributes are 32-bit: 1/100 s comes back as 0.0099999998, which EXIF would keep
        known.update({field: float(f"{value:.7g}") for field, attribute in numbers.items()
                      if isinstance(value := header.get(attribute), (int, float)) and not isinstance(value, bool)
                      and math.isfinite(value) and value > 0})
        return cls(**known) if known else None

    def rendered_exif(self) -> bytes:
        """EXIF for an image cevr rendered from a photo with these facts (a camera RAW, which has no EXIF
        block to carry): camera, capture date (DateTimeOriginal, and DateTime as cameras write it), exposure,
        lens, orientation 1 (the pixels are upright) and Software :data:`CEVR_SOFTWARE`."""
        from PIL import Image

        exif = Image.Exif()
        ifd0 = {"Make": self.camera_make, "Model": self.camera_model, "DateTime": self.datetime_original}
        # UTF-8 bytes, as cameras and exiftool write names beyond ASCII: Pillow writes a str as ASCII, "?" for the rest
        exif.update({_TAGS[name]: value.encode("utf-8") for name, value in ifd0.items() if value})
        exif[ORIENTATION_TAG] = 1
        exif[SOFTWARE_TAG] = CEVR_SOFTWARE
        known = self.capture_tags()
        if known:  # get_ifd adds the EXIF IFD, which an image with no capture facts should not carry empty
            exif.get_ifd(_EXIF_IFD).update(known)
        return exif.tobytes()

    def capture_tags(self) -> dict[int, Any]:
        """The EXIF IFD's tags for the capture facts known here: exposure time, f-number, ISO, date, lens."""
        from PIL.TiffImagePlugin import IFDRational

        sub = {"ExposureTime": IFDRational(self.exposure_time) if self.exposure_time else None,
               "FNumber": IFDRational(self.f_number) if self.f_number else None,
               "ISO": round(self.iso) if self.iso else None,
               "DateTimeOriginal": self.datetime_original, "LensModel": self.lens}
        return {_EXIF_TAGS[name]: value for name, value in sub.items() if value}


def is_cevr_software(software: str | None) -> bool:
    """``software`` (an EXIF Software value) names cevr: the image is cevr's sRGB rendering."""
    return (software or "").split(" ", 1)[0] == _CEVR


def _parsed(exif_bytes: bytes | None) -> Any:
    """``exif_bytes`` as Pillow's ``Image.Exif``; None for no EXIF, or EXIF we cannot parse, which is dropped
    rather than carried corrupt."""
    if not exif_bytes:
        return None
    from PIL import Image

    exif = Image.Exif()
    try:
        exif.load(exif_bytes)
    except Exception:  # Pillow's parser raises many kinds on foreign EXIF
        return None
    return exif


def exif_bytes_of(exif: Any) -> bytes:
    """``exif.tobytes()`` (Pillow's ``Image.Exif``) with its text as it was: Pillow reads an ASCII tag's bytes as
    Latin-1 text and writes text back as ASCII, "?" for the rest, so that a Make, Artist or Copyright in UTF-8
    ("Søny", "© José") came out of every carried EXIF as "S??ny", "?? Jos??". Such text is written as its bytes
    (the file's own, where Pillow read it; UTF-8 for text beyond Latin-1), in IFD0 and in the EXIF and GPS IFDs."""
    def keep(tags: Any) -> None:
        for tag, value in list(tags.items()):
            if isinstance(value, str) and not value.isascii():
                try:
                    tags[tag] = value.encode("latin-1")
                except UnicodeEncodeError:
                    tags[tag] = value.encode("utf-8")

    keep(exif)
    for pointer in (_EXIF_IFD, _GPS_IFD):
        if pointer in exif:  # get_ifd would add an IFD the EXIF does not have
            keep(exif.get_ifd(pointer))
    return exif.tobytes()


def _fraction(value: float, largest_denominator: int) -> Fraction:
    return Fraction(value).limit_denominator(largest_denominator)


_RATIONAL_TERM = 2**32 - 1  # a TIFF RATIONAL's numerator and denominator are 32-bit unsigned


def _exposure_time(seconds: float) -> Fraction:
    """``seconds`` as a RATIONAL to a millionth of itself at least (and of a second): with a fixed millionth of a
    second, 1/180000 s (an electronic shutter) darkened 3 stops was written as 0; both terms fit 32 bits."""
    if seconds <= 0:  # nonsense a file may hold: written as it was, to the millionth
        return _fraction(seconds, 1_000_000)
    largest = min(_RATIONAL_TERM, max(1_000_000, 1_000_000 / seconds), _RATIONAL_TERM / max(seconds, 1.0))
    return _fraction(seconds, int(largest))


def with_tags(exif_bytes: bytes | None, tags: Mapping[int, Any]) -> bytes | None:
    """``exif_bytes`` with ``tags`` (IFD0 tag -> value) set; None for no EXIF or EXIF we cannot parse."""
    exif = _parsed(exif_bytes)
    if exif is None:
        return None
    exif.update(tags)
    return exif_bytes_of(exif)


def upright_exif(exif_bytes: bytes | None, width: int, height: int) -> bytes | None:
    """``exif_bytes`` for an image written upright at ``width`` x ``height``: Orientation 1, and the EXIF IFD's
    PixelXDimension and PixelYDimension, and IFD0's ImageWidth and ImageLength (which phones write into a JPEG's
    EXIF too), where it holds them, set to that size (a portrait photo stored landscape with Orientation 6 says its
    stored size there); None for no EXIF or EXIF we cannot parse."""
    exif = _parsed(exif_bytes)
    if exif is None:
        return None
    exif[ORIENTATION_TAG] = 1
    for ifd, tags in ((exif.get_ifd(_EXIF_IFD), (_PIXEL_X_DIMENSION, _PIXEL_Y_DIMENSION)), (exif, _IMAGE_SIZE)):
        for tag, value in zip(tags, (width, height), strict=True):
            if tag in ifd:
                ifd[tag] = value
    return exif_bytes_of(exif)


def with_capture_facts(exif_bytes: bytes | None, info: ExifInfo | None) -> bytes | None:
    """``exif_bytes`` with an EXIF IFD of ``info``'s capture facts where it has no EXIF IFD: a 16-bit TIFF stack
    frame's EXIF is its IFD0 alone (its exposure is in XMP, :func:`exposure_xmp`, which the folder's outputs do
    not carry), or a TIFF photo's that says its exposure in XMP only. Facts IFD0 holds (TIFF/EP) stay there alone.
    Unchanged where it has one, where ``info`` knows none, or where it cannot be parsed."""
    exif = _parsed(exif_bytes)
    known = info.capture_tags() if info is not None else {}
    known = {tag: value for tag, value in known.items() if exif is None or exif.get(tag) is None}
    if exif is None or not known or exif.get_ifd(_EXIF_IFD):
        return exif_bytes
    exif.get_ifd(_EXIF_IFD).update(known)
    return exif_bytes_of(exif)


# EXIF 2.32 sec. 4.6.5 and DCF 2.0 sec. 5.2: ColorSpace 1 is sRGB; 0xFFFF ("uncalibrated") with the
# InteroperabilityIndex "R03" of the Interoperability IFD marks DCF's optional colour space, Adobe RGB.
_COLOR_SPACE, _SRGB, _UNCALIBRATED = 0xA001, 1, 0xFFFF
_INTEROP_IFD, _INTEROP_INDEX, _DCF_BASIC, _DCF_OPTION = 0xA005, 0x0001, "R98", "R03"


def says_adobe_rgb(exif: Any) -> bool:
    """Pillow's ``Image.Exif`` of a photo marks it Adobe RGB by DCF's rule (what cameras set to Adobe RGB write,
    often without an ICC profile)."""
    try:
        if exif.get_ifd(_EXIF_IFD).get(_COLOR_SPACE) != _UNCALIBRATED:
            return False
        return str(exif.get_ifd(_INTEROP_IFD).get(_INTEROP_INDEX, "")).strip("\x00 ") == _DCF_OPTION
    except Exception:  # Pillow's parser raises many kinds on foreign EXIF
        return False


def labelled_srgb(exif_bytes: bytes | None) -> bytes | None:
    """``exif_bytes`` of a photo whose pixels were converted to sRGB, with its colour tags saying sRGB (ColorSpace
    1, InteroperabilityIndex R98) where they said otherwise: outputs carry no ICC profile then, and a viewer
    that follows DCF would show them as the Adobe RGB the camera's tags still claim. Unchanged where there is no
    ColorSpace to correct; None for EXIF that cannot be parsed, as :func:`with_tags` does."""
    exif = _parsed(exif_bytes)
    if exif is None:
        return None
    sub = exif.get_ifd(_EXIF_IFD)
    if _COLOR_SPACE not in sub or sub[_COLOR_SPACE] == _SRGB:
        return exif_bytes
    sub[_COLOR_SPACE] = _SRGB
    interop = exif.get_ifd(_INTEROP_IFD)
    if _INTEROP_INDEX in interop:
        interop[_INTEROP_INDEX] = _DCF_BASIC
    return exif_bytes_of(exif)


JPEG_EXIF_LIMIT = 65533 - 6  # an APP1 segment holds 65533 bytes after its length, "Exif\0\0" among them
_MAKER_NOTE = 0x927C  # the EXIF IFD's MakerNote: the camera maker's private block, where a large EXIF's bulk is


def jpeg_sized_exif(exif_bytes: bytes, path: str | Path) -> bytes | None:
    """``exif_bytes`` as a JPEG written to ``path`` can hold them: whole where they fit, else without the MakerNote,
    else none, each loss warned about naming ``path``. (Pillow raised "EXIF data is too long" for a PNG's 90 kB
    EXIF written as a JPEG.)"""
    if len(exif_bytes) <= JPEG_EXIF_LIMIT:
        return exif_bytes
    exif = _parsed(exif_bytes)
    kept = None
    if exif is not None:
        exif.get_ifd(_EXIF_IFD).pop(_MAKER_NOTE, None)
        smaller = exif_bytes_of(exif)
        kept = smaller if len(smaller) <= JPEG_EXIF_LIMIT else None
    warnings.warn(f"{path}: its EXIF ({len(exif_bytes)} bytes) is more than a JPEG holds ({JPEG_EXIF_LIMIT}): "
                  + ("written without the camera's MakerNote" if kept else "written without EXIF"), stacklevel=3)
    return kept


def without_xmp(exif_bytes: bytes | None) -> bytes | None:
    """``exif_bytes`` without IFD0's XMP packet (a cevr TIFF frame's says that frame's exposure, see
    :func:`exposure_xmp`); None for no EXIF or EXIF we cannot parse."""
    exif = _parsed(exif_bytes)
    if exif is None:
        return None
    exif.pop(XMP_TAG, None)
    return exif_bytes_of(exif)


# The tags of a TIFF's IFD0 that say how that file stores its pixels (TIFF 6.0 and TIFF/EP: size, samples, strips
# and tiles, compression, sub-IFDs, old-style JPEG, YCbCr) rather than anything about the photo, and the blocks it
# carries that are no EXIF: Photoshop's layers (ImageSourceData) and image resources, and the ICC profile, which
# outputs carry, or not (converted photos), by themselves. Carried from a TIFF into a stack frame they described
# another file: SamplesPerPixel 4 for an RGB PNG, and the layers made every frame as large as the TIFF.
TIFF_LAYOUT_TAGS = frozenset({254, 255, 256, 257, 258, 259, 262, 263, 264, 265, 266, 273, 277, 278, 279, 280, 281,
                              284, 288, 289, 290, 291, 292, 293, 317, 320, 322, 323, 324, 325, 330, 338, 339, 340,
                              341, 347, 512, 513, 514, 515, 517, 518, 519, 520, 521, 530, 532, 32997, 32998,
                              34377, 34675, 37724})
_DESCRIPTION_TAG = 270


def without_tiff_layout(exif: Any) -> bytes | None:
    """A TIFF's IFD0 (Pillow's ``Image.Exif`` of it) as the photo's EXIF to carry: without
    :data:`TIFF_LAYOUT_TAGS`, nor tifffile's shape JSON (``{"shape": [...]}``), which it writes as the
    ImageDescription of the arrays it saves; None when nothing is left."""
    from PIL import Image

    kept = Image.Exif()
    try:
        kept.load(exif_bytes_of(exif))
    except Exception:  # Pillow's parser raises many kinds on foreign EXIF: not carried, as elsewhere
        return None
    for tag in TIFF_LAYOUT_TAGS & set(kept):
        del kept[tag]
    if _is_tifffile_shape(kept.get(_DESCRIPTION_TAG)):
        del kept[_DESCRIPTION_TAG]
    return exif_bytes_of(kept) if kept else None


def _is_tifffile_shape(description: Any) -> bool:
    """``description`` is tifffile's record of the array it wrote (a JSON object with ``shape``), not a caption."""
    import json

    if not isinstance(description, str) or not description.startswith("{"):
        return False
    try:
        record = json.loads(description)
    except ValueError:
        return False
    return isinstance(record, dict) and "shape" in record


def mark_rendered(exif_bytes: bytes | None) -> bytes | None:
    """The carried EXIF of an image cevr rendered in sRGB (a tone-mapped image), its Software set to
    :data:`CEVR_SOFTWARE` so that the camera its Make names is not taken for the pixels' encoding."""
    return with_tags(exif_bytes, {SOFTWARE_TAG: CEVR_SOFTWARE})


def reexposed_exif(exif_bytes: bytes | None, s: float, *, shutter_speed: bool = True) -> bytes | None:
    """The EXIF of the photo re-exposed by ``s`` stops (a stack frame): ExposureTime x 2^s, as if the shutter had
    stayed open 2^s times as long, the APEX ShutterSpeedValue (-log2 of that time) - s where the photo holds one
    (unless ``shutter_speed`` is false: undoing a frame made before 2026-12-07, which kept the photo's), and
    ExposureBiasValue + s, so that HDR software that reads a bracket's
    exposures from EXIF (Lightroom's HDR merge, Photomatix, Luminance HDR, Hugin) reads the frames as the
    bracket they are; aperture, ISO and every other tag as they were, but for an XMP packet (a TIFF source's),
    dropped. No EXIF stays none (nothing to claim an exposure against); EXIF that cannot be parsed is dropped, as
    :func:`with_tags` does."""
    if not exif_bytes or s == 0:
        return exif_bytes
    from PIL.TiffImagePlugin import IFDRational

    exif = _parsed(exif_bytes)
    if exif is None:
        return None
    exif.pop(XMP_TAG, None)  # a TIFF's XMP packet says the photo's exposure, no longer the frame's
    sub = exif.get_ifd(_EXIF_IFD)
    tag = _EXIF_TAGS["ExposureTime"]
    # the EXIF IFD's, else IFD0's (TIFF/EP), where _from_ifds reads it: IFD0's was left at the photo's time
    held = sub if sub.get(tag) is not None else exif
    time = _number(held.get(tag))
    if time is not None:
        fraction = _exposure_time(time * 2.0**s)
        held[tag] = IFDRational(fraction.numerator, fraction.denominator)
    tag = _EXIF_TAGS["ShutterSpeedValue"]
    held = sub if sub.get(tag) is not None else exif  # the EXIF IFD's, else IFD0's (TIFF/EP)
    speed = _signed(held.get(tag))
    if shutter_speed and speed is not None:
        fraction = _fraction(speed - s, 1000000)
        held[tag] = IFDRational(fraction.numerator, fraction.denominator)
    tag = _EXIF_TAGS["ExposureBiasValue"]
    held = exif if sub.get(tag) is None and exif.get(tag) is not None else sub  # TIFF/EP's, else the EXIF IFD's
    fraction = _fraction((_signed(held.get(tag)) or 0.0) + s, 1000)
    held[tag] = IFDRational(fraction.numerator, fraction.denominator)
    return exif_bytes_of(exif)


def photo_exif_of_frame(exif_bytes: bytes | None, ev: float, frame_exif: str | None) -> bytes | None:
    """The photo's EXIF from that of its stack frame at ``ev``, as stack.json's ``frame_exif`` says the frame's
    was made (:data:`FRAME_EXPOSURE`, or :data:`FRAME_EXPOSURE_BEFORE_SHUTTER_SPEED`: the photo's
    ShutterSpeedValue kept); where it says none (a 16-bit TIFF stack), the frame's without its XMP packet."""
    if frame_exif == FRAME_EXPOSURE:
        return reexposed_exif(exif_bytes, -ev)
    if frame_exif == FRAME_EXPOSURE_BEFORE_SHUTTER_SPEED:
        return reexposed_exif(exif_bytes, -ev, shutter_speed=False)
    return without_xmp(exif_bytes)


def exposure_xmp(exif_bytes: bytes | None) -> bytes | None:
    """An XMP packet (Adobe XMP, EXIF schema) with the exposure facts of ``exif_bytes``: ExposureTime, FNumber,
    ExposureBiasValue, ISO, DateTimeOriginal and the lens; for 16-bit TIFF outputs, whose writer (tifffile) can
    write no EXIF IFD but can write the XMP tag (700) that Lightroom and other HDR software read. None without
    any of them."""
    from xml.sax.saxutils import quoteattr

    exif = _parsed(exif_bytes)
    if exif is None:
        return None
    sub = exif.get_ifd(_EXIF_IFD)

    def fact(tag: int) -> Any:  # the EXIF IFD's, else IFD0's (TIFF/EP), as _from_ifds reads them
        return sub.get(tag) if sub.get(tag) is not None else exif.get(tag)

    def rational(tag: int, largest_denominator: int | None) -> str | None:
        value = _signed(fact(tag))
        if value is None:
            return None
        fraction = _fraction(value, largest_denominator) if largest_denominator else _exposure_time(value)
        return f"{fraction.numerator}/{fraction.denominator}"

    date = _text(sub.get(_EXIF_TAGS["DateTimeOriginal"]))
    attributes = {"exif:ExposureTime": rational(_EXIF_TAGS["ExposureTime"], None),
                  "exif:FNumber": rational(_EXIF_TAGS["FNumber"], 1000),
                  "exif:ExposureBiasValue": rational(_EXIF_TAGS["ExposureBiasValue"], 1000),
                  # EXIF's "YYYY:MM:DD HH:MM:SS" as XMP's ISO 8601 date
                  "exif:DateTimeOriginal": date.replace(":", "-", 2).replace(" ", "T", 1) if date else None,
                  "exifEX:LensModel": _text(sub.get(_EXIF_TAGS["LensModel"]))}
    iso = _number(fact(_EXIF_TAGS["ISO"]))
    if iso is None and not any(attributes.values()):
        return None
    # control characters are not XML: a lens name carrying one would make the whole packet unreadable
    described = " ".join(f"{name}={quoteattr(_XML_INVALID.sub('', value))}" for name, value in attributes.items()
                         if value)
    seq = (f"<exif:ISOSpeedRatings><rdf:Seq><rdf:li>{round(iso)}</rdf:li></rdf:Seq></exif:ISOSpeedRatings>"
           if iso is not None else "")
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about="" xmlns:exif="http://ns.adobe.com/exif/1.0/" '
            f'xmlns:exifEX="http://cipa.jp/exif/1.0/" {described}>{seq}</rdf:Description></rdf:RDF></x:xmpmeta>'
            '<?xpacket end="w"?>').encode()


def _signed(value: Any) -> float | None:
    try:
        number = float(value[0] if isinstance(value, tuple) else value)
    except (TypeError, ValueError, ZeroDivisionError, IndexError):
        return None
    return number if math.isfinite(number) else None


def _number(value: Any) -> float | None:
    number = _signed(value)
    return number if number is not None and number > 0 else None


def _text(value: Any) -> str | None:
    """An EXIF text value as a str: UTF-8 where its bytes are (names beyond ASCII, as cameras and exiftool write
    them), whether given as bytes or as the Latin-1 str Pillow makes of an ASCII tag ("SÃ¸ny" for "Søny")."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = value.encode("latin-1")
        except UnicodeEncodeError:  # not bytes read as Latin-1: text as it is
            pass
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            value = value.decode("latin-1")  # a single-byte encoding: each byte one character, as Pillow reads it
    text = str(value).strip("\x00 ").strip()
    return text or None


def _xmp_property(packet: str, name: str) -> str | None:
    """One simple property of an XMP packet, as an attribute (``exif:ExposureTime="1/200"``) or an element
    (``<exif:ExposureTime>1/200</exif:ExposureTime>``), the two forms of XMP Part 1's RDF serialisation."""
    from xml.sax.saxutils import unescape

    found = re.search(rf'\b{name}="([^"]*)"|<{name}>([^<]*)</{name}>', packet)
    return unescape(found.group(1) if found.group(1) is not None else found.group(2)).strip() if found else None


def exposure_from_xmp(packet: bytes | None) -> ExifInfo:
    """The exposure facts of an XMP packet's EXIF schemas (XMP Part 2: ``exif:``, CIPA's ``exifEX:``), as
    :func:`exposure_xmp` writes them into 16-bit TIFF outputs and Adobe's software into its exports: exposure
    time, f-number, ISO, capture date (ISO 8601 -> EXIF's format) and lens. Read by pattern, not by an XML parser:
    the packet is the file's, and five flat properties are all that is wanted."""
    if not packet or len(packet) > _XMP_LIMIT:
        return ExifInfo()
    text = packet.decode("utf-8", "replace")

    def rational(name: str) -> float | None:
        value = _xmp_property(text, name)
        try:
            return _number(float(Fraction(value))) if value else None
        except (ValueError, ZeroDivisionError):
            return None

    iso = re.search(r"<exif:ISOSpeedRatings>\s*<rdf:Seq>\s*<rdf:li>\s*(\d+)", text)
    date = re.match(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?",
                    _xmp_property(text, "exif:DateTimeOriginal") or "")
    return ExifInfo(
        exposure_time=rational("exif:ExposureTime"), f_number=rational("exif:FNumber"),
        iso=_number(iso.group(1)) if iso else rational("exifEX:PhotographicSensitivity"),
        datetime_original=(f"{date[1]}:{date[2]}:{date[3]} {date[4]}:{date[5]}:{date[6] or '00'}" if date else None),
        lens=_text(_xmp_property(text, "exifEX:LensModel") or _xmp_property(text, "aux:Lens")))


def _from_ifds(ifd0: Mapping[int, Any], sub: Mapping[int, Any]) -> ExifInfo:
    """:class:`ExifInfo` from an IFD0 and an EXIF IFD, as Pillow parses them (tag number -> value). Exposure time,
    f-number and ISO are read from IFD0 where the EXIF IFD lacks them: TIFF/EP (ISO 12234-2), which some raw
    formats and scanners follow, puts them there."""
    orientation = ifd0.get(ORIENTATION_TAG, 1)

    def capture(name: str) -> float | None:
        tag = _EXIF_TAGS[name]
        return _number(sub.get(tag) if sub.get(tag) is not None else ifd0.get(tag))

    return ExifInfo(
        camera_make=_text(ifd0.get(_TAGS["Make"])),
        camera_model=_text(ifd0.get(_TAGS["Model"])),
        lens=_text(sub.get(_EXIF_TAGS["LensModel"])),
        exposure_time=capture("ExposureTime"),
        f_number=capture("FNumber"),
        iso=capture("ISO"),
        datetime_original=_text(sub.get(_EXIF_TAGS["DateTimeOriginal"]) or ifd0.get(_TAGS["DateTime"])),
        orientation=int(orientation) if isinstance(orientation, int) and 1 <= orientation <= 8 else 1,
        software=_text(ifd0.get(SOFTWARE_TAG)),
    )


def exif_from_pillow(exif: Any) -> ExifInfo:
    """Build :class:`ExifInfo` from a Pillow ``Image.Exif`` mapping; in a TIFF without an EXIF IFD (cevr's 16-bit
    outputs), the exposure facts of its XMP packet (:func:`exposure_from_xmp`) where it has them."""
    sub = exif.get_ifd(_EXIF_IFD) if hasattr(exif, "get_ifd") else {}
    info = _from_ifds(exif, sub)
    xmp = exif.get(XMP_TAG)
    if sub or not isinstance(xmp, bytes):
        return info
    facts = exposure_from_xmp(xmp)
    return replace(info, **{name: value for name in ("lens", "exposure_time", "f_number", "iso", "datetime_original")
                            if (value := getattr(facts, name)) is not None})


def _ratio(value: Any) -> float | None:
    """A TIFF RATIONAL as tifffile gives it, (numerator, denominator), or a plain number."""
    if isinstance(value, tuple) and len(value) == 2:
        return _number(value[0] / value[1]) if value[1] else None
    return _number(value)


def tiff_read_errors() -> tuple[type[Exception], ...]:
    """What tifffile raises for a file it cannot parse or a damaged IFD or tag: a reader that catches these takes the
    file to say nothing (tifffile imported here, not at the module's top: the CLI's start does without it)."""
    import tifffile

    return (tifffile.TiffFileError, OSError, ValueError, IndexError, KeyError, TypeError)


def tiff_exif(tif: Any) -> ExifInfo:
    """EXIF of a TIFF-structured file (DNG, CR2, NEF, ARW, PEF, ORF, RW2 ...) open in tifffile (``tif``), from its
    first IFD and EXIF IFD, which tifffile parses without decoding pixels (Pillow opens only the TIFFs it can
    decode). The RAW reader's one pass over the file calls it (:func:`cevr_cli.io.raw.read_raw_file_facts`).

    Raises:
        tifffile.TiffFileError, ValueError, IndexError, KeyError: a damaged IFD.
    """
    tags = tif.pages.first.tags
    ifd0 = {name: tags.valueof(name) for name in ("Make", "Model", "Software", "DateTime", "ExposureTime",
                                                  "FNumber", "ISOSpeedRatings")}
    sub = tags.valueof("ExifTag") or {}

    def capture(name: str) -> Any:  # the EXIF IFD's, else IFD0's (TIFF/EP, as in _from_ifds)
        return sub.get(name) if sub.get(name) is not None else ifd0[name]

    return ExifInfo(
        camera_make=_text(ifd0["Make"]), camera_model=_text(ifd0["Model"]), lens=_text(sub.get("LensModel")),
        exposure_time=_ratio(capture("ExposureTime")), f_number=_ratio(capture("FNumber")),
        iso=_number(capture("ISOSpeedRatings")),
        datetime_original=_text(sub.get("DateTimeOriginal") or ifd0["DateTime"]), software=_text(ifd0["Software"]))


def read_raw_container_exif(path: str | Path) -> ExifInfo | None:
    """EXIF of the camera RAW containers that are not TIFF-structured (:func:`tiff_exif` reads the others):
    Canon CR3 (:func:`read_cr3_exif`) and Fujifilm RAF (:func:`read_raf_exif`), told apart by their first bytes;
    None for any other file, or one whose metadata cannot be read."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
            if head == RAF_MAGIC:
                return read_raf_exif(fh)
            if head[4:12] == CR3_BRAND:
                return read_cr3_exif(fh)
    except (OSError, ValueError, struct.error):
        return None
    return None


def _boxes(fh: Any, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) of the ISO base media boxes between ``start`` and ``end`` (ISO/IEC
    14496-12, 4.2: a 32-bit size, 1 = a 64-bit size follows the type, 0 = to the end); stops at a size that
    does not fit."""
    position = start
    while position + 8 <= end:
        fh.seek(position)
        size, kind = struct.unpack(">I4s", fh.read(8))
        payload = position + 8
        if size == 1:
            size, payload = struct.unpack(">Q", fh.read(8))[0], payload + 8
        elif size == 0:
            size = end - position
        if size < payload - position or position + size > end:
            return
        yield kind, payload, position + size
        position += size


def _read_span(fh: Any, start: int, end: int) -> bytes:
    """Bytes ``start`` .. ``end`` of ``fh``, at most :data:`_CONTAINER_LIMIT` of them."""
    if end - start > _CONTAINER_LIMIT:
        raise ValueError("metadata span too large")
    fh.seek(start)
    return fh.read(end - start)


def read_cr3_exif(fh: Any) -> ExifInfo | None:
    """EXIF of a Canon CR3 (an open binary file): IFD0 from its CMT1 box (make, model, date, software), the EXIF
    IFD from CMT2 (exposure, aperture, ISO, capture date, lens); None without them."""
    size = fh.seek(0, io.SEEK_END)
    tables: dict[bytes, Any] = {}
    for kind, payload, end in _boxes(fh, 0, size):
        if kind != b"moov":
            continue
        for inner, inner_payload, inner_end in _boxes(fh, payload, end):
            fh.seek(inner_payload)
            if inner != b"uuid" or fh.read(16) != CR3_METADATA_UUID:
                continue
            for name, box_payload, box_end in _boxes(fh, inner_payload + 16, inner_end):
                if name in (b"CMT1", b"CMT2") and (table := _parsed(_read_span(fh, box_payload, box_end))):
                    tables[name] = table
    if not tables:
        return None
    return _from_ifds(tables.get(b"CMT1", {}), tables.get(b"CMT2", {}))


def read_nclx(path: str | Path) -> dict[str, Any] | None:
    """The nclx colour description of an AVIF (its first ``colr`` box of type nclx among the item properties,
    meta/iprp/ipco: ISO/IEC 23008-12 and 14496-12 sec. 12.1.5), its code points under pillow-heif's names
    (``color_primaries``, ``transfer_characteristics``; :func:`cevr_cli.io.colour.nclx_to_srgb` knows their
    chromaticities): Pillow's AVIF plugin gives none. None where the file has none or cannot be walked."""
    try:
        with open(path, "rb") as fh:
            return _nclx_box(fh, fh.seek(0, io.SEEK_END))
    except (OSError, struct.error):
        return None


def _nclx_box(fh: Any, size: int) -> dict[str, Any] | None:
    span: tuple[int, int] | None = (0, size)
    for kind, skip in ((b"meta", 0), (b"iprp", 4), (b"ipco", 0)):  # meta is a full box: 4 bytes of version, flags
        span = _first_box(fh, span[0] + skip, span[1], kind) if span else None
    for kind, payload, _ in _boxes(fh, *span) if span else ():
        fh.seek(payload)
        if kind == b"colr" and fh.read(4) == b"nclx":
            primaries, transfer = struct.unpack(">HH", fh.read(4))
            return {"color_primaries": primaries, "transfer_characteristics": transfer}
    return None


def _first_box(fh: Any, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    """(payload start, end) of the first box of type ``kind`` between ``start`` and ``end``."""
    return next(((payload, stop) for found, payload, stop in _boxes(fh, start, end) if found == kind), None)


def read_raf_exif(fh: Any) -> ExifInfo | None:
    """EXIF of a Fujifilm RAF (an open binary file) from its JPEG preview; where the preview has none, the camera's
    name from the header (make FUJIFILM)."""
    from PIL import Image, UnidentifiedImageError

    fh.seek(0)
    header = fh.read(_RAF_PREVIEW.stop)
    offset, length = struct.unpack(">II", header[_RAF_PREVIEW])
    try:
        preview = _read_span(fh, offset, offset + length)
        with Image.open(io.BytesIO(preview)) as im:
            exif = im.getexif()
            if exif:
                return exif_from_pillow(exif)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        pass
    model = _text(header[_RAF_CAMERA])
    return ExifInfo(camera_make="FUJIFILM", camera_model=model) if model else None


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
