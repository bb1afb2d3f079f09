"""The light of clipped pixels, estimated from the hue of the light around them (used when darkening).

A clipped channel recorded only a lower bound: its light is at least white (linear 1), how much more the
photo does not say. Darkening that bound as it is turns a clipped lamp into a flat grey plate and, where only
some channels clipped (an orange sunset sky: R clipped, G not), changes the channel ratios (orange -> olive).

The fill follows Masood, Zhu & Tappen (2009), "Automatic correction of saturated regions in photographs
using cross-channel correlation" (Computer Graphics Forum 28(7)): a clipped channel is predicted from the
unclipped channels through the channel ratios of nearby pixels. Here the ratios are one colour c per pixel,
the local mean linear RGB of the nearest pixels with evidence, found by normalised convolution (Knutsson &
Westin 1993, "Normalized and differential convolution", CVPR) run as push-pull on an image pyramid (Gortler
et al. 1996, "The Lumigraph", SIGGRAPH, Sec. 3.4), so that it reaches the middle of clipped regions of any
size; the pyramid is built by OpenCV at a reduced resolution (the colour of light around a highlight is
low-frequency). With x a clipped pixel's recorded light, in two steps from the outside in:

1. partly clipped pixels (some channel unclipped), those with two unclipped channels first, then those with
   one, c from the unclipped and the already filled pixels around them:
   k = sum over unclipped channels of x / sum of c; fill = x in unclipped channels, max(x, k c) in clipped
   ones. An orange sky clipped in R keeps its G and B and gets back its R:G ratio instead of turning olive.
   Two unclipped channels say more of a pixel's hue than one, and they lie nearer the clip: a sun's rim
   clipped in G and B within a sky clipped in B takes its hue from the sky's filled pixels around it, not
   from the unclipped ground further away (which darkened it into a warm ring).
2. fully clipped pixels, c from the unclipped and the (filled) partly clipped pixels around them, which are
   the nearest evidence of their light (the white rim of a white sun in a blue sky):
   fill = max(x, k c) with k = max over channels of x / c, the dimmest light of colour c that is at least
   white in every channel (c / min(c) for x = 1: the halo's hue, its weakest channel exactly at white);
3. that dimmest light is a lower bound, and on the training scenes' views the light of fully clipped pixels
   was a median 1.05 stops above it: they are raised by up to :data:`MAX_RISE_STOPS`, as steeply as the known
   light around their clip rose towards it and as deep into it as they lie (:func:`_rise_at`; the steep halo of
   a sun or lamp, not the flat approach of a barely clipped overcast sky). An extrapolation of the recorded profile into
   the clip, as brightness enhancement functions do (Rempel et al. 2007, "Ldr2Hdr: on-the-fly reverse tone
   mapping of legacy video and photographs", ACM TOG 26(3)), bounded and measured rather than tuned by eye.

No channel is ever below what the photo recorded, and unclipped channels are kept exactly.
"""

from __future__ import annotations

import numpy as np

from .errors import UsageError

# A pyramid level's coverage (the fraction of its Gaussian footprint that recorded) from which its own mean
# colour is trusted outright; below it the coarser level's estimate is mixed in (Gortler et al.'s pull step)
TRUSTED_COVERAGE = 0.25
# The colour field is estimated with the long side at most this many pixels (it is smooth at that scale)
FIELD_SIDE = 512
# A colour channel is never below this fraction of the colour's strongest channel: it bounds the gain a fully
# clipped pixel can receive (1 / min(c)) where the surrounding light has (almost) none of one primary
MIN_CHROMA = 1.0 / 64.0
# The expected light of fully clipped pixels above their lower bound (_rise_at): the slope at which the known
# light rose towards the clip (stops per pixel of the field resampled to FIELD_SIDE, over the pixels within
# RING_PIXELS whose brightest channel is at least MIN_RING_LIGHT, spread over distances by more than
# MIN_RING_SPREAD px^2), times the depth into the clip, times RISE_GAIN, at most MAX_RISE_STOPS (chosen on the
# training scenes' views, tests/benchmarks/choose_highlight_rise.py)
RISE_GAIN = 1.0
MAX_RISE_STOPS = 0.5
RING_PIXELS = 3.0
MIN_RING_LIGHT = 0.5
MIN_RING_SPREAD = 0.05
# Points per row of cv2.remap's maps (which must be narrower than 32767 pixels)
SAMPLE_ROW = 4096


def fill_clipped(linear: np.ndarray, clipped: np.ndarray, saturated: np.ndarray) -> np.ndarray:
    """The estimated light of the clipped pixels, ``linear[clipped]`` with the hue of their surroundings.

    Args:
        linear: float32 HxWx3, relative linear light (1 = white).
        clipped: bool HxW, the pixels where some channel clipped.
        saturated: bool HxWx3, the channels that recorded only a lower bound (within ``clipped`` pixels; its
            other pixels are ignored).

    Returns:
        float32 Nx3 for the N clipped pixels in row-major order (``linear[clipped]``'s order): equal to
        ``linear`` in unsaturated channels, at least it in saturated ones. Without recorded pixels to take a
        hue from, the recorded values themselves.

    Raises:
        UsageError: an argument that is not a numpy array of the dtype above, or shapes that are not HxWx3 / HxW /
            HxWx3 of one H, W.
    """
    for name, array, dtype in (("linear", linear, np.float32), ("clipped", clipped, np.bool_),
                               ("saturated", saturated, np.bool_)):
        if not isinstance(array, np.ndarray):
            raise UsageError(f"{name}: expected a numpy array, got {type(array).__name__}")
        if array.dtype != dtype:
            raise UsageError(f"{name}: expected dtype {np.dtype(dtype)}, got {array.dtype}")
    if linear.ndim != 3 or linear.shape[2] != 3 or 0 in linear.shape:
        raise UsageError(f"linear: expected a non-empty HxWx3 array, got shape {linear.shape}")
    if clipped.shape != linear.shape[:2] or saturated.shape != linear.shape:
        raise UsageError(f"clipped {clipped.shape} and saturated {saturated.shape} must be "
                         f"{linear.shape[:2]} and {linear.shape}")
    recorded = linear[clipped]
    if recorded.size == 0 or clipped.all():
        return recorded
    # channel-first (3 x N): numpy reduces across three rows far faster than along each pixel's three values
    x = np.ascontiguousarray(recorded.T)
    exact = np.ascontiguousarray(~saturated[clipped].T)
    ys, xs = np.nonzero(clipped)
    weight = (~clipped).astype(np.float32)
    values = linear * weight[..., None]
    fill = x.copy()
    unclipped_channels = exact.sum(axis=0)
    whole = unclipped_channels == 3  # clipped by a neighbour (a codec's ringing) with no bound of its own
    _add_evidence(values, weight, ys[whole], xs[whole], x[:, whole])
    # step 1, scaled by the unclipped channels only: a clipped channel's bound must not raise the others past
    # the pixel's own unclipped values (a foreign hue along a noisy clipping edge)
    for channels in (2, 1):
        group = unclipped_channels == channels
        if group.any():
            colour = _colour_at(values, weight, ys[group], xs[group])
            known = exact[:, group]
            k = np.where(known, x[:, group], 0.0).sum(axis=0) / np.where(known, colour, 0.0).sum(axis=0)
            fill[:, group] = np.where(known, x[:, group], np.maximum(x[:, group], k * colour))
            _add_evidence(values, weight, ys[group], xs[group], fill[:, group])
    full = unclipped_channels == 0
    if full.any():
        # step 2: the filled partly clipped pixels are the nearest evidence of the light in the fully clipped
        # ones (the white rim of a white sun in a blue sky; the orange rim of an orange light)
        colour = _colour_at(values, weight, ys[full], xs[full])
        fill[:, full] = np.maximum(x[:, full], (x[:, full] / colour).max(axis=0) * colour)
        if RISE_GAIN > 0.0:
            fill[:, full] *= np.exp2(_rise_at(values, weight, ys[full], xs[full]))
    return np.ascontiguousarray(fill.T)


def _rise_at(values: np.ndarray, weight: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """N float32 stops: how far above the least light the photo allows the fully clipped pixels at (ys, xs)
    probably are, min(RISE_GAIN x slope x depth, MAX_RISE_STOPS).

    ``values`` / ``weight``: the light known so far (recorded, and filled where partly clipped), premultiplied by
    ``weight``, which is 0 exactly on the fully clipped pixels. Per clip (8-connected fully clipped pixels), slope
    is how fast the known light rose towards it: the least-squares slope of log2 of the brightest channel against
    the distance to the clip, over the known pixels within RING_PIXELS of that clip whose brightest channel is at
    least MIN_RING_LIGHT (a dark object's edge says nothing of the highlight's profile); a clip without such
    pixels at two distances or more does not rise. A slope, not a contrast with white: neither where the clip's
    edge falls within its pixel nor a JPEG's near-white ring (joined to the clip, so its first known pixel reads
    at most 0.95) moves it. Depth: the pixel's distance into its clip, from the edge half a pixel out. Both are
    taken on the field resampled to FIELD_SIDE px on its long side, whatever the photo's size, so that the ring
    covers the same part of the scene in every photo.
    """
    import cv2

    h, w = weight.shape
    scale = FIELD_SIDE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    known = cv2.resize(weight, size, interpolation=interpolation)
    brightest = cv2.resize(np.ascontiguousarray(values.max(axis=2)), size, interpolation=interpolation)
    inside = known < 0.5
    if inside.all() or not inside.any():
        return np.zeros(len(ys), np.float32)
    count, clips = cv2.connectedComponents(inside.astype(np.uint8), connectivity=8)
    away, nearest = cv2.distanceTransformWithLabels((~inside).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5,
                                                    labelType=cv2.DIST_LABEL_PIXEL)
    clip_of_label = np.zeros(int(nearest.max()) + 1, np.int32)
    clip_of_label[nearest[inside]] = clips[inside]  # each fully clipped pixel labels itself and its nearest ring
    m = brightest / np.maximum(known, np.float32(1e-12))
    ring = ~inside & (away <= RING_PIXELS) & (m >= MIN_RING_LIGHT)
    clip = clip_of_label[nearest[ring]]
    d, light = away[ring].astype(np.float64), np.log2(m[ring]).astype(np.float64)
    n = np.bincount(clip, minlength=count).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_d, mean_l = np.bincount(clip, d, count) / n, np.bincount(clip, light, count) / n
        spread = np.bincount(clip, d * d, count) / n - mean_d**2
        covariance = np.bincount(clip, d * light, count) / n - mean_d * mean_l
        slope = np.where(spread > MIN_RING_SPREAD, -covariance / spread, 0.0)
    slope = np.maximum(np.nan_to_num(slope, nan=0.0), 0.0)  # 0 for label 0, the known pixels: no ring is theirs
    depth = cv2.distanceTransform(inside.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5)
    rise = np.minimum(RISE_GAIN * slope[clips] * np.maximum(depth - 0.5, 0.0), MAX_RISE_STOPS).astype(np.float32)
    return _sample(rise, ys, xs, (h, w))[0]


def _add_evidence(values: np.ndarray, weight: np.ndarray, ys: np.ndarray, xs: np.ndarray, fill: np.ndarray) -> None:
    """Filled pixels (3xN ``fill`` at (ys, xs)) become evidence of the light around them, like recorded ones."""
    values[ys, xs] = fill.T
    weight[ys, xs] = 1.0


def _colour_at(values: np.ndarray, weight: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """3xN: at the points (ys, xs), the mean colour of the nearest pixels with weight (normalised convolution of
    ``values``, colours premultiplied by ``weight``), no channel below :data:`MIN_CHROMA` of the strongest."""
    import cv2

    h, w = weight.shape
    factor = max(1.0, max(h, w) / FIELD_SIDE)
    size = (max(1, round(w / factor)), max(1, round(h / factor)))
    if factor > 1.0:  # box averages of the weighted values and of the weights: still a normalised convolution
        values = cv2.resize(values, size, interpolation=cv2.INTER_AREA)
        weight = cv2.resize(weight, size, interpolation=cv2.INTER_AREA)
    colour = _sample(_push_pull(values, weight), ys, xs, (h, w))
    np.maximum(colour, colour.max(axis=0) * np.float32(MIN_CHROMA), out=colour)
    return np.maximum(colour, np.float32(1e-12), out=colour)  # all black around: any positive c; k makes it x


def _sample(field: np.ndarray, ys: np.ndarray, xs: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """CxN: ``field`` (HxW or HxWxC, a resizing of an image of ``shape``) bilinearly interpolated at that image's
    pixels (ys, xs), by cv2.remap, with the field's pixel centres where cv2.resize places them.

    remap's maps are images of fewer than 32767 rows and columns: the N points are laid out in rows of
    :data:`SAMPLE_ROW`, the last one padded.
    """
    import cv2

    (h, w), n = shape, len(xs)
    rows = -(-n // SAMPLE_ROW)
    maps = np.zeros((2, rows * SAMPLE_ROW), np.float32)
    maps[0, :n] = (xs + 0.5) * (field.shape[1] / w) - 0.5
    maps[1, :n] = (ys + 0.5) * (field.shape[0] / h) - 0.5
    maps = maps.reshape(2, rows, SAMPLE_ROW)
    sampled = cv2.remap(field, maps[0], maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    channels = field.shape[2] if field.ndim == 3 else 1
    return np.ascontiguousarray(sampled.reshape(-1, channels)[:n].T)


def _push_pull(values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """HxWx3 mean colour everywhere from weighted ``values`` (colour x weight) and ``weight`` in [0, 1].

    Push: Gaussian pyramids of both (:func:`_reduce`) until every coarsest pixel has weight. Pull: from coarse to
    fine, each level keeps its own normalised mean where its coverage is at least :data:`TRUSTED_COVERAGE`
    and fills the rest from the coarser estimate interpolated where :func:`_reduce` took its samples
    (:func:`_expand`), in proportion to the coverage it lacks.
    """
    levels = [(values, weight)]
    while max(weight.shape) > 1 and weight.min() <= 0.0:
        values, weight = _reduce(values), _reduce(weight)
        levels.append((values, weight))
    estimate = values / np.maximum(weight, np.float32(1e-12))[..., None]
    for values, weight in reversed(levels[:-1]):
        up = _expand(estimate, weight.shape)
        trusted = np.maximum(weight, np.float32(TRUSTED_COVERAGE))[..., None]
        estimate = (values + (trusted - weight[..., None]) * up) / trusted
    return estimate


def _reduce(image: np.ndarray) -> np.ndarray:
    """The next level of a Gaussian pyramid (Burt & Adelson 1983, "The Laplacian pyramid as a compact image code",
    IEEE Trans. Commun. 31(4)) whose samples lie symmetrically in the image, so that the fill of a mirrored photo
    is the mirrored fill: along a side of odd length on every other pixel from the first to the last (cv2.pyrDown's
    5-tap binomial), along a side of even length midway between pixels 0|1, 2|3, ... (the means of neighbouring
    pixels, then pyrDown's filter: a 6-tap binomial). pyrDown alone samples pixels 0, 2, ..., n - 2 of an even side:
    read back as if centred (cv2.resize), each level lay half a pixel of the finer one towards the first pixel,
    2^(l-1) - 1/2 px at level l, and a clip took its colour from above and left of it.
    """
    import cv2

    h, w = image.shape[:2]
    if w % 2 == 0:
        image = (image[:, :-1] + image[:, 1:]) * np.float32(0.5)
    if h % 2 == 0:
        image = (image[:-1] + image[1:]) * np.float32(0.5)
    return cv2.pyrDown(image)


def _expand(coarse: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``coarse`` (:func:`_reduce` of a level of ``shape``) bilinearly interpolated at that level's pixels, read
    where _reduce took its samples: pixel x of a side of odd length at coarse x / 2, of an even side at
    (x - 1/2) / 2."""
    import cv2

    h, w = shape[:2]
    inverse = np.float32([[0.5, 0.0, 0.0 if w % 2 else -0.25], [0.0, 0.5, 0.0 if h % 2 else -0.25]])
    return cv2.warpAffine(coarse, inverse, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
