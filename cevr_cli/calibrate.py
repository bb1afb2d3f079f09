"""A camera's response curve from one bracket: several photos of a static scene at known relative exposures.

Three fits of the inverse response I = R^-1 (codes -> relative linear light), all on the same sampled pixels:

* ``debevec``: Debevec & Malik, "Recovering high dynamic range radiance maps from photographs"
  (SIGGRAPH 1997), Eq. 3: least squares on g = ln I with a second-difference smoothness term, solved by the
  project's own :func:`cevr_cli.hdr.debevec1997.solve_samples` on 300 pixels spread over the scene's brightness.
* ``robertson``: Robertson, Borman & Stevenson, "Dynamic range improvement through multiple exposures" (ICIP
  1999) and "Estimation-theoretic approach to dynamic range enhancement using multiple exposures" (J. Electronic
  Imaging 12(2), 2003): alternates each pixel's radiance E_i = sum_j w_ij t_j I(y_ij) / sum_j w_ij t_j^2 with
  I(m) = the mean of t_j E_i over the observations at level m; linear start, at most 30 iterations (OpenCV's
  CalibrateRobertson defaults).

* ``basis`` (default): Grossberg & Nayar, "What is the space of camera response functions?" (CVPR 2003): ln I is
  the mean plus :data:`BASIS_COMPONENTS` principal components of measured curves (our own basis,
  ``cevr_cli/data/response_basis.npz``: darktable's training curves, DoRF's 201, sRGB, gammas), the coefficients
  fitted by weighted least squares with each pixel's radiance eliminated (:func:`fit_basis`). A whole-stop
  bracket cannot see a curve error that repeats every stop; Debevec's fit, restrained only by smoothness, picks
  one up from sensor noise, the basis cannot represent one. On issue 20's bar
  (``tests/benchmarks/bench_calibrate_bar.py``: noisy 9-frame whole-stop brackets through the held-out darktable
  curves and sRGB, re-exposed by half stops) the basis fit fails 33 of 1456 cells (4 of 8 curves pass),
  Debevec's 367 (none pass), hence the default.

On synthetic 8-bit brackets through the held-out darktable camera curves, sRGB and gamma 2.2, Debevec's fit is
2.6-11x closer to the truth than Robertson's (README, ``tests/benchmarks/calibrate_accuracy.py``);
Robertson's unsmoothed iteration drifts away from the curve the longer it runs on quantised codes
(OpenCV's implementation does the same).

Either fit runs on up to 40000 pixels spread over the scene's intensities, without observations where a
channel is black or white (and, in JPEG frames, within a JPEG block of such a pixel, :func:`near_clipping`)
except the codes a channel shows only there (under a colour cast the weaker channels reach their top codes
only where the strongest clipped), and is repeated without the observations that disagree with the pixel's
other frames (:func:`outliers`:
moving objects, misregistration, compression). It then becomes one kind of table (:func:`inverse_table`):
codes on the photo's code grid (256 for 8-bit, 1024 bins of 64 codes for 16-bit), linear light 0 at code 0 and
1 at the white point (the top code, placed from where the bracket shows the top code begin,
:func:`white_point`), strictly increasing; codes no pixel reached are interpolated (a power law below the
darkest). The channels share one row, fitted on all three, when their own fits agree within
:data:`SHARED_TOLERANCE_CODES`; otherwise each keeps its own.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .assets import package_file
from .errors import InputError, OutputError, UsageError
from .evs import comma_list, ev_number
from .hdr.debevec1997 import LEVELS_16BIT, level_codes, levels_of
from .io.exif import ExifInfo
from .options import check_value, is_number, option_specs
from .response import (
    PROFILE_FORMAT,
    Response,
    camera_key,
    installed_profiles,
    profile_path,
    profile_record,
    table_response,
)
from .stage_options import StackOptions
from .vocabulary import CALIBRATION_METHODS, LOSSY_SUFFIXES, MAX_MEGAPIXELS

if TYPE_CHECKING:
    from .io.images import PhotoHeader

METHODS = tuple(CALIBRATION_METHODS)  # ("debevec", "robertson", "basis")
JPEG_SPREAD = 8  # px: a JPEG block
SHARED_TOLERANCE_CODES = 2.0  # channels whose curves differ by at most this (8-bit codes) share one row
CANDIDATES = 160_000  # pixel locations read from every frame
MAX_SAMPLES = 40_000  # of which at most this many, spread over the scene's intensities, enter a fit
DEBEVEC_SAMPLES = 300  # rows of Debevec & Malik's dense least-squares system
DEBEVEC_LAMBDA = 10.0
ROBERTSON_ITERATIONS = 30
ROBERTSON_TOLERANCE = 0.01
LOW_LEVELS_FOR_EXTRAPOLATION = 8
OUTLIER_CODES = 3.0
OUTLIER_NOISE = 0.05  # 5 % in light
OUTLIER_ROUNDS = 2
RESIDUAL_LIMIT_CODES = 8.0  # RMS, 8-bit codes: noisy synthetic brackets (bench_calibrate_bar.py) fit within 0.8 .. 2
MAX_BRACKET_EV = 100.0  # |EV|: 2^EV stays a plain float (2^-1100 is 0, 2^1100 inf); cameras span about 50 stops
OUTLIERS_WORTH_A_WARNING = 0.5  # share left out: one frame with half its area changed leaves 74 % out, yet fits
DISAGREEING_FRAMES = ("the frames do not agree with one curve at these EVs: check the EVs, and that neither the "
                      "scene nor the camera moved")


@dataclass(frozen=True)
class Fit:
    """The table fitted to a bracket, before it becomes a :class:`Response`."""

    positions: np.ndarray  # (L,) code of each level in [0, 1]
    linear: np.ndarray  # (1 or 3, L) relative linear light, 0 .. 1
    shared: bool
    residual_codes: float  # RMS, 8-bit codes: the codes kept against R(t_j E_i) with E_i merged through the fit
    samples: int
    covered: tuple[float, float]  # lowest and highest code (0..1) a well-exposed sample reached
    rejected: float = 0.0  # fraction of the usable observations left out as outliers


@dataclass(frozen=True)
class Calibration:
    """A fitted response and how it was obtained (what a profile records)."""

    response: Response
    make: str | None
    model: str | None
    method: str
    evs: tuple[float, ...]
    frames: tuple[str, ...]
    bit_depth: int
    fit: Fit

    def warnings(self) -> list[str]:
        """What the user should check before trusting the profile."""
        if self.fit.rejected > OUTLIERS_WORTH_A_WARNING:
            return [f"{self.fit.rejected:.0%} of the readings disagree with their pixel's other frames and were left "
                    "out: check that neither the scene nor the camera moved, and that all frames show one scene"]
        return []

    def record(self) -> dict[str, Any]:
        """The profile document: :func:`cevr_cli.response.profile_record` plus how it was fitted."""
        return profile_record(self.response, self.make, self.model, self.method, {
            "evs": [round(v, 6) for v in self.evs],
            "frames": len(self.frames),
            "files": [Path(f).name for f in self.frames],
            "bit_depth": self.bit_depth,
            "channels": "shared" if self.fit.shared else "per-channel",
            "residual_codes_rms": round(self.fit.residual_codes, 4),
            "samples": self.fit.samples,
            "covered_codes": [round(c, 6) for c in self.fit.covered],
            "outliers": round(self.fit.rejected, 6),
        })


# --- EVs -------------------------------------------------------------------------------------------------------

def parse_bracket_evs(spec: str) -> list[float]:
    """A bracket's relative EVs in the order of its frames: a comma list (``-2,0,2``) or ``start:stop:step``
    (inclusive of stop; a negative step counts down).

    Unlike :func:`cevr_cli.evs.parse_evs` the order is kept, duplicates are left for :func:`check_bracket` to
    name, and any range is allowed (a bracket may span more than the model's +-6 EV).

    Raises:
        UsageError: unreadable, empty, an empty item (``-2,,2``), non-finite, or a range with a zero step or going
            the wrong way.
    """
    text = spec.strip()
    try:
        if ":" in text:
            start, stop, step = (ev_number(p) for p in text.split(":"))
            if step == 0 or not all(map(math.isfinite, (start, stop, step))) or (stop - start) * step < 0:
                raise UsageError(f"--evs {spec!r}: need a non-zero step that goes from start towards stop")
            count = math.floor((stop - start) / step + 1e-9) + 1
            if count > 1000:
                raise UsageError(f"--evs {spec!r}: {count} frames is not a bracket")
            values = [start + i * step for i in range(count)]
        else:
            values = comma_list(text, f"--evs {spec!r}")
    except ValueError:
        raise UsageError(f"--evs {spec!r}: write a comma list (e.g. -2,0,2) or start:stop:step (e.g. -4:4:1)") from None
    if not values or not all(map(math.isfinite, values)):
        raise UsageError(f"--evs {spec!r}: need finite numbers, one per frame")
    return [round(v, 6) + 0.0 for v in values]


def evs_from_exif(exposures: Sequence[ExifInfo | None], names: Sequence[str]) -> list[float]:
    """Relative EVs from each frame's EXIF exposure time, aperture and ISO: ev_j = EV100_first - EV100_j, so more
    light is positive and the first frame is 0. An aperture or ISO that no frame records is taken as the same in
    every frame (a manual lens writes no FNumber; a bracket varies the exposure time); the exposure time is needed.

    Raises:
        UsageError: a frame without its exposure time, or without an aperture or ISO that other frames record
            (named).
    """
    recorded = {name: any(getattr(e, name, None) for e in exposures) for name in ("f_number", "iso")}
    missing = [frame for frame, e in zip(names, exposures, strict=True)
               if not (e and e.exposure_time) or any(on and not getattr(e, f) for f, on in recorded.items())]
    if missing:
        raise UsageError(f"no --evs and no EXIF exposure time, aperture and ISO in {', '.join(missing)}: "
                         "give the bracket's EVs with --evs (e.g. --evs -2,0,2)")
    ev100 = [ExifInfo(exposure_time=e.exposure_time, f_number=e.f_number if recorded["f_number"] else 1.0,
                      iso=e.iso if recorded["iso"] else 100.0).exposure_value() for e in exposures]
    return [round(float(ev100[0]) - float(v), 6) + 0.0 for v in ev100]  # type: ignore[arg-type]


def need_a_bracket(frames: int, names: Sequence[str] | None = None) -> None:
    """Refuse fewer than two frames, naming the one photo given where ``names`` says which.

    Raises:
        UsageError: fewer than two frames.
    """
    if frames < 2:
        only = f"{names[0]} is the only photo given: " if names is not None and len(names) == 1 else ""
        raise UsageError(f"{only}calibrating needs a bracket: at least two photos of one scene at different exposures")


def check_bracket(evs: Sequence[float], frames: int, names: Sequence[str] | None = None) -> None:
    """At least two frames, one EV each, every EV a finite number (not a string: :func:`parse_bracket_evs` reads
    ``'-2,0,2'``) within +-:data:`MAX_BRACKET_EV`, no two within 0.01 EV. ``names``: the frames' names, in the EVs'
    order, for the message that names the two frames of one EV (EVs read from EXIF are relative to the first
    frame: the number alone does not say which frames they are).

    Raises:
        UsageError: otherwise.
    """
    need_a_bracket(frames, names)
    if isinstance(evs, str | bytes) or not all(is_number(ev) and math.isfinite(ev) for ev in evs):
        raise UsageError(f"bracket EVs {evs!r}: give finite numbers, one per frame (parse_bracket_evs reads "
                         "'-2,0,2')")
    if len(evs) != frames:
        raise UsageError(f"{len(evs)} EVs for {frames} frames: give one EV per frame, in the frames' order")
    far = [ev for ev in evs if abs(ev) > MAX_BRACKET_EV]
    if far:
        raise UsageError(f"bracket EV {far[0]:+g} is out of range: a frame's EV is its exposure in stops relative to "
                         f"the others, from {-MAX_BRACKET_EV:g} to {MAX_BRACKET_EV:+g}")
    order = sorted(range(len(evs)), key=lambda j: evs[j])
    for a, b in zip(order, order[1:], strict=False):
        if evs[b] - evs[a] < 0.01:
            which = f" ({names[min(a, b)]} and {names[max(a, b)]})" if names is not None else ""
            raise UsageError(f"two frames have the same EV ({evs[a]:+g}){which}: each frame of a bracket needs its "
                             "own exposure")


def check_exposure_order(sample: np.ndarray, evs: Sequence[float], n_levels: int,
                         names: Sequence[str] | None = None) -> None:
    """Each frame brighter than the frame one EV step below it, as its EV says: of the observations well exposed
    in both (levels 1 .. top - 1 of ``sample``, (N, P, 3)), more must rise than fall. EVs given in another order
    than the frames, or one exposure given twice, fail here, before a fit that would only reflect them (frames
    of different scenes may pass, and are then caught by their outliers, :meth:`Calibration.warnings`).

    Raises:
        UsageError: a frame that is not brighter than the one below it, both named.
    """
    top = n_levels - 1
    names = list(names) if names is not None else [f"frame {j + 1}" for j in range(sample.shape[1])]
    order = np.argsort(np.asarray(evs, dtype=np.float64), kind="stable")
    for a, b in zip(order[:-1], order[1:], strict=True):
        darker, brighter = sample[:, a], sample[:, b]
        both = (darker > 0) & (darker < top) & (brighter > 0) & (brighter < top)
        if not both.any():
            continue  # no overlap to compare: the fit says whether the bracket is usable
        rise = np.count_nonzero(brighter[both] > darker[both])
        fall = np.count_nonzero(brighter[both] < darker[both])
        if rise <= fall:
            raise UsageError(f"{names[b]} (EV {evs[b]:+g}) is not brighter than {names[a]} (EV {evs[a]:+g}): give "
                             "the EVs in the frames' order (more light positive), for photos of one scene at "
                             "different exposures")


# --- sampling --------------------------------------------------------------------------------------------------

def level_positions(bit_depth: int) -> np.ndarray:
    """Each level's place on the code axis [0, 1]: code/255 for 8-bit; the bin centres for 16-bit, with the
    first and last level pinned to 0 and 1 (black and the white point)."""
    positions = level_codes(bit_depth) / float(2**bit_depth - 1)
    positions[0], positions[-1] = 0.0, 1.0
    return positions


def top_boundary(bit_depth: int) -> float:
    """Where on the code axis the top level begins: code 254.5 of 255 (rounding), or for 16-bit code 65471.5
    of 65535 (the first code of the top 64-code bin, less half a code)."""
    if bit_depth == 8:
        return 254.5 / 255.0
    return ((LEVELS_16BIT - 1) * (65536 // LEVELS_16BIT) - 0.5) / 65535.0


def candidate_locations(height: int, width: int, limit: int = CANDIDATES, seed: int = 0) -> np.ndarray:
    """Up to ``limit`` flat pixel indices drawn at random (seeded), sorted; every pixel of a small frame."""
    n = height * width
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def spread_samples(sample: np.ndarray, n_levels: int, limit: int = MAX_SAMPLES) -> np.ndarray:
    """Rows of ``sample`` (N, P, 3 levels) to fit on: those well exposed in some frame, at most
    ``limit / n_levels`` per mean level of the middle frame (large flat areas must not crowd out the rest),
    topped up in order if that leaves room."""
    top = n_levels - 1
    useful = np.flatnonzero(((sample > 0) & (sample < top)).all(axis=2).any(axis=1))
    if useful.size <= limit:
        return useful
    middle = sample[useful, sample.shape[1] // 2].mean(axis=1).astype(np.intp)
    order = np.argsort(middle, kind="stable")
    ranked = middle[order]
    rank_in_level = np.arange(ranked.size) - np.searchsorted(ranked, ranked, side="left")
    keep = rank_in_level < max(1, limit // n_levels)
    chosen = order[keep]
    if chosen.size < limit:
        chosen = np.concatenate([chosen, order[~keep][: limit - chosen.size]])
    return np.sort(useful[chosen[:limit]])


def near_clipping(codes: np.ndarray, radius: int = JPEG_SPREAD) -> np.ndarray:
    """HxW: pixels within ``radius`` of one with a channel black or white. In a JPEG the codes there are
    unreliable: the DCT blocks (8x8, 16x16 for subsampled colour) spread the clipped values' error over their
    neighbours, and the decoder clamps it at 0 and at white, so light above white shows as 250..254 as well
    as 255, which would bias the fitted curve up near the top."""
    import cv2

    top = 255 if codes.dtype == np.uint8 else 65535
    clipped = ((codes == 0) | (codes == top)).any(axis=2).astype(np.uint8)
    return cv2.dilate(clipped, np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)).astype(bool)


# --- fits of one channel ---------------------------------------------------------------------------------------

def debevec_rows(levels: np.ndarray, limit: int = DEBEVEC_SAMPLES) -> np.ndarray:
    """Up to ``limit`` rows of ``levels`` (N, P; 0 = unusable) for Debevec & Malik's dense solve, spread evenly
    over the scene's brightness (a pixel's summed levels grow with its radiance), as the paper asks of its
    hand-picked pixels."""
    useful = np.flatnonzero((levels > 0).any(axis=1))
    if useful.size <= limit:
        return useful
    brightness = levels[useful].sum(axis=1).astype(np.float64)
    order = np.argsort(brightness, kind="stable")
    ranked = brightness[order]
    chosen = np.unique(np.clip(np.searchsorted(ranked, np.linspace(ranked[0], ranked[-1], limit)), 0, ranked.size - 1))
    if chosen.size < limit:  # ties in brightness: top up with evenly spaced ranks
        extra = np.setdiff1d(np.linspace(0, ranked.size - 1, limit).astype(np.intp), chosen)
        chosen = np.unique(np.concatenate([chosen, extra[: limit - chosen.size]]))
    return useful[order[chosen]]


def fit_debevec(levels: np.ndarray, times: np.ndarray, n_levels: int) -> np.ndarray:
    """Debevec & Malik's g (Eq. 3, lambda 10) for one channel as linear light exp(g) per level (n_levels,)."""
    from .hdr.debevec1997 import solve_samples

    g = solve_samples(levels[debevec_rows(levels)], times, n_levels, DEBEVEC_LAMBDA)
    return np.exp(g - g.max())


def robertson_weights(n_levels: int) -> np.ndarray:
    """Robertson et al.'s certainty w(m) = exp(-4 (m - c)^2 / c^2), c the middle level (2003, Sec. 3), 0 at
    black and white (levels 0 and top measure no light)."""
    m = np.arange(n_levels, dtype=np.float64)
    c = (n_levels - 1) / 2.0
    w = np.exp(-4.0 * (m - c) ** 2 / c**2)
    w[0] = w[-1] = 0.0
    return w


def fit_robertson(levels: np.ndarray, times: np.ndarray, n_levels: int) -> np.ndarray:
    """Robertson et al.'s iteration for one channel: the mean light per level (n_levels,), NaN where no
    well-exposed observation fell, normalised at the middle observed level."""
    w = robertson_weights(n_levels)[levels]
    t = np.broadcast_to(times, levels.shape)
    valid = w > 0
    flat = levels[valid]
    counts = np.bincount(flat, minlength=n_levels)
    seen = counts > 0
    inverse = np.where(seen, np.arange(n_levels) / (n_levels - 1), np.nan)
    anchor = int(np.flatnonzero(seen)[np.count_nonzero(seen) // 2])
    wt2 = np.maximum((w * t * t).sum(axis=1), 1e-300)
    for _ in range(ROBERTSON_ITERATIONS):
        radiance = (w * t * np.nan_to_num(inverse[levels])).sum(axis=1) / wt2
        sums = np.bincount(flat, weights=(t * radiance[:, None])[valid], minlength=n_levels)
        updated = np.where(seen, sums / np.maximum(counts, 1), np.nan)
        updated /= updated[anchor]
        change = np.nanmax(np.abs(updated - inverse) / updated)
        inverse = updated
        if change < ROBERTSON_TOLERANCE:
            break
    return inverse


BASIS_COMPONENTS = 12  # of the npz's 16: measured best of 4..16 on noisy whole-stop brackets (README)
BASIS_MONOTONE_ROUNDS = 8
TOO_FEW_CODES = "the bracket reaches too few codes to fit a curve: photograph a scene with a range of tones"
NO_OVERLAP = ("no pixel is well exposed (neither black nor white) in two frames: the bracket's exposures are too far "
              "apart for its scene, or its frames too bright or too dark")
BASIS_MIN_SLOPE = 1e-3  # ln light per code of the 1023-code basis grid: the fitted g must rise at least this
BASIS_REFERENCE_GAMMA = 2.2
TOP_SUPPORT = 20  # readings: above the level where the 20 highest begin, the basis curve is extended as a line
BASIS_RIDGE = 1e-6  # relative to the normal matrix's trace: keeps a bracket that sees few codes solvable


@cache
def response_basis() -> dict[str, np.ndarray]:
    """The basis of log inverse responses (``cevr_cli/data/response_basis.npz``, see ``cevr_cli/data/README.md``):
    ``codes`` (1023,) codes 1/1023 .. 1, ``mean`` (1023,) and ``components`` (K, 1023) of g = ln f^-1 there."""
    with np.load(package_file("data", "response_basis.npz"), allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def basis_on(positions: np.ndarray, components: int = BASIS_COMPONENTS) -> tuple[np.ndarray, np.ndarray]:
    """The basis's mean (L,) and first ``components`` rows (K, L) at code positions in (0, 1] (linear
    interpolation; below the first basis code, the line through the first two)."""
    basis = response_basis()
    codes = basis["codes"].astype(np.float64)
    rows = np.vstack([basis["mean"], basis["components"][:components]]).astype(np.float64)
    out = np.stack([np.interp(positions, codes, r) for r in rows])
    low = positions < codes[0]
    if low.any():
        slope = (rows[:, 1] - rows[:, 0]) / (codes[1] - codes[0])
        out[:, low] = rows[:, :1] + slope[:, None] * (positions[low] - codes[0])
    return out[0], out[1:]


def fit_basis(levels: np.ndarray, times: np.ndarray, n_levels: int) -> np.ndarray:
    """The basis fit for one channel: g = ln f^-1 = mean + H^T c (Grossberg & Nayar 2003's model, our own
    basis), as linear light per level (n_levels,), 0 at level 0 and 1 at the top level.

    Weighted least squares on sum_ij w_ij^2 (g(z_ij) - ln E_i - ln t_j)^2 over the usable observations (levels
    1 .. top - 1) of pixels with at least two, ln E_i eliminated (for a given c it is the w^2-weighted mean of
    g(z_ij) - ln t_j over the pixel's frames), so the normal equations are K x K. w_ij = 1 / g'(z_ij) per 8-bit
    code turns a log-light residual into codes, g' of the power law 2.2 (the mean curve's own slope is steep at
    the top, where a few curves end in a jump, and re-weighting by the fitted slope measured worse). A curve
    error that repeats every stop, which a bracket of whole stops cannot see, lies outside the few smooth
    components. g is held increasing on the basis's grid by a penalty on the steps that rise less than
    BASIS_MIN_SLOPE, accumulated over at most BASIS_MONOTONE_ROUNDS rounds: a soft constraint, so a noisy bracket
    may still leave small falls (two frames, 4-code noise: 67 steps, the largest -0.016 of white), which
    :func:`inverse_table` takes out of the profile's table.
    """
    basis = response_basis()
    grid_mean = basis["mean"].astype(np.float64)
    grid_h = basis["components"][:BASIS_COMPONENTS].astype(np.float64)
    inner = np.clip(level_positions(8 if n_levels == 256 else 16), 1e-6, 1.0)
    mean, h = basis_on(inner, BASIS_COMPONENTS)
    usable = (levels > 0) & (levels < n_levels - 1)
    keep = usable.sum(axis=1) >= 2
    levels, usable = levels[keep], usable[keep]
    if levels.shape[0] == 0:
        raise UsageError(NO_OVERLAP)
    slope = BASIS_REFERENCE_GAMMA / inner / 255.0
    w2 = np.where(usable, 1.0 / slope[levels] ** 2, 0.0)
    total = w2.sum(axis=1)
    y = mean[levels] - np.log(times)
    # With x_ij = h(z_ij) and x_i their w^2-weighted mean over the pixel's frames, the normal equations
    # sum_ij w^2 (x_ij - x_i)(x_ij - x_i)^T c = -sum_ij w^2 (x_ij - x_i) y_ij are summed per level and per pixel:
    h_t = h.T
    pixel = np.zeros((levels.shape[0], h.shape[0]))
    for j in range(levels.shape[1]):
        pixel += w2[:, j, None] * h_t[levels[:, j]]  # sum_j w^2 h(z_ij) = W_i x_i
    flat_levels = levels.reshape(-1)
    per_level = np.bincount(flat_levels, weights=w2.reshape(-1), minlength=n_levels)
    per_level_y = np.bincount(flat_levels, weights=(w2 * y).reshape(-1), minlength=n_levels)
    scaled = pixel / total[:, None]
    a = h @ (per_level[:, None] * h_t) - scaled.T @ pixel
    b = -(h @ per_level_y - scaled.T @ (w2 * y).sum(axis=1))
    a += BASIS_RIDGE * np.trace(a) / a.shape[0] * np.eye(a.shape[0])
    penalty = 1e3 * np.trace(a) / a.shape[0]
    rise_mean, rise_h = np.diff(grid_mean), np.diff(grid_h, axis=1)
    flat = np.zeros(rise_mean.size, dtype=bool)
    for _ in range(BASIS_MONOTONE_ROUNDS):
        d_mean, d_h = rise_mean[flat], rise_h[:, flat]
        c = np.linalg.solve(a + penalty * d_h @ d_h.T, b + penalty * d_h @ (BASIS_MIN_SLOPE - d_mean))
        new = (rise_mean + c @ rise_h < BASIS_MIN_SLOPE) & ~flat
        if not new.any():
            break
        flat |= new
    light = np.exp(mean + c @ h)
    light[0] = 0.0
    return light / light[-1]


def merge_light(levels: np.ndarray, times: np.ndarray, inverse: np.ndarray) -> np.ndarray:
    """E_i per pixel from its well-exposed observations through an inverse response: the hat-weighted mean of
    I(y_ij) / t_j (Debevec & Malik's Eq. 6 in linear light); NaN where no observation is well exposed."""
    n_levels = inverse.size
    value = inverse[levels]
    w = np.where(np.isfinite(value), np.minimum(levels, n_levels - 1 - levels), 0).astype(np.float64)
    total = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (w * np.nan_to_num(value) / times).sum(axis=1) / total, np.nan)


def white_point(raw: np.ndarray, levels: np.ndarray, times: np.ndarray, radiance: np.ndarray,
                positions: np.ndarray, bit_depth: int) -> float | None:
    """The inverse response at the top code, from where the bracket shows the top code begin.

    A pixel's light in a frame where it shows the top level (in ``raw``) or the one below (in ``levels``, the
    observations kept for the fit) is known from its other frames (``radiance`` t_j). The light between the
    two levels is the threshold with the fewest observations on its wrong side; the table interpolates
    linearly from the level below (the mean light seen there) to the top code, so it must reach that threshold
    at the boundary between the two levels, which fixes the top value. None without observations on both
    sides. (Light that first saturates the top code is never observed: a shoulder that flattens within the
    last code is invisible to any bracket.)
    """
    top = positions.size - 1
    light = radiance[:, None] * times
    ok = np.isfinite(light)
    high = np.sort(light[(raw == top) & ok])
    below = np.sort(light[(raw == top - 1) & ok])
    if high.size == 0 or below.size == 0:
        return None
    candidates = np.concatenate([high, below])
    wrong = np.searchsorted(high, candidates) + below.size - np.searchsorted(below, candidates)
    threshold = float(np.median(candidates[wrong == wrong.min()]))
    mean_below = float(below.mean())
    ratio = (1.0 - positions[top - 1]) / (top_boundary(bit_depth) - positions[top - 1])
    return mean_below + (threshold - mean_below) * ratio


def inverse_table(inverse: np.ndarray, counts: np.ndarray, positions: np.ndarray,
                  white: float | None = None) -> np.ndarray:
    """A fitted inverse response per level -> a table row: 0 at code 0, 1 at the white point (top code),
    strictly increasing.

    Only levels with observations (``counts`` > 0; never 0 or top) count. Between them log light is interpolated
    linearly in code; below the darkest it follows a power law x ~ code^k, k fitted on the darkest observed
    levels (clamped to 0.5..4); the top code takes ``white`` (:func:`white_point`) when that lies above the
    highest observed level, else the line through the two highest observed levels. Monotonicity is forced by a
    running minimum from the top down, then a minimal step.

    Raises:
        UsageError: fewer than three observed levels.
    """
    n = inverse.size
    seen = (counts > 0) & np.isfinite(inverse) & (inverse > 0)
    seen[0] = seen[-1] = False
    index = np.flatnonzero(seen)
    if index.size < 3:
        raise UsageError(TOO_FEW_CODES)
    filled = np.empty(n)
    inside = np.arange(index[0], index[-1] + 1)
    filled[inside] = np.exp(np.interp(positions[inside], positions[index], np.log(inverse[index])))
    low = index[:LOW_LEVELS_FOR_EXTRAPOLATION]
    exponent = float(np.polyfit(np.log(positions[low]), np.log(inverse[low]), 1)[0])
    exponent = min(max(exponent, 0.5), 4.0)
    below = np.arange(1, index[0])
    filled[below] = inverse[index[0]] * (positions[below] / positions[index[0]]) ** exponent
    last, before = index[-1], index[-2]
    above = np.arange(last + 1, n)
    slope = max((inverse[last] - inverse[before]) / (positions[last] - positions[before]), 0.0)
    filled[above] = inverse[last] + slope * (positions[above] - positions[last])
    if white is not None and last == n - 2 and white > inverse[last]:
        filled[-1] = white
    filled[0] = 0.0
    filled = np.minimum.accumulate(filled[::-1] / filled[-1])[::-1]
    step = 1e-9
    for k in range(1, n):
        filled[k] = max(filled[k], filled[k - 1] + step)
    filled /= filled[-1]
    filled[0] = 0.0
    return filled


def outliers(levels: np.ndarray, times: np.ndarray, inverse: np.ndarray) -> np.ndarray:
    """Observations (N, P) that disagree with the pixel's other frames by more than quantisation and noise allow.

    Each observation's light I(y_ij) is compared with t_j E_i, E_i merged from the pixel's other well-exposed
    frames (:func:`merge_light` leaving that frame out); it is an outlier when the log difference exceeds
    :data:`OUTLIER_CODES` times the log-light width of one code there, plus :data:`OUTLIER_NOISE`. This drops
    what one frame recorded differently from the rest: JPEG ringing that spills codes just below white out of
    clipped areas (light far above white recorded as 253 or 254), moving objects, misregistered edges.
    """
    n_levels = inverse.size
    log_i = np.log(np.where(np.isfinite(inverse) & (inverse > 0), inverse, np.nan))
    value = log_i[levels]
    usable = np.isfinite(value) & (levels > 0) & (levels < n_levels - 1)
    w = np.where(usable, np.minimum(levels, n_levels - 1 - levels), 0).astype(np.float64)
    light = np.where(usable, np.exp(np.nan_to_num(value)) / times, 0.0)
    others = w.sum(axis=1, keepdims=True) - w
    with np.errstate(invalid="ignore", divide="ignore"):
        merged = ((w * light).sum(axis=1, keepdims=True) - w * light) / others
        difference = np.abs(value - np.log(merged * times))
    filled = np.where(np.isfinite(log_i), log_i, np.interp(np.arange(n_levels), np.flatnonzero(np.isfinite(log_i)),
                                                           log_i[np.isfinite(log_i)]))
    lower = filled[np.clip(np.arange(n_levels) - 1, 1, n_levels - 2)]
    upper = filled[np.clip(np.arange(n_levels) + 1, 1, n_levels - 2)]
    width = np.maximum((upper - lower) / 2.0, 0.0)
    tolerance = OUTLIER_CODES * width[levels] + OUTLIER_NOISE
    return usable & (others > 0) & np.isfinite(difference) & (difference > tolerance)


def fit_channel(levels: np.ndarray, raw: np.ndarray, times: np.ndarray, bit_depth: int,
                method: str) -> tuple[np.ndarray, np.ndarray]:
    """One table row from one channel's samples, and the observations it kept.

    ``levels`` (N, P) holds unusable observations at level 0, ``raw`` the same unmasked (for the white point).
    The fit is repeated :data:`OUTLIER_ROUNDS` times, each without the previous fit's :func:`outliers`.
    """
    positions = level_positions(bit_depth)
    n_levels = positions.size
    method_fit = {"debevec": fit_debevec, "robertson": fit_robertson, "basis": fit_basis}[method]

    def fitter(levels: np.ndarray, times: np.ndarray, n_levels: int) -> np.ndarray:
        # a curve is known only from pixels seen in two frames: without one, a fit is only its prior or smoothness
        if not np.any(np.count_nonzero((levels > 0) & (levels < n_levels - 1), axis=1) >= 2):
            raise UsageError(NO_OVERLAP)
        return method_fit(levels, times, n_levels)

    inverse = fitter(levels, times, n_levels)
    for _ in range(OUTLIER_ROUNDS):
        rejected = outliers(levels, times, inverse)
        if not rejected.any():
            break
        levels = np.where(rejected, 0, levels)
        try:
            inverse = fitter(levels, times, n_levels)
        except UsageError:  # every pixel disagreed with its other frames: they do not fit their EVs
            raise UsageError(DISAGREEING_FRAMES) from None
    white = white_point(raw, levels, times, merge_light(levels, times, inverse), positions, bit_depth)
    counts = np.bincount(levels.reshape(-1), minlength=n_levels)
    if method == "basis":  # the basis curve is defined at every code up to where readings stop supporting it
        top = supported_top(counts)
        counts[: top + 1], counts[top + 1:] = 1, 0
    counts[0] = counts[-1] = 0
    return inverse_table(inverse, counts, positions, white), levels


def supported_top(counts: np.ndarray, support: int = TOP_SUPPORT) -> int:
    """The highest level below which the top readings begin: the level at which the ``support`` highest readings
    (``counts`` per level, level 0 and the top not counted) are reached. Above it the basis curve has little to
    hold it: in JPEG brackets the codes near white are left out (:func:`near_clipping`), and there its components
    (a few measured curves end in a jump) bent the fit up by 40-75 % at the top code."""
    inner = counts.copy()
    inner[0] = inner[-1] = 0
    from_top = np.cumsum(inner[::-1])[::-1]  # readings at this level or above
    reached = np.flatnonzero(from_top >= support)
    return int(reached[-1]) if reached.size else inner.size - 2


def encode_through(positions: np.ndarray, row: np.ndarray, light: np.ndarray) -> np.ndarray:
    """R(light) through one table row (linear interpolation, clipped at the white point)."""
    return np.interp(np.clip(light, 0.0, 1.0), row, positions)


def curve_difference_codes(positions: np.ndarray, a: np.ndarray, b: np.ndarray, lowest: float = 0.0) -> float:
    """max |R_a(x) - R_b(x)| in 8-bit codes over linear x where either curve is at code >= ``lowest`` (0..1)."""
    x = np.linspace(0.0, 1.0, 4097)
    ra, rb = encode_through(positions, a, x), encode_through(positions, b, x)
    keep = np.maximum(ra, rb) >= lowest
    return float(np.max(np.abs(ra - rb)[keep]) * 255.0)


def bracket_residual(levels: np.ndarray, times: np.ndarray, positions: np.ndarray, row: np.ndarray) -> float:
    """RMS difference (8-bit codes) between the well-exposed codes of a channel and R(t_j E_i), E_i merged
    from the same observations through the fitted row."""
    radiance = merge_light(levels, times, row)
    ok = np.isfinite(radiance)
    observed = levels[ok]
    mask = (observed > 0) & (observed < positions.size - 1)
    if not mask.any():
        return 0.0
    predicted = encode_through(positions, row, radiance[ok][:, None] * times)
    return float(np.sqrt(np.mean(((predicted - positions[observed])[mask] * 255.0) ** 2)))


# --- a bracket -------------------------------------------------------------------------------------------------

def fit_samples(sample: np.ndarray, evs: Sequence[float], bit_depth: int, method: str = "basis",
                shared: bool | None = None, suspect: np.ndarray | None = None,
                names: Sequence[str] | None = None) -> Fit:
    """Fit a response to a bracket's sampled pixels.

    Args:
        sample: (N, P, 3) levels (:func:`levels_of`) of N pixel locations in the P frames.
        evs: the frames' relative EVs (more light positive), in order.
        method: ``basis``, ``debevec`` or ``robertson``.
        shared: one row for all channels (True), one each (False), or None: shared when the channels' own fits
            agree within :data:`SHARED_TOLERANCE_CODES` over the covered codes.
        suspect: (N, P) observations to leave out of the fit (:func:`near_clipping` in lossy frames).
        names: the frames' names for messages (default "frame 1" ...).

    Raises:
        UsageError: an unknown method, a bad bracket, frames out of their EVs' order
            (:func:`check_exposure_order`), a scene that reaches too few codes, or frames that do not fit one
            curve (residual above :data:`RESIDUAL_LIMIT_CODES`).
    """
    if method not in METHODS:
        raise UsageError(f"unknown calibration method {method!r}: use {' or '.join(METHODS)}")
    check_bracket(evs, sample.shape[1], names)
    positions = level_positions(bit_depth)
    n_levels = positions.size
    check_exposure_order(sample, evs, n_levels, names)
    times = np.exp2(np.asarray(evs, dtype=np.float64))
    rows = spread_samples(sample, n_levels)
    if rows.size == 0:  # every pixel black or white in every frame
        raise UsageError(TOO_FEW_CODES)
    sample = sample[rows]
    # An observation with any channel black or white is dropped from every channel: cameras bend the other
    # channels of a clipped pixel (gamut mapping, highlight reconstruction).
    own = (sample == 0) | (sample == n_levels - 1)
    if suspect is not None:
        own |= suspect[rows][..., None]
    clipped = own.any(axis=2, keepdims=True)
    masked = np.where(clipped, 0, sample)
    # ... except above the highest level a channel shows in clean observations: under a colour cast the weaker
    # channels reach their top codes only where the strongest clipped, and a curve extrapolated over the
    # missing codes misses by tens of codes
    highest = masked.max(axis=(0, 1))
    admitted = ~own & clipped & (sample > highest)
    masked = np.where(admitted, sample, masked)
    seen = np.flatnonzero(np.bincount(masked.reshape(-1), minlength=n_levels)[1:-1]) + 1
    if seen.size < 3:
        raise UsageError(TOO_FEW_CODES)
    covered = (float(positions[seen[0]]), float(positions[seen[-1]]))
    fits = [fit_channel(masked[..., c], sample[..., c], times, bit_depth, method) for c in range(3)]
    rows = np.stack([row for row, _ in fits])
    kept = np.stack([levels for _, levels in fits], axis=2)
    if shared is None:
        shared = all(curve_difference_codes(positions, rows[a], rows[b], covered[0]) <= SHARED_TOLERANCE_CODES
                     for a, b in ((0, 1), (0, 2), (1, 2)))
    if shared:  # one fit, the three channels as three times the pixels
        def pooled(a: np.ndarray) -> np.ndarray:
            return a.transpose(2, 0, 1).reshape(-1, a.shape[1])

        row, levels = fit_channel(pooled(masked), pooled(sample), times, bit_depth, method)
        rows, kept = row[None, :], levels.reshape(3, *masked.shape[:2]).transpose(1, 2, 0)
    residual = math.sqrt(np.mean([bracket_residual(kept[..., c], times, positions, rows[min(c, len(rows) - 1)]) ** 2
                                  for c in range(3)]))
    if residual > RESIDUAL_LIMIT_CODES:
        raise UsageError(f"{DISAGREEING_FRAMES} (they miss the fitted curve by {residual:.1f} codes RMS)")
    usable = np.count_nonzero(masked)
    rejected = (usable - np.count_nonzero(kept)) / max(usable, 1)
    return Fit(positions, rows, bool(shared), residual, int(sample.shape[0]), covered, rejected)


def fit_bracket(images: Sequence[np.ndarray], evs: Sequence[float], method: str = "basis",
                shared: bool | None = None, lossy: bool = False, seed: int = 0) -> Fit:
    """Fit a response to a bracket of frames: P >= 2 HxWx3 uint8 or uint16 arrays of one static scene;
    ``lossy``: the frames were JPEG-compressed (see :func:`near_clipping`).

    Raises:
        UsageError: frames of different shapes or types, not RGB integers, or as :func:`fit_samples`.
    """
    check_bracket(evs, len(images))
    first = np.asarray(images[0])
    if first.dtype not in (np.uint8, np.uint16) or first.ndim != 3 or first.shape[2] != 3:
        raise UsageError(f"frames must be HxWx3 uint8 or uint16 images, got {first.shape} {first.dtype}")
    if any(np.asarray(im).shape != first.shape or np.asarray(im).dtype != first.dtype for im in images):
        raise UsageError("the frames of a bracket must share one size and bit depth")
    bit_depth = 8 if first.dtype == np.uint8 else 16
    where = candidate_locations(first.shape[0], first.shape[1], seed=seed)
    sample = np.stack([levels_of(np.asarray(im).reshape(-1, 3)[where], bit_depth) for im in images], axis=1)
    suspect = None
    if lossy:
        suspect = np.stack([near_clipping(np.asarray(im)).reshape(-1)[where] for im in images], axis=1)
    return fit_samples(sample, evs, bit_depth, method, shared, suspect)


# --- from files ------------------------------------------------------------------------------------------------

def bracket_frames(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The frames ``paths`` name: files as given (one given twice stays twice, for :func:`calibrate` to refuse), a
    folder's photos (JPEG, PNG, TIFF, ...) in name order (a camera numbers a bracket's frames as it takes them), and
    a `cevr stack` folder's frames as its stack.json lists them (not its contact sheet).

    Raises:
        UsageError: a folder that holds no photos at its top.
    """
    from .batch import discover_inputs, is_dir_safely
    from .stackdir import is_stack_folder, read_stack_manifest
    from .vocabulary import LDR_SUFFIXES

    frames: list[Path] = []
    for path in map(Path, paths):
        if is_stack_folder(path):
            frames += [path / name for name in read_stack_manifest(path)["files"]]
        else:
            found = discover_inputs([path], extensions=LDR_SUFFIXES)
            if not found and is_dir_safely(path):  # not "needs at least two photos" when the folder held none
                raise UsageError(f"no photos found in {path} (JPEG, PNG, TIFF, HEIC/HEIF, AVIF or WebP frames; its "
                                 "subfolders are not searched)")
            frames += found
    return frames


def exif_camera(exif: Any) -> tuple[str, str | None] | None:
    """A frame's camera from its EXIF (an :class:`~cevr_cli.io.exif.ExifInfo` or None): (make, model), or None
    without a Make."""
    if exif is None or not (exif.camera_make or "").strip():
        return None
    return exif.camera_make, exif.camera_model


def check_frames(frames: Sequence[Path]) -> None:
    """Each frame a readable file, and each given once: checked before the EVs are counted against them.

    Raises:
        UsageError: a frame that cannot be read (missing, a folder, empty...: the request cannot run), or one given
            twice.
    """
    from .io.images import check_input_file

    seen: set[Path] = set()
    for frame in frames:
        try:
            check_input_file(frame)
        except InputError as exc:
            raise UsageError(str(exc)) from None
        if frame.resolve() in seen:
            raise UsageError(f"{frame} is given twice: each frame of a bracket is its own photo")
        seen.add(frame.resolve())


def check_headers(frames: Sequence[Path], names: Sequence[str], evs: Sequence[float] | None) -> None:
    """The frames' sizes and cameras, and, without ``evs``, their EXIF exposures, checked from their headers before
    any frame is decoded: a bracket with a frame of another size was refused only after the frames before it were
    decoded (seconds each, and a "reading" line each above the error). A frame whose header cannot be read is
    passed over: its read names what is wrong with it, more precisely.

    Raises:
        UsageError: as :func:`calibrate`, for what a header tells.
    """

    read: list[tuple[Path, PhotoHeader]] = []
    camera_frame: CameraFrame | None = None
    for frame in frames:
        try:
            header = frame_header(frame)
        except InputError:
            continue
        read.append((frame, header))
        check_same_size(frame, (header.width, header.height), read[0][0], (read[0][1].width, read[0][1].height))
        camera_frame = check_same_camera(frame, header.exif, camera_frame)
    if evs is None and len(read) == len(frames):
        check_bracket(evs_from_exif([header.exif for _, header in read], names), len(frames), names)


def frame_header(frame: Path) -> PhotoHeader:
    """:func:`cevr_cli.io.images.read_photo_header` without its decoders' warnings (Pillow's "Corrupt EXIF data"): the
    frame's read, which follows, says each once, naming the frame; read here, before it, they came unnamed too.

    Raises:
        InputError: as read_photo_header.
    """
    from .io.images import read_photo_header

    with warnings.catch_warnings():  # calibrate reads its frames in one thread
        warnings.simplefilter("ignore")
        return read_photo_header(frame)


def check_same_size(frame: Path, size: tuple[int, int], first: Path, first_size: tuple[int, int]) -> None:
    """Refuse ``frame`` of ``size`` (width, height) in a bracket whose first frame is ``first``, of ``first_size``."""
    if size != first_size:
        raise UsageError(f"{frame} is {size[0]}x{size[1]} but {first} is {first_size[0]}x{first_size[1]}: the frames "
                         "of a bracket share one size")


CameraFrame = tuple[Path, tuple[str, str | None]]  # a frame and its camera, (make, model) as exif_camera gives it


def check_same_camera(frame: Path, exif: ExifInfo | None, camera_frame: CameraFrame | None) -> CameraFrame | None:
    """The first frame with an EXIF Make, and its camera, once ``frame`` (its ``exif``) is met after those before it
    (``camera_frame``, that of those).

    Raises:
        UsageError: ``frame`` is from another camera.
    """
    camera = exif_camera(exif)
    if camera is None:
        return camera_frame
    if camera_frame is None:
        return frame, camera
    if camera_key(*camera) != camera_key(*camera_frame[1]):
        raise UsageError(f"{frame} is from {' '.join(filter(None, camera))} but {camera_frame[0]} from "
                         f"{' '.join(filter(None, camera_frame[1]))} (EXIF Make and Model): the frames of a "
                         "bracket come from one camera, whose curve the profile holds")
    return camera_frame


def calibrate(paths: Sequence[str | os.PathLike[str]], evs: Sequence[float] | None = None, *,
              make: str | None = None, model: str | None = None, method: str = "basis",
              shared: bool | None = None, on_frame: Callable[[Path], None] | None = None,
              max_megapixels: float = MAX_MEGAPIXELS) -> Calibration:
    """A camera's response from one bracket of photo files (JPEG, PNG, TIFF), read one at a time.

    Args:
        paths: two or more frames of one static scene, taken from a tripod, or folders of them
            (:func:`bracket_frames`).
        evs: relative EVs in the order of ``paths`` (more light positive); None: from EXIF exposure time,
            aperture and ISO, relative to the first frame.
        make, model: the camera; None: the first frame's EXIF Make and Model.
        method, shared: see :func:`fit_samples`.
        on_frame: called with each path before it is read (progress).
        max_megapixels: a frame larger is refused (:func:`cevr_cli.io.images.read_photo`).

    Raises:
        UsageError: an empty make or model, fewer than two frames, one file given twice, camera RAW frames, frames
            of different sizes, bit depths or cameras (EXIF Make and Model), EVs missing (no ``evs`` and no EXIF
            exposure), duplicated or not one per frame, or as :func:`fit_samples` (frames out of their EVs' order,
            frames that do not fit one curve).
        InputError: a frame that cannot be read.
    """
    for flag, given in (("--make", make), ("--model", model)):
        if given is not None and not given.strip():
            raise UsageError(f"{flag} is empty: give the camera's {flag[2:]}, or leave {flag} out to read it from EXIF")
    from .imaging import quantise
    from .io.images import read_photo
    from .vocabulary import RAW_SUFFIXES

    frames = bracket_frames(paths)
    names = [str(f) for f in frames]  # as given: two frames of one name in two folders stay apart
    need_a_bracket(len(frames), names)
    if method not in METHODS:
        raise UsageError(f"unknown calibration method {method!r}: use {' or '.join(METHODS)}")
    check_frames(frames)
    raw = [name for f, name in zip(frames, names, strict=True) if f.suffix.lower() in RAW_SUFFIXES]
    if raw:
        raise UsageError(f"{raw[0]}: camera RAW data is linear and needs no profile; calibrate the camera's JPEGs")
    if evs is not None:
        check_bracket(evs, len(frames), names)
    check_headers(frames, names, evs)
    columns, suspects, exposures = [], [], []
    first = None
    where = np.empty(0, dtype=np.intp)
    for frame in frames:
        if on_frame is not None:
            on_frame(frame)
        photo = read_photo(frame, max_megapixels=max_megapixels)
        if first is None:
            first = photo
            where = candidate_locations(*photo.rgb.shape[:2])
        else:  # the decoded pixels' size too: the headers' was checked as Pillow reads it
            check_same_size(frame, photo.rgb.shape[1::-1], frames[0], first.rgb.shape[1::-1])
        if photo.bit_depth != first.bit_depth:  # told by the decode alone (Pillow opens a 16-bit RGB PNG as 8-bit)
            raise UsageError(f"{frame} is {photo.bit_depth}-bit but {frames[0]} is {first.bit_depth}-bit: "
                             "the frames of a bracket share one bit depth")
        bit_depth = 16 if photo.bit_depth == 16 else 8
        codes = quantise(photo.rgb, bit_depth)
        columns.append(levels_of(codes.reshape(-1, 3)[where], bit_depth))
        lossy = frame.suffix.lower() in LOSSY_SUFFIXES
        suspects.append(near_clipping(codes).reshape(-1)[where] if lossy else np.zeros(where.size, dtype=bool))
        del codes
        exposures.append(photo.exif)
    assert first is not None
    if evs is None:
        evs = evs_from_exif(exposures, names)
        check_bracket(evs, len(frames), names)
    exif = first.exif
    make = make if make is not None else (exif.camera_make if exif else None)
    model = model if model is not None else (exif.camera_model if exif else None)
    fit = fit_samples(np.stack(columns, axis=1), evs, bit_depth, method, shared, np.stack(suspects, axis=1), names)
    camera = " ".join(v for v in (make, model) if v)
    response = table_response(f"profile:{camera or frames[0].stem}", fit.positions, fit.linear,
                              source=f"cevr calibrate ({method}, {len(frames)} frames)")
    return Calibration(response, make, model, method, tuple(float(e) for e in evs), tuple(map(str, frames)),
                       bit_depth, fit)


def install_path(make: str | None, model: str | None) -> Path:
    """Where ``--install`` puts a camera's profile, for ``--response auto`` to find by EXIF make and model.

    Raises:
        UsageError: no make (the frames have no EXIF Make and none was given).
    """
    if not (make or "").strip():
        raise UsageError("--install needs the camera's make: the frames have no EXIF Make; give --make (and --model)")
    return profile_path(make, model)


def check_install_make(frames: Sequence[Path], make: str | None) -> None:
    """Refuse ``--install`` without a camera make before any frame is decoded: the make names the installed
    profile, and the fit takes seconds to minutes. The make is ``make`` or, as :func:`calibrate` takes it, the
    first frame's EXIF Make, read here from its header alone.

    Frames cevr made (a stack folder's, its EXIF Software naming cevr) are refused too: they re-expose one photo
    through the curve cevr assumed for it, so their fit is that assumption, not the camera's curve, and installed
    under the camera's name it would pass for a calibration.

    Raises:
        UsageError: as :func:`install_path` (no make given and none in the first frame's EXIF); cevr's frames.
    """
    from .io.exif import is_cevr_software
    from .stackdir import is_stack_folder
    from .vocabulary import RAW_SUFFIXES

    if not frames or frames[0].suffix.lower() in RAW_SUFFIXES:
        return  # RAW frames: calibrate refuses them with its own reason
    try:
        exif = frame_header(frames[0]).exif
    except InputError:
        return  # calibrate's read of the frame names what is wrong with it, more precisely
    if is_stack_folder(frames[0].parent) or is_cevr_software(exif.software if exif else None):
        raise UsageError(f"--install: {frames[0]} is a frame cevr made (a stack of one photo through the curve cevr "
                         "assumed), not one the camera shot: its fit is no calibration; install a profile from the "
                         "camera's own bracket (-o alone writes this one)")
    if make is None:  # an empty --make is refused by install_path after the fit, with the other names
        install_path(exif.camera_make if exif else None, None)


def check_profile_destination(output: str | os.PathLike[str], frames: Sequence[str | os.PathLike[str]] = (),
                              overwrite: bool = False) -> None:
    """Refuse, before any work, a profile destination that could destroy a photo or another file: a name not
    ending in ``.json`` (``-o IMG_*.JPG`` expands to ``-o IMG_0001.JPG IMG_0002.JPG ...``: the first photo would
    become the profile), one of the frames, or an existing file that is not a cevr profile (a profile is replaced:
    that is a recalibration), unless ``overwrite``; then check it can be written.

    Raises:
        UsageError: not a .json name, one of the frames, another file. OutputError: cannot be written there.
    """
    from .io.atomic import check_writable

    path = Path(output)
    if any(path.resolve() == Path(frame).resolve() for frame in frames):
        raise UsageError(f"-o {path}: that is one of the frames; give the profile a name of its own (.json)")
    if path.suffix.lower() != ".json":
        raise UsageError(f"-o {path}: a profile is a JSON file: give a name ending in .json (a photo is never "
                         "overwritten)")
    try:
        folder, exists = path.is_dir(), os.path.lexists(path)
    except OSError:  # a name the file system refuses: check_writable says so
        folder, exists = False, False
    if folder:
        raise UsageError(f"-o {path}: is a folder; give the profile a file name of its own (.json)")
    if exists and not overwrite and not _is_profile(path):
        raise UsageError(f"-o {path}: exists and is not a cevr profile; give another name, or --overwrite to "
                         "replace it")
    check_writable(path)


def _is_profile(path: Path) -> bool:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(document, dict) and document.get("format") == PROFILE_FORMAT


def write_profile(calibration: Calibration, output: str | os.PathLike[str] | None, install: bool,
                  overwrite: bool = False) -> list[Path]:
    """Write the profile to ``output`` and, with ``install``, to :func:`install_path`, each atomically; returns
    the paths written. ``overwrite``: ``output`` may replace a file that is not a profile.

    Raises:
        UsageError: ``install`` without a make, or ``output`` another file (before anything is written).
        OutputError: a destination that cannot be written.
    """
    from .io.atomic import atomic_write_text, check_writable

    targets = [Path(output)] if output is not None else []
    if output is not None:
        check_profile_destination(output, calibration.frames, overwrite)  # checks it can be written, too
    if install:
        targets.append(install_path(calibration.make, calibration.model))
        check_writable(targets[-1])
    text = json.dumps(calibration.record(), indent=1) + "\n"
    for written, target in enumerate(targets):
        try:
            atomic_write_text(target, text, "the profile")
        except OutputError as exc:
            kept = f"; {targets[0]} was written" if written else ""
            raise OutputError(f"{exc}{kept}") from None
    return targets


def calibrate_to_profile(paths: Sequence[str | os.PathLike[str]], output: str | os.PathLike[str] | None, *,
                         install: bool = False, evs: str | None = None, make: str | None = None,
                         model: str | None = None, method: str = "basis", overwrite: bool = False,
                         on_frame: Callable[[Path], None] | None = None,
                         max_megapixels: float = MAX_MEGAPIXELS) -> tuple[Calibration, list[Path]]:
    """What `cevr calibrate` does: check the request (where the profile goes, the frames, the EVs ``evs`` as
    :func:`parse_bracket_evs` reads them, the destination, ``max_megapixels`` as stack's ``--max-megapixels``) before
    any frame is read, fit the bracket (:func:`calibrate`) and write the profile (:func:`write_profile`). Returns the
    fit and the paths written.

    Raises:
        UsageError: no destination, or as :func:`calibrate` and :func:`write_profile`; nothing is written then.
        InputError, OutputError: as they do.
    """
    if output is None and not install:
        raise UsageError("say where the profile goes: -o PROFILE.json and/or --install")
    check_value("max_megapixels", option_specs(StackOptions)["max_megapixels"][0], max_megapixels)
    frames = bracket_frames(paths)
    check_frames(frames)  # a missing or repeated frame is named before the EVs are counted against the frames
    bracket = parse_bracket_evs(evs) if evs is not None else None
    if bracket is not None:
        check_bracket(bracket, len(frames), [str(f) for f in frames])
    if output is not None:
        check_profile_destination(output, frames, overwrite)
    if install:
        check_install_make(frames, make)
    result = calibrate(frames, bracket, make=make, model=model, method=method, on_frame=on_frame,
                       max_megapixels=max_megapixels)
    return result, write_profile(result, output, install, overwrite)


def installed_profile_facts() -> list[dict[str, str | None]]:
    """What ``cevr info`` lists: every installed profile's path, make and model (None where it cannot be read), and
    ``problem``: why ``auto`` cannot use it, else None. ``auto`` finds a camera's profile by its file name
    (:func:`~cevr_cli.response.profile_path`), so a profile under another name (one copied in as ``d750.json``) is
    never used, and one named for another camera is used for that camera's photos: both are problems."""
    from .response import load_profile

    facts: list[dict[str, str | None]] = []
    for path in installed_profiles():
        problem = None
        make = model = None
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(document, dict):
                make, model = document.get("make"), document.get("model")
            load_profile(path)  # as `auto` will read it
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            make, model = None, None
            effect = "use the camera prior" if path.is_dir() else "fail"
            problem = f"unreadable ({exc.strerror if isinstance(exc, OSError) else exc}); the photos --response " \
                f"auto matches to it by its name {effect} until it is replaced or removed"
        except InputError as exc:
            problem = f"broken: {exc.reason}; the photos --response auto matches to it by its name fail until it is " \
                "replaced or removed"
        else:
            problem = _misnamed(path, make, model)
        facts.append({"path": str(path), "make": make, "model": model, "problem": problem})
    return facts


def _misnamed(path: Path, make: object, model: object) -> str | None:
    """Why ``auto`` does not use the readable profile at ``path`` for the camera it records, or None: its file name
    is not that camera's (``auto`` looks the photo's EXIF make and model up by name), or it records no make."""
    from .response import profile_path

    texts = [v if isinstance(v, str) and v.strip() else None for v in (make, model)]
    if texts[0] is None:
        return "not used: it records no camera make, so --response auto finds it for no photo; give it with " \
            "--response, or recalibrate with --make and --install"
    expected = profile_path(texts[0], texts[1]).name
    if path.name == expected:
        return None
    camera = " ".join(v for v in texts if v)
    if (path.parent / expected).exists():  # the camera has its profile: renaming this one would replace it
        return (f"not used for {camera}: --response auto reads {expected}, installed beside it; remove this copy, or "
                "rename it so to replace that profile")
    return (f"not used for {camera}: --response auto looks for its profile as {expected}; rename it so (or "
            "install it with cevr calibrate --install)")
