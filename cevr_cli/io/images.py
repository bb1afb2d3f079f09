"""Reading photographers' files (JPEG, PNG, 8/16-bit TIFF, phones' HEIC/HEIF/AVIF, WebP, camera RAW) and writing
LDR outputs.

Every failure is an :class:`InputError` naming the file and the reason; size limits are checked from the
header before any pixels are decoded.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import logging
import numbers
import os
import re
import stat
import struct
import threading
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..errors import InputError, OutputError, UsageError
from ..imaging import check_rgb, quantise
from ..vocabulary import (
    FUSE_MANIFEST,
    HDR_SUFFIXES,
    MADE_FROM_KEY,
    MAX_MEGAPIXELS,
    MIN_PHOTO_SIDE,
    PHOTO_SUFFIXES,
    RAW_SUFFIXES,
    STACK_MANIFEST,
)
from . import dng_tags, opencv
from .atomic import atomic_path, write_failure
from .colour import RAW_DEVELOPED, SRGB, ColourSpace, adobe_rgb_to_srgb, nclx_to_srgb, to_srgb
from .dng_opcodes import Opcode
from .exif import (
    CEVR_SOFTWARE,
    ORIENTATION_TAG,
    SOFTWARE_TAG,
    XMP_TAG,
    ExifInfo,
    exif_bytes_of,
    exif_from_pillow,
    exposure_xmp,
    jpeg_sized_exif,
    labelled_srgb,
    read_nclx,
    says_adobe_rgb,
    tiff_read_errors,
    upright_exif,
    with_capture_facts,
    without_tiff_layout,
)
from .library_output import stderr_without

# The request an output was made by, as JSON under this key in the image's comment (see write_ldr).
REQUEST_KEY = "cevr_request"
# zlib levels (Pillow and tifffile default to 6). A 13-EV stack of a 24 MP photo, re-encoded: 8-bit PNG 41.0 s and
# 126 MB at 6, 17.6 s and 137 MB at 4, 12.6 s and 169 MB at 1: 4 keeps most of the time and most of the bytes.
# 16-bit TIFF with the horizontal predictor (a noisy 12 MP frame): 1.7 s at 1 against 3.2 s at 6 for 1 % more
# bytes, and 5 % fewer than level 6 without the predictor, as before.
PNG_ZLIB_LEVEL = 4
TIFF_ZLIB_LEVEL = 1


@dataclass
class Photo:
    path: Path
    rgb: np.ndarray  # float32 HxWx3 in [0, 1], sRGB-encoded (converted from its ICC profile where needed)
    bit_depth: int
    exif: ExifInfo | None
    icc_profile: bytes | None  # the profile outputs carry: None once the pixels were converted to sRGB
    exif_bytes: bytes | None
    colour: ColourSpace | None = None  # the source's colour space and what decoding did about it
    translucent: float = 0.0  # fraction of pixels an alpha channel made not fully opaque; the alpha is dropped
    frames: int = 1  # images in the file (an animation, a multi-page TIFF): the first is read
    not_applied: tuple[Opcode, ...] = ()  # a DNG's opcodes the pixels lack (dng_opcodes.opcodes_not_applied)


def read_image_metadata(path: str | Path) -> tuple[bytes | None, bytes | None]:
    """(EXIF bytes, ICC profile) of an image file, without decoding its pixels; (None, None) if unreadable."""
    from PIL import UnidentifiedImageError

    try:
        with open_with_pillow(path) as im:
            return _carried_exif(im, im.getexif()), im.info.get("icc_profile")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None, None


def _carried_exif(im: Any, exif: Any) -> bytes | None:
    """The EXIF that outputs of the image Pillow opened as ``im`` carry: a TIFF's IFD0 without what describes that
    file's layout (:func:`cevr_cli.io.exif.without_tiff_layout`), which is its EXIF too."""
    if not exif:
        return None
    return without_tiff_layout(exif) if im.format == "TIFF" else exif_bytes_of(exif)


def check_input_file(path: Path, what: str = "a photo") -> None:
    """Refuse what cannot be read as an input file, before any decoder sees it: missing (a broken link says where
    it points), a folder, not a regular file (a named pipe would block the batch forever), a name the file system
    refuses (too long), unreadable, empty. Every reader of inputs (photos, RAW, HDR images) starts here.

    Raises:
        InputError: each of those, in one line.
    """
    try:
        info = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP and os.path.islink(path):
            raise InputError(path, f"symlink loop: its target {os.readlink(path)} leads back to itself") from None
        if exc.errno == errno.ENOENT and os.path.islink(path):
            raise InputError(path, f"broken link: its target {os.readlink(path)} does not exist") from None
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise InputError(path, "file not found") from None
        raise InputError(path, f"cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        try:
            os.scandir(path).close()
        except OSError as exc:  # a folder a recursive walk could not list: its photos were not searched
            raise InputError(path, f"a folder that cannot be listed ({exc.strerror or exc}): the files in it "
                                   "were not searched") from None
        if (path / STACK_MANIFEST).is_file():
            raise InputError(path, f"a cevr stack folder, not {what} (`cevr fuse` takes it)")
        if (path / FUSE_MANIFEST).is_file():
            raise InputError(path, f"a cevr fuse output folder, not {what} (`cevr tonemap` takes it)")
        if path.suffix.lower() in PHOTO_SUFFIXES + HDR_SUFFIXES:  # named as a file would be: a file was meant
            raise InputError(path, f"is a folder, not {what}")
        raise InputError(path, _empty_folder(path, what.split(" ", 1)[-1]))
    if not stat.S_ISREG(info.st_mode):
        raise InputError(path, f"not a regular file ({_FILE_KINDS.get(stat.S_IFMT(info.st_mode), 'special file')})")
    try:
        with open(path, "rb"):
            pass
    except PermissionError:
        raise InputError(path, "permission denied") from None
    except OSError as exc:
        raise InputError(path, f"cannot be read ({exc.strerror or exc})") from None
    if info.st_size == 0:
        raise InputError(path, "empty file (0 bytes)")


_FILE_KINDS = {stat.S_IFIFO: "a named pipe", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a character device",
               stat.S_IFBLK: "a block device"}


def check_size_limits(max_megapixels: float, min_side: int = 1) -> None:
    """Check a reader's size limits before any file is opened: a bad ``max_megapixels`` was taken for the file's
    fault (0 or -1: "too large: 128x96 px", '5' as text: "not a readable OpenEXR file, truncated or damaged") or
    raised numpy's or Python's error (NaN: "cannot convert float NaN to integer").

    Raises:
        UsageError: ``max_megapixels`` not a positive number (NaN included), ``min_side`` not a whole number >= 1.
    """
    if isinstance(max_megapixels, bool) or not isinstance(max_megapixels, numbers.Real) or not max_megapixels > 0:
        raise UsageError(f"max_megapixels {max_megapixels!r}: a positive number of megapixels")
    if isinstance(min_side, bool) or not isinstance(min_side, numbers.Integral) or min_side < 1:
        raise UsageError(f"min_side {min_side!r}: a whole number of pixels, at least 1")


def check_dimensions(path: Path, width: int, height: int, max_megapixels: float, min_side: int) -> None:
    if min(width, height) < min_side:
        raise InputError(path, f"too small: {width}x{height} px (minimum {min_side} px per side)")
    megapixels = width * height / 1e6
    if megapixels > max_megapixels:
        raise InputError(path, f"too large: {width}x{height} px, {megapixels:.3g} MP "
                               f"(limit {max_megapixels:g} MP, see --max-megapixels)")


def orient(image: np.ndarray, orientation: int) -> np.ndarray:
    """Apply EXIF orientation (1..8) to an HxW or HxWxC image so its pixels are upright (the transforms of
    Pillow's exif_transpose)."""
    ops = {
        2: lambda a: a[:, ::-1],  # mirror
        3: lambda a: a[::-1, ::-1],  # rotate 180
        4: lambda a: a[::-1],  # flip
        5: lambda a: a.swapaxes(0, 1),  # transpose
        6: lambda a: np.rot90(a, -1),  # rotate 90 clockwise
        7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],  # transverse
        8: lambda a: np.rot90(a, 1),  # rotate 90 counter-clockwise
    }
    op = ops.get(orientation)
    return np.ascontiguousarray(op(image)) if op else image


DECOMPRESSION_BOMB = "too large: refused as a decompression bomb"  # what Pillow refuses past its own guard


def allow_in_pillow(max_megapixels: float) -> None:
    """Raise Pillow's own bomb guard (89 MP, an error at twice that) so that it never refuses what
    ``max_megapixels`` allows (process-wide: the guard is Pillow's global). Its warning, for a photo past that and
    below twice it, is ignored: cevr refuses such a photo itself, in one line naming it (:func:`check_dimensions`),
    which followed Pillow's "could be decompression bomb DOS attack" line."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = max(int(max_megapixels * 1e6), Image.MAX_IMAGE_PIXELS or 0)
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def _read_ldr(path: Path, max_megapixels: float, min_side: int) -> Photo:
    from PIL import Image, UnidentifiedImageError

    _register_heif()
    allow_in_pillow(max_megapixels)
    try:
        with open_with_pillow(path) as im:
            if im.format == "TIFF" and dng_tags.DNG_VERSION in im.tag_v2:
                raise InputError(path, _misnamed_dng(path))  # else its IFD0 (often a thumbnail) is the photo
            width, height = im.size
            check_dimensions(path, width, height, max_megapixels, min_side)
            if im.format != "HEIF":  # pixels decoded by OpenCV (AVIF where it can)
                opencv.check_pixel_limit(path, width, height)
            exif = im.getexif()  # HEIF: orientation 1, since libheif turns the pixels upright itself
            icc = im.info.get("icc_profile")
            nclx = None if icc else im.info.get("nclx_profile")  # HEIF/AVIF: colour said without an ICC profile
            if nclx is None and not icc and im.format == "AVIF":
                nclx = read_nclx(path)  # Pillow's AVIF plugin gives none
            adobe_rgb = not icc and not nclx and bool(exif) and says_adobe_rgb(exif)
            exif_bytes = _carried_exif(im, exif)
            info = exif_from_pillow(exif) if exif else None  # while the file is open: sub-IFDs are read lazily
            if im.format == "TIFF" and isinstance(exif.get(XMP_TAG), bytes):
                # exposure said in XMP only (a 16-bit TIFF frame): carried as EXIF, which a frame's re-exposes
                exif_bytes = with_capture_facts(exif_bytes, info)
            frames = int(getattr(im, "n_frames", 1) or 1)
            decode = _decoder(im)
            data, bits = decode(path, im)
            upright = im.format == "TIFF" and decode is _decode_opencv and opencv.orients_tiff()
    except InputError:
        raise
    except UnidentifiedImageError:
        if _tiff_is_dng(path):
            raise InputError(path, _misnamed_dng(path)) from None
        sample = _tiff_sample_type(path)  # Pillow reads no 3-channel float TIFF, which tifffile names
        if sample in ("uint8", "uint16"):  # a sample type cevr reads, in a layout Pillow does not open
            layout = _first_tiff_page(path, lambda page: f"{page.samplesperpixel} samples per pixel, "
                                                         f"{getattr(page.photometric, 'name', page.photometric)}")
            raise InputError(path, f"a {sample[4:]}-bit TIFF in a layout cevr cannot decode ({layout}): save it as "
                                   "RGB, RGBA or grey") from None
        if sample is not None:
            raise InputError(path, unsupported_sample(sample)) from None
        if path.suffix.lower() in HDR_SUFFIXES:
            raise InputError(path, "an HDR image, not a photo: tone-map it with `cevr tonemap`") from None
        container = photo_container(path)
        if container is not None:
            raise InputError(path, f"corrupt {container} data (it starts as one, but cannot be parsed)") from None
        raise InputError(path, "not an image (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        reason = " ".join(str(exc).split())  # one line: libheif's messages end in a newline
        raise InputError(path, f"truncated or corrupt image data ({reason})") from None
    except Image.DecompressionBombError:
        raise InputError(path, DECOMPRESSION_BOMB) from None
    data, translucent = _drop_alpha(data)
    codes, colour, icc = to_srgb(data, icc)
    described = adobe_rgb_to_srgb(codes) if adobe_rgb else nclx_to_srgb(codes, nclx)
    if described is not None:
        codes, colour = described
    if colour.converted:
        exif_bytes = labelled_srgb(exif_bytes)
    rgb = codes.astype(np.float32) / (255.0 if codes.dtype == np.uint8 else 65535.0)
    if info is not None and not upright:
        rgb = orient(rgb, info.orientation)
    return Photo(path, np.ascontiguousarray(rgb), bits, info, icc, exif_bytes, colour, translucent, frames)


# The first bytes of the containers a photo comes in (each format's specification): a file that starts as one but
# that Pillow cannot open is damaged, not of an unknown kind.
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_ANCILLARY = 0x20  # bit 5 of a chunk type's first byte: a chunk a decoder may skip (PNG specification, 5.4)
_SIGNATURES = ((_PNG_SIGNATURE, "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"),
               (b"RIFF", "WebP"))


def photo_container(path: Path) -> str | None:
    """The photo container ``path``'s first bytes name (JPEG, PNG, TIFF, WebP, HEIF/AVIF), else None."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return None
    for signature, name in _SIGNATURES:
        if head.startswith(signature) and (name != "WebP" or head[8:12] == b"WEBP"):
            return name
    if head[4:8] == b"ftyp":  # ISO base media: HEIF/HEIC, AVIF
        return "HEIF/AVIF"
    return None


def open_with_pillow(path: str | Path) -> Any:
    """Pillow's handle on the image ``path``, for its size and metadata. A PNG that Pillow refuses only for the CRC of
    an ancillary chunk (a tEXt comment, say) is opened from a copy without those chunks: libpng, which decodes its
    pixels (OpenCV), warns and skips such a chunk (PNG specification, 2nd ed., 13.2: a CRC error in an ancillary
    chunk need not end the decoding; 5.4: the ancillary bit is bit 5 of the type's first byte), and says so in a
    warning; Pillow refused the whole photo as corrupt PNG data.

    Raises:
        PIL.UnidentifiedImageError: and Pillow's other errors, as ``Image.open`` raises them.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(path)
    except UnidentifiedImageError:
        kept = _png_without_broken_ancillary_chunks(Path(path))
        if kept is None:
            raise
        return Image.open(io.BytesIO(kept))


def _png_without_broken_ancillary_chunks(path: Path) -> bytes | None:
    """The PNG ``path`` without its ancillary chunks whose CRC is wrong; None where it holds none, is no PNG, is cut
    short, or a critical chunk's CRC is wrong too (IHDR, PLTE, IDAT, IEND: it stays refused)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not data.startswith(_PNG_SIGNATURE):
        return None
    kept, at, dropped = [_PNG_SIGNATURE], len(_PNG_SIGNATURE), False
    while at + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        end = at + 12 + length
        if end > len(data):
            return None
        body, (crc,) = data[at + 4:end - 4], struct.unpack(">I", data[end - 4:end])
        if zlib.crc32(body) == crc:
            kept.append(data[at:end])
        elif kind[0] & _PNG_ANCILLARY:
            dropped = True
        else:
            return None
        at = end
        if kind == b"IEND":
            break
    return b"".join(kept) + data[at:] if dropped else None


def _empty_folder(path: Path, kind: str) -> str:
    """Why a folder given as an input holds nothing to work on (the batch keeps such a folder as an input, so that
    it fails by name, :func:`cevr_cli.batch.discover_batch_inputs`): a folder of day folders given without -r."""
    try:
        with os.scandir(path) as entries:
            nested = any(entry.is_dir() and not entry.name.startswith(".") for entry in entries)
    except OSError:
        nested = False
    return f"a folder in which no {kind} was found" + (" (-r searches its subfolders)" if nested else "")


def _drop_alpha(data: np.ndarray) -> tuple[np.ndarray, float]:
    """RGB codes of grey, grey + alpha, RGB or RGBA codes, and the fraction of pixels the dropped alpha
    channel made not fully opaque (cevr works on opaque light: a transparent pixel shows its stored colour)."""
    if data.ndim == 2:
        return np.repeat(data[..., None], 3, axis=2), 0.0
    channels = data.shape[2]
    if channels not in (2, 4):
        return data, 0.0
    alpha = data[..., -1]
    translucent = float(np.mean(alpha < np.iinfo(alpha.dtype).max))
    colour = np.repeat(data[..., :1], 3, axis=2) if channels == 2 else data[..., :3]
    return colour, translucent


def _decoder(im: Any) -> Any:
    """The function that decodes the pixels of the file Pillow opened as ``im``."""
    if im.format == "TIFF" and _straight_alpha_8_bit(im):
        return _decode_pillow
    if im.format == "TIFF" and _planar_16_bit_rgb(im):
        return _decode_tifffile
    if im.format == "TIFF" and _uncompressed_8_bit_tiles(im):
        return _decode_tiles
    if im.format == "TIFF" and _turned_8_bit_tiles(im):
        return _decode_turned_tiles
    if im.format == "JPEG" and im.mode == "CMYK":
        return _decode_cmyk_jpeg
    return {"HEIF": _decode_heif, "AVIF": _decode_avif}.get(im.format, _decode_opencv)


# TIFF tags (TIFF 6.0): BitsPerSample and ExtraSamples, whose value 2 is unassociated ("straight") alpha;
# PhotometricInterpretation (2: RGB) and PlanarConfiguration (2: each channel in a plane of its own).
_BITS_PER_SAMPLE_TAG = 258
_EXTRA_SAMPLES_TAG = 338
_UNASSOCIATED_ALPHA = 2
_PHOTOMETRIC_TAG, _RGB = 262, 2
_PLANAR_CONFIGURATION_TAG, _SEPARATE_PLANES = 284, 2
_COMPRESSION_TAG, _UNCOMPRESSED = 259, 1
_TILE_WIDTH_TAG = 322  # present in a tiled TIFF only (TIFF 6.0 section 15)
_PALETTE, _SEPARATED = 3, 5  # PhotometricInterpretation: colour map; inks (InkSet 332, 1: CMYK, the default)
_INK_SET_TAG, _CMYK_INKS = 332, 1


def _straight_alpha_8_bit(im: Any) -> bool:
    """Whether a TIFF is 8-bit RGB with unassociated alpha: OpenCV decodes 8-bit TIFFs through libtiff's RGBA
    reader, which multiplies such alpha into the colour (white at alpha 128 became grey), so Pillow decodes it
    (:func:`_decode_pillow`), whatever its orientation."""
    tags = im.tag_v2
    return (im.mode == "RGBA" and _tag_values(tags, _EXTRA_SAMPLES_TAG)[:1] == (_UNASSOCIATED_ALPHA,)
            and set(_tag_values(tags, _BITS_PER_SAMPLE_TAG)) == {8})


def _uncompressed_tiles(im: Any) -> bool:
    """Whether a TIFF is tiled and uncompressed."""
    tags = im.tag_v2
    return _TILE_WIDTH_TAG in tags and _tag_values(tags, _COMPRESSION_TAG)[:1] == (_UNCOMPRESSED,)


def _uncompressed_8_bit_tiles(im: Any) -> bool:
    """Whether a TIFF is 8-bit, tiled and uncompressed, in a colour model :func:`_decode_tiles` turns to light as
    libtiff does (grey, RGB, palette, CMYK): OpenCV decodes it from memory (:mod:`.opencv` never hands it a path)
    through libtiff's RGBA reader, whose raw buffer libtiff rounds up to a multiple of 1024 bytes when the file is
    not memory-mapped, and then refuses every uncompressed tile whose size is not such a multiple ("Invalid tile
    byte count for tile 0. Expected 768, got 1024" for a 16x16 RGB tile), so a valid file failed as "truncated or
    corrupt". tifffile decodes uncompressed tiles by itself. Compressed tiles, and 16-bit ones (read into a buffer
    of the tile's own size), pass libtiff's check."""
    tags = im.tag_v2
    photometric = _tag_values(tags, _PHOTOMETRIC_TAG)[0]
    cmyk = photometric == _SEPARATED and _tag_values(tags, _INK_SET_TAG)[0] in (None, _CMYK_INKS)
    return (_uncompressed_tiles(im) and set(_tag_values(tags, _BITS_PER_SAMPLE_TAG)) == {8}
            and (photometric in (0, 1, _RGB, _PALETTE) or cmyk))


def _turned_8_bit_tiles(im: Any) -> bool:
    """Whether a TIFF is 8-bit, tiled and turned (Orientation 2-8): OpenCV 5, which turns TIFF pixels itself, turns
    each tile of such a file in libtiff's RGBA reader, and mirrored orientations (2, 3, 6, 7) came out scrambled,
    compressed or not, so OpenCV decodes a copy labelled upright (:func:`_decode_turned_tiles`)."""
    tags = im.tag_v2
    return (_TILE_WIDTH_TAG in tags and set(_tag_values(tags, _BITS_PER_SAMPLE_TAG)) == {8}
            and _tag_values(tags, ORIENTATION_TAG)[0] not in (None, 1))


def _planar_16_bit_rgb(im: Any) -> bool:
    """Whether a TIFF is 16-bit RGB with each channel in a plane of its own (Photoshop's "Per Channel" pixel
    order): OpenCV decodes such a file's first plane as if its samples were interleaved and the rest as black, in
    silence, so tifffile decodes it (:func:`_decode_tifffile`)."""
    tags = im.tag_v2
    return (_tag_values(tags, _PLANAR_CONFIGURATION_TAG)[:1] == (_SEPARATE_PLANES,)
            and _tag_values(tags, _PHOTOMETRIC_TAG)[:1] == (_RGB,)
            and set(_tag_values(tags, _BITS_PER_SAMPLE_TAG)) == {16})


def _decode_tifffile(path: Path, im: Any) -> tuple[np.ndarray, int]:
    """The stored 16-bit codes of a TIFF whose channels lie in separate planes, as tifffile decodes them, planes
    turned into interleaved RGB(A), not turned upright (cevr turns them by the Orientation tag, :func:`orient`).

    Raises:
        InputError: a compression tifffile cannot decode by itself (LZW, JPEG: it needs imagecodecs), or damage.
    """
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            data = tif.pages.first.asarray()
    except tiff_read_errors() as exc:
        reason = " ".join(str(exc).split())
        if "imagecodecs" in reason:  # tifffile names the package its decoder of that compression needs
            raise InputError(path, f"cannot decode a 16-bit TIFF with separate colour planes compressed so ({reason}):"
                                   " save it with interleaved pixels, or ZIP or no compression") from None
        raise InputError(path, f"truncated or corrupt TIFF data ({reason})") from None
    if data.ndim != 3 or data.dtype != np.uint16:
        raise InputError(path, f"a 16-bit TIFF with separate colour planes decoded as {data.dtype} {data.shape}")
    return np.ascontiguousarray(np.moveaxis(data, 0, -1)), 16


def _decode_tiles(path: Path, im: Any) -> tuple[np.ndarray, int]:
    """The 8-bit codes of an uncompressed tiled TIFF (:func:`_uncompressed_8_bit_tiles`) as tifffile decodes them,
    turned to light as libtiff's RGBA reader (OpenCV's decoder of every other 8-bit TIFF) turns them, so the file
    reads as it does saved untiled: grey and RGB as stored (an alpha channel too, associated alpha still
    premultiplied), MinIsWhite inverted, a palette looked up (a 16-bit colour map by its top byte, one whose entries
    all fit 8 bits as it is, libtiff's checkcmap), CMYK as (255 - K)(255 - C) / 255, truncated. Not turned: cevr
    turns the pixels by the Orientation tag (:func:`orient`).

    Raises:
        InputError: damage, or a layout :func:`_uncompressed_8_bit_tiles` did not foresee.
    """
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            photometric, colormap = int(page.photometric), page.colormap
            inks = int(page.tags.valueof(_INK_SET_TAG, _CMYK_INKS))
            data = page.asarray()
            if int(page.planarconfig) == _SEPARATE_PLANES and data.ndim == 3:
                data = np.ascontiguousarray(np.moveaxis(data, 0, -1))  # tifffile gives the planes first
    except tiff_read_errors() as exc:
        raise InputError(path, f"truncated or corrupt TIFF data ({' '.join(str(exc).split())})") from None
    if data.dtype != np.uint8 or data.ndim not in (2, 3):
        raise InputError(path, f"an uncompressed tiled 8-bit TIFF decoded as {data.dtype} {data.shape}")
    channels = 1 if data.ndim == 2 else data.shape[2]
    if photometric in (0, 1) and channels <= 2:  # MinIsWhite, MinIsBlack: grey, maybe with alpha
        if photometric == 0:
            data = data.copy()
            light = data if data.ndim == 2 else data[..., 0]
            np.subtract(255, light, out=light)
        return data, 8
    if photometric == _RGB and channels in (3, 4):  # RGB, maybe with alpha
        return data, 8
    if photometric == _PALETTE and channels == 1 and colormap is not None:
        table = colormap.T if colormap.max() < 256 else colormap.T >> 8
        return np.ascontiguousarray(table.astype(np.uint8)[data]), 8
    if photometric == _SEPARATED and inks == _CMYK_INKS and channels >= 4:  # CMYK (an alpha after it is dropped)
        ink = data[..., :4].astype(np.uint16)
        rgb = (255 - ink[..., 3:]) * (255 - ink[..., :3]) // 255
        return rgb.astype(np.uint8), 8
    model = getattr(page.photometric, "name", photometric)
    raise InputError(path, f"an uncompressed tiled 8-bit TIFF ({model}, {channels} samples per pixel) that cevr "
                           "cannot decode: save it untiled, or with ZIP or LZW compression")


def _tag_values(tags: Any, tag: int) -> tuple[Any, ...]:
    """A TIFF tag's value as a tuple (Pillow gives one value bare, several as a tuple); ``(None,)`` when absent."""
    value = tags.get(tag)
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _decode_pillow(path: Path, im: Any) -> tuple[np.ndarray, int]:
    """The stored 8-bit codes of a TIFF as Pillow decodes them (RGBA, its straight alpha kept apart from the
    colour), not turned: cevr turns them by the Orientation tag (:func:`orient`), as every photo. Pillow 13 turns
    a TIFF while decoding (an uncompressed one by 90 degrees into scrambled rows), so a turned file is decoded from
    a copy whose Orientation says upright. Not by tifffile, which decodes no LZW (these files' usual compression)
    without imagecodecs, which cevr does not depend on."""
    from PIL import Image

    if _tag_values(im.tag_v2, ORIENTATION_TAG) in ((None,), (1,)):
        im.load()  # raises on truncated data
        return np.array(im), 8
    with Image.open(io.BytesIO(_labelled_upright(path))) as stored:
        stored.load()
        return np.array(stored), 8


# struct formats of the TIFF types an Orientation value may be stored as (TIFF 6.0: SHORT; LONG, SSHORT, SLONG)
_TIFF_INTEGER_FORMATS = {3: "H", 4: "I", 8: "h", 9: "i"}


def _labelled_upright(path: Path) -> bytes:
    """The bytes of the TIFF at ``path`` with the first value of its first IFD's Orientation tag set to 1 (the
    value is rewritten where it lies, inline in the tag's entry, so nothing else moves).

    Raises:
        InputError: tifffile cannot parse the file, or its Orientation is of no integer type.
    """
    import tifffile

    data = bytearray(path.read_bytes())
    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            tag = tif.pages.first.tags[ORIENTATION_TAG]
            code, at, order = _TIFF_INTEGER_FORMATS.get(int(tag.dtype)), tag.valueoffset, tif.byteorder
    except tiff_read_errors() as exc:
        raise InputError(path, f"truncated or corrupt TIFF data ({' '.join(str(exc).split())})") from None
    if code is None:
        raise InputError(path, f"corrupt TIFF data: its Orientation tag is of type {int(tag.dtype)}, not an integer")
    data[at:at + struct.calcsize(code)] = struct.pack(order + code, 1)
    return bytes(data)


def _register_heif() -> None:
    """Let Pillow open HEIF files (pillow-heif's opener), for their size and metadata."""
    from pillow_heif import register_heif_opener

    register_heif_opener()


def _decode_turned_tiles(path: Path, im: Any) -> tuple[np.ndarray, int]:
    """The codes of a turned tiled 8-bit TIFF (:func:`_turned_8_bit_tiles`) as OpenCV decodes a copy of it labelled
    upright (:func:`_labelled_upright`), not turned: cevr turns them by the Orientation tag (:func:`orient`)."""
    return _decode_opencv(path, im, _labelled_upright(path))


def _decode_opencv(path: Path, im: Any, stored: bytes | None = None) -> tuple[np.ndarray, int]:
    """RGB(A) or grey codes (uint8 or uint16) and their bit depth, decoded by OpenCV from the file, or from
    ``stored``, what cevr made of its bytes; ``im`` is Pillow's handle on the same file."""
    if im.format == "JPEG":
        _check_jpeg_data_size(path, *im.size)  # before the decode a corrupt header would make gigabytes of
    im.load()  # raises on truncated data, which OpenCV would decode silently as grey
    data = _opencv_codes(path, im.format, stored=stored)
    if data is None and im.format == "TIFF" and _uncompressed_tiles(im):  # libtiff's check, _uncompressed_8_bit_tiles
        raise InputError(path, "a TIFF of uncompressed tiles that OpenCV's libtiff refuses when it reads them from "
                               "memory (tiles of a size not a multiple of 1024 bytes): save it untiled, or with ZIP "
                               "or LZW compression")
    if data is None:
        raise InputError(path, "truncated or corrupt image data (OpenCV could not decode it)")
    if data.dtype not in (np.uint8, np.uint16):
        raise InputError(path, unsupported_sample(str(data.dtype)))
    if (im.format == "TIFF" and data.dtype == np.uint16 and _tag_values(im.tag_v2, _PHOTOMETRIC_TAG)[:1] == (0,)
            and not opencv.inverts_16_bit_min_is_white()):
        data = data.copy()  # MinIsWhite: 0 is white; an alpha channel (the last of 2 or 4) is no light
        light = data if data.ndim == 2 else data[..., : 3 if data.shape[2] == 3 else -1]
        np.subtract(65535, light, out=light)
    return data, 8 if data.dtype == np.uint8 else 16


def _decode_cmyk_jpeg(path: Path, im: Any) -> tuple[np.ndarray, int]:
    """RGB codes of a CMYK JPEG: (255 - C)(255 - K) / 255 per channel, rounded, as Pillow and libtiff's RGBA reader
    turn CMYK into RGB without a profile. OpenCV computes it as K' - ((255 - C') K' >> 8) of the stored (inverted)
    samples, dividing by 256 where 255 is meant: 0.74 codes too bright on average, up to 1.9 (a full ink read as 1,
    not 0). Pillow gives the inks, taking the samples as inverted (255: no ink) as Photoshop writes them, with its
    Adobe APP14 marker, and as OpenCV and browsers take every CMYK JPEG, marked or not. A CMYK ICC profile is not
    applied (:func:`cevr_cli.io.colour.to_srgb` says so in a warning)."""
    _check_jpeg_data_size(path, *im.size)
    im.load()  # raises on truncated data
    ink = np.asarray(im, dtype=np.uint32)
    rgb = ((255 - ink[..., :3]) * (255 - ink[..., 3:]) + 127) // 255  # x / 255 rounded: 255 is odd, no halves
    return rgb.astype(np.uint8), 8


def _check_jpeg_data_size(path: Path, width: int, height: int) -> None:
    """Refuse a Huffman-coded JPEG too small to hold its declared size: every 8x8 block of the first component
    needs at least one bit (a DC code; Huffman codes are 1 to 16 bits, ITU-T T.81 Annex C), so the file needs at
    least width x height / 512 bytes. A damaged header claiming 12000 x 12000 px in 600 bytes decoded to a grey
    frame after 38 s and 9 GB. Arithmetic-coded JPEGs (SOF9-15), which can be smaller, are not judged.

    Raises:
        InputError: the file is smaller than the least its size needs.
    """
    least = width * height // 512
    size = path.stat().st_size
    if size >= least or _jpeg_frame_marker(path) not in _HUFFMAN_FRAMES:
        return
    raise InputError(path, f"corrupt JPEG data: {size} bytes cannot hold the {width}x{height} px its header "
                           f"declares (at least {least})")


_HUFFMAN_FRAMES = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7})  # SOF0-3, 5-7 (T.81 Table B.1)


def _jpeg_frame_marker(path: Path) -> int | None:
    """The second byte of a JPEG's start-of-frame marker (0xC0 baseline ... 0xCF), from its segments (T.81 B.1)."""
    with open(path, "rb") as fh:
        data = fh.read(1 << 20)  # the frame header comes before the scan, after metadata of at most ~1 MB
    at = 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # DHT, JPG and DAC are no frames
            return marker
        at += 2 + int.from_bytes(data[at + 2:at + 4], "big")
    return None


def unsupported_sample(sample: str) -> str:
    """Why a photo of that sample type is refused; floating point is scene-linear HDR, for `cevr tonemap`."""
    reason = f"unsupported sample type {sample} (8- or 16-bit integer images only)"
    if sample.startswith("float"):
        reason += "; a floating-point image is already HDR: save it as OpenEXR for `cevr tonemap`"
    return reason


def _misnamed_dng(path: Path) -> str:
    """Why a DNG under a photo's name is refused: it is read by its name, and LibRaw reads only .dng and the
    other RAW names (a photo reader would take its thumbnail, or its raw samples, for the photo)."""
    named = f"named {path.suffix}" if path.suffix else "without an extension"
    return f"a camera RAW (DNG) file {named}: rename it .dng to have it read as camera RAW"


def _tiff_is_dng(path: Path) -> bool:
    """Whether ``path`` is a TIFF whose first IFD says it is a DNG (False for what tifffile cannot parse)."""
    return bool(_first_tiff_page(path, lambda page: dng_tags.DNG_VERSION in page.tags))


def _tiff_sample_type(path: Path) -> str | None:
    """The sample type (numpy's name) of a TIFF's first image, None for a file tifffile cannot parse."""
    return _first_tiff_page(path, lambda page: str(page.dtype))


_Fact = TypeVar("_Fact")


def _first_tiff_page(path: Path, fact: Callable[[Any], _Fact]) -> _Fact | None:
    """``fact`` of the first image of the TIFF at ``path`` as tifffile parses it, None for a file it cannot parse."""
    import tifffile

    log = logging.getLogger("tifffile")
    level = log.level
    log.setLevel(logging.CRITICAL)  # asked only of a file already failing: what tifffile finds odd is no news
    try:
        with tifffile.TiffFile(path) as tif:
            return fact(tif.pages.first)
    except tiff_read_errors():
        return None
    finally:
        log.setLevel(level)


# What OpenCV's decoders print to the C library's stderr, naming no file, by Pillow's name of the format: libpng's
# warnings ("libpng warning: iCCP: known incorrect sRGB profile", as PNGs saved by older Photoshop versions give)
# and libjpeg's (its JWRN_* messages, jerror.h: "Corrupt JPEG data: premature end of data segment" for a JPEG cut
# short and closed, whose missing rows decode grey)
_DECODER_WARNINGS = {
    "PNG": ("libpng", re.compile(rb"^libpng warning: (.*?)\r?\n?$")),
    "JPEG": ("libjpeg", re.compile(rb"^(Corrupt JPEG data: .*?|Premature end of JPEG file|Invalid SOS parameters for "
                                   rb"sequential JPEG|Warning: unknown JFIF revision number .*?|Unknown Adobe color "
                                   rb"transform code .*?|Inconsistent progression sequence for component .*?|"
                                   rb"Application transferred too many scanlines)\r?\n?$")),
}


def _opencv_codes(path: Path, image_format: str | None = None, stored: bytes | None = None) -> np.ndarray | None:
    """The codes OpenCV decodes from the file, or from ``stored`` in its place, BGR(A) turned to RGB(A); None when it
    cannot decode them. What libpng or libjpeg says of a PNG or JPEG (``image_format``, Pillow's name) is a Python
    warning naming the photo (as :func:`warning_text` names it), not a bare line on stderr."""
    import cv2

    caught: list[bytes] = []
    library, said = _DECODER_WARNINGS.get(image_format or "", (None, None))
    # one capture at a time (stderr_without's lock): a batch's prefetch thread decodes the next photo while the first
    # is decoded, and what its decoder printed into the other's capture was told as the other photo's
    with stderr_without(said, caught) if said is not None else contextlib.nullcontext():
        data = opencv.imread(path, cv2.IMREAD_UNCHANGED) if stored is None else opencv.decode(path, stored)
    for line in dict.fromkeys(caught):  # each once
        found = said.match(line) if said is not None else None
        text = found.group(1) if found else line
        # naming the photo: Python shows a warning's words once per place in the code, and a batch's second photo that
        # libpng said the same of went without one
        warnings.warn(f"{path}: {library}: {text.decode('utf-8', 'replace')}", stacklevel=2)
    if data is not None and data.ndim == 3 and data.shape[2] == 3:
        return data[..., ::-1]
    if data is not None and data.ndim == 3 and data.shape[2] == 4:
        return data[..., [2, 1, 0, 3]]
    return data


def _decode_heif(path: Path, im: Any) -> tuple[np.ndarray, int]:
    """A HEIF file's RGB(A) or grey codes, upright, and their bit depth (pillow-heif): 10- and 12-bit images as
    16-bit codes."""
    from pillow_heif import open_heif

    heif = open_heif(path, convert_hdr_to_8bit=False)
    bits = int(heif.info.get("bit_depth") or 8)
    data = np.array(heif)  # a copy: writable
    if data.dtype == np.uint16 and bits < 16:
        data |= data >> bits  # pillow-heif shifts n-bit codes to the top: fill the low bits for full scale
    return data, bits


def _decode_avif(path: Path, im: Any) -> tuple[np.ndarray, int]:
    """An AVIF file's RGB(A) or grey codes and their bit depth: OpenCV's decoder where it has one (it keeps 10
    and 12 bits, as 16-bit codes here), else Pillow's (8 bits)."""
    data = _opencv_codes(path)
    if data is None:  # an OpenCV built without libavif, or a damaged file (Pillow says which)
        im.load()
        return np.asarray(im if im.mode in ("L", "RGB", "RGBA") else im.convert("RGB")), 8
    if data.dtype == np.uint8:
        return data, 8
    bits = _av1_bit_depth(path)  # OpenCV gives n-bit codes in uint16: scale them to 16 bits
    return (data << (16 - bits)) | (data >> (2 * bits - 16)), bits


def _av1_bit_depth(path: Path) -> int:
    """Bits per sample (8, 10 or 12) of an AVIF file, from its AV1 codec configuration box (``av1C``)."""
    data = path.read_bytes()
    at = data.find(b"av1C")
    if at < 0 or at + 7 > len(data):
        raise InputError(path, "truncated or corrupt image data (no AV1 codec configuration)")
    flags = data[at + 6]  # seq_tier, high_bitdepth, twelve_bit, ... (AV1-ISOBMFF section 2.3.3)
    return (12 if flags & 0x20 else 10) if flags & 0x40 else 8


# sRGB's curve as LibRaw's (power, toe slope) pair (IEC 61966-2-1: exponent 2.4, linear segment 12.92)
SRGB_LIBRAW_GAMMA = (2.4, 12.92)


def _read_raw(path: Path, max_megapixels: float, min_side: int) -> Photo:
    import rawpy

    from .raw import (
        apply_dng_black_deltas,
        apply_dng_gain_maps,
        as_rgb,
        dng_black_scale,
        dng_levels_as_developed,
        in_crop,
        open_raw,
        raw_exif,
        upright,
        white_balance_params,
    )

    with open_raw(path, max_megapixels, min_side) as (raw, facts, crop):
        exif = raw_exif(path, raw, facts.tiff_exif)
        # a DNG's lens shading (GainMap opcodes) and its channels normalised by their own blacks, as in the linear
        # reader (raw.read_raw_linear)
        dng_levels, exposure = dng_levels_as_developed(raw, facts)
        dng = dng_levels is not None
        if dng:
            apply_dng_black_deltas(facts, raw, path)  # the photosites' own blacks first, then their gains (DNG's order)
            apply_dng_gain_maps(facts, raw)
        black_scale = dng_black_scale(raw) if dng else None
        balance = white_balance_params(raw, black_scale)
        balance["bright"] = balance.get("bright", 1.0) * exposure  # a floating-point DNG's WhiteLevel at 1.0
        # LibRaw's default curve is BT.709's (power 2.222, slope 4.5), but the photo is labelled and read as sRGB;
        # and by default it takes the brightest photosite for white when that lies above 75 % of the file's white
        # level, brightening an unclipped photo as no_auto_bright is there to prevent: the file's white it is.
        # developed as the sensor reads out, cut to the DNG's default crop there, then turned upright
        flip, visible = facts.raw_flip(raw), raw.raw_image_visible.shape
        data = raw.postprocess(**balance, no_auto_bright=True, output_bps=16, user_flip=0,
                               output_color=rawpy.ColorSpace.sRGB, gamma=SRGB_LIBRAW_GAMMA, adjust_maximum_thr=0.0)
    rgb = upright(as_rgb(in_crop(data, crop, visible)), flip).astype(np.float32) / 65535.0
    return Photo(path, rgb, 16, exif, None, exif.rendered_exif(), ColourSpace(SRGB, RAW_DEVELOPED),
                 not_applied=facts.not_applied)


def read_photo(path: str | Path, *, max_megapixels: float = MAX_MEGAPIXELS,
               min_side: int = MIN_PHOTO_SIDE) -> Photo:
    """Read a photo as float32 RGB in [0, 1], upright, with its metadata. While it is decoded,
    :func:`photo_being_decoded` names it in this thread, so that a decoder's warning (Pillow's "Corrupt EXIF data")
    can be told with the photo's name."""
    path = Path(path)
    check_size_limits(max_megapixels, min_side)
    with photo_decoding(path):
        if path.suffix.lower() in RAW_SUFFIXES:
            return _read_raw(path, max_megapixels, min_side)  # checked where LibRaw opens it, as the linear reader's
        check_input_file(path)
        return _read_ldr(path, max_megapixels, min_side)


@dataclass(frozen=True)
class PhotoHeader:
    """What a photo's header says: its size upright (as :func:`read_photo` gives its pixels) and its EXIF facts."""

    width: int
    height: int
    exif: ExifInfo | None


def read_photo_header(path: str | Path) -> PhotoHeader:
    """The size and EXIF facts :func:`read_photo` gives a JPEG, PNG, TIFF or HEIF photo, from its header alone (no
    pixel is decoded: a check that needs only the camera or the size need not wait for the decode).

    Raises:
        InputError: the file cannot be opened as an image (:func:`read_photo` says precisely why).
    """
    from PIL import Image, UnidentifiedImageError

    _register_heif()
    allow_in_pillow(MAX_MEGAPIXELS)
    try:
        with open_with_pillow(path) as im:
            exif = im.getexif()
            info = exif_from_pillow(exif) if exif else None  # inside the block: sub-IFDs are read lazily
            width, height = im.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise InputError(path, "cannot be opened as an image") from None
    if info is not None and info.orientation >= 5:  # 5 to 8 swap the sides (orient)
        width, height = height, width
    return PhotoHeader(width, height, info)


# Per thread: a batch decodes the next photo in a prefetch thread while the main thread works on this one.
_decoding = threading.local()


def photo_being_decoded() -> Path | None:
    """The photo :func:`read_photo` or the linear RAW reader is decoding in this thread, or None."""
    return getattr(_decoding, "path", None)


@contextlib.contextmanager
def photo_decoding(path: Path) -> Iterator[None]:
    """Name ``path`` as the photo this thread decodes (:func:`photo_being_decoded`) for the block."""
    previous = photo_being_decoded()
    _decoding.path = path
    try:
        yield
    finally:
        _decoding.path = previous


def log_warning_text(record: logging.LogRecord) -> str:
    """A library's log record (tifffile's on a tag it cannot read) as one line: the logger's name and its words, after
    the name of the photo this thread is decoding, if any (:func:`warning_text`)."""
    return warning_text(f"{record.name}: {record.getMessage()}")


def warning_text(message: Warning | str) -> str:
    """A library's Python warning as one line: its words, after the name of the photo this thread is decoding
    (:func:`photo_being_decoded`), if any and if they do not begin with it (cevr's own warnings name their photo, as
    Python shows a warning's words once per process: two photos' same words were one warning): the same line in a
    serial run and in a worker process or Ray actor."""
    photo = photo_being_decoded()
    text = " ".join(str(message).split())
    return f"{photo}: {text}" if photo is not None and not text.startswith(f"{photo}: ") else text


def write_ldr(path: str | Path, rgb: np.ndarray, *, bit_depth: int = 8, exif_bytes: bytes | None = None,
              icc_profile: bytes | None = None, request: dict[str, Any] | None = None,
              made_from: dict[str, Any] | None = None) -> None:
    """Write an 8-bit PNG/JPEG or an 8/16-bit TIFF with the photo's EXIF and ICC profile, atomically.

    ``rgb`` is float in [0, 1] (clipped and rounded to the nearest code) or already integer codes of
    ``bit_depth`` bits.

    TIFF carries the ICC profile and the EXIF camera, date and authorship tags as baseline TIFF tags;
    a 16-bit PNG (OpenCV) carries pixels only.

    ``request`` (what the image was made by, read back by :func:`read_output_record`) and ``made_from`` (the record
    of the input it was made from, :func:`cevr_cli.batch.input_record`, under
    :data:`~cevr_cli.vocabulary.MADE_FROM_KEY`) go into the image's own comment field, so that it is published by
    the same rename as the pixels and travels with the file: a PNG tEXt ``Comment`` chunk, a JPEG COM segment, the
    TIFF ImageDescription (in place of the source's); not in a 16-bit PNG.

    Raises:
        UsageError: ``rgb`` not an HxWx3 image (:func:`~cevr_cli.imaging.check_rgb`), holding NaN (written as 0 with
            numpy's "invalid value encountered in cast"), or codes of another integer type (:func:`quantise`).
        OutputError: a bit depth or suffix it cannot write, or the file cannot be written (a file in the folder's
            place, no permission, disk full).
    """

    path = Path(path)
    suffix = path.suffix.lower()
    if bit_depth not in (8, 16):
        raise OutputError(f"{path}: bit depth must be 8 or 16")
    rgb = check_rgb(rgb, f"image for {path}")
    if rgb.dtype.kind == "f" and (nan := int(np.count_nonzero(np.isnan(rgb)))):
        raise UsageError(f"image for {path}: {nan} values are NaN (no code means them; tone mapping shows them black)")
    codes = quantise(rgb, bit_depth)  # integer codes of that depth as they are
    record = {**({REQUEST_KEY: request} if request is not None else {}),
              **({MADE_FROM_KEY: made_from} if made_from is not None else {})}
    try:
        comment = json.dumps(record, sort_keys=True) if record else None
    except (TypeError, ValueError) as exc:  # a value JSON has no form for: said before anything is written
        raise UsageError(f"image for {path}: its request must be JSON data: {exc}") from None
    try:
        with atomic_path(path) as tmp:
            if bit_depth == 8 and suffix in (".png", ".jpg", ".jpeg"):
                from PIL import Image, PngImagePlugin

                kwargs: dict[str, Any] = {}
                exif = upright_exif(exif_bytes, codes.shape[1], codes.shape[0])  # the pixels are written upright
                if exif and suffix != ".png":
                    exif = jpeg_sized_exif(exif, path)
                if exif:
                    kwargs["exif"] = exif
                if icc_profile:
                    kwargs["icc_profile"] = icc_profile
                if suffix == ".png":
                    kwargs["compress_level"] = PNG_ZLIB_LEVEL
                else:
                    kwargs["quality"] = 95
                if comment is not None and suffix == ".png":
                    kwargs["pnginfo"] = PngImagePlugin.PngInfo()
                    kwargs["pnginfo"].add_text("Comment", comment)
                elif comment is not None:
                    kwargs["comment"] = comment
                buffer = io.BytesIO()
                Image.fromarray(codes, "RGB").save(buffer, format="PNG" if suffix == ".png" else "JPEG", **kwargs)
                tmp.write_bytes(buffer.getvalue())
            elif suffix in (".tif", ".tiff"):
                _write_tiff(tmp, codes, exif_bytes, icc_profile, comment)
            elif suffix == ".png":
                encoded = opencv.imencode(".png", np.ascontiguousarray(codes[..., ::-1]),
                                          opencv.png_compression(PNG_ZLIB_LEVEL))
                if encoded is None:
                    raise OutputError(f"{path}: OpenCV could not write the image")
                tmp.write_bytes(encoded)
            else:
                raise OutputError(f"{path}: cannot write {bit_depth}-bit {suffix or 'files without extension'}")
    except OSError as exc:
        raise write_failure(path, "image", exc) from None


def read_output_record(path: str | Path) -> dict[str, Any] | None:
    """What :func:`write_ldr` recorded in ``path``'s comment (the request under ``REQUEST_KEY``, the input under
    ``MADE_FROM_KEY``); None if it holds no such record or cannot be read. Reads the header only."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            tags = getattr(image, "tag_v2", None)
            comment = image.info.get("Comment") or image.info.get("comment") or (tags.get(270) if tags else None)
    except (OSError, UnidentifiedImageError, ValueError):
        return None
    if isinstance(comment, bytes):
        comment = comment.decode("utf-8", "replace")
    try:
        recorded = json.loads(comment) if isinstance(comment, str) else None
    except ValueError:
        return None
    return recorded if isinstance(recorded, dict) else None


# EXIF tags that are also baseline TIFF tags (TIFF 6.0): ImageDescription, Make, Model, Software, DateTime,
# Artist, Copyright.
_TIFF_TEXT_TAGS = (270, 271, 272, SOFTWARE_TAG, 306, 315, 33432)


def _write_tiff(path: Path, codes: np.ndarray, exif_bytes: bytes | None, icc_profile: bytes | None,
                comment: str | None) -> None:
    """``comment``, else the source's EXIF ImageDescription, is the ImageDescription (tifffile writes that tag
    only through ``description``, and by default fills it with its own shape JSON). Software is the carried
    EXIF's (cevr's own for images it rendered in sRGB, see :mod:`cevr_cli.io.exif`), or cevr when there is
    no EXIF to carry. The exposure facts go into an XMP packet (:func:`cevr_cli.io.exif.exposure_xmp`)."""
    import tifffile

    text: dict[int, str | bytes] = {}
    if exif_bytes:
        from PIL import Image

        exif = Image.Exif()
        try:
            exif.load(exif_bytes)
        except (SyntaxError, ValueError, OSError):  # unreadable EXIF: pixels and ICC still go out
            exif = {}
        # tifffile writes only ASCII text: text beyond it as the bytes it was read from (Pillow reads them as Latin-1)
        text = {tag: value.strip("\x00") if value.isascii() else value.strip("\x00").encode("latin-1", "replace")
                for tag in _TIFF_TEXT_TAGS if isinstance(value := exif.get(tag), str) and value.strip("\x00 ")}
    description = comment if comment is not None else text.pop(270, None)
    software = text.pop(SOFTWARE_TAG, False) if exif_bytes else CEVR_SOFTWARE
    extratags = [(tag, "s", 0, value, True) for tag, value in text.items() if tag != 270]
    xmp = exposure_xmp(exif_bytes)
    if xmp is not None:  # the exposure facts, which baseline TIFF tags cannot say (XMP, tag 700)
        extratags.append((XMP_TAG, "B", len(xmp), xmp, True))
    tifffile.imwrite(path, codes, photometric="rgb", compression="zlib", compressionargs={"level": TIFF_ZLIB_LEVEL},
                     predictor=True, iccprofile=icc_profile or None,
                     extratags=extratags, software=software, description=description, metadata=None)
