"""Inference-only fast paths for the CPU, each computing the same function as the plain PyTorch op.

* 3x3 convolutions go through NNPACK's Winograd kernels (Lavin & Gray, "Fast Algorithms for
  Convolutional Neural Networks", CVPR 2016), which PyTorch ships but only picks for large batches.
  NNPACK's single-image inference algorithm is the fast one: on the 2-core AVX2 development machine it
  runs CEVR's 3x3 convolutions 2.4-3.5x faster than oneDNN's direct convolution, while its batched
  algorithm gains only 1.1-1.2x, so a batch runs one image at a time. Results agree to about 1e-5
  (Winograd rounding). Anything else (training, GPUs, other dtypes, a build without NNPACK) uses
  ``F.conv2d``.
* Bicubic upsampling (PyTorch's ``align_corners=False``, a = -0.75, clamped borders) goes through
  OpenCV's ``resize(INTER_CUBIC)``, which computes the same filter (agreement about 1e-6) about 5x
  faster than ``F.interpolate`` on this machine, one plane at a time.
* Eval-mode BatchNorm after a convolution is folded into the convolution's weights.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn


@functools.cache
def nnpack_ready() -> bool:
    """NNPACK is compiled in and initialised (the availability check is what initialises it)."""
    try:
        return bool(torch.backends.nnpack.is_available())
    except (AttributeError, RuntimeError):
        return False


def _use_nnpack(x: torch.Tensor) -> bool:
    return x.device.type == "cpu" and x.dtype == torch.float32 and not torch.is_grad_enabled() and nnpack_ready()


def conv3x3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, padding=1)``, through NNPACK where that is possible."""
    if _use_nnpack(x):
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
    if not (x.device.type == "cpu" and x.dtype == torch.float32 and not torch.is_grad_enabled()):
        return F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
    import cv2

    b, c, h, w = x.shape
    source = x.contiguous().numpy()
    out = torch.empty((b, c, h * scale, w * scale), dtype=x.dtype)
    target = out.numpy()
    for i in range(b):
        for j in range(c):
            cv2.resize(source[i, j], (w * scale, h * scale), dst=target[i, j], interpolation=cv2.INTER_CUBIC)
    return out


def fold_batchnorm(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of ``norm(conv(x))`` as one convolution, for a BatchNorm in eval mode."""
    scale = norm.weight * torch.rsqrt(norm.running_var + norm.eps)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(norm.running_mean)
    return conv.weight * scale[:, None, None, None], (bias - norm.running_mean) * scale + norm.bias


def run_vgg_stage(stage: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """A VGG-bn stage; in eval mode without gradients, conv+BN run as one (fast) convolution."""
    if stage.training or torch.is_grad_enabled():
        return stage(x)
    modules = list(stage)
    i = 0
    while i < len(modules):
        module = modules[i]
        if isinstance(module, nn.Conv2d) and i + 1 < len(modules) and isinstance(modules[i + 1], nn.BatchNorm2d):
            weight, bias = fold_batchnorm(module, modules[i + 1])
            x = conv3x3(x, weight, bias) if module.kernel_size == (3, 3) and module.padding == (1, 1) \
                else F.conv2d(x, weight, bias, module.stride, module.padding)
            i += 2
            continue
        if isinstance(module, nn.ReLU):
            x = F.relu(x, inplace=True)
        else:
            x = module(x)
        i += 1
    return x
