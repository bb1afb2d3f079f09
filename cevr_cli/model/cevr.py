"""The CEVR network: F(I, s), photo I re-exposed by s stops.

Chen, Chen, Lin, Chen, Liu, "Learning Continuous Exposure Value Representations for Single-Image HDR
Reconstruction", ICCV 2023. The layer structure and parameter names follow the official
``CEVR_NormNoAffine_Maps`` GroupNorm model, so its released state dicts load key for key
(see ``weights.py``); the code is ours.

Two implementation choices keep inference cheap without changing the function computed:

* The EV step enters every MLP as one constant input channel (Eq. 2). A linear layer on
  ``[feature, s]`` equals the layer on ``feature`` plus ``s`` times the weight column of that channel, so
  ``s`` is folded into the bias and no constant plane is ever built. Because of this, every part of a
  layer that does not depend on ``s`` (the encoder, the skip half of each decoder's first MLP, the neck's
  first layer) is computed once and broadcast over a batch of EV steps.
* The intensity-transformation maps of decoder blocks 1 and 2 are "bicubic upsample to full size, then
  3x3 conv to one channel". Both steps are linear and the upsampling acts on each channel alike, so the
  conv's nine taps are first applied as a 1x1 conv at low resolution, the nine tap planes are upsampled,
  and each is shifted into place. Exact (same zero padding), with 9 instead of 256 full-size planes.
* The implicit modules have no activation between their linear layers (as in the official code), so
  each MLP is applied as the single affine map it equals (``EVMLP.collapsed``).

In inference (no gradients) on the CPU, ``fastops`` adds NNPACK Winograd 3x3 convolutions, OpenCV bicubic
upsampling and folds the encoder's BatchNorm into its convolutions.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .config import CEVRConfig
from .fastops import conv3x3, run_vgg_stage, upsample_bicubic


@dataclass
class NormStats:
    """GroupNorm statistics, recorded on one pass and imposed on another.

    Tiled inference records the per-(sample, group) mean and variance of each GroupNorm on the whole
    image (or a downscaled copy), then imposes them on every tile, so tiles are normalised alike and no
    seam can come from normalisation.
    """

    mode: str  # "record" or "apply"
    values: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)

    def select(self, index: torch.Tensor) -> NormStats:
        """The statistics of a subset of the batch (a chunk of EV steps)."""
        picked = {
            k: (m if m.shape[0] == 1 else m[index], v if v.shape[0] == 1 else v[index])
            for k, (m, v) in self.values.items()
        }
        return NormStats(self.mode, picked)


class GroupNormNoAffine(nn.Module):
    """GroupNorm without learnable parameters, optionally with imposed statistics."""

    def __init__(self, groups: int, name: str, eps: float = 1e-5) -> None:
        super().__init__()
        self.groups = groups
        self.name = name
        self.eps = eps

    def forward(self, x: torch.Tensor, stats: NormStats | None = None) -> torch.Tensor:
        if stats is None:
            return F.group_norm(x, self.groups, eps=self.eps)
        b, c, h, w = x.shape
        grouped = x.reshape(b, self.groups, -1)
        if stats.mode == "record":
            var, mean = torch.var_mean(grouped, dim=2, correction=0)
            stats.values[self.name] = (mean, var)
        else:
            mean, var = stats.values[self.name]
        out = (grouped - mean[..., None]) * torch.rsqrt(var[..., None] + self.eps)
        return out.reshape(b, c, h, w)


class EVMLP(nn.Module):
    """Per-pixel MLP on ``[feature, s]`` (the implicit module, Eq. 2).

    As in the official code the hidden layers are linear with no activation between them, and one
    LeakyReLU follows the last layer. Parameters are stored as ``nn.Linear`` (``layers.i``) so official
    checkpoints load directly; they are applied as 1x1 convolutions on NCHW tensors.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: list[int], slope: float) -> None:
        super().__init__()
        dims = [in_dim + 1, *hidden, out_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True))
        self.slope = slope

    def collapsed(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(W, b, w_s) of the whole MLP before its activation, as one affine map on ``[feature, s]``.

        With no activation between the layers, ``L_n(...L_1(z))`` is the affine map with matrix
        ``W_n...W_1``; it is used when it costs fewer multiplications than the chain (always, for the
        CEVR shapes: 256 -> 128 -> 128 -> 256 becomes one 256x256 product).
        """
        first = self.layers[0]
        matrix, offset = first.weight, first.bias
        for layer in self.layers[1:]:
            matrix = layer.weight @ matrix
            offset = layer.weight @ offset + layer.bias
        return matrix[:, :-1], offset, matrix[:, -1]

    def _chain_is_cheaper(self) -> bool:
        chain = sum(layer.weight.numel() for layer in self.layers)
        return chain < self.layers[-1].out_features * self.layers[0].in_features

    def forward(self, x: torch.Tensor | list[torch.Tensor], s: torch.Tensor) -> torch.Tensor:
        """``x``: one NCHW tensor or a list of parts that together make the input channels (batch 1 or B).

        Parts whose batch is 1 are shared by all EV steps; their projection is computed once.
        """
        parts = x if isinstance(x, list) else [x]
        height, width = parts[0].shape[2:]
        if self._chain_is_cheaper():
            weight, bias, s_column = self.layers[0].weight[:, :-1], self.layers[0].bias, self.layers[0].weight[:, -1]
            rest = self.layers[1:]
        else:
            (weight, bias, s_column), rest = self.collapsed(), []
        out = _project(weight, parts)
        shift = (bias[None, :] + s[:, None] * s_column[None, :])[:, :, None]
        # In inference, add in place when shapes allow: fresh full-size buffers cost page faults.
        out = out.add_(shift) if _may_update(out, shift) else out + shift
        for layer in rest:
            out = torch.baddbmm(layer.bias[None, :, None], layer.weight.expand(out.shape[0], -1, -1), out)
        out = out.view(out.shape[0], -1, height, width)
        return F.leaky_relu(out, self.slope, inplace=not torch.is_grad_enabled())


def _may_update(target: torch.Tensor, other: torch.Tensor) -> bool:
    """``target += other`` is allowed: no autograd to feed, and broadcasting keeps target's shape."""
    return not torch.is_grad_enabled() and torch.broadcast_shapes(target.shape, other.shape) == target.shape


def _project(weight: torch.Tensor, parts: list[torch.Tensor]) -> torch.Tensor:
    """Per-pixel ``weight @ concat(parts)`` as (B, C_out, H*W), each part multiplied by its own columns."""
    out = None
    start = 0
    for part in parts:
        stop = start + part.shape[1]
        y = torch.matmul(weight[:, start:stop].contiguous(), part.flatten(2))
        if out is None:
            out = y
        elif _may_update(out, y):
            out.add_(y)
        elif _may_update(y, out):
            out = y.add_(out)
        else:
            out = out + y
        start = stop
    return out


def _vgg_stage(indices: range, in_ch: int, out_ch: int, convs: int, pool_first: bool) -> nn.Sequential:
    """A VGG16-bn stage with torchvision's module indices, so ``features[i]`` keys line up."""
    modules: list[nn.Module] = [nn.MaxPool2d(2, 2)] if pool_first else []
    ch = in_ch
    for _ in range(convs):
        modules += [nn.Conv2d(ch, out_ch, 3, padding=1), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True)]
        ch = out_ch
    assert len(modules) == len(indices)
    return nn.Sequential(OrderedDict((str(i), m) for i, m in zip(indices, modules, strict=True)))


class Bottleneck(nn.Module):
    """Max-pool to H/8, then GroupNorm -> implicit MLP, added back to its input."""

    def __init__(self, ch: int, hidden: int, cfg: CEVRConfig) -> None:
        super().__init__()
        self.norm = GroupNormNoAffine(cfg.norm_groups, "neck")
        self.mlp = EVMLP(ch, ch, [hidden] * (cfg.mlp_layers - 1), cfg.leaky_slope)

    def forward(self, pooled: torch.Tensor, s: torch.Tensor, stats: NormStats | None) -> torch.Tensor:
        return self.mlp(self.norm(pooled, stats), s) + pooled


class DecoderBlock(nn.Module):
    """Bicubic x2 + 3x3 conv, concatenate the skip, implicit MLP, GroupNorm residual of two MLPs.

    Blocks 1 and 2 also predict a one-channel alpha and beta map at full resolution (the intensity
    transformation, ``conv_mul`` and ``conv_rgb`` in the official names).
    """

    def __init__(self, up_ch: int, in_ch: int, out_ch: int, map_scale: int, name: str, cfg: CEVRConfig):
        super().__init__()
        hidden = [out_ch // 2] * (cfg.mlp_layers - 1)
        self.conv_resize = nn.Conv2d(up_ch, in_ch, 3, padding=1)
        self.mlp1 = EVMLP(2 * in_ch, out_ch, [], cfg.leaky_slope)
        self.normalize = GroupNormNoAffine(cfg.norm_groups, name)
        self.mlp3 = EVMLP(out_ch, out_ch, hidden, cfg.leaky_slope)
        self.mlp4 = EVMLP(out_ch, out_ch, hidden, cfg.leaky_slope)
        self.map_scale = map_scale
        if map_scale != 1:
            self.conv_rgb = nn.Conv2d(out_ch, 1, 3, padding=1)
            self.conv_mul = nn.Conv2d(out_ch, 1, 3, padding=1)

    def forward(
        self, x: torch.Tensor, skip: torch.Tensor, s: torch.Tensor, stats: NormStats | None
    ) -> torch.Tensor:
        x = upsample_bicubic(x, 2)
        if torch.is_grad_enabled():
            x = self.mlp1([self.conv_resize(x), skip], s)
        else:
            x = self._resize_and_mix(x, skip, s)
        residual = self.mlp4(self.mlp3(self.normalize(x, stats), s), s)
        return residual.add_(x) if _may_update(residual, x) else x + residual

    def _resize_and_mix(self, upsampled: torch.Tensor, skip: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """``mlp1([conv_resize(upsampled), skip], s)`` with the convolution folded into the MLP.

        mlp1 is one linear layer, so its columns for the conv output compose with the conv:
        ``W_x (K * u + c) = (W_x K) * u + W_x c``. One 3x3 convolution with the product weights replaces
        the convolution plus a per-pixel matrix product for every EV step.
        """
        (layer,) = self.mlp1.layers
        c = self.conv_resize.out_channels
        w_x, w_skip, w_s = layer.weight[:, :c], layer.weight[:, c:-1], layer.weight[:, -1]
        weight = torch.einsum("om,mikl->oikl", w_x, self.conv_resize.weight)
        out = conv3x3(upsampled, weight, w_x @ self.conv_resize.bias + layer.bias)
        out += _project(w_skip, [skip]).view(skip.shape[0], -1, *skip.shape[2:])
        out += (s[:, None] * w_s[None, :])[:, :, None, None]
        return F.leaky_relu_(out, self.mlp1.slope)

    def intensity_maps(self, feature: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(alpha, beta) = 3x3 convs of the feature bicubically upsampled by ``map_scale``.

        Computed as: the nine taps of both convs as one 1x1 conv at low resolution (18 planes), upsample
        those, then add each tap plane shifted by its offset (zero outside, as the conv's padding).
        """
        weight = torch.cat([self.conv_mul.weight, self.conv_rgb.weight])  # (2, C, 3, 3)
        taps = weight.permute(0, 2, 3, 1).reshape(18, -1)  # row = (map, dy, dx)
        planes = F.conv2d(feature, taps[:, :, None, None].contiguous())
        planes = upsample_bicubic(planes, self.map_scale)
        bias = torch.cat([self.conv_mul.bias, self.conv_rgb.bias])
        maps = bias[None, :, None, None].expand(planes.shape[0], 2, *planes.shape[2:]).clone()
        height, width = planes.shape[2:]
        for k in range(9):
            dy, dx = k // 3 - 1, k % 3 - 1
            y0, y1, x0, x1 = max(0, -dy), height - max(0, dy), max(0, -dx), width - max(0, dx)
            maps[:, :, y0:y1, x0:x1] += planes[:, k::9, y0 + dy : y1 + dy, x0 + dx : x1 + dx]
        return maps[:, 0:1], maps[:, 1:2]


@dataclass
class Encoded:
    """Encoder output for one photo (batch 1), reusable for any number of EV steps."""

    skips: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    pooled: torch.Tensor


class CEVRNet(nn.Module):
    """F(I, s): one CEVR model. Input RGB in [0,1], (B, 3, H, W) with H, W multiples of 8.

    ``s`` is a tensor of EV steps, one per output. Outputs are not clamped (training needs the raw
    values); clamp to [0, 1] when saving.
    """

    def __init__(self, config: CEVRConfig | None = None) -> None:
        super().__init__()
        cfg = config or CEVRConfig()
        self.config = cfg
        c1, c2, c3 = cfg.encoder_channels
        self.encoder1 = _vgg_stage(range(0, 6), 3, c1, 2, pool_first=False)
        self.encoder2 = _vgg_stage(range(6, 13), c1, c2, 2, pool_first=True)
        self.encoder3 = _vgg_stage(range(13, 23), c2, c3, 3, pool_first=True)
        self.neck = Bottleneck(c3, cfg.bottleneck_hidden, cfg)
        self.decoder3 = DecoderBlock(c3, c3, c3, 4, "decoder3", cfg)
        self.decoder4 = DecoderBlock(c3, c2, c2, 2, "decoder4", cfg)
        self.decoder5 = DecoderBlock(c2, c1, c1, 1, "decoder5", cfg)
        self.conv_rgb = nn.Conv2d(c1 + 1, 1, 1)
        self.conv_mul = nn.Conv2d(c1 + 1, 1, 1)
        self._init_identity_transform()

    def _init_identity_transform(self) -> None:
        """Start as F(I, s) = I: every alpha map 1, every beta map 0.

        Our choice, not the official code's (which keeps PyTorch's default init): from scratch on a CPU
        budget, starting at the identity saves the first hundreds of iterations. Gradients still reach
        these weights because the features they read are non-zero.
        """
        for block in (self.decoder3, self.decoder4, self):
            for conv, bias in ((block.conv_mul, 1.0), (block.conv_rgb, 0.0)):
                nn.init.zeros_(conv.weight)
                nn.init.constant_(conv.bias, bias)

    def encode(self, image: torch.Tensor) -> Encoded:
        f1 = run_vgg_stage(self.encoder1, image)
        f2 = run_vgg_stage(self.encoder2, f1)
        f3 = run_vgg_stage(self.encoder3, f2)
        return Encoded((f1, f2, f3), F.max_pool2d(f3, 2, 2))

    def decode(
        self, image: torch.Tensor, encoded: Encoded, s: torch.Tensor, stats: NormStats | None = None
    ) -> torch.Tensor:
        """Re-expose ``image`` by each step in ``s``, reusing ``encoded`` (batch 1 or len(s))."""
        f1, f2, f3 = encoded.skips
        s = s.to(image.dtype)
        feature = self.neck(encoded.pooled, s, stats)
        feature = self.decoder3(feature, f3, s, stats)
        alphas_betas = [self.decoder3.intensity_maps(feature)]
        feature = self.decoder4(feature, f2, s, stats)
        alphas_betas.append(self.decoder4.intensity_maps(feature))
        feature = self.decoder5(feature, f1, s, stats)
        alphas_betas.append(self._head(feature, s))
        out = image
        for alpha, beta in alphas_betas:  # coarse to fine: I <- I * alpha + beta
            out = out * alpha + beta
        return out

    def _head(self, feature: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Final 1x1 convs on [feature, s]; s folded into the bias as in ``EVMLP``."""
        c = feature.shape[1]
        weight = torch.cat([self.conv_mul.weight, self.conv_rgb.weight])[:, :, 0, 0]  # (2, C + 1)
        bias = torch.cat([self.conv_mul.bias, self.conv_rgb.bias])
        maps = _project(weight[:, :c], [feature])
        maps = maps + (bias[None, :] + s[:, None] * weight[None, :, c])[:, :, None]
        maps = maps.view(maps.shape[0], 2, *feature.shape[2:])
        return maps[:, 0:1], maps[:, 1:2]

    def forward(self, image: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return self.decode(image, self.encode(image), s)
