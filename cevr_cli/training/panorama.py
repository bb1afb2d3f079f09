"""Perspective views of equirectangular (latitude-longitude) panoramas.

A lat-long map stretches rows near the poles by 1/cos(latitude); a crop there is not what any camera
sees. A pinhole camera looking in direction (yaw, pitch) with horizontal field of view ``fov`` sees, at
normalised image coordinates (x, y) in [-1, 1], the ray ``R(yaw, pitch) [x tan(fov/2), -y tan(fov/2), 1]``;
the view is the panorama sampled at that ray's longitude and latitude (bilinear, wrapping in longitude).
"""

from __future__ import annotations

import math

import numpy as np

# Poly Haven's maps are exactly 2:1; a few older ones are 1000x500. Anything within 1 % of 2:1 is lat-long.
_LATLONG_ASPECT = 2.0


def is_equirectangular(image: np.ndarray) -> bool:
    """True for a 2:1 image, the shape of a full lat-long panorama."""
    h, w = image.shape[:2]
    return abs(w / h - _LATLONG_ASPECT) < 0.02 * _LATLONG_ASPECT


def view_rays(size: int, yaw: float, pitch: float, fov_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Longitude in [-pi, pi) and latitude in [-pi/2, pi/2] of each pixel of a size x size pinhole view.

    ``yaw`` turns right from longitude 0 and ``pitch`` looks up, both in radians.
    """
    half = math.tan(math.radians(fov_deg) / 2.0)
    coords = (np.arange(size, dtype=np.float64) + 0.5) / size * 2.0 - 1.0
    x, y = np.meshgrid(coords * half, -coords * half)
    z = np.ones_like(x)
    # Pitch about the x axis, then yaw about the vertical axis.
    cp, sp = math.cos(pitch), math.sin(pitch)
    y, z = y * cp + z * sp, -y * sp + z * cp
    cy, sy = math.cos(yaw), math.sin(yaw)
    x, z = x * cy + z * sy, -x * sy + z * cy
    longitude = np.arctan2(x, z)
    latitude = np.arctan2(y, np.hypot(x, z))
    return longitude, latitude


def perspective_view(panorama: np.ndarray, size: int, yaw: float, pitch: float, fov_deg: float) -> np.ndarray:
    """The ``size`` x ``size`` view of ``panorama`` (HxWxC, H = W/2) in direction (yaw, pitch), radians."""
    import cv2

    h, w = panorama.shape[:2]
    longitude, latitude = view_rays(size, yaw, pitch, fov_deg)
    map_x = ((longitude / (2 * math.pi) + 0.5) * w - 0.5).astype(np.float32)
    map_y = ((0.5 - latitude / math.pi) * h - 0.5).astype(np.float32)
    # Wrap in longitude by padding one column on each side; latitude never leaves the map.
    padded = np.concatenate([panorama[:, -1:], panorama, panorama[:, :1]], axis=1)
    view = cv2.remap(np.ascontiguousarray(padded), map_x + 1.0, map_y, interpolation=cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(view.reshape(size, size, -1))


def random_view(
    panorama: np.ndarray, size: int, rng: np.random.Generator, *, fov_range: tuple[float, float] = (50.0, 90.0),
    max_pitch_deg: float = 35.0,
) -> np.ndarray:
    """A view in a random direction (any yaw, |pitch| <= ``max_pitch_deg``) with a random field of view."""
    fov = float(rng.uniform(*fov_range))
    yaw = float(rng.uniform(-math.pi, math.pi))
    pitch = math.radians(float(rng.uniform(-max_pitch_deg, max_pitch_deg)))
    return perspective_view(panorama, size, yaw, pitch, fov)


def brightest_yaw(panorama: np.ndarray, max_latitude_deg: float = 30.0) -> float:
    """Yaw (radians) of the brightest column within +-``max_latitude_deg``: where the sun or lamp is."""
    h, w = panorama.shape[:2]
    band = int(round(h * max_latitude_deg / 180.0))
    rows = panorama[h // 2 - band : h // 2 + band].mean(axis=2)
    column = int(np.argmax(rows.max(axis=0)))
    return ((column + 0.5) / w - 0.5) * 2 * math.pi
