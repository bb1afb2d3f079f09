"""HDR files: OpenEXR (through the OpenEXR package, as OpenCV's wheels cannot do EXR) and Radiance .hdr.

Everything read is returned as scene-linear float32 RGB with Rec.709 / sRGB primaries, so the
tone-mapping operators (which weight luminance with Rec.709 coefficients) see what they expect.
"""

from __future__ import annotations

import contextlib
import numbers
import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import OpenEXR

from ..errors import InputError, OutputError, UsageError, use_one_of
from ..hdr.finite import finite_radiance
from ..imaging import check_rgb
from ..vocabulary import EXR_COMPRESSION, EXR_COMPRESSIONS, MAX_MEGAPIXELS, PHOTO_SUFFIXES
from . import opencv
from .atomic import atomic_path, write_failure
from .colour import REC709_CHROMATICITIES, XYZ_CHROMATICITIES, rgb_to_xyz_matrix, to_rec709_matrix
from .exif import ExifInfo
from .images import check_dimensions, check_input_file, check_size_limits, photo_container
from .library_output import quiet_library_output

PathLike = str | os.PathLike[str]

_EXR_COMPRESSION_CODES = {
    "zip": OpenEXR.ZIP_COMPRESSION,
    "zips": OpenEXR.ZIPS_COMPRESSION,
    "piz": OpenEXR.PIZ_COMPRESSION,
    "dwaa": OpenEXR.DWAA_COMPRESSION,
    "rle": OpenEXR.RLE_COMPRESSION,
    "none": OpenEXR.NO_COMPRESSION,
}
def _header_chromaticities(header: dict[str, Any]) -> tuple[float, ...]:
    chroma = header.get("chromaticities")
    if chroma is None or len(chroma) != 8:
        return REC709_CHROMATICITIES
    return tuple(float(v) for v in chroma)


def _upsample(channel: np.ndarray, x_sampling: int, y_sampling: int, shape: tuple[int, int]) -> np.ndarray:
    """Bring a subsampled chroma channel to full size by linear interpolation.

    EXR stores sample i of a channel with sampling s at pixel s*i, hence the p/s sample coordinate.
    """
    out = channel.astype(np.float64)
    for axis, (sampling, size) in enumerate(zip((y_sampling, x_sampling), shape, strict=True)):
        if sampling == 1 and out.shape[axis] == size:
            continue
        coord = np.arange(size, dtype=np.float32) / sampling
        low = np.clip(np.floor(coord).astype(np.intp), 0, out.shape[axis] - 1)
        high = np.minimum(low + 1, out.shape[axis] - 1)
        t = np.clip(coord - low, 0.0, 1.0)
        t = t[:, None] if axis == 0 else t[None, :]
        out = np.take(out, low, axis=axis) * (1.0 - t) + np.take(out, high, axis=axis) * t
    return out


# The last name of a layer that renderers write the whole image to (Blender's ViewLayer.Combined, beauty passes).
_FULL_IMAGE_LAYERS = ("combined", "beauty", "rgba", "rgb", "color", "colour", "main")


def _rgb_layers(names: set[str], header: dict[str, Any]) -> list[str]:
    """Channel-name prefixes of the part's RGB layers, the one read first: the default (unprefixed) layer, the views
    of a multi-view file in their order, a layer named for the whole image (:data:`_FULL_IMAGE_LAYERS`), then the
    other layers by name (OpenEXR stores channels sorted by name, so no other order is in the file)."""
    views = [f"{v}." for v in header.get("multiView") or []]
    layers = sorted(n[:-1] for n in names if n.endswith(".R"))
    named = sorted((prefix for prefix in layers if prefix not in views),
                   key=lambda prefix: prefix[:-1].rsplit(".", 1)[-1].casefold() not in _FULL_IMAGE_LAYERS)
    return [prefix for prefix in dict.fromkeys(["", *views, *named]) if {prefix + c for c in "RGB"} <= names]


def _rgb_prefix(names: set[str], header: dict[str, Any]) -> str | None:
    """Channel-name prefix of the RGB layer to read (:func:`_rgb_layers`), None for none."""
    return next(iter(_rgb_layers(names, header)), None)


def _layer_note(path: Path, part: Any) -> str:
    """A line naming the layer read and the ones not, where the part's RGB is a named layer among others (a
    render's passes: diffuse, specular...); none where it is the default layer or a view of a stereo file."""
    layers = _rgb_layers(set(part.channels), part.header)
    views = {f"{v}." for v in part.header.get("multiView") or []}
    if len(layers) < 2 or layers[0] == "" or layers[0] in views:
        return ""
    return (f"{path}: an EXR with {len(layers)} RGB layers: read {layers[0][:-1]}, not "
            f"{', '.join(prefix[:-1] for prefix in layers[1:])}")


def _has_colour(part: Any) -> bool:
    """Whether :func:`_part_rgb` finds colour or luminance in ``part`` (from its channel names alone)."""
    names = set(part.channels)
    return _rgb_prefix(names, part.header) is not None or "Y" in names


def _part_rgb(path: Path, part: Any) -> np.ndarray | None:
    """Linear RGB in the part's own primaries, or None when the part holds no colour or luminance.

    Raises:
        InputError: one chroma channel without the other (RY without BY): its colour cannot be told.
    """
    channels = part.channels
    names = set(channels)
    prefix = _rgb_prefix(names, part.header)
    if prefix is not None:
        return np.stack([channels[prefix + c].pixels.astype(np.float32) for c in "RGB"], axis=-1)
    if "Y" not in names:
        return None
    # float64: G comes from a difference that cancels badly in float32 for saturated colours.
    y = channels["Y"].pixels.astype(np.float64)
    chroma = {"RY", "BY"} & names
    if len(chroma) == 1:  # read as grey, it was a colour image turned grey in silence
        raise InputError(path, f"luminance-chroma EXR with {chroma.pop()} but not {({'RY', 'BY'} - names).pop()}: "
                               "its colour cannot be reconstructed (a damaged or truncated file?)")
    if not chroma:
        return np.repeat(y[..., None], 3, axis=2)
    ry, by = (_upsample(channels[n].pixels, channels[n].xSampling, channels[n].ySampling, y.shape)
              for n in ("RY", "BY"))
    # OpenEXR's RgbaYca: RY = (R - Y)/Y, BY = (B - Y)/Y, Y = yw . (R, G, B) with yw the Y row of
    # the file's RGB->XYZ matrix normalised to sum 1 (ImfRgbaYca.cpp, computeYw).
    yw = rgb_to_xyz_matrix(_header_chromaticities(part.header))[1]
    yw = yw / yw.sum()
    r, b = (ry + 1.0) * y, (by + 1.0) * y
    g = (y - yw[0] * r - yw[2] * b) / yw[1]
    return np.stack([r, g, b], axis=-1)


def _framed(path: Path, rgb: np.ndarray, header: dict[str, Any]) -> np.ndarray:
    """The part's pixels in its display window, the image's frame, as OpenEXR's viewers (exrdisplay), Nuke and
    OpenImageIO's ``--fullsize`` show it: what the data window holds outside it (a render's overscan) is cropped, and
    what it leaves of the frame (a region-of-interest render, a crop kept at its place) is black, 0. Until 2026-12-07
    the data window was read as stored, so such a file came out at another size and framing than it is shown.

    Raises:
        InputError: the data window lies wholly outside the display window: nothing of the image is in its frame.
    """
    data, display = header.get("dataWindow"), header.get("displayWindow")
    if data is None or display is None:
        return rgb
    (dx0, dy0), _ = (tuple(int(v) for v in corner) for corner in data)
    (wx0, wy0), (wx1, wy1) = (tuple(int(v) for v in corner) for corner in display)
    dx1, dy1 = dx0 + rgb.shape[1] - 1, dy0 + rgb.shape[0] - 1
    if (dx0, dy0, dx1, dy1) == (wx0, wy0, wx1, wy1):
        return rgb
    x0, y0, x1, y1 = max(dx0, wx0), max(dy0, wy0), min(dx1, wx1), min(dy1, wy1)
    if x0 > x1 or y0 > y1:
        raise InputError(path, f"its data window ({dx0},{dy0})-({dx1},{dy1}) lies wholly outside its display window "
                               f"({wx0},{wy0})-({wx1},{wy1}): none of its pixels is in the image's frame")
    framed = np.zeros((wy1 - wy0 + 1, wx1 - wx0 + 1, rgb.shape[2]), rgb.dtype)
    framed[y0 - wy0:y1 - wy0 + 1, x0 - wx0:x1 - wx0 + 1] = rgb[y0 - dy0:y1 - dy0 + 1, x0 - dx0:x1 - dx0 + 1]
    return framed


def _is_deep(part: Any) -> bool:
    """Deep parts hold a variable number of samples per pixel (the binding gives object arrays)."""
    return part.header.get("type") in (OpenEXR.deepscanline, OpenEXR.deeptile)


def _part_label(index: int, part: Any) -> str:
    kind = "deep" if _is_deep(part) else "flat"
    return f"{part.header.get('name') or f'part {index}'} ({kind}: {', '.join(sorted(part.channels)) or 'no channels'})"


def _binding_path(path: Path) -> str | None:
    """``path`` as the OpenEXR binding takes it, a str it encodes as UTF-8; None when the name holds bytes
    that are not UTF-8 (Python keeps them as surrogate escapes, PEP 383), which the binding refuses: the
    caller then hands it a binary file object it opened itself (the binding reads and writes streams)."""
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return text


def _read_exr(path: Path, max_megapixels: float) -> tuple[np.ndarray, ExifInfo | None]:
    """RGB in Rec.709 primaries and the capture facts of the first part's header (:attr:`HdrImage.capture`)."""
    try:
        name = _binding_path(path)
        with contextlib.ExitStack() as stack:
            source = name if name is not None else stack.enter_context(open(path, "rb"))
            header = _checked_first_header(path, source, max_megapixels)
            if not isinstance(source, str):
                source.seek(0)
            rgb, chroma = _read_exr_rgb(path, source)
        if not np.allclose(chroma, REC709_CHROMATICITIES, atol=1e-4):
            rgb = rgb @ to_rec709_matrix(chroma).T.astype(np.float32)
    except UsageError as exc:
        raise InputError(path, str(exc)) from None
    except (RuntimeError, OSError, ValueError, TypeError) as exc:
        # The binding reports damaged and non-EXR files alike as "Unable to open ... for read".
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(path, f"not a readable OpenEXR file, truncated or damaged ({detail})") from None
    return rgb, ExifInfo.from_exr_attributes(header)


def _checked_first_header(path: Path, source: Any, max_megapixels: float) -> dict[str, Any]:
    """The first part's header (empty for a file of no parts), after refusing, from the headers alone, a file whose
    parts hold more pixels than ``max_megapixels``: the binding decodes every channel of every part at once, and a
    2 MB file of zeros can declare gigabytes of them. The one header-only read of the file: its capture facts come
    from this header too (:attr:`HdrImage.capture`).

    Raises:
        InputError: naming the size and the limit (:func:`cevr_cli.io.images.check_dimensions`).
    """
    with quiet_library_output(), OpenEXR.File(source, header_only=True) as exr:
        # the data window is what the binding decodes, the display window what cevr makes of it (:func:`_framed`)
        windows = [part.header.get(name) for part in exr.parts for name in ("dataWindow", "displayWindow")]
        first = dict(exr.parts[0].header) if exr.parts else {}
    for window in windows:
        if window is not None:
            (x0, y0), (x1, y1) = window
            check_dimensions(path, int(x1) - int(x0) + 1, int(y1) - int(y0) + 1, max_megapixels, 1)
    return first


def _read_exr_rgb(path: Path, source: Any) -> tuple[np.ndarray, tuple[float, ...]]:
    """RGB in the file's primaries and its chromaticities, from ``source``: the path's name for the
    binding, or a binary file object open on it (:func:`_binding_path`)."""
    with quiet_library_output(), OpenEXR.File(source, separate_channels=True) as exr:
        found = _first_colour_part(path, exr.parts)
    rgb, chromaticities, others = found
    if others:  # warned here: within quiet_library_output, stderr (where the warning is shown) is closed
        warnings.warn(others, stacklevel=2)
    return rgb, chromaticities


def _first_colour_part(path: Path, parts: list[Any]) -> tuple[np.ndarray, tuple[float, ...], str]:
    """The first flat (non-deep) part with colour or luminance, as RGB and chromaticities, and a note naming
    the other parts with colour, if any (multi-part files, OpenEXR 2+, may hold a render's passes, depth, masks
    or deep samples), else the part's other RGB layers (:func:`_layer_note`).

    Raises:
        InputError: no such part, saying what the parts hold.
    """
    for index, part in enumerate(parts):
        rgb = None if _is_deep(part) else _part_rgb(path, part)
        if rgb is None:
            continue
        others = [_part_label(i, p) for i, p in enumerate(parts) if i > index and not _is_deep(p) and _has_colour(p)]
        note = (f"{path}: a multi-part EXR with colour in {len(others) + 1} parts: read {_part_label(index, part)}, "
                f"not {'; '.join(others)}") if others else _layer_note(path, part)
        return _framed(path, rgb, part.header), _header_chromaticities(part.header), note
    if not parts:  # what the binding leaves when the pixel data cannot be read
        raise InputError(path, "truncated or damaged OpenEXR file (its pixel data cannot be read)")
    if all(_is_deep(p) for p in parts):
        raise InputError(path, "deep EXR (deep scanline/tile samples) is not supported: flatten it "
                         "first (e.g. with a compositor's deep-to-image node)")
    if len(parts) > 1:
        labels = "; ".join(_part_label(i, p) for i, p in enumerate(parts))
        raise InputError(path, f"no part of this multi-part EXR has RGB, Y/RY/BY or Y channels "
                         f"in flat pixels (parts: {labels})")
    names = sorted({n for p in parts for n in p.channels})
    raise InputError(path, f"EXR has no RGB, Y/RY/BY or Y channels (found {', '.join(names) or 'none'})")


def _read_radiance(path: Path, max_megapixels: float) -> np.ndarray:
    """A Radiance file as RGB: any of the format's 8 scan orders (OpenCV decodes only ``-Y N +X M``, the usual
    one), RGBE or XYZE pixels (XYZ converted to Rec.709 as an EXR in XYZ is, :func:`to_rec709_matrix`)."""
    with open(path, "rb") as fh:
        data = fh.read()
    if data[:2] != b"#?":  # every Radiance file starts "#?RADIANCE" or "#?RGBE"; OpenCV reads a renamed JPEG as 0-255
        raise InputError(path, "not a readable Radiance .hdr file (no #?RADIANCE header: a photo renamed .hdr?)")
    layout = _radiance_layout(data)
    if layout is None:
        raise InputError(path, "not a readable Radiance .hdr file (no resolution line such as -Y 480 +X 640 after "
                               "its header)")
    check_dimensions(path, layout.width, layout.height, max_megapixels, 1)
    # before decoding: OpenCV's refusal of a huge one would leave its temporary copy of the file behind
    opencv.check_pixel_limit(path, layout.width, layout.height)
    (_, slow, slow_count), (_, fast, fast_count) = layout.axes
    # OpenCV reads scanlines of RGBE as -Y slow_count +X fast_count; the pixels are put in place afterwards.
    standard = (b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y %d +X %d\n" % (slow_count, fast_count)
                + data[layout.pixels_at:])
    decoded = opencv.decode(path, standard, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR)
    if decoded is None or decoded.ndim != 3:
        raise InputError(path, "not a readable Radiance .hdr file, truncated or damaged")
    image = decoded[..., ::-1].astype(np.float32)
    if slow == "X":  # column by column: the array's first axis runs along x
        image = image.transpose(1, 0, 2)
    for axis, name in ((0, "Y"), (1, "X")):
        sign = next(sign for sign, axis_name, _ in layout.axes if axis_name == name)
        if (name == "Y") == (sign == "+"):  # +Y runs bottom to top, -X right to left: against an image's order
            image = np.flip(image, axis)
    if layout.xyz:
        image = image @ to_rec709_matrix(XYZ_CHROMATICITIES).T.astype(np.float32)
    return np.ascontiguousarray(image)


_EXR_MAGIC = bytes((0x76, 0x2F, 0x31, 0x01))  # every OpenEXR file's first 4 bytes (OpenEXR file layout)
_HALF_MAX = float(np.finfo(np.float16).max)  # 65504: a larger value becomes infinity as a half float
_FLOAT_MAX = float(np.finfo(np.float32).max)  # about 3.4e38: the widest an EXR channel holds
# About 1.7e38: RGBE's largest (mantissa byte 255, exponent byte 255); from 2^127 the exponent byte wrapped to 0
_RGBE_MAX = float(np.nextafter(np.float32(2.0**127), np.float32(0.0)))
_RADIANCE_RESOLUTION = re.compile(rb"^([-+])([XY]) (\d+) ([-+])([XY]) (\d+)$")


@dataclass(frozen=True)
class _RadianceLayout:
    """What a Radiance header says of its pixels (Ward, Graphics Gems II, "Real Pixels"; the Radiance file formats
    reference): the two axes of its resolution line, slow (scanlines) then fast, each (sign, X or Y, count), the
    byte where the pixels start, and whether they are XYZE instead of RGBE."""

    axes: tuple[tuple[str, str, int], tuple[str, str, int]]
    pixels_at: int
    xyz: bool

    @property
    def width(self) -> int:
        return next(count for _, name, count in self.axes if name == "X")

    @property
    def height(self) -> int:
        return next(count for _, name, count in self.axes if name == "Y")


def _radiance_layout(data: bytes) -> _RadianceLayout | None:
    """The layout of a Radiance file's bytes: text lines, a blank line, then a resolution line such as
    ``-Y 480 +X 640``; None where there is no such line, or it names one axis twice."""
    head_end = data.find(b"\n\n", 0, 1 << 16)
    if head_end < 0:
        return None
    line_end = data.find(b"\n", head_end + 2)
    if line_end < 0:
        return None
    match = _RADIANCE_RESOLUTION.match(data[head_end + 2:line_end].strip())
    if match is None or match[2] == match[5]:
        return None
    axes = ((match[1].decode(), match[2].decode(), int(match[3])), (match[4].decode(), match[5].decode(),
                                                                    int(match[6])))
    return _RadianceLayout(axes, line_end + 1, b"FORMAT=32-bit_rle_xyze" in data[:head_end])


def read_hdr_image(path: PathLike, *, max_megapixels: float = MAX_MEGAPIXELS) -> np.ndarray:
    """Read an .exr or .hdr file as scene-linear float32 HxWx3 RGB with Rec.709 primaries.

    EXR: half/float/uint channels; RGB or RGBA (alpha dropped, premultiplied or not); multi-part or
    multi-view files give the default view of their first flat part with colour; deep parts are skipped
    (a deep-only file is refused: flatten it first); Y/RY/BY luminance-chroma files are
    converted as OpenEXR's RgbaYca does; Y-only files give grey; other primaries (chromaticities
    header, e.g. ACES AP0) are converted to Rec.709. NaN becomes 0, +Inf the largest finite value and
    negatives 0 (:func:`cevr_cli.hdr.finite.finite_radiance`); :func:`read_hdr_file` also says how many
    pixels held NaN/Inf, and what the header says of the capture. Any file name, one whose bytes are not UTF-8
    included. An EXR is read in its display window, the image's frame: data outside it (overscan) cropped, the
    frame outside the data window 0 (:func:`_framed`).

    Raises:
        InputError: missing, empty, truncated, not an image, without usable channels, or larger than
            ``max_megapixels`` (told from the header, before any pixel is decoded).
    """
    return read_hdr_file(path, max_megapixels=max_megapixels).radiance


@dataclass(frozen=True)
class HdrImage:
    """An HDR file as :func:`read_hdr_file` reads it."""

    radiance: np.ndarray  # :func:`read_hdr_image`'s image
    non_finite: int  # its pixels that held NaN or Inf in the file
    # The capture facts an EXR's first header holds as OpenEXR's standard attributes (``capDate``, ``expTime``,
    # ``aperture``, ``isoSpeed``, ``cameraMake``, ``cameraModel``, ``lensModel``: what ``cevr fuse`` writes there,
    # :meth:`~cevr_cli.io.exif.ExifInfo.exr_attributes`); None for a Radiance file or an EXR holding none of them.
    capture: ExifInfo | None


def read_hdr_file(path: PathLike, *, max_megapixels: float = MAX_MEGAPIXELS) -> HdrImage:
    """:func:`read_hdr_image`'s image, the number of its pixels that held NaN or Inf in the file, and the capture
    facts of an EXR's header, taken from the header-only read that checks its size before any pixel is decoded
    (`cevr tonemap` parsed the header a third time for them).

    Raises:
        InputError: as :func:`read_hdr_image`.
    """
    path = Path(path)
    check_size_limits(max_megapixels)
    check_input_file(path, "an HDR image")
    suffix = path.suffix.lower()
    if suffix in PHOTO_SUFFIXES:  # given by name: a folder's photos are not sought as HDR images
        raise InputError(path, "a photo, not an HDR image: `cevr fuse` makes its HDR image, which `cevr tonemap` takes")
    if suffix not in (".exr", ".hdr"):
        raise InputError(path, f"unsupported HDR format '{suffix or '(none)'}' (use .exr or .hdr)")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    # By content where it is the other format (an EXR saved as .hdr, or the reverse, reads as what it is); other
    # content named .hdr goes to the Radiance reader, which says why it is not one.
    if magic != _EXR_MAGIC and not magic.startswith(b"#?") and (container := photo_container(path)) is not None:
        raise InputError(path, f"a {container} image named {suffix}, not an HDR image (`cevr stack` and `cevr fuse` "
                               "take photos)")
    exr = magic == _EXR_MAGIC
    # named .exr, of neither magic: the binding's "Unable to open ... for read" says it of a damaged EXR too
    if suffix == ".exr" and not exr and not magic.startswith(b"#?"):
        raise InputError(path, "not a readable OpenEXR file (no OpenEXR magic number: a file of another kind renamed "
                               ".exr?)")
    rgb, capture = _read_exr(path, max_megapixels) if exr else (_read_radiance(path, max_megapixels), None)
    clean, non_finite = finite_radiance(rgb)
    return HdrImage(np.ascontiguousarray(clean, dtype=np.float32), non_finite, capture)


def check_hdr_name(path: PathLike, fmt: str) -> None:
    """Refuse to write an ``fmt`` (``exr`` or ``hdr``) file under a name with another suffix: the readers
    (:func:`read_hdr_image`, cevr's and others') go by the name, so an EXR named ``r.hdr`` could not be read back.

    Raises:
        UsageError: the suffix is not ``.fmt`` (any case).
    """
    if Path(path).suffix.lower() != f".{fmt}":
        raise UsageError(f"{path}: an {fmt.upper()} file needs a .{fmt} name")


def write_exr(path: PathLike, rgb: np.ndarray, *, half: bool = True, compression: str = EXR_COMPRESSION,
              attributes: Mapping[str, str | float] | None = None) -> None:
    """Write scene-linear RGB as an EXR with Rec.709 primaries / D65 chromaticities, atomically.

    ``half``: 16-bit float channels, unless a value exceeds half float's 65504: the file is then 32-bit float
    and a Python warning names it (a half would hold infinity there). A finite value beyond 32-bit float's
    about 3.4e38 (a float64 image) is written as that largest value, with a warning, not as infinity. At the
    other end a half keeps 11 significant bits down to 6.1e-5 and steps of 6e-8 below, so values under 3e-8
    become 0: nothing a photo's light on cevr's scale (white 1) loses (a 16-bit code's light, at least 1.2e-6,
    spans 20 such steps), but absolute units that small want ``half=False``.

    ``attributes``: extra header attributes (text or float), e.g. the capture facts of
    :meth:`cevr_cli.io.exif.ExifInfo.exr_attributes`; they cannot replace the structural ones. Any file
    name works, one whose bytes are not UTF-8 included (:func:`_binding_path`).

    Raises:
        UsageError: a name that is not ``.exr`` (:func:`check_hdr_name`), unknown ``compression``, not an HxWx3
            image, or an attribute that is not text or number.
        OutputError: the file cannot be written.
    """
    check_hdr_name(path, "exr")
    rgb = check_rgb(rgb)
    if compression not in _EXR_COMPRESSION_CODES:
        raise UsageError(f"EXR compression {compression!r}: {use_one_of(compression, EXR_COMPRESSIONS)}")
    if _beyond(rgb, _FLOAT_MAX):
        warnings.warn(f"{path}: values beyond 32-bit float's {_FLOAT_MAX:.4g} written as {_FLOAT_MAX:.4g}, the "
                      "largest an EXR holds", stacklevel=2)
        rgb = np.where(np.isfinite(rgb), np.clip(rgb, -_FLOAT_MAX, _FLOAT_MAX), rgb)
    if half and _beyond(rgb, _HALF_MAX):
        warnings.warn(f"{path}: values beyond half float's {_HALF_MAX:g} written as 32-bit float, not lost to "
                      "infinity", stacklevel=2)
        half = False
    data = rgb.astype(np.float16 if half else np.float32)
    header = {"compression": _EXR_COMPRESSION_CODES[compression], "type": OpenEXR.scanlineimage,
              "chromaticities": REC709_CHROMATICITIES}
    for name, value in (attributes or {}).items():
        if name in header or name in _EXR_STRUCTURE:
            raise UsageError(f"EXR attribute {name!r} is set by cevr itself")
        if not isinstance(name, str) or not name:
            raise UsageError(f"EXR attribute name {name!r}: a non-empty text expected")
        if isinstance(value, bool) or not isinstance(value, (str, numbers.Real)):  # NumPy numbers are numbers too
            raise UsageError(f"EXR attribute {name!r}: text or number expected, got {type(value).__name__}")
        header[name] = value if isinstance(value, str) else float(value)
    channels = {c: np.ascontiguousarray(data[..., i]) for i, c in enumerate("RGB")}
    try:
        with atomic_path(path) as tmp, OpenEXR.File(header, channels) as exr:
            name = _binding_path(tmp)
            if name is not None:
                exr.write(name)
            else:  # a name that is not UTF-8: through a file object (:func:`_binding_path`)
                with open(tmp, "wb") as stream:
                    exr.write(stream)
    except OSError as exc:
        raise write_failure(path, "EXR", exc) from None
    except RuntimeError as exc:  # the binding's own failures
        raise OutputError(f"{path}: cannot write EXR ({exc})") from None


# The attributes that describe the file's layout (OpenEXR's required ones and those of tiled, multi-part files): the
# writer derives them from the pixels; given as ``attributes`` the binding raised a bare ValueError or TypeError
# (``dataWindow``) or a RuntimeError reported as a write failure (``lineOrder``, ``channels``)
_EXR_STRUCTURE = frozenset({"channels", "dataWindow", "displayWindow", "lineOrder", "pixelAspectRatio",
                            "screenWindowCenter", "screenWindowWidth", "tiles", "name", "version", "chunkCount"})


def _beyond(rgb: np.ndarray, largest: float) -> bool:
    """Whether a finite value of ``rgb`` exceeds ``largest`` in magnitude, so would become infinite in a float
    type whose largest finite value that is (an image's own infinities stay). A type that holds nothing beyond
    ``largest`` is not compared (float16 against 3.4e38 cast the bound to half float: an overflow RuntimeWarning)."""
    if rgb.dtype.kind == "f" and float(np.finfo(rgb.dtype).max) <= largest:
        return False
    return bool(np.any(np.isfinite(rgb) & (np.abs(rgb) > largest)))


def write_radiance_hdr(path: PathLike, rgb: np.ndarray) -> None:
    """Write a Radiance RGBE .hdr (shared 8-bit exponent: about 1% precision), atomically.

    A finite value beyond RGBE's largest, about 1.7e38, is written as that value, with a warning (it was written
    as 0: the brightest pixels black).

    Raises:
        UsageError: a name that is not ``.hdr`` (:func:`check_hdr_name`), or not an HxWx3 image.
        OutputError: the file cannot be written (OpenCV cannot encode it, a file in the folder's place, no
            permission, disk full).
    """
    check_hdr_name(path, "hdr")
    rgb = check_rgb(rgb)
    if _beyond(rgb, _RGBE_MAX):
        warnings.warn(f"{path}: values beyond Radiance RGBE's {_RGBE_MAX:.4g} written as {_RGBE_MAX:.4g}, the largest "
                      "an .hdr holds", stacklevel=2)
        rgb = np.where(np.isfinite(rgb), np.clip(rgb, -_RGBE_MAX, _RGBE_MAX), rgb)
    bgr = np.ascontiguousarray(rgb[..., ::-1], dtype=np.float32)
    encoded = opencv.imencode(".hdr", bgr)
    if encoded is None:
        raise OutputError(f"{path}: OpenCV could not write the .hdr file")
    try:
        with atomic_path(path) as tmp:
            tmp.write_bytes(encoded)
    except OSError as exc:
        raise write_failure(path, "Radiance .hdr", exc) from None
