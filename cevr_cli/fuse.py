"""Library entry points behind `cevr fuse` and `cevr tonemap`.

Fusing follows Debevec & Malik 1997 (``hdr/debevec1997.py``): recover the response g from the
stack, merge with Eq. 6. The EVs are relative, so exposure times are dt = 2^EV and the radiance is
relative too (E = 1 is what EV 0 records at the middle code).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .errors import OutputError, UsageError
from .hdr.debevec1997 import ResponseCurve, merge_radiance, recover_response
from .hdr.tonemap import tonemap_to_display
from .io.atomic import atomic_path, atomic_write_text
from .io.hdrfile import read_hdr_image, write_exr, write_radiance_hdr
from .io.images import write_ldr

PathLike = str | os.PathLike[str]

HDR_FORMATS: tuple[str, ...] = ("exr", "hdr")
# Display-image suffix -> bits per channel written.
DISPLAY_SUFFIX_BITS: dict[str, int] = {".png": 8, ".jpg": 8, ".jpeg": 8, ".tif": 16, ".tiff": 16}


@dataclass(frozen=True)
class FuseResult:
    """A fused stack: float32 HxWx3 relative radiance, the recovered response, the dt used."""

    radiance: np.ndarray
    response: ResponseCurve
    exposure_times: np.ndarray


def exposure_times_from_evs(evs: Sequence[float]) -> np.ndarray:
    """dt_j = 2^EV_j relative to EV 0; EVs must be finite and distinct.

    Raises:
        UsageError: non-finite or repeated EVs.
    """
    ev = np.asarray(evs, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(ev)):
        raise UsageError("EVs must be finite numbers")
    if np.unique(ev).size != ev.size:
        raise UsageError("EVs must be distinct: each exposure needs its own EV")
    return np.exp2(ev)


def fuse_stack(images: Sequence[np.ndarray], evs: Sequence[float]) -> FuseResult:
    """Merge an exposure stack (uint8 or uint16 HxWx3 RGB, one EV each) into a radiance map.

    Raises:
        UsageError: fewer than two images, EV count mismatch, mixed shapes or dtypes.
    """
    if len(images) != len(evs):
        raise UsageError(f"{len(images)} images but {len(evs)} EVs")
    times = exposure_times_from_evs(evs)
    response = recover_response(images, times)
    return FuseResult(merge_radiance(images, times, response), response, times)


def write_hdr_output(path: PathLike, radiance: np.ndarray, fmt: str = "exr", *, half: bool = True,
                     compression: str = "zip", attributes: Mapping[str, str | float] | None = None) -> None:
    """Write ``radiance`` as OpenEXR (``half``/``compression``/``attributes`` apply) or Radiance .hdr, atomically.

    Raises:
        UsageError: unknown format or compression.
        OutputError: the file cannot be written.
    """
    fmt = fmt.lower().lstrip(".")
    if fmt == "exr":
        write_exr(path, radiance, half=half, compression=compression, attributes=attributes)
    elif fmt == "hdr":
        write_radiance_hdr(path, radiance)
    else:
        raise UsageError(f"HDR format {fmt!r}: use one of {', '.join(HDR_FORMATS)}")


def write_crf_csv(path: PathLike, response: ResponseCurve) -> None:
    """Write the response as CSV: code, then g = ln(E dt) for R, G, B (Debevec & Malik Eq. 2)."""
    lines = ["code,g_r,g_g,g_b"]
    lines += [f"{code:g},{r:.6f},{g:.6f},{b:.6f}" for code, (r, g, b) in zip(response.codes, response.g,
                                                                            strict=True)]
    atomic_write_text(path, "\n".join(lines) + "\n")


def write_crf_plot(path: PathLike, response: ResponseCurve, *, size: tuple[int, int] = (512, 384)) -> None:
    """Draw g(code) per channel as a PNG (OpenCV lines; x = code, y = ln exposure), atomically.

    Raises:
        OutputError: the file cannot be written.
    """
    width, height = size
    margin = 24
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    g = response.g
    lo, hi = float(g.min()), float(g.max())
    span = hi - lo if hi > lo else 1.0
    x = margin + (response.codes / response.codes[-1]) * (width - 2 * margin)
    cv2.rectangle(canvas, (margin, margin), (width - margin, height - margin), (160, 160, 160), 1)
    for c, bgr in enumerate(((0, 0, 220), (0, 160, 0), (220, 0, 0))):
        y = height - margin - (g[:, c] - lo) / span * (height - 2 * margin)
        points = np.round(np.stack([x, y], axis=1)).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(canvas, [points], isClosed=False, color=bgr, thickness=1, lineType=cv2.LINE_AA)
    _imwrite(path, canvas)


def _imwrite(path: PathLike, bgr: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), bgr):
            raise OutputError(f"{path}: OpenCV could not write the image")


def _display_bits(dst: Path) -> int:
    bits = DISPLAY_SUFFIX_BITS.get(dst.suffix.lower())
    if bits is None:
        raise UsageError(f"{dst}: write display images as {', '.join(DISPLAY_SUFFIX_BITS)}")
    return bits


def tonemap_array_to_file(radiance: np.ndarray, dst: PathLike, operator: str, *, key: float | None = None,
                          white: float | None = None, gamma: float = 2.2, srgb: bool = False,
                          exif_bytes: bytes | None = None, icc_profile: bytes | None = None) -> None:
    """Tone-map linear RGB and write it: 8-bit for .png/.jpg, 16-bit for .tif, atomically.

    ``exif_bytes`` / ``icc_profile`` (the source photo's) are carried as :func:`write_ldr` allows.

    Raises:
        UsageError: unknown operator or output suffix.
        OutputError: the file cannot be written.
    """
    dst = Path(dst)
    bits = _display_bits(dst)
    display = tonemap_to_display(radiance, operator, key=key, white=white, gamma=gamma, srgb=srgb)
    write_ldr(dst, display, bit_depth=bits, exif_bytes=exif_bytes, icc_profile=icc_profile)


def tonemap_file(src: PathLike, dst: PathLike, operator: str, *, key: float | None = None,
                 white: float | None = None, gamma: float = 2.2, srgb: bool = False) -> None:
    """Read an .exr/.hdr file, tone-map it with ``operator`` and write a display image to ``dst``.

    Raises:
        InputError: ``src`` unreadable.
        UsageError: unknown operator or output suffix, or bad gamma.
        OutputError: ``dst`` is ``src`` or cannot be written.
    """
    src, dst = Path(src), Path(dst)
    _display_bits(dst)
    if dst.exists() and src.exists() and dst.resolve() == src.resolve():
        raise OutputError(f"{dst}: refusing to overwrite the input")
    tonemap_array_to_file(read_hdr_image(src), dst, operator, key=key, white=white, gamma=gamma, srgb=srgb)
