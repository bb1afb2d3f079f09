"""A DNG's GainMap opcodes (OpcodeList2, and 3): the lens-shading correction phones, drones and some cameras write.

A phone's small lens darkens and tints its sensor's corners (a stop or more); its DNG carries the correction as
GainMap opcodes, one per colour filter site (R, G, G, B) or one for all, which a reader is to apply to the raw image
"just after it has been mapped to linear reference values" (DNG 1.4 specification, chapter 6, "Opcode List
Processing" and "GainMap"). LibRaw applies opcode lists only when built with Adobe's DNG SDK, which rawpy's is not
(rawpy issue #212): without them the corners read dark and tinted. Other opcodes (bad pixels, lens distortion,
vignetting, ...) are not applied: :func:`opcodes_not_applied` names them, for the photo's warnings and its record.
"""

from __future__ import annotations

import contextlib
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from . import dng_tags

_GAIN_MAP = 9  # opcode ID (DNG 1.4, chapter 6)
_OPCODE_LISTS = {dng_tags.OPCODE_LIST_1: 1, dng_tags.OPCODE_LIST_2: 2, dng_tags.OPCODE_LIST_3: 3}  # by their tags
# the opcodes' names by ID (DNG 1.6 specification, chapter 6)
_OPCODE_NAMES = {1: "WarpRectilinear", 2: "WarpFisheye", 3: "FixVignetteRadial", 4: "FixBadPixelsConstant",
                 5: "FixBadPixelsList", 6: "TrimBounds", 7: "MapTable", 8: "MapPolynomial", 9: "GainMap",
                 10: "DeltaPerRow", 11: "DeltaPerColumn", 12: "ScalePerRow", 13: "ScalePerColumn",
                 14: "WarpRectilinear2"}
_OPCODE_IDS = {name: opcode for opcode, name in _OPCODE_NAMES.items()}
_OPCODE_TEXT = re.compile(r"(?:opcode (\d+)|(\w+)) \(OpcodeList([123])(, optional)?\)")
_APPLIED = {(_GAIN_MAP, 2), (_GAIN_MAP, 3)}  # (opcode, list) the readers apply
# GainMaps applied a list, four times the most cameras write (one a Bayer site); each is spread over the whole image,
# so 300 of them (30 kB of a DNG) took 33 s on a 1.5 MP photo: those after are not applied, and named so
_MAX_GAIN_MAPS = 16
_OPTIONAL = 1  # an opcode's flags bit 0: a reader that cannot apply it may skip it; without, it is not to be skipped
# a gain that lifts any photosite above its black past 16 bits: gains are held there (a map of 3e38 gains, times
# another, overflowed float32 to infinite light)
_MAX_GAIN = 65535.0


@dataclass(frozen=True)
class Opcode:
    """An opcode of a DNG's opcode lists, as its warnings and records name it."""

    opcode: int
    opcode_list: int  # 1, 2 or 3
    optional: bool

    def __str__(self) -> str:
        name = _OPCODE_NAMES.get(self.opcode, f"opcode {self.opcode}")
        return f"{name} (OpcodeList{self.opcode_list}{', optional' if self.optional else ''})"

    @classmethod
    def from_text(cls, text: str) -> Opcode | None:
        """The opcode its ``str`` names (as manifests record it); None for text that names none."""
        found = _OPCODE_TEXT.fullmatch(text)
        if found is None:
            return None
        number, name, opcode_list, optional = found.groups()
        opcode = int(number) if number else _OPCODE_IDS.get(name)
        return None if opcode is None else cls(opcode, int(opcode_list), optional is not None)


@dataclass(frozen=True)
class GainMap:
    """One GainMap opcode: the gains of the photosites in rows ``top``..``bottom`` (every ``row_pitch``-th) and
    columns ``left``..``right`` (every ``col_pitch``-th) of planes ``plane``..``plane + planes``, a grid of
    ``gains`` (points V x points H x map planes) placed at ``origin`` every ``spacing`` (relative: 0 the image's top or
    left edge, 1 its bottom or right)."""

    top: int
    left: int
    bottom: int
    right: int
    plane: int
    planes: int
    row_pitch: int
    col_pitch: int
    spacing: tuple[float, float]
    origin: tuple[float, float]
    gains: np.ndarray  # float32 V x H x map planes

    def sites(self, height: int, width: int) -> tuple[slice, slice]:
        """The photosites of a ``height`` x ``width`` image the map multiplies: those of its area (Top, Left, Bottom,
        Right) from its top-left one every RowPitch-th row and ColPitch-th column; an empty area is the whole image,
        whatever its size (the DNG SDK's ``dng_area_spec::Overlap``: such a map multiplied no photosite)."""
        top, left, bottom, right = ((0, 0, height, width) if self.bottom <= self.top or self.right <= self.left
                                    else (self.top, self.left, min(self.bottom, height), min(self.right, width)))
        return slice(top, bottom, self.row_pitch), slice(left, right, self.col_pitch)

    def within(self, offset: tuple[int, int], height: int, width: int) -> GainMap | None:
        """The map in the coordinates of a ``height`` x ``width`` image whose top-left photosite lies at ``offset``
        (rows, columns) in the map's image (the ActiveArea, whose bottom-right corner the image shares); None where it
        selects none of the image's photosites."""
        dy, dx = offset
        if not (dy or dx):
            return self
        if self.bottom <= self.top or self.right <= self.left:  # the whole image: the image's part of it
            area = (0, 0, height, width)
        else:
            top, left = ((start - shift) % pitch if start < shift else start - shift  # its first site in the image
                         for start, shift, pitch in ((self.top, dy, self.row_pitch), (self.left, dx, self.col_pitch)))
            area = (top, left, self.bottom - dy, self.right - dx)
            if area[2] <= area[0] or area[3] <= area[1]:
                return None
        # relative positions: u = (r + dy + 0.5) / (height + dy) in the map's image, (r + 0.5) / height in this one
        (origin_v, origin_h), (spacing_v, spacing_h) = self.origin, self.spacing
        full_v, full_h = height + dy, width + dx
        return replace(self, top=area[0], left=area[1], bottom=area[2], right=area[3],
                       origin=((origin_v * full_v - dy) / height, (origin_h * full_h - dx) / width),
                       spacing=(spacing_v * full_v / height, spacing_h * full_h / width))

    def over(self, height: int, width: int, planes: int | None = None) -> np.ndarray:
        """The map's gains at every pixel centre of a ``height`` x ``width`` image (H x W x map planes, the first
        ``planes`` of them: an image has at most 4, a damaged map's 65536 made terabytes): bilinear between its
        points, the edge points' gains beyond them (the DNG SDK's dng_gain_map_interpolator), and none below 0
        (:func:`least_gain`)."""
        rows = self._positions(height, self.origin[0], self.spacing[0], self.gains.shape[0])
        cols = self._positions(width, self.origin[1], self.spacing[1], self.gains.shape[1])
        (r0, r1, fr), (c0, c1, fc) = rows, cols
        g = self.gains[..., :planes]
        r0, r1 = r0[:, None], r1[:, None]  # each pixel's points at once, not each row's all (memory by the points)
        top = g[r0, c0] * (1 - fc)[None, :, None] + g[r0, c1] * fc[None, :, None]
        bottom = g[r1, c0] * (1 - fc)[None, :, None] + g[r1, c1] * fc[None, :, None]
        # a negative gain: the DNG SDK multiplies by it (dng_opcode_GainMap::ProcessArea), light below none, which
        # develops black; held at 0 here, black too, not negative light a colour matrix mixes into other channels
        return np.maximum(top * (1 - fr)[:, None, None] + bottom * fr[:, None, None], 0.0).astype(np.float32)

    @staticmethod
    def _positions(size: int, origin: float, spacing: float, points: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        index = ((np.arange(size) + 0.5) / size - origin) / spacing if spacing > 0 else np.zeros(size)
        index = np.clip(index, 0, points - 1)
        low = np.minimum(np.floor(index).astype(int), points - 1)
        return low, np.minimum(low + 1, points - 1), index - low


def _opcodes(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """Each opcode of an opcode list as (ID, flags, parameters) (big-endian: a count, then each opcode's ID, DNG
    version, flags, byte count and parameters); a list cut short yields the opcodes read before."""
    try:
        (count,), at = struct.unpack_from(">I", data), 4
        for _ in range(count):
            opcode, _version, flags, size = struct.unpack_from(">IIII", data, at)
            yield opcode, flags, data[at + 16:at + 16 + size]
            at += 16 + size
    except (struct.error, ValueError):
        return


def _marked_opcodes(data: bytes, opcode_list: int, gain_maps: bool = True
                    ) -> Iterator[tuple[GainMap | None, int, int, bytes]]:
    """Each opcode of list ``opcode_list`` with the map the readers apply of it, as (map or None, ID, flags,
    parameters): they apply OpcodeList2's and OpcodeList3's first :data:`_MAX_GAIN_MAPS` GainMaps that are maps
    (:func:`_readable_gain_map`), none where ``gain_maps`` is false."""
    maps = 0
    for opcode, flags, params in _opcodes(data):
        applied = gain_maps and (opcode, opcode_list) in _APPLIED and maps < _MAX_GAIN_MAPS
        maps += opcode == _GAIN_MAP
        yield _readable_gain_map(params) if applied else None, opcode, flags, params


def _readable_gain_map(params: bytes) -> GainMap | None:
    """The GainMap of an opcode's parameters; None for one that is none (:func:`_gain_map`): it is not applied, and
    named so (until 2026-12-08 a map of NaN gains was left out and counted applied: its lens shading went uncorrected
    without a word)."""
    # cut short (the next opcode's header fails), or more gains than any buffer holds (OverflowError)
    with contextlib.suppress(struct.error, ValueError, OverflowError):
        return _gain_map(params)
    return None


def parse_gain_maps(data: bytes, opcode_list: int = 2) -> list[GainMap]:
    """The GainMap opcodes of opcode list ``opcode_list`` (2 or 3) that the readers apply (:func:`_marked_opcodes`); the
    list's other opcodes are skipped, and so is a map that is none (no points, no map planes, a gain, spacing or origin
    that is no finite number: spread over the image it raised IndexError, or made it NaN). A list cut short yields the
    maps read before."""
    return [gain_map for gain_map, _opcode, _flags, _params in _marked_opcodes(data, opcode_list)
            if gain_map is not None]


def _gain_map(params: bytes) -> GainMap:
    """Raises: ValueError (or struct.error, OverflowError): parameters cut short, more gains than a buffer holds, or
    a map of no gains, or of non-finite gains, spacing or origin."""
    top, left, bottom, right, plane, planes, row_pitch, col_pitch, points_v, points_h = struct.unpack_from(
        ">10I", params)
    spacing_v, spacing_h, origin_v, origin_h = struct.unpack_from(">4d", params, 40)
    (map_planes,) = struct.unpack_from(">I", params, 72)
    gains = np.frombuffer(params, ">f4", points_v * points_h * map_planes, 76)
    if gains.size == 0 or not np.all(np.isfinite(gains)) or not np.all(np.isfinite(
            [spacing_v, spacing_h, origin_v, origin_h])):  # a NaN origin put every pixel at point -2^63
        raise ValueError("a GainMap of no gains, or of gains or a placement that are no finite numbers")
    return GainMap(top, left, bottom, right, plane, planes, max(row_pitch, 1), max(col_pitch, 1),
                   (spacing_v, spacing_h), (origin_v, origin_h),
                   np.minimum(gains.reshape(points_v, points_h, map_planes), _MAX_GAIN).astype(np.float32))


def page_opcode_lists(page: Any) -> dict[int, bytes]:
    """The opcode lists of a DNG's raw image by their number (1, 2, 3; ``page``: its IFD as tifffile parses it, which
    :func:`cevr_cli.io.raw.read_raw_file_facts` finds); none where it has none."""
    lists = {number: page.tags.valueof(tag) for tag, number in _OPCODE_LISTS.items()}
    return {number: bytes(data) for number, data in lists.items() if isinstance(data, (bytes, bytearray))}


def gain_maps_of(opcode_lists: dict[int, bytes], opcode_list: int = 2) -> list[GainMap]:
    """The GainMap opcodes of a DNG's OpcodeList2 (its photosites' gains, phones' lens shading) or OpcodeList3 (the
    demosaiced image's, one plane a colour: DJI's drones write their lens shading there), from its opcode lists
    (:func:`page_opcode_lists`); none where it has no such list."""
    data = opcode_lists.get(opcode_list)
    return parse_gain_maps(data, opcode_list) if data else []


def least_gain(opcode_lists: dict[int, bytes]) -> float | None:
    """The least gain of the GainMaps the readers apply (OpcodeList2's and 3's, :func:`gain_maps_of`) where it is
    negative, which :meth:`GainMap.over` holds at 0 (a damaged map: no lens lets through less than no light); None
    where none is."""
    least = min((float(gain_map.gains.min()) for number in (2, 3) for gain_map in gain_maps_of(opcode_lists, number)),
                default=0.0)
    return least if least < 0 else None


def opcodes_not_applied(opcode_lists: dict[int, bytes], *, gain_maps: bool = True) -> tuple[Opcode, ...]:
    """The opcodes of a DNG's opcode lists (:func:`page_opcode_lists`) that its readers here do not apply: every one
    but OpcodeList2's and OpcodeList3's first GainMaps that are maps (:func:`_marked_opcodes`; LibRaw applies none),
    and those too where ``gain_maps`` is false (the readers apply none), each once (a list repeating one 200,000 times
    made a 6 MB warning line), in the order first met."""
    return tuple(dict.fromkeys(Opcode(opcode, number, bool(flags & _OPTIONAL))
                               for number, data in sorted(opcode_lists.items())
                               for applied, opcode, flags, _params in _marked_opcodes(data, number, gain_maps)
                               if applied is None))


def photosite_gains(maps: list[GainMap], shape: tuple[int, ...]) -> np.ndarray | None:
    """Each photosite's gain (``shape``: H x W of a colour filter array or a monochrome sensor, one plane; H x W x C
    of a LinearRaw image), the product of the maps that select it; None without maps."""
    if not maps:
        return None
    height, width = shape[:2]
    planes = shape[2] if len(shape) == 3 else 1
    gains = np.ones((height, width, planes), np.float32)
    for gain_map in maps:
        values = gain_map.over(height, width, planes)
        rows, cols = gain_map.sites(height, width)
        for p in range(gain_map.plane, min(gain_map.plane + gain_map.planes, planes)):
            m = min(p - gain_map.plane, values.shape[2] - 1)
            gains[rows, cols, p] = np.minimum(gains[rows, cols, p] * values[rows, cols, m], _MAX_GAIN)
    return gains if len(shape) == 3 else gains[..., 0]


def gains_at_photosites(maps: list[GainMap], colors: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """OpcodeList3's gains, one plane a colour of the demosaiced image, at each photosite of ``shape``
    (:func:`photosite_gains`), for a development that applies gains before demosaicing (LibRaw's): a colour filter
    array's photosite takes its colour's plane (``colors``: its plane index, a three-colour sensor's second green
    given as 1), a LinearRaw image's its own. Lens shading varies over hundreds of photosites: the same light as
    applied after demosaicing, but where neighbours' gains differ by much within a pixel or two."""
    if colors is None:
        return photosite_gains(maps, shape)
    planes = photosite_gains(maps, (*shape, int(colors.max()) + 1))
    return None if planes is None else np.take_along_axis(planes, colors[..., None], axis=2)[..., 0]


def channel_gains(maps: list[GainMap], colors: np.ndarray | None, height: int, width: int,
                  period: tuple[int, ...] = (2, 2)) -> np.ndarray | None:
    """The gains of the three camera channels of a demosaiced image at every pixel (H x W x 3); None without maps.

    A LinearRaw image (``colors`` None) is not demosaiced: its pixels are its photosites, whose gains
    (:func:`photosite_gains`) are its channels'. A colour filter array's (``colors``: each photosite's channel,
    LibRaw's 0-3 with 3 the second green; ``period``: its pattern's rows and columns): lens shading varies over
    hundreds of pixels, so a channel's light at a pixel, interpolated from its photosites around it, needs the gain its
    photosites there have: each map is read at every pixel, and counts there for a channel by the share of the
    channel's photosites around the pixel that it selects, weighted by a triangle two pattern periods wide, which
    weighs every site of the pattern alike wherever the pixel lies. Per-site maps (R, G, G2, B, pitch 2, as phones
    write them) give each channel its own, the two greens' geometric mean; a map of every site counts for all three;
    maps over the same sites multiply; a map of part of the image counts there, blended over a pattern period at its
    edges as demosaicing blends."""
    import cv2

    if not maps:
        return None
    if colors is None:
        return photosite_gains(maps, (height, width, 3))
    kernel = np.outer(*(np.convolve(np.ones(p), np.ones(p)) for p in period)).astype(np.float32)

    def around(sites: np.ndarray) -> np.ndarray:  # reflected about the edge photosite: a period-2 pattern's phases
        return cv2.filter2D(sites.astype(np.float32), -1, kernel, borderType=cv2.BORDER_REFLECT_101)

    of_channel = [np.isin(colors, (1, 3)) if c == 1 else colors == c for c in range(3)]
    channel_sites = [np.maximum(around(sites), 1e-6) for sites in of_channel]
    log_gain = np.zeros((height, width, 3), np.float32)
    for gain_map in maps:
        if gain_map.plane != 0:  # a colour filter array has one plane
            continue
        selected = np.zeros((height, width), bool)
        selected[gain_map.sites(height, width)] = True
        values = np.log(np.maximum(gain_map.over(height, width, 1)[..., 0], 1e-6))
        for c in range(3):
            log_gain[..., c] += around(selected & of_channel[c]) / channel_sites[c] * values
    return np.exp(np.minimum(log_gain, float(np.log(_MAX_GAIN))))
