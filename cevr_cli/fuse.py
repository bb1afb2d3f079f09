"""Stack -> HDR radiance map (Debevec & Malik 1997) and HDR -> display image, as library calls.

The response recovery and merge are OpenCV's ``CalibrateDebevec``/``MergeDebevec``, the field's
reference implementation of Debevec & Malik, "Recovering high dynamic range radiance maps from
photographs" (SIGGRAPH 1997): least-squares response with a smoothness term and hat weighting, then a
weighted log-domain merge (Eq. 6). Exposure times are 2^EV relative to EV 0. OpenCV's calibration takes
8-bit images, so 16-bit stacks are rounded to 8 bits for the response and merge.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError, UsageError
from .hdr.tonemap import tonemap_to_display
from .io.atomic import atomic_write_text
from .io.hdrfile import read_hdr_image, write_exr, write_radiance_hdr
from .io.images import write_ldr


@dataclass
class FuseResult:
    radiance: np.ndarray  # float32 HxWx3, scene-linear, relative to EV 0
    response: np.ndarray  # (256, 3) inverse camera response (linear value per 8-bit code)
    exposure_times: np.ndarray


def _as_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return np.round(image.astype(np.float32) / 257.0).astype(np.uint8)
    raise UsageError(f"stack images must be 8- or 16-bit integers, not {image.dtype}")


def fuse_stack(images: list[np.ndarray], evs: list[float], *, samples: int = 70, smoothness: float = 10.0) -> FuseResult:
    """Recover the camera response from the stack and merge it into a radiance map."""
    import cv2

    if len(images) != len(evs) or len(images) < 2:
        raise UsageError(f"need at least 2 images with one EV each (got {len(images)} images, {len(evs)} EVs)")
    shapes = {im.shape for im in images}
    if len(shapes) != 1 or images[0].ndim != 3 or images[0].shape[2] != 3:
        raise UsageError(f"stack images must all be HxWx3 of one size (got {sorted(shapes)})")
    stack = [np.ascontiguousarray(_as_uint8(im)) for im in images]
    times = np.array([2.0**ev for ev in evs], dtype=np.float32)
    response = cv2.createCalibrateDebevec(samples=samples, lambda_=smoothness, random=False).process(stack, times)
    radiance = cv2.createMergeDebevec().process(stack, times, response)
    radiance = np.nan_to_num(radiance, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
    return FuseResult(radiance, response.reshape(256, 3).astype(np.float32), times)


def write_hdr_output(path: Path, radiance: np.ndarray, *, fmt: str = "exr", half: bool = True,
                     compression: str = "zip") -> None:
    if fmt == "exr":
        write_exr(path, radiance, half=half, compression=compression)
    elif fmt == "hdr":
        write_radiance_hdr(path, radiance)
    else:
        raise UsageError(f"HDR format {fmt!r}: use exr or hdr")


def write_crf_csv(path: Path, response: np.ndarray) -> None:
    """The recovered inverse response, one row per pixel code: code, R, G, B (linear, relative)."""
    rows = ["code,r,g,b"] + [f"{i},{r:.6g},{g:.6g},{b:.6g}" for i, (r, g, b) in enumerate(response)]
    atomic_write_text(path, "\n".join(rows) + "\n")


def tonemap_array_to_file(hdr: np.ndarray, dst: Path, operator: str, *, key: float | None = None,
                          white: float | None = None, gamma: float = 2.2, srgb: bool = False) -> None:
    """Tone-map and write 8-bit PNG/JPEG or 16-bit TIFF (by ``dst``'s suffix)."""
    display = tonemap_to_display(hdr, operator, key=key, white=white, gamma=gamma, srgb=srgb)
    bits = 16 if dst.suffix.lower() in (".tif", ".tiff") else 8
    write_ldr(dst, display, bit_depth=bits)


def tonemap_file(src: Path, dst: Path, operator: str, **options: object) -> None:
    """Read an .exr/.hdr and write its tone-mapped display image."""
    hdr = read_hdr_image(src)
    if hdr.size == 0 or not np.any(hdr > 0):
        raise InputError(src, "image is entirely black: nothing to tone-map")
    tonemap_array_to_file(hdr, Path(dst), operator, **options)  # type: ignore[arg-type]
