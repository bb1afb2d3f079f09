"""Re-exposing one image: exact physics where the photo measured the light, a model only for what it lost.

Below both stages (:mod:`cevr_cli.stack` and :mod:`cevr_cli.fuse`). A photo with response R recorded, at
every pixel it did not clip, the relative light x = R^-1(y). The same scene s stops brighter or darker is
then the physics frame

    P_s = R_out(min(2^s x, 1))

exact wherever the photo is not clipped (``R_out`` = R for photos; sRGB for RAW data, whose R is linear).
What the photo did not record is the light above white in clipped pixels (needed when darkening: it is at
least what was recorded, never less) and the detail below black in crushed shadows (brightening). When
darkening, x in the clipped pixels is first raised to the light of the hue around them
(:func:`cevr_cli.highlight_fill.fill_clipped`: never below what was recorded, unclipped channels exact), so a
clipped lamp or sky keeps its colour instead of turning into a grey plate. There a model supplies the frame,
blended in over a soft border (:func:`soft_weight`):

    frame_s = P_s + w_s (G_s - P_s),   w_s = soft mask of the clipped (s < 0) or crushed (s > 0) pixels

where G_s is the residual CEVR network's output (:class:`ResidualModel`, which starts as G_s = P_s), or the
paper's CEVR output on RAW linear data (:class:`PaperModel`). :class:`PhysicsModel` is w = 0. The residual's
darker frames are then merged into one light per clipped pixel, and each darker frame given is that light's
exact re-exposure (:meth:`ResidualModel.filled_light`), as the frames of a real bracket are of one scene.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .errors import UsageError
from .evs import check_ev_values, ev_steps
from .imaging import check_rgb, display_codes, float32_image, float_codes
from .response import SRGB, Response

if TYPE_CHECKING:
    import torch

EXACT = "exact (measured light x 2^EV)"
# Revision of how frames and HDR images are made from what a photo measured, recorded with every request so
# that outputs of an earlier revision are redone, not skipped as complete. 2: clipped pixels darkened with the
# hue of the light around them (highlight_fill), not as neutral plates. 3: the residual's darker frames are
# re-exposures of one light per clipped pixel (ResidualModel.filled_light), a frame that clipped bounds the HDR
# merge's light from below, and in lossy photos near-white channels next to a clip are lower bounds. 4: in lossy
# photos near-white pixels joined to a clip are clipped (exposure.lossy_clipping). 5: the hue fill fills pixels with
# two unclipped channels before those with one, which take their hue from them too (highlight_fill). 6: measured
# pixels the soft mask reaches keep their light within their code's (MeasuredImage.keep_measured). 7: fully clipped
# pixels are raised above their least light as far as the light rose towards the clip (highlight_fill._rise_at).
# 8: that rise from the slope of the known light around each clip, on a field of FIELD_SIDE px whatever the
# photo's size, its depth from the fully clipped pixels' edge (revision 7 read the contrast with white as a rate).
# 9: the hue fill's pyramid takes its samples symmetrically in the image (highlight_fill._reduce), not where
# cv2.pyrDown does, half a pixel per level towards the top left: the fill of a mirrored photo is the mirrored fill.
PHYSICS_REVISION = 9
# The darkening steps the residual network was trained on (s ~ U[-3, 0)): its estimate of a clipped pixel's light
# merges its frames at these, whichever frames were asked for, so a frame does not depend on the others requested.
FILL_EVS = (-3.0, -2.5, -2.0, -1.5, -1.0, -0.5)
FILL_PIXELS = 1 << 20  # pixels whose darker frames are made and merged at once (ResidualModel.filled_light)
# The residual network runs at half the photo's resolution, on at most this many pixels (512 x 512): on held-out
# views, what it gains over physics hardly depends on its resolution (network 96-384 px wide, 2-8x below 768-px views:
# within 0.04 dB at every darkening EV on camera curves, the tone-mapped HDR closer at the coarser ones; README), so
# a large photo need not pay for a finer one (a 12 MP photo's network has 4x fewer pixels than under the 1 MP used
# until 2026-12-06).
RESIDUAL_MAX_PIXELS = 1 << 18
# In a lossily compressed photo, a clipped pixel's channel this many 8-bit codes below white or closer is a lower
# bound too, and a pixel this near white joined to a clip is clipped (tests/benchmarks/bench_lossy_clipping.py: JPEG
# q75/q92 sRGB photos of the held-out views, +0.3 to +0.9 dB at -3..-1 EV over the clipped pixels for 6 codes;
# 10 gains 0.1 dB more and loses 0.2 degrees of hue more)
NEAR_WHITE_CODES = 6
EXACT_AND_MODEL = "exact, {model} where the photo clipped"
PAPER = "CEVR (paper): the network re-exposes the photo"


@dataclass
class MeasuredImage:
    """What one photo measured: relative linear light, where it did not, and how frames are encoded.

    ``linear``: float32 HxWx3, 1 = the white point. ``clipped``: bool HxW, some channel reached white (its
    light is a lower bound). ``crushed``: bool HxW, every channel at black. ``output``: the encoding of
    the frames. ``photo``: the image as decoded ([0, 1] codes), which the networks see. ``clip_code``: in a
    clipped pixel, the channels whose code is at least this recorded only a lower bound (0: every channel, as
    for a sensor's per-pixel mask). ``fill_hue``: clipped pixels take the hue of the light around them when
    darkening (:meth:`clipped_light`); False keeps their recorded value (the physics before the fill, for
    comparison).
    """

    linear: np.ndarray
    clipped: np.ndarray
    crushed: np.ndarray
    output: Response
    photo: np.ndarray
    linear_source: bool = False  # scene-linear data (camera RAW), not a display-encoded photo
    clip_code: float = 0.0
    fill_hue: bool = True
    lossy: bool = False  # decoded from a block-compressed file (JPEG, HEIF): see lower_bounds
    half_code: float = 0.0  # half a code step of ``photo`` in [0, 1] units (0: not codes, a sensor's linear data)
    _weights: dict[int, np.ndarray] = field(default_factory=dict, init=False, repr=False, compare=False)
    _clipped_light: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def clipped_fraction(self) -> float:
        return float(self.clipped.mean())

    def unrecorded(self, s: float) -> np.ndarray:
        """The pixels frame s needs and the photo did not record: clipped when darkening, crushed when brightening."""
        if s < 0:
            return self.clipped
        if s > 0:
            return self.crushed
        return np.zeros(self.clipped.shape, dtype=bool)

    def weight(self, s: float) -> np.ndarray:
        """w_s, :func:`soft_weight` of :meth:`unrecorded`; computed once per direction (a blur of the whole photo)
        and shared by every frame of that direction and by the HDR merge."""
        direction = (s > 0) - (s < 0)
        if direction not in self._weights:
            self._weights[direction] = soft_weight(self.unrecorded(s))
        return self._weights[direction]

    def lower_bounds(self) -> np.ndarray:
        """bool HxWx3: the channels that recorded only a lower bound of their light (within clipped pixels: the
        others are measured): at ``clip_code`` or above, and in a lossily compressed photo also those within
        :data:`NEAR_WHITE_CODES` of white (the codec's ringing around a clip: a sun's rim whose blue reads
        250-254 would darken pinker than the sun)."""
        if self.lossy:
            return self.photo >= min(self.clip_code, near_white())
        return self.photo >= self.clip_code

    def clipped_light(self) -> np.ndarray:
        """Nx3 float32, the light of the clipped pixels (``linear[clipped]``'s order) that darker frames show:
        the hue fill (:func:`cevr_cli.highlight_fill.fill_clipped`), or the recorded values if not ``fill_hue``;
        computed once."""
        if self._clipped_light is None:
            if self.fill_hue:
                from .highlight_fill import fill_clipped

                self._clipped_light = fill_clipped(self.linear, self.clipped, self.lower_bounds())
            else:
                self._clipped_light = self.linear[self.clipped]
        return self._clipped_light

    def keep_measured(self, light: np.ndarray, pixels: np.ndarray) -> None:
        """Clamp ``light`` (Nx3, the estimate at the flat pixel indices ``pixels``) in place to what the photo
        measured: in pixels it did not clip, each channel within the light its code can mean, R^-1(x -+ half a
        code). A blend along a clipping edge (the soft mask reaches 1-2 px past it) may move such a pixel within
        its code's bin, never out of it: an 8-bit red of 254 stays below R^-1(254.5 / 255)."""
        if not self.half_code:
            return
        measured = ~self.clipped.reshape(-1)[pixels]
        if not measured.any():
            return
        codes = self.photo.reshape(-1, 3)[pixels[measured]]
        step = np.float32(self.half_code)
        low = self.output.decode(np.clip(codes - step, 0.0, 1.0))
        high = self.output.decode(np.clip(codes + step, 0.0, 1.0))
        light[measured] = np.clip(light[measured], low, high)


def half_code(bits: int) -> float:
    """Half a code step of ``bits``-deep codes in [0, 1] units: how far a code's light may lie from its value."""
    return 0.5 / (2**bits - 1)


def clip_threshold(bits: int) -> float:
    """Codes at or above this are clipped: the top code of 8-bit photos (a wider band, codes 249-255, let the
    residual brighten measured highlights in a camera curve's shoulder: -0.4 to -1.5 dB at -0.5 EV on held-out
    curves, tests/benchmarks/eval_residual.py), the top 16 codes of 16-bit ones (sensor noise at white)."""
    return 1.0 - (0.5 / 255.0 if bits <= 8 else 16.0 / 65535.0)


def near_white() -> np.float32:
    """The lowest [0, 1] code within :data:`NEAR_WHITE_CODES` 8-bit codes of white (read when called, so that a
    benchmark can vary the constant)."""
    return np.float32(1.0 - (NEAR_WHITE_CODES + 0.5) / 255.0)


def lossy_clipping(rgb: np.ndarray, clipped: np.ndarray) -> np.ndarray:
    """The clipped pixels of a lossily compressed 8-bit photo: those at the top code, and the near-white ones
    (brightest channel within :data:`NEAR_WHITE_CODES` of white) joined to them (8-connected): the codec's ringing
    pulls clipped pixels a few codes below white, which read as measured would darken as neutral dots in the
    filled highlight (the sample's sun rim at -3 EV)."""
    import cv2

    near = (rgb.max(axis=2) >= near_white()).astype(np.uint8)
    count, labels = cv2.connectedComponents(near, connectivity=8)
    touching = np.zeros(count, dtype=bool)
    touching[labels[clipped]] = True
    touching[0] = False  # the background label: pixels that are not near white
    return touching[labels]


def measure_photo(rgb: np.ndarray, response: Response | str | os.PathLike[str], bits: int | None = None,
                  lossy: bool = False) -> MeasuredImage:
    """A display-encoded photo (HxWx3: uint8, uint16 or float [0, 1] codes, :func:`~cevr_cli.imaging.display_codes`)
    read through its response (a :class:`Response`, or its name as ``--response`` takes it: ``"srgb"``,
    ``"gamma:2.2"``, a profile's path as ``str`` or ``os.PathLike``). ``bits``: how deep its codes were (None: 16
    for a uint16 array, else 8); ``lossy``: decoded from a block-compressed file (:attr:`MeasuredImage.lossy`,
    :func:`lossy_clipping`).

    Raises:
        UsageError: not such a photo (:func:`~cevr_cli.imaging.display_codes`), or ``bits`` not a whole number
            from 1 to 16.
    """
    if not isinstance(response, Response):
        from .response import parse_response

        response = parse_response(response)
    if bits is None:
        bits = 16 if np.asarray(rgb).dtype == np.uint16 else 8
    elif isinstance(bits, bool) or not isinstance(bits, numbers.Integral) or not 1 <= bits <= 16:
        raise UsageError(f"bits {bits!r}: how deep the photo's codes were, a whole number from 1 to 16")
    rgb = display_codes(rgb)
    brightest = rgb.max(axis=2)
    clipped = brightest >= clip_threshold(bits)
    if lossy and bits <= 8 and clipped.any():
        clipped = lossy_clipping(rgb, clipped)
    crushed = brightest <= half_code(bits)
    return MeasuredImage(response.decode(rgb), clipped, crushed, response, rgb, clip_code=clip_threshold(bits),
                         lossy=lossy, half_code=half_code(bits))


def measure_linear(linear: np.ndarray, clipped: np.ndarray) -> MeasuredImage:
    """Scene-linear data (camera RAW) with the sensor's own clipping mask; frames are sRGB-encoded.

    ``linear``: floats (1 = white), or uint8 / uint16 codes read as / 255 and / 65535, as every integer image the
    library takes (:func:`~cevr_cli.imaging.unit_codes`; uint16 read as light 0..65535 made every frame white).

    Raises:
        UsageError: ``linear`` not an HxWx3 array of floats or uint8 / uint16 codes, not finite or out of float32's
            range, or ``clipped`` not an HxW mask of it.
    """
    linear = float32_image(float_codes(check_rgb(linear, "linear image"), "linear image"), "linear image")
    clipped = np.asarray(clipped)
    if clipped.shape != linear.shape[:2]:
        raise UsageError(f"clipping mask of shape {clipped.shape} for a {linear.shape[1]}x{linear.shape[0]} image: "
                         "give one bool per pixel (HxW)")
    clipped = clipped.astype(bool, copy=False)
    crushed = np.zeros(clipped.shape, dtype=bool)  # a RAW file's shadows are measured, noise and all
    # the sensor's mask is per pixel (white balance moves each channel's clip level): every channel of a
    # clipped pixel is a lower bound
    return MeasuredImage(linear, clipped, crushed, SRGB, SRGB.encode(linear), linear_source=True, clip_code=0.0)


def physics_frame(measured: MeasuredImage, s: float) -> np.ndarray:
    """P_s = R_out(min(2^s x, 1)): float32 HxWx3 codes; when darkening, x in the clipped pixels is their
    :meth:`MeasuredImage.clipped_light`.

    Raises:
        UsageError: ``s`` not a finite step within +-6 (:func:`~cevr_cli.evs.check_ev_values`; NaN made a NaN frame).
    """
    (s,) = check_ev_values([s])
    gain = np.float32(2.0**s)
    light = measured.linear * gain
    if s < 0 and measured.fill_hue and measured.clipped.any():
        light[measured.clipped] = measured.clipped_light() * gain
    return measured.output.encode(light)


def soft_weight(mask: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """1 on ``mask``, falling smoothly to 0 outside it over about 2 ``sigma`` pixels (float32 HxW).

    Twice the Gaussian-blurred mask, capped at 1: at the mask's edge the blur is about 0.5, so the weight
    meets the 1 inside without a step. ``sigma`` defaults to 0.4 % of the long side, at least 4 px.

    Raises:
        UsageError: ``sigma`` given and not a positive finite number (OpenCV's "ksize.width > 0" assertion).
    """
    import cv2

    if sigma is not None and not (isinstance(sigma, numbers.Real) and math.isfinite(sigma) and sigma > 0):
        raise UsageError(f"soft_weight sigma {sigma!r}: a positive number of pixels")
    if not mask.any():
        return np.zeros(mask.shape, dtype=np.float32)
    sigma = sigma or max(4.0, 0.004 * max(mask.shape))
    blurred = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)
    weight = np.minimum(2.0 * blurred, 1.0)
    weight[mask] = 1.0
    return weight


def compose(physics: np.ndarray, model: np.ndarray, weight: np.ndarray, s: float,
            clipped: np.ndarray) -> np.ndarray:
    """frame = P + w (G - P); when darkening, never below what a clipped pixel recorded (P is a lower bound)."""
    return blend_residual(physics, np.subtract(model, physics, dtype=np.float32), weight, s, clipped)


def blend_residual(physics: np.ndarray, residual: np.ndarray, weight: np.ndarray, s: float,
                   clipped: np.ndarray) -> np.ndarray:
    """P + w R for a residual R = G - P, which is overwritten (in place: a 24 MP frame's temporaries stay few);
    when darkening, R >= 0 where the photo clipped."""
    if s < 0:
        np.maximum(residual, 0.0, out=residual, where=clipped[..., None])
    residual *= weight[..., None]
    residual += physics
    return np.clip(residual, 0.0, 1.0, out=residual)


Frame = tuple[float, np.ndarray, str]  # (ev, frame, how it was made)


class ExposureModel(Protocol):
    """How the frames of one measured image are made: physics only, physics + residual, or the paper's CEVR."""

    name: str
    weights_id: str | None  # the network's weights (None: no network); part of every request record

    def describe(self) -> dict[str, Any]: ...

    def frames(self, measured: MeasuredImage, evs: Sequence[float]) -> Iterator[Frame]:
        """``(ev, frame, how)`` in ascending EV order; frames float32 HxWx3 codes in [0, 1]."""
        ...

    def hdr(self, measured: MeasuredImage, evs: Sequence[float], keep_frames: bool = False
             ) -> tuple[np.ndarray, list[Frame]]:
        """The HDR image of one measured photo (float32 HxWx3, its own light where it measured) and, with
        ``keep_frames``, its frames at ``evs``: one model pass serves both. A model that makes each frame on its
        own merges its frames at the darker of ``evs`` (:func:`merge_own_frames`)."""
        ...


class PhysicsModel:
    """Exact re-exposure only: P_s everywhere (darkened clipped highlights take the hue of the light around them,
    never below what they recorded)."""

    name = "physics"
    weights_id = None

    def describe(self) -> dict[str, Any]:
        return {"model": {"name": "physics: R(2^s R^-1(x)), clipped pixels filled with the hue around them and "
                                   "raised as the light around them rose, no network",
                          "weights_id": None}}

    def frames(self, measured: MeasuredImage, evs: Sequence[float]) -> Iterator[Frame]:
        for ev in ev_steps(evs):
            yield ev, physics_frame(measured, ev), EXACT

    def hdr(self, measured: MeasuredImage, evs: Sequence[float], keep_frames: bool = False
             ) -> tuple[np.ndarray, list[Frame]]:
        return measured_radiance(measured, iter(())), list(self.frames(measured, evs)) if keep_frames else []


class ImagePredictor(Protocol):
    """A network or baseline that re-exposes an image (the CEVR predictor, the naive and Akyüz baselines)."""

    name: str
    weights_id: str | None

    def describe(self) -> dict[str, Any]: ...

    def iter_predictions(self, rgb: np.ndarray, evs: Sequence[float]) -> Iterator[tuple[float, np.ndarray]]: ...

    def predict(self, rgb: np.ndarray, evs: Sequence[float]) -> np.ndarray: ...


class PaperModel:
    """The paper's CEVR (``--model cevr-paper``): on a photo, the network re-exposes it as it is, whatever its
    response (the paper's pipeline); on linear RAW data, physics where the sensor measured and the network,
    run on the EV 0 rendering, where it clipped (RAW linear mode before the residual network existed).
    """

    def __init__(self, predictor: ImagePredictor) -> None:
        self.predictor = predictor
        self.name = predictor.name
        self.weights_id = predictor.weights_id

    def describe(self) -> dict[str, Any]:
        return self.predictor.describe()

    def frames(self, measured: MeasuredImage, evs: Sequence[float]) -> Iterator[Frame]:
        if not measured.linear_source:
            for ev, image in self.predictor.iter_predictions(measured.photo, evs):
                yield ev, image, PAPER if ev else EXACT
            return
        steps = ev_steps(evs)
        needed = [ev for ev in steps if measured.unrecorded(ev).any()]
        predictions = self.predictor.iter_predictions(measured.photo, needed) if needed else iter(())
        for ev in steps:
            physics = physics_frame(measured, ev)
            if ev not in needed:
                yield ev, physics, EXACT
                continue
            predicted_ev, predicted = next(predictions)
            assert predicted_ev == ev  # predictors yield their steps in ascending order
            yield ev, compose(physics, predicted, measured.weight(ev), ev, measured.clipped), \
                EXACT_AND_MODEL.format(model="CEVR (paper)")

    def hdr(self, measured: MeasuredImage, evs: Sequence[float], keep_frames: bool = False
             ) -> tuple[np.ndarray, list[Frame]]:
        return merge_own_frames(self, measured, evs, keep_frames)


class ResidualPredictor(Protocol):
    """A physics-conditioned network: G_s from the photo and P_s (:meth:`CEVRPredictor.iter_on_frames`)."""

    name: str
    weights_id: str | None

    def describe(self) -> dict[str, Any]: ...

    def trained_directions(self) -> tuple[str, ...]: ...

    def residual_gain(self) -> float: ...

    def iter_on_frames(self, rgb: np.ndarray, frames: Sequence[tuple[float, np.ndarray]]
                       ) -> Iterator[tuple[float, np.ndarray]]: ...


class ResidualModel:
    """Physics + the residual CEVR network where the photo did not record the light.

    The network runs at ``1 / scale`` of the photo's resolution (highlight fill is low-frequency; the idea of
    HDRNet's low-resolution coefficients applied at full resolution), on at most ``max_pixels`` pixels; its
    residual G_s - P_s is upsampled and added to the full-resolution physics frame. When darkening, its frames at
    :data:`FILL_EVS` are merged into one light per clipped pixel (:meth:`filled_light`) and every darker frame
    is the exact re-exposure of that light, R_out(min(2^s L, 1)). The gain (default: the one the weights
    record, 1 if none) shrinks the network's guess towards the recorded lower bound: a clipped highlight's
    light is ambiguous, and a guess that overshoots costs more than it gains. Directions the weights were not
    trained for (an identity model) are skipped: their residual is zero.

    Raises:
        UsageError: ``scale`` not a positive finite number, ``max_pixels`` not a whole number of at least 1, or the
            gain (given, or the weights') not a finite number of at least 0 (scale NaN and max_pixels 0 failed at the
            first frame with ValueError and ZeroDivisionError; a NaN gain made NaN frames).
    """

    def __init__(self, predictor: ResidualPredictor, scale: float = 2.0, max_pixels: int = RESIDUAL_MAX_PIXELS,
                 gain: float | None = None) -> None:
        self.predictor = predictor
        self.scale = scale
        self.max_pixels = max_pixels
        self.gain = predictor.residual_gain() if gain is None else gain
        for name, value, low in (("scale", scale, 0.0), ("gain", self.gain, 0.0)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
                    or value < low or (name == "scale" and value == 0):
                raise UsageError(f"residual {name} {value!r}: a finite number "
                                 f"{'above 0' if name == 'scale' else 'of at least 0'}")
        if isinstance(max_pixels, bool) or not isinstance(max_pixels, numbers.Integral) or max_pixels < 1:
            raise UsageError(f"residual max_pixels {max_pixels!r}: a whole number of at least 1")
        self.name = predictor.name
        self.weights_id = predictor.weights_id

    def describe(self) -> dict[str, Any]:
        return {**self.predictor.describe(),
                "residual": {"scale": self.scale, "max_pixels": self.max_pixels, "gain": self.gain}}

    def _low_size(self, h: int, w: int) -> tuple[int, int]:
        factor = max(self.scale, (h * w / self.max_pixels) ** 0.5, 1.0)
        return max(8, round(h / factor)), max(8, round(w / factor))

    def _resizers(self, measured: MeasuredImage):
        """(down, up): the photo's size to the network's and back (identities when they agree)."""
        import cv2

        h, w = measured.linear.shape[:2]
        lh, lw = self._low_size(h, w)
        if (lh, lw) == (h, w):
            return (lambda im: im), (lambda im: im)
        return (lambda im: cv2.resize(im, (lw, lh), interpolation=cv2.INTER_AREA),
                lambda im: cv2.resize(im, (w, h), interpolation=cv2.INTER_LINEAR))

    def _low_residuals(self, measured: MeasuredImage, evs: Sequence[float]) -> Iterator[tuple[float, np.ndarray]]:
        """(s, G_s - P_s) at the network's resolution for each of ``evs`` (all needing the network), in order."""
        down, _ = self._resizers(measured)
        low_physics = [(ev, down(physics_frame(measured, ev))) for ev in evs]
        network = self.predictor.iter_on_frames(down(measured.photo), low_physics)
        for (ev, predicted), (physics_ev, physics) in zip(network, low_physics, strict=True):
            assert ev == physics_ev
            yield ev, predicted - physics

    def _network_frames(self, measured: MeasuredImage, evs: Sequence[float]) -> Iterator[tuple[float, np.ndarray]]:
        """P_s + gain w_s (G_s - P_s) at each of ``evs`` (all needing the network), full resolution, one at a time;
        only the network's low-resolution copies are held."""
        _, up = self._resizers(measured)
        for ev, low in self._low_residuals(measured, evs):
            residual = up(low)
            residual *= np.float32(self.gain)
            yield ev, blend_residual(physics_frame(measured, ev), residual, measured.weight(ev), ev, measured.clipped)

    def filled_light(self, measured: MeasuredImage) -> np.ndarray:
        """One light estimate per pixel: the photo's own light where it measured; in clipped pixels the network's
        darker frames at :data:`FILL_EVS` (full resolution) merged as a bracket would be (:func:`merge_darker`),
        L_net, shrunk by the gain towards the hue fill L_fill and blended in with the clipped pixels' soft mask w:
        L = L_fill + gain w (L_net - L_fill). (Merged at the network's resolution instead, the mixed pixels along
        clipping edges cost 0.4 dB at -0.5 EV on held-out camera curves.) The frames are made only where w > 0
        (elsewhere L = L_fill), :data:`FILL_PIXELS` pixels at a time, so that a 24 MP photo holds no
        full-resolution copy of them."""
        light = measured_radiance(measured, iter(()))  # L_fill: the photo's own light, the hue fill where it clipped
        low_residuals = list(self._low_residuals(measured, FILL_EVS))
        h, w = light.shape[:2]
        weight, clipped, flat = measured.weight(-1.0).reshape(-1), measured.clipped.reshape(-1), light.reshape(-1, 3)
        covered = np.flatnonzero(weight)
        for start in range(0, covered.size, FILL_PIXELS):
            pixels = covered[start:start + FILL_PIXELS]
            fill = flat[pixels]
            frames = ((ev, blend_residual(measured.output.encode(fill * np.float32(2.0**ev)),
                                          upsample_at(residual, (h, w), pixels), weight[pixels], ev, clipped[pixels]))
                      for ev, residual in low_residuals)
            merged = merge_darker(frames, measured.output.decode, fill)
            merged -= fill
            merged *= np.float32(self.gain) * weight[pixels][:, None]
            merged += fill
            measured.keep_measured(merged, pixels)
            flat[pixels] = merged
        return light

    def _fills(self, measured: MeasuredImage) -> bool:
        """Whether the network fills this photo's clipped pixels (weights trained for darkening, some clipped)."""
        return "dec" in self.predictor.trained_directions() and bool(measured.clipped.any())

    def _frames_of(self, measured: MeasuredImage, evs: Sequence[float], light: np.ndarray | None) -> Iterator[Frame]:
        """The frames at ``evs``: darker ones the re-exposures of ``light`` (None: physics), brighter ones physics
        + the network where the photo did not record what they show."""
        steps = ev_steps(evs)
        label = EXACT_AND_MODEL.format(model="CEVR residual")
        brighter = [ev for ev in steps if ev > 0 and "inc" in self.predictor.trained_directions()
                    and measured.unrecorded(ev).any()]
        network = self._network_frames(measured, brighter)
        for ev in steps:
            if ev < 0 and light is not None:
                yield ev, measured.output.encode(light * np.float32(2.0**ev)), label
            elif ev in brighter:
                yield ev, next(network)[1], label
            else:
                yield ev, physics_frame(measured, ev), EXACT

    def frames(self, measured: MeasuredImage, evs: Sequence[float]) -> Iterator[Frame]:
        # every darker frame is the exact re-exposure of one light: frames of one pixel agree with each other
        # and with the HDR image (the network's frames, taken one by one, are separate guesses)
        darkening = self._fills(measured) and any(float(ev) < 0 for ev in evs)
        yield from self._frames_of(measured, evs, self.filled_light(measured) if darkening else None)

    def hdr(self, measured: MeasuredImage, evs: Sequence[float], keep_frames: bool = False
             ) -> tuple[np.ndarray, list[Frame]]:
        """The HDR image is :meth:`filled_light` itself, the light every darker frame re-exposes."""
        filled = self.filled_light(measured) if self._fills(measured) else None
        light = filled if filled is not None else measured_radiance(measured, iter(()))
        return light, list(self._frames_of(measured, evs, filled)) if keep_frames else []


class MeasuringPredictor:
    """An exposure model seen as an image predictor (for ``bench``): each image is read through one response.

    The benchmark's inputs are bare images (no file, no EXIF), so the response is given, not chosen.
    """

    def __init__(self, model: ExposureModel, response: Response, bits: int | None = None) -> None:
        self.model, self.response, self.bits = model, response, bits  # bits: as measure_photo takes them
        self.name = f"{model.name} ({response.name})"
        self.weights_id = model.weights_id

    def describe(self) -> dict[str, Any]:
        return {**self.model.describe(), "response": self.response.describe()}

    def iter_predictions(self, rgb: np.ndarray, evs: Sequence[float]) -> Iterator[tuple[float, np.ndarray]]:
        for ev, frame, _ in self.model.frames(measure_photo(rgb, self.response, self.bits), evs):
            yield ev, frame

    def predict(self, rgb: np.ndarray, evs: Sequence[float]) -> np.ndarray:
        evs = check_ev_values(evs, at_least_one=True)
        frames = dict(self.iter_predictions(rgb, evs))
        return np.stack([frames[ev] for ev in evs])


def hat(codes: np.ndarray) -> np.ndarray:
    """Debevec & Malik's hat weighting (Eq. 4) on [0, 1] codes, kept above zero at the ends."""
    return np.maximum(1.0 - np.abs(2.0 * codes - 1.0), 1e-3).astype(np.float32)


def merge_own_frames(model: ExposureModel, measured: MeasuredImage, evs: Sequence[float], keep_frames: bool
                     ) -> tuple[np.ndarray, list[Frame]]:
    """:meth:`ExposureModel.hdr` of a model whose frames are separate guesses (the paper's CEVR): the photo's light,
    filled where it clipped from the model's frames at the darker of ``evs`` (:func:`measured_radiance`)."""
    wanted = list(evs) if keep_frames else [ev for ev in evs if ev < 0] if measured.clipped.any() else []
    frames = list(model.frames(measured, wanted))
    return measured_radiance(measured, iter([f for f in frames if f[0] < 0])), frames if keep_frames else []


def measured_radiance(measured: MeasuredImage, darker: Iterator[Frame]) -> np.ndarray:
    """The HDR image: R^-1(x) where the photo measured; in clipped pixels, filled from the darker frames (the hue
    fill alone without them).

    The fill is Debevec & Malik's weighted average (Eq. 6) of the frames' light, R_out^-1(frame) / 2^s, with
    hat weights on their codes, never below the clipped pixels' :meth:`MeasuredImage.clipped_light` (the
    hue fill, itself never below what the photo recorded) nor below white / 2^s for a frame that clipped
    (where every frame clipped, the darkest one's bound), over the clipped pixels' soft mask
    (:func:`soft_weight`). ``darker``: the model's frames at negative EVs.
    """
    radiance = measured.linear.astype(np.float32).copy()
    if not measured.clipped.any():
        return radiance
    radiance[measured.clipped] = measured.clipped_light()
    fill = merge_darker(((ev, frame) for ev, frame, _ in darker), measured.output.decode, radiance)
    if fill is None:
        return radiance
    # the darker frames carry the soft border themselves (blending again would weigh the model by w^2 there);
    # outside it they are physics, whose merge is the photo's light up to rounding: kept exact
    border = np.flatnonzero(measured.weight(-1.0))
    flat, merged = radiance.reshape(-1, 3), fill.reshape(-1, 3)[border].astype(np.float32)
    measured.keep_measured(merged, border)
    flat[border] = merged
    return radiance


def upsample_at(low: np.ndarray, size: tuple[int, int], pixels: np.ndarray) -> np.ndarray:
    """``low`` (h', w', C) resized to ``size`` (h, w) by bilinear interpolation with pixel centres aligned, as
    ``cv2.resize(..., INTER_LINEAR)`` gives it, at the flat indices ``pixels`` only: (N, C)."""
    import cv2

    h, w = size
    lh, lw = low.shape[:2]
    if (lh, lw) == (h, w) or not pixels.size:
        return low.reshape(-1, low.shape[-1])[pixels]
    y, x = np.divmod(pixels, w)
    rows = -(-pixels.size // REMAP_WIDTH)
    pad = (0, rows * REMAP_WIDTH - pixels.size)
    map_x = np.pad((x.astype(np.float32) + 0.5) * np.float32(lw / w) - 0.5, pad).reshape(rows, REMAP_WIDTH)
    map_y = np.pad((y.astype(np.float32) + 0.5) * np.float32(lh / h) - 0.5, pad).reshape(rows, REMAP_WIDTH)
    sampled = cv2.remap(low, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return sampled.reshape(-1, low.shape[-1])[: pixels.size]


REMAP_WIDTH = 4096  # cv2.remap's maps must be under 32767 on each side: the points go as rows of this many


def merge_darker(frames: Iterator[tuple[float, np.ndarray]], decode: Callable[[np.ndarray], np.ndarray],
                 floor: np.ndarray) -> np.ndarray | None:
    """Debevec & Malik's weighted average (Eq. 6) of darker frames' light, decode(frame) / 2^s, with hat weights on
    their codes, never below ``floor`` nor below white / 2^s where a frame clipped (a clipped frame says only that
    much; where every frame clipped, the darkest one's bound); None without frames."""
    total = weights = None
    at_least = floor.copy()
    for ev, frame in frames:
        if total is None:
            total, weights = np.zeros_like(floor), np.zeros_like(floor)
        w = hat(frame)
        light = decode(frame)
        light *= w
        light *= np.float32(2.0**-ev)
        total += light
        weights += w
        np.maximum(at_least, np.float32(2.0**-ev), out=at_least, where=frame >= clip_threshold(8))
    if total is None:
        return None
    np.maximum(weights, 1e-6, out=weights)
    total /= weights
    return np.maximum(total, at_least, out=total)


@dataclass(frozen=True)
class ModelSpec:
    """How to load an exposure model (what ``--model``, ``--weights``, ``--device``, ``--precision`` ask):
    picklable, so that every worker process or Ray actor of a batch loads its own copy.

    ``weights`` None: the shipped weights of the installed package, wherever that is on each machine.
    """

    name: str = "cevr"
    weights: str | None = None
    device: str = "auto"
    precision: str = "auto"

    def __post_init__(self) -> None:
        """Raises: UsageError: an unknown name, or weights for the physics model (which has no network: they
        were silently ignored, and a bench of physics scored the shipped paper weights beside it)."""
        if model_role(self.name) is None and self.weights:
            raise UsageError(f"--weights {self.weights}: --model {self.name} uses no network; leave --weights out, "
                             "or choose --model cevr or cevr-paper")

    def load(self) -> ExposureModel:
        """Raises: UsageError, WeightsError (see :func:`load_exposure_model`)."""
        return load_exposure_model(self.name, self.weights, self.device, self.precision)

    def check(self) -> None:
        """Load the model once on the CPU and let it go: the tensors checked, as a worker will load them (the
        driver of a batch whose workers load their own copy).

        Raises: UsageError, WeightsError (see :func:`load_exposure_model`).
        """
        ModelSpec(self.name, self.weights, "cpu", "auto").load()

    def check_device(self) -> None:
        """The device and precision, resolved as loading will resolve them, so that a request this machine cannot
        run fails whether or not any photo is left to do. What cannot fail (``auto`` or ``cpu`` with ``auto`` or
        ``fp32``) imports nothing; the physics model uses neither.

        Raises: UsageError (see :func:`cevr_cli.model.device.resolve_precision`).
        """
        if model_role(self.name) is None or (self.device in ("auto", "cpu") and self.precision in ("auto", "fp32")):
            return
        from .model.device import resolve_device, resolve_precision

        resolve_precision(self.precision, resolve_device(self.device), "inference")

    @cached_property
    def weights_id(self) -> str | None:
        """The id the loaded model will have, from the weights file's header, checked as loading checks it but
        for the tensors (milliseconds: a batch's request is known, and a wrong file refused, before any model is
        built). None for the physics model.

        Raises: UsageError, WeightsError (see :func:`load_exposure_model`).
        """
        role = model_role(self.name)
        if role is None:
            return None
        from .model.weights_format import read_header

        path = self.weights_path()
        header = read_header(path)
        check_role(header.config.role, role, path)
        return header.weights_id

    def weights_path(self) -> str:
        """The weights file this spec names (``--weights``, else the shipped weights of its role)."""
        from .assets import default_weights_path, residual_weights_path

        if self.weights:
            return self.weights
        return str(default_weights_path() if model_role(self.name) == "paper" else residual_weights_path())

    @property
    def accelerator(self) -> str:
        """What the model computes on (``cpu``, ``cuda``, ``mps``, or ``cuda:N``, one GPU that every worker then
        shares): ``auto`` as this machine resolves it, an explicit device as named (a Ray cluster's GPUs need not be
        on this machine); the physics model: ``cpu``."""
        if self.name == "physics":
            return "cpu"
        if self.device != "auto":
            return self.device
        from .model.device import resolve_device

        return resolve_device(self.device).type


def model_choice(model: ExposureModel | ModelSpec) -> str | None:
    """The ``--model`` name (:data:`~cevr_cli.vocabulary.EXPOSURE_MODELS`) of a loaded model or a spec; None for an
    exposure model of the library user's own making."""
    if isinstance(model, ModelSpec):
        return model.name
    kinds: tuple[tuple[type, str], ...] = ((PhysicsModel, "physics"), (PaperModel, "cevr-paper"),
                                           (ResidualModel, "cevr"))
    return next((name for kind, name in kinds if isinstance(model, kind)), None)


def batch_models(model: ExposureModel | ModelSpec, scale: Any) -> ExposureModel | ModelSpec:
    """What a batch's jobs get. A :class:`ModelSpec` is checked here by its header (:attr:`ModelSpec.weights_id`:
    a wrong weights file is one error before any output) and loaded by the job that runs the photos (this
    process's, or each worker's, after the driver's :meth:`ModelSpec.check`), so a batch with nothing left to do
    loads no model.

    Raises:
        UsageError: workers asked for with a model already loaded (it cannot be sent to them); a device or
            precision this machine cannot run (:meth:`ModelSpec.check_device`); a numbered GPU on Ray.
        WeightsError: the spec's weights file is missing, unreadable or of the other role.
    """
    if isinstance(model, ModelSpec):
        model.weights_id  # noqa: B018 - checks the weights file now, not in every worker
        if scale.ray is not None and model.device.startswith("cuda:"):
            raise UsageError(f"--ray with --device {model.device}: Ray gives each actor a GPU of its own; use "
                             "--device cuda")
        if scale.ray is None:  # a Ray cluster's devices need not be this machine's
            model.check_device()
        return model
    if not scale.runs_here("cpu"):
        raise UsageError("worker processes load their own model: pass a ModelSpec, not a loaded model")
    return model


class ModelJob:
    """What a batch job (a :class:`cevr_cli.batch.JobFactory`) does with its ``model``: loaded here (it stays in this
    process), a :class:`ModelSpec` that each process running the job loads, or None (a job that needs none)."""

    model: ExposureModel | ModelSpec | None

    @property
    def accelerator(self) -> str:
        """What the job computes on: a spec's device (:attr:`ModelSpec.accelerator`), else ``cpu``."""
        return self.model.accelerator if isinstance(self.model, ModelSpec) else "cpu"

    def check(self) -> None:
        """A spec's weights loaded once here (:meth:`ModelSpec.check`), before workers load their own."""
        if isinstance(self.model, ModelSpec):
            self.model.check()

    def loaded_model(self) -> ExposureModel | None:
        """The model, loaded in this process when the job holds a spec."""
        return self.model.load() if isinstance(self.model, ModelSpec) else self.model


def model_role(name: str) -> str | None:
    """The weights role ``--model name`` needs (:data:`cevr_cli.model.config.ROLES`); None: no weights.

    Raises:
        UsageError: an unknown name.
    """
    from .vocabulary import EXPOSURE_MODELS

    if name not in EXPOSURE_MODELS:
        raise UsageError(f"--model {name!r}: use one of {', '.join(EXPOSURE_MODELS)}")
    return None if name == "physics" else "paper" if name == "cevr-paper" else "residual"


def model_for_role(role: str) -> str:
    """The ``--model`` that takes weights of ``role``: cevr-paper the paper's, cevr (the default) the residual."""
    return "cevr-paper" if role == "paper" else "cevr"


def weights_flags(role: str, path: str | os.PathLike[str]) -> str:
    """How a user runs weights of ``role`` at ``path``: ``--weights PATH``, after ``--model cevr-paper`` for the
    paper's role (the default model would refuse them)."""
    model = model_for_role(role)
    return f"--weights {path}" if model == "cevr" else f"--model {model} --weights {path}"


def check_role(found: str, wanted: str, path: str) -> None:
    """Raises WeightsError when weights of role ``found`` are given where ``wanted`` is needed."""
    from .errors import WeightsError

    if found != wanted:
        raise WeightsError(f"{path}: these are {found}-role weights, not for --model {model_for_role(wanted)}; "
                           f"use --model {model_for_role(found)} with them")


def load_exposure_model(name: str, weights: str | os.PathLike[str] | None = None, device: str | torch.device = "auto",
                        precision: str = "auto", residual_scale: float = 2.0) -> ExposureModel:
    """The exposure model ``--model`` names (:data:`cevr_cli.vocabulary.EXPOSURE_MODELS`), on its weights.

    Raises:
        UsageError: an unknown name. WeightsError: weights missing, unreadable, or of the other role.
    """
    role = model_role(name)
    if role is None:
        return PhysicsModel()
    from .model import load_predictor

    path = ModelSpec(name, None if weights is None else os.fspath(weights)).weights_path()
    predictor = load_predictor(path, device, precision=precision)
    check_role(predictor.pair.config.role, role, path)
    return PaperModel(predictor) if role == "paper" else ResidualModel(predictor, scale=residual_scale)
