"""Scene files for training and the synthetic benchmark: radiance maps (.exr/.hdr) in one or more folders,
the fixed train/validation split by scene, loading with downscaling.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError, UsageError
from ..vocabulary import HDR_SUFFIXES


def find_radiance_maps(folders: str | Path | Sequence[str | Path], option: str = "--data") -> list[Path]:
    """Radiance maps (.exr/.hdr) in one or more folders, sorted by name; each file once (a folder given twice, or
    again through a link, would put a scene in both the training and the validation set). ``option``: how the
    request named the folders, for the error ("--data"; "" for a positional path).

    Raises:
        UsageError: a folder that is not one, or holds none.
    """
    paths: list[Path] = []
    seen: set[Path] = set()
    for folder in [folders] if isinstance(folders, str | Path) else folders:
        folder = Path(folder)
        if not folder.is_dir():  # --data names it: the request's error (exit 2)
            raise UsageError(f"{option} {folder}: not a folder of radiance maps (.exr/.hdr)".lstrip())
        found = [p for p in folder.iterdir() if p.suffix.lower() in HDR_SUFFIXES and not p.name.startswith(".")]
        if not found:
            raise UsageError(f"{option} {folder}: no .exr or .hdr radiance maps found".lstrip())
        for path in sorted(found):
            if path.resolve() not in seen:
                seen.add(path.resolve())
                paths.append(path)
    return sorted(paths, key=lambda p: p.name)


# The fixed validation scenes of ../shared/data (OpenEXR samples + Poly Haven panoramas), never trained on.
# The three OpenEXR scenes are the ones the 7db9fb03a5c9 release held out, so both pairs compare on unseen data.
VALIDATION_SCENES: dict[str, str] = {
    "Bonita": "outdoor, day (OpenEXR)",
    "CrissyField": "outdoor, overcast, wide range (OpenEXR)",
    "MtTamWest": "outdoor landscape, sunlit (OpenEXR)",
    "noon_grass": "outdoor, sun in frame (Poly Haven)",
    "sunset": "outdoor, low sun in frame (Poly Haven)",
    "dikhololo_night": "night sky, outdoor (Poly Haven)",
    "st_fagans_interior": "indoor, windows (Poly Haven)",
    "lab": "indoor, lamps (Poly Haven)",
    "brown_photostudio_02": "indoor studio, softboxes (Poly Haven)",
}


def split_scenes(paths: list[Path], val_every: int = 4, offset: int = 1) -> tuple[list[Path], list[Path]]:
    """Train/validation split by scene, never by crop.

    Scenes named in ``VALIDATION_SCENES`` validate when any is present; otherwise (a user's own folder)
    every ``val_every``-th scene by sorted name does.
    """
    ordered = sorted(paths, key=lambda p: p.name)
    val = [p for p in ordered if p.stem in VALIDATION_SCENES]
    if not val:
        val = [p for i, p in enumerate(ordered) if i % val_every == offset]
    train = [p for p in ordered if p not in val]
    return train, val


def fit_long_side(image: np.ndarray, long_side: int | None) -> np.ndarray:
    """Downscale (area filter) so the long side is at most ``long_side``; never upscales."""
    import cv2

    if long_side is None or max(image.shape[:2]) <= long_side:
        return image
    scale = long_side / max(image.shape[:2])
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


# A training scene needs light to photograph: at least this share of its pixels above zero.
MIN_LIT_SHARE = 0.01


def load_radiance(path: Path, long_side: int | None = None) -> np.ndarray:
    """Read a radiance map as float32 RGB (NaN as 0, +Inf as the brightest finite value: the HDR reader's rule),
    optionally downscaled.

    Raises:
        InputError: unreadable, or not a scene to train on: fewer than :data:`MIN_LIT_SHARE` of its pixels hold
            light (an all-black or all-NaN map: every photograph of it is black, and a validation score on it
            means nothing).
    """
    from ..io.hdrfile import read_hdr_image

    radiance = read_hdr_image(path)
    lit = float((radiance.max(axis=-1) > 0).mean())
    if lit < MIN_LIT_SHARE:
        raise InputError(path, f"only {lit:.1%} of its pixels hold any light: not a scene to train on")
    return fit_long_side(radiance, long_side)


def scene_views(radiance: np.ndarray, size: int) -> list[np.ndarray]:
    """Fixed ``size`` x ``size`` views of a scene, as validation and the synthetic benchmark see it.

    A flat photo is resized whole, as the paper's protocol resizes to 256x256. A panorama gives two
    90-degree views at the horizon: one facing its brightest light (the sun, a lamp, a window), where
    highlights must be reconstructed, and the opposite one.
    """
    import cv2

    from .panorama import brightest_yaw, is_equirectangular, perspective_view

    if not is_equirectangular(radiance):
        return [cv2.resize(radiance, (size, size), interpolation=cv2.INTER_AREA)]
    yaw = brightest_yaw(radiance)
    return [perspective_view(radiance, size, yaw + turn, 0.0, 90.0) for turn in (0.0, np.pi)]
