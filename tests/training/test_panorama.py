"""Perspective views of lat-long panoramas: directions land where the projection says, poles are never used."""

import math

import numpy as np
import pytest

from cevr_cli.training.panorama import brightest_yaw, is_equirectangular, perspective_view, random_view, view_rays


def latitude_longitude_panorama(h: int = 256) -> np.ndarray:
    """A 2:1 map whose pixels hold their own (latitude, longitude) in degrees, and 1 in channel 2."""
    w = 2 * h
    lat = 90.0 - (np.arange(h) + 0.5) / h * 180.0
    lon = (np.arange(w) + 0.5) / w * 360.0 - 180.0
    lat_grid, lon_grid = np.meshgrid(lat, lon, indexing="ij")
    return np.stack([lat_grid, lon_grid, np.ones_like(lat_grid)], axis=-1).astype(np.float32)


def test_only_2_to_1_images_are_panoramas():
    assert is_equirectangular(np.zeros((512, 1024, 3))) and is_equirectangular(np.zeros((500, 1000, 3)))
    assert not is_equirectangular(np.zeros((683, 1024, 3)))


@pytest.mark.parametrize(("yaw_deg", "pitch_deg"), [(0.0, 0.0), (90.0, 0.0), (-135.0, 20.0), (30.0, -30.0)])
def test_the_view_centre_looks_where_it_is_aimed(yaw_deg, pitch_deg):
    view = perspective_view(latitude_longitude_panorama(), 64, math.radians(yaw_deg), math.radians(pitch_deg), 60.0)
    centre = view[31:33, 31:33].mean(axis=(0, 1))
    assert centre[0] == pytest.approx(pitch_deg, abs=1.0)
    assert centre[1] == pytest.approx(yaw_deg, abs=1.0)


def test_a_horizon_view_spans_its_field_of_view():
    # Pitch 0, 90 degree field of view: the middle row runs from longitude -45 to +45 (pinhole, tan(45) = 1).
    view = perspective_view(latitude_longitude_panorama(), 64, 0.0, 0.0, 90.0)
    middle = view[31:33].mean(axis=0)
    assert middle[0, 1] == pytest.approx(-45.0 + 90.0 / 128 * 1.0, abs=1.5)
    assert middle[-1, 1] == pytest.approx(45.0 - 90.0 / 128 * 1.0, abs=1.5)
    # Corners of a 90-degree square view sit at atan(1 / sqrt(2)) = 35.26 degrees latitude, not 45.
    assert abs(view[0, 0, 0]) == pytest.approx(math.degrees(math.atan(1 / math.sqrt(2))), abs=1.5)


def test_random_views_never_reach_the_stretched_poles():
    pano = latitude_longitude_panorama()
    rng = np.random.default_rng(0)
    # |pitch| <= 35 and half the diagonal field of view <= atan(sqrt(2) tan(45)) = 54.7: at most 89.7, but the
    # rows a crop of the map would take near the poles are stretched 1/cos(lat); what matters is the spread.
    for _ in range(50):
        view = random_view(pano, 32, rng)
        lat = view[..., 0]
        assert lat.max() < 90.0 and lat.min() > -90.0
        assert abs(float(np.median(lat))) <= 36.0  # the view is centred within the +-35 degree band
    # A crop of the top rows of the map (what a naive crop could take) would be all above 60 degrees.
    assert pano[:32, :32, 0].min() > 60.0


@pytest.mark.parametrize(("yaw", "pitch"), [(0.3, -0.2), (-2.9, 0.6), (0.0, 0.0)])
def test_view_rays_are_the_pinhole_cameras_unit_directions(yaw, pitch):
    """Each pixel's (lon, lat) is the unit direction x r + y u + f of a pinhole camera whose basis (forward f,
    right r, up u) is written here from yaw and pitch directly, not by the function's two rotations."""
    size, fov = 16, 75.0
    lon, lat = view_rays(size, yaw, pitch, fov)
    assert lon.shape == lat.shape == (size, size)
    assert np.all(np.abs(lon) <= math.pi) and np.all(np.abs(lat) <= math.pi / 2)
    got = np.stack([np.cos(lat) * np.sin(lon), np.sin(lat), np.cos(lat) * np.cos(lon)], axis=-1)

    f = np.array([math.cos(pitch) * math.sin(yaw), math.sin(pitch), math.cos(pitch) * math.cos(yaw)])
    r = np.array([math.cos(yaw), 0.0, -math.sin(yaw)])
    u = np.cross(f, r)
    assert np.isclose(np.linalg.norm(u), 1.0) and u[1] >= 0  # up points up
    t = ((np.arange(size) + 0.5) / size * 2 - 1) * math.tan(math.radians(fov) / 2)
    rays = t[None, :, None] * r - t[:, None, None] * u + f  # column -> right, row -> down
    expected = rays / np.linalg.norm(rays, axis=-1, keepdims=True)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    # The outermost pixel centres of the middle row span the field of view less one pixel.
    span = math.degrees(math.acos(float(np.dot(got[size // 2, 0], got[size // 2, -1]))))
    edge = math.degrees(2 * math.atan((1 - 1 / size) * math.tan(math.radians(fov) / 2)))
    assert span == pytest.approx(edge, rel=0.02)


def test_brightest_yaw_finds_the_sun():
    pano = np.full((64, 128, 3), 0.1, dtype=np.float32)
    pano[30:33, 96:99] = 1000.0
    pano[31, 97] = 2000.0  # its core at longitude (97.5 / 128) * 360 - 180 = 94.2 degrees, near the horizon
    assert math.degrees(brightest_yaw(pano)) == pytest.approx(94.2, abs=2.0)
    view = perspective_view(pano, 32, brightest_yaw(pano), 0.0, 90.0)
    assert view.max() > 100.0  # the sun is in frame
