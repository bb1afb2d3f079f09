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

* In bfloat16 on the CPU (``--precision bf16``, for CPUs with native bf16 dot products) tensors are
  channels-last: oneDNN's bf16 convolutions need that layout to be fast, and per-pixel linear layers
  become one (pixels x C) @ (C x C') product (:func:`pointwise`). Bicubic upsampling there still runs in
  float32 through OpenCV, at most 128 channels per call (OpenCV's limit), because PyTorch's bf16 bicubic
  kernel is 3.6x slower than OpenCV's float32 one.

All are for inference only (NNPACK and OpenCV record no autograd graph); the trained network,
``cevr.CEVRNet``, uses the plain ops.
"""

from __future__ import annotations

import functools

import numpy as np
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


# OpenCV's resize takes at most this many channels per image (CV_CN_MAX in OpenCV 5 builds).
OPENCV_MAX_CHANNELS = 128


def _cpu_float32(x: torch.Tensor) -> bool:
    return FAST_PATHS and x.device.type == "cpu" and x.dtype == torch.float32 and not is_channels_last(x)


def _cpu_bfloat16(x: torch.Tensor) -> bool:
    return FAST_PATHS and x.device.type == "cpu" and x.dtype == torch.bfloat16 and is_channels_last(x)


def is_channels_last(x: torch.Tensor) -> bool:
    """``x`` is NCHW in channels-last memory (and not also plainly contiguous, as 1-channel tensors are)."""
    return x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


def pointwise(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """A linear layer at every pixel of NCHW ``x``, in ``x``'s memory layout.

    ``weight`` is (C_out, C_in), or (N, C_out, C_in) for a matrix per sample; ``bias`` is (C_out,) or (N, C_out).
    Channels-last: one (pixels x C_in) @ (C_in x C_out) product per sample; otherwise (C_out x C_in) @ (C_in x
    pixels). Either way a GEMM with the pixels as the long side, which BLAS and oneDNN run near their peak.
    """
    n, c, height, width = x.shape
    if is_channels_last(x):
        out = _linear(x.permute(0, 2, 3, 1).reshape(n, height * width, c), weight, bias, channels_last=True)
        return out.view(out.shape[0], height, width, -1).permute(0, 3, 1, 2)
    out = _linear(x.flatten(2), weight, bias, channels_last=False)
    return out.view(out.shape[0], -1, height, width)


# Pixels per chunk of ``pointwise_chain``: a chunk's intermediates (C x pixels floats) stay in the L2/L3 cache.
CHAIN_CHUNK_PIXELS = 2048

Layers = list[tuple[torch.Tensor, torch.Tensor]]


def pointwise_chain(x: torch.Tensor, stages: list[tuple[Layers, float]], *, residual: bool = False) -> torch.Tensor:
    """Per-pixel MLPs one after the other: each stage's linear layers, then LeakyReLU(slope); ``+ x`` if ``residual``.

    Weights and biases as in :func:`pointwise`. Computed over chunks of pixels, so the intermediate features
    of a chunk stay in cache instead of making one trip through memory per layer: the per-pixel layers are
    thin matrix products (C = 64..256) whose time otherwise goes to streaming features to and from memory.
    With ``residual`` the result is written into ``x`` (whose batch must then be the output's).
    """
    n, c, height, width = x.shape
    pixels = height * width
    channels_last = is_channels_last(x)
    source = x.permute(0, 2, 3, 1).reshape(n, pixels, c) if channels_last else x.reshape(n, c, pixels)
    batch = max([n] + [b.shape[0] for layers, _ in stages for _, b in layers if b.dim() == 2])
    out_channels = stages[-1][0][-1][0].shape[-2]
    if residual:
        target = source
    elif channels_last:
        target = x.new_empty((batch, pixels, out_channels))
    else:
        target = x.new_empty((batch, out_channels, pixels))
    for start in range(0, pixels, CHAIN_CHUNK_PIXELS):
        stop = min(pixels, start + CHAIN_CHUNK_PIXELS)
        chunk = source[:, start:stop] if channels_last else source[:, :, start:stop]
        value = chunk
        for layers, slope in stages:
            for weight, bias in layers:
                value = _linear(value, weight, bias, channels_last)
            value = F.leaky_relu_(value, slope)
        part = target[:, start:stop] if channels_last else target[:, :, start:stop]
        if residual:
            part.add_(value)
        else:
            part.copy_(value)
    if channels_last:
        return target.view(-1, height, width, out_channels).permute(0, 3, 1, 2)
    return target.view(-1, out_channels, height, width)


def _linear(value: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, channels_last: bool) -> torch.Tensor:
    """One linear layer on (N, pixels, C) rows if ``channels_last``, else on (N, C, pixels) columns."""
    if channels_last:
        if weight.dim() == 2 and (bias is None or bias.dim() == 1):
            return F.linear(value, weight, bias)
        out = torch.matmul(value, weight.transpose(-1, -2))
        return out if bias is None else add_into(out, bias[:, None, :] if bias.dim() == 2 else bias)
    out = torch.matmul(weight, value)
    return out if bias is None else add_into(out, bias[:, :, None] if bias.dim() == 2 else bias[:, None])


def add_into(target: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """``target + other``, into ``target`` when broadcasting keeps its shape (a fresh buffer costs page faults;
    a batch-1 feature plus a term per EV step grows, so gets one)."""
    if torch.broadcast_shapes(target.shape, other.shape) == target.shape:
        return target.add_(other)
    return target + other


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
    if _cpu_bfloat16(x):
        return _upsample_channels_last(x, scale)
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


def _upsample_channels_last(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic upsampling of a channels-last CPU tensor through OpenCV in float32, returned in ``x``'s dtype."""
    import cv2

    n, c, h, w = x.shape
    size = (w * scale, h * scale)
    source = x.permute(0, 2, 3, 1).float().numpy()  # (N, H, W, C), contiguous for a channels-last x
    out = torch.empty((n, h * scale, w * scale, c), dtype=torch.float32)
    target = out.numpy()
    for i in range(n):
        if c <= OPENCV_MAX_CHANNELS:
            cv2.resize(source[i], size, dst=target[i], interpolation=cv2.INTER_CUBIC)
            continue
        for c0 in range(0, c, OPENCV_MAX_CHANNELS):
            part = np.ascontiguousarray(source[i, ..., c0 : c0 + OPENCV_MAX_CHANNELS])
            target[i, ..., c0 : c0 + OPENCV_MAX_CHANNELS] = cv2.resize(part, size, interpolation=cv2.INTER_CUBIC)
    return out.to(x.dtype).permute(0, 3, 1, 2)
