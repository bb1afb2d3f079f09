"""CPU fast paths of the fused inference model (``fused.py``), each computing the same function as the plain op.

* 3x3 convolutions go through NNPACK's Winograd kernels (Lavin & Gray, "Fast Algorithms for
  Convolutional Neural Networks", CVPR 2016), which PyTorch ships but only picks for large batches.
  NNPACK's single-image inference algorithm is the fast one: on the 2-core AVX2 development machine it
  runs CEVR's 3x3 convolutions 2.4-3.5x faster than oneDNN's direct convolution, while its batched
  algorithm gains only 1.1-1.2x, so a batch runs one image at a time. Results agree to about 1e-5
  (Winograd rounding). Other devices and dtypes, or a build without NNPACK, use ``F.conv2d``.
* Bicubic upsampling (PyTorch's ``align_corners=False``, a = -0.75, clamped borders) goes through
  OpenCV's ``resize(INTER_CUBIC)``, which computes the same filter (agreement about 1e-6) about 5x
  faster than ``F.interpolate`` on this machine, one plane at a time. Other devices and dtypes use
  ``F.interpolate``.

Both are for inference only (NNPACK's batched ``out=`` call and OpenCV record no autograd graph); the
trained network, ``cevr.CEVRNet``, uses the plain ops.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

# Set to False to run the plain ops everywhere (the benchmark's "plain" variant measures what they save).
FAST_PATHS = True


@functools.cache
def nnpack_ready() -> bool:
    """NNPACK is compiled in and initialised (the availability check is what initialises it)."""
    try:
        return bool(torch.backends.nnpack.is_available())
    except (AttributeError, RuntimeError):
        return False


def _cpu_float32(x: torch.Tensor) -> bool:
    return FAST_PATHS and x.device.type == "cpu" and x.dtype == torch.float32


def conv3x3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, padding=1)``, through NNPACK where that is possible."""
    if _cpu_float32(x) and nnpack_ready():
        if bias is None:
            bias = weight.new_zeros(weight.shape[0])
        x, weight, bias = x.contiguous(), weight.contiguous(), bias.contiguous()
        try:
            if x.shape[0] == 1:
                return torch._nnpack_spatial_convolution(x, weight, bias, [1, 1])
            out = x.new_empty((x.shape[0], weight.shape[0], *x.shape[2:]))
            for i in range(x.shape[0]):
                torch.ops.aten._nnpack_spatial_convolution.out(x[i : i + 1], weight, bias, [1, 1], out=out[i : i + 1])
            return out
        except RuntimeError:  # e.g. NNPACK could not allocate its workspace: the plain op always works
            pass
    return F.conv2d(x, weight, bias, padding=1)


def upsample_bicubic(x: torch.Tensor, scale: int) -> torch.Tensor:
    """``F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)`` for NCHW ``x``."""
    if not _cpu_float32(x):
        return F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
    import cv2

    b, c, h, w = x.shape
    source = x.detach().contiguous().numpy()
    out = torch.empty((b, c, h * scale, w * scale), dtype=x.dtype)
    target = out.numpy()
    for i in range(b):
        for j in range(c):
            cv2.resize(source[i, j], (w * scale, h * scale), dst=target[i, j], interpolation=cv2.INTER_CUBIC)
    return out
