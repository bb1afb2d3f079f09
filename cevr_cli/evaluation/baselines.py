"""Non-learned exposure predictors to compare CEVR against.

Both implement the one image-predictor protocol (:class:`cevr_cli.exposure.ImagePredictor`), as the CEVR
predictor does: ``name``, ``weights_id``, ``describe()``, ``iter_predictions(rgb, evs)`` and
``predict(rgb, evs) -> (N, H, W, 3)`` float32 in [0, 1], so bench and stack take any of them.

* :class:`NaiveExposure` -- the "naive exposure" baseline: undo the display curve (gamma 2.2 or
  sRGB), multiply by 2^s, clip, re-encode. It is what a camera would show if the LDR pixel values were
  the scene, so it cannot recover clipped highlights or crushed shadows.
* :class:`AkyuzExpansion` -- classic inverse tone mapping by Akyuz, Fleming, Riecke, Reinhard &
  Bulthoff, "Do HDR displays support LDR content? A psychophysical evaluation" (SIGGRAPH 2007):
  linear luminance expansion ``L = k * ((Ld - Ld_min) / (Ld_max - Ld_min))^gamma`` (the paper found
  gamma = 1 preferred), colour kept by luminance ratio. The expanded image is exposed by 2^s and
  mapped back to the display with the inverse of the same curve, giving an LDR stack.

References
----------
- Akyuz, A. O., Fleming, R., Riecke, B. E., Reinhard, E., & Bulthoff, H. H. (2007). Do HDR displays support
  LDR content? A psychophysical evaluation. ACM Transactions on Graphics, 26(3), 38.
  doi:10.1145/1276377.1276425
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import UsageError
from ..evs import check_ev_values, ev_steps
from ..imaging import display_codes, luminance
from ..response import Response, gamma_response
from ..vocabulary import DISPLAY_GAMMA

# The display curve both baselines assume of an LDR photo (the paper's gamma 2.2); ``SRGB`` is the other choice.
DISPLAY_CURVE = gamma_response(DISPLAY_GAMMA)


class _ImagePredictorMixin:
    """The rest of :class:`cevr_cli.exposure.ImagePredictor` for a baseline that implements ``predict``."""

    weights_id = None

    def describe(self) -> dict[str, Any]:
        return {"model": {"name": self.name, "weights_id": None}, "device": "cpu"}  # type: ignore[attr-defined]

    def iter_predictions(self, rgb: np.ndarray, evs: Sequence[float]) -> Iterator[tuple[float, np.ndarray]]:
        steps = ev_steps(evs)
        if steps:  # none asked, none made, as every predictor's iter_predictions
            yield from zip(steps, self.predict(rgb, steps), strict=True)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class NaiveExposure(_ImagePredictorMixin):
    """Naive exposure: linearise with the display curve, scale by 2^s, clip to [0, 1], re-encode."""

    curve: Response = DISPLAY_CURVE

    @property
    def name(self) -> str:
        return f"naive-exposure ({self.curve.name})"

    def predict(self, rgb: np.ndarray, evs: Sequence[float]) -> np.ndarray:
        linear, evs = self.curve.decode(display_codes(rgb, "image")), check_ev_values(evs, at_least_one=True)
        return np.stack([self.curve.encode(linear * np.float32(2.0**ev)) for ev in evs]).astype(np.float32)


@dataclass(frozen=True)
class AkyuzExpansion(_ImagePredictorMixin):
    """Akyuz et al. 2007 inverse tone mapping, then exposure by 2^s and the inverse expansion back.

    ``max_luminance`` is k, the HDR display's peak; it scales :meth:`expand`'s output and cancels in
    :meth:`predict`. At s = 0 the prediction is the input (up to float rounding).
    """

    gamma: float = 1.0
    max_luminance: float = 1.0
    curve: Response = DISPLAY_CURVE

    def __post_init__(self) -> None:
        if not (self.gamma > 0 and self.max_luminance > 0):
            raise UsageError("Akyuz expansion needs a positive gamma and maximum luminance")

    @property
    def name(self) -> str:
        return f"akyuz2007 (gamma {self.gamma:g}, {self.curve.name})"

    def _luminance_range(self, linear: np.ndarray) -> tuple[np.ndarray, float, float]:
        lum = luminance(linear, np.float32)
        lo, hi = float(lum.min()), float(lum.max())
        # A flat image has no range to stretch; treat it as spanning [0, its level] so it stays put.
        if hi - lo <= 1e-12:
            lo = 0.0
            hi = max(hi, 1e-12)
        return lum, lo, hi

    def expand(self, rgb: np.ndarray) -> np.ndarray:
        """The expanded (HDR) image: linear RGB whose luminance is k * normalised LDR luminance^gamma."""
        return self._expanded(self.curve.decode(display_codes(rgb, "image")))[0]

    def _expanded(self, linear: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
        """:meth:`expand` of the photo's linear RGB, with the photo's luminance and its range."""
        lum, lo, hi = self._luminance_range(linear)
        expanded = self.max_luminance * np.power(np.clip((lum - lo) / (hi - lo), 0.0, 1.0), self.gamma)
        return (linear * _ratio(expanded, lum)[..., None]).astype(np.float32), lum, lo, hi

    def predict(self, rgb: np.ndarray, evs: Sequence[float]) -> np.ndarray:
        linear = self.curve.decode(display_codes(rgb, "image"))
        hdr, lum, lo, hi = self._expanded(linear)
        hdr_lum = luminance(hdr, np.float32)
        out = []
        for ev in check_ev_values(evs, at_least_one=True):
            exposed = hdr_lum * np.float32(2.0**ev)
            # Inverse of the expansion curve: back to display luminance in the input's [lo, hi] range.
            normalised = np.maximum(exposed / self.max_luminance, 0.0)
            display_lum = lo + (hi - lo) * np.power(normalised, 1.0 / self.gamma)
            out.append(self.curve.encode(linear * _ratio(display_lum, lum)[..., None]))
        return np.stack(out).astype(np.float32)


def _ratio(new: np.ndarray, old: np.ndarray) -> np.ndarray:
    """new / old where old > 0, else 0 (black pixels stay black)."""
    safe = np.where(old > 0, old, 1.0)
    return np.where(old > 0, new / safe, 0.0).astype(np.float32)
