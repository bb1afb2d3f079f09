"""The CEVR network: F(I, s), photo I re-exposed by s stops.

Su-Kai Chen, Hung-Lin Yen, Yu-Lun Liu, Min-Hung Chen, Hou-Ning Hu, Wen-Hsiao Peng, Yen-Yu Lin, "Learning
Continuous Exposure Value Representations for Single-Image HDR Reconstruction", ICCV 2023 (arXiv 2309.03900).
The layer structure and parameter names follow the official ``CEVR_NormNoAffine_Maps`` GroupNorm model,
so its released state dicts load key for key (see ``weights.py``); the code is ours.

This module is the network as the paper describes it, the one that is trained: plain PyTorch ops, the
same algebra with or without gradients. Two exact rearrangements keep it cheap without changing the
function or its gradients:

* The EV step enters every MLP as one constant input channel (Eq. 2). A linear layer on
  ``[feature, s]`` equals the layer on ``feature`` plus ``s`` times the weight column of that channel, so
  ``s`` is folded into the bias and no constant plane is ever built. Parts of a layer's input that do
  not depend on ``s`` (the encoder skips, the neck's input) may have batch 1 and are broadcast over a
  batch of EV steps.
* The intensity-transformation maps of decoder blocks 1 and 2 are "bicubic upsample to full size, then
  3x3 conv to one channel". Both steps are linear and the upsampling acts on each channel alike, so the
  conv's nine taps are first applied as a 1x1 conv at low resolution, the nine tap planes are upsampled,
  and each is shifted into place. Exact (same zero padding), with 9 instead of 256 full-size planes.

Inference does not run this module: :func:`cevr_cli.model.fused.reparameterize` folds its weights once
(BatchNorm into the encoder convolutions, each MLP into one affine map, ``conv_resize`` into ``mlp1``)
into a :class:`~cevr_cli.model.fused.FusedCEVR`, which also uses the CPU fast paths of ``fastops``.

References
----------
- Chen, S.-K., Yen, H.-L., Liu, Y.-L., Chen, M.-H., Hu, H.-N., Peng, W.-H., & Lin, Y.-Y. (2023). Learning
  continuous exposure value representations for single-image HDR reconstruction. Proceedings of the IEEE/CVF
  International Conference on Computer Vision (ICCV), 12990-13000. arXiv:2309.03900 (no DOI seen by us).
  Official code: https://github.com/skchen1993/2023_CEVR
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UsageError
from .config import CEVRConfig


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
        mean, var = self.moments(x, stats)
        grouped = x.reshape(b, self.groups, -1)
        out = (grouped - mean[..., None]) * torch.rsqrt(var[..., None] + self.eps)
        return out.reshape(b, c, h, w)

    def moments(self, x: torch.Tensor, stats: NormStats | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-(sample, group) mean and variance of NCHW ``x`` (any memory layout), (B, groups), float32 at least.

        With ``stats`` in record mode they are also stored under this layer's name; in apply mode the stored
        ones are returned instead.
        """
        if stats is not None and stats.mode == "apply":
            return stats.values[self.name]
        b = x.shape[0]
        var, mean = (t.view(b, self.groups, -1) for t in channel_moments(x))
        # a group's variance: the mean of its channels' variances plus the variance of their means
        var, mean = var.mean(dim=2) + mean.var(dim=2, correction=0), mean.mean(dim=2)
        if stats is not None:
            stats.values[self.name] = (mean, var)
        return mean, var


def channel_moments(x: torch.Tensor, parts: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel variance and mean of NCHW ``x`` (B, C), float32 at least, as E[x^2] - E[x]^2.

    The sums are matrix products and norms, which run 10-30x faster on the CPU than ``var_mean``'s
    one-pass algorithm (measured in tests/benchmarks/bench_stack.py's profile). Channels-last 16-bit
    tensors: ones @ rows and the diagonal of rows^T @ rows over ``parts`` pixel chunks (reduced to a
    divisor of the pixel count, so each chunk is a view), whose 16-bit partial sums are added in float32.
    The features are O(1) with O(1) spread, so E[x^2] - E[x]^2 loses nothing that matters here
    (checked against float64 ``var_mean`` in tests/model/test_cevr.py).
    """
    b, c, h, w = x.shape
    n = h * w
    wide = torch.promote_types(x.dtype, torch.float32)
    if x.is_contiguous():
        rows = x.reshape(b, c, n).to(wide)
        sums, squares = torch.matmul(rows, rows.new_ones(n)), torch.linalg.vector_norm(rows, dim=2).square()
    else:
        parts = math.gcd(n, parts)
        chunks = x.permute(0, 2, 3, 1).reshape(b * parts, n // parts, c)
        ones = chunks.new_ones(b * parts, 1, n // parts)
        sums = torch.bmm(ones, chunks).to(wide).view(b, parts, c).sum(dim=1)
        squares = torch.bmm(chunks.transpose(1, 2), chunks).diagonal(dim1=1, dim2=2).to(wide)
        squares = squares.view(b, parts, c).sum(dim=1)
    mean = sums / n
    return (squares / n - mean * mean).clamp_min(0.0), mean


def check_input(image: torch.Tensor, s: torch.Tensor, divisor: int) -> None:
    """Check a network's input before its layers do (their errors named no shape: a 12x12 image said "The size of
    tensor a (2) must match the size of tensor b (3)", an EV step given as a number "'float' object has no attribute
    'shape'").

    Raises:
        UsageError: ``image`` not a floating-point (B, 3, H, W) tensor with H and W positive multiples of
            ``divisor``, or ``s`` not a 1-D tensor of one step, B steps or k steps per image (k B).
    """
    if not isinstance(image, torch.Tensor) or not image.is_floating_point() or image.ndim != 4 or image.shape[1] != 3:
        what = f"{tuple(image.shape)} {image.dtype}" if isinstance(image, torch.Tensor) else type(image).__name__
        raise UsageError(f"CEVR takes a floating-point (B, 3, H, W) image tensor in [0, 1], got {what}")
    h, w = image.shape[2:]
    if not h or not w or h % divisor or w % divisor:
        raise UsageError(f"CEVR takes images whose height and width are multiples of {divisor}, got {h}x{w} "
                         f"(pad it, as cevr_cli.model.inference.pad_to_multiple does)")
    if (not isinstance(s, torch.Tensor) or s.ndim != 1 or not s.numel()
            or (s.shape[0] % image.shape[0] and s.shape[0] != 1)):
        what = f"shape {tuple(s.shape)}" if isinstance(s, torch.Tensor) else type(s).__name__
        raise UsageError(f"CEVR takes the EV steps as a 1-D tensor: one, or one or k per image of the batch of "
                         f"{image.shape[0]}, got {what}")


def _in_parameter_dtype(model: nn.Module, image: torch.Tensor, onto: torch.Tensor | None
                        ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``image`` and ``onto`` in the type of ``model``'s parameters (under autocast too, whose casts then act as on
    a float32 input: a training step gives float32 images, which this leaves as they are).

    A float64 image into a float32 model raised "Input type (double) and bias type (float) should be the same" from
    its first convolution, where the README promises any floating-point tensor.
    """
    dtype = next(model.parameters()).dtype
    return image.to(dtype), None if onto is None else onto.to(dtype)


def _pointwise(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """A linear layer applied at every pixel of NCHW ``x`` (a 1x1 convolution)."""
    return F.conv2d(x, weight[:, :, None, None], bias)


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

    def forward(self, x: torch.Tensor | list[torch.Tensor], s: torch.Tensor) -> torch.Tensor:
        """``x``: one NCHW tensor or a list of parts that together make the input channels (batch 1 or B).

        The first layer multiplies each part by its own weight columns (so a batch-1 part is shared by
        all EV steps) and takes ``s`` through its bias.
        """
        parts = x if isinstance(x, list) else [x]
        first = self.layers[0]
        out = None
        start = 0
        for part in parts:
            stop = start + part.shape[1]
            y = _pointwise(part, first.weight[:, start:stop])
            out = y if out is None else out + y
            start = stop
        shift = first.bias[None, :] + s[:, None] * first.weight[None, :, -1]
        out = out + shift[:, :, None, None].to(out.dtype)
        for layer in self.layers[1:]:
            out = _pointwise(out, layer.weight, layer.bias)
        return F.leaky_relu(out, self.slope)


def vgg16_bn_encoder(channels: tuple[int, int, int]) -> tuple[nn.Sequential, nn.Sequential, nn.Sequential]:
    """VGG16-BN's conv1_1 .. conv3_3 (Simonyan & Zisserman 2015, with BatchNorm), laid out as torchvision's
    ``vgg16_bn().features[0:23]`` (``make_layers``; tests/model/test_cevr_net.py holds the two equal, module by
    module and in their initial weights) and cut into CEVR's three stages at the pools, keeping its module indices
    so that ``encoder3.14.weight`` is ``features.14.weight`` (official checkpoints and ImageNet weights load by
    those names). Built here rather than by torchvision, whose import costs every process that builds a network
    1.3-2 s (each worker, Ray actor and training rank)."""
    c1, c2, c3 = channels
    modules: list[nn.Module] = []
    in_channels = 3
    for width in (c1, c1, "M", c2, c2, "M", c3, c3, c3):
        if width == "M":
            modules.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        assert isinstance(width, int)
        modules += [nn.Conv2d(in_channels, width, kernel_size=3, padding=1), nn.BatchNorm2d(width),
                    nn.ReLU(inplace=True)]
        in_channels = width
    assert len(modules) == 23
    return tuple(  # type: ignore[return-value]
        nn.Sequential(OrderedDict((str(i), modules[i]) for i in span)) for span in (range(0, 6), range(6, 13),
                                                                                  range(13, 23)))


class Bottleneck(nn.Module):
    """Max-pool to H/8, then GroupNorm -> implicit MLP, added back to its input."""

    def __init__(self, ch: int, hidden: int, cfg: CEVRConfig) -> None:
        super().__init__()
        self.norm = GroupNormNoAffine(cfg.norm_groups, "neck")
        self.mlp = EVMLP(ch, ch, [hidden] * (cfg.mlp_layers - 1), cfg.leaky_slope)

    def forward(self, pooled: torch.Tensor, s: torch.Tensor, stats: NormStats | None) -> torch.Tensor:
        return self.mlp(self.norm(pooled, stats), s) + pooled


def shift_taps(planes: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Finish a 3x3 convolution (zero padding) from its tap planes.

    ``planes`` holds, for each output ``m``, the nine planes ``sum_c w[dy, dx, c] * x_c`` in
    (map, dy, dx) order; output ``m`` at (y, x) is ``bias[m]`` plus tap (dy, dx) read at (y + dy, x + dx).
    """
    height, width = planes.shape[2:]
    padded = F.pad(planes, (1, 1, 1, 1))
    out = bias[None, :, None, None].to(planes.dtype)
    for k in range(9):
        dy, dx = k // 3, k % 3
        out = out + padded[:, k::9, dy : dy + height, dx : dx + width]
    return out


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
        x = F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)
        x = self.mlp1([self.conv_resize(x), skip], s)
        return x + self.mlp4(self.mlp3(self.normalize(x, stats), s), s)

    def map_taps(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The 18 taps of ``conv_mul`` and ``conv_rgb`` as a (18, C, 1, 1) 1x1 conv weight, and their 2 biases."""
        weight = torch.cat([self.conv_mul.weight, self.conv_rgb.weight])  # (2, C, 3, 3)
        taps = weight.permute(0, 2, 3, 1).reshape(18, -1)  # row = (map, dy, dx)
        return taps[:, :, None, None], torch.cat([self.conv_mul.bias, self.conv_rgb.bias])

    def intensity_maps(self, feature: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(alpha, beta) = 3x3 convs of the feature bicubically upsampled by ``map_scale``.

        Computed as: the nine taps of both convs as one 1x1 conv at low resolution (18 planes), upsample
        those, then add each tap plane shifted by its offset (zero outside, as the conv's padding).
        """
        taps, bias = self.map_taps()
        planes = F.conv2d(feature, taps)
        planes = F.interpolate(planes, scale_factor=self.map_scale, mode="bicubic", align_corners=False)
        maps = shift_taps(planes, bias)
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
        self.encoder1, self.encoder2, self.encoder3 = vgg16_bn_encoder((c1, c2, c3))
        self.neck = Bottleneck(c3, cfg.bottleneck_hidden, cfg)
        self.decoder3 = DecoderBlock(c3, c3, c3, 4, "decoder3", cfg)
        self.decoder4 = DecoderBlock(c3, c2, c2, 2, "decoder4", cfg)
        self.decoder5 = DecoderBlock(c2, c1, c1, 1, "decoder5", cfg)
        self.conv_rgb = nn.Conv2d(c1 + 1, 1, 1)
        self.conv_mul = nn.Conv2d(c1 + 1, 1, 1)
        self.reset_intensity_transforms()

    def reset_intensity_transforms(self) -> None:
        """Start as F(I, s) = I: every alpha map 1, every beta map 0.

        Our choice, not the official code's (which keeps PyTorch's default init): from scratch on a CPU
        budget, starting at the identity saves the first hundreds of iterations. Gradients still reach
        these weights because the features they read are non-zero.
        """
        for block in (self.decoder3, self.decoder4, self):
            for conv, bias in ((block.conv_mul, 1.0), (block.conv_rgb, 0.0)):
                nn.init.zeros_(conv.weight)
                nn.init.constant_(conv.bias, bias)

    def is_identity(self) -> bool:
        """Every intensity transformation is the identity (alpha 1, beta 0), whatever the features: the model
        returns the image it is given. A residual model never trained for its direction is one."""
        for block in (self.decoder3, self.decoder4, self):
            for conv, bias in ((block.conv_mul, 1.0), (block.conv_rgb, 0.0)):
                if bool(conv.weight.detach().abs().max() > 0) or bool((conv.bias.detach() - bias).abs().max() > 0):
                    return False
        return True

    def encode(self, image: torch.Tensor) -> Encoded:
        f1 = self.encoder1(image)
        f2 = self.encoder2(f1)
        f3 = self.encoder3(f2)
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

    def head_weights(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The final 1x1 convs on ``[feature, s]`` as (W (2, C), b (2,), w_s (2,)); row 0 alpha, row 1 beta."""
        weight = torch.cat([self.conv_mul.weight, self.conv_rgb.weight])[:, :, 0, 0]  # (2, C + 1)
        return weight[:, :-1], torch.cat([self.conv_mul.bias, self.conv_rgb.bias]), weight[:, -1]

    def _head(self, feature: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Final 1x1 convs on [feature, s]; s folded into the bias as in ``EVMLP``."""
        weight, bias, s_column = self.head_weights()
        maps = _pointwise(feature, weight)
        maps = maps + (bias[None, :] + s[:, None] * s_column[None, :])[:, :, None, None].to(maps.dtype)
        return maps[:, 0:1], maps[:, 1:2]

    def forward(self, image: torch.Tensor, s: torch.Tensor, onto: torch.Tensor | None = None) -> torch.Tensor:
        """``image`` re-exposed by each step in ``s``; with ``onto``, ``image``'s features re-expose ``onto``
        instead (the residual role's physics frame). One call, so that DistributedDataParallel sees the pass.

        ``s`` may hold k steps per image (image-major, as ``repeat_interleave`` orders them, and ``onto`` one frame
        per step): each image is encoded once and its features serve its k steps.

        An image of another floating-point type than the model's parameters (a float64 or half tensor into a float32
        model) is computed in the parameters' type, as :class:`~cevr_cli.model.fused.FusedCEVR` takes it.

        Raises:
            UsageError: ``image`` or ``s`` of another shape (:func:`check_input`).
        """
        check_input(image, s, self.config.divisor)
        image, onto = _in_parameter_dtype(self, image, onto)
        encoded = self.encode(image)
        repeats = s.shape[0] // image.shape[0]
        if repeats > 1 and image.shape[0] > 1:
            encoded = Encoded(tuple(f.repeat_interleave(repeats, dim=0) for f in encoded.skips),
                              encoded.pooled.repeat_interleave(repeats, dim=0))
        return self.decode(image if onto is None else onto, encoded, s)
