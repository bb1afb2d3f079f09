"""Camera RAW files as scene-linear light, with the mask of what the sensor clipped.

LibRaw (through rawpy) decodes with the camera's white balance, linear output (gamma 1), no automatic
brightening, the true white level (no ``adjust_maximum``), 16 bits. 1.0 is the white-balanced saturation level of
the least amplified channel, in Rec.709 / sRGB primaries. A channel that white balance amplifies measures light
above 1.0 before its photosites saturate (a red flower's red in daylight, up to log2 of the balance's spread: a
stop for red's usual 2x), which LibRaw's own 16-bit colour output clips at 1.0 (hue shifted, and the pixel not
marked clipped): for three-colour sensors LibRaw demosaics in the camera's space with every channel's gain at most 1
(its "unclip" highlight mode), and the gain it left out and the camera-to-sRGB matrix LibRaw computed
(``rgb_cam``) are applied here, in floats, so that what the sensor measured stays exact above 1.0. In pixels the
mask below marks clipped, every channel is held to 1.0 in the balanced camera space, as LibRaw's clipping mode
does: a saturated pixel read as a lower bound, not the magenta its unequal clip levels would give.

The clipping mask is taken in the sensor's own domain: a photosite is saturated when it reached its
channel's white level (per-channel levels where the file has them). After white balance the channels
saturate at different output levels, so a mask taken on the developed image would miss a red channel
clipped at 1.6 while green reads 0.9, and exposing that pixel down would turn it magenta. Demosaicing
spreads a photosite over its neighbours, so the mask is widened by two pixels on Bayer sensors; pixels the
developer clipped (any channel at full scale: sensors LibRaw colours itself, four-colour and monochrome ones) are
added.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..errors import InputError
from ..vocabulary import MAX_MEGAPIXELS, MIN_PHOTO_SIDE
from . import dng_tags
from .dng_opcodes import (
    GainMap,
    Opcode,
    channel_gains,
    gain_maps_of,
    gains_at_photosites,
    least_gain,
    opcodes_not_applied,
    page_opcode_lists,
    photosite_gains,
)
from .exif import ORIENTATION_TAG, ExifInfo, read_raw_container_exif, tiff_exif, tiff_read_errors
from .library_output import stderr_without

# LibRaw's orientation codes (sizes.flip) as the EXIF orientations they stand for (3 = 180, 5 = 90 CCW, 6 = 90 CW;
# the mirrored ones 1, 2, 4, 7), turned as LibRaw's own postprocess turns them.
_EXIF_ORIENTATION_OF_FLIP = {0: 1, 1: 2, 2: 4, 3: 3, 4: 5, 5: 8, 6: 6, 7: 7}
_BAYER_REACH = 2  # pixels a photosite reaches through AHD demosaicing


@dataclass
class LinearPhoto:
    """A RAW photo as scene-linear Rec.709 RGB and the pixels whose light the sensor did not measure."""

    path: Path
    linear: np.ndarray  # float32 HxWx3, >= 0; 1.0 = saturation of the least amplified channel
    clipped: np.ndarray  # bool HxW
    white_level: int
    exif: ExifInfo
    not_applied: tuple[Opcode, ...] = ()  # a DNG's opcodes the pixels lack (dng_opcodes.opcodes_not_applied)

    @property
    def clipped_fraction(self) -> float:
        return float(self.clipped.mean())


def saturated_photosites(raw_image: np.ndarray, raw_colors: np.ndarray | None, white_levels: np.ndarray) -> np.ndarray:
    """Photosites at or above their channel's white level.

    ``raw_image`` is HxW (a colour filter array; ``raw_colors`` gives each site's channel) or HxWxC (one
    value per channel, as linear DNGs); ``white_levels`` holds one level per channel index.
    """
    if raw_image.ndim == 3:
        return np.any(raw_image >= white_levels[: raw_image.shape[2]], axis=2)
    return raw_image >= white_levels[raw_colors]


def saturation_levels(white_level: int, linear_max: list[int] | None, dng_levels: list[int] | None) -> np.ndarray:
    """Each channel's saturation level (LibRaw's channel order R, G, B, G2), never above LibRaw's ``white_level``
    (``maximum``: a photosite there develops to full scale).

    A DNG's WhiteLevel (``dng_levels``) is the file's own: LibRaw's per-channel "linearity limits" (``linear_max``,
    rawpy's ``camera_white_level_per_channel``) are its maker-specific values, which it sets for a DNG whose Make is
    Nikon to 0.9346 of the WhiteLevel with no such limit in the file, so a Nikon DNG counted unsaturated photosites
    as clipped; and ``white_level`` is the largest of a LinearRaw DNG's per-sample WhiteLevels, so a channel that
    saturated below it went unmarked. Other RAW files: ``linear_max`` where LibRaw has it, else ``white_level``.
    """
    levels = dng_levels or (linear_max if linear_max and any(linear_max) else [white_level] * 4)
    return np.minimum(np.array(levels, dtype=np.int64), white_level)


def photosite_channels(raw: Any) -> np.ndarray:
    """Each visible photosite's channel index (HxW) into LibRaw's per-channel levels (R, G, B, G2).

    A monochrome sensor (one colour: a Leica Monochrom's DNG, LinearRaw with one sample) has no colour filter array,
    and LibRaw's map for it reads 6 at every site (its ``FC`` of a zero ``filters``), outside the four levels: every
    photosite is channel 0 (until 2026-12-07 such a DNG failed as "unexpected IndexError: index 6 is out of bounds")."""
    colors = raw.raw_colors_visible
    return np.zeros_like(colors) if raw.num_colors == 1 else colors


def as_rgb(developed: np.ndarray) -> np.ndarray:
    """LibRaw's development as HxWx3: a monochrome sensor's comes back with one channel (HxWx1), its grey, which
    becomes R = G = B (the readers' and the pipeline's photos are RGB)."""
    return np.repeat(developed, 3, axis=2) if developed.shape[2] == 1 else developed


def _white_levels(page: Any) -> list[int]:
    """The WhiteLevel of a DNG's raw image (``page``: :func:`_dng_raw_page`) as four levels (R, G, B, G2: one value
    for every channel, or one per sample, G2 taking G's; without the tag or its values, or for a level under 1 or that
    is no finite number, the DNG default, 2^BitsPerSample - 1, as LibRaw takes it: a WhiteLevel of 0, or of -5 (a
    signed type), marked every photosite clipped, an infinite one failed as "unexpected OverflowError"). A
    floating-point image's default is 1.0 (DNG 1.4, chapter 4), as LibRaw reads 32-bit floats: until 2026-12-08 it
    was 2^32 - 1, and a photo with light to 3.0 read 0.1 as 0.033 (half floats: :func:`_float_white_fault`)."""
    floating = int(page.sampleformat) == dng_tags.SAMPLE_FORMAT_FLOAT
    default = 1 if floating else (1 << page.bitspersample) - 1
    values = [int(v) if 1 <= v < np.inf else default
              for v in np.atleast_1d(page.tags.valueof(dng_tags.WHITE_LEVEL, default)).astype(np.float64)] or [default]
    return values[:1] * 4 if len(values) < 3 else [*values[:3], values[1]]


def dng_levels_as_developed(raw: Any, facts: RawFileFacts) -> tuple[list[int] | None, float]:
    """A DNG's white levels (``facts.dng_levels``) in the units of LibRaw's photosites, and what LibRaw's
    development is multiplied by for 1.0 to be the DNG's WhiteLevel (1.0 but for floating-point DNGs).

    A floating-point DNG (SampleFormat 3: Lightroom's HDR and panorama merges, its Enhance / Denoise output) holds
    light in floats, its WhiteLevel in the same units (1 for data in 0..1). LibRaw turns the floats into integers
    (``convertFloatToInt``) so that the larger of its WhiteLevel and its brightest value becomes its ``maximum``
    (16383), where the WhiteLevel tag still read 1: every photosite counted as saturated (a whole photo marked
    clipped), and data above the WhiteLevel (values to 3.0 of a white of 1) darkened the whole photo by that ratio,
    where the DNG clips them to 1.0 (DNG 1.4, chapter 5, "Rescaling"). The brightest value is read with tifffile
    (``facts.brightest``); where tifffile cannot decode the raw image (a floating-point predictor without
    imagecodecs), the data is taken to lie within the WhiteLevel, as DNG writers keep it."""
    dng_levels, developed_white = facts.dng_levels, float(raw.white_level)
    if dng_levels is None or not facts.floating_point or not _rescaled(dng_levels, developed_white):
        return dng_levels, 1.0
    white = max(dng_levels)
    per_unit = developed_white / max(white, facts.brightest or 0.0)  # LibRaw's units per DNG unit
    return [max(int(round(level * per_unit)), 1) for level in dng_levels], developed_white / (white * per_unit)


def _rescaled(dng_levels: list[int], developed_white: float) -> bool:
    """Whether LibRaw developed a floating-point DNG on another scale than its WhiteLevel's (not where it kept the
    float scale: whites of 4096 to 32767)."""
    return abs(developed_white - max(dng_levels)) >= 0.5


def dng_without_raw_image(path: Path) -> bool:
    """Whether ``path`` is a DNG (IFD0 has DNGVersion) none of whose images is a raw one (NewSubfileType 0, CFA or
    LinearRaw): a file with only its previews, which LibRaw refused as "Unsupported file format or not RAW file"."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            if dng_tags.DNG_VERSION not in tif.pages.first.tags:
                return False
            try:
                return _dng_raw_page(tif) is None
            except tiff_read_errors():  # IFDs it cannot read: no raw image to be found in them
                return True
    except tiff_read_errors():
        return False


def _dng_raw_image_fact(path: Path, fact: Any) -> Any:
    """``fact(page)`` of a DNG's raw image (:func:`_dng_raw_page`), read by tifffile; None when ``path`` is not a
    DNG, has no such IFD, or cannot be read. For the refusals of a file LibRaw could not open: a file it opened is
    read once, by :func:`read_raw_file_facts`."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = _dng_raw_page(tif)
            return None if page is None else fact(page)
    except tiff_read_errors():
        return None


def _dng_raw_page(tif: Any) -> Any:
    """A DNG's raw image (the main, NewSubfileType 0, CFA or LinearRaw IFD: IFD0 or a SubIFD) in the file open in
    tifffile; None when it is not a DNG or has no such IFD."""
    first = tif.pages.first
    if dng_tags.DNG_VERSION not in first.tags:
        return None
    raw_photometrics = (dng_tags.PHOTOMETRIC_CFA, dng_tags.PHOTOMETRIC_LINEAR_RAW)
    return next((page for page in [first, *(first.pages or [])]
                 if not page.subfiletype and int(page.photometric) in raw_photometrics), None)


_Fact = TypeVar("_Fact")


@dataclass(frozen=True)
class RawFileFacts:
    """What a RAW file's TIFF structure says, read in one pass (:func:`read_raw_file_facts`); None (none) for what
    the file does not say or tifffile cannot read."""

    tiff_exif: ExifInfo | None = None  # :func:`cevr_cli.io.exif.tiff_exif`
    dng_levels: list[int] | None = None  # a DNG raw image's WhiteLevel, R G B G2 (:func:`_white_levels`)
    floating_point: bool = False  # its samples are floats (SampleFormat 3)
    brightest: float | None = None  # its brightest sample, for a floating-point DNG LibRaw rescaled
    cfa_planes: np.ndarray | None = None  # its colour filter pattern (:func:`_cfa_planes`)
    opcode_lists: dict[int, bytes] = field(default_factory=dict)  # its opcode lists (:mod:`.dng_opcodes`)
    active_area: tuple[int, int] = (0, 0)  # the top and left of its ActiveArea (:func:`active_area_offset`)
    # why the readers refuse it: its ActiveArea no area of its image (:func:`active_area_fault`), its compressed data
    # no JPEG stream (:func:`_lossless_jpeg_fault`), its colour filter on no rectangular grid
    # (:func:`_cfa_layout_fault`) or of no pattern (:func:`_cfa_pattern_fault`), its data not of its size
    # (:func:`_data_size_fault`), its half floats of no white LibRaw reads (:func:`_float_white_fault`)
    faults: tuple[str, ...] = ()
    # its DefaultCropOrigin, DefaultCropSize and DefaultUserCrop (:func:`dng_default_crop`); None for other files
    crop_tags: tuple[list[float], list[float], list[float]] | None = None
    # its BlackLevelDeltaV, BlackLevelDeltaH, BlackLevel and BlackLevelRepeatDim (:func:`apply_dng_black_deltas`);
    # None for other files and floating-point DNGs
    black_tags: tuple[list[float], list[float], list[float], list[float]] | None = None
    orientation: int = 1  # a DNG's Orientation (IFD0) as stored, whatever its value (:func:`raw_flip`); 1 without, 0
    # (no EXIF orientation) where it cannot be read: LibRaw read ASCII "x" as 120, by dcraw's table a quarter turn

    def raw_flip(self, raw: Any) -> int:
        """LibRaw's orientation code for the photo (``raw.sizes.flip``, :func:`upright`), but 0, as stored, for a DNG
        whose Orientation is no EXIF orientation (outside 1-8): LibRaw reads any value by dcraw's table
        ("50132467"[value & 7]), which turned a photo of Orientation 0 a quarter turn, one of 65535 transposed."""
        return raw.sizes.flip if 1 <= self.orientation <= 8 else 0

    @property
    def not_applied(self) -> tuple[Opcode, ...]:
        """The opcodes of its lists that the readers here do not apply (:func:`.dng_opcodes.opcodes_not_applied`); every
        one, its GainMaps included, where its WhiteLevel could not be read: the readers develop that DNG as another RAW
        file (until 2026-12-08 its lens shading went uncorrected without a word)."""
        return opcodes_not_applied(self.opcode_lists, gain_maps=self.dng_levels is not None)


def read_raw_file_facts(path: Path, developed_white: float) -> RawFileFacts:
    """What ``path``'s TIFF structure (DNG, CR2, NEF, ...) says that LibRaw does not give: its EXIF, and for a DNG
    its raw image's white levels, sample format, colour filter pattern, opcode lists, ActiveArea, crop and black
    tags and IFD0's Orientation (:class:`RawFileFacts`), all from one tifffile parse of the file (each fact had its
    own parse: a DNG was parsed five times per read). A floating-point DNG's
    pixels are decoded for its brightest value only where LibRaw developed it on another scale than its WhiteLevel
    (``developed_white``: LibRaw's ``white_level``, :func:`dng_levels_as_developed`). Each fact that cannot be read
    is None on its own, the others still read; a file tifffile cannot open (CR3, RAF) says nothing."""
    import tifffile

    errors = tiff_read_errors()

    def read(fact: Callable[[], _Fact]) -> _Fact | None:
        try:
            return fact()
        except errors:
            return None

    try:
        with tifffile.TiffFile(path) as tif:
            exif = read(lambda: tiff_exif(tif))
            page = read(lambda: _dng_raw_page(tif))
            if page is None:
                return RawFileFacts(exif)
            levels = read(lambda: _white_levels(page))
            floating = read(lambda: int(page.sampleformat)) == dng_tags.SAMPLE_FORMAT_FLOAT
            brightest = read(lambda: float(np.nanmax(page.asarray()))) if (
                floating and levels is not None and _rescaled(levels, developed_white)) else None
            area = read(lambda: _tag_numbers(page, dng_tags.ACTIVE_AREA, []))  # top, left, bottom, right
            area_fault = read(lambda: active_area_fault(page))
            pattern_fault = read(lambda: _cfa_pattern_fault(page))
            faults = (area_fault, read(lambda: _lossless_jpeg_fault(tif, page)), read(lambda: _cfa_layout_fault(page)),
                      pattern_fault, read(lambda: _data_size_fault(page)),
                      read(lambda: _float_white_fault(page)))
            orientation = read(lambda: int(tif.pages.first.tags.valueof(ORIENTATION_TAG, 1)))  # IFD0's, as stored
            return RawFileFacts(
                tiff_exif=exif, dng_levels=levels, floating_point=floating, brightest=brightest,
                cfa_planes=None if pattern_fault is not None else read(lambda: _cfa_planes(page)),
                opcode_lists=read(lambda: page_opcode_lists(page)) or {},
                active_area=(int(area[0]), int(area[1])) if area and area_fault is None else (0, 0),
                faults=tuple(fault for fault in faults if fault is not None),
                crop_tags=read(lambda: _crop_tags(page)),
                black_tags=None if floating else read(lambda: _black_tags(page)),
                orientation=0 if orientation is None else orientation)  # one it cannot read: as stored
    except errors:
        return RawFileFacts()


# the TIFF types whose values LibRaw reads as their own (dcraw's getint: SHORT's two bytes, four bytes of any other):
# SHORT, LONG, SLONG. Of a RATIONAL ActiveArea 2/1, 2/1, 30/1, 40/1 it read the fractions' 2, 1, 2, 1: its visible image
# 62x62, where the area tifffile reads, in which the readers place a DNG's crop and GainMaps, is 28x38
_LIBRAW_INTEGER_TYPES = (3, 4, 9)


def _tiff_type_name(dtype: int) -> str:
    """A TIFF type's name (TIFF 6.0, section 2: 5 RATIONAL), or its number where it has none."""
    import tifffile

    try:
        return tifffile.DATATYPE(int(dtype)).name
    except ValueError:
        return str(int(dtype))


def active_area_fault(page: Any) -> str | None:
    """Why a DNG raw image's ActiveArea (``page``: :func:`_dng_raw_page`) is no area of its image: of a type LibRaw
    reads as other numbers than tifffile does (:data:`_LIBRAW_INTEGER_TYPES`; DNG's is SHORT or LONG: until
    2026-12-08 a RATIONAL one was read by both, LibRaw's image and the facts placed in it disagreeing), other than four
    values (top, left, bottom, right), or a rectangle that is empty or reaches outside the image (DNG 1.6, chapter
    4; the DNG SDK refuses such a file, "Invalid ActiveArea"); None for a sound one, or none (the whole image). LibRaw
    refused such a file as "Unsupported file format or not RAW file" or an "Input/output error", or took one past
    the image for its sensor, "without its pixel data"."""
    area = _tag_numbers(page, dng_tags.ACTIVE_AREA, [0.0, 0.0, page.imagelength, page.imagewidth])
    if len(area) != 4:
        return f"with a malformed ActiveArea: {len(area)} values, not its top, left, bottom and right"
    top, left, bottom, right = area
    if 0 <= top < bottom <= page.imagelength and 0 <= left < right <= page.imagewidth:
        tag = page.tags.get(dng_tags.ACTIVE_AREA)
        if tag is None or int(tag.dtype) in _LIBRAW_INTEGER_TYPES:
            return None
        return (f"with a malformed ActiveArea: of TIFF type {_tiff_type_name(tag.dtype)}, where DNG's is SHORT or "
                "LONG (LibRaw reads other numbers from it)")
    return (f"with a malformed ActiveArea: top, left, bottom, right {', '.join(f'{value:.10g}' for value in area)} "
            f"is no area of its {page.imagewidth}x{page.imagelength} image")


_JPEG_SOI = b"\xff\xd8"  # a JPEG stream's start-of-image marker (ITU T.81, B.1.1.3)


def _lossless_jpeg_fault(tif: Any, page: Any) -> str | None:
    """Why the lossless JPEG data of a DNG raw image (Compression 7: each strip or tile a JPEG stream, DNG 1.6,
    chapter 3; ``page`` in the file open in tifffile, ``tif``) cannot be its image: a strip or tile that does not
    start with a JPEG's start-of-image marker (zeros where a copy was cut short and padded, uncompressed data so
    labelled). LibRaw's decoder stops at such a stream without a word and develops what its buffer held: a different
    photo on every read. None for other compressions and for streams that start as JPEG's do."""
    if page.compression != 7:
        return None
    for index, offset in enumerate(page.dataoffsets):
        tif.filehandle.seek(offset)
        if tif.filehandle.read(2) != _JPEG_SOI:
            return (f"whose lossless JPEG {'tile' if page.is_tiled else 'strip'} {index} holds no JPEG stream "
                    "(damaged data)")
    return None


def _data_size_fault(page: Any) -> str | None:
    """Why a DNG raw image's uncompressed data (Compression 1; ``page``: its raw image) cannot be its photosites: its
    strips or tiles hold other than the bytes its size, samples and BitsPerSample take (each row starting on a byte,
    TIFF 6.0's, or not, and a last strip of RowsPerStrip rows, allowed; less than a row more, too): a BitsPerSample of
    12 or 8 on 16-bit data, which LibRaw unpacked as such without a word until 2026-12-08, a photo of noise (a scene
    of mean 0.57 read 0.48 and 0.03). None for sound data, compressed data (:func:`_lossless_jpeg_fault`) and an image
    without strips or tiles."""
    counts = [int(count) for count in page.databytecounts]
    if page.compression != 1 or not counts:
        return None
    bits, samples = int(page.bitspersample), int(page.samplesperpixel)
    planes, per_site = (samples, 1) if page.planarconfig == 2 else (1, samples)  # 2: each sample a plane of its own
    if page.is_tiled:
        rows, cols = int(page.tilelength), int(page.tilewidth)
        chunks = -(-page.imagelength // rows) * -(-page.imagewidth // cols)
        rows_held, rows_at_most = chunks * rows, chunks * rows
    else:
        rows, cols = min(int(page.rowsperstrip or page.imagelength), page.imagelength), page.imagewidth
        rows_held, rows_at_most = page.imagelength, -(-page.imagelength // rows) * rows
    row_bytes = -(-cols * per_site * bits // 8)
    least = planes * min(rows_held * row_bytes, -(-rows_held * cols * per_site * bits // 8))
    most = planes * (rows_at_most + 1) * row_bytes
    held = sum(counts)
    if least <= held < most:
        return None
    return (f"whose uncompressed data holds {held} bytes, where its {page.imagewidth}x{page.imagelength} image of "
            f"{samples} sample{'s' if samples > 1 else ''} of {bits} bits takes {least}: its BitsPerSample ({bits}) or "
            "its strips' byte counts are wrong")


def _float_white_fault(page: Any) -> str | None:
    """Why a floating-point DNG's light cannot be read (``page``: its raw image): half floats (16 bits) without a
    WhiteLevel, whose default for floating-point data is 1.0 (DNG 1.4, chapter 4), where LibRaw takes the integer
    default, 2^16 - 1, and scales the floats to its 16383 by it: light of 0 to 1 became photosites of 0 to 0.25, held
    as whole numbers, 0 (until 2026-12-08 refused as "every photosite reads 0"). None for others (LibRaw reads 32-bit
    floats without a WhiteLevel on a white of 1.0)."""
    if (int(page.sampleformat) != dng_tags.SAMPLE_FORMAT_FLOAT or int(page.bitspersample) != 16
            or dng_tags.WHITE_LEVEL in page.tags):
        return None
    return ("of 16-bit floating-point samples without a WhiteLevel: LibRaw takes its white for 65535, an integer "
            "sample's, not a floating-point DNG's 1.0, and reads its light 65535 times too dark (0 to 1 as 0)")


_CFA_LAYOUT_RECTANGULAR = 1  # CFALayout's default; 2-9 are staggered (DNG 1.6, chapter 4)
_CFA_LAYOUT_STAGGERED = range(2, 10)


def _cfa_layout_fault(page: Any) -> str | None:
    """Why a CFA DNG's colour filter (``page``: its raw image) is refused: a CFALayout other than rectangular (1).
    Layouts 2-9 are staggered (DNG 1.6, chapter 4: 2 and 3, even columns offset half a row down or up; 4 and 5, even
    rows offset half a column right or left; 6-9, DNG 1.3's, even rows offset half a row up or down and even columns
    half a column left or right), their photosites on no rectangular grid: LibRaw develops layout 2 as a Fujifilm
    SuperCCD, turned (a 48x32 image as 56x55 before its rotation; refused until 2026-12-08 as "a 2x2 colour filter
    pattern that LibRaw reads wrong", whose pattern was right), and layouts 3-9 as a rectangular grid, each photosite
    half a site from where it lies (until 2026-12-08 developed so without a word); other values are no layout DNG
    defines. None for a rectangular one and a LinearRaw image."""
    layout = int(page.tags.valueof(dng_tags.CFA_LAYOUT, _CFA_LAYOUT_RECTANGULAR))
    if int(page.photometric) != dng_tags.PHOTOMETRIC_CFA or layout == _CFA_LAYOUT_RECTANGULAR:
        return None
    if layout in _CFA_LAYOUT_STAGGERED:
        return f"whose colour filter lies on no rectangular grid (CFALayout {layout}), which cevr does not read"
    return f"with CFALayout {layout}, no layout DNG defines (1 to 9)"


def check_dng_fault(path: Path, fault: str | None) -> None:
    """Refuse a DNG whose tags or data cannot make its image (``fault``: :func:`active_area_fault`,
    :func:`_lossless_jpeg_fault`, :func:`_cfa_layout_fault`, :func:`_cfa_pattern_fault`,
    :func:`_data_size_fault`, :func:`_float_white_fault`).

    Raises:
        InputError: naming the fault.
    """
    if fault is not None:
        raise InputError(path, f"camera RAW (DNG) {fault}")


def _crop_tags(page: Any) -> tuple[list[float], list[float], list[float]]:
    """A DNG raw image's DefaultCropOrigin (default 0, 0), DefaultCropSize and DefaultUserCrop (DNG 1.6, chapter 4;
    ``page``: :func:`_dng_raw_page`), for :func:`dng_default_crop`."""
    return (_tag_numbers(page, dng_tags.DEFAULT_CROP_ORIGIN, [0.0, 0.0]),
            _tag_numbers(page, dng_tags.DEFAULT_CROP_SIZE, []), _tag_numbers(page, dng_tags.DEFAULT_USER_CROP, []))


def _black_tags(page: Any) -> tuple[list[float], list[float], list[float], list[float]]:
    """A DNG raw image's BlackLevelDeltaV, BlackLevelDeltaH, BlackLevel and BlackLevelRepeatDim (DNG 1.6, chapter 4;
    ``page``: :func:`_dng_raw_page`), for :func:`apply_dng_black_deltas`: a BlackLevel of no values is the default, 0
    (it raised IndexError), and a BlackLevelRepeatDim of other than two values the default, 1 x 1 (ValueError, said as
    a file LibRaw could not read).

    Raises:
        ValueError: a value that is no finite number (a NaN black, cast to 16 bits, made its photosites 0).
    """
    tags = (_tag_numbers(page, dng_tags.BLACK_LEVEL_DELTA_V, []), _tag_numbers(page, dng_tags.BLACK_LEVEL_DELTA_H, []),
            _tag_numbers(page, dng_tags.BLACK_LEVEL, []) or [0.0],
            _tag_numbers(page, dng_tags.BLACK_LEVEL_REPEAT_DIM, []))
    if not all(np.all(np.isfinite(values)) for values in tags):
        raise ValueError("a black level that is no finite number")
    return (*tags[:3], tags[3] if len(tags[3]) == 2 else [1.0, 1.0])


def clipping_mask(saturated: np.ndarray, shape: tuple[int, int], *, bayer: bool) -> np.ndarray:
    """The pixels of a developed image of ``shape`` (HxW) that saturated photosites reach."""
    import cv2

    mask = saturated.astype(np.uint8)
    if bayer:
        size = 2 * _BAYER_REACH + 1
        mask = cv2.dilate(mask, np.ones((size, size), np.uint8))
    if mask.shape != shape:  # cameras whose developed image is resized (non-square pixels)
        mask = cv2.resize(mask, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return mask > 0


# Raw codecs, lossless or lossy, spend at least about a bit per photosite; a file with less than a quarter
# bit per photosite cannot hold its pixels (exiftool's header-only DNG and RW2 files: a few kB).
_MIN_BYTES_PER_PHOTOSITE = 1 / 32


def check_pixel_data(path: Path, raw: Any) -> None:
    """Refuse a RAW file whose pixel data is missing, which LibRaw decodes without complaint to black or to
    whatever its buffer held (a different result on every read).

    Raises:
        InputError: the file is far smaller than its sensor's photosites need, or every photosite reads
            the same value.
    """
    width, height = raw.sizes.raw_width, raw.sizes.raw_height
    size = path.stat().st_size
    if size < width * height * _MIN_BYTES_PER_PHOTOSITE:
        raise InputError(path, f"camera RAW without its pixel data: {size / 1e3:.0f} kB for a {width}x{height} "
                               "sensor (a header-only file?)")
    visible = raw.raw_image_visible
    if visible.size and visible.min() == visible.max():
        raise InputError(path, f"camera RAW without its pixel data: every photosite reads {int(visible.min())}")


_MAX_PHOTOSITE = 65535  # LibRaw holds photosites in 16 bits (a floating-point DNG's scaled into them)


def check_white_level(path: Path, raw: Any) -> None:
    """Refuse a RAW file whose white level is none (0: clipped highlights cannot be found) or lies above what any
    of LibRaw's 16-bit photosites holds, which it develops without complaint to a black photo: a DNG's WhiteLevel of
    ASCII "4000", whose four bytes LibRaw reads as 2123759616.

    Raises:
        InputError: no white level, or one above 65535.
    """
    if not raw.white_level:
        raise InputError(path, "the RAW file gives no white level: clipped highlights cannot be found")
    if raw.white_level > _MAX_PHOTOSITE:
        raise InputError(path, f"camera RAW whose white level ({int(raw.white_level)}) lies above any photosite's "
                               f"({_MAX_PHOTOSITE}): a damaged WhiteLevel, its light unreadable")


def check_black_level(path: Path, raw: Any) -> None:
    """Refuse a RAW file whose every colour's black level lies at or above its white level (a damaged BlackLevel or
    BlackLevelDelta: 1e9 of a white of 4000), whose photosites hold no light between them: the linear reader read it
    black and LibRaw's development, with a DNG's per-row blacks, white.

    Raises:
        InputError: no colour's black level lies below the white level.
    """
    black = min(int(level) for level in raw.black_level_per_channel[:raw.num_colors])
    if black >= raw.white_level:
        raise _no_light(path, black, raw.white_level)


def _no_light(path: Path, black: float, white: float) -> InputError:
    """The refusal of a RAW whose least black level (``black``) lies at or above its white level."""
    return InputError(path, f"camera RAW whose black level ({black:.10g}) is at or above its white level "
                            f"({white:.10g}): its photosites hold no light")


def _cfa_tags(page: Any) -> tuple[int, int, np.ndarray, list[int]]:
    """A CFA DNG's CFARepeatPatternDim (rows, columns; default 2 x 2), CFAPattern (TIFF/EP colour codes; none without
    the tag) and CFAPlaneColor (default red, green, blue; DNG 1.4, chapter 4); ``page``: its raw image."""
    rows, cols = (int(v) for v in page.tags.valueof(dng_tags.CFA_REPEAT_PATTERN_DIM, (2, 2)))
    pattern = np.frombuffer(bytes(page.tags.valueof(dng_tags.CFA_PATTERN, b"")), np.uint8)
    return rows, cols, pattern, list(bytes(page.tags.valueof(dng_tags.CFA_PLANE_COLOR, b"\x00\x01\x02")))


def _cfa_pattern_fault(page: Any) -> str | None:
    """Why a CFA DNG's colour filter pattern (``page``: its raw image) is none: no CFAPattern, one that does not fill
    its CFARepeatPatternDim (or a dimension of 0), one naming a colour its CFAPlaneColor lacks, or one without a colour
    CFAPlaneColor names. DNG gives CFAPattern no default (the DNG SDK's is no colour, 255) and the DNG SDK refuses each
    (dng_ifd::IsValidCFA); LibRaw develops such a file in colours it guesses or reads from the tag's first bytes,
    without a word (until 2026-12-08: a scene of mean 0.57 read 0.78 without CFAPattern, red 0.81 as 0.14 of an
    all-green pattern). None for a sound pattern and a LinearRaw image."""
    if int(page.photometric) != dng_tags.PHOTOMETRIC_CFA:
        return None
    rows, cols, pattern, plane_colours = _cfa_tags(page)
    if dng_tags.CFA_PATTERN not in page.tags:
        return "without a colour filter pattern (no CFAPattern): its colours would be guessed"
    if min(rows, cols) < 1 or pattern.size != rows * cols:
        return (f"whose CFAPattern of {pattern.size} colours does not fill its {rows}x{cols} CFARepeatPatternDim: its "
                "colours would be guessed")
    if unnamed := sorted(set(pattern.tolist()) - set(plane_colours)):
        return (f"whose CFAPattern holds colour {unnamed[0]}, which its CFAPlaneColor "
                f"({', '.join(map(str, plane_colours))}) lacks: its colours would be guessed")
    if unused := [code for code in plane_colours if code not in pattern.tolist()]:
        return (f"whose CFAPattern holds no photosite of colour {unused[0]}, which its CFAPlaneColor "
                f"({', '.join(map(str, plane_colours))}) names: its colours would be guessed")
    return None


def _cfa_planes(page: Any) -> np.ndarray | None:
    """A CFA DNG's colour filter pattern (CFARepeatPatternDim rows x columns; ``page``: its raw image,
    :func:`_dng_raw_page`) as LibRaw numbers its colours: each site's colour (CFAPattern, TIFF/EP colour codes) as its
    plane, its place in CFAPlaneColor (:func:`_cfa_tags`); None when it is not a CFA image. Its tags must make a
    pattern: the caller asks :func:`_cfa_pattern_fault` first, which refuses the others (ValueError here)."""
    if int(page.photometric) != dng_tags.PHOTOMETRIC_CFA:
        return None
    rows, cols, pattern, plane_colours = _cfa_tags(page)
    return np.array([plane_colours.index(code) for code in pattern.tolist()]).reshape(rows, cols)


_CFA_CHECKED_SIDE = 24  # a multiple of every pattern period LibRaw keeps (1, 2, 4 and 8 rows; 2 columns; X-Trans's 6)


def check_cfa_pattern(path: Path, raw: Any, expected: np.ndarray | None) -> None:
    """Refuse a CFA DNG whose colour filter pattern LibRaw reads wrong, which it develops without complaint in wrong
    colours (a flat grey as R 0.35, G 0.18, B 0.21 with stripes).

    LibRaw (dcraw's ``filters``) keeps a pattern of 8 rows by 2 columns, or X-Trans's 6 x 6, and fills it from the
    CFAPattern tag in that order whatever its CFARepeatPatternDim: a 2x4 or a quad-Bayer 4x4 pattern (a 4x4 of
    2x2 same-colour blocks, as phones' high-resolution modes write) lands on the wrong photosites. Its colour map is
    compared with the DNG's pattern, at every phase (where the pattern starts at the active area: LibRaw's margins).

    ``expected``: the DNG's pattern (:attr:`RawFileFacts.cfa_planes`), None for other files.

    Raises:
        InputError: the map LibRaw developed by is not the DNG's pattern.
    """
    if raw.num_colors == 1 or expected is None:  # a monochrome sensor has no pattern to misread
        return
    side = _CFA_CHECKED_SIDE
    seen = np.array(raw.raw_colors_visible[:side, :side])
    if raw.num_colors == 3:
        seen[seen == 3] = 1  # LibRaw numbers the second green 3
    rows, cols = expected.shape
    tiled = np.tile(expected, (side // rows + 2, side // cols + 2))
    h, w = seen.shape
    if any(np.array_equal(tiled[r:r + h, c:c + w], seen) for r in range(rows) for c in range(cols)):
        return
    raise InputError(path, f"camera RAW (DNG) with a {rows}x{cols} colour filter pattern that LibRaw reads wrong "
                           "(its colours would be false)")


def raw_exif(path: Path, raw: Any, tiff: ExifInfo | None) -> ExifInfo:
    """What a RAW file says about its capture: the EXIF of its TIFF structure (camera, date, exposure, lens:
    ``tiff``, :attr:`RawFileFacts.tiff_exif`), or of the containers that are not TIFF-structured (CR3's metadata
    boxes, RAF's preview), completed by what LibRaw parsed (exposure, date, lens) for the facts they lack.
    Orientation 1: the RAW readers turn the pixels upright."""
    tiff = tiff or read_raw_container_exif(path) or ExifInfo()
    other, when = raw.other, raw.other.timestamp
    return replace(
        tiff, orientation=1,
        exposure_time=tiff.exposure_time or _positive(other.shutter_speed),
        f_number=tiff.f_number or _positive(other.aperture), iso=tiff.iso or _positive(other.iso_speed),
        lens=tiff.lens or raw.lens.model or None,
        datetime_original=tiff.datetime_original or (
            when.strftime("%Y:%m:%d %H:%M:%S") if when > datetime.fromtimestamp(0) else None))


def _positive(value: float) -> float | None:
    """LibRaw's number, None where it holds 0 (unknown); float32 noise rounded off (1/250 s, not 0.0040000002)."""
    return float(f"{value:.6g}") if value > 0 else None


@contextmanager
def open_raw(path: Path, max_megapixels: float, min_side: int
             ) -> Iterator[tuple[Any, RawFileFacts, tuple[slice, slice] | None]]:
    """LibRaw's handle on ``path`` (rawpy), after its checks (size, pixel data, white and black levels, colour filter
    pattern, a DNG's ActiveArea and compressed data,
    and the size of a DNG's default crop), what the file's TIFF structure says (:func:`read_raw_file_facts`) and the
    DNG's default crop the readers cut out (:func:`dng_default_crop`, computed once: it was computed again by each
    reader); LibRaw's failures become one InputError.

    Both RAW readers (this module's linear one and ``images.read_photo``'s developed one) open files here.
    """
    import rawpy

    from .images import check_dimensions, check_input_file, check_size_limits, photo_decoding

    check_size_limits(max_megapixels, min_side)
    check_input_file(path, "a camera RAW file")
    try:
        # the libraries' warnings meanwhile (tifffile's on a tag it cannot read) name the photo
        with photo_decoding(path), open(path, "rb") as fh, rawpy.imread(fh) as raw:
            # only while LibRaw reads and unpacks (check_pixel_data's raw_image_visible), where its data errors
            # arise: fd 2 captured for the whole development would freeze the progress display meanwhile
            with stderr_without(_LIBRAW_DATA_ERROR):
                check_dimensions(path, raw.sizes.width, raw.sizes.height, max_megapixels, min_side)
                # (a floating-point DNG's pixels may be decoded for its facts: not before its size is checked)
                facts = read_raw_file_facts(path, float(raw.white_level))
                check_dng_fault(path, next(iter(facts.faults), None))  # before LibRaw unpacks it, by its sizes
                check_pixel_data(path, raw)
                check_white_level(path, raw)
                check_black_level(path, raw)
                check_cfa_pattern(path, raw, facts.cfa_planes)
            crop = dng_default_crop(facts, raw, path)
            warn_negative_gains(facts, path)
            if crop is not None:  # the picture the readers cut out (the sensor passed above): a 4x4 one was made
                check_dimensions(path, crop[1].stop - crop[1].start, crop[0].stop - crop[0].start, max_megapixels,
                                 min_side)
            yield raw, facts, crop
    except InputError:
        raise
    except (rawpy.LibRawError, OSError, ValueError) as exc:
        check_dng_fault(path, _dng_raw_image_fact(path, active_area_fault))  # what LibRaw refused it for
        size = _dng_raw_image_fact(path, lambda page: (page.imagewidth, page.imagelength)) if isinstance(
            exc, rawpy.LibRawFileUnsupportedError) else None
        if size and min(size) < _LIBRAW_MIN_SIDE:  # LibRaw's identify() takes none smaller for a RAW
            raise InputError(path, f"camera RAW of {size[0]}x{size[1]} pixels: LibRaw decodes none under "
                                   f"{_LIBRAW_MIN_SIDE} pixels a side") from None
        if isinstance(exc, rawpy.LibRawFileUnsupportedError) and dng_without_raw_image(path):
            raise InputError(path, "camera RAW (DNG) without a raw image: it holds only rendered images (a preview), "
                                   "no sensor data to develop") from None
        raise InputError(path, f"camera RAW not readable by LibRaw, truncated or not a RAW file ({_reason(exc)})"
                         ) from None


_LIBRAW_MIN_SIDE = 22

# LibRaw's default data-error handler (rawpy installs no other) prints to the C library's stderr, beside the one
# error line cevr gives: "unknown file: Unexpected end of file" for a truncated RAW (rawpy hands LibRaw a buffer, so
# no file name), "...: data corrupted at N" for damaged data.
_LIBRAW_DATA_ERROR = re.compile(rb"^.*: (?:Unexpected end of file|data corrupted at -?\d+)\r?\n?$")


def _reason(exc: BaseException) -> str:
    """LibRaw's reason as text: rawpy passes its message as bytes (``b'Input/output error'``)."""
    detail = exc.args[0] if len(exc.args) == 1 else str(exc)
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    return f"{type(exc).__name__}: {detail}"


def read_raw_linear(path: str | Path, *, max_megapixels: float = MAX_MEGAPIXELS,
                    min_side: int = MIN_PHOTO_SIDE) -> LinearPhoto:
    """Decode a camera RAW as scene-linear Rec.709 with its clipping mask.

    Raises:
        InputError: not decodable by LibRaw, no known white level, or outside the size limits.
    """
    import rawpy

    path = Path(path)
    with open_raw(path, max_megapixels, min_side) as (raw, facts, crop):
        exif = raw_exif(path, raw, facts.tiff_exif)
        dng_levels, exposure = dng_levels_as_developed(raw, facts)
        levels = saturation_levels(int(raw.white_level), raw.camera_white_level_per_channel, dng_levels)
        visible = raw.raw_image_visible
        colors = photosite_channels(raw) if visible.ndim == 2 else None
        saturated = saturated_photosites(visible, colors, levels)
        bayer = visible.ndim == 2 and raw.num_colors > 1  # a monochrome sensor's photosites are not interpolated
        flip, white = facts.raw_flip(raw), int(raw.white_level)  # before postprocess, whose user_flip=0 zeroes it
        black_scale = dng_black_scale(raw) if dng_levels is not None else None
        if dng_levels is not None:
            apply_dng_black_deltas(facts, raw, path)
        if raw.num_colors == 3:
            balanced, to_srgb = _develop_in_camera_space(raw, rawpy, black_scale)
            balanced *= np.float32(exposure)
            mask = clipping_mask(saturated, balanced.shape[:2], bayer=bayer)
            np.minimum(balanced, 1.0, out=balanced, where=mask[..., None])
            if dng_levels is not None:
                _multiply_dng_gain_maps(balanced, facts, raw, colors)
            linear = np.maximum(balanced @ to_srgb.T, 0.0, dtype=np.float32)
        else:
            if dng_levels is not None:
                apply_dng_gain_maps(facts, raw)
            developed = raw.postprocess(output_color=rawpy.ColorSpace.sRGB, highlight_mode=rawpy.HighlightMode.Clip,
                                        **white_balance_params(raw, black_scale), **_LINEAR_16_BIT)
            linear = as_rgb(developed).astype(np.float32) * np.float32(exposure / 65535.0)
            mask = clipping_mask(saturated, linear.shape[:2], bayer=bayer) | np.any(linear >= 1.0, axis=2)
            np.minimum(linear, 1.0, out=linear, where=mask[..., None])  # a floating-point DNG's data past its white
        linear, mask = (in_crop(image, crop, visible.shape) for image in (linear, mask))
    return LinearPhoto(path, upright(linear, flip), upright(mask, flip), white, exif, facts.not_applied)


# Linear 16-bit output at the file's own white level, as the sensor reads out (cevr turns it upright itself).
_LINEAR_16_BIT = {"no_auto_bright": True, "output_bps": 16, "gamma": (1, 1), "user_flip": 0, "adjust_maximum_thr": 0.0}


def _develop_in_camera_space(raw: Any, rawpy: Any, black_scale: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """A three-colour RAW demosaiced and white-balanced in the camera's space, float32 HxWx3 with 1.0 at the least
    amplified channel's saturation and nothing clipped, and LibRaw's camera -> sRGB matrix (``rgb_cam``) for it.

    LibRaw's highlight mode 1 ("unclip") divides the white-balance gains by the largest instead of the smallest, so
    that no channel passes full scale; the spread between the two is multiplied back here. The gains are given to
    LibRaw (``user_wb``): with ``use_camera_wb`` and no usable as-shot balance (a DNG without AsShotNeutral) it
    balanced by the grey-world average instead, whose spread is not the one multiplied back (a grey 0.26 read 0.22).
    A DNG's ``black_scale`` (:func:`dng_black_scale`) rides on the gains, so that LibRaw applies it to every
    photosite before demosaicing, the second green's included.
    """
    gains = _white_balance_gains(raw)
    given = gains * (1.0 if black_scale is None else black_scale)
    developed = raw.postprocess(user_wb=[float(g) for g in given], output_color=rawpy.ColorSpace.raw,
                                highlight_mode=rawpy.HighlightMode.Ignore, **_LINEAR_16_BIT)
    balanced = developed.astype(np.float32) * np.float32(given.max() / gains.min() / 65535.0)
    return balanced, _camera_to_srgb(raw)


def _camera_to_srgb(raw: Any) -> np.ndarray:
    """LibRaw's camera -> sRGB matrix (3x3) for a three-colour RAW: its ``cmatrix`` (rawpy's ``color_matrix``), or the
    identity where LibRaw has no colour data at all (a DNG without ColorMatrix1, or with one of too few values: no
    ``cmatrix``, no ``cam_xyz``), whose development LibRaw leaves in the camera's colours (``raw_color``): the linear
    reader multiplied by the zero matrix, a photo read black where LibRaw's own development gave its light."""
    matrix = np.asarray(raw.color_matrix, dtype=np.float32)[:, :3]
    return matrix if matrix.any() or np.any(raw.rgb_xyz_matrix) else np.eye(3, dtype=np.float32)


def dng_black_scale(raw: Any) -> np.ndarray:
    """What a DNG's four camera channels (LibRaw's order: R, G, B, G2, or a four-colour sensor's four) are multiplied
    by to be the DNG's own normalised values, (v - BlackLevel) / (WhiteLevel - BlackLevel) per channel (DNG 1.4
    specification, chapter 5, "Linearization" and "Black Subtraction", then "Rescaling"), in which its AsShotNeutral
    and colour matrices are given.

    LibRaw scales every channel by one range, WhiteLevel less the least of its four channel blacks (``adjust_bl``
    moves their common part into ``black``, and ``scale_colors`` divides by ``maximum - black``): a channel with a
    higher black read darker (blacks 200, 256, 300 of 4000: green 1.5 %, blue 2.6 %), a second green with a black of
    its own left a maze on flat light, and a LinearRaw DNG, whose unused fourth black stays 0, read
    (WhiteLevel - BlackLevel) / WhiteLevel of its light (12.8 % darker for a black of 512), its saturation below 1.0.
    Only a DNG defines its colour on per-channel ranges: other RAW files' as-shot multipliers balance the
    black-subtracted counts, which LibRaw's one range leaves in their ratios.
    """
    black = np.array(raw.black_level_per_channel, dtype=np.float64)
    white = float(raw.white_level)
    return (white - black.min()) / np.maximum(white - black, 1.0)


def white_balance_params(raw: Any, black_scale: np.ndarray | None) -> dict[str, Any]:
    """LibRaw's white-balance arguments for a development whose highlights LibRaw clips (``postprocess``, highlight
    mode 0): the camera's own balance where usable (``use_camera_wb``), and for a DNG whose channel blacks differ
    (``black_scale``, :func:`dng_black_scale`) the gains times that scale (``user_wb``), applied to every photosite
    before demosaicing. LibRaw divides the gains by their least, which the scale raised: ``bright`` (the divisor of
    the output curve's white) restores the exposure, so that 1.0 stays the least amplified channel's saturation."""
    if black_scale is None or np.all(black_scale == 1.0):
        return {"use_camera_wb": camera_balance_usable(raw)}
    gains = _white_balance_gains(raw)
    given = gains * black_scale
    return {"user_wb": [float(g) for g in given], "bright": float(given.min() / gains.min())}


def _resized(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``image`` (HxWxC) at ``shape``: for cameras whose developed image is resized (non-square pixels)."""
    import cv2

    return image if image.shape[:2] == shape else cv2.resize(image, (shape[1], shape[0]),
                                                             interpolation=cv2.INTER_LINEAR)


def apply_dng_black_deltas(facts: RawFileFacts, raw: Any, path: Path) -> None:
    """A DNG's per-row and per-column blacks (BlackLevelDeltaV, BlackLevelDeltaH, added to its BlackLevel: DNG 1.6,
    chapter 5, "Black Subtraction") given to LibRaw's photosites, in its own buffer, before development.

    LibRaw subtracts one black a channel, the BlackLevel plus the deltas' averages (dcraw's reading of them): rows
    whose black lay 150 above the average read a grey 0.3 as R 0.35, G 0.32, B 0.33 (white balance amplifies the
    error unequally), those 150 below as R 0.21, G 0.26, B 0.25. Each photosite ``v`` is
    put where LibRaw's black and range make of it the DNG's (v - black) / (WhiteLevel - black) at its own row and
    column (a photosite at the white level stays there). Deltas that do not count the image's rows or columns, black
    tags of a value that is no finite number (:func:`_black_tags`), and floating-point DNGs, are left as LibRaw reads
    them.

    Raises:
        InputError: every photosite's black lies at or above the white level (DOUBLE deltas of 1e30, which LibRaw
            does not read: the photo read black, where :func:`check_black_level` refuses LibRaw's).
    """
    if facts.black_tags is None:
        return
    per_row, per_col, levels, (repeat_rows, repeat_cols) = facts.black_tags
    visible = raw.raw_image_visible
    sites = visible if visible.ndim == 3 else visible[..., None]  # H x W x planes, a view of LibRaw's buffer
    height, width = visible.shape[:2]
    dy, dx = active_area_offset(facts, raw)
    per_row = np.array(per_row[dy:dy + height]) if len(per_row) >= dy + height else np.zeros(height)
    per_col = np.array(per_col[dx:dx + width]) if len(per_col) >= dx + width else np.zeros(width)
    if not (per_row.any() or per_col.any()):
        return
    cell = (max(int(repeat_rows), 1), max(int(repeat_cols), 1))
    if len(levels) < cell[0] * cell[1]:  # too few for the cell: its first for every photosite (a cell of 65535 x
        cell = (1, 1)  # 65535 filled with it took 32 GiB)
    planes = min(raw.num_colors, sites.shape[2])  # a LinearRaw DNG's samples (LibRaw's buffer holds 4)
    given = len(levels) // (cell[0] * cell[1])  # blacks a site: one a sample, or one for all (BlackLevel's default 0)
    levels = np.reshape(levels[:cell[0] * cell[1] * given], (*cell, given))
    levels = levels[..., :planes] if given >= planes else np.repeat(levels[..., :1], planes, axis=2)
    black = levels[((np.arange(height) + dy) % cell[0])[:, None], ((np.arange(width) + dx) % cell[1])[None, :]]
    black = black + (per_row[:, None] + per_col[None, :])[..., None]  # H x W x planes: the DNG's
    white = float(raw.white_level)
    if black.min() >= white:
        raise _no_light(path, black.min(), white)
    libraw = np.array(raw.black_level_per_channel, dtype=np.float64)
    libraw = libraw[photosite_channels(raw)][..., None] if visible.ndim == 2 else libraw[:planes]
    placed = libraw + (sites[..., :planes] - black) * (white - libraw) / np.maximum(white - black, 1.0)
    sites[..., :planes] = np.clip(np.round(placed), 0, 65535).astype(visible.dtype)


def warn_negative_gains(facts: RawFileFacts, path: Path) -> None:
    """Say, naming ``path``, that a DNG's GainMaps the readers apply hold negative gains
    (:func:`.dng_opcodes.least_gain`), which are held at 0: the photosites they multiply read black, as the DNG SDK,
    which multiplies by them, develops them (until 2026-12-08 without a word). Nothing for a DNG whose GainMaps are not
    applied (its WhiteLevel unread)."""
    least = least_gain(facts.opcode_lists) if facts.dng_levels is not None else None
    if least is not None:
        warnings.warn(f"{path}: DNG GainMap gains as low as {least:g}, below 0: held at 0, the photosites they "
                      "multiply read black", stacklevel=2)


def _multiply_dng_gain_maps(balanced: np.ndarray, facts: RawFileFacts, raw: Any, colors: np.ndarray | None) -> None:
    """Multiply ``balanced``, a three-colour DNG demosaiced in the camera's space (:func:`_develop_in_camera_space`),
    by its GainMaps, in place: in floats, after the clip, as a saturated photosite's light is at least its gain.
    OpcodeList2's maps are the photosites' (:func:`.dng_opcodes.channel_gains`, ``colors``: each one's channel),
    OpcodeList3's the demosaiced image's, one plane a camera colour."""
    height, width = raw.raw_image_visible.shape[:2]
    for gains in (channel_gains(visible_gain_maps(facts, raw, 2), colors, height, width,
                                period=np.shape(raw.raw_pattern)),
                  photosite_gains(visible_gain_maps(facts, raw, 3), (height, width, 3))):
        if gains is not None:
            balanced *= _resized(gains, balanced.shape[:2])


def apply_photosite_gains(raw: Any, gains: np.ndarray, colors: np.ndarray | None) -> None:
    """Multiply LibRaw's photosites, less their channel's black, by a DNG's gains (:mod:`.dng_opcodes`), in its own
    buffer (``raw_image_visible`` is a view of it), for the developments LibRaw clips: what the gains lift past 16
    bits is held there, and past the white level LibRaw develops to full scale (read as clipped)."""
    visible = raw.raw_image_visible
    black = np.array(raw.black_level_per_channel, dtype=np.float32)
    site_black = black[colors] if colors is not None else black[: visible.shape[2]]
    lifted = site_black + (visible.astype(np.float32) - site_black) * gains
    visible[...] = np.clip(np.round(lifted), 0, 65535).astype(visible.dtype)


def apply_dng_gain_maps(facts: RawFileFacts, raw: Any) -> None:
    """A DNG's GainMap opcodes (:mod:`.dng_opcodes`) applied to LibRaw's photosites, OpcodeList3's (the demosaiced
    image's) at each photosite's colour; other RAW files have none."""
    visible = raw.raw_image_visible
    colors = photosite_channels(raw) if visible.ndim == 2 else None
    planes = None if colors is None else np.where(colors == 3, 1, colors) if raw.num_colors == 3 else colors
    gains = [found for found in (photosite_gains(visible_gain_maps(facts, raw, 2), visible.shape),
                                 gains_at_photosites(visible_gain_maps(facts, raw, 3), planes, visible.shape))
             if found is not None]
    if gains:
        apply_photosite_gains(raw, np.prod(gains, axis=0), colors)


def active_area_offset(facts: RawFileFacts, raw: Any) -> tuple[int, int]:
    """Where LibRaw's visible image (``raw_image_visible``) starts in a DNG's ActiveArea, in rows and columns (0, 0
    for other RAW files). LibRaw starts it on an even row and column (a multiple of 6 on X-Trans), for its colour
    pattern: an ActiveArea at an odd row or column loses it, and what the DNG places inside its ActiveArea (its opcodes'
    areas and maps, its DefaultCrop) moves by that much."""
    top, left = facts.active_area
    return max(raw.sizes.top_margin - top, 0), max(raw.sizes.left_margin - left, 0)


def dng_default_crop(facts: RawFileFacts, raw: Any, path: Path) -> tuple[slice, slice] | None:
    """The rows and columns of LibRaw's visible image inside a DNG's DefaultCropOrigin and DefaultCropSize (DNG 1.6,
    chapter 4: the image a reader is to show, counted from its ActiveArea's corner, which :func:`active_area_offset`
    places; the whole area without them), and inside its DefaultUserCrop within that (DNG 1.5: the crop the camera
    was set to, top, left, bottom and right as fractions of the default crop; an aspect ratio chosen in the camera),
    rounded to whole photosites (``facts``: :attr:`RawFileFacts.crop_tags`); None for other files or where the crop
    holds none of the image. A negative DefaultCropOrigin (a signed type) is cut at the area's corner, and a crop that
    holds none of the image is none, each with a warning naming ``path`` (until 2026-12-08 without one).

    Adobe Camera Raw and Lightroom show this area; LibRaw develops the whole ActiveArea and only reports the default
    crop (``raw_inset_crops``): the photosites outside it, which a DNG keeps for demosaicing its edges (8 to 16 a
    side as a rule), were developed too, wider than the photographer's picture and at times dark or coloured at its
    edge."""
    if facts.crop_tags is None or facts.dng_levels is None:  # the readers take a DNG without levels for none
        return None
    (dy, dx), (rows, cols) = active_area_offset(facts, raw), raw.raw_image_visible.shape[:2]
    origin, size, user = facts.crop_tags
    # none given: an origin or a size of other than two values, or past a TIFF's 32-bit sizes (infinite ones raised
    # OverflowError where they were rounded, NaN ones ValueError, said as a file LibRaw could not read)
    given = len(origin) == len(size) == 2 and bool(np.all(np.abs([*origin, *size]) < 2.0**32))
    left, top, width, height = [*origin, *size] if given else [0, 0, cols + dx, rows + dy]
    if given and min(left, top) < 0:  # a signed type: DNG's are unsigned (the DNG SDK refuses it), the pixels sound
        warnings.warn(f"{path}: DNG DefaultCropOrigin {left:g}, {top:g} is negative (it counts from the ActiveArea's "
                      "corner): the crop is cut at that corner", stacklevel=2)
    user_top, user_left, user_bottom, user_right = np.clip(user, 0.0, 1.0) if len(user) == 4 else (0, 0, 1, 1)
    if user_bottom > user_top and user_right > user_left:  # else none worth the name: the default crop
        top, left, height, width = (top + user_top * height, left + user_left * width,
                                    (user_bottom - user_top) * height, (user_right - user_left) * width)
    crop = (slice(max(round(top) - dy, 0), min(round(top + height) - dy, rows)),
            slice(max(round(left) - dx, 0), min(round(left + width) - dx, cols)))
    if all(side.stop > side.start for side in crop):
        return crop
    if given:  # the DNG SDK refuses it ("Invalid DefaultCropSize", "Default crop extends outside ActiveArea")
        warnings.warn(f"{path}: DNG DefaultCropOrigin {origin[0]:g}, {origin[1]:g} and DefaultCropSize {size[0]:g} x "
                      f"{size[1]:g} hold none of its image: the whole ActiveArea is read", stacklevel=2)
    return None


def _tag_numbers(page: Any, code: int, default: list[float]) -> list[float]:
    """A TIFF tag's numbers (tifffile gives a RATIONAL's as numerator, denominator pairs); ``default`` without it."""
    tag = page.tags.get(code)
    if tag is None:
        return default
    values = [float(v) for v in np.atleast_1d(tag.value)]
    if tag.dtype in (5, 10):  # RATIONAL, SRATIONAL
        return [n / d if d else 0.0 for n, d in zip(values[::2], values[1::2], strict=False)]
    return values


def in_crop(image: np.ndarray, crop: tuple[slice, slice] | None, visible: tuple[int, ...]) -> np.ndarray:
    """``image``, developed from LibRaw's ``visible`` image (resized for non-square pixels), inside ``crop``
    (:func:`dng_default_crop`, in the visible image's photosites); the whole image without a crop."""
    if crop is None:
        return image
    scale = (image.shape[0] / visible[0], image.shape[1] / visible[1])
    return image[tuple(slice(round(side.start * k), round(side.stop * k)) for side, k in zip(crop, scale, strict=True))]


def visible_gain_maps(facts: RawFileFacts, raw: Any, opcode_list: int) -> list[GainMap]:
    """A DNG's GainMaps of OpcodeList ``opcode_list`` (2 or 3: :func:`.dng_opcodes.gain_maps_of`, in its ActiveArea's
    coordinates) in those of LibRaw's visible image (:func:`active_area_offset`: an ActiveArea at row 3 put a per-site
    map's red gains on green photosites)."""
    height, width = raw.raw_image_visible.shape[:2]
    offset = active_area_offset(facts, raw)
    return [moved for gain_map in gain_maps_of(facts.opcode_lists, opcode_list)
            if (moved := gain_map.within(offset, height, width))]


def camera_balance_usable(raw: Any) -> bool:
    """Whether the camera's as-shot white balance is usable (dcraw's scale_colors); where it is not (a DNG without
    AsShotNeutral), LibRaw's ``use_camera_wb`` falls back to the grey-world average, a guess from the scene: the
    developers ask for it only where it is usable, and are given daylight's (LibRaw's ``pre_mul``) otherwise."""
    camera = [float(v) for v in raw.camera_whitebalance]
    return camera[0] not in (-1.0, 0.0) and camera[2] != 0.0


def _white_balance_gains(raw: Any) -> np.ndarray:
    """The four channel gains a RAW is developed with: the camera's as-shot multipliers where they are usable (as
    LibRaw's ``use_camera_wb`` takes them, dcraw's scale_colors), else the daylight ones (LibRaw's ``pre_mul``, from
    the camera's colour matrix), else 1; a missing second is 1, a missing fourth the second's on a three-colour sensor
    (its second green) and 1 on a four-colour one, as scale_colors fills them."""
    camera = [float(v) for v in raw.camera_whitebalance]
    daylight = [float(v) for v in raw.daylight_whitebalance]
    gains = camera if camera_balance_usable(raw) else (
        daylight if min(daylight[:3]) > 0 else [1.0] * 4)
    gains[1] = gains[1] or 1.0
    gains[3] = gains[3] or (gains[1] if raw.num_colors < 4 else 1.0)
    return np.array(gains, dtype=np.float64)


def upright(image: np.ndarray, flip: int) -> np.ndarray:
    """``image`` (HxW or HxWxC, stored as the sensor reads out) turned as LibRaw's orientation code ``flip`` says."""
    from .images import orient

    return orient(image, _EXIF_ORIENTATION_OF_FLIP.get(flip, 1))
