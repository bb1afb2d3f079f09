"""The inference copy of a CEVR model: weights folded once, CPU fast paths, no autograd.

This follows timm's reparameterisation habit (``timm.utils.model.reparameterize_model``, which calls the
``reparameterize()`` / ``fuse()`` of RepVGG, MobileOne or FastViT blocks): the network is trained in its
plain form (:class:`~cevr_cli.model.cevr.CEVRNet`), and inference runs on a copy whose weights were folded
into fewer, cheaper operations computing the same function. :func:`reparameterize` builds that copy once
(``CEVRPredictor`` does it when it is constructed); nothing is re-folded per call. The folds, all exact:

* Each encoder convolution absorbs the BatchNorm after it, with the running statistics (eval mode):
  ``gamma (K * x + c - mu) / sqrt(var + eps) + beta`` is one convolution.
* Each implicit MLP, linear layers with no activation between them and one LeakyReLU at the end (as in
  the official code), becomes the single affine map ``W_n...W_1`` when that costs fewer multiplications
  than the chain (always, for the CEVR shapes: 256 -> 128 -> 128 -> 256 becomes one 256x256 product).
  The EV step's weight column is kept apart, so ``s`` only shifts the bias.
* Each decoder's ``conv_resize`` is folded into its first MLP (one linear layer):
  ``W_x (K * u + c) = (W_x K) * u + W_x c``, so one 3x3 convolution with the product weights replaces the
  convolution plus a per-pixel matrix product for every EV step.
* The intensity-map convolutions of decoder blocks 1 and 2 are stored as their 18 taps (an 18 x C matrix) and
  2 biases, applied at low resolution before upsampling (see ``cevr.shift_taps``); the head's two 1x1
  convs on ``[feature, s]`` as one (2, C) matrix, a bias and an EV column.

Folding runs in float64 on the CPU; the folded tensors are buffers, so ``.to(device, dtype)`` moves them.
On the CPU, 3x3 convolutions (float32: NNPACK) and bicubic upsampling (OpenCV) use ``fastops``; on other
devices (CUDA, MPS) and for bf16 convolutions the plain PyTorch ops. ``encode`` and ``decode`` run in inference
mode and update fresh intermediate tensors in place.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .cevr import EVMLP, CEVRNet, DecoderBlock, Encoded, GroupNormNoAffine, NormStats, check_input
from .config import CEVRConfig
from .fastops import add_into, conv3x3, pointwise, pointwise_chain, upsample_bicubic


def _exact(t: torch.Tensor) -> torch.Tensor:
    """A parameter as a detached float64 CPU tensor, to fold in."""
    return t.detach().to("cpu", torch.float64)


def fold_batchnorm(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of ``norm(conv(x))`` as one convolution, for a BatchNorm in eval mode (float64)."""
    scale = _exact(norm.weight) * torch.rsqrt(_exact(norm.running_var) + norm.eps)
    bias = _exact(conv.bias) if conv.bias is not None else torch.zeros_like(scale)
    shift = _exact(norm.bias) - _exact(norm.running_mean) * scale
    return _exact(conv.weight) * scale[:, None, None, None], bias * scale + shift


def collapse_mlp(mlp: EVMLP) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(W, b, w_s) of the whole MLP before its activation, as one affine map on ``[feature, s]`` (float64).

    With no activation between the layers, ``L_n(...L_1(z))`` is the affine map with matrix ``W_n...W_1``.
    """
    first = mlp.layers[0]
    matrix, offset = _exact(first.weight), _exact(first.bias)
    for layer in mlp.layers[1:]:
        weight = _exact(layer.weight)
        matrix, offset = weight @ matrix, weight @ offset + _exact(layer.bias)
    return matrix[:, :-1], offset, matrix[:, -1]


def _wide(t: torch.Tensor) -> torch.Tensor:
    """``t`` in float32 at least: the intensity maps stay exact to float32 when features run in 16 bits."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


def _ev_shift(bias: torch.Tensor, s_weight: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """The bias of a layer on ``[feature, s]`` for each step: (B, C_out, 1)."""
    return (bias[None, :] + s[:, None] * s_weight[None, :])[:, :, None]


class FusedConv(nn.Module):
    """A convolution with its BatchNorm folded in, optionally followed by ReLU."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, conv: nn.Conv2d, relu: bool) -> None:
        super().__init__()
        if conv.groups != 1 or conv.dilation != (1, 1) or isinstance(conv.padding, str):
            raise ValueError(f"cannot fuse {conv}: only plain convolutions are supported")
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias)
        self.stride, self.padding, self.relu = conv.stride, conv.padding, relu
        self._is_3x3 = tuple(weight.shape[2:]) == (3, 3) and self.stride == (1, 1) and self.padding == (1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._is_3x3:
            x = conv3x3(x, self.weight, self.bias)
        else:
            x = F.conv2d(x, self.weight, self.bias, self.stride, self.padding)
        return F.relu_(x) if self.relu else x


def fuse_vgg_stage(stage: nn.Sequential) -> nn.Sequential:
    """A VGG-bn stage (max-pool, conv, BatchNorm, ReLU modules) with every conv+BN(+ReLU) as one ``FusedConv``."""
    modules = list(stage)
    fused: list[nn.Module] = []
    i = 0
    while i < len(modules):
        module = modules[i]
        if isinstance(module, nn.Conv2d):
            if i + 1 < len(modules) and isinstance(modules[i + 1], nn.BatchNorm2d):
                weight, bias = fold_batchnorm(module, modules[i + 1])
                i += 1
            else:
                weight = _exact(module.weight)
                bias = _exact(module.bias) if module.bias is not None else weight.new_zeros(weight.shape[0])
            relu = i + 1 < len(modules) and isinstance(modules[i + 1], nn.ReLU)
            i += 1 + relu
            fused.append(FusedConv(weight, bias, module, relu))
        elif isinstance(module, nn.MaxPool2d):
            fused.append(nn.MaxPool2d(module.kernel_size, module.stride, module.padding, module.dilation,
                                      ceil_mode=module.ceil_mode))
            i += 1
        else:
            raise ValueError(f"cannot fuse {type(module).__name__} in an encoder stage")
    return nn.Sequential(*fused)


class FusedLinear(nn.Module):
    """One per-pixel linear layer (the tail of an MLP kept as a chain)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias)


class FusedMLP(nn.Module):
    """An ``EVMLP`` with ``s`` folded into its first bias, collapsed to one affine map when that is cheaper."""

    def __init__(self, mlp: EVMLP) -> None:
        super().__init__()
        layers = [(_exact(layer.weight), _exact(layer.bias)) for layer in mlp.layers]
        chain = sum(weight.numel() for weight, _ in layers)
        if mlp.layers[-1].out_features * mlp.layers[0].in_features <= chain:
            weight, bias, s_weight = collapse_mlp(mlp)
            layers = []
        else:
            (weight, bias), layers = layers[0], layers[1:]
            weight, s_weight = weight[:, :-1], weight[:, -1]
        self.register_buffer("weight", weight.contiguous())
        self.register_buffer("bias", bias)
        self.register_buffer("s_weight", s_weight.contiguous())
        self.rest = nn.ModuleList(FusedLinear(w, b) for w, b in layers)
        self.slope = mlp.slope

    def affine_layers(
        self, s: torch.Tensor, norm: tuple[GroupNormNoAffine, NormStats | None, torch.Tensor] | None = None
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The MLP's linear layers for the steps ``s``, as (weight, bias) pairs (the first one per step).

        With ``norm = (layer, stats, x)`` the first layer reads ``layer(x)`` (Eq. 2's normalised feature)
        without it being formed: ``W ((x - mu) r) = (W r) x - (W r) mu`` per sample, so normalising costs
        one pass for the statistics and the first layer absorbs the rest.
        """
        weight, bias = self.weight, _ev_shift(self.bias, self.s_weight, s)[:, :, 0]
        if norm is not None:
            weight, bias = _normalized_weights(weight, bias, norm[2], norm[0], norm[1])
        return [(weight, bias), *((layer.weight, layer.bias) for layer in self.rest)]

    def forward(
        self, x: torch.Tensor, s: torch.Tensor, norm: tuple[GroupNormNoAffine, NormStats | None] | None = None
    ) -> torch.Tensor:
        """``x`` NCHW with batch 1 (shared by all steps) or len(s); ``norm`` as in :meth:`affine_layers`."""
        layers = self.affine_layers(s, None if norm is None else (*norm, x))
        return pointwise_chain(x, [(layers, self.slope)])


def _normalized_weights(
    weight: torch.Tensor, bias: torch.Tensor, x: torch.Tensor, layer: GroupNormNoAffine, stats: NormStats | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample (weight, bias) of a linear layer applied to ``layer(x)``, for ``x`` as it is (float32 at least)."""
    mean, var = layer.moments(x, stats)  # (B, groups)
    per_channel = weight.shape[1] // layer.groups
    rstd = torch.rsqrt(var + layer.eps).repeat_interleave(per_channel, dim=1)  # (B, C_in)
    mu = mean.repeat_interleave(per_channel, dim=1)
    scaled = weight.to(rstd.dtype)[None] * rstd[:, None, :]  # (B, C_out, C_in)
    shifted = bias.to(rstd.dtype) - torch.einsum("boc,bc->bo", scaled, mu)
    return scaled.to(x.dtype), shifted.to(x.dtype)


class FusedDecoder(nn.Module):
    """A ``DecoderBlock`` with ``conv_resize`` folded into ``mlp1`` and its intensity maps as taps."""

    def __init__(self, block: DecoderBlock) -> None:
        super().__init__()
        weight, bias, s_weight = collapse_mlp(block.mlp1)
        c = block.conv_resize.out_channels
        w_x, w_skip = weight[:, :c], weight[:, c:]
        resize = block.conv_resize
        self.register_buffer("resize_weight", torch.einsum("om,mikl->oikl", w_x, _exact(resize.weight)).contiguous())
        self.register_buffer("resize_bias", w_x @ _exact(resize.bias) + bias)
        self.register_buffer("skip_weight", w_skip.contiguous())
        self.register_buffer("s_weight", s_weight.contiguous())
        self.slope = block.mlp1.slope
        norm = block.normalize
        self.normalize = GroupNormNoAffine(norm.groups, norm.name, norm.eps)
        self.mlp3 = FusedMLP(block.mlp3)
        self.mlp4 = FusedMLP(block.mlp4)
        self.map_scale = block.map_scale
        if self.map_scale != 1:
            taps, map_bias = block.map_taps()
            self.register_buffer("taps", _exact(taps)[:, :, 0, 0].contiguous())  # (18, C)
            self.register_buffer("map_bias", _exact(map_bias))

    def forward(
        self, x: torch.Tensor, skip: torch.Tensor, s: torch.Tensor, stats: NormStats | None
    ) -> torch.Tensor:
        x = conv3x3(upsample_bicubic(x, 2), self.resize_weight, self.resize_bias)
        x = add_into(x, pointwise(skip, self.skip_weight))
        x = add_into(x, (s[:, None] * self.s_weight[None, :])[:, :, None, None])
        x = F.leaky_relu_(x, self.slope)
        stages = [(self.mlp3.affine_layers(s, (self.normalize, stats, x)), self.mlp3.slope),
                  (self.mlp4.affine_layers(s), self.mlp4.slope)]
        return pointwise_chain(x, stages, residual=True)

    def intensity_maps(self, feature: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(alpha, beta) in float32: the 18 tap planes at low resolution, upsampled, each added shifted into place."""
        # A matrix product, not a 1x1 conv: oneDNN is about 3x slower for 18 output channels.
        planes = upsample_bicubic(_wide(pointwise(feature, self.taps)).contiguous(), self.map_scale)
        height, width = planes.shape[2:]
        maps = _wide(self.map_bias)[None, :, None, None].expand(planes.shape[0], 2, height, width).clone()
        for k in range(9):
            dy, dx = k // 3 - 1, k % 3 - 1
            y0, y1, x0, x1 = max(0, -dy), height - max(0, dy), max(0, -dx), width - max(0, dx)
            maps[:, :, y0:y1, x0:x1] += planes[:, k::9, y0 + dy : y1 + dy, x0 + dx : x1 + dx]
        return maps[:, 0:1], maps[:, 1:2]


class FusedCEVR(nn.Module):
    """The function of a :class:`CEVRNet` in eval mode, with its weights folded once (see the module docstring).

    Same ``encode`` / ``decode`` / ``forward`` as ``CEVRNet`` (``NormStats`` record and apply included),
    for inference only. Build it with :func:`reparameterize`; it does not follow later changes to the
    model it was built from.
    """

    def __init__(self, model: CEVRNet) -> None:
        super().__init__()
        self.config: CEVRConfig = model.config
        self.encoder = nn.ModuleList(fuse_vgg_stage(s) for s in (model.encoder1, model.encoder2, model.encoder3))
        norm = model.neck.norm
        self.neck_norm = GroupNormNoAffine(norm.groups, norm.name, norm.eps)
        self.neck_mlp = FusedMLP(model.neck.mlp)
        self.decoders = nn.ModuleList(FusedDecoder(b) for b in (model.decoder3, model.decoder4, model.decoder5))
        weight, bias, s_weight = model.head_weights()
        self.register_buffer("head_weight", _exact(weight).contiguous())
        self.register_buffer("head_bias", _exact(bias))
        self.register_buffer("head_s_weight", _exact(s_weight).contiguous())

    @property
    def dtype(self) -> torch.dtype:
        return self.head_weight.dtype

    @torch.inference_mode()
    def encode(self, image: torch.Tensor) -> Encoded:
        """Encoder features of ``image`` in the model's dtype; 16-bit ones channels-last (see ``fastops``)."""
        layout = torch.contiguous_format if self.dtype in (torch.float32, torch.float64) else torch.channels_last
        f1 = self.encoder[0](image.to(self.dtype).contiguous(memory_format=layout))
        f2 = self.encoder[1](f1)
        f3 = self.encoder[2](f2)
        return Encoded((f1, f2, f3), F.max_pool2d(f3, 2, 2))

    @torch.inference_mode()
    def decode(
        self, image: torch.Tensor, encoded: Encoded, s: torch.Tensor, stats: NormStats | None = None
    ) -> torch.Tensor:
        """Re-expose ``image`` by each step in ``s``, reusing ``encoded`` (batch 1 or len(s)).

        The intensity maps act on ``image`` as given (float32 from the predictor), not on a 16-bit copy.
        """
        skips = encoded.skips[::-1]
        s = s.to(encoded.pooled.dtype)
        feature = add_into(self.neck_mlp(encoded.pooled, s, norm=(self.neck_norm, stats)), encoded.pooled)
        maps = []
        for decoder, skip in zip(self.decoders, skips, strict=True):
            feature = decoder(feature, skip, s, stats)
            if decoder.map_scale != 1:
                maps.append(decoder.intensity_maps(feature))
        maps.append(self._head(feature, s))
        out = _wide(image)  # the maps act on the photo in float32 whatever the features' precision
        for alpha, beta in maps:  # coarse to fine: I <- I * alpha + beta
            out = out * alpha + beta
        return out

    def _head(self, feature: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        maps = _wide(pointwise(feature, self.head_weight))
        maps = add_into(maps, _ev_shift(_wide(self.head_bias), _wide(self.head_s_weight), _wide(s))[..., None])
        return maps[:, 0:1], maps[:, 1:2]

    def forward(self, image: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """``image`` (B, 3, H, W) re-exposed by each step in ``s``.

        Raises:
            UsageError: ``image`` or ``s`` of another shape (:func:`~cevr_cli.model.cevr.check_input`).
        """
        check_input(image, s, self.config.divisor)
        return self.decode(image, self.encode(image), s)


def reparameterize(model: CEVRNet) -> FusedCEVR:
    """The fused inference copy of ``model``, on the model's device and in its dtype.

    Like timm's ``reparameterize_model``, done once before inference; the model itself is not changed.
    BatchNorm is folded with its running statistics, whatever ``model.training`` says.
    """
    reference = next(model.parameters())
    return FusedCEVR(model).to(dtype=reference.dtype).to(reference.device)
