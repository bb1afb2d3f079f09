"""Image constants and helpers shared by every stage: one home for luma, the sRGB curve, quantisation and
the RGB shape check.
"""

from __future__ import annotations

import numpy as np

from .errors import UsageError

# ITU-R BT.709 luma weights on linear RGB (also sRGB's primaries).
LUMA_709 = np.array([0.2126, 0.7152, 0.0722], dtype=np.float64)
CODE_TYPES: dict[int, type[np.unsignedinteger]] = {8: np.uint8, 16: np.uint16}  # bits per channel -> its codes
FLOAT32_MAX = float(np.finfo(np.float32).max)  # about 3.4e38: beyond, a float64 value becomes infinite as float32


def check_rgb(image: np.ndarray, what: str = "image") -> np.ndarray:
    """``image`` as an array after checking it is a non-empty HxWx3 numeric array.

    Raises:
        UsageError: any other shape, a non-numeric dtype, or complex numbers (numpy dropped their imaginary part with
            a ComplexWarning: tone mapping, EXR and PNG writing took the real part as the image), or what numpy cannot
            read as an array (a bfloat16 or GPU torch tensor, a ragged list: numpy's TypeError or ValueError).
    """
    try:
        image = np.asarray(image)
    except (TypeError, ValueError, RuntimeError) as exc:
        why = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise UsageError(f"{what} cannot be read as an array ({why}): give a numpy array (a torch tensor as "
                         "tensor.float().cpu().numpy())") from None
    if (image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape[:2] or not np.issubdtype(image.dtype, np.number)
            or np.issubdtype(image.dtype, np.complexfloating)):
        alpha = " (drop the alpha: image[..., :3])" if image.ndim == 3 and image.shape[2] == 4 else ""
        raise UsageError(f"expected a non-empty HxWx3 RGB {what}, got shape {image.shape} ({image.dtype}){alpha}")
    return image


def display_codes(image: np.ndarray, what: str = "photo") -> np.ndarray:
    """A display-encoded photo given as an array (what the library's predictors and :func:`measure_photo` take),
    as float32 codes in [0, 1]: uint8 / 255 and uint16 / 65535 as decoders give them, floats as they are (clipped:
    an edit can leave 1.0001).

    Raises:
        UsageError: not HxWx3 (RGBA: drop the alpha, ``image[..., :3]``), another integer type (whose white is
            unknown), booleans, or NaN / infinite values (one spreads over the whole output of a network). A finite
            value beyond float32's range (a float64 1e39) is clipped like any other above 1, not taken for infinite.
    """
    image = check_rgb(image, what)
    if image.dtype.type in CODE_TYPES.values():
        return unit_codes(image)
    if not np.issubdtype(image.dtype, np.floating):
        raise UsageError(f"{what} of type {image.dtype}: give uint8 or uint16 codes, or floats in [0, 1]")
    return np.clip(check_finite(image, what), 0.0, 1.0).astype(np.float32, copy=False)  # clipped before float32


def float_codes(image: np.ndarray, what: str = "image") -> np.ndarray:
    """``image`` as floats: uint8 / uint16 codes in [0, 1] (:func:`unit_codes`), floats as they are.

    Raises:
        UsageError: another integer type or booleans, whose white is unknown.
    """
    image = unit_codes(image)
    if not np.issubdtype(image.dtype, np.floating):
        raise UsageError(f"{what} of type {image.dtype}: give floats, or uint8 or uint16 codes")
    return image


def float32_image(image: np.ndarray, what: str = "image") -> np.ndarray:
    """``image`` as float32, after checking that every value is a finite number that float32 holds.

    Raises:
        UsageError: how many values are NaN or infinite, or out of float32's range (beyond +-3.4e38: a float64
            image's 1e39 was reported as infinite, which it is only once cast).
    """
    image = check_finite(np.asarray(image), what)
    if np.issubdtype(image.dtype, np.floating) and float(np.finfo(image.dtype).max) > FLOAT32_MAX:  # float16: no cast
        beyond = int(np.count_nonzero(np.abs(image) > FLOAT32_MAX))
        if beyond:
            raise UsageError(f"{what}: {beyond} values are out of range (beyond float32's +-{FLOAT32_MAX:.3g})")
    return image.astype(np.float32, copy=False)


def check_finite(image: np.ndarray, what: str = "image") -> np.ndarray:
    """``image`` itself, after checking that every value is a finite number.

    Raises:
        UsageError: how many values are NaN or infinite (one NaN spreads over a network's whole output).
    """
    finite = np.isfinite(image)
    if not finite.all():
        raise UsageError(f"{what}: {int(image.size - np.count_nonzero(finite))} values are NaN or infinite")
    return image


def luminance(rgb: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """L = 0.2126 R + 0.7152 G + 0.0722 B of linear RGB, HxW in ``dtype``."""
    return np.asarray(rgb, dtype=dtype) @ LUMA_709.astype(dtype)


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB encoding of [0, 1] linear values: 12.92 x up to 0.0031308, else
    1.055 x^(1/2.4) - 0.055; float32."""
    # float32, in place: a 24-megapixel frame's temporaries stay small
    x = np.clip(np.array(linear, dtype=np.float32, ndmin=1), 0.0, 1.0)
    out = np.power(x, np.float32(1 / 2.4))
    out *= np.float32(1.055)
    out -= np.float32(0.055)
    low = x <= 0.0031308
    out[low] = x[low] * np.float32(12.92)
    return out.reshape(np.shape(linear))


def srgb_decode(encoded: np.ndarray) -> np.ndarray:
    """Inverse of :func:`srgb_encode`: x / 12.92 up to 0.04045, else ((x + 0.055) / 1.055)^2.4; float32."""
    y = np.clip(np.array(encoded, dtype=np.float32, ndmin=1), 0.0, 1.0)
    out = y + np.float32(0.055)
    out /= np.float32(1.055)
    np.power(out, np.float32(2.4), out=out)
    low = y <= 0.04045
    out[low] = y[low] / np.float32(12.92)
    return out.reshape(np.shape(encoded))


def unit_codes(codes: np.ndarray) -> np.ndarray:
    """Codes of any shape as [0, 1] values: uint8 / 255 and uint16 / 65535 (float32), anything else as it is, so that
    a decoder's integer codes and float codes mean the same light (uint8 128 was read as 128.0, i.e. white)."""
    codes = np.asarray(codes)
    if codes.dtype.type in CODE_TYPES.values():
        return codes.astype(np.float32) / np.float32(np.iinfo(codes.dtype).max)
    return codes


def quantise(image: np.ndarray, bits: int) -> np.ndarray:
    """[0, 1] floats (or uint8/uint16 codes: :func:`unit_codes`) to unsigned ``bits``-bit integers (8 -> uint8,
    16 -> uint16), rounding to nearest. float16 is scaled in float32 (65535 is beyond half float's 65504: a
    16-bit image of float16 values came out black).

    Raises:
        UsageError: ``bits`` not 8 or 16, or codes of another type (int32, bool: their white is unknown, and an
            int32 image of 8-bit codes came out white).
    """
    if bits not in CODE_TYPES:
        raise UsageError(f"bit depth must be 8 or 16, not {bits}")
    dtype = CODE_TYPES[bits]
    image = np.asarray(image)
    if image.dtype == dtype:
        return image
    codes = float_codes(image, "image to quantise")
    if codes.dtype == np.float16:
        codes = codes.astype(np.float32)
    levels = float(2**bits - 1)
    return np.round(np.clip(codes, 0.0, 1.0) * levels).astype(dtype)
