"""Stages 1 and 2 for linear sources (camera RAW, ``--raw-mode linear``): exact exposures where the sensor
measured the light, CEVR only where it clipped.

A RAW file holds linear sensor values, so the photo s stops brighter or darker is the linear image times
2^s, display-encoded (sRGB) and clipped: exact wherever the sensor did not saturate. Darker frames need
what the saturated pixels never recorded; there the CEVR darkening model, run on the EV 0 rendering,
supplies it (never below what the saturated photosites recorded, a lower bound of their light), blended
in over a soft border (:func:`soft_weight`) so that no seam shows. The HDR image is
the linear data itself (the EV 0 frame decodes to it exactly, so it is on the scale a Debevec merge of the
stack gives), with the clipped region filled from the CEVR frames by Debevec & Malik's weighted average
(Eq. 6, hat weights on the display codes, the sRGB curve as the known response).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

from .evs import CONTINUOUS_EVS
from .fuse import HDRImage
from .imaging import quantise, srgb_decode, srgb_encode
from .io.raw import LinearPhoto
from .provenance import SourceMetadata
from .stack import ExposurePredictor
from .stackdir import ExposureStack

EXACT = "exact (linear RAW data x 2^EV)"
EXACT_AND_CEVR = "exact, CEVR darkening model where the sensor clipped"


def soft_weight(mask: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """1 on ``mask``, falling smoothly to 0 outside it over about 2 ``sigma`` pixels (float32 HxW).

    Twice the Gaussian-blurred mask, capped at 1: at the mask's edge the blur is about 0.5, so the weight
    meets the 1 inside without a step. ``sigma`` defaults to 0.4 % of the long side, at least 4 px.
    """
    import cv2

    if not mask.any():
        return np.zeros(mask.shape, dtype=np.float32)
    sigma = sigma or max(4.0, 0.004 * max(mask.shape))
    blurred = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)
    weight = np.minimum(2.0 * blurred, 1.0)
    weight[mask] = 1.0
    return weight


def linear_source(photo: LinearPhoto) -> SourceMetadata:
    h, w = photo.linear.shape[:2]
    return SourceMetadata(photo.path, photo.exif, None, None, (w, h), 16)


def ev0_rendering(photo: LinearPhoto) -> np.ndarray:
    """The photo at EV 0 as a camera would show it: sRGB-encoded, clipped."""
    return srgb_encode(photo.linear)


def linear_frames(
    predictor: ExposurePredictor, photo: LinearPhoto, evs: Sequence[float],
    on_ev: Callable[[float], None] | None = None,
) -> Iterator[tuple[float, np.ndarray, str]]:
    """``(ev, frame, source)`` in EV order: frames float32 HxWx3 in [0, 1], ``source`` says how each was made."""
    darker = [float(ev) for ev in sorted(set(evs)) if ev < 0] if photo.clipped.any() else []
    predictions = predictor.iter_predictions(ev0_rendering(photo), darker) if darker else iter(())
    weight = soft_weight(photo.clipped)[..., None] if darker else None
    for ev in sorted({float(e) for e in evs}):
        exact = srgb_encode(photo.linear * np.float32(2.0**ev))
        if ev in darker:
            predicted_ev, predicted = next(predictions)
            assert predicted_ev == ev  # the predictor yields darker steps in ascending order
            # A saturated photosite recorded a lower bound of its light: never predict below it.
            frame, source = exact * (1.0 - weight) + np.maximum(predicted, exact) * weight, EXACT_AND_CEVR
        else:
            frame, source = exact, EXACT
        if on_ev:
            on_ev(ev)
        yield ev, frame.astype(np.float32), source


def linear_stack(
    predictor: ExposurePredictor, photo: LinearPhoto, evs: Sequence[float],
    on_ev: Callable[[float], None] | None = None,
) -> tuple[ExposureStack, list[str]]:
    """The stack in memory at 16 bits, and how each frame was made."""
    frames = list(linear_frames(predictor, photo, evs, on_ev))
    stack = ExposureStack([quantise(f, 16) for _, f, _ in frames], [ev for ev, _, _ in frames], 16,
                          linear_source(photo))
    return stack, [source for _, _, source in frames]


def _hat(codes: np.ndarray) -> np.ndarray:
    """Debevec & Malik's hat weighting (Eq. 4) on [0, 1] codes, kept above zero at the ends."""
    return np.maximum(1.0 - np.abs(2.0 * codes - 1.0), 1e-3)


def linear_hdr(
    predictor: ExposurePredictor, photo: LinearPhoto, evs: Sequence[float] = CONTINUOUS_EVS,
    on_ev: Callable[[float], None] | None = None,
) -> HDRImage:
    """The linear data, with the clipped region filled from CEVR's darker frames (Debevec Eq. 6)."""
    radiance = photo.linear.astype(np.float32).copy()
    darker = [float(ev) for ev in sorted(set(evs)) if ev < 0] or [ev for ev in CONTINUOUS_EVS if ev < 0]
    if photo.clipped.any():
        total = np.zeros_like(radiance)
        weights = np.zeros_like(radiance)
        for ev, frame in predictor.iter_predictions(ev0_rendering(photo), darker):
            w = _hat(frame)
            total += w * srgb_decode(frame) / np.float32(2.0**ev)
            weights += w
            if on_ev:
                on_ev(ev)
        # The clipped value is a lower bound of the light that fell there.
        fill = np.maximum(total / weights, radiance)
        weight = soft_weight(photo.clipped)[..., None]
        radiance = radiance * (1.0 - weight) + fill * weight
    return HDRImage(radiance.astype(np.float32), None, linear_source(photo))
