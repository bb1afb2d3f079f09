"""Training the residual CEVR network for its role in :mod:`cevr_cli.exposure`: physics first, the network
only where the photo did not record the light.

A sample is a camera photographing a radiance map: a response curve from a bank of real and parametric
curves (darktable's measured camera curves but the held-out ones, the DoRF database when given, sRGB,
gammas, Eilertsen's sigmoid fits), noise, clipping, 8-bit quantisation and sometimes JPEG. The physics
frame P_s is computed from the photo with the response the user would give cevr: the true curve (a known
or calibrated response) or, for camera curves, half the time the generic camera prior (``--response
camera``). The loss is L1 on the final frame against the exact rendering at s, over the pixels the network
may change (weighted by w), so its whole capacity goes to what physics cannot do (``--loss pixel``; ``--loss
photo`` scores each photo's log mean squared error instead, :func:`pooled_error`); the final frame is either
P_s + w (G_s - P_s) for one s (``--objective frame``) or, as inference makes darker frames since physics
revision 3 (``--objective light``), the re-exposure R(min(2^s L, 1)) of the one light L that the network's frames
at every :data:`~cevr_cli.exposure.FILL_EVS` step merge into (:func:`residual_light_frames`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError, UsageError
from ..exposure import FILL_EVS, clip_threshold, half_code, measured_radiance, physics_frame
from ..exposure import measure_photo as measure
from ..imaging import quantise
from ..model.inference import InferenceSettings, pad_to_multiple
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
        from scipy.io.matlab import MatReadError
    except ImportError:
        raise UsageError("--dorf reads a MATLAB file with scipy: pip install 'cevr[train]'") from None

    try:
        data = loadmat(str(path))
        rows = list(zip(data["I"], data["B"], strict=True))
    except OSError as exc:
        raise InputError(path, f"cannot be read ({exc.strerror or exc})") from None
    except (MatReadError, ValueError, TypeError, KeyError, NotImplementedError) as exc:  # a file that is no DoRF .mat
        raise InputError(path, f"not the DoRF curves file dorf-201-crf.mat (a MATLAB file with I and B: {exc})") \
            from None
    responses = []
    for k, (irradiance, brightness) in enumerate(rows):
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


DECODE_GRID = 1024  # codes in [0, 1], uniformly: R^-1 as a table (response_tables)
ENCODE_GRID = 4096  # light in [0, 1], uniformly: R as a table


def response_tables(response: Response) -> tuple[np.ndarray, np.ndarray]:
    """The response as tables a batch looks up in torch (:func:`lookup`): R^-1 on ``DECODE_GRID`` uniform codes
    and R on ``ENCODE_GRID`` uniform light values, (3, N) float32 each (one row per channel)."""
    codes = np.repeat(np.linspace(0.0, 1.0, DECODE_GRID, dtype=np.float32)[:, None], 3, axis=1)
    light = np.repeat(np.linspace(0.0, 1.0, ENCODE_GRID, dtype=np.float32)[:, None], 3, axis=1)
    return (np.ascontiguousarray(response.decode(codes).T, dtype=np.float32),
            np.ascontiguousarray(response.encode(light).T, dtype=np.float32))


def lookup(values: torch.Tensor, tables: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear lookup of ``values`` (B, E, 3, H, W) in [0, 1] through per-sample, per-channel tables
    (B, 3, N) sampled uniformly on [0, 1]; differentiable in ``values``."""
    b, e, c, h, w = values.shape
    n = tables.shape[-1] - 1
    position = values.clamp(0.0, 1.0).permute(0, 2, 1, 3, 4).reshape(b, c, -1) * n
    index = position.detach().floor().clamp(max=n - 1).long()
    low, high = tables.gather(2, index), tables.gather(2, index + 1)
    looked_up = low + (high - low) * (position - index)
    return looked_up.reshape(b, c, e, h, w).permute(0, 2, 1, 3, 4)


def light_sample(radiance: np.ndarray, true: Response, assumed: Response, scale: float, rng: np.random.Generator,
                 jpeg: int | None = None) -> dict[str, np.ndarray]:
    """One photo for ``--objective light``: the photo, its physics frames and the truth at every FILL_EVS step
    (E x H x W x 3), the light the physics path gives (the hue fill where it clipped), the soft mask w, the clipping
    mask and the assumed response's tables."""
    photo = render(radiance, scale, true, rng, jpeg)
    measured = measure(photo, assumed, 8)
    decode, encode = response_tables(assumed)
    return {"input": photo, "physics": np.stack([physics_frame(measured, ev) for ev in FILL_EVS]),
            "target": np.stack([render(radiance, scale * 2.0**ev, true, None) for ev in FILL_EVS]),
            "fill": measured_radiance(measured, iter(())), "weight": measured.weight(-1.0)[..., None],
            "clipped": measured.clipped[..., None].astype(np.float32), "decode": decode, "encode": encode}


def light_tensors(sample: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """:func:`light_sample` as tensors: images CHW, stacks E x C x H x W, tables as they are."""
    def tensor(value: np.ndarray) -> torch.Tensor:
        if value.ndim == 4:
            return torch.from_numpy(np.ascontiguousarray(value.transpose(0, 3, 1, 2)))
        return _to_chw(value) if value.ndim == 3 and value.shape[-1] in (1, 3) else torch.from_numpy(value)

    return {k: tensor(v) for k, v in sample.items()}


def network_frames(model: torch.nn.Module, photo: torch.Tensor, steps: torch.Tensor, physics: torch.Tensor,
                   inference_scale: float | None = None) -> torch.Tensor:
    """G_s (B x E, 3, H, W) for the photos (B, 3, H, W) and their physics frames P_s (B x E, 3, H, W) at ``steps``
    (B x E), clamped to codes with the gradient of the unclamped value (an overshoot stays learnable).

    ``inference_scale`` None: the network on the whole view at its resolution. A number S: as ``cevr`` runs it on a
    photo (:class:`cevr_cli.exposure.ResidualModel` at ``scale`` S, :meth:`CEVRPredictor.iter_on_frames`): photo and
    frames area-downsampled to 1/S, behind inference's mirrored border (``InferenceSettings.border``), and P_s plus
    the residual G - P upsampled bilinearly (pixel centres aligned, as ``cv2.resize``).
    """
    if inference_scale is None:
        predicted = model(photo, steps, onto=physics).float()
        return predicted + (predicted.clamp(0.0, 1.0) - predicted).detach()
    h, w = photo.shape[-2:]
    size = (max(8, round(h / inference_scale)), max(8, round(w / inference_scale)))
    low_photo, low_physics = (F.interpolate(x, size=size, mode="area") for x in (photo, physics))
    m = InferenceSettings.border
    mode = "reflect" if min(size) > m else "replicate"
    divisor = getattr(model, "module", model).config.divisor
    low_photo_in, low_physics_in = (pad_to_multiple(F.pad(x, (m, m, m, m), mode=mode), divisor)
                                    for x in (low_photo, low_physics))
    low = model(low_photo_in, steps, onto=low_physics_in).float()[..., m : m + size[0], m : m + size[1]]
    low = low + (low.clamp(0.0, 1.0) - low).detach()
    residual = F.interpolate(low - low_physics, size=(h, w), mode="bilinear", align_corners=False)
    return physics + residual


def residual_light_frames(model: torch.nn.Module, batch: dict[str, torch.Tensor], gain: float = 1.0,
                          inference_scale: float | None = None) -> torch.Tensor:
    """The darker frames at every FILL_EVS step as :meth:`cevr_cli.exposure.ResidualModel.filled_light` makes them
    (B, E, 3, H, W): the network's frames G_s on the physics frames (:func:`network_frames`), P_s + w (G_s - P_s)
    never below P_s where the photo clipped, merged by Debevec & Malik's hat-weighted average of R^-1(frame) / 2^s
    (never below the hue fill, nor below 1 / 2^s where a frame clipped) into L_net; L = L_fill + gain w (L_net -
    L_fill), kept within the light its code can mean where the photo did not clip; each frame R(min(2^s L, 1)).
    One encoder pass per photo serves its E steps."""
    photo, physics, fill, weight, clipped = (batch[k] for k in ("input", "physics", "fill", "weight", "clipped"))
    b, e, c, h, w = physics.shape
    steps = torch.tensor(FILL_EVS, device=photo.device)
    predicted = network_frames(model, photo, steps.repeat(b), physics.flatten(0, 1), inference_scale)
    predicted = predicted.view(b, e, c, h, w)
    soft, hard = weight[:, None], clipped[:, None] > 0.5
    predicted = torch.where(hard, torch.maximum(predicted, physics), predicted)
    frames = (physics + soft * (predicted - physics)).clamp(0.0, 1.0)
    hat = (1.0 - (2.0 * frames - 1.0).abs()).clamp(min=1e-3)
    scales = (2.0 ** -steps).view(1, e, 1, 1, 1)
    merged = (hat * lookup(frames, batch["decode"]) * scales).sum(1) / hat.sum(1).clamp(min=1e-6)
    bound = torch.where(frames >= clip_threshold(8), scales, torch.zeros_like(frames)).amax(1)
    merged = torch.maximum(merged, torch.maximum(fill, bound))
    light = fill + gain * weight * (merged - fill)
    # where the photo measured, within the light its code can mean (MeasuredImage.keep_measured)
    half = half_code(8)
    low, high = (lookup((photo + d).clamp(0.0, 1.0)[:, None], batch["decode"])[:, 0] for d in (-half, half))
    light = torch.where(clipped > 0.5, light, torch.minimum(torch.maximum(light, low), high))
    return lookup((light[:, None] / scales).clamp(0.0, 1.0), batch["encode"])


def residual_light_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor], loss: str = "pixel",
                        inference_scale: float | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """The error of the darker frames made from one light (:func:`residual_light_frames`) over the pixels the
    network may change (weighted by w), every FILL_EVS step alike, pooled by :func:`pooled_error`."""
    frames = residual_light_frames(model, batch, inference_scale=inference_scale)
    value = pooled_error(frames - batch["target"], batch["weight"][:, None], loss)
    return value, {"rec": value.item()}


# ``--loss photo``: a photo's weighted pixels count as at least this many (a clip of a few pixels is not scored
# as finely as a sky), and its mean squared error saturates below this (50 dB: no effort spent past exactness).
PHOTO_MIN_PIXELS = 16.0
PHOTO_MSE_FLOOR = 1e-5


def pooled_error(error: torch.Tensor, weight: torch.Tensor, loss: str) -> torch.Tensor:
    """One loss from the errors (B, ..., C, H, W) and their weights w (broadcastable, 1 channel).

    ``pixel``: mean |error| over every weighted pixel of the batch alike. ``photo``: per photo, ln of the
    w-weighted mean squared error (floored at :data:`PHOTO_MSE_FLOOR`), averaged over the photos, so that each
    photo counts alike, as a mean PSNR over photos counts them (10 log10 MSE is this, scaled): a pixel-pooled
    loss lets the large clipped skies of some photos set how brightly the small, barely clipped highlights of
    others are filled. Photos with no weight are left out (zero loss, still connected to the graph, if all are).
    """
    weight = weight.expand_as(error)
    if loss == "pixel":
        return (weight * error.abs()).sum() / (weight.sum() + 1e-6)
    dims = tuple(range(1, error.dim()))
    mass = weight.sum(dims)
    channels = error.shape[-3]

    def log_mse(values: torch.Tensor) -> torch.Tensor:
        mse = (weight * values.square()).sum(dims) / torch.clamp(mass, min=PHOTO_MIN_PIXELS * channels)
        return torch.log(mse + PHOTO_MSE_FLOOR)

    scored = mass > 0
    if not bool(scored.any()):
        return (error * 0.0).sum()
    per_photo = log_mse(error)
    if loss == "photo-chroma":
        per_photo = per_photo + log_mse(error - error.mean(dim=-3, keepdim=True))
    return per_photo[scored].mean()


# highlight_exposure_scale: the brightest HIGHLIGHT_SHARE of a patch's pixels (their largest channel) lie at least
# this many times white, between the bounds drawn uniformly
HIGHLIGHT_SHARE = 0.02
HIGHLIGHT_OVER_WHITE = (1.0, 1.6)


def highlight_exposure_scale(radiance: np.ndarray, over_white: float) -> float:
    """The scale that puts the light at the patch's top :data:`HIGHLIGHT_SHARE` quantile (largest channel) at
    ``over_white`` x white: highlights clipped barely, as a camera metering for the highlights (or a photographer
    exposing to the right) leaves them. The meter-relative exposures alone rarely do: a clipped sky they make lies
    far above white, and a network trained on them fills a barely clipped overcast sky 1.2-1.4x too bright."""
    top = float(np.quantile(radiance.max(axis=-1), 1.0 - HIGHLIGHT_SHARE))
    return over_white / max(top, 1e-9)


class ResidualPairs(torch.utils.data.Dataset):
    """Random residual-training samples, ``samples_per_epoch`` per epoch, reproducible by (seed, epoch, index).

    Darkening samples are exposed -0.5 to +2 EV from the meter so that most views clip somewhere; a share
    ``highlight_exposures`` of them instead by :func:`highlight_exposure_scale`, their highlights barely clipped.
    """

    def __init__(self, radiance_maps: list[np.ndarray], direction: str, bank: ResponseBank, *, crop: int = 128,
                 samples_per_epoch: int = 48, seed: int = 0, jpeg_probability: float = 0.2,
                 objective: str = "frame", highlight_exposures: float = 0.0) -> None:
        self.maps, self.direction, self.bank = radiance_maps, direction, bank
        self.highlight_exposures = highlight_exposures
        self.crop, self.samples_per_epoch, self.seed = crop, samples_per_epoch, seed
        self.jpeg_probability = jpeg_probability
        self.objective = objective
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
        # drawn only when asked for, so that runs without it keep their samples
        if self.direction == "dec" and self.highlight_exposures > 0 and rng.random() < self.highlight_exposures:
            scale = highlight_exposure_scale(patch, float(rng.uniform(*HIGHLIGHT_OVER_WHITE)))
        jpeg = int(rng.integers(70, 96)) if rng.random() < self.jpeg_probability else None
        if self.objective == "light":
            return light_tensors(light_sample(patch, true, assumed, scale, rng, jpeg))
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


def residual_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor], loss: str = "pixel"
                  ) -> tuple[torch.Tensor, dict[str, float]]:
    """The error of the final frame over the pixels the residual may change (weighted by w), pooled by
    :func:`pooled_error`."""
    out = residual_output(model, batch)
    value = pooled_error(out - batch["target"], batch["weight"], loss)
    return value, {"rec": value.item()}


@dataclass
class ResidualValidation:
    """Fixed validation samples per EV (whole views, fixed cameras from the training bank)."""

    samples: dict[float, list[dict[str, np.ndarray]]]


def validation_cameras(radiance_maps: Sequence[np.ndarray], bank: ResponseBank, size: int, cameras: int, seed: int
                       ) -> Iterator[tuple[np.ndarray, Response, Response, float, tuple[int, ...]]]:
    """(view, true response, assumed response, scale, noise seed): each whole view photographed by ``cameras``
    fixed cameras from the bank, 1 EV above the meter (so highlights clip); the validation of either objective."""
    views = [view for radiance in radiance_maps for view in scene_views(radiance, size)]
    for i, view in enumerate(views):
        for k in range(cameras):
            true, assumed = bank.sample(np.random.default_rng((seed, i, k)))
            yield view, true, assumed, auto_exposure_scale(view) * 2.0, (seed, i, k, 1)


def make_residual_validation(radiance_maps: Sequence[np.ndarray], evs: Sequence[float], bank: ResponseBank,
                             size: int = 256, cameras: int = 2, seed: int = 4321) -> ResidualValidation:
    """Each validation photo (:func:`validation_cameras`) at each of ``evs``."""
    samples: dict[float, list[dict[str, np.ndarray]]] = {float(ev): [] for ev in evs}
    for view, true, assumed, scale, noise in validation_cameras(radiance_maps, bank, size, cameras, seed):
        for ev in evs:
            samples[float(ev)].append(residual_sample(view, float(ev), true, assumed, scale,
                                                      np.random.default_rng(noise)))
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


@dataclass
class ResidualLightValidation:
    """Fixed validation photos for ``--objective light`` (whole views, fixed cameras from the training bank), each
    scored at every FILL_EVS step."""

    samples: list[dict[str, np.ndarray]]
    inference_scale: float | None = None  # the network's path, as in training (:func:`network_frames`)


def make_residual_light_validation(radiance_maps: Sequence[np.ndarray], bank: ResponseBank, size: int = 256,
                                   cameras: int = 2, seed: int = 4321, inference_scale: float | None = None
                                   ) -> ResidualLightValidation:
    """Each validation photo (:func:`validation_cameras`, the same as :func:`make_residual_validation`'s)."""
    return ResidualLightValidation([light_sample(view, true, assumed, scale, np.random.default_rng(noise))
                                    for view, true, assumed, scale, noise
                                    in validation_cameras(radiance_maps, bank, size, cameras, seed)],
                                   inference_scale)


@torch.inference_mode()
def validate_residual_light(model: torch.nn.Module, val: ResidualLightValidation, device: torch.device
                            ) -> dict[float, float]:
    """Mean PSNR (dB) per FILL_EVS step of the darker frames made from one light (gain 1)."""
    model.eval()
    scores: dict[float, list[float]] = {ev: [] for ev in FILL_EVS}
    for sample in val.samples:
        batch = {k: v[None].to(device) for k, v in light_tensors(sample).items()}
        frames = residual_light_frames(model, batch, inference_scale=val.inference_scale)[0].cpu().numpy()
        for i, ev in enumerate(FILL_EVS):
            mse = float(np.mean((frames[i] - sample["target"][i].transpose(2, 0, 1)) ** 2))
            scores[ev].append(-10 * np.log10(mse + 1e-10))
    model.train()
    return {ev: float(np.mean(v)) for ev, v in scores.items()}
