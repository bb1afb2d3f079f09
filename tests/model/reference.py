"""A literal, unoptimised transcription of the CEVR forward pass.

It builds the constant EV plane and concatenates it before every MLP and head, and upsamples the
256/128-channel features to full size before the intensity-map convolutions, as the paper and the
official code describe. It shares parameters with :class:`CEVRNet` and exists to check that the
optimised path computes the same function (a test oracle: it does not ship in the package).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cevr_cli.model.cevr import EVMLP, CEVRNet, DecoderBlock


def _with_ev(x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    plane = s.to(x.dtype)[:, None, None, None].expand(x.shape[0], 1, *x.shape[2:])
    return torch.cat([x, plane], dim=1)


def _mlp(mlp: EVMLP, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    h = _with_ev(x, s).permute(0, 2, 3, 1)
    for layer in mlp.layers:
        h = layer(h)
    return F.leaky_relu(h, mlp.slope).permute(0, 3, 1, 2)


def _decoder(block: DecoderBlock, x: torch.Tensor, skip: torch.Tensor, s: torch.Tensor, groups: int):
    x = block.conv_resize(F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False))
    x = _mlp(block.mlp1, torch.cat([x, skip], dim=1), s)
    out = x + _mlp(block.mlp4, _mlp(block.mlp3, F.group_norm(x, groups), s), s)
    if block.map_scale == 1:
        return out, None
    up = F.interpolate(out, scale_factor=block.map_scale, mode="bicubic", align_corners=False)
    return out, (block.conv_mul(up), block.conv_rgb(up))


def reference_forward(model: CEVRNet, image: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """F(I, s) for a batch of images and steps of equal length, computed the plain way."""
    groups = model.config.norm_groups
    f1 = model.encoder1(image)
    f2 = model.encoder2(f1)
    f3 = model.encoder3(f2)
    pooled = F.max_pool2d(f3, 2, 2)
    feature = _mlp(model.neck.mlp, F.group_norm(pooled, groups), s) + pooled
    maps = []
    for block, skip in ((model.decoder3, f3), (model.decoder4, f2), (model.decoder5, f1)):
        feature, pair = _decoder(block, feature, skip, s, groups)
        if pair is not None:
            maps.append(pair)
    head_in = _with_ev(feature, s)
    maps.append((model.conv_mul(head_in), model.conv_rgb(head_in)))
    out = image
    for alpha, beta in maps:
        out = out * alpha + beta
    return out
