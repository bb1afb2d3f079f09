"""Debevec & Malik 1997, "Recovering high dynamic range radiance maps from photographs" (SIGGRAPH).

Notation follows the paper: Z_ij is the code of pixel i in exposure j, dt_j the exposure time, E_i
the radiance, g = ln f^-1 the log inverse response, so that g(Z_ij) = ln E_i + ln dt_j (Eq. 2), and
w(z) the hat weighting function (Eq. 4).

8-bit stacks use all 256 codes as levels. 16-bit stacks are binned to 1024 levels of 64 codes each
(level l stands for code 64 l + 31.5) so the least-squares system of Eq. 3 stays small; the merge
then interpolates g between level centres for every 16-bit code.

We use our own calibration and merge for 8-bit stacks too, decided by measurement
(``tests/benchmarks/bench_fuse.py``, 13 x 12 MP 8-bit, 2 shared cores): 2.3 s against 5.1 s for OpenCV's
CalibrateDebevec + MergeDebevec at the same peak RSS. Results also differ where it matters: OpenCV's
MergeDebevec shares one weight (the channel mean) across R, G and B, so a channel clipped in a frame
still enters Eq. 6 when the other channels are well exposed; ours weights each channel by its own
code as Eq. 6 says. With equal channels the two merges agree (tests/hdr/test_debevec1997.py).

References
----------
- Debevec, P. E., & Malik, J. (1997). Recovering high dynamic range radiance maps from photographs.
  SIGGRAPH '97, 369-378. doi:10.1145/258734.258884
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import StackContentError, UsageError

LEVELS_16BIT = 1024
_CODES_PER_LEVEL_16BIT = 65536 // LEVELS_16BIT
_STRIP_PIXELS = 1 << 20


@dataclass(frozen=True)
class ResponseCurve:
    """A recovered camera response g = ln f^-1, per channel.

    Attributes:
        g: (levels, 3) float64, g(z) = ln E + ln dt for each level, with g(middle level) = 0.
        codes: (levels,) float64, the pixel code each level stands for (the bin centre for 16-bit).
        bits: 8 or 16, the bit depth of the images the curve applies to.
    """

    g: np.ndarray
    codes: np.ndarray
    bits: int


def hat_weights(levels: int) -> np.ndarray:
    """w(z) = z - Zmin for z <= (Zmin + Zmax)/2, else Zmax - z (Eq. 4), on a grid of ``levels`` codes.

    Rescaled to the paper's 8-bit range (peak 127.5) whatever the grid, so ``lambda_`` means the same.
    """
    z = np.arange(levels, dtype=np.float64)
    return np.minimum(z, levels - 1 - z) * (255.0 / (levels - 1))


def _validate_stack(images: Sequence[np.ndarray], exposure_times: Sequence[float]) -> tuple[int, np.ndarray]:
    """Check the stack; return its bit depth and the exposure times as float64."""
    if len(images) == 0:
        raise UsageError("empty exposure stack")
    times = np.asarray(exposure_times, dtype=np.float64).reshape(-1)
    if times.size != len(images):
        raise UsageError(f"{len(images)} images but {times.size} exposure times")
    if not np.all(np.isfinite(times)) or np.any(times <= 0):
        raise UsageError("exposure times must be finite and positive")
    first = np.asarray(images[0])
    if first.dtype not in (np.uint8, np.uint16):
        raise UsageError(f"stack images must be uint8 or uint16, got {first.dtype}")
    for image in images:
        if image.shape != first.shape or image.dtype != first.dtype:
            raise UsageError("all stack images must share one shape and dtype")
    if first.ndim != 3 or first.shape[2] != 3 or first.shape[0] == 0 or first.shape[1] == 0:
        raise UsageError(f"stack images must be HxWx3 RGB, got shape {first.shape}")
    return (8 if first.dtype == np.uint8 else 16), times


def levels_of(codes: np.ndarray, bits: int) -> np.ndarray:
    """Level index of each code: the code itself for 8-bit, its 64-code bin for 16-bit."""
    codes = np.asarray(codes)
    if bits == 8:
        return codes.astype(np.intp)
    return (codes // _CODES_PER_LEVEL_16BIT).astype(np.intp)


def level_codes(bits: int) -> np.ndarray:
    """The code each level stands for: the code itself for 8-bit, the bin centre for 16-bit."""
    if bits == 8:
        return np.arange(256, dtype=np.float64)
    level = np.arange(LEVELS_16BIT, dtype=np.float64)
    return level * _CODES_PER_LEVEL_16BIT + (_CODES_PER_LEVEL_16BIT - 1) / 2


def select_samples(images: Sequence[np.ndarray], exposure_times: np.ndarray, samples: int,
                   seed: int) -> np.ndarray:
    """Flat indices of up to ``samples`` pixel locations spread over the scene's intensity range.

    The paper picks pixels by hand so that their intensities cover the range. We draw random
    candidates (seeded), read their mean code in the middle exposure, and for evenly spaced target
    intensities between the darkest and brightest candidate keep the nearest candidate. Duplicates
    are dropped, so a flat scene yields fewer samples (the smoothness term still fixes g).
    """
    middle = np.asarray(images[int(np.argsort(exposure_times)[len(exposure_times) // 2])])
    n_pixels = middle.shape[0] * middle.shape[1]
    rng = np.random.default_rng(seed)
    candidates = np.unique(rng.integers(0, n_pixels, size=min(n_pixels, 64 * samples)))
    intensity = middle.reshape(n_pixels, 3)[candidates].astype(np.float64).mean(axis=1)
    order = np.argsort(intensity, kind="stable")
    ranked = intensity[order]
    targets = np.linspace(ranked[0], ranked[-1], samples)
    above = np.searchsorted(ranked, targets)  # at most ranked.size - 1: the last target is ranked[-1] itself
    below = np.clip(above - 1, 0, ranked.size - 1)
    nearest = np.where(np.abs(ranked[below] - targets) <= np.abs(ranked[above] - targets), below, above)
    return candidates[order[np.unique(nearest)]]


def _solve_channel(z: np.ndarray, log_dt: np.ndarray, levels: int, lambda_: float) -> np.ndarray:
    """Least-squares solution of Eq. 3 for one channel (written from the equation, not gsolve.m).

    ``z`` is (N samples, P exposures) of level indices. Unknowns: g(0..levels-1) then ln E_1..ln E_N.
    Samples with w = 0 in every exposure carry no information and would leave their ln E free, so
    they are dropped; the rest of the system then has full rank and we solve its normal equations,
    which stay fast on a busy machine where the SVD in ``numpy.linalg.lstsq`` is many times slower.
    """
    w = hat_weights(levels)
    z = z[(w[z] > 0).any(axis=1)]
    if z.shape[0] == 0:
        raise StackContentError("no sample pixel is well exposed in any frame: the stack is all black or saturated")
    n, p = z.shape
    # Second differences shrink as (255/(levels-1))^2 and their count grows as (levels-1)/255, so
    # this factor keeps the smoothness term's total weight independent of the level grid.
    smooth = lambda_ * ((levels - 1) / 255.0) ** 1.5
    rows = n * p + 1 + (levels - 2)
    a = np.zeros((rows, levels + n))
    b = np.zeros(rows)
    data = np.arange(n * p)
    wij = w[z.reshape(-1)]
    a[data, z.reshape(-1)] = wij
    a[data, levels + np.repeat(np.arange(n), p)] = -wij
    b[data] = wij * np.tile(log_dt, n)
    a[n * p, levels // 2] = 1.0  # g(Zmid) = 0 fixes the free additive constant
    inner = np.arange(1, levels - 1)
    smooth_rows = n * p + 1 + np.arange(levels - 2)
    a[smooth_rows, inner - 1] = smooth * w[inner]
    a[smooth_rows, inner] = -2.0 * smooth * w[inner]
    a[smooth_rows, inner + 1] = smooth * w[inner]
    solution = np.linalg.solve(a.T @ a, a.T @ b)
    return solution[:levels]


def solve_samples(z: np.ndarray, exposure_times: np.ndarray, levels: int, lambda_: float = 10.0) -> np.ndarray:
    """g (levels,) of one channel from chosen samples (Eq. 3): ``z`` (N samples, P exposures) of level indices,
    levels 0 and ``levels - 1`` (w = 0) carrying no information, so a caller can mask observations there.

    Raises:
        StackContentError: no sample well exposed in any exposure.
    """
    times = np.asarray(exposure_times, dtype=np.float64)
    return _solve_channel(np.asarray(z, dtype=np.intp), np.log(times), levels, lambda_)


def recover_response(images: Sequence[np.ndarray], exposure_times: Sequence[float], *,
                     samples: int | None = None, lambda_: float = 10.0, seed: int = 0) -> ResponseCurve:
    """Recover the log inverse response g per channel from an exposure stack (Sec. 2.1, Eq. 3).

    Args:
        images: N >= 2 HxWx3 uint8 or uint16 RGB images of a static scene.
        exposure_times: N relative exposure times dt_j (any common unit).
        samples: pixel locations used. Default 70 for 8-bit (OpenCV's default too); for 16-bit
            enough to meet the paper's N(P-1) > Zmax - Zmin on the 1024-level grid, twice over.
        lambda_: smoothness weight, on the paper's 8-bit scale for either bit depth; above 0, as the smoothness
            term is what fixes g at the levels no sample reaches.
        seed: seed of the random sample candidates (see ``select_samples``).

    Raises:
        UsageError: fewer than two images, inconsistent shapes or dtypes, bad times, samples or lambda_.
        StackContentError: no sample well exposed anywhere, or no frame reaching mid-grey.
    """
    bits, times = _validate_stack(images, exposure_times)
    if len(images) < 2:
        raise UsageError("recovering a response needs at least two exposures")
    levels = 256 if bits == 8 else LEVELS_16BIT
    if samples is None:
        samples = 70 if bits == 8 else max(70, math.ceil(2 * (levels - 1) / (len(images) - 1)))
    if isinstance(samples, bool) or not isinstance(samples, numbers.Integral) or samples < 1:
        raise UsageError(f"samples must be a whole number of at least 1, got {samples!r}")  # 2.5: numpy's TypeError
    if (isinstance(lambda_, bool) or not isinstance(lambda_, numbers.Real)
            or not (math.isfinite(lambda_) and lambda_ > 0)):
        raise UsageError(f"lambda_ must be a finite number above 0, got {lambda_!r}")  # NaN: a NaN curve; 0 singular
    locations = select_samples(images, times, samples, seed)
    top = 2**bits - 1
    peak = max(int(np.max(image)) for image in images)
    if 0 < peak < (top + 1) // 2:  # Eq. 3 fixes g(Z_mid) = 0: below it g is extrapolated, radiance fell to 1e-10
        raise StackContentError(f"the stack's brightest code is {peak} of {top}: no frame reaches mid-grey "
                                f"({(top + 1) // 2}), where the fit is anchored",
                                "12-bit data in uint16? scale it to the full range, x 16")
    g = np.empty((levels, 3))
    for c in range(3):
        z = np.stack([np.asarray(im).reshape(-1, 3)[locations, c] for im in images], axis=1)
        g[:, c] = _solve_channel(levels_of(z, bits), np.log(times), levels, lambda_)
    return ResponseCurve(g=g, codes=level_codes(bits), bits=bits)


def _as_curve(response: ResponseCurve | np.ndarray, bits: int) -> ResponseCurve:
    """Accept a ResponseCurve or a bare (levels, 3) log-domain g for the stack's bit depth."""
    if isinstance(response, ResponseCurve):
        curve = response
    else:
        g = np.asarray(response, dtype=np.float64)
        levels = 256 if bits == 8 else LEVELS_16BIT
        if g.shape != (levels, 3):
            raise UsageError(f"a {bits}-bit stack needs a ({levels}, 3) response, got {g.shape}")
        curve = ResponseCurve(g=g, codes=level_codes(bits), bits=bits)
    if curve.bits != bits:
        raise UsageError(f"response recovered from {curve.bits}-bit images, stack is {bits}-bit")
    if not np.all(np.isfinite(curve.g)):
        raise UsageError("response curve has non-finite values")
    return curve


def _code_table(curve: ResponseCurve) -> np.ndarray:
    """g for every code of the bit depth, (codes, 3); 16-bit interpolates between level centres."""
    if curve.bits == 8:
        return curve.g
    every_code = np.arange(65536, dtype=np.float64)
    return np.stack([np.interp(every_code, curve.codes, curve.g[:, c]) for c in range(3)], axis=1)


def _lookup(image: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Per-channel table look-up, float32 HxWx3 (cv2.LUT for 8-bit, numpy indexing for 16-bit)."""
    table = table.astype(np.float32)
    if image.dtype == np.uint8:
        return cv2.LUT(np.ascontiguousarray(image), np.ascontiguousarray(table.reshape(256, 1, 3)))
    out = np.empty(image.shape, dtype=np.float32)
    for c in range(3):
        out[..., c] = table[:, c][image[..., c]]
    return out


def merge_radiance(images: Sequence[np.ndarray], exposure_times: Sequence[float],
                   response: ResponseCurve | np.ndarray) -> np.ndarray:
    """Radiance map ln E_i = sum_j w(Z_ij)(g(Z_ij) - ln dt_j) / sum_j w(Z_ij) (Eq. 6), per channel.

    Eq. 6 is undefined where every exposure gives w = 0 (a channel black or saturated in all
    frames). There we fall back to the best-exposed frame: the shortest exposure when that one is
    saturated (the tightest lower bound on E), otherwise the longest.

    Args:
        response: a ``ResponseCurve``, or a bare log-domain g of shape (256, 3) for 8-bit stacks or
            (1024, 3) for 16-bit ones.

    Returns:
        float32 HxWx3 relative radiance (E up to the scale fixed by g(middle) = 0 and the times).
    """
    bits, times = _validate_stack(images, exposure_times)
    curve = _as_curve(response, bits)
    g_table = _code_table(curve)
    w_table = np.repeat(hat_weights(2**bits)[:, None], 3, axis=1)
    log_e = np.zeros(images[0].shape, dtype=np.float32)
    weight_sum = np.zeros(images[0].shape, dtype=np.float32)
    height = log_e.shape[0]
    # Row strips keep the look-up temporaries small: peak memory is the two accumulators.
    strip = max(1, _STRIP_PIXELS // log_e.shape[1])
    for image, dt in zip(images, times, strict=True):
        weighted_g = w_table * (g_table - math.log(dt))
        for top in range(0, height, strip):
            rows = slice(top, min(top + strip, height))
            log_e[rows] += _lookup(image[rows], weighted_g)
            weight_sum[rows] += _lookup(image[rows], w_table)
    unweighted = weight_sum <= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(log_e, weight_sum, out=log_e)
    del weight_sum
    if np.any(unweighted):
        log_e[unweighted] = _fallback(images, times, g_table, unweighted, bits)
    return np.exp(log_e, out=log_e)


def _fallback(images: Sequence[np.ndarray], times: np.ndarray, g_table: np.ndarray, mask: np.ndarray,
              bits: int) -> np.ndarray:
    """ln E from a single frame for the masked (pixel, channel) entries, as ``merge_radiance`` says."""
    shortest, longest = int(np.argmin(times)), int(np.argmax(times))
    channel = np.nonzero(mask)[2]
    z_short = np.asarray(images[shortest])[mask].astype(np.intp)
    z_long = np.asarray(images[longest])[mask].astype(np.intp)
    saturated = z_short >= 2 ** (bits - 1)
    z = np.where(saturated, z_short, z_long)
    log_dt = np.where(saturated, math.log(times[shortest]), math.log(times[longest]))
    return (g_table[z, channel] - log_dt).astype(np.float32)
