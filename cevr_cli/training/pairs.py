"""Training samples: (EV 0 photo, photo at step s, s), drawn from synthetic brackets of radiance maps.

Each sample draws a scene, a random crop (after a random downscale, so a crop sees more or less of the
scene), a random camera (response, noise, exposure) and a step s from the direction's set; flips and
transposes as in the official recipe. Validation uses fixed cameras and whole scenes resized to a
square, as the paper's protocol resizes to 256x256.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .camera import (
    SyntheticScene,
    auto_exposure_scale,
    make_scene,
    render_ldr,
    sample_noise,
    sample_response,
)
from .panorama import is_equirectangular, random_view
from .scenes import fit_long_side, scene_views

INTEGER_STEPS = {"inc": (0.0, 1.0, 2.0, 3.0), "dec": (-3.0, -2.0, -1.0, 0.0)}


def _to_chw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


class SyntheticPairs(torch.utils.data.Dataset):
    """An endless-feeling dataset of ``samples_per_epoch`` random pairs per epoch."""

    def __init__(
        self,
        radiance_maps: list[np.ndarray],
        direction: str,
        *,
        crop: int = 256,
        samples_per_epoch: int = 48,
        seed: int = 0,
        continuous_steps: bool = False,
        jpeg_probability: float = 0.2,
    ) -> None:
        if direction not in INTEGER_STEPS:
            raise ValueError(f"direction must be 'inc' or 'dec', not {direction!r}")
        self.maps = radiance_maps
        self.direction = direction
        self.crop = crop
        self.samples_per_epoch = samples_per_epoch
        self.seed = seed
        self.epoch = 0
        self.continuous_steps = continuous_steps
        self.jpeg_probability = jpeg_probability

    def __len__(self) -> int:
        return self.samples_per_epoch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _step(self, rng: np.random.Generator) -> float:
        if self.continuous_steps:
            s = float(rng.uniform(0.0, 3.0))
            return s if self.direction == "inc" else -s
        return float(rng.choice(INTEGER_STEPS[self.direction]))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng((self.seed, self.epoch, index))
        radiance = self.maps[int(rng.integers(len(self.maps)))]
        patch = _random_patch(radiance, self.crop, rng)
        response = sample_response(rng)
        # A meter reading with +-1 EV of photographer's compensation: EV 0 is not always well exposed.
        scale = auto_exposure_scale(patch) * 2.0 ** rng.uniform(-1.0, 1.0)
        s = self._step(rng)
        jpeg = int(rng.integers(70, 96)) if rng.random() < self.jpeg_probability else None
        source = render_ldr(patch, 0.0, response, exposure_scale=scale, noise=sample_noise(rng), rng=rng,
                            jpeg_quality=jpeg)
        target = render_ldr(patch, s, response, exposure_scale=scale)
        return {"input": _to_chw(source), "target": _to_chw(target), "s": torch.tensor(s, dtype=torch.float32)}


def _random_patch(radiance: np.ndarray, crop: int, rng: np.random.Generator) -> np.ndarray:
    """A random view: a perspective view of a panorama, or a random downscale (long side between 2 crops
    and the full map) and crop of a flat photo; then a random flip and transpose."""
    if is_equirectangular(radiance):
        return _flip_transpose(random_view(radiance, crop, rng), rng)
    return _flip_transpose(_random_crop(radiance, crop, rng), rng)


def _random_crop(radiance: np.ndarray, crop: int, rng: np.random.Generator) -> np.ndarray:
    import cv2

    h, w = radiance.shape[:2]
    long_side = max(h, w)
    target_long = int(rng.uniform(min(2 * crop, long_side), long_side + 1))
    image = fit_long_side(radiance, target_long)
    if min(image.shape[:2]) < crop:
        factor = crop / min(image.shape[:2])
        size = (max(crop, round(image.shape[1] * factor)), max(crop, round(image.shape[0] * factor)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    y = int(rng.integers(0, image.shape[0] - crop + 1))
    x = int(rng.integers(0, image.shape[1] - crop + 1))
    return image[y : y + crop, x : x + crop]


def _flip_transpose(patch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    if rng.random() < 0.5:
        patch = patch[::-1]
    if rng.random() < 0.5:
        patch = patch.transpose(1, 0, 2)
    return np.ascontiguousarray(patch)


@dataclass
class ValidationSet:
    """Fixed validation brackets: per scene the EV 0 input and ground truth at each EV."""

    scenes: list[SyntheticScene]
    inputs: list[np.ndarray]
    truths: dict[float, list[np.ndarray]]


def make_validation(
    names: list[str], radiance_maps: list[np.ndarray], evs: list[float], size: int = 256, seed: int = 1234,
    cameras: int = 1,
) -> ValidationSet:
    """Whole scenes resized to ``size`` x ``size``, each photographed by ``cameras`` fixed cameras.

    With a handful of validation scenes, one camera each is too small a sample to rank checkpoints: the
    naive-looking power-law cameras and the S-shaped ones favour different checkpoints. Camera 0 of scene
    i has seed ``seed + i``; camera k adds ``1000 k``.
    """

    if cameras < 1:
        raise ValueError(f"cameras must be at least 1, not {cameras}")
    scenes, inputs = [], []
    truths: dict[float, list[np.ndarray]] = {ev: [] for ev in evs}
    views = [(name, view) for name, radiance in zip(names, radiance_maps, strict=True)
             for view in scene_views(radiance, size)]
    for i, (name, small) in enumerate(views):
        metered = auto_exposure_scale(small)
        for k in range(cameras):
            scene = make_scene(name, small, seed + i + 1000 * k)
            scene.exposure_scale = metered
            scenes.append(scene)
            inputs.append(scene.photo(0.0))
            for ev in evs:
                truths[ev].append(scene.photo(ev, with_noise=False))
    return ValidationSet(scenes, inputs, truths)
