"""Turning one photo into an exposure stack with a CEVR model pair, without repeating work.

* The encoder runs once per photo (per tile) and model; all EV steps of one direction go through the
  decoder as one batch, split into chunks that fit ``max_batch_pixels``.
* Photos larger than ``tile_pixels`` run in tiles with a halo (context that is computed and discarded)
  and a linear blend where neighbouring tiles overlap. GroupNorm statistics are recorded once on the
  whole photo (downscaled to at most ``stats_pixels``) and imposed on every tile, so all tiles are
  normalised alike; for photos up to ``stats_pixels`` the tiled result equals the untiled one.
* EV 0 is the input itself.
* The models run as fused inference copies (``fused.reparameterize``), built once per predictor.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UsageError, WeightsError
from ..evs import check_ev_values, ev_steps
from ..exposure import model_for_role
from ..imaging import display_codes
from .cevr import NormStats
from .device import precision_name, resolve_device, resolve_precision
from .fused import FusedCEVR, reparameterize
from .weights import ModelPair

# Peak memory of inference per pixel (float32), measured with tests/benchmarks/bench_memory_24mp.py's method on
# a 1040x1040 input: 2,900 MiB with one EV step, 6,021 MiB with four.
FIXED_BYTES_PER_PIXEL = 1800
STEP_BYTES_PER_PIXEL = 1010
GPU_MEMORY_SHARE = 0.6  # of the free memory: the rest is left to the caching allocator's fragmentation


@dataclass(frozen=True)
class InferenceSettings:
    """Memory knobs. Defaults keep a 24-megapixel photo well under 6 GiB on the CPU."""

    tile_pixels: int = 1024 * 1024  # photos above this run tiled
    tile_size: int = 768  # core of a tile, multiple of 8
    halo: int = 64  # context around each tile, multiple of 8 (covers the network's reach)
    blend: int = 32  # width of the linear cross-fade between neighbouring tiles, multiple of 8
    stats_pixels: int = 1024 * 1024  # GroupNorm statistics are taken on the photo scaled to this size
    max_batch_pixels: int = 1_500_000  # EV steps x pixels per decoder call
    max_output_bytes: int = 2 << 30  # float32 outputs held at once; beyond, EVs run in groups
    border: int = 8  # mirrored context around the photo, cropped off the outputs (see _run_model)

    def __post_init__(self) -> None:
        """Raises: UsageError: a size that is not a whole number (at least 1, or 0 for ``halo``, ``blend`` and
        ``border``), a tile, halo or blend that is not a multiple of 8, or a blend not below the tile (tile_size 32
        with the default blend of 32 raised ZeroDivisionError, tile_size 36 a numpy broadcasting ValueError)."""
        for name in ("tile_pixels", "tile_size", "halo", "blend", "stats_pixels", "max_batch_pixels",
                     "max_output_bytes", "border"):
            value = getattr(self, name)
            least = 0 if name in ("halo", "blend", "border") else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise UsageError(f"InferenceSettings {name}={value!r}: a whole number of at least {least}")
            if name in ("tile_size", "halo", "blend") and value % 8:
                raise UsageError(f"InferenceSettings {name}={value}: a multiple of 8 (the network's pooling grid)")
        if self.blend >= self.tile_size:
            raise UsageError(f"InferenceSettings blend={self.blend} must be below tile_size={self.tile_size}")

    @classmethod
    def for_device(cls, device: torch.device, dtype: torch.dtype = torch.float32) -> InferenceSettings:
        """The defaults on the CPU and MPS; on CUDA, sized from the GPU's free memory.

        Half of ``GPU_MEMORY_SHARE`` of the free memory goes to what a photo holds once (encoder features,
        input: ``FIXED_BYTES_PER_PIXEL``), half to the EV steps decoded at once (``STEP_BYTES_PER_PIXEL``
        per pixel and step); both measured on the CPU in float32 (1-megapixel photo, 1 vs 4 steps) and
        halved for 16-bit features. A photo that fits runs whole (no tiling, exact statistics); a larger
        one in tiles as big as fit.
        """
        if device.type != "cuda":
            return cls()
        free, _total = torch.cuda.mem_get_info(device)
        scale = torch.finfo(dtype).bits / 32
        half_budget = free * GPU_MEMORY_SHARE / 2
        tile_pixels = int(half_budget / (FIXED_BYTES_PER_PIXEL * scale))
        side = (math.isqrt(tile_pixels) - 2 * cls.halo) // 8 * 8
        return cls(tile_pixels=max(tile_pixels, cls.tile_pixels), tile_size=max(side, cls.tile_size),
                   stats_pixels=max(tile_pixels, cls.stats_pixels),
                   max_batch_pixels=max(int(half_budget / (STEP_BYTES_PER_PIXEL * scale)), cls.max_batch_pixels))


class CEVRPredictor:
    """Exposure stacks from a :class:`ModelPair`; the ``ExposurePredictor`` protocol used by ``bench``."""

    def __init__(
        self,
        pair: ModelPair,
        device: torch.device | str = "cpu",
        *,
        precision: str = "fp32",
        settings: InferenceSettings | None = None,
    ) -> None:
        """Raises: UsageError: a device this machine has not (:func:`~cevr_cli.model.device.resolve_device`: "gpu"
        raised torch's "Expected one of cpu, cuda, ..." RuntimeError) or a precision it cannot run."""
        self.device = resolve_device(device)
        self.dtype = resolve_precision(precision, self.device, "inference")
        self.pair = pair
        # Folded from the weights as they are (float32), then moved: one fused copy per direction.
        self._fused = {d: reparameterize(getattr(pair, d)).to(self.device, self.dtype) for d in ("inc", "dec")}
        for model in (pair.inc, pair.dec):
            model.eval()
        self.settings = settings or InferenceSettings.for_device(self.device, self.dtype)
        # the --model that runs these weights, and which weights: bench's column
        self.name = f"{model_for_role(pair.config.role)}[{pair.weights_id}]"

    def describe(self) -> dict[str, Any]:
        """The model and device, as manifests record them (:func:`cevr_cli.provenance.provenance_record`)."""
        return {"model": {"name": "CEVR (Chen et al., ICCV 2023)", "variant": self.pair.config.variant,
                          "role": self.pair.config.role, "weights_id": self.pair.weights_id},
                "device": str(self.device), "precision": self.precision}

    def trained_directions(self) -> tuple[str, ...]:
        """The directions whose model is not the identity (a residual pair may be trained for darkening only)."""
        return tuple(d for d in ("dec", "inc") if not getattr(self.pair, d).is_identity())

    def residual_gain(self) -> float:
        """The scale a residual-role pair's residual is applied with, as chosen on validation when the weights
        were exported (``info["residual_gain"]``); 1 when not recorded."""
        return float(self.pair.info.get("residual_gain", 1.0))

    @torch.inference_mode()
    def iter_on_frames(self, rgb: np.ndarray, frames: Sequence[tuple[float, np.ndarray]]
                       ) -> Iterator[tuple[float, np.ndarray]]:
        """A residual-role pair's output G_s for each ``(s, P_s)``: the encoder reads the photo once per
        direction, the intensity transformations act on the physics frame P_s (:mod:`cevr_cli.exposure`).

        Untiled (callers bound the size, see ``ResidualModel``); yields in the order given, which must be
        the darkening steps first, as ``iter_predictions`` does. Photo and frames get the mirrored border.

        Raises:
            UsageError: a photo or frame that is not one (``display_codes``), a frame of another size than the photo,
                or a step as :func:`~cevr_cli.evs.check_ev_values` refuses it.
        """
        image = _check_image(rgb)
        m = self.settings.border
        h, w = image.shape[:2]
        frames = list(zip(check_ev_values([ev for ev, _ in frames]), (f for _, f in frames), strict=True))
        for ev, frame in frames:
            if np.shape(frame)[:2] != (h, w):  # a torch size error from the decoder's first product
                raise UsageError(f"the frame at EV {ev:+g} is {np.shape(frame)}, the photo {image.shape}: give frames "
                                 "of the photo's size")
        x = None
        for direction in ("dec", "inc"):
            group = [(ev, f) for ev, f in frames if (ev < 0 if direction == "dec" else ev > 0)]
            if not group:
                continue
            model = self._fused[direction]
            if x is None:
                x = self._to_tensor(_mirror_border(image, m), model.config.divisor)
            encoded = model.encode(x)
            size = max(1, self.settings.max_batch_pixels // (x.shape[2] * x.shape[3]))
            for start in range(0, len(group), size):
                chunk = group[start : start + size]
                base = torch.cat([self._to_tensor(_mirror_border(_check_image(f), m), model.config.divisor)
                                  for _, f in chunk])
                s = torch.tensor([ev for ev, _ in chunk], device=self.device)
                y = model.decode(base, encoded, s)[:, :, m : m + h, m : m + w]
                yield from zip([ev for ev, _ in chunk], _to_numpy(y), strict=True)

    @property
    def weights_id(self) -> str:
        return self.pair.weights_id

    @property
    def precision(self) -> str:
        return precision_name(self.dtype)

    def predict(self, rgb: np.ndarray, evs: Sequence[float]) -> np.ndarray:
        """All EVs at once as an (N, H, W, 3) float32 array in [0, 1] (for small images and benchmarks).

        Raises:
            UsageError: no EV, or as :func:`~cevr_cli.evs.check_ev_values`; not a photo (``display_codes``).
            WeightsError: a residual-role pair (:meth:`iter_predictions`).
        """
        evs = check_ev_values(evs, at_least_one=True)
        results = dict(self.iter_predictions(rgb, evs))
        return np.stack([results[ev] for ev in evs])

    def iter_predictions(self, rgb: np.ndarray, evs: Sequence[float]) -> Iterator[tuple[float, np.ndarray]]:
        """Yield ``(ev, image)`` pairs in ascending EV order, image float32 HxWx3 in [0, 1], freeing each after it
        is yielded: the paper's CEVR (Chen et al. 2023, Sec. 3.2), whose network re-exposes the photo itself.

        Raises:
            WeightsError: a residual-role pair, whose network re-exposes the physics frame P_s and fills only what
                the photo clipped (:mod:`cevr_cli.exposure`); run on the photo it gave frames unlike any exposure,
                without a word. ``load_exposure_model("cevr", weights)`` runs such weights, as ``--weights`` does.
        """
        if self.pair.config.role != "paper":
            raise WeightsError(f"{self.name}: residual-role weights re-expose the physics frame, not the photo; run "
                               "them with cevr_cli.exposure.load_exposure_model('cevr', weights), whose frames(...) "
                               "makes the stack (as `cevr stack --weights` does)")
        image = _check_image(rgb)
        steps = ev_steps(evs)
        darker, brighter = [e for e in steps if e < 0], [e for e in steps if e > 0]
        if darker:
            yield from self._run_model(self._fused["dec"], image, darker)
        if 0.0 in steps:  # in EV order, as a stack lists its frames (it came first)
            yield 0.0, image.copy()
        if brighter:
            yield from self._run_model(self._fused["inc"], image, brighter)

    @torch.inference_mode()
    def _run_model(self, model: FusedCEVR, image: np.ndarray, steps: list[float]) -> Iterator[tuple[float, np.ndarray]]:
        """The network's zero padding makes its outermost pixels unlike the interior (a light or dark frame of
        up to 29/255 at EV +-3): it runs on the photo with a mirrored border, which the outputs lose again."""
        cfg = self.settings
        m = cfg.border
        for ev, out in self._run_padded(model, _mirror_border(image, m), steps):
            yield ev, np.ascontiguousarray(out[m : out.shape[0] - m, m : out.shape[1] - m])

    def _run_padded(
        self, model: FusedCEVR, image: np.ndarray, steps: list[float]
    ) -> Iterator[tuple[float, np.ndarray]]:
        h, w = image.shape[:2]
        cfg = self.settings
        tiled = h * w > cfg.tile_pixels
        stats = self._record_stats(model, image, steps) if tiled else None
        per_ev_bytes = h * w * 3 * 4
        group_size = max(1, min(len(steps), cfg.max_output_bytes // per_ev_bytes))
        for start in range(0, len(steps), group_size):
            group = steps[start : start + group_size]
            index = torch.arange(start, start + len(group))
            group_stats = stats.select(index) if stats is not None else None
            if tiled:
                outputs = self._tiled(model, image, group, group_stats)
            else:
                outputs = self._whole(model, image, group, None)
            yield from zip(group, outputs, strict=True)
            del outputs

    def _to_tensor(self, image: np.ndarray, divisor: int) -> torch.Tensor:
        """The photo as a float32 (1, 3, H, W) tensor padded to a multiple of ``divisor`` (the model casts it)."""
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].to(self.device)
        return pad_to_multiple(x, divisor)

    def _chunks(self, steps: list[float], pixels: int) -> Iterator[tuple[int, torch.Tensor]]:
        size = max(1, self.settings.max_batch_pixels // max(pixels, 1))
        for start in range(0, len(steps), size):
            yield start, torch.tensor(steps[start : start + size], device=self.device)

    def _whole(
        self, model: FusedCEVR, image: np.ndarray, steps: list[float], stats: NormStats | None
    ) -> list[np.ndarray]:
        """Untiled: pad to a multiple of 8, encode once, decode the steps in chunks, crop back."""
        h, w = image.shape[:2]
        x = self._to_tensor(image, model.config.divisor)
        encoded = model.encode(x)
        outputs: list[np.ndarray] = []
        for start, s in self._chunks(steps, x.shape[2] * x.shape[3]):
            chunk_stats = stats.select(torch.arange(start, start + len(s))) if stats is not None else None
            y = model.decode(x, encoded, s, chunk_stats)[:, :, :h, :w]
            outputs.extend(_to_numpy(y))
        return outputs

    def _record_stats(self, model: FusedCEVR, image: np.ndarray, steps: list[float]) -> NormStats:
        """GroupNorm statistics of the whole photo, scaled down to at most ``stats_pixels``."""
        import cv2

        h, w = image.shape[:2]
        scale = min(1.0, math.sqrt(self.settings.stats_pixels / (h * w)))
        small = image
        if scale < 1.0:
            size = (max(8, round(w * scale)), max(8, round(h * scale)))
            small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        x = self._to_tensor(small, model.config.divisor)
        encoded = model.encode(x)
        recorded: list[NormStats] = []
        for _, s in self._chunks(steps, x.shape[2] * x.shape[3]):
            chunk = NormStats("record")
            model.decode(x, encoded, s, chunk)
            recorded.append(chunk)
        merged = NormStats("apply")
        for key in recorded[0].values:
            means = [r.values[key][0] for r in recorded]
            variances = [r.values[key][1] for r in recorded]
            if means[0].shape[0] == 1:  # the neck is normalised before s enters: shared by all steps
                merged.values[key] = (means[0], variances[0])
            else:
                merged.values[key] = (torch.cat(means), torch.cat(variances))
        return merged

    def _tiled(self, model: FusedCEVR, image: np.ndarray, steps: list[float], stats: NormStats) -> list[np.ndarray]:
        cfg = self.settings
        h, w = image.shape[:2]
        d = model.config.divisor
        # Pad once to a multiple of 8 so every tile origin stays on the network's pooling grid.
        padded = self._to_tensor(image, d)
        hp, wp = padded.shape[2:]
        acc = np.zeros((len(steps), h, w, 3), dtype=np.float32)
        weight_sum = np.zeros((h, w), dtype=np.float32)
        for y0, y1 in _tile_spans(hp, cfg.tile_size, cfg.blend):
            for x0, x1 in _tile_spans(wp, cfg.tile_size, cfg.blend):
                ty0, tx0 = max(0, y0 - cfg.halo), max(0, x0 - cfg.halo)
                ty1, tx1 = min(hp, y1 + cfg.halo), min(wp, x1 + cfg.halo)
                tile = padded[:, :, ty0:ty1, tx0:tx1]
                encoded = model.encode(tile)
                ramp = _blend_weights(y0, y1, x0, x1, hp, wp, cfg.blend)
                cy1, cx1 = min(y1, h), min(x1, w)
                if cy1 <= y0 or cx1 <= x0:
                    continue
                ramp = ramp[: cy1 - y0, : cx1 - x0]
                for start, s in self._chunks(steps, tile.shape[2] * tile.shape[3]):
                    chunk_stats = stats.select(torch.arange(start, start + len(s)))
                    y = model.decode(tile, encoded, s, chunk_stats)
                    core = y[:, :, y0 - ty0 : cy1 - ty0, x0 - tx0 : cx1 - tx0]
                    for i, out in enumerate(_to_numpy(core, clip=False)):
                        acc[start + i, y0:cy1, x0:cx1] += out * ramp[..., None]
                weight_sum[y0:cy1, x0:cx1] += ramp
        acc /= weight_sum[None, ..., None]
        np.clip(acc, 0.0, 1.0, out=acc)
        return list(acc)


def _check_image(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` as float32 codes in [0, 1] (:func:`~cevr_cli.imaging.display_codes`), at least 8 px a side."""
    image = display_codes(rgb, "image")
    if image.shape[0] < 8 or image.shape[1] < 8:
        raise UsageError(f"image of {image.shape[1]}x{image.shape[0]} px is too small (8 px minimum)")
    return image


def _mirror_border(image: np.ndarray, margin: int) -> np.ndarray:
    """``image`` with ``margin`` mirrored pixels on every side (edge pixels repeated for tiny images)."""
    if margin == 0:
        return image
    mode = "reflect" if min(image.shape[:2]) > margin else "edge"
    return np.pad(image, ((margin, margin), (margin, margin), (0, 0)), mode=mode)


def pad_to_multiple(x: torch.Tensor, divisor: int) -> torch.Tensor:
    """Reflect-pad bottom and right to a multiple of ``divisor``; callers crop the output back."""
    h, w = x.shape[2:]
    ph, pw = (-h) % divisor, (-w) % divisor
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def _to_numpy(y: torch.Tensor, clip: bool = True) -> list[np.ndarray]:
    y = y.float()
    if clip:
        y = y.clamp(0.0, 1.0)
    return list(y.permute(0, 2, 3, 1).cpu().numpy())


def _tile_spans(length: int, core: int, blend: int) -> list[tuple[int, int]]:
    """Cores of size ~``core`` covering [0, length), each overlapping the next by ``blend`` pixels."""
    if length <= core:
        return [(0, length)]
    count = math.ceil((length - blend) / (core - blend))
    stride = math.ceil((length - blend) / count / 8) * 8
    spans = []
    for i in range(count):
        start = i * stride
        spans.append((start, min(length, start + stride + blend)))
    spans[-1] = (spans[-1][0], length)
    return spans


def _blend_weights(y0: int, y1: int, x0: int, x1: int, h: int, w: int, blend: int) -> np.ndarray:
    """Separable ramp: 1 inside, rising linearly across the overlap with each neighbouring tile."""

    def axis(a0: int, a1: int, n: int) -> np.ndarray:
        ramp = np.ones(a1 - a0, dtype=np.float32)
        if blend > 0:
            rise = (np.arange(blend, dtype=np.float32) + 0.5) / blend
            if a0 > 0:
                ramp[:blend] = np.minimum(ramp[:blend], rise)
            if a1 < n:
                ramp[-blend:] = np.minimum(ramp[-blend:], rise[::-1])
        return ramp

    return axis(y0, y1, h)[:, None] * axis(x0, x1, w)[None, :]


def load_predictor(
    weights: str | os.PathLike[str] | None = None, device: str | torch.device = "auto", *, precision: str = "auto",
    settings: InferenceSettings | None = None,
) -> CEVRPredictor:
    """The shipped (or given) weights on the chosen device and precision, ready to predict."""
    from .weights import load_pair

    dev = resolve_device(device)
    return CEVRPredictor(load_pair(weights, device=dev), dev, precision=precision, settings=settings)
