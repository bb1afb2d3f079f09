"""The hue fill of clipped pixels: the colour of the light around them, never below what was recorded."""

from dataclasses import replace

import numpy as np
import pytest

from cevr_cli.errors import UsageError
from cevr_cli.exposure import measure_photo, physics_frame
from cevr_cli.highlight_fill import FIELD_SIDE, MAX_RISE_STOPS, MIN_CHROMA, MIN_RING_LIGHT, RISE_GAIN, fill_clipped
from cevr_cli.response import SRGB

ORANGE = np.array([1.0, 0.45, 0.12], np.float32)  # a low sun's light: R clips first, G far from white
HALO = np.array([1.0, 0.6, 0.3], np.float32)
BACKGROUND = np.array([0.1, 0.15, 0.3], np.float32)  # bluish and dark: the light a fill must not take


def radius(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.hypot(y - h / 2, x - w / 2)


def orange_light(h: int = 64, w: int = 96) -> np.ndarray:
    """One orange light falling off from 1.8 (R clips) to 0.3: G peaks at 0.81 and B at 0.22, both recorded."""
    strength = 0.3 + 1.5 * np.exp(-((radius(h, w) / 14.0) ** 2))
    return strength[..., None] * ORANGE


def lamp_in_halo(size: int = 128) -> np.ndarray:
    """A white-ish lamp (every channel clips) of radius 6 in an orange halo (0.9 to 0.3 x HALO, recorded) out to
    radius 40, in a dark bluish room."""
    r = radius(size, size)
    scene = np.where((r < 40)[..., None], (0.9 - 0.6 * np.clip((r - 6) / 34, 0, 1))[..., None] * HALO, BACKGROUND)
    scene[r < 6] = (5.0, 4.8, 4.6)
    return scene.astype(np.float32)


def chromaticity(rgb: np.ndarray) -> np.ndarray:
    return rgb / rgb.sum(axis=-1, keepdims=True)


# The surrounding light has one chromaticity, so the normalised convolution returns it up to float32 rounding
# (about 1e-7 relative per operation, a few hundred operations through the pyramid), and the -3 EV frame's
# sRGB round trip adds about 1e-6: 1e-4 on chromaticity coordinates (which sum to 1) leaves a wide margin.
CHROMATICITY_TOLERANCE = 1e-4


def test_a_light_clipped_in_red_only_keeps_its_orange_when_darkened():
    photo = SRGB.encode(orange_light())
    filled = measure_photo(photo, SRGB, 8)
    flat = replace(filled, fill_hue=False)
    clipped = filled.clipped
    assert clipped.any() and (photo[clipped][:, 1:] < 0.95).all()  # R alone clipped
    frame = physics_frame(filled, -3.0)
    light = SRGB.decode(frame[clipped]) * 8.0
    np.testing.assert_allclose(chromaticity(light), np.broadcast_to(chromaticity(ORANGE), light.shape),
                               atol=CHROMATICITY_TOLERANCE)
    # G and B recorded: exact; R raised by the surrounding R/G ratio, i.e. back to the scene's light
    np.testing.assert_allclose(light, orange_light()[clipped], rtol=1e-4)
    old = physics_frame(flat, -3.0)
    assert (frame[clipped] >= old[clipped]).all()  # never below what was recorded, per channel
    np.testing.assert_array_equal(frame[~clipped], old[~clipped])  # measured pixels bit for bit
    centre = SRGB.decode(old[32, 48]) * 8.0  # where the light is brightest (1.8 x ORANGE)
    assert chromaticity(centre)[0] < chromaticity(ORANGE)[0] - 0.1  # was olive: R stuck at 1 while G is 0.81


def test_a_fully_clipped_lamp_takes_the_hue_of_its_halo_not_a_grey_plate():
    photo = SRGB.encode(lamp_in_halo())
    filled = measure_photo(photo, SRGB, 8)
    flat = replace(filled, fill_hue=False)
    clipped = filled.clipped
    assert (photo[clipped] >= 254.5 / 255).all() and clipped.sum() > 100  # every channel clipped
    frame = physics_frame(filled, -3.0)
    light = SRGB.decode(frame[clipped]) * 8.0
    np.testing.assert_allclose(chromaticity(light), np.broadcast_to(chromaticity(HALO), light.shape),
                               atol=CHROMATICITY_TOLERANCE)
    # the dimmest light of the halo's hue that clipped every channel (its weakest channel, B, exactly at white),
    # raised by at most MAX_RISE_STOPS, more the deeper into the lamp: the halo rose towards it
    rise = np.log2(light[:, 2])
    assert (rise >= 0).all() and (rise <= MAX_RISE_STOPS + 1e-5).all()
    centre = np.log2(SRGB.decode(frame[64, 64]) * 8.0)[2]
    assert centre > 0.01 and centre >= rise.max() - 1e-5
    old = physics_frame(flat, -3.0)
    np.testing.assert_allclose(old[clipped], SRGB.encode(np.float32(1 / 8)), atol=1e-6)  # the grey plate
    assert (frame[clipped] >= old[clipped]).all()
    np.testing.assert_array_equal(frame[~clipped], old[~clipped])
    np.testing.assert_array_equal(physics_frame(filled, 1.0), physics_frame(flat, 1.0))  # brightening: unchanged


def test_a_fully_clipped_sun_takes_the_colour_of_its_partly_clipped_rim_not_of_the_sky():
    # a white sun (every channel clipped) in a near-white rim clipped in R only, in a blue sky: the rim's filled
    # light is the nearest evidence of the sun's colour, the sky only of the rim's missing R
    size = 128
    r = radius(size, size)
    linear = np.where((r < 24)[..., None], np.float32([1.0, 0.97, 0.95]), BACKGROUND * 3).astype(np.float32)
    linear[r < 8] = 1.0
    clipped = r < 24
    saturated = clipped[..., None] & np.stack([clipped, r < 8, r < 8], axis=-1)
    fill = fill_clipped(linear, clipped, saturated)
    sun = (r < 8)[clipped]
    rim = fill[~sun]
    np.testing.assert_array_equal(rim, np.broadcast_to(np.float32([1.0, 0.97, 0.95]), rim.shape))  # R kept: the
    # sky's R:G ratio (0.67) predicts less than the recorded white
    np.testing.assert_allclose(chromaticity(fill[sun]), np.broadcast_to(chromaticity(rim[0]), fill[sun].shape),
                               atol=CHROMATICITY_TOLERANCE)
    # the dimmest such light that clipped: the rim around the sun is flat, so nothing says the sun rose above it
    np.testing.assert_allclose(fill[sun].min(axis=1), 1.0, rtol=1e-5)


def test_a_rim_with_one_unclipped_channel_takes_the_hue_of_the_partly_clipped_sky_around_it_not_of_the_ground():
    # a sky clipped in B (R, G recorded) above warm ground; a sun's rim there clipped in G and B (R recorded),
    # its core in every channel. The sky, with two channels recorded, is filled first and is the rim's nearest
    # evidence: the rim gets the sky's G:R and B:R, where the unclipped ground alone left it at (0.9, 1, 1)
    size = 192
    sky_recorded = np.float32([0.6, 0.8, 1.0])
    scene = np.empty((size, size, 3), np.float32)
    scene[:128], scene[128:] = (0.6, 0.8, 1.3), (0.4, 0.25, 0.1)
    r = np.hypot(*(np.mgrid[0:size, 0:size] - np.array([56, 96])[:, None, None]))
    scene[r < 16] = (0.9, 1.2, 1.95)
    scene[r < 8] = 4.0
    saturated = scene > 1.0
    clipped = saturated.any(axis=-1)
    fill = fill_clipped(np.minimum(scene, 1.0), clipped, saturated)
    rim, core = ((r >= 8) & (r < 16))[clipped], (r < 8)[clipped]
    np.testing.assert_allclose(fill[rim], np.broadcast_to(0.9 / 0.6 * sky_recorded, fill[rim].shape), rtol=1e-4)
    np.testing.assert_allclose(chromaticity(fill[core]), np.broadcast_to(chromaticity(sky_recorded), fill[core].shape),
                               atol=CHROMATICITY_TOLERANCE)


def test_the_fill_never_lowers_a_channel_and_keeps_unclipped_channels_exact():
    rng = np.random.default_rng(0)
    linear = rng.uniform(0.0, 1.0, (40, 50, 3)).astype(np.float32)
    clipped = rng.uniform(size=(40, 50)) < 0.3
    saturated = clipped[..., None] & (rng.uniform(size=(40, 50, 3)) < 0.5)
    linear[saturated] = 1.0
    fill = fill_clipped(linear, clipped, saturated)
    recorded, exact = linear[clipped], ~saturated[clipped]
    assert fill.shape == recorded.shape and fill.dtype == np.float32
    assert (fill >= recorded).all()
    np.testing.assert_array_equal(fill[exact], recorded[exact])


@pytest.mark.parametrize("shape", [(200, 200), (24, 1100)], ids=["many points", "reduced resolution"])
def test_large_and_elongated_clipped_regions_are_filled_from_their_surroundings(shape):
    # more clipped pixels than one row of remap's maps; a long side above the field's 512 px
    h, w = shape
    strength = 0.3 + 1.7 * np.exp(-((radius(h, w) / (0.3 * max(h, w))) ** 2))
    linear = np.minimum(strength[..., None] * ORANGE, 1.0).astype(np.float32)
    saturated = linear >= 1.0
    clipped = saturated.any(axis=2)
    assert clipped.sum() > 4096 or max(shape) > 512
    fill = fill_clipped(linear, clipped, saturated)
    np.testing.assert_allclose(fill, (strength[..., None] * ORANGE)[clipped], rtol=1e-4)


@pytest.mark.parametrize("tall", [False, True], ids=["wide", "tall"])
def test_the_colour_field_is_read_at_each_pixels_place_in_a_photo_wider_than_the_field(tall):
    """A photo 4096 px wide (its colour field 512 px, 8 photo px per field px) whose hue is a ramp, R 0.1 -> 0.9
    left to right, G = B = 0.2, with sparkles 4x as bright, clipped in R only: each sparkle's R is 4x the ramp at
    its own column, the field read where cv2.resize put each of its pixels' centres. Read half a field pixel
    off (xs * 512 / 4096, not (xs + 0.5) * 512 / 4096 - 0.5), it was the ramp 3.5 px to the left: 2e-3 too low.
    The same photo turned on its side tests the rows."""
    h, w = 16, 4096
    assert w > 4 * FIELD_SIDE
    x = np.arange(w, dtype=np.float64)
    scene = np.broadcast_to(np.stack([0.1 + 0.8 * x / (w - 1), np.full(w, 0.2), np.full(w, 0.2)], axis=-1),
                            (h, w, 3)).copy()
    sparkles = np.zeros((h, w), bool)
    sparkles[8, 1100:w - 64:97] = True  # R above 0.3, so 4x clips; one per 8x8 block of the field at most
    scene[sparkles] *= 4.0
    if tall:
        scene, sparkles = scene.transpose(1, 0, 2).copy(), sparkles.T.copy()
    saturated = scene >= 1.0
    clipped = saturated.any(axis=2)
    assert np.array_equal(clipped, sparkles) and not saturated[..., 1:].any()
    fill = fill_clipped(np.minimum(scene, 1.0).astype(np.float32), clipped, saturated)
    np.testing.assert_allclose(fill, scene[clipped], rtol=1e-4)  # measured 9e-6


@pytest.mark.parametrize("size", [256, 1024], ids=["field size", "reduced resolution"])
def test_the_edge_of_a_clip_takes_the_hue_of_the_ring_around_it_not_of_the_light_beyond(size):
    """A disk clipped in R (radius 20 of 256), G and B recorded with the R:G of 2 of the orange ring 4 px wide
    around it, blue (R:G 0.5) beyond: the disk's outermost pixels get the ring's R:G within 10 % in the median
    (measured 1.91 at 256 px, 1.96 at 1024 px; single pixels as low as 1.79 where the pyramid's grid falls badly,
    1.49 with cv2.pyrDown's pyramid, which lay off the image's middle).
    Gortler et al.'s pull step trusts a level's own mean from a quarter of coverage; mixing in the coarser level
    wherever a level lacked any (TRUSTED_COVERAGE 1) brought the blue in: medians 1.26 and 1.60."""
    r = radius(size, size) * 256 / size
    ring, beyond = np.float32([0.8, 0.4, 0.16]), np.float32([0.2, 0.4, 0.8])
    linear = np.where((r < 24)[..., None], ring, beyond).astype(np.float32)
    disk = r < 20
    linear[disk] = (1.0, 0.9, 0.36)  # the ring's hue, 2.25 x as bright: R clipped
    saturated = disk[..., None] & (np.arange(3) == 0)
    fill = fill_clipped(linear, disk, saturated)
    edge = r[disk] >= 19
    assert np.median(fill[edge, 0] / fill[edge, 1]) == pytest.approx(2.0, rel=0.1)


def clipped_half_plane(rate: float, width: int, edge: int, height: int = 16) -> tuple[np.ndarray, ...]:
    """Neutral light clipped in the columns left of ``edge``; right of it falling by ``rate`` stops per column."""
    columns = np.arange(width, dtype=np.float32)
    light = np.where(columns < edge, 1.0, np.exp2(-rate * (columns - edge + 0.5))).astype(np.float32)
    linear = np.ascontiguousarray(np.broadcast_to(light[None, :, None], (height, width, 3)))
    clipped = np.ascontiguousarray(np.broadcast_to(columns < edge, (height, width)))
    return linear, clipped, np.ascontiguousarray(np.broadcast_to(clipped[..., None], (height, width, 3)))


def test_fully_clipped_pixels_rise_with_depth_at_the_slope_the_light_rose_towards_the_clip():
    # a photo FIELD_SIDE px wide (its field unresampled): the light right of the clip rises by `rate` stops per
    # pixel towards it, so a clipped column `depth` px from the clip's edge (half a pixel outside its last
    # clipped column) is raised by min(RISE_GAIN rate depth, MAX_RISE_STOPS)
    rate, edge = 0.02, 200
    linear, clipped, saturated = clipped_half_plane(rate, FIELD_SIDE, edge)
    fill = fill_clipped(linear, clipped, saturated).reshape(16, edge, 3)
    depth = edge - 0.5 - np.arange(edge, dtype=np.float64)  # exact for a straight edge
    expected = np.exp2(np.minimum(RISE_GAIN * rate * depth, MAX_RISE_STOPS))
    np.testing.assert_allclose(fill, np.broadcast_to(expected[None, :, None], fill.shape), rtol=1e-4)
    assert expected[-1] < expected[-10] < expected[0] == 2**MAX_RISE_STOPS  # the ramp and its cap both tested


def test_the_rise_is_measured_on_box_averages_of_a_photo_wider_than_the_field():
    """The half plane above 8x as wide (4096 px, rising rate / 8 stops per photo px), with a fine texture that a box
    average of 8 px leaves alone: two pixels of every 8 dimmed by 10 %, at a place that cycles over three 8-px
    blocks. The rise of each 8 px of the clip is the field's, min(RISE_GAIN rate depth, MAX_RISE_STOPS) (measured
    within 0.0033). Resampled to the field by point sampling (cv2.INTER_LINEAR), the ring's pixel nearest the clip
    read 10 % dark, the light seemed to fall towards the clip, and nothing rose (0.5 stops off)."""
    rate, edge, factor = 0.02, 200, 8
    linear, clipped, saturated = clipped_half_plane(rate / factor, factor * FIELD_SIDE, factor * edge)
    block, place = np.divmod(np.arange(factor * FIELD_SIDE), factor)
    phase = (block - edge) % 3
    dimmed = np.where(phase == 0, (place == 3) | (place == 4), np.where(phase == 1, place <= 1, place >= 6))
    linear[:, dimmed & ~clipped[0]] *= np.float32(0.9)
    rise = np.log2(fill_clipped(linear, clipped, saturated).reshape(16, -1, 3)[..., 0])
    depth = edge - 0.5 - np.arange(edge, dtype=np.float64)
    expected = np.minimum(RISE_GAIN * rate * depth, MAX_RISE_STOPS)
    np.testing.assert_allclose(rise.reshape(16, edge, factor).mean(axis=2), np.broadcast_to(expected, (16, edge)),
                               atol=0.01)


def halo_half_plane(width: int, height: int = 16) -> tuple[np.ndarray, ...]:
    """Neutral light clipped in the left 37.5 % of a scene ``width`` px wide; right of it a Lorentzian halo (not an
    exponential: its slope in stops per pixel changes with the distance, so it is measured on a fixed part of
    the scene or not at all alike) whose half width is 8 % of the width."""
    x = (np.arange(width, dtype=np.float64) + 0.5) / width - 0.375  # the clip's edge at 0, on a pixel border
    light = np.where(x < 0, 1.0, 1.0 / (1.0 + (x / 0.08) ** 2)).astype(np.float32)
    linear = np.ascontiguousarray(np.broadcast_to(light[None, :, None], (height, width, 3)))
    clipped = np.ascontiguousarray(np.broadcast_to(x < 0, (height, width)))
    return linear, clipped, np.ascontiguousarray(np.broadcast_to(clipped[..., None], (height, width, 3)))


def test_the_rise_does_not_depend_on_the_photos_size():
    # the same scene at 256 px (its field upsampled to FIELD_SIDE) and at 1024 px (downsampled): the same rise at
    # the same place in the scene
    rises = [np.log2(fill_clipped(*halo_half_plane(width)).reshape(16, -1, 3)[0, :, 0]) for width in (256, 1024)]
    assert rises[0].max() > 0.05
    np.testing.assert_allclose(rises[1].reshape(-1, 4).mean(axis=1), rises[0], atol=0.02)


def test_a_clip_beside_only_dark_light_keeps_its_least_light_whatever_rises_elsewhere():
    # a window clipped in a dark wall (below MIN_RING_LIGHT): a dark object's edge says nothing of how the
    # highlight rose, so the window keeps the dimmest light of the wall's hue that clipped, though a lamp's halo
    # elsewhere in the photo rises steeply towards its own clip
    wall = np.float32([0.2, 0.15, 0.1])
    assert wall.max() < MIN_RING_LIGHT
    linear = np.broadcast_to(wall, (64, 128, 3)).copy()
    linear[8:24, 8:24] = 1.0
    r = radius(64, 64)
    halo = np.clip(2.0 ** (-0.3 * (r - 10)), 0, 1).astype(np.float32)  # a lamp of radius 10 in a steep halo
    linear[:, 64:] = np.maximum(linear[:, 64:], halo[..., None])
    clipped = linear.max(axis=2) >= 1.0
    fill = fill_clipped(linear, clipped, np.broadcast_to(clipped[..., None], linear.shape).copy())
    window = np.zeros((64, 128), bool)
    window[8:24, 8:24] = True
    np.testing.assert_allclose(fill[window[clipped]], np.broadcast_to(wall / wall.min(), (256, 3)), rtol=1e-4)
    assert np.log2(fill[~window[clipped]].min(axis=1)).max() > 0.4  # the lamp itself rose


def test_a_clip_in_flat_light_just_below_white_does_not_rise():
    # an overcast sky clipped where it crosses white, its recorded light flat at 0.95 around the clip (as a JPEG's
    # near-white ring reads): no slope, no rise, however close to white that light is
    linear = np.full((48, 48, 3), 0.95, np.float32)
    linear[16:32, 16:32] = 1.0
    clipped = linear[..., 0] >= 1.0
    fill = fill_clipped(linear, clipped, np.broadcast_to(clipped[..., None], linear.shape).copy())
    np.testing.assert_allclose(fill, 1.0, rtol=1e-5)


def test_nothing_to_take_a_hue_from_leaves_the_recorded_values():
    linear = np.ones((4, 5, 3), np.float32)
    clipped = np.ones((4, 5), bool)
    np.testing.assert_array_equal(fill_clipped(linear, clipped, np.ones((4, 5, 3), bool)), linear[clipped])
    tinted = np.broadcast_to(np.float32([1.0, 0.6, 0.3]), (4, 5, 3)).copy()  # every channel a bound, not neutral
    np.testing.assert_array_equal(fill_clipped(tinted, clipped, np.ones((4, 5, 3), bool)), tinted[clipped])
    assert fill_clipped(linear, ~clipped, np.zeros((4, 5, 3), bool)).shape == (0, 3)


@pytest.mark.parametrize("args", [
    ((np.ones((4, 5, 3)).tolist(), np.ones((4, 5), bool), np.ones((4, 5, 3), bool))),
    ((np.ones((4, 5, 3), np.float64), np.ones((4, 5), bool), np.ones((4, 5, 3), bool))),
    ((np.ones((4, 5, 3), np.float32), np.ones((4, 5), np.uint8), np.ones((4, 5, 3), bool))),
    ((np.ones((4, 5), np.float32), np.ones((4, 5), bool), np.ones((4, 5), bool))),
    ((np.ones((0, 5, 3), np.float32), np.ones((0, 5), bool), np.ones((0, 5, 3), bool))),
    ((np.ones((4, 5, 3), np.float32), np.ones((5, 4), bool), np.ones((4, 5, 3), bool))),
    ((np.ones((4, 5, 3), np.float32), np.ones((4, 5), bool), np.ones((4, 5, 1), bool))),
], ids=["list", "float64", "uint8 mask", "not RGB", "empty", "mask shape", "saturated shape"])
def test_bad_inputs_are_refused_with_the_librarys_error(args):
    with pytest.raises(UsageError):
        fill_clipped(*args)


def test_light_with_none_of_a_primary_gives_a_clipped_pixel_a_bounded_gain():
    """Pure red around a white clip: each channel of the colour is at least MIN_CHROMA of the strongest, so the
    dimmest light of that colour at least white everywhere is (1 / MIN_CHROMA, 1, 1), not unbounded."""
    linear = np.broadcast_to(np.float32([0.8, 0.0, 0.0]), (32, 32, 3)).copy()
    linear[12:20, 12:20] = 1.0
    clipped = linear[..., 1] >= 1.0
    fill = fill_clipped(linear, clipped, np.broadcast_to(clipped[..., None], linear.shape).copy())
    np.testing.assert_allclose(fill, np.broadcast_to([1.0 / MIN_CHROMA, 1.0, 1.0], fill.shape), rtol=1e-4)


def test_pixels_clipped_only_by_their_neighbours_give_the_clip_its_hue():
    """A lossy photo's ringing: pixels joined to a clip with every channel measured (no bound of their own) are the
    nearest light of the clip, orange here, in a blue sky: the fully clipped core takes their orange."""
    linear = np.broadcast_to(np.float32([0.2, 0.4, 0.9]), (64, 64, 3)).copy()
    linear[20:44, 20:44] = (0.9, 0.54, 0.18)
    linear[26:38, 26:38] = 1.0
    clipped = np.zeros((64, 64), bool)
    clipped[20:44, 20:44] = True
    saturated = np.zeros((64, 64, 3), bool)
    saturated[26:38, 26:38] = True
    fill = fill_clipped(linear, clipped, saturated)
    core = saturated[clipped].all(axis=1)
    assert np.all(fill[core, 0] > fill[core, 1]) and np.all(fill[core, 1] > fill[core, 2])  # orange: R > G > B


def test_a_clip_beside_dark_light_that_rises_towards_it_does_not_rise():
    """Light below MIN_RING_LIGHT says nothing of the highlight's profile, however it rises towards the clip."""
    linear, clipped, saturated = clipped_half_plane(0.05, FIELD_SIDE, 200)  # as bright, it would rise half a stop
    linear[:, 200:] *= np.float32(0.45)
    assert linear[~clipped].max() < MIN_RING_LIGHT
    np.testing.assert_allclose(fill_clipped(linear, clipped, saturated), 1.0, rtol=1e-5)


def lights_off_the_middle(h: int, w: int) -> np.ndarray:
    """A lamp clipped in every channel in an orange halo clipped in R, left of and above the middle, beside a sky
    brighter towards the top that clips in R, on light whose hue changes across the frame: no mirror image of
    the scene is the scene."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    scene = np.stack([0.3 + 0.2 * x / w, 0.3 + 0.2 * y / h, 0.5 - 0.2 * x / w], axis=-1)
    scene[:, : w // 3] += (1.8 * (1.0 - y[:, : w // 3] / h))[..., None] * ORANGE
    lamp = np.hypot(y - 0.4 * h, x - 0.6 * w)
    scene += np.exp(-((lamp / (0.2 * min(h, w))) ** 2))[..., None] * np.float32([2.0, 0.9, 0.5])
    scene[lamp < 0.06 * min(h, w)] = 5.0
    return scene.astype(np.float32)


def filled_photo(scene: np.ndarray) -> np.ndarray:
    """The scene as recorded (channels clipped at white), its clipped pixels filled."""
    saturated = scene >= 1.0
    clipped = saturated.any(axis=2)
    photo = np.minimum(scene, 1.0)
    photo[clipped] = fill_clipped(photo, clipped, saturated)
    return photo


@pytest.mark.parametrize("shape", [(48, 70), (47, 71), (30, 1100)], ids=["even", "odd", "reduced resolution"])
@pytest.mark.parametrize("axis", [0, 1], ids=["upside down", "left to right"])
def test_the_fill_of_a_mirrored_photo_is_the_mirrored_fill(shape, axis):
    """Every step of the fill is mirror-symmetric but its pyramid was not: cv2.pyrDown samples pixels 0, 2, ..,
    n - 2 of a side of even length, so each level lay half a finer pixel nearer the first pixel than the image's
    middle, and the coarse colour reached a clip from the top left. Flipped, up to 0.15 (even), 0.12 (odd) and
    0.10 (reduced) off in linear light, 12 %; within float rounding now (measured 2e-6 relative at most)."""
    scene = lights_off_the_middle(*shape)
    assert (scene >= 1.0).all(axis=2).any() and ((scene >= 1.0).any(axis=2) & (scene < 1.0).any(axis=2)).any()
    mirrored = np.flip(filled_photo(np.flip(scene, axis).copy()), axis)
    np.testing.assert_allclose(mirrored, filled_photo(scene), rtol=1e-5)


def test_the_middle_of_a_clip_in_a_ramp_of_hue_takes_the_ramps_hue_there():
    """A disk clipped in every channel at the middle of a photo whose R rises left to right and G top to bottom:
    each level's weights are symmetric about the middle, so the normalised convolution returns the linear ramp's
    own value there (R:G:B 0.5:0.5:0.4). With cv2.pyrDown's pyramid, pulled half a finer pixel per level towards
    the top left, the middle took the hue of the ramp up and left of it: chromaticity 0.351:0.337:0.312 for
    0.357:0.357:0.286 (measured 3e-8 off now)."""
    h, w = 95, 127
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    scene = np.stack([0.2 + 0.6 * x / (w - 1), 0.2 + 0.6 * y / (h - 1), np.full((h, w), 0.4, np.float32)], axis=-1)
    disk = np.hypot(y - h // 2, x - w // 2) < 28
    linear = np.where(disk[..., None], np.float32(1.0), scene)
    fill = fill_clipped(linear, disk, np.repeat(disk[..., None], 3, axis=2))
    middle = fill.reshape(-1, 3)[np.flatnonzero(disk[disk] & (y[disk] == h // 2) & (x[disk] == w // 2))[0]]
    np.testing.assert_allclose(chromaticity(middle), chromaticity(np.float32([0.5, 0.5, 0.4])), atol=1e-5)
