"""A DNG's GainMap opcodes: parsed from the opcode list and spread over the image as the DNG SDK interpolates."""

import struct
import warnings

import numpy as np
import pytest

from cevr_cli.io.dng_opcodes import channel_gains, parse_gain_maps, photosite_gains
from cevr_cli.io.raw import read_raw_file_facts, read_raw_linear
from tests.dng import gain_map_opcode, opcode_list, write_linear_dng


def test_a_gain_map_is_bilinear_between_its_points_at_pixel_centres():
    """A 2x2 map (1, 2 / 3, 4) over a 2x2 image: pixel centres lie a quarter in from each edge, so by hand
    1 + 0.25 * 1 + 0.25 * 2 = 1.75, 2.25, 2.75 and 3.25."""
    (gain_map,) = parse_gain_maps(opcode_list(gain_map_opcode(np.array([[1, 2], [3, 4]])[..., None], 2, 2)))
    np.testing.assert_allclose(gain_map.over(2, 2)[..., 0], [[1.75, 2.25], [2.75, 3.25]], rtol=1e-6)


def test_beyond_its_points_a_map_holds_its_edge_gains():
    (gain_map,) = parse_gain_maps(opcode_list(gain_map_opcode(np.array([[2.0, 2.0], [2.0, 2.0]])[..., None], 4, 4)))
    np.testing.assert_allclose(gain_map.over(8, 8), 2.0)


def test_each_map_reaches_its_own_photosites_and_other_opcodes_are_skipped():
    """Four maps, one per Bayer site (top, left at 0 or 1, pitch 2), as phones write them, and a FixBadPixelsConstant
    (ID 4) between them, which is not a gain."""
    flat = np.ones((2, 2, 1))
    opcodes = [gain_map_opcode(flat * gain, 4, 6, top=top, left=left, pitch=2)
               for gain, (top, left) in zip((2.0, 3.0, 5.0, 7.0), ((0, 0), (0, 1), (1, 0), (1, 1)), strict=True)]
    maps = parse_gain_maps(opcode_list(opcodes[0], gain_map_opcode(flat, 4, 6, opcode=4), *opcodes[1:]))
    assert len(maps) == 4
    np.testing.assert_array_equal(photosite_gains(maps, (4, 6)), np.tile([[2.0, 3.0], [5.0, 7.0]], (2, 3)))


def test_no_maps_no_gains_and_a_list_cut_short_keeps_what_was_read():
    assert photosite_gains([], (4, 6)) is None
    whole = opcode_list(gain_map_opcode(np.ones((2, 2, 1)), 4, 6), gain_map_opcode(np.ones((2, 2, 1)), 4, 6))
    assert len(parse_gain_maps(whole[:-10])) == 1
    assert parse_gain_maps(b"\x00\x00") == []


def test_a_map_that_is_no_map_is_skipped_and_the_maps_after_it_kept():
    """A GainMap of no points or no map planes raised IndexError ('index -1 is out of bounds') when it was spread
    over the image, out of the RAW reader as "unexpected IndexError"; one of NaN gains made every photosite NaN.
    Each is left out, and the list goes on to the next opcode."""
    broken = [np.ones((0, 2, 1)), np.ones((2, 2, 0)), np.full((2, 2, 1), np.nan), np.full((2, 2, 1), np.inf)]
    whole = gain_map_opcode(np.full((2, 2, 1), 2.0), 4, 6)
    data = opcode_list(*(gain_map_opcode(gains, 4, 6) for gains in broken), whole)
    maps = parse_gain_maps(data)
    assert len(maps) == 1
    np.testing.assert_array_equal(photosite_gains(maps, (4, 6)), 2.0)


def test_a_map_that_is_no_map_is_named_not_applied(tmp_path):
    """A GainMap of NaN gains is left out, its lens shading uncorrected: it was counted applied, unnamed in the photo's
    warnings and its record (opcodes named not applied: 0 -> 1)."""
    from cevr_cli.io.dng_opcodes import opcodes_not_applied
    from cevr_cli.provenance import SourceMetadata
    from tests.dng import write_cfa_dng

    broken, sound = gain_map_opcode(np.full((2, 2, 1), np.nan), 4, 6), gain_map_opcode(np.ones((2, 2, 1)), 4, 6)
    lists = {2: opcode_list(broken, sound)}
    assert [str(opcode) for opcode in opcodes_not_applied(lists)] == ["GainMap (OpcodeList2)"]
    scene = np.random.default_rng(0).uniform(0.2, 0.6, (32, 48, 3))
    path = write_cfa_dng(tmp_path / "nan.dng", scene, 4000, opcode_list_2=lists[2])
    not_applied = read_raw_linear(path).not_applied
    assert SourceMetadata(path, not_applied=not_applied).warnings() == [
        "DNG opcodes not applied, its pixels lack their corrections: GainMap (OpcodeList2)"]


@pytest.mark.parametrize(("at", "value"), [(56, np.nan), (64, -np.nan), (40, np.nan), (48, np.inf)])
def test_a_map_placed_at_no_number_is_skipped(at, value):
    """A GainMap whose MapOriginV or H, or MapSpacingV or H (doubles, at these offsets of its parameters), is NaN or
    infinite: a NaN origin put every pixel at point index -2^63, IndexError out of the RAW reader as "unexpected
    IndexError"; a NaN spacing spread the first point's gain over the whole image. Left out, as a map of NaN gains."""
    broken = bytearray(gain_map_opcode(np.full((2, 2, 1), 3.0), 4, 6))
    broken[16 + at:16 + at + 8] = struct.pack(">d", value)
    maps = parse_gain_maps(opcode_list(bytes(broken), gain_map_opcode(np.full((2, 2, 1), 2.0), 4, 6)))
    np.testing.assert_array_equal(photosite_gains(maps, (4, 6)), 2.0)


def test_gains_past_sixteen_bits_are_held_there_not_overflowed():
    """Gains of 3e38 (finite float32s), two maps over the same photosites: their product overflowed float32 to
    infinity (numpy's "overflow encountered in multiply" on stderr, and a photo of infinite light in the linear reader).
    A gain of 65535 or more lifts any photosite above its black past 16 bits: the gains are held at 65535."""
    colors = np.tile([[0, 1], [3, 2]], (2, 3))
    maps = parse_gain_maps(opcode_list(*[gain_map_opcode(np.full((2, 2, 1), 3e38), 4, 6)] * 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(photosite_gains(maps, (4, 6)), 65535.0)
        np.testing.assert_allclose(channel_gains(maps, colors, 4, 6), 65535.0, rtol=1e-5)


def test_a_map_that_declares_more_points_than_any_buffer_holds_is_skipped():
    """2^32 - 1 points each way and as many map planes, 2^96 gains: numpy's OverflowError ('Python int too large to
    convert to C ssize_t') left the reader as an unexpected error, where a map cut short is skipped."""
    huge = bytearray(gain_map_opcode(np.ones((2, 2, 1)), 4, 6))
    huge[16 + 32:16 + 40] = struct.pack(">2I", 2**32 - 1, 2**32 - 1)  # MapPointsV, MapPointsH
    huge[16 + 72:16 + 76] = struct.pack(">I", 2**32 - 1)  # MapPlanes
    maps = parse_gain_maps(opcode_list(bytes(huge), gain_map_opcode(np.full((2, 2, 1), 2.0), 4, 6)))
    assert len(maps) == 1 and maps[0].gains.max() == 2.0


def test_a_map_of_more_planes_than_the_image_costs_only_the_image_planes():
    """MapPlanes 65536 of one point (256 KiB of gains) was spread over every pixel in every map plane: "Unable to
    allocate 2.86 TiB" (a MemoryError out of the reader) for a 12-megapixel photo, whose one or three planes read
    only the first."""
    opcode = bytearray(gain_map_opcode(np.full((1, 1, 65536), 2.0), 3000, 4000))
    (gain_map,) = parse_gain_maps(opcode_list(bytes(opcode)))
    assert photosite_gains([gain_map], (3000, 4000)).shape == (3000, 4000)
    assert channel_gains([gain_map], None, 300, 400).shape == (300, 400, 3)


def test_a_map_of_many_points_costs_memory_by_the_image_not_by_its_points():
    """200000 points a row (800 KB of gains) over a 200x200 image: every image row took every point of its map row
    first (200 x 200000 gains, 160 MB, four times over), where the image's 40000 pixels need 40000 gains; a
    12-megapixel photo would have taken gigabytes for such a map."""
    import tracemalloc

    (gain_map,) = parse_gain_maps(opcode_list(gain_map_opcode(np.full((1, 200_000, 1), 2.0), 200, 200)))
    tracemalloc.start()
    try:
        values = gain_map.over(200, 200)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(values, 2.0)
    assert peak < 10 * 2**20, peak


def test_a_linear_raw_images_map_reaches_only_its_area_and_its_planes():
    """A LinearRaw image's pixels are its photosites: a map of 2 over the top-left 4x6 of an 8x12 image, plane 1
    only (green), doubles green there and nothing else. The channel gains of a demosaic-free image spread it over
    every pixel of the plane, the whole green plane doubled (mean gain 2.0 where, by hand, it is 1.25)."""
    (gain_map,) = parse_gain_maps(opcode_list(gain_map_opcode(np.full((1, 1, 1), 2.0), 4, 6, plane=1)))
    expected = np.ones((8, 12, 3), np.float32)
    expected[:4, :6, 1] = 2.0
    np.testing.assert_array_equal(photosite_gains([gain_map], (8, 12, 3)), expected)
    np.testing.assert_array_equal(channel_gains([gain_map], None, 8, 12), expected)


def test_a_cfa_map_of_part_of_the_image_counts_only_there():
    """Per-site maps (pitch 2, R G / G B) over the left half of a 16x16 Bayer image, gains 2, 1.5, 1.2, 1.25: a
    demosaiced pixel of the left half has its channels' photosites' gains, one of the right half none (the pixels
    either side of the edge, columns 7 and 8, blend both, as demosaicing does), green the two greens' geometric mean at
    every pixel (sqrt(1.5 * 1.2), no maze). The map's share of each channel's
    photosites was counted on the whole image (a half) and spread everywhere: the left half's red read 2 ** 0.5,
    the right half's 2 ** 0.5 where it is 1."""
    colors = np.tile([[0, 1], [3, 2]], (8, 8))
    gains = {(0, 0): 2.0, (0, 1): 1.5, (1, 0): 1.2, (1, 1): 1.25}
    maps = parse_gain_maps(opcode_list(*(gain_map_opcode(np.full((1, 1, 1), g), 16, 8, top=top, left=left, pitch=2)
                                         for (top, left), g in gains.items())))
    gains = channel_gains(maps, colors, 16, 16)
    np.testing.assert_allclose(gains[:, :7], np.broadcast_to([2.0, 1.8 ** 0.5, 1.25], (16, 7, 3)), rtol=1e-6)
    np.testing.assert_allclose(gains[:, 9:], 1.0, rtol=1e-6)


def test_a_map_of_an_empty_area_covers_the_whole_image():
    """An area of Top = Left = Bottom = Right = 0 is the whole image, whatever its size (the DNG SDK's
    dng_area_spec::Overlap): such a map was applied to no photosite."""
    (gain_map,) = parse_gain_maps(opcode_list(gain_map_opcode(np.full((1, 1, 1), 2.0), 0, 0)))
    np.testing.assert_array_equal(photosite_gains([gain_map], (4, 6)), 2.0)
    np.testing.assert_array_equal(channel_gains([gain_map], np.tile([[0, 1], [3, 2]], (2, 3)), 4, 6), 2.0)


def test_the_opcodes_not_applied_are_named_with_their_list_and_whether_they_are_optional(tmp_path):
    """OpcodeList2's GainMaps are applied; a MapPolynomial beside them, OpcodeList3's WarpRectilinear (required) and
    FixVignetteRadial (flagged optional) are not, nor an ID the DNG 1.6 specification does not define: each named
    (they were skipped without a word)."""
    flat = np.ones((1, 1, 1))
    path = write_linear_dng(
        tmp_path / "lens.dng", np.full((32, 48, 3), 1000, np.uint16), 4000,
        opcode_list_2=opcode_list(gain_map_opcode(flat, 32, 48), gain_map_opcode(flat, 32, 48, opcode=8)),
        opcode_list_3=opcode_list(gain_map_opcode(flat, 32, 48, opcode=1),
                                  gain_map_opcode(flat, 32, 48, opcode=3, flags=1),
                                  gain_map_opcode(flat, 32, 48, opcode=99)))
    def not_applied(path):
        return read_raw_file_facts(path, 4000.0).not_applied

    assert [str(opcode) for opcode in not_applied(path)] == [
        "MapPolynomial (OpcodeList2)", "WarpRectilinear (OpcodeList3)", "FixVignetteRadial (OpcodeList3, optional)",
        "opcode 99 (OpcodeList3)"]
    plain = write_linear_dng(tmp_path / "plain.dng", np.full((32, 48, 3), 1000, np.uint16), 4000)
    assert not_applied(plain) == () and not_applied(tmp_path / "missing.dng") == ()


@pytest.mark.parametrize("mode", ["linear", "cevr"])
def test_a_dng_whose_white_level_cannot_be_read_names_its_gain_maps_not_applied(tmp_path, mode):
    """A WhiteLevel that is no number (UNDEFINED bytes, which LibRaw reads as 4000): the readers develop the DNG as
    another RAW file, without its GainMaps, which were skipped without a word (no warning, nothing recorded: its
    vignetting uncorrected unseen). They are named with the other opcodes not applied, and warned of where not
    optional."""
    from cevr_cli.io.images import read_photo
    from cevr_cli.io.raw import read_raw_linear
    from cevr_cli.provenance import SourceMetadata

    shading = np.full((1, 1, 1), 2.0)
    path = write_linear_dng(
        tmp_path / "phone.dng", np.full((32, 48, 3), 1000, np.uint16), 4000,
        opcode_list_2=opcode_list(gain_map_opcode(shading, 32, 48), gain_map_opcode(shading, 32, 48, flags=1)),
        opcode_list_3=opcode_list(gain_map_opcode(shading, 32, 48, opcode=1)),
        tags={50717: (7, 4, (4000).to_bytes(4, "little"))})  # WhiteLevel
    not_applied = (read_raw_linear if mode == "linear" else read_photo)(path).not_applied
    assert [str(opcode) for opcode in not_applied] == [
        "GainMap (OpcodeList2)", "GainMap (OpcodeList2, optional)", "WarpRectilinear (OpcodeList3)"]
    assert SourceMetadata(path, not_applied=not_applied).warnings() == [
        "DNG opcodes not applied, its pixels lack their corrections: GainMap (OpcodeList2), WarpRectilinear "
        "(OpcodeList3)"]


def test_a_list_applies_its_first_sixteen_gain_maps_and_names_the_rest_not_applied():
    """Each map is spread over the whole image: 300 maps of one point (30 kB of a DNG) took 33 s on a 1.5 MP photo,
    thousands would hang a batch. Of 17 whole-image maps of 1.5, the first 16 are applied (1.5 ** 16 by hand) and the
    17th named, once, as not applied; OpcodeList3's count on their own."""
    from cevr_cli.io.dng_opcodes import gain_maps_of, opcodes_not_applied

    one = gain_map_opcode(np.full((1, 1, 1), 1.5), 4, 6)
    lists = {2: opcode_list(*[one] * 17), 3: opcode_list(*[one] * 16)}
    np.testing.assert_allclose(photosite_gains(gain_maps_of(lists, 2), (4, 6)), 1.5**16, rtol=1e-5)
    assert [str(opcode) for opcode in opcodes_not_applied(lists)] == ["GainMap (OpcodeList2)"]


def test_an_opcode_not_applied_is_named_once_however_often_the_lists_repeat_it():
    """200,000 WarpRectilinear opcodes of no parameters (a 3 MB DNG) were each named: a 6 MB warning line and a
    13.6 MB stack.json. Each opcode not applied is named once, in the order first met."""
    from cevr_cli.io.dng_opcodes import opcodes_not_applied

    warp, bad_pixels = (struct.pack(">4I", opcode, 0x01030000, 0, 0) for opcode in (1, 4))
    lists = {1: struct.pack(">I", 200_001) + warp * 100_000 + bad_pixels + warp * 100_000, 3: opcode_list(warp)}
    assert [str(opcode) for opcode in opcodes_not_applied(lists)] == [
        "WarpRectilinear (OpcodeList1)", "FixBadPixelsConstant (OpcodeList1)", "WarpRectilinear (OpcodeList3)"]


def test_an_opcode_is_read_back_from_the_text_manifests_record():
    """Manifests record opcodes by name (a stack folder read back by `cevr fuse` lost them): the text gives the
    opcode again, for every defined ID, an undefined one and the optional flag; other text none."""
    from cevr_cli.io.dng_opcodes import Opcode

    opcodes = [Opcode(opcode, opcode_list, optional) for opcode in (*range(1, 15), 99)
               for opcode_list in (1, 2, 3) for optional in (False, True)]
    assert [Opcode.from_text(str(opcode)) for opcode in opcodes] == opcodes
    assert str(Opcode(3, 3, True)) == "FixVignetteRadial (OpcodeList3, optional)"
    assert [Opcode.from_text(text) for text in ("Warp (OpcodeList3)", "GainMap (OpcodeList4)", "GainMap", "")] == [
        None] * 4


def test_a_map_within_an_image_one_photosite_into_its_area_gives_each_photosite_its_own_gain():
    """LibRaw's visible image starts on an even row and column, so a DNG whose ActiveArea starts at an odd one loses
    that row or column. A map (a 3x3 grid, pitch 2, part of a 9x12 area) moved into the image that starts one row
    and / or column in gives each photosite the gain it has in the area, computed there and cut; a map of only the
    lost row selects nothing."""
    gains = np.arange(1, 10, dtype=np.float32).reshape(3, 3, 1)
    for top, left in ((0, 0), (1, 1), (0, 1)):
        (gain_map,) = parse_gain_maps(opcode_list(gain_map_opcode(gains, 7, 10, top=top, left=left, pitch=2)))
        whole = photosite_gains([gain_map], (9, 12))
        for dy, dx in ((1, 1), (1, 0), (0, 1)):
            moved = gain_map.within((dy, dx), 9 - dy, 12 - dx)
            np.testing.assert_allclose(photosite_gains([moved], (9 - dy, 12 - dx)), whole[dy:, dx:], rtol=1e-6)
    (lost_row,) = parse_gain_maps(opcode_list(gain_map_opcode(gains, 1, 12)))
    assert lost_row.within((1, 0), 8, 12) is None
