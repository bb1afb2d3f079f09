"""Tiny DNG files that LibRaw decodes, written with tifffile (DNG 1.4 tags), for RAW tests.

A LinearRaw DNG (3 samples per pixel, PhotometricInterpretation 34892) with ColorMatrix1 = XYZ -> linear
sRGB, AsShotNeutral 1, 1, 1 and CalibrationIlluminant1 = D65 develops to exactly data / WhiteLevel. A CFA
DNG (32803, RGGB) exercises demosaicing and white balance with unequal channel saturation.
"""

import struct
from pathlib import Path

import numpy as np
import tifffile
from PIL.TiffImagePlugin import IFDRational, ImageFileDirectory_v2

# IEC 61966-2-1 XYZ (D65) -> linear sRGB.
XYZ_TO_SRGB = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]])


def _rationals(values, denominator: int = 10000) -> list[int]:
    out = []
    for v in values:
        out += [int(round(v * denominator)), denominator]
    return out


def _dng_tags(white, neutral) -> list[tuple]:
    """``white``: one WhiteLevel, or one per sample (a tuple), or None: no WhiteLevel (the DNG default)."""
    whites = tuple(white) if isinstance(white, tuple) else (white,)
    return [tag for tag in [
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50707, "B", 4, (1, 1, 0, 0), True),  # DNGBackwardVersion
        (50708, "s", 0, "cevr test camera", True),  # UniqueCameraModel
        (50717, "I", len(whites), whites, True),  # WhiteLevel
        (50721, "2i", 9, _rationals(XYZ_TO_SRGB.ravel()), True),  # ColorMatrix1
        (50778, "H", 1, 21, True),  # CalibrationIlluminant1 = D65
    ] if tag[3] != (None,)] + (
        [(50728, "2I", 3, _rationals(neutral), True)] if neutral is not None else [])  # AsShotNeutral


def _opcode_tags(opcode_list_2: bytes | None, opcode_list_3: bytes | None) -> list[tuple]:
    """OpcodeList2 and OpcodeList3 (UNDEFINED) where given."""
    return [(tag, 7, len(data), data, True) for tag, data in ((51009, opcode_list_2), (51022, opcode_list_3)) if data]


def _crop_tags(crop: tuple[int, int, int, int] | None, user_crop: tuple[float, ...] | None = None) -> list[tuple]:
    """DefaultCropOrigin and DefaultCropSize (horizontal first) of a crop given as (top, left, height, width), and
    DefaultUserCrop (top, left, bottom, right: fractions of that crop)."""
    return ([(50719, "I", 2, (crop[1], crop[0]), True), (50720, "I", 2, (crop[3], crop[2]), True)] if crop else []) + (
        [(51125, "2I", 4, _rationals(user_crop), True)] if user_crop else [])


def _black_delta_tags(black_deltas: tuple[np.ndarray, np.ndarray] | None) -> list[tuple]:
    """BlackLevelDeltaV and BlackLevelDeltaH (whole numbers, as RATIONALs) where given (rows', columns')."""
    if black_deltas is None:
        return []
    rows, cols = black_deltas
    return [(50716, "2I", len(rows), _rationals(rows, 1), True), (50715, "2I", len(cols), _rationals(cols, 1), True)]


def _replaced(tags: list[tuple], changes: dict[int, tuple | None] | None) -> list[tuple]:
    """``tags`` with ``changes`` (code: (dtype, count, value), or None to leave the tag out) in place of those of their
    codes: a damaged file's tags."""
    changes = changes or {}
    return [tag for tag in tags if tag[0] not in changes] + [
        (code, *change, True) for code, change in changes.items() if change is not None]


def write_linear_dng(path: Path, data: np.ndarray, white, black: tuple[int, ...] | None = None, *,
                     opcode_list_2: bytes | None = None, opcode_list_3: bytes | None = None,
                     black_deltas: tuple[np.ndarray, np.ndarray] | None = None,
                     tags: dict[int, tuple | None] | None = None) -> Path:
    """``data``: HxWx3 uint16 sensor values (0..white); ``white``: one WhiteLevel or a tuple, one per sample;
    ``black``: the BlackLevel, one value or one per sample (the data holds it: light 0 is ``black``);
    ``opcode_list_2``, ``opcode_list_3``: the OpcodeList2 and 3 (:func:`opcode_list`); ``black_deltas``: each row's
    and each column's black above ``black`` (BlackLevelDeltaV and BlackLevelDeltaH; the data holds them too);
    ``tags``: tags written in place of those made here (:func:`_replaced`)."""
    extratags = _dng_tags(white, (1, 1, 1)) + ([(50713, "H", 2, (1, 1), True), (50714, "H", len(black), black, True)]
                                               if black else []) + _opcode_tags(opcode_list_2, opcode_list_3) + (
        _black_delta_tags(black_deltas))
    tifffile.imwrite(path, data, photometric=34892, planarconfig="contig", extratags=_replaced(extratags, tags))
    return path


_EXIF_PLACEHOLDER = 34666  # an unassigned tag, next to the ExifTag (34665) in IFD0's sorted order


def write_camera_dng(path: Path, data: np.ndarray, white: int, *, make: str, model: str, date: str,
                     exposure_time: float, f_number: float, iso: int, lens: str, orientation: int = 1,
                     crop: tuple[int, int, int, int] | None = None, user_crop: tuple[float, ...] | None = None
                     ) -> Path:
    """A linear DNG with what a camera records: Make, Model, DateTime and Orientation in IFD0, and an EXIF
    IFD with the exposure time, f-number, ISO, DateTimeOriginal and lens. tifffile refuses to write an ExifTag,
    so IFD0 gets a placeholder tag that becomes the ExifTag pointing at an IFD appended with Pillow's writer.
    Like every DNG tifffile writes, IFD0 also holds tifffile's own ImageDescription (shape JSON): junk that
    outputs must not carry. ``crop``: DefaultCropOrigin and DefaultCropSize as (top, left, height, width);
    ``user_crop``: DefaultUserCrop (top, left, bottom, right, fractions of the crop)."""
    ifd0 = [(271, "s", 0, make, True), (272, "s", 0, model, True), (306, "s", 0, date, True),
            (274, "H", 1, orientation, True), (_EXIF_PLACEHOLDER, "I", 1, 0, True)]
    tifffile.imwrite(path, data, photometric=34892, planarconfig="contig",
                     extratags=_dng_tags(white, (1, 1, 1)) + ifd0 + _crop_tags(crop, user_crop))
    with tifffile.TiffFile(path) as tif:
        placeholder = tif.pages[0].tags[_EXIF_PLACEHOLDER]
    exif = ImageFileDirectory_v2(b"II*\x00\x00\x00\x00\x00")
    exif[33434] = IFDRational(exposure_time)  # ExposureTime
    exif[33437] = IFDRational(f_number)  # FNumber
    exif[34855] = iso  # ISOSpeedRatings
    exif[36867] = date  # DateTimeOriginal
    exif[42036] = lens  # LensModel
    with open(path, "r+b") as fh:
        end = fh.seek(0, 2) + fh.tell() % 2  # IFDs start on a word boundary
        fh.seek(placeholder.offset)
        fh.write(struct.pack("<H", 34665))  # the ExifTag sorts where its placeholder did
        fh.seek(placeholder.valueoffset)
        fh.write(struct.pack("<I", end))
        fh.seek(end)
        fh.write(exif.tobytes(end))
    return path


def write_cfa_dng(path: Path, camera_rgb: np.ndarray, white: int, neutral=(0.5, 1.0, 0.8), *,
                  make: str | None = None, model: str | None = None, black: tuple[int, int, int, int] | None = None,
                  pattern=((0, 1), (1, 2)), opcode_list_2: bytes | None = None, margin: int = 0,
                  crop: tuple[int, int, int, int] | None = None,
                  black_deltas: tuple[np.ndarray, np.ndarray] | None = None, opcode_list_3: bytes | None = None,
                  tags: dict[int, tuple | None] | None = None) -> Path:
    """``camera_rgb``: HxWx3 linear camera values (1.0 = white), sampled by ``pattern`` (rows of colour codes, 0 red,
    1 green, 2 blue: CFARepeatPatternDim and CFAPattern; RGGB by default) and clipped at ``white``; ``make``,
    ``model``: IFD0's Make and Model (LibRaw applies some makers' own rules).

    ``neutral`` is the camera's response to grey: red at 0.5 means the red channel is amplified 2x by white
    balance, so it saturates (in white-balanced terms) at twice the level green does; None: no AsShotNeutral.
    ``black``: the BlackLevel of the R, G, G, B sites (light 0 reads ``black``, 1.0 reads ``white``);
    ``opcode_list_2``, ``opcode_list_3``: an OpcodeList2 and 3 (:func:`opcode_list`); ``margin``: rows and columns
    of black photosites above and left of the image, outside its ActiveArea (the pattern, the opcodes and the crop
    count from the area's corner); ``crop``: DefaultCropOrigin and DefaultCropSize as (top, left, height, width);
    ``black_deltas``: each row's and each column's black above ``black`` (BlackLevelDeltaV and BlackLevelDeltaH,
    whole numbers); ``tags``: tags written in place of those made here (:func:`_replaced`).
    """
    h, w = camera_rgb.shape[:2]
    pattern = np.array(pattern)
    rows, cols = pattern.shape
    sites = np.tile(pattern, (h // rows + 1, w // cols + 1))[:h, :w]
    cfa = np.take_along_axis(camera_rgb, sites[..., None], axis=2)[..., 0]
    offset = np.tile(np.reshape(black or (0, 0, 0, 0), (2, 2)), (h // 2 + 1, w // 2 + 1))[:h, :w]
    if black_deltas is not None:
        offset = offset + black_deltas[0][:, None] + black_deltas[1][None, :]
    codes = np.clip(np.round(offset + cfa * (white - offset)), 0, white).astype(np.uint16)
    codes = np.pad(codes, ((margin, 0), (margin, 0)))
    area = [(50829, "I", 4, (margin, margin, h + margin, w + margin), True)] if margin else []  # ActiveArea
    area += _crop_tags(crop) + _black_delta_tags(black_deltas)
    extratags = area + _dng_tags(white, neutral) + ([(50713, "H", 2, (2, 2), True), (50714, "H", 4, black, True)]
                                                    if black else []) + [
        (33421, "H", 2, (rows, cols), True),  # CFARepeatPatternDim
        (33422, "B", rows * cols, tuple(pattern.ravel().tolist()), True),  # CFAPattern
        (50710, "B", 3, (0, 1, 2), True),  # CFAPlaneColor
        (50711, "H", 1, 1, True),  # CFALayout rectangular
    ] + [(code, "s", 0, text, True) for code, text in ((271, make), (272, model)) if text] + _opcode_tags(
        opcode_list_2, opcode_list_3)
    tifffile.imwrite(path, codes, photometric=32803, extratags=_replaced(extratags, tags))
    return path


# A four-colour sensor (RGBE, as Sony's DSC-F828): red, green / "emerald", blue; DNG's CFAPlaneColor has no emerald,
# so the fourth plane is labelled cyan (3), whose response here is halfway between green's and blue's.
FOUR_COLOUR_XYZ_TO_CAMERA = np.vstack([XYZ_TO_SRGB, (XYZ_TO_SRGB[1] + XYZ_TO_SRGB[2]) / 2])


def write_four_colour_dng(path: Path, camera: np.ndarray, white: int, neutral=(0.5, 1.0, 0.8, 0.7), *,
                          black: tuple[int, int, int, int] = (0, 0, 0, 0)) -> Path:
    """A CFA DNG of four colours, sampled R G / E B (CFAPattern 0 1 3 2, CFAPlaneColor 0 1 2 3), with a 4x3
    ColorMatrix1 (:data:`FOUR_COLOUR_XYZ_TO_CAMERA`). ``camera``: HxWx4 linear camera values (1.0 = white), R, G,
    B, E; ``neutral``: AsShotNeutral, one per plane; ``black``: the BlackLevel of the R, G, E, B sites."""
    h, w = camera.shape[:2]
    plane = np.tile(np.array([[0, 1], [3, 2]]), (h // 2 + 1, w // 2 + 1))[:h, :w]
    cfa = np.take_along_axis(camera, plane[..., None], axis=2)[..., 0]
    offset = np.tile(np.reshape(black, (2, 2)), (h // 2 + 1, w // 2 + 1))[:h, :w]
    codes = np.clip(np.round(offset + cfa * (white - offset)), 0, white).astype(np.uint16)
    tags = [tag for tag in _dng_tags(white, None) if tag[0] != 50721] + [
        (50721, "2i", 12, _rationals(FOUR_COLOUR_XYZ_TO_CAMERA.ravel()), True),  # ColorMatrix1, 4x3
        (50728, "2I", 4, _rationals(neutral), True),  # AsShotNeutral
        (50713, "H", 2, (2, 2), True), (50714, "H", 4, black, True),  # BlackLevelRepeatDim, BlackLevel
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, (0, 1, 3, 2), True),  # CFAPattern R G / E B
        (50710, "B", 4, (0, 1, 2, 3), True),  # CFAPlaneColor: red, green, blue, cyan
        (50711, "H", 1, 1, True),  # CFALayout rectangular
    ]
    tifffile.imwrite(path, codes, photometric=32803, extratags=tags)
    return path


def write_monochrome_dng(path: Path, data: np.ndarray, white: int, black: int | None = None) -> Path:
    """A monochrome DNG as a Leica Monochrom writes one: LinearRaw with one sample per pixel, no colour matrix.
    ``data``: HxW sensor values, uint16 or float (light 0 reads ``black``). tifffile writes LinearRaw with three
    samples only, so the image is written BlackIsZero and its PhotometricInterpretation rewritten in place."""
    tags = [tag for tag in _dng_tags(white, None) if tag[0] not in (50721, 50778)] + (
        [(50714, "H", 1, (black,), True)] if black else [])  # BlackLevel
    tifffile.imwrite(path, data, photometric="minisblack", extratags=tags)
    with tifffile.TiffFile(path) as tif:
        photometric = tif.pages[0].tags[262]
    with open(path, "r+b") as fh:
        fh.seek(photometric.valueoffset)
        fh.write(struct.pack("<H", 34892))  # LinearRaw
    return path


def gain_map_opcode(gains: np.ndarray, height: int, width: int, *, top: int = 0, left: int = 0, pitch: int = 1,
                    opcode: int = 9, plane: int = 0, planes: int = 1, flags: int = 0) -> bytes:
    """One GainMap opcode (DNG 1.4, chapter 6; big-endian): ``gains`` (points V x points H x map planes) spread
    evenly from the image's top-left edge (origin 0) to its bottom-right (spacing 1 / (points - 1)), applied to the
    photosites from (``top``, ``left``) to (``height``, ``width``) (its Bottom and Right) every ``pitch`` rows and
    columns of planes ``plane`` .. ``plane + planes``; ``opcode``: another ID to write an opcode a reader is to skip;
    ``flags``: the opcode's flags (1: optional)."""
    gains = np.asarray(gains, np.float32)
    points_v, points_h, map_planes = gains.shape
    params = struct.pack(">10I", top, left, height, width, plane, planes, pitch, pitch, points_v, points_h)
    params += struct.pack(">4d", 1 / max(points_v - 1, 1), 1 / max(points_h - 1, 1), 0.0, 0.0)
    params += struct.pack(">I", map_planes) + gains.astype(">f4").tobytes()
    return struct.pack(">4I", opcode, 0x01030000, flags, len(params)) + params


def opcode_list(*opcodes: bytes) -> bytes:
    return struct.pack(">I", len(opcodes)) + b"".join(opcodes)


def lossless_jpeg(image: np.ndarray) -> bytes:
    """``image`` (HxW, 16-bit) as a lossless JPEG stream, as DNG's Compression 7 holds one (ITU T.81, annex H): SOF3,
    one component of 16 bits, predictor 1 (the left sample; the one above in the first column, 2^15 first), and a
    Huffman table giving each difference category 0-16 a 5-bit code, the category itself."""
    h, w = image.shape
    samples = image.astype(np.int64)
    predicted = np.empty_like(samples)
    predicted[0, 0] = 1 << 15
    predicted[0, 1:], predicted[1:, 0], predicted[1:, 1:] = samples[0, :-1], samples[:-1, 0], samples[1:, :-1]
    diffs = (samples - predicted + 32768) % 65536 - 32768  # modulo 2^16 (H.1.2.1)
    bits = []
    for diff in diffs.ravel().tolist():
        size = 16 if diff == -32768 else abs(diff).bit_length()
        bits.append(format(size, "05b"))
        if 0 < size < 16:  # a negative difference as its ones' complement (F.1.2.1.1)
            bits.append(format(diff if diff > 0 else diff - 1 + (1 << size), f"0{size}b"))
    stream = "".join(bits)
    stream += "1" * (-len(stream) % 8)  # padded with ones (F.1.2.3)
    entropy = bytes(int(stream[i:i + 8], 2) for i in range(0, len(stream), 8)).replace(b"\xff", b"\xff\x00")

    def segment(marker: int, payload: bytes) -> bytes:
        return struct.pack(">HH", marker, len(payload) + 2) + payload

    frame = struct.pack(">BHHB", 16, h, w, 1) + bytes([1, 0x11, 0])  # precision, size, component 1
    table = bytes([0x00, 0, 0, 0, 0, 17] + [0] * 11) + bytes(range(17))  # DC table 0: 17 codes of 5 bits
    scan = bytes([1, 1, 0x00, 1, 0, 0])  # component 1 with table 0, predictor 1, point transform 0
    return (b"\xff\xd8" + segment(0xFFC3, frame) + segment(0xFFC4, table) + segment(0xFFDA, scan) + entropy
            + b"\xff\xd9")


def compress_as_lossless_jpeg(path: Path, stream: bytes | None = None) -> Path:
    """The single-strip DNG at ``path`` with its strip as a lossless JPEG stream (:func:`lossless_jpeg` of its
    photosites, or ``stream``: damaged data), appended, and Compression 7."""
    with tifffile.TiffFile(path) as tif:
        page, order = tif.pages.first, tif.byteorder
        image, offsets, counts, compression = page.asarray(), page.tags[273], page.tags[279], page.tags[259]
    assert offsets.count == 1, "one strip"
    stream = lossless_jpeg(image) if stream is None else stream
    data = bytearray(path.read_bytes())
    struct.pack_into(order + "I", data, offsets.valueoffset, len(data))
    struct.pack_into(order + ("H" if counts.dtype == 3 else "I"), data, counts.valueoffset, len(stream))
    struct.pack_into(order + "H", data, compression.valueoffset, 7)
    path.write_bytes(bytes(data) + stream)
    return path
