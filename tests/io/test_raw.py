"""Camera RAW as linear light: exact decode of DNGs with known truth and the clipping mask."""

import re
import sys
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

from cevr_cli.errors import InputError
from cevr_cli.io.images import SRGB_LIBRAW_GAMMA, read_photo
from cevr_cli.io.raw import (
    check_pixel_data,
    clipping_mask,
    read_raw_linear,
    saturated_photosites,
    saturation_levels,
)
from tests.dng import (
    compress_as_lossless_jpeg,
    gain_map_opcode,
    opcode_list,
    write_cfa_dng,
    write_four_colour_dng,
    write_linear_dng,
    write_monochrome_dng,
)

WHITE = 4000


def test_saturation_respects_each_channels_own_white_level():
    raw = np.array([[3000, 3900], [4000, 2999]], dtype=np.uint16)
    colors = np.array([[0, 1], [3, 2]])  # R G / G2 B
    levels = np.array([3000, 4000, 3000, 4000])  # R and B saturate at 3000, G and G2 at 4000
    np.testing.assert_array_equal(saturated_photosites(raw, colors, levels), [[True, False], [True, False]])
    stacked = np.stack([raw, raw, raw], axis=-1)  # one value per channel: any channel saturated counts
    # 3900 is below green's 4000 but above red's and blue's 3000.
    np.testing.assert_array_equal(saturated_photosites(stacked, None, levels), [[True, True], [True, False]])


def test_bayer_masks_reach_the_demosaicing_neighbourhood():
    saturated = np.zeros((9, 9), bool)
    saturated[4, 4] = True
    mask = clipping_mask(saturated, (9, 9), bayer=True)
    assert mask.sum() == 25 and mask[2:7, 2:7].all()
    assert clipping_mask(saturated, (9, 9), bayer=False).sum() == 1
    assert clipping_mask(saturated, (18, 9), bayer=False)[8:10, 4].all()  # a developed image of other proportions


def test_a_linear_dng_decodes_to_data_over_white_level_with_its_exact_mask(tmp_path):
    rng = np.random.default_rng(0)
    data = np.clip(np.round(rng.random((32, 48, 3)) * 1.3 * WHITE), 0, WHITE).astype(np.uint16)
    photo = read_raw_linear(write_linear_dng(tmp_path / "lin.dng", data, WHITE))
    assert photo.linear.shape == (32, 48, 3) and photo.white_level == WHITE
    np.testing.assert_allclose(photo.linear, data / WHITE, atol=2e-4)
    np.testing.assert_array_equal(photo.clipped, (data >= WHITE).any(axis=2))
    assert photo.clipped_fraction == pytest.approx((data >= WHITE).any(axis=2).mean())


def test_a_developed_raw_is_srgb_encoded_as_it_is_labelled(tmp_path):
    """`--raw-mode cevr` reads the development as sRGB: LibRaw must encode it so (its default curve is BT.709's)."""
    from cevr_cli.imaging import srgb_encode

    rng = np.random.default_rng(0)
    data = np.round(rng.random((32, 48, 3)) * 0.9 * WHITE).astype(np.uint16)  # nothing clipped
    photo = read_photo(write_linear_dng(tmp_path / "lin.dng", data, WHITE))
    expected = srgb_encode(data / WHITE) * 65535
    assert np.abs(photo.rgb * 65535 - expected).max() < 0.01 * 65535  # BT.709's curve is up to 6 % off
    assert np.median(np.abs(photo.rgb * 65535 - expected)) < 0.002 * 65535


def test_unequal_channel_saturation_is_masked_before_it_turns_magenta(tmp_path):
    # Grey scene; in a patch the light is 1.6x the level at which green saturates. Green (x1 white balance)
    # clips; red (camera value 0.5 of green, x2 white balance) does not, so the developed pixel would be
    # (1.6, 1.0, ...) before clipping: mask it, or darker exposures show it magenta.
    scene = np.full((48, 64, 3), 0.3)
    scene[16:32, 24:40] = 1.6
    camera = scene * np.array([0.5, 1.0, 0.8])
    photo = read_raw_linear(write_cfa_dng(tmp_path / "cfa.dng", camera, WHITE))
    assert photo.clipped[16:32, 24:40].all()
    assert not photo.clipped[:8].any() and not photo.clipped[:, :16].any()  # far from the patch: measured
    np.testing.assert_allclose(photo.linear[4:10, 4:10], 0.3, atol=2e-3)  # white-balanced grey, exact


def test_light_that_white_balance_lifts_above_one_is_kept_where_the_sensor_did_not_saturate(tmp_path):
    """Red amplified 2x by white balance measures up to 2.0 before its photosites saturate; LibRaw's 16-bit sRGB
    output clipped it at 1.0 (a red flower: 1.5 -> 1.0, its -2 EV frame 137 instead of 165) and did not mark it."""
    scene = np.full((64, 96, 3), 0.2)
    scene[16:48, 32:64] = [1.5, 0.5, 0.3]  # camera values 0.75, 0.5, 0.24: no photosite saturated
    photo = read_raw_linear(write_cfa_dng(tmp_path / "flower.dng", scene * np.array([0.5, 1.0, 0.8]), WHITE))
    assert not photo.clipped.any()
    np.testing.assert_allclose(photo.linear[20:44, 36:60], np.broadcast_to([1.5, 0.5, 0.3], (24, 24, 3)), atol=2e-3)
    np.testing.assert_allclose(photo.linear[:8, :8], 0.2, atol=2e-3)


def test_a_nikon_dng_saturates_at_its_own_white_level(tmp_path):
    """LibRaw gives a DNG whose Make is Nikon per-channel "linearity limits" of 0.9346 x its WhiteLevel (3738 of
    4000) that the file does not hold; read as white levels they marked a patch at 0.96 of white clipped."""
    scene = np.full((48, 64, 3), 0.3)
    scene[16:32, 24:40] = 0.96  # green photosites at 3840 of 4000: measured
    scene[:8, 48:] = 1.2  # saturated
    photo = read_raw_linear(write_cfa_dng(tmp_path / "nikon.dng", scene * np.array([0.5, 1.0, 0.8]), WHITE,
                                          make="Nikon", model="D850"))
    assert not photo.clipped[12:36, 20:44].any() and photo.clipped[:8, 48:].all()
    np.testing.assert_allclose(photo.linear[20:28, 28:36], 0.96, atol=2e-3)


@pytest.mark.parametrize("whites", [(4000, 3500, 3800), (3500, 4000, 3800)])
def test_a_linear_dng_saturates_at_each_samples_own_white_level(tmp_path, whites):
    """A LinearRaw DNG's WhiteLevel may hold one level per sample (DNG 1.4); LibRaw's white_level is one of
    them, so a channel that saturated at a lower level of its own went unmarked (its light read as 1.0)."""
    whites = np.array(whites)
    scene = np.full((32, 48, 3), 0.5)
    scene[8:24, 8:40] = 0.9
    scene[8:24, 8:40, whites.argmin()] = 1.1  # only the channel with the lowest level saturates
    data = np.clip(np.round(scene * whites), 0, whites).astype(np.uint16)
    photo = read_raw_linear(write_linear_dng(tmp_path / "lin.dng", data, tuple(int(w) for w in whites)))
    np.testing.assert_array_equal(photo.clipped, (data >= whites).any(axis=2))
    assert photo.clipped[8:24, 8:40].all()
    np.testing.assert_allclose(photo.linear[~photo.clipped], scene[~photo.clipped], atol=2e-4)


def test_a_dng_whose_white_level_is_zero_is_read_at_the_dng_default(tmp_path):
    """A WhiteLevel of 0 (no photosite can lie below it): LibRaw develops at the DNG default, 2^16 - 1, where the mask
    took 0 for each channel's saturation and marked every photosite clipped (clipped fraction 1.0 -> 0)."""
    data = (np.random.default_rng(9).uniform(0.05, 0.9, (32, 48, 3)) * WHITE).astype(np.uint16)
    photo = read_raw_linear(write_linear_dng(tmp_path / "zero.dng", data, 0))
    np.testing.assert_allclose(photo.linear, data / 65535, atol=2e-4)
    assert photo.clipped_fraction == 0.0


@pytest.mark.parametrize("white", [("i", 1, (-5,)), ("d", 1, (float("inf"),)), ("d", 1, (float("nan"),)),
                                   ("I", 0, ())], ids=["negative", "infinite", "nan", "no-values"])
@pytest.mark.parametrize("mode", ["linear", "developed"])
def test_a_dng_whose_white_level_is_no_level_is_read_at_the_dng_default(tmp_path, mode, white):
    """A WhiteLevel under 1 or that is no finite number (DNG 1.6 writes it unsigned; the DNG SDK refuses it), or of no
    values: LibRaw develops at the DNG default, 2^16 - 1, as for a WhiteLevel of 0. A SLONG -5 marked every photosite
    clipped (clipped fraction 1.0 -> 0.0), an infinite one failed as "unexpected OverflowError"."""
    data = (np.random.default_rng(11).uniform(0.05, 0.9, (32, 48, 3)) * WHITE).astype(np.uint16)
    path = write_linear_dng(tmp_path / "white.dng", data, WHITE, tags={50717: white})
    if mode == "linear":
        photo = read_raw_linear(path)
        assert not photo.clipped.any()
        np.testing.assert_allclose(photo.linear, data / 65535.0, atol=2e-5)  # a LinearRaw DNG: data / WhiteLevel
    else:
        assert read_photo(path).rgb.shape == data.shape


@pytest.mark.parametrize("matrix", [None, ("2i", 4, (1, 1, 0, 1, 0, 1, 1, 1))], ids=["none", "four-values"])
def test_a_dng_without_a_colour_matrix_is_read_in_its_cameras_colours_as_libraw_develops_it(tmp_path, matrix):
    """A DNG without a usable ColorMatrix1 (none, or 4 of its 9 values): LibRaw keeps no camera matrix and develops the
    camera's colours as they are; the linear reader multiplied by its empty matrix, a photo read black (mean 0.0 ->
    0.3). A LinearRaw DNG in the camera's colours develops to data / WhiteLevel."""
    data = (np.random.default_rng(13).uniform(0.05, 0.9, (32, 48, 3)) * WHITE).astype(np.uint16)
    path = write_linear_dng(tmp_path / "uncoloured.dng", data, WHITE, tags={50721: matrix})  # ColorMatrix1
    np.testing.assert_allclose(read_raw_linear(path).linear, data / WHITE, atol=1e-4)


def test_saturation_levels_never_pass_the_level_libraw_develops_to_full_scale():
    np.testing.assert_array_equal(saturation_levels(4000, [4500, 3900, 4500, 3900], None), [4000, 3900, 4000, 3900])
    np.testing.assert_array_equal(saturation_levels(4000, None, None), [4000] * 4)
    np.testing.assert_array_equal(saturation_levels(4000, [3738] * 4, [4000] * 4), [4000] * 4)  # a DNG's own


def test_a_dng_without_an_as_shot_white_balance_is_balanced_for_daylight(tmp_path):
    """No AsShotNeutral: LibRaw's camera white balance fell back to the grey-world average, while the gain spread
    multiplied back was daylight's, so every pixel read darker than it measured (a grey 0.26 read 0.22)."""
    rng = np.random.default_rng(3)
    scene = np.repeat(np.repeat(rng.uniform(0.02, 0.45, (6, 8, 3)), 8, axis=0), 8, axis=1)  # flat 8x8 patches
    photo = read_raw_linear(write_cfa_dng(tmp_path / "no-wb.dng", scene, WHITE, neutral=None))  # camera = sRGB
    inside = np.zeros(scene.shape[:2], bool)
    for y in range(6):
        for x in range(8):
            inside[y * 8 + 2:y * 8 + 6, x * 8 + 2:x * 8 + 6] = True  # away from the patches' edges (demosaicing)
    assert not photo.clipped.any()
    np.testing.assert_allclose(photo.linear[inside], scene[inside], atol=1e-3)


@pytest.mark.parametrize(("black", "white"), [((512,), WHITE), ((512, 512, 512), WHITE), ((200, 256, 300), WHITE),
                                              ((512, 512, 512), None)])  # None: the default, 65535
def test_a_linear_dngs_black_level_is_normalised_as_the_dng_defines(tmp_path, black, white):
    """LibRaw scales a DNG's channels by WhiteLevel less the least of four channel blacks; a LinearRaw DNG's
    BlackLevel given per sample leaves the fourth at 0, so its light read (4000 - 512) / 4000 of itself (0.5 as
    0.436) and its saturation below 1.0."""
    blacks, level = np.resize(np.array(black), 3), white or 65535
    scene = np.full((32, 48, 3), 0.5)
    scene[:, 24:] = [0.2, 0.3, 0.1]
    scene[:8, :8] = 1.3
    data = np.clip(np.round(blacks + scene * (level - blacks)), 0, level).astype(np.uint16)
    photo = read_raw_linear(write_linear_dng(tmp_path / "lin.dng", data, white, black=black))
    np.testing.assert_array_equal(photo.clipped, (data >= level).any(axis=2))
    np.testing.assert_allclose(photo.linear[~photo.clipped], scene[~photo.clipped], atol=3e-4)
    np.testing.assert_allclose(photo.linear[photo.clipped], 1.0, atol=3e-4)


def test_a_cfa_dngs_channel_black_levels_are_normalised_as_the_dng_defines(tmp_path):
    """Blacks 200, 256, 256, 300: LibRaw's one range (4000 - 200) read green 1.5 % and blue 2.6 % dark."""
    rng = np.random.default_rng(5)
    scene = np.repeat(np.repeat(rng.uniform(0.05, 0.45, (6, 8, 3)), 8, axis=0), 8, axis=1)  # flat 8x8 patches
    photo = read_raw_linear(write_cfa_dng(tmp_path / "black.dng", scene * np.array([0.5, 1.0, 0.8]), WHITE,
                                          black=(200, 256, 256, 300)))
    inside = np.zeros(scene.shape[:2], bool)
    for y in range(6):
        for x in range(8):
            inside[y * 8 + 2:y * 8 + 6, x * 8 + 2:x * 8 + 6] = True  # away from the patches' edges (demosaicing)
    np.testing.assert_allclose(photo.linear[inside], scene[inside], atol=1e-3)


GREY = 0.3
GREY_SRGB = 0.58383  # IEC 61966-2-1: 1.055 * 0.3 ** (1 / 2.4) - 0.055, by hand


def _grey_dng(kind, path):
    """A flat grey scene (0.3 of white) on a DNG whose channel blacks all differ: G2's from G's on a Bayer sensor."""
    if kind == "bayer":  # R 200, G 256, G2 280, B 300
        return write_cfa_dng(path, np.full((48, 64, 3), GREY) * [0.5, 1.0, 0.8], WHITE, black=(200, 256, 280, 300))
    if kind == "four-colour":  # R 200, G 256, E 280, B 300
        return write_four_colour_dng(path, np.full((48, 64, 4), GREY) * [0.5, 1.0, 0.8, 0.7], WHITE,
                                     black=(200, 256, 280, 300))
    black = np.array([200, 256, 300])  # LinearRaw, one black per sample
    data = np.round(black + GREY * (WHITE - black)) * np.ones((32, 48, 1))
    return write_linear_dng(path, data.astype(np.uint16), WHITE, black=(200, 256, 300))


@pytest.mark.parametrize("kind", ["bayer", "four-colour", "linear-raw"])
@pytest.mark.parametrize("mode", ["linear", "cevr"])
def test_a_flat_grey_develops_grey_whatever_the_dngs_channel_blacks(tmp_path, kind, mode):
    """A DNG's channels are (v - BlackLevel) / (WhiteLevel - BlackLevel) each (DNG 1.4, chapter 5); LibRaw's one
    range (4000 - 200) read this grey's green 1.5 % and blue 2.6 % dark on a four-colour sensor, left a maze of second
    greens on a Bayer one (up to 0.6 %: the linear reader corrected R, G, B after demosaicing), and in `--raw-mode cevr`
    darkened every DNG so (a LinearRaw one, whose unused fourth black is 0: 5-7.5 %)."""
    path = _grey_dng(kind, tmp_path / f"{kind}.dng")
    if mode == "linear":
        photo = read_raw_linear(path)
        developed, expected = photo.linear, GREY
        assert not photo.clipped.any()
    else:
        developed, expected = read_photo(path).rgb, GREY_SRGB
    inside = developed[4:-4, 4:-4]  # away from the demosaicing border
    np.testing.assert_allclose(inside, expected, rtol=1e-3)


def test_a_dngs_highlights_stay_white_with_unequal_channel_blacks(tmp_path):
    """With the blacks' scale riding on LibRaw's gains, a saturated grey develops white (its second greens read
    green 0.997 in the linear reader, whose scale came after demosaicing)."""
    scene = np.full((48, 64, 3), 1.5)
    scene[32:] = GREY  # a file whose photosites all read the same is refused
    path = write_cfa_dng(tmp_path / "white.dng", scene, WHITE, black=(200, 256, 280, 300))
    photo = read_raw_linear(path)
    assert photo.clipped[:24].all()
    np.testing.assert_allclose(photo.linear[4:24, 4:-4], 1.0, atol=1e-4)
    np.testing.assert_allclose(read_photo(path).rgb[4:24, 4:-4], 1.0, atol=1e-4)


@pytest.mark.parametrize("black", [None, 256])
def test_a_monochrome_dng_develops_grey_in_both_modes(tmp_path, black):
    """A monochrome sensor (one sample per pixel, no colour filter): the linear reader failed with "unexpected
    IndexError" (LibRaw's channel map reads 6 there), `--raw-mode cevr` with "expected a non-empty HxWx3 RGB photo,
    got shape (48, 64, 1)"."""
    level = np.full((48, 64), 0.2)
    level[:, 32:] = 0.6
    level[:8, :8] = 1.5  # clipped: the photosites at white, no demosaicing reach
    offset = black or 0
    data = np.clip(np.round(offset + level * (WHITE - offset)), 0, WHITE).astype(np.uint16)
    path = write_monochrome_dng(tmp_path / "mono.dng", data, WHITE, black)
    photo = read_raw_linear(path)
    np.testing.assert_array_equal(photo.clipped, data >= WHITE)
    expected = np.minimum(level, 1.0)[..., None].repeat(3, axis=2)
    np.testing.assert_allclose(photo.linear, expected, atol=3e-4)
    encoded = read_photo(path).rgb  # sRGB (IEC 61966-2-1) of 0.2 and 0.6, by hand: 0.48453 and 0.79773
    np.testing.assert_allclose(encoded[20:, 4:28], 0.48453, atol=3e-4)
    np.testing.assert_allclose(encoded[20:, 36:60], 0.79773, atol=3e-4)
    np.testing.assert_allclose(encoded[:8, :8], 1.0)


QUAD_BAYER = ((0, 0, 1, 1), (0, 0, 1, 1), (1, 1, 2, 2), (1, 1, 2, 2))


@pytest.mark.parametrize("pattern", [((1, 0), (2, 1)), ((2, 1), (1, 0)), ((0, 1), (1, 2), (0, 1), (1, 2))],
                         ids=["GRBG", "BGGR", "RGGB-4x2"])
def test_a_cfa_dng_develops_its_colours_whatever_its_bayer_phase(tmp_path, pattern):
    rng = np.random.default_rng(6)
    scene = np.repeat(np.repeat(rng.uniform(0.05, 0.45, (6, 8, 3)), 8, axis=0), 8, axis=1)  # flat 8x8 patches
    photo = read_raw_linear(write_cfa_dng(tmp_path / "phase.dng", scene * np.array([0.5, 1.0, 0.8]), WHITE,
                                          pattern=pattern))
    inside = np.zeros(scene.shape[:2], bool)
    for y in range(6):
        for x in range(8):
            inside[y * 8 + 2:y * 8 + 6, x * 8 + 2:x * 8 + 6] = True  # away from the patches' edges (demosaicing)
    np.testing.assert_allclose(photo.linear[inside], scene[inside], rtol=5e-3)


@pytest.mark.parametrize("pattern", [QUAD_BAYER, ((0, 1, 0, 1), (1, 2, 1, 2))], ids=["quad-bayer-4x4", "2x4"])
@pytest.mark.parametrize("mode", ["linear", "cevr"])
def test_a_cfa_pattern_libraw_misreads_is_refused_by_name(tmp_path, pattern, mode):
    """LibRaw fills its 8-row by 2-column pattern from CFAPattern whatever CFARepeatPatternDim says: a flat grey
    0.3 on a quad-Bayer DNG developed R 0.35, G 0.18, B 0.21 in stripes, on a 2x4 one R 0.45, G 0.10, B 0.34."""
    scene = np.full((48, 64, 3), 0.3)
    scene[:, :16] = 0.1
    path = write_cfa_dng(tmp_path / "quad.dng", scene * np.array([0.5, 1.0, 0.8]), WHITE, pattern=pattern)
    rows, cols = np.array(pattern).shape
    with pytest.raises(InputError, match=f"a {rows}x{cols} colour filter pattern that LibRaw reads wrong"):
        read_raw_linear(path) if mode == "linear" else read_photo(path)


@pytest.mark.parametrize("pattern, reason", [
    (None, r"without a colour filter pattern \(no CFAPattern\)"),
    (("B", 3, (0, 1, 2)), r"whose CFAPattern of 3 colours does not fill its 2x2 CFARepeatPatternDim"),
    (("B", 4, (0, 1, 1, 5)), r"whose CFAPattern holds colour 5, which its CFAPlaneColor \(0, 1, 2\) lacks"),
    (("B", 4, (1, 1, 1, 1)), r"whose CFAPattern holds no photosite of colour 0, which its CFAPlaneColor \(0, 1, 2\) "
                             r"names"),
], ids=["missing", "wrong-length", "out-of-range", "colour-missing"])
@pytest.mark.parametrize("mode", ["linear", "cevr"])
def test_a_cfa_dng_without_a_sound_pattern_is_refused_by_name(tmp_path, pattern, reason, mode):
    """DNG gives CFAPattern no default; LibRaw developed a DNG without one in colours it guessed, without a word (a
    scene of mean 0.57 read 0.78), and one too short or naming a colour CFAPlaneColor lacks in others (0.39, 0.38),
    as it did one without a colour CFAPlaneColor names (all green: red 0.81 read 0.14); the DNG SDK refuses each."""
    scene = np.random.default_rng(0).uniform(0.2, 0.6, (64, 64, 3))
    path = write_cfa_dng(tmp_path / "cfa.dng", scene, WHITE, tags={33422: pattern})
    with pytest.raises(InputError, match=rf"cfa\.dng: camera RAW \(DNG\) {reason}: its colours would be guessed$"):
        read_raw_linear(path) if mode == "linear" else read_photo(path)


# A phone's lens shading as its DNG corrects it: one 3x3 GainMap per Bayer site (R, G, G2, B), 1 at the centre,
# rising to each site's corner gain (red's shading the strongest: corners tinted as well as dark).
SHADING_CORNERS = {(0, 0): 2.2, (0, 1): 1.8, (1, 0): 1.8, (1, 1): 1.6}


def _shading(corner: float) -> np.ndarray:
    edge = (1 + corner) / 2
    return np.array([[corner, edge, corner], [edge, 1.0, edge], [corner, edge, corner]])


def _bilinear(points: np.ndarray, h: int, w: int) -> np.ndarray:
    """``points`` spread from edge to edge of an h x w image, read at pixel centres (the DNG SDK's interpolation)."""
    rows = (np.arange(h) + 0.5) / h * (points.shape[0] - 1)
    cols = (np.arange(w) + 0.5) / w * (points.shape[1] - 1)
    across = np.array([np.interp(cols, np.arange(points.shape[1]), row) for row in points])
    return np.array([np.interp(rows, np.arange(points.shape[0]), col) for col in across.T]).T


def _shaded_dng(path, scene, **dng):
    """The scene as the sensor records it through the shaded lens (each site's light over its gain), with the
    GainMaps that undo that: developed, the scene itself. ``dng``: :func:`write_cfa_dng`'s other arguments."""
    h, w = scene.shape[:2]
    camera = scene * np.array([0.5, 1.0, 0.8])
    site_gain = np.empty((h, w))
    for (top, left), corner in SHADING_CORNERS.items():
        site_gain[top::2, left::2] = _bilinear(_shading(corner), h, w)[top::2, left::2]
    recorded = camera / site_gain[..., None]  # write_cfa_dng samples each site from its own colour's plane
    opcodes = opcode_list(*(gain_map_opcode(_shading(corner)[..., None], h, w, top=top, left=left, pitch=2)
                            for (top, left), corner in SHADING_CORNERS.items()))
    return write_cfa_dng(path, recorded, WHITE, opcode_list_2=opcodes, **dng)


@pytest.mark.parametrize("layout", [2, 3, 9])
@pytest.mark.parametrize("mode", ["linear", "developed"])
def test_a_cfa_dng_staggered_as_a_super_ccd_is_refused_by_name(tmp_path, mode, layout):
    """CFALayout 2 (staggered, a SuperCCD's): LibRaw develops the 48x32 image as a SuperCCD, turned (56x55 before its
    rotation); refused as "a 2x2 colour filter pattern that LibRaw reads wrong", which named a sound pattern. The
    other staggered layouts (3-9) LibRaw developed as a rectangular grid, each photosite half a site off, without a
    word."""
    scene = np.random.default_rng(17).uniform(0.1, 0.5, (32, 48, 3))
    path = write_cfa_dng(tmp_path / "staggered.dng", scene, WHITE, tags={50711: ("H", 1, (layout,))})  # CFALayout
    with pytest.raises(InputError, match=rf"staggered\.dng: camera RAW \(DNG\) whose colour filter lies on no "
                                         rf"rectangular grid \(CFALayout {layout}\), which cevr does not read$"):
        read_raw_linear(path) if mode == "linear" else read_photo(path)


@pytest.mark.parametrize("layout", [0, 10])
def test_a_cfa_dng_of_a_layout_dng_does_not_define_is_refused_by_name(tmp_path, layout):
    """A CFALayout outside DNG's 1-9 was developed as a rectangular grid without a word."""
    path = write_cfa_dng(tmp_path / "odd.dng", np.full((32, 48, 3), 0.3), WHITE, tags={50711: ("H", 1, (layout,))})
    with pytest.raises(InputError, match=rf"odd\.dng: camera RAW \(DNG\) with CFALayout {layout}, no layout DNG "
                                         r"defines \(1 to 9\)$"):
        read_raw_linear(path)


@pytest.mark.parametrize("mode", ["linear", "cevr"])
def test_a_dngs_lens_shading_gain_maps_are_applied(tmp_path, mode):
    """LibRaw does not apply a DNG's opcode lists (without Adobe's DNG SDK): this flat grey 0.3 read 0.3 / 2.2 = 0.14
    in red at the corners (a stop dark, and green 0.17: tinted). A corner patch of 1.3, which the shading brought
    under the sensor's white, is light above 1.0, kept in the linear reader."""
    scene = np.full((128, 192, 3), 0.3)  # shading over hundreds of pixels, as a lens's
    scene[:8, :8] = 1.3
    path = _shaded_dng(tmp_path / "phone.dng", scene)
    measured = np.zeros(scene.shape[:2], bool)  # away from the patch's edges (demosaicing) and the image's
    measured[2:-2, 2:-2] = True
    measured[:12, :12] = False
    measured[2:6, 2:6] = True
    if mode == "linear":
        photo = read_raw_linear(path)
        assert not photo.clipped.any()
        # red records 0.3 * 0.5 / 2.2 of white in the corners: 273 codes of 4000, where one code is 0.37 %
        np.testing.assert_allclose(photo.linear[measured], scene[measured], rtol=5e-3)
    else:
        rgb = read_photo(path).rgb
        np.testing.assert_allclose(rgb[10:-2, 2:-2], GREY_SRGB, rtol=3e-3)  # sRGB of 0.3 by hand
        np.testing.assert_allclose(rgb[2:6, 2:6], 1.0)  # light above 1.0: clipped in the developed photo


def _reads_grey(path, mode, edge: int = 0) -> None:
    """The DNG at ``path`` reads a flat grey 0.3 (but ``edge`` pixels a side, which demosaicing blends): in linear
    light by the linear reader, sRGB-encoded (:data:`GREY_SRGB`) by the developed one."""
    inside = (slice(edge, -edge or None),) * 2
    if mode == "linear":
        np.testing.assert_allclose(read_raw_linear(path).linear[inside], 0.3, rtol=5e-3)
    else:
        np.testing.assert_allclose(read_photo(path).rgb[inside], GREY_SRGB, rtol=3e-3)


@pytest.mark.parametrize("mode", ["linear", "cevr"])
@pytest.mark.parametrize("kind", ["cfa", "linear-raw", "linear-raw-no-black"])
def test_a_dngs_per_row_and_column_blacks_are_subtracted_where_they_lie(tmp_path, mode, kind):
    """BlackLevelDeltaV 0 on the top half's rows and 300 on the bottom half's, BlackLevelDeltaH 0 on the left half's
    columns and 100 on the right's, over a BlackLevel of 200 at every CFA site (or 100, 200, 300 a LinearRaw sample,
    or none: the DNG default, 0 for every sample), and a flat grey 0.3 of each photosite's own range: LibRaw
    subtracted one black, the BlackLevel and the deltas' averages, so the CFA's top-left quarter read R 0.21, G 0.26,
    B 0.25 and its bottom-left R 0.35, G 0.32, B 0.33, off and tinted (mean error 0.046 -> 0.00001), the LinearRaw's
    green and blue 0.32 and 0.34. Without a BlackLevel the deltas were placed on the first sample only: green and blue
    read 0.28 to 0.33."""
    h, w = 64, 96
    deltas = (np.where(np.arange(h) < h // 2, 0, 300), np.where(np.arange(w) < w // 2, 0, 100))
    if kind == "cfa":
        path = write_cfa_dng(tmp_path / "rows.dng", np.full((h, w, 3), 0.3) * np.array([0.5, 1.0, 0.8]), WHITE,
                             black=(200, 200, 200, 200), black_deltas=deltas)
    else:
        levels = (100, 200, 300) if kind == "linear-raw" else None
        black = np.array(levels or (0, 0, 0)) + (deltas[0][:, None] + deltas[1][None, :])[..., None]
        data = np.round(black + 0.3 * (WHITE - black)).astype(np.uint16)
        path = write_linear_dng(tmp_path / "rows.dng", data, WHITE, black=levels, black_deltas=deltas)
    _reads_grey(path, mode)


@pytest.mark.parametrize("mode", ["linear", "cevr"])
def test_a_dngs_gain_maps_count_from_its_active_areas_corner(tmp_path, mode):
    """A DNG whose ActiveArea starts at row 1, column 1 (a black row and column outside it), its per-site GainMaps
    placed in that area: LibRaw starts its image at row and column 2, and the maps counted from there put red's gains
    on blue photosites and the greens' on each other (a flat grey 0.3 read R 0.25, G 0.30, B 0.37 on average: mean
    error 0.040 -> 0.0001)."""
    _reads_grey(_shaded_dng(tmp_path / "odd.dng", np.full((128, 192, 3), 0.3), margin=1), mode, edge=2)


@pytest.mark.parametrize("mode", ["linear", "cevr"])
def test_a_dngs_opcode_list_3_gain_map_is_applied_to_its_colours(tmp_path, mode):
    """A GainMap in OpcodeList3 (the demosaiced image's: one plane a camera colour, corners 2.2, 1.8, 1.6 in red,
    green and blue), as DJI's drones write their lens shading: it was skipped, a flat grey 0.3 read in the corners
    red 0.14, green 0.17, blue 0.19 (mean error 0.084 -> 0.0001)."""
    h, w = 128, 192  # shading over hundreds of pixels, as a lens's
    corners = (2.2, 1.8, 1.6)
    gains = np.stack([_bilinear(_shading(corner), h, w) for corner in corners], axis=2)
    camera = np.full((h, w, 3), 0.3) * np.array([0.5, 1.0, 0.8])
    opcodes = opcode_list(gain_map_opcode(np.stack([_shading(corner) for corner in corners], axis=2), h, w,
                                          planes=3))
    _reads_grey(write_cfa_dng(tmp_path / "drone.dng", camera / gains, WHITE, opcode_list_3=opcodes), mode, edge=2)


@pytest.mark.parametrize("mode", ["linear", "cevr"])
def test_a_linear_dngs_gain_map_reaches_only_its_area_and_plane(tmp_path, mode):
    """A LinearRaw DNG whose GainMap of 2 covers its top-left quadrant's green (Top 0, Left 0, Bottom 32, Right 48,
    Plane 1, Planes 1), which the file holds at half: developed, a flat grey 0.3. The linear reader applied the map
    to the whole green plane: green read 0.6 outside the quadrant (mean error over the image 0.075 -> 0)."""
    data = np.full((64, 96, 3), 0.3 * WHITE)
    data[:32, :48, 1] /= 2
    opcodes = opcode_list(gain_map_opcode(np.full((1, 1, 1), 2.0), 32, 48, plane=1))
    _reads_grey(write_linear_dng(tmp_path / "quadrant.dng", np.round(data).astype(np.uint16), WHITE,
                                 opcode_list_2=opcodes), mode)


@pytest.mark.parametrize("mode", ["linear", "cevr"])
def test_a_negative_gain_map_gain_reads_black_with_a_warning_naming_the_photo(tmp_path, mode):
    """A GainMap from -2 at the left edge to 1 at the right (no lens lets through less than no light: damaged data):
    the DNG SDK multiplies each photosite by the gain interpolated there, light below none left of the map's zero, which
    develops black. Read so, each pixel the grey times its gain held at 0, with a warning naming the photo (until
    2026-12-08 without a word, the photo's left two thirds black)."""
    h, w = 32, 48
    opcodes = opcode_list(gain_map_opcode(np.array([[[-2.0], [1.0]]]), h, w, planes=3))
    path = write_linear_dng(tmp_path / "negative.dng", np.full((h, w, 3), round(0.3 * WHITE), np.uint16), WHITE,
                            opcode_list_2=opcodes)
    with pytest.warns(UserWarning, match=r"^.*negative\.dng: DNG GainMap gains as low as -2, below 0: held at 0, the "
                                         r"photosites they multiply read black$"):
        photo = read_raw_linear(path) if mode == "linear" else read_photo(path)
    if mode == "linear":
        gain = np.maximum(-2.0 + 3.0 * (np.arange(w) + 0.5) / w, 0.0)  # the map read at each pixel centre, by hand
        np.testing.assert_allclose(photo.linear, np.broadcast_to(0.3 * gain[None, :, None], (h, w, 3)), atol=1e-3)


def test_a_cfa_dngs_gain_maps_of_half_the_image_count_only_there(tmp_path):
    """Per-site GainMaps (R, G, G2, B, pitch 2) over the left half of a CFA DNG of a flat grey 0.3: developed, 0.3 on
    both halves (but the columns either side of the edge, which demosaicing blends). Each map's share of its channel's
    photosites was counted on the whole image and spread over it: the left half read red 0.3 / 2.2 ** 0.5 = 0.20 and
    the right half 0.3 * 2.2 ** 0.5 = 0.44 (mean error over the halves 0.094 -> 0.0001)."""
    h, w = 64, 96
    site_gain = np.ones((h, w))
    for (top, left), gain in SHADING_CORNERS.items():
        site_gain[top::2, left:w // 2:2] = gain
    recorded = np.full((h, w, 3), 0.3) * np.array([0.5, 1.0, 0.8]) / site_gain[..., None]
    opcodes = opcode_list(*(gain_map_opcode(np.full((1, 1, 1), gain), h, w // 2, top=top, left=left, pitch=2)
                            for (top, left), gain in SHADING_CORNERS.items()))
    linear = read_raw_linear(write_cfa_dng(tmp_path / "half.dng", recorded, WHITE, opcode_list_2=opcodes)).linear
    halves = np.concatenate([linear[2:-2, 2:w // 2 - 4], linear[2:-2, w // 2 + 4:-2]], axis=1)
    np.testing.assert_allclose(halves, 0.3, rtol=5e-3)


@pytest.mark.parametrize("mode", ["linear", "cevr"])
def test_a_half_float_dng_without_a_white_level_is_refused_for_its_true_reason(tmp_path, mode):
    """A floating-point DNG's WhiteLevel defaults to 1.0; LibRaw takes a half-float one's for 65535 and scales its
    light of 0.2 to 0.6 to photosites of 0: refused as "without its pixel data: every photosite reads 0", which the
    file has. A 32-bit float one LibRaw reads on a white of 1.0: read, its light as written."""
    data = np.random.default_rng(0).uniform(0.2, 0.6, (32, 48, 3))
    path = write_linear_dng(tmp_path / "half.dng", data.astype(np.float16), None)
    with pytest.raises(InputError, match=r"half\.dng: camera RAW \(DNG\) of 16-bit floating-point samples without a "
                                         r"WhiteLevel: LibRaw takes its white for 65535, .* \(0 to 1 as 0\)$"):
        read_raw_linear(path) if mode == "linear" else read_photo(path)
    if mode == "linear":
        single = read_raw_linear(write_linear_dng(tmp_path / "single.dng", data.astype(np.float32), None))
        np.testing.assert_allclose(single.linear, data, atol=2e-4)


def test_a_32_bit_float_dng_without_a_white_level_is_read_at_the_float_default_of_1(tmp_path):
    """A floating-point DNG's WhiteLevel defaults to 1.0, as LibRaw reads 32-bit floats; the facts took the integer
    default, 2^32 - 1, where a patch at 3.0 darkened the photo three times (0.1 read 0.033; its mask was right)."""
    data = np.full((32, 48, 3), 0.1, np.float32)
    data[:8, 40:] = 3.0
    photo = read_raw_linear(write_linear_dng(tmp_path / "float.dng", data, None))
    np.testing.assert_array_equal(photo.clipped, (data >= 1.0).any(axis=2))
    np.testing.assert_allclose(photo.linear, np.minimum(data, 1.0), atol=3e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("brightest", [1.0, 3.0])
def test_a_floating_point_dng_is_read_at_its_white_level(tmp_path, dtype, brightest):
    """A floating-point DNG (Lightroom's HDR merges and Denoise output), WhiteLevel 1: LibRaw turns its floats into
    integers with the larger of the WhiteLevel and the brightest value at 16383, where the WhiteLevel tag read 1: every
    photosite was marked clipped, and a patch at 3.0 darkened the photo three times (0.1 read 0.033); the DNG clips
    values above its WhiteLevel to 1.0."""
    data = np.full((32, 48, 3), 0.1, dtype)
    data[:, 16:] = 0.3
    data[:8, 40:] = brightest
    photo = read_raw_linear(write_linear_dng(tmp_path / "float.dng", data, 1))
    np.testing.assert_array_equal(photo.clipped, (data >= 1.0).any(axis=2))
    np.testing.assert_allclose(photo.linear, np.minimum(data, 1.0), atol=3e-4)
    # sRGB (IEC 61966-2-1) of 0.1 and 0.3 by hand; LibRaw holds the floats as integers to 16383, truncated (0.1 of a
    # brightest 3.0 is 545 of 5461, 0.2 % low)
    encoded = read_photo(tmp_path / "float.dng").rgb
    np.testing.assert_allclose(encoded[:, :16], 0.34919, atol=6e-4)
    np.testing.assert_allclose(encoded[8:, 16:], GREY_SRGB, atol=6e-4)
    np.testing.assert_allclose(encoded[:8, 40:], 1.0)


def test_a_floating_point_monochrome_dng_past_its_white_reads_one_there(tmp_path):
    """LibRaw's own development (sensors it colours itself) scaled to the WhiteLevel: data past it is held to 1.0."""
    data = np.full((32, 48), 0.1, np.float32)
    data[:8, 40:] = 3.0
    photo = read_raw_linear(write_monochrome_dng(tmp_path / "mono-float.dng", data, 1))
    np.testing.assert_array_equal(photo.clipped, data >= 1.0)
    np.testing.assert_allclose(photo.linear, np.minimum(data, 1.0)[..., None].repeat(3, axis=2), atol=3e-4)


def _tifffile_parses(monkeypatch, path) -> list[str]:
    """A list that each tifffile parse of ``path`` from now on appends to."""
    import tifffile

    parses = []

    class Counted(tifffile.TiffFile):
        def __init__(self, file, *args, **kwargs):
            if str(file) == str(path):
                parses.append(str(file))
            super().__init__(file, *args, **kwargs)

    monkeypatch.setattr(tifffile, "TiffFile", Counted)
    return parses


@pytest.mark.parametrize("kind", ["shaded-cfa", "float-rescaled", "cropped-cfa"])
@pytest.mark.parametrize("mode", ["linear", "cevr"])
def test_a_dngs_tiff_structure_is_parsed_once_per_read(tmp_path, monkeypatch, kind, mode):
    """Each fact the readers take from a DNG's tags (EXIF, CFA pattern, WhiteLevel, sample format, a floating-point
    DNG's brightest value, GainMaps; ActiveArea, DefaultCrop, BlackLevelDelta and the opcodes not applied) had a
    tifffile parse of its own: a CFA DNG was parsed 5 times per read, a floating-point LinearRaw one that LibRaw
    rescaled 6, a cropped one with per-row blacks and opcode lists 9. The facts themselves are checked by the tests
    above and below (lens shading, floating point, crops, black deltas) on such files."""
    if kind == "shaded-cfa":
        path = _shaded_dng(tmp_path / "phone.dng", np.full((32, 48, 3), 0.3))
    elif kind == "cropped-cfa":
        flat = np.ones((1, 1, 1))
        path = write_cfa_dng(tmp_path / "cropped.dng", np.full((32, 48, 3), 0.3), WHITE, margin=3,
                             crop=(2, 2, 28, 44), black_deltas=(np.arange(32) % 5 * 10.0, np.zeros(48)),
                             opcode_list_3=opcode_list(gain_map_opcode(flat, 32, 48, opcode=1)))
    else:
        data = np.full((32, 48, 3), 0.1, np.float32)
        data[:8, 40:] = 3.0  # past the WhiteLevel 1: LibRaw rescales, and the brightest value is read
        path = write_linear_dng(tmp_path / "float.dng", data, 1)
    parses = _tifffile_parses(monkeypatch, path)
    (read_raw_linear if mode == "linear" else read_photo)(path)
    assert len(parses) == 1


@pytest.mark.parametrize("mode", ["linear", "cevr"])
def test_a_dngs_default_crop_is_computed_once_per_read(tmp_path, monkeypatch, mode):
    """The crop (DefaultCrop, DefaultUserCrop, ActiveArea) was computed by open_raw for its size check and again by
    each reader: 2 -> 1 per read. Its value is checked by the crop tests below."""
    import cevr_cli.io.raw as raw_module

    calls = []
    crop = raw_module.dng_default_crop
    monkeypatch.setattr(raw_module, "dng_default_crop", lambda *args: calls.append(args) or crop(*args))
    scene = np.full((32, 48, 3), 0.3) * np.array([0.5, 1.0, 0.8])
    path = write_cfa_dng(tmp_path / "cropped.dng", scene, WHITE, margin=3, crop=(2, 2, 28, 44))
    (read_raw_linear if mode == "linear" else read_photo)(path)
    assert len(calls) == 1


def test_a_dng_without_an_as_shot_white_balance_develops_for_daylight_in_raw_mode_cevr(tmp_path):
    """`--raw-mode cevr`: LibRaw's camera white balance fell back to the grey-world average (this scene's greys
    tinted by its mean colour)."""
    from cevr_cli.imaging import srgb_encode

    rng = np.random.default_rng(3)
    scene = np.repeat(np.repeat(rng.uniform(0.02, 0.45, (6, 8, 3)), 8, axis=0), 8, axis=1)
    photo = read_photo(write_cfa_dng(tmp_path / "no-wb.dng", scene, WHITE, neutral=None))
    inside = np.zeros(scene.shape[:2], bool)
    for y in range(6):
        for x in range(8):
            inside[y * 8 + 2:y * 8 + 6, x * 8 + 2:x * 8 + 6] = True
    np.testing.assert_allclose(photo.rgb[inside], srgb_encode(scene)[inside], atol=2e-3)


def _mixing_dng(path, camera_rgb, mixing):
    """A CFA DNG whose camera sees mixing @ sRGB: ColorMatrix1 (XYZ -> camera) = mixing @ XYZ_TO_SRGB."""
    import tifffile

    from tests.dng import XYZ_TO_SRGB, _rationals

    write_cfa_dng(path, camera_rgb, WHITE)
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        codes = page.asarray()
        tags = [(t.code, t.dtype, t.count, t.value, True) for t in page.tags.values() if t.code >= 33421]
    tags = [tag for tag in tags if tag[0] != 50721] + [(50721, "2i", 9, _rationals((mixing @ XYZ_TO_SRGB).ravel()),
                                                        True)]
    tifffile.imwrite(path, codes, photometric=32803, extratags=tags)
    return path


def test_colour_is_libraws_own_wherever_libraw_does_not_clip(tmp_path):
    """The camera -> sRGB matrix and the white balance applied here are LibRaw's: on every pixel its own sRGB
    development (highlights clipped) leaves below full scale, the two agree to its 16-bit rounding."""
    import rawpy

    mixing = np.array([[0.8, 0.15, 0.05], [0.1, 0.8, 0.1], [0.02, 0.18, 0.8]])
    rng = np.random.default_rng(4)
    srgb = np.repeat(np.repeat(rng.uniform(0.02, 0.9, (8, 12, 3)), 8, axis=0), 8, axis=1)  # flat 8x8 patches
    camera = (srgb @ mixing.T) * np.array([0.5, 1.0, 0.8])
    path = _mixing_dng(tmp_path / "mixed.dng", camera, mixing)
    photo = read_raw_linear(path)
    with rawpy.imread(str(path)) as raw:
        libraw = raw.postprocess(use_camera_wb=True, no_auto_bright=True, output_bps=16, gamma=(1, 1),
                                 output_color=rawpy.ColorSpace.sRGB, adjust_maximum_thr=0.0,
                                 highlight_mode=rawpy.HighlightMode.Clip).astype(np.float32) / 65535
    inside = np.zeros(libraw.shape[:2], bool)
    for y in range(8):
        for x in range(12):
            inside[y * 8 + 2:y * 8 + 6, x * 8 + 2:x * 8 + 6] = True  # away from the patches' edges (demosaicing)
    measured = inside & (libraw < 0.999).all(axis=2)
    assert measured.sum() > 0.5 * inside.sum()
    np.testing.assert_allclose(photo.linear[measured], libraw[measured], atol=2e-4)
    beyond = inside & ~measured  # LibRaw clipped these; the camera recorded them: the scene's light, here
    np.testing.assert_allclose(photo.linear[beyond], srgb[beyond], rtol=0.01, atol=1e-3)


def test_a_corrupt_raw_is_one_clear_error(tmp_path):
    bad = tmp_path / "IMG_0001.CR2"
    bad.write_bytes(b"II*\x00" + b"\x00" * 64)
    with pytest.raises(InputError, match="IMG_0001.CR2: camera RAW not readable") as info:
        read_raw_linear(bad)
    assert "\n" not in str(info.value)
    truncated = tmp_path / "t.dng"
    truncated.write_bytes(write_linear_dng(tmp_path / "x.dng", np.full((32, 48, 3), 100, np.uint16),
                                           WHITE).read_bytes()[:3000])
    with pytest.raises(InputError) as info:
        read_raw_linear(truncated)
    assert str(info.value).startswith(f"{truncated}: camera RAW not readable by LibRaw, truncated or not a RAW file (")
    assert "b'" not in str(info.value)  # LibRaw's reason as text, not a bytes literal


@pytest.mark.parametrize("mode", ["linear", "developed"])
def test_a_dng_too_small_for_libraw_says_so(tmp_path, mode):
    """cevr takes photos of 16 pixels a side, LibRaw no RAW under 22: a valid 16x20 DNG was 'truncated or not a RAW
    file'."""
    path = write_cfa_dng(tmp_path / "small.dng", np.full((20, 16, 3), 0.3), WHITE)
    with pytest.raises(InputError, match=r"small.dng: camera RAW of 16x20 pixels: LibRaw decodes none under 22 pixels"):
        read_raw_linear(path) if mode == "linear" else read_photo(path)
    scene = np.random.default_rng(0).uniform(0.1, 0.5, (22, 22, 3))  # LibRaw's smallest
    assert read_raw_linear(write_cfa_dng(tmp_path / "ok.dng", scene, WHITE)).linear.shape == (22, 22, 3)


@pytest.mark.parametrize("area", [
    ("I", 4, (30, 40, 2, 2)),  # bottom above top: "Unsupported file format or not RAW file"
    ("I", 4, (0, 0, 35, 60)),  # past the image's right edge: LibRaw's "Input/output error"
    ("I", 3, (2, 2, 30)),  # three values: "Unsupported file format"
    ("i", 4, (-2, -2, 30, 40)),  # negative (SLONG): "Unsupported file format"
    ("I", 4, (0, 0, 4_000_000_000, 4_000_000_000)),  # "without its pixel data: 4 kB for a 10240x10240 sensor"
    ("d", 4, (float("nan"), 0.0, 30.0, 40.0)),  # read as no DNG facts at all: its crop and levels lost
], ids=["inverted", "past-the-image", "three-values", "negative", "huge", "nan"])
@pytest.mark.parametrize("mode", ["linear", "developed"])
def test_a_dng_whose_active_area_is_no_area_of_its_image_says_so(tmp_path, mode, area):
    """An ActiveArea that is no rectangle of the 51x35 image (the DNG SDK refuses such a file, "Invalid ActiveArea")
    was said in LibRaw's words, which name no ActiveArea, or read without complaint; one line naming the file and
    the tag's values."""
    scene = np.random.default_rng(0).uniform(0.1, 0.5, (35, 51, 3))
    path = write_cfa_dng(tmp_path / "area.dng", scene, WHITE, tags={50829: area})  # ActiveArea
    with pytest.raises(InputError, match=r"area.dng: camera RAW \(DNG\) with a malformed ActiveArea: ") as info:
        read_raw_linear(path) if mode == "linear" else read_photo(path)
    assert "\n" not in str(info.value)
    assert str(info.value).endswith("3 values, not its top, left, bottom and right" if area[1] == 3 else
                                    f"{', '.join(f'{v:.10g}' for v in area[2])} is no area of its 51x35 image")


@pytest.mark.parametrize("mode", ["linear", "developed"])
def test_a_dng_whose_active_area_libraw_reads_as_other_numbers_is_refused(tmp_path, mode):
    """A RATIONAL ActiveArea (2/1, 2/1, 30/1, 40/1; DNG's is SHORT or LONG): LibRaw reads its four-byte words, 2, 1,
    2, 1, and developed a 62x62 image where tifffile's 28x38 area placed the DNG's crop and GainMaps, without a word.
    An SLONG one LibRaw reads as tifffile does: read."""
    scene = np.random.default_rng(0).uniform(0.1, 0.5, (64, 64, 3))
    path = write_cfa_dng(tmp_path / "area.dng", scene, WHITE, tags={50829: ("2I", 4, (2, 1, 2, 1, 30, 1, 40, 1))})
    with pytest.raises(InputError, match=r"area\.dng: camera RAW \(DNG\) with a malformed ActiveArea: of TIFF type "
                                         r"RATIONAL, where DNG's is SHORT or LONG \(LibRaw reads other numbers "
                                         r"from it\)$"):
        read_raw_linear(path) if mode == "linear" else read_photo(path)
    signed = write_cfa_dng(tmp_path / "signed.dng", scene, WHITE, tags={50829: ("i", 4, (2, 2, 30, 40))})
    image = read_raw_linear(signed).linear if mode == "linear" else read_photo(signed).rgb
    assert image.shape == (28, 38, 3)


def _with_bits_per_sample(path, bits):
    """The DNG at ``path`` with its BitsPerSample (one value, held in its IFD entry) rewritten as ``bits``."""
    import struct

    import tifffile

    with tifffile.TiffFile(path) as tif:
        tag, order = tif.pages.first.tags[258], tif.byteorder
    data = bytearray(path.read_bytes())
    data[tag.valueoffset:tag.valueoffset + 2] = struct.pack(f"{order}H", bits)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("bits", [8, 12])
@pytest.mark.parametrize("mode", ["linear", "developed"])
def test_a_dng_whose_bits_per_sample_is_not_its_datas_is_refused(tmp_path, mode, bits):
    """A 16-bit CFA DNG whose BitsPerSample says 12 or 8: LibRaw unpacked its 8192 bytes as 12- or 8-bit photosites
    without a word, a photo of noise (a scene of mean 0.57 read 0.48 and 0.03). Refused naming both sizes."""
    scene = np.random.default_rng(0).uniform(0.2, 0.6, (64, 64, 3))
    path = _with_bits_per_sample(write_cfa_dng(tmp_path / "bits.dng", scene, WHITE), bits)
    with pytest.raises(InputError, match=rf"bits\.dng: camera RAW \(DNG\) whose uncompressed data holds 8192 bytes, "
                                         rf"where its 64x64 image of 1 sample of {bits} bits takes "
                                         rf"{64 * 64 * bits // 8}: its BitsPerSample \({bits}\) or its strips' byte "
                                         r"counts are wrong$"):
        read_raw_linear(path) if mode == "linear" else read_photo(path)


@pytest.mark.parametrize("damage", [None, "uncompressed", "zeros"])
@pytest.mark.parametrize("mode", ["linear", "developed"])
def test_a_dng_whose_lossless_jpeg_strip_holds_no_jpeg_stream_is_refused(tmp_path, mode, damage):
    """A DNG of Compression 7 (lossless JPEG) whose strip holds no JPEG stream (uncompressed data so labelled, or the
    zeros of a copy cut short and padded): LibRaw's decoder stopped without a word and the photo was what its buffer
    held, a different one on every read (mean 0.37, 0.37, 0.09 of three reads of one file). A sound stream (written
    here by ITU T.81's lossless process) reads as the same photosites uncompressed do."""
    import tifffile

    scene = np.random.default_rng(14).uniform(0.1, 0.5, (32, 48, 3))
    plain = write_cfa_dng(tmp_path / "plain.dng", scene, WHITE)
    path = write_cfa_dng(tmp_path / "jpeg.dng", scene, WHITE)
    read = read_raw_linear if mode == "linear" else read_photo
    if damage is None:
        compress_as_lossless_jpeg(path)
        expected, got = read(plain), read(path)
        np.testing.assert_array_equal(*(p.linear if mode == "linear" else p.rgb for p in (expected, got)))
        return
    stream = tifffile.imread(plain).tobytes() if damage == "uncompressed" else bytes(2000)
    compress_as_lossless_jpeg(path, stream)
    with pytest.raises(InputError, match=r"jpeg\.dng: camera RAW \(DNG\) whose lossless JPEG strip 0 holds no JPEG "
                                         r"stream \(damaged data\)$"):
        read(path)


@pytest.mark.parametrize("mode", ["linear", "developed"])
def test_a_raw_whose_photosites_all_read_the_same_is_refused(tmp_path, mode):
    path = write_cfa_dng(tmp_path / "blank.dng", np.zeros((48, 64, 3)), WHITE)  # LibRaw reads it as black
    with pytest.raises(InputError, match="blank.dng: camera RAW without its pixel data: every photosite reads 0"):
        read_raw_linear(path) if mode == "linear" else read_photo(path)


@pytest.mark.parametrize("subfile", [1, 0], ids=["preview-only", "rendered-main-image"])
@pytest.mark.parametrize("mode", ["linear", "developed"])
def test_a_dng_with_only_rendered_images_says_so(tmp_path, subfile, mode):
    """A DNG whose only image is an 8-bit RGB rendering (a preview, or a main image already rendered) was 'not
    readable by LibRaw, truncated or not a RAW file (LibRawFileUnsupportedError: ...)'."""
    import tifffile

    from tests.dng import _dng_tags

    path = tmp_path / "preview.dng"
    tifffile.imwrite(path, np.full((64, 96, 3), 128, np.uint8), photometric="rgb", subfiletype=subfile,
                     extratags=_dng_tags(WHITE, (0.5, 1.0, 0.8)))
    with pytest.raises(InputError, match=r"preview.dng: camera RAW \(DNG\) without a raw image: it holds only "):
        read_raw_linear(path) if mode == "linear" else read_photo(path)


def test_a_raw_far_smaller_than_its_sensor_is_refused(tmp_path):
    path = tmp_path / "header-only.dng"
    path.write_bytes(b"\0" * 9000)  # what LibRaw was shown: a 6000x4000 sensor in 9 kB

    class Header:
        sizes = SimpleNamespace(raw_width=6000, raw_height=4000)

        @property
        def raw_image_visible(self):
            raise AssertionError("the buffer of a file without pixels is never looked at")

    with pytest.raises(InputError, match=r"without its pixel data: 9 kB for a 6000x4000 sensor") as info:
        check_pixel_data(path, Header())
    assert "\n" not in str(info.value)
    check_pixel_data(path, SimpleNamespace(sizes=SimpleNamespace(raw_width=400, raw_height=300),
                                           raw_image_visible=np.arange(12).reshape(3, 4)))  # 9 kB is plenty


def test_a_raws_exif_comes_from_its_tiff_structure_and_upright(tmp_path):
    """Pillow cannot open a linear DNG, so its camera was unknown: tifffile reads IFD0 and the EXIF IFD."""
    from tests.dng import write_camera_dng

    data = np.full((32, 48, 3), 1000, np.uint16)
    data[::2] = 3000
    path = write_camera_dng(tmp_path / "cam.dng", data, WHITE, make="TestCam", model="Model 7",
                            date="2024:05:01 10:11:12", exposure_time=1 / 250, f_number=2.8, iso=200,
                            lens="TestLens 35mm", orientation=6)
    exif = read_raw_linear(path).exif
    assert (exif.camera_make, exif.camera_model, exif.lens, exif.datetime_original) == (
        "TestCam", "Model 7", "TestLens 35mm", "2024:05:01 10:11:12")
    assert (exif.exposure_time, exif.f_number, exif.iso, exif.orientation) == (0.004, 2.8, 200, 1)


def test_libraw_completes_what_a_raw_without_tiff_structure_says(tmp_path):
    """CR3, RAF ...: not TIFF-structured; LibRaw's parse gives the exposure, date and lens (0 = unknown)."""
    from datetime import datetime
    from types import SimpleNamespace

    from cevr_cli.io.raw import raw_exif, read_raw_file_facts

    path = tmp_path / "shot.cr3"
    path.write_bytes(b"\x00\x00\x00\x18ftypcrx " + bytes(64))
    raw = SimpleNamespace(other=SimpleNamespace(shutter_speed=np.float32(1 / 250), aperture=np.float32(2.8),
                                                iso_speed=0.0, timestamp=datetime(2024, 5, 1, 10, 11, 12)),
                          lens=SimpleNamespace(model="RF 50mm"))
    exif = raw_exif(path, raw, read_raw_file_facts(path, 0).tiff_exif)
    assert (exif.exposure_time, exif.f_number, exif.iso, exif.lens) == (0.004, 2.8, None, "RF 50mm")
    assert exif.datetime_original == "2024:05:01 10:11:12" and exif.camera_make is None
    raw.other.timestamp = datetime.fromtimestamp(0)
    assert raw_exif(path, raw, None).datetime_original is None


def test_a_cr3s_own_metadata_comes_first_and_libraw_fills_the_rest(tmp_path):
    """Make and model come only from the container (LibRaw's parse of them is not in rawpy); what the CR3's boxes
    lack (here its EXIF IFD: exposure, lens) LibRaw gives."""
    from datetime import datetime
    from types import SimpleNamespace

    from cevr_cli.io.raw import raw_exif, read_raw_file_facts
    from tests.raw_containers import CR3_IFD0, box, tiff_ifd, write_cr3

    path = write_cr3(tmp_path / "IMG_0002.CR3", box(b"CMT1", tiff_ifd(CR3_IFD0)))
    raw = SimpleNamespace(other=SimpleNamespace(shutter_speed=np.float32(1 / 60), aperture=np.float32(4.0),
                                                iso_speed=np.float32(400), timestamp=datetime(2030, 1, 1)),
                          lens=SimpleNamespace(model="RF 50mm"))
    exif = raw_exif(path, raw, read_raw_file_facts(path, 0).tiff_exif)
    assert (exif.camera_make, exif.camera_model, exif.datetime_original) == (
        "Canon", "Canon EOS R6", "2024:05:01 10:11:12")
    assert (exif.exposure_time, exif.f_number, exif.iso, exif.lens, exif.orientation) == (
        0.0166667, 4.0, 400, "RF 50mm", 1)


def test_a_portrait_raw_is_turned_upright_as_libraw_turns_it(tmp_path):
    """The linear reader read LibRaw's orientation after postprocess(user_flip=0), which zeroes it: portrait
    RAWs came out lying on their side (and their outputs' EXIF says orientation 1)."""
    from cevr_cli.io.images import read_photo
    from tests.dng import write_camera_dng

    data = (np.random.default_rng(1).uniform(0.05, 0.9, (32, 48, 3)) * WHITE).astype(np.uint16)
    path = write_camera_dng(tmp_path / "portrait.dng", data, WHITE, make="TestCam", model="Model 7",
                            date="2024:05:01 10:11:12", exposure_time=1 / 250, f_number=2.8, iso=200,
                            lens="TestLens 35mm", orientation=6)
    photo = read_raw_linear(path)
    developed = read_photo(path).rgb  # LibRaw's own rendering, turned by LibRaw
    assert photo.linear.shape == developed.shape == (48, 32, 3) and photo.clipped.shape == (48, 32)
    assert np.corrcoef(photo.linear.mean(axis=2).ravel(), developed.mean(axis=2).ravel())[0, 1] > 0.95


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_is_turned_as_libraw_turns_it(tmp_path, orientation):
    """The linear reader knew LibRaw's turns (3, 6, 8) but not its mirrored orientations (2, 4, 5, 7: a selfie,
    a mirrored DNG export): an orientation-2 RAW came out unmirrored in linear mode and mirrored in cevr mode."""
    import rawpy

    from tests.dng import write_camera_dng

    data = (np.random.default_rng(2).uniform(0.05, 0.9, (40, 56, 3)) * WHITE).astype(np.uint16)
    path = write_camera_dng(tmp_path / "turned.dng", data, WHITE, make="TestCam", model="Model 7",
                            date="2024:05:01 10:11:12", exposure_time=1 / 250, f_number=2.8, iso=200,
                            lens="TestLens 35mm", orientation=orientation)
    photo = read_raw_linear(path)
    with rawpy.imread(str(path)) as raw:  # LibRaw's own linear rendering, turned by LibRaw
        turned = raw.postprocess(use_camera_wb=True, no_auto_bright=True, output_bps=16, gamma=(1, 1),
                                 output_color=rawpy.ColorSpace.sRGB, adjust_maximum_thr=0.0)
        srgb = raw.postprocess(use_camera_wb=True, no_auto_bright=True, output_bps=16, gamma=SRGB_LIBRAW_GAMMA,
                               output_color=rawpy.ColorSpace.sRGB, adjust_maximum_thr=0.0)
    # the colour is made in floats here, from LibRaw's 16-bit camera-space data: a few 16-bit steps apart
    np.testing.assert_allclose(photo.linear, turned.astype(np.float32) / 65535.0, atol=1e-4)
    assert photo.clipped.shape == turned.shape[:2]
    np.testing.assert_array_equal(read_photo(path).rgb, srgb.astype(np.float32) / 65535.0)  # turned here as LibRaw


@pytest.mark.parametrize("orientation", [1, 6])
def test_a_dng_is_read_inside_its_default_crop_then_turned_upright(tmp_path, orientation):
    """A DNG's DefaultCropOrigin and DefaultCropSize, in its sensor's coordinates, say the picture a reader shows
    (Adobe Camera Raw and Lightroom do); LibRaw develops the whole image and only reports the crop: the photo was
    read 48x64 where its picture is 30x40. Cut where the sensor's rows lie, then turned upright (orientation 6: a
    quarter turn clockwise, np.rot90 by -1), in both readers."""
    from tests.dng import write_camera_dng

    data = (np.random.default_rng(3).uniform(0.05, 0.9, (48, 64, 3)) * WHITE).astype(np.uint16)
    path = write_camera_dng(tmp_path / "cropped.dng", data, WHITE, make="TestCam", model="Model 7",
                            date="2024:05:01 10:11:12", exposure_time=1 / 250, f_number=2.8, iso=200,
                            lens="TestLens 35mm", orientation=orientation, crop=(6, 10, 30, 40))
    expected = data[6:36, 10:50] / WHITE  # a LinearRaw DNG develops to data / WhiteLevel
    expected = np.rot90(expected, -1) if orientation == 6 else expected
    photo = read_raw_linear(path)
    np.testing.assert_allclose(photo.linear, expected, atol=1e-4)
    assert photo.clipped.shape == expected.shape[:2]
    developed = read_photo(path).rgb
    assert developed.shape == expected.shape
    np.testing.assert_allclose(developed, np.where(expected <= 0.0031308, 12.92 * expected,
                                                   1.055 * expected ** (1 / 2.4) - 0.055), atol=5e-4)  # LibRaw's curve


@pytest.mark.parametrize("orientation", [0, 65535])
def test_a_dng_whose_orientation_is_no_exif_orientation_is_read_as_stored(tmp_path, orientation):
    """Orientation 0 or 65535 (EXIF defines 1-8): LibRaw reads any value by dcraw's table, "50132467"[value & 7], and
    turned a photo of Orientation 0 a quarter turn counter-clockwise (its 30x40 crop read 40x30), one of 65535
    transposed. Read as stored, as EXIF readers take an orientation they do not know (the camera EXIF's 1)."""
    from tests.dng import write_camera_dng

    data = (np.random.default_rng(10).uniform(0.05, 0.9, (48, 64, 3)) * WHITE).astype(np.uint16)
    path = write_camera_dng(tmp_path / "turned.dng", data, WHITE, make="TestCam", model="Model 7",
                            date="2024:05:01 10:11:12", exposure_time=1 / 250, f_number=2.8, iso=200,
                            lens="TestLens 35mm", orientation=orientation, crop=(6, 10, 30, 40))
    np.testing.assert_allclose(read_raw_linear(path).linear, data[6:36, 10:50] / WHITE, atol=1e-4)
    assert read_photo(path).rgb.shape == (30, 40, 3)


@pytest.mark.parametrize("mode", ["linear", "developed"])
def test_a_dng_whose_orientation_cannot_be_read_is_read_as_stored(tmp_path, mode):
    """An Orientation of ASCII "x" (SHORT in EXIF and DNG): tifffile cannot read it as a number, and LibRaw reads its
    byte as 120, by dcraw's table "50132467"[120 & 7] a quarter turn: the 32x48 photo read 48x32, turned. Read as
    stored, as an Orientation outside 1-8 is."""
    data = (np.random.default_rng(12).uniform(0.05, 0.9, (32, 48, 3)) * WHITE).astype(np.uint16)
    path = write_linear_dng(tmp_path / "turned.dng", data, WHITE, tags={274: ("s", 0, "x")})  # Orientation
    if mode == "linear":
        np.testing.assert_allclose(read_raw_linear(path).linear, data / WHITE, atol=1e-4)
    else:
        assert read_photo(path).rgb.shape == (32, 48, 3)


@pytest.mark.parametrize("crop", [(6, 10, 30, 40), None])
def test_a_dngs_default_user_crop_is_the_picture_within_its_default_crop(tmp_path, crop):
    """DefaultUserCrop (DNG 1.5), the crop the camera was set to (an aspect ratio), top 0.1, left 0.25, bottom 0.9,
    right 0.75 of the default crop (rows 6-35, columns 10-49; the whole 48x64 image without one): rows 9-32 and
    columns 20-39 (rows 4.8-43.2 to the nearest, 5-42, and columns 16-47 of the whole image), by hand. It was read
    whole."""
    from tests.dng import write_camera_dng

    data = (np.random.default_rng(4).uniform(0.05, 0.9, (48, 64, 3)) * WHITE).astype(np.uint16)
    path = write_camera_dng(tmp_path / "aspect.dng", data, WHITE, make="TestCam", model="Model 7",
                            date="2024:05:01 10:11:12", exposure_time=1 / 250, f_number=2.8, iso=200,
                            lens="TestLens 35mm", crop=crop, user_crop=(0.1, 0.25, 0.9, 0.75))
    expected = data[9:33, 20:40] if crop else data[5:43, 16:48]
    np.testing.assert_allclose(read_raw_linear(path).linear, expected / WHITE, atol=1e-4)
    assert read_photo(path).rgb.shape == expected.shape


def test_a_cfa_dngs_default_crop_counts_from_its_active_areas_corner(tmp_path):
    """DefaultCropOrigin counts from the ActiveArea's corner, which LibRaw moves to an even row and column: a DNG whose
    ActiveArea starts at row 1 and column 1 and whose crop is 40x60 from (8, 10) of it shows that part of the
    scene (a horizontal and a vertical ramp), not one a photosite off."""
    rows, cols = np.mgrid[0:64, 0:96]
    scene = np.stack([0.1 + 0.8 * rows / 64, 0.1 + 0.8 * cols / 96, np.full((64, 96), 0.4)], axis=2)
    path = write_cfa_dng(tmp_path / "crop.dng", scene * np.array([0.5, 1.0, 0.8]), WHITE, margin=1,
                         crop=(8, 10, 40, 60))
    linear = read_raw_linear(path).linear
    assert linear.shape == (40, 60, 3)
    np.testing.assert_allclose(linear[2:-2, 2:-2], scene[10:46, 12:68], atol=2e-3)


@pytest.mark.parametrize("mode", ["linear", "developed"])
@pytest.mark.parametrize(("origin", "size"), [((np.inf, 4.0), (40.0, 30.0)), ((4.0, 4.0), (40.0, np.nan)),
                                              ((1e308, 1e308), (1e308, 1e308))])
def test_a_dngs_default_crop_of_no_number_is_no_crop(tmp_path, mode, origin, size):
    """A DefaultCropOrigin or DefaultCropSize (written as doubles) that is infinite, NaN, or whose end is (1e308 +
    1e308) raised OverflowError ("unexpected", a cevr bug) or ValueError, said as a file LibRaw could not read: the
    whole image is read, as without the tags (a LinearRaw DNG develops to data / WhiteLevel)."""
    data = (np.random.default_rng(5).uniform(0.05, 0.9, (32, 48, 3)) * WHITE).astype(np.uint16)
    path = write_linear_dng(tmp_path / "crop.dng", data, WHITE, tags={50719: ("d", 2, origin), 50720: ("d", 2, size)})
    if mode == "linear":
        np.testing.assert_allclose(read_raw_linear(path).linear, data / WHITE, atol=2e-4)
    else:
        assert read_photo(path).rgb.shape == data.shape


@pytest.mark.parametrize("mode", ["linear", "developed"])
def test_a_dngs_negative_default_crop_origin_is_cut_at_its_active_areas_corner_with_a_warning(tmp_path, monkeypatch,
                                                                                            mode):
    """A DefaultCropOrigin of -4, -2 (SLONG: DNG 1.6 writes it unsigned, and the DNG SDK refuses the file) with a
    DefaultCropSize of 40 x 28 was cut at the ActiveArea's corner without a word: rows 0-26 and columns 0-36 of the
    area (the crop's rows 2-28 and columns 4-40). The pixels are sound: read so, with a warning naming each photo once
    (Python shows a warning's words once per process: two photos' same words would be one warning)."""
    from cevr_cli.io.images import warning_text

    data = (np.random.default_rng(6).uniform(0.05, 0.9, (32, 48, 3)) * WHITE).astype(np.uint16)
    paths = [write_linear_dng(tmp_path / name, data, WHITE, tags={50719: ("i", 2, (-4, -2)),
                                                                  50720: ("I", 2, (40, 28))})
             for name in ("a.dng", "b.dng")]
    told: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # Python's own filter, as the CLI leaves it
        monkeypatch.setattr(warnings, "showwarning", lambda message, *a, **k: told.append(warning_text(message)))
        for path in paths:
            if mode == "linear":
                np.testing.assert_allclose(read_raw_linear(path).linear, data[:26, :36] / WHITE, atol=2e-4)
            else:
                assert read_photo(path).rgb.shape == (26, 36, 3)
    assert told == [f"{path}: DNG DefaultCropOrigin -4, -2 is negative (it counts from the ActiveArea's corner): the "
                    "crop is cut at that corner" for path in paths]


@pytest.mark.parametrize(("origin", "size"), [((100, 100), (10, 10)), ((4, 4), (0, 0))],
                         ids=["origin-past-the-image", "no-size"])
@pytest.mark.parametrize("mode", ["linear", "developed"])
def test_a_dngs_default_crop_of_none_of_its_image_is_read_whole_with_a_warning(tmp_path, mode, origin, size):
    """A DefaultCropOrigin past the 48x32 image, or a DefaultCropSize of 0 x 0 (the DNG SDK refuses both): the whole
    image was read without a word; read so, with a warning naming the photo."""
    data = (np.random.default_rng(16).uniform(0.05, 0.9, (32, 48, 3)) * WHITE).astype(np.uint16)
    path = write_linear_dng(tmp_path / "crop.dng", data, WHITE, tags={50719: ("I", 2, origin), 50720: ("I", 2, size)})
    told = (f"{path}: DNG DefaultCropOrigin {origin[0]}, {origin[1]} and DefaultCropSize {size[0]} x {size[1]} hold "
            "none of its image: the whole ActiveArea is read")
    with pytest.warns(UserWarning, match=f"^{re.escape(told)}$") as seen:
        if mode == "linear":
            np.testing.assert_allclose(read_raw_linear(path).linear, data / WHITE, atol=2e-4)
        else:
            assert read_photo(path).rgb.shape == data.shape
    assert len(seen) == 1


_DELTAS = np.arange(32) % 5 * 10.0  # each row's black above the BlackLevel


@pytest.mark.parametrize("mode", ["linear", "developed"])
@pytest.mark.parametrize(("black", "tags"), [
    (0, {50714: ("H", 0, ())}),  # a BlackLevel of no values: the default, 0 (IndexError)
    (100, {50713: ("H", 1, (2,))}),  # a BlackLevelRepeatDim of one value (ValueError, said as unreadable by LibRaw)
    (100, {50713: ("H", 3, (1, 1, 1))}),
    (100, {50713: ("H", 2, (65535, 65535))}),  # a cell of one BlackLevel: 32 GiB filled with it (MemoryError)
])
def test_a_dngs_black_tags_that_make_no_cell_are_read_as_the_dng_defaults(tmp_path, mode, black, tags):
    """A LinearRaw DNG whose rows' blacks are ``black`` plus BlackLevelDeltaV (0 to 40), the data holding them, and
    whose BlackLevel or BlackLevelRepeatDim is damaged as the DNG defaults read it (no values: 0; a cell that is not
    two dimensions, or that the BlackLevel does not fill: its first value everywhere): light = (v - black) / (white -
    black) at each row, by hand."""
    light = np.random.default_rng(6).uniform(0.05, 0.9, (32, 48, 3))
    row_black = black + _DELTAS[:, None, None]
    data = np.round(row_black + light * (WHITE - row_black)).astype(np.uint16)
    path = write_linear_dng(tmp_path / "black.dng", data, WHITE, (black,) * 3,
                            black_deltas=(_DELTAS, np.zeros(48)), tags=tags)
    expected = (data - row_black) / (WHITE - row_black)
    if mode == "linear":
        np.testing.assert_allclose(read_raw_linear(path).linear, expected, atol=3e-4)
    else:
        np.testing.assert_allclose(read_photo(path).rgb, np.where(expected <= 0.0031308, 12.92 * expected,
                                                                  1.055 * expected ** (1 / 2.4) - 0.055), atol=1e-3)


@pytest.mark.parametrize("mode", ["linear", "developed"])
def test_a_dngs_black_delta_of_no_number_leaves_the_blacks_as_libraw_reads_them(tmp_path, mode):
    """A BlackLevelDeltaV of a NaN (written as floats) was cast to 16 bits: its row read 0 (numpy's "invalid value
    encountered in cast" on stderr). The deltas are left as LibRaw reads them (it drops them): a DNG whose data holds
    its BlackLevel only reads (v - black) / (white - black) in every row."""
    light = np.random.default_rng(7).uniform(0.05, 0.9, (32, 48, 3))
    data = np.round(100 + light * (WHITE - 100)).astype(np.uint16)
    path = write_linear_dng(tmp_path / "nan.dng", data, WHITE, (100,) * 3,
                            tags={50716: ("f", 32, (np.nan,) + (0.0,) * 31)})
    expected = (data - 100.0) / (WHITE - 100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read = read_raw_linear(path).linear if mode == "linear" else read_photo(path).rgb
    np.testing.assert_allclose(read, expected if mode == "linear" else np.where(
        expected <= 0.0031308, 12.92 * expected, 1.055 * expected ** (1 / 2.4) - 0.055), atol=1e-3)


@pytest.mark.parametrize("mode", ["linear", "developed"])
@pytest.mark.parametrize("kind", ["black-level", "row-deltas", "double-column-deltas"])
def test_a_raw_whose_black_level_is_at_or_above_its_white_is_refused(tmp_path, mode, kind):
    """A LinearRaw DNG's BlackLevel of 5000 of a WhiteLevel of 4000, or a CFA DNG's BlackLevelDeltaV of 1e9 over a
    black of 100: no light lies between black and white. Both readers read the first black; the second the linear
    reader read black, LibRaw's development white. A LinearRaw DNG's BlackLevelDeltaH of 1e30 (DOUBLE, which LibRaw
    does not read, so its black stays 0): both readers read it black (mean 0.0)."""
    scene = np.random.default_rng(8).uniform(0.05, 0.9, (32, 48, 3))
    if kind == "black-level":
        path = write_linear_dng(tmp_path / "black.dng", (scene * WHITE).astype(np.uint16), WHITE,
                                tags={50713: ("H", 2, (1, 1)), 50714: ("I", 3, (5000,) * 3)})
    elif kind == "double-column-deltas":
        path = write_linear_dng(tmp_path / "black.dng", (scene * WHITE).astype(np.uint16), WHITE,
                                tags={50715: ("d", 48, (1e30,) * 48)})  # BlackLevelDeltaH
    else:
        path = write_cfa_dng(tmp_path / "black.dng", scene, WHITE, black=(100,) * 4,
                             tags={50716: ("I", 32, (10**9,) * 32)})
    with pytest.raises(InputError, match=r"black\.dng: camera RAW whose black level \([\d.e+]+\) is at or above its "
                                         r"white level \(\d+\): its photosites hold no light$"):
        read_raw_linear(path) if mode == "linear" else read_photo(path)


@pytest.mark.parametrize("mode", ["linear", "developed"])
def test_a_raw_whose_white_level_lies_above_any_photosite_is_refused(tmp_path, mode):
    """A DNG whose WhiteLevel is ASCII "4000" (DNG writes SHORT or LONG): LibRaw reads its four bytes as the number
    2123759616 and develops every photosite, at most 65535 in its 16 bits, to black (mean 0.0, nothing clipped)."""
    data = (np.random.default_rng(15).uniform(0.05, 0.9, (32, 48, 3)) * WHITE).astype(np.uint16)
    path = write_linear_dng(tmp_path / "white.dng", data, WHITE, tags={50717: ("s", 0, "4000")})
    with pytest.raises(InputError, match=r"white\.dng: camera RAW whose white level \(2123759616\) lies above any "
                                         r"photosite's \(65535\): a damaged WhiteLevel, its light unreadable$"):
        read_raw_linear(path) if mode == "linear" else read_photo(path)


@pytest.mark.parametrize("mode", ["linear", "developed"])
def test_a_dng_whose_default_crop_is_smaller_than_a_photo_is_refused_as_a_small_photo_is(tmp_path, mode):
    """The size limits were checked on the sensor's 32x48 photosites only: a DefaultCrop of 4x4 made a 4x4 stack,
    where a 4x4 JPEG is refused (MIN_PHOTO_SIDE)."""
    scene = np.random.default_rng(0).uniform(0.1, 0.9, (32, 48, 3))
    path = write_cfa_dng(tmp_path / "tiny.dng", scene, WHITE, crop=(2, 2, 4, 4))
    with pytest.raises(InputError, match=r"tiny\.dng: too small: 4x4 px \(minimum 16 px per side\)"):
        read_raw_linear(path) if mode == "linear" else read_photo(path)
    assert read_raw_linear(path, min_side=4).linear.shape == (4, 4, 3)


@pytest.mark.parametrize("mode", ["linear", "developed"])
def test_a_truncated_raw_is_one_line_without_libraws_own(tmp_path, capfd, mode):
    """LibRaw printed 'unknown file: Unexpected end of file' to stderr above cevr's error line for a truncated
    RAW: two lines, the first naming no file. What else is printed meanwhile still comes out."""
    whole = write_linear_dng(tmp_path / "whole.dng", np.full((40, 56, 3), 1000, np.uint16), WHITE).read_bytes()
    path = tmp_path / "cut.dng"
    path.write_bytes(whole[: len(whole) // 2])
    print("other output", file=sys.stderr, flush=True)
    with pytest.raises(InputError, match="truncated"):
        read_raw_linear(path) if mode == "linear" else read_photo(path)
    err = capfd.readouterr().err
    assert "Unexpected end of file" not in err and "other output" in err


@pytest.mark.parametrize("dims", [(0, 2), (2, 0)])
def test_a_cfa_dng_with_an_empty_pattern_is_refused_by_name(tmp_path, dims):
    """A damaged CFARepeatPatternDim (a 0) and no CFAPattern made an empty pattern, which the check of LibRaw's
    pattern divided by: "unexpected ZeroDivisionError" instead of a photo or a line naming the file. It was then
    developed in the colours LibRaw guesses; it has no pattern to develop by, and is refused by name."""
    import struct

    import tifffile

    from cevr_cli.io.raw import read_raw_file_facts

    scene = np.random.default_rng(8).uniform(0.1, 0.5, (64, 64, 3))
    path = write_cfa_dng(tmp_path / "cfa.dng", scene, WHITE)
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        dim, pattern, order = tif.pages.first.tags[33421], tif.pages.first.tags[33422], tif.byteorder
    data[dim.valueoffset:dim.valueoffset + 4] = struct.pack(f"{order}2H", *dims)
    data[pattern.offset:pattern.offset + 2] = struct.pack(f"{order}H", 33423)  # CFAPattern's entry: another tag
    path.write_bytes(bytes(data))
    assert read_raw_file_facts(path, WHITE).cfa_planes is None
    for read in (read_raw_linear, read_photo):
        with pytest.raises(InputError, match=r"cfa\.dng: camera RAW \(DNG\) without a colour filter pattern"):
            read(path)
