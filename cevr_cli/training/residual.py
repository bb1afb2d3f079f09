"""Training the residual CEVR network for its role in :mod:`cevr_cli.exposure`: physics first, the network
only where the photo did not record the light.

A sample is a camera photographing a radiance map: a response curve from a bank of real and parametric
curves (darktable's measured camera curves but the held-out ones, the DoRF database when given, sRGB,
gammas, Eilertsen's sigmoid fits), noise, clipping, 8-bit quantisation and sometimes JPEG. The physics
frame P_s is computed from the photo with the response the user would give cevr: the true curve (a known
or calibrated response) or, for camera curves, half the time the generic camera prior (``--response
camera``). The loss is L1 on the final frame P_s + w (G_s - P_s) against the exact rendering at s, over
the pixels the network may change (weighted by w), so its whole capacity goes to what physics cannot do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import UsageError
from ..exposure import measure_photo as measure
from ..exposure import physics_frame
from ..imaging import quantise
from ..response import SRGB, Response, camera_prior, darktable_curves, gamma_response, table_response
from .camera import CameraResponse, auto_exposure_scale, sample_noise, sample_sigmoid
from .pairs import _random_patch, _to_chw
from .scenes import scene_views

SIGMOID_CODES = np.linspace(0.0, 1.0, 1024)


def sigmoid_response(curve: CameraResponse) -> Response:
    """An Eilertsen et al. 2017 sigmoid camera (:class:`CameraResponse`) as a tabulated response."""
    return table_response(f"sigmoid:{curve.n:.2f},{curve.sigma:.2f}", SIGMOID_CODES,
                          curve.inverse(SIGMOID_CODES).astype(np.float64))


def dorf_responses(path: str | Path) -> list[Response]:
    """The 201 DoRF curves (Grossberg & Nayar 2003) from ``dorf-201-crf.mat`` (``I``: irradiance, ``B``:
    brightness, one row per curve), as responses; read at training time only, never shipped."""
    try:
        from scipy.io import loadmat
    except ImportError:
        raise UsageError("--dorf reads a MATLAB file with scipy: pip install 'cevr[train]'") from None

    data = loadmat(str(path))
    responses = []
    for k, (irradiance, brightness) in enumerate(zip(data["I"], data["B"], strict=True)):
        b = np.maximum.accumulate(np.asarray(brightness, float))
        keep = np.concatenate([[True], np.diff(b) > 1e-6])
        codes, linear = b[keep], np.asarray(irradiance, float)[keep]
        if codes[0] > 0:
            codes, linear = np.concatenate([[0.0], codes]), np.concatenate([[0.0], linear])
        codes, linear = (codes - codes[0]) / (codes[-1] - codes[0]), (linear - linear[0]) / (linear[-1] - linear[0])
        if np.all(np.diff(linear) > 0) and np.all(np.diff(codes) > 0):
            responses.append(table_response(f"dorf:{k}", codes, linear))
    return responses


@dataclass(frozen=True)
class ResponseBank:
    """Curves a training camera may have: darktable's measured camera-JPEG curves (training rows) and DoRF's."""

    darktable: tuple[Response, ...]
    dorf: tuple[Response, ...] = ()

    @classmethod
    def default(cls, dorf: str | Path | None = None) -> ResponseBank:
        table = darktable_curves()
        rows = [i for i in range(len(table["names"])) if not table["validation"][i]]
        curves = [table_response(f"darktable:{table['names'][i]}", table["codes"], table["linear"][i]) for i in rows]
        return cls(tuple(curves), tuple(dorf_responses(dorf)) if dorf else ())

    def sample(self, rng: np.random.Generator) -> tuple[Response, Response]:
        """(true response, the response physics uses): 45 % measured camera curves (darktable's, or half of them
        DoRF's when given), 15 % sigmoid fits, 20 % sRGB, 20 % gamma 1.8-2.6; camera-like curves are known (a
        profile) half the time, else the physics uses the camera prior."""
        u = rng.random()
        if u < 0.2:
            return SRGB, SRGB
        if u < 0.4:
            gamma = gamma_response(float(rng.uniform(1.8, 2.6)))
            return gamma, gamma
        if u < 0.55:
            true = sigmoid_response(sample_sigmoid(rng))
        else:
            group = self.dorf if self.dorf and rng.random() < 0.5 else self.darktable
            true = group[int(rng.integers(len(group)))]
        return true, (true if rng.random() < 0.5 else camera_prior())


def render(radiance: np.ndarray, scale: float, response: Response, noise_rng: np.random.Generator | None,
           jpeg: int | None = None) -> np.ndarray:
    """The 8-bit photo (as [0, 1] floats) a camera with ``response`` takes at linear scale ``scale``."""
    from .camera import _jpeg_roundtrip

    linear = radiance.astype(np.float32) * np.float32(scale)
    if noise_rng is not None:
        linear = sample_noise(noise_rng).apply(linear, noise_rng)
    encoded = response.encode(linear)
    if jpeg is not None:
        return _jpeg_roundtrip(encoded, jpeg)
    return quantise(encoded, 8).astype(np.float32) / np.float32(255.0)


def residual_sample(radiance: np.ndarray, s: float, true: Response, assumed: Response, scale: float,
                    rng: np.random.Generator, jpeg: int | None = None) -> dict[str, np.ndarray]:
    """Photo, physics frame, target and the residual's weight for one camera and step (HxWx3 / HxW float32)."""
    photo = render(radiance, scale, true, rng, jpeg)
    target = render(radiance, scale * 2.0**s, true, None)
    measured = measure(photo, assumed, 8)
    return {"input": photo, "physics": physics_frame(measured, s), "target": target,
            "weight": measured.weight(s), "clipped": measured.clipped.astype(np.float32)}


class ResidualPairs(torch.utils.data.Dataset):
    """Random residual-training samples, ``samples_per_epoch`` per epoch, reproducible by (seed, epoch, index).

    Darkening samples are exposed -0.5 to +2 EV from the meter so that most views clip somewhere.
    """

    def __init__(self, radiance_maps: list[np.ndarray], direction: str, bank: ResponseBank, *, crop: int = 128,
                 samples_per_epoch: int = 48, seed: int = 0, jpeg_probability: float = 0.2) -> None:
        self.maps, self.direction, self.bank = radiance_maps, direction, bank
        self.crop, self.samples_per_epoch, self.seed = crop, samples_per_epoch, seed
        self.jpeg_probability = jpeg_probability
        self.epoch = 0

    def __len__(self) -> int:
        return self.samples_per_epoch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng((self.seed, self.epoch, index, 7))
        patch = _random_patch(self.maps[int(rng.integers(len(self.maps)))], self.crop, rng)
        true, assumed = self.bank.sample(rng)
        if self.direction == "dec":
            s, offset = -float(rng.uniform(0.0, 3.0)), float(rng.uniform(-0.5, 2.0))
        else:
            s, offset = float(rng.uniform(0.0, 3.0)), float(rng.uniform(-3.0, 0.5))
        scale = auto_exposure_scale(patch) * 2.0**offset
        jpeg = int(rng.integers(70, 96)) if rng.random() < self.jpeg_probability else None
        sample = residual_sample(patch, s, true, assumed, scale, rng, jpeg)
        item = {k: _to_chw(v if v.ndim == 3 else v[..., None]) for k, v in sample.items()}
        return {**item, "s": torch.tensor(s, dtype=torch.float32)}


def residual_output(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """P + w (G - P), G never below P in clipped pixels when darkening (as :func:`cevr_cli.exposure.compose`)."""
    photo, physics, weight, clipped, s = (batch[k] for k in ("input", "physics", "weight", "clipped", "s"))
    model_out = model(photo, s, onto=physics).float()
    darkening = (s < 0).view(-1, 1, 1, 1) & (clipped > 0.5)
    model_out = torch.where(darkening, torch.maximum(model_out, physics), model_out)
    return physics + weight * (model_out - physics)


def residual_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean absolute error of the final frame over the pixels the residual may change (weighted by w)."""
    out = residual_output(model, batch)
    weight = batch["weight"]
    loss = (weight * (out - batch["target"]).abs()).sum() / (3.0 * weight.sum() + 1e-6)
    return loss, {"rec": loss.item()}


@dataclass
class ResidualValidation:
    """Fixed validation samples per EV (whole views, fixed cameras from the training bank)."""

    samples: dict[float, list[dict[str, np.ndarray]]]


def make_residual_validation(radiance_maps: Sequence[np.ndarray], evs: Sequence[float], bank: ResponseBank,
                             size: int = 256, cameras: int = 2, seed: int = 4321) -> ResidualValidation:
    """Each view photographed by ``cameras`` cameras, 1 EV above the meter (so highlights clip)."""
    samples: dict[float, list[dict[str, np.ndarray]]] = {float(ev): [] for ev in evs}
    views = [view for radiance in radiance_maps for view in scene_views(radiance, size)]
    for i, view in enumerate(views):
        for k in range(cameras):
            rng = np.random.default_rng((seed, i, k))
            true, assumed = bank.sample(rng)
            scale = auto_exposure_scale(view) * 2.0
            for ev in evs:
                samples[float(ev)].append(residual_sample(view, float(ev), true, assumed, scale,
                                                          np.random.default_rng((seed, i, k, 1))))
    return ResidualValidation(samples)


@torch.inference_mode()
def validate_residual(model: torch.nn.Module, val: ResidualValidation, device: torch.device) -> dict[float, float]:
    """Mean PSNR (dB) of the final frame per EV."""
    model.eval()
    result = {}
    for ev, samples in val.samples.items():
        scores = []
        for sample in samples:
            batch = {k: torch.from_numpy(np.ascontiguousarray((v if v.ndim == 3 else v[..., None]).transpose(2, 0, 1)))
                     [None].to(device) for k, v in sample.items()}
            batch["s"] = torch.tensor([ev], device=device)
            out = residual_output(model, batch).clamp(0, 1)[0].cpu().numpy().transpose(1, 2, 0)
            mse = float(np.mean((out - sample["target"]) ** 2))
            scores.append(-10 * np.log10(mse + 1e-10))
        result[ev] = float(np.mean(scores))
    model.train()
    return result
