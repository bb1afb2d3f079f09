"""ImageNet VGG16 convolutions as CEVR's encoder initialisation (the paper starts from ImageNet VGG16-BN).

Only plain VGG16 weights (Simonyan & Zisserman, ICLR 2015; torchvision ``vgg16().features`` numbering) can
be had offline. Their seven convolutions conv1_1..conv3_3 are ``features.0, 2, 5, 7, 10, 12, 14`` in
``vgg16`` and ``features.0, 3, 7, 10, 14, 17, 20`` in ``vgg16_bn``, whose numbering CEVR's encoder keeps;
the BatchNorm layers keep their own initialisation.

The filters were trained on inputs normalised by the ImageNet mean and std; CEVR feeds [0, 1] RGB. The
normalisation is affine per input channel, so it is folded exactly into conv1_1:
``w'[:, c] = w[:, c] / std[c]``, ``b' = b - sum_c w[:, c] mean[c] / std[c]``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import WeightsError
from .cevr import CEVRNet

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# torchvision vgg16 features index -> (CEVR encoder stage, vgg16_bn features index)
VGG16_TO_CEVR = {
    0: ("encoder1", 0), 2: ("encoder1", 3),
    5: ("encoder2", 7), 7: ("encoder2", 10),
    10: ("encoder3", 14), 12: ("encoder3", 17), 14: ("encoder3", 20),
}


def fold_input_normalisation(
    weight: torch.Tensor, bias: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The conv on raw input equal to ``conv((x - mean) / std)`` (zero padding aside)."""
    m = torch.tensor(mean, dtype=weight.dtype)
    s = torch.tensor(std, dtype=weight.dtype)
    folded = weight / s[None, :, None, None]
    return folded, bias - (folded * m[None, :, None, None]).sum(dim=(1, 2, 3))


def load_vgg16_convs(path: str | Path) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """``{features index: (weight, bias)}`` of the seven convolutions in a safetensors file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: ImageNet VGG16 weights not found")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path}: not a readable safetensors file ({exc})") from None
    convs = {}
    for index in VGG16_TO_CEVR:
        keys = (f"features.{index}.weight", f"features.{index}.bias")
        missing = [k for k in keys if k not in tensors]
        if missing:
            raise WeightsError(f"{path}: no tensor {missing[0]}; expected torchvision vgg16 features numbering")
        convs[index] = (tensors[keys[0]], tensors[keys[1]])
    return convs


def init_encoder_from_vgg16(model: CEVRNet, path: str | Path) -> None:
    """Copy the ImageNet convolutions into ``model``'s encoder (shapes checked; norms untouched)."""
    convs = load_vgg16_convs(path)
    for index, (stage, bn_index) in VGG16_TO_CEVR.items():
        conv = getattr(getattr(model, stage), str(bn_index))
        weight, bias = convs[index]
        if index == 0:
            weight, bias = fold_input_normalisation(weight, bias, IMAGENET_MEAN, IMAGENET_STD)
        if tuple(weight.shape) != tuple(conv.weight.shape):
            raise WeightsError(
                f"{path}: features.{index} has shape {tuple(weight.shape)}, {stage}.{bn_index} expects "
                f"{tuple(conv.weight.shape)} (the ImageNet encoder fits only the full-width 'cevr' variant)")
        with torch.no_grad():
            conv.weight.copy_(weight)
            conv.bias.copy_(bias)
