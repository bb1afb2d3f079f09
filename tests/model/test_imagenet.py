"""ImageNet VGG16 convolutions land in the right encoder layers, with the input normalisation folded in."""

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from cevr_cli.errors import WeightsError
from cevr_cli.model import CEVRNet, get_config
from cevr_cli.model.imagenet import IMAGENET_MEAN, IMAGENET_STD, fold_input_normalisation, init_encoder_from_vgg16

# torchvision vgg16().features: (index, in channels, out channels) of conv1_1 .. conv3_3.
VGG16_CONVS = [(0, 3, 64), (2, 64, 64), (5, 64, 128), (7, 128, 128), (10, 128, 256), (12, 256, 256), (14, 256, 256)]


@pytest.fixture()
def fake_vgg16(tmp_path):
    """Each conv filled with its own torchvision index, so a shifted mapping shows as a wrong number."""
    tensors = {}
    for index, c_in, c_out in VGG16_CONVS:
        tensors[f"features.{index}.weight"] = torch.full((c_out, c_in, 3, 3), float(index + 1))
        tensors[f"features.{index}.bias"] = torch.full((c_out,), -float(index + 1))
    path = tmp_path / "vgg16.safetensors"
    save_file(tensors, str(path))
    return path


def test_each_vgg16_conv_lands_in_its_vgg16_bn_slot(fake_vgg16):
    model = CEVRNet(get_config("cevr"))
    norms_before = {k: v.clone() for k, v in model.state_dict().items() if ".1." in k or "running" in k}
    init_encoder_from_vgg16(model, fake_vgg16)
    # vgg16 -> vgg16_bn: 2 -> 3, 5 -> 7, 7 -> 10, 10 -> 14, 12 -> 17, 14 -> 20 (conv1_1 checked below).
    expected = {("encoder1", "3"): 3, ("encoder2", "7"): 6, ("encoder2", "10"): 8, ("encoder3", "14"): 11,
                ("encoder3", "17"): 13, ("encoder3", "20"): 15}
    for (stage, slot), value in expected.items():
        conv = getattr(getattr(model, stage), slot)
        assert torch.all(conv.weight == value) and torch.all(conv.bias == -value), (stage, slot)
    # conv1_1 carries the ImageNet normalisation: weight / std per input channel.
    first = model.encoder1[0].weight
    for c, std in enumerate(IMAGENET_STD):
        assert torch.allclose(first[:, c], torch.tensor(1.0 / std))
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in norms_before.items())  # BatchNorm untouched


def test_folded_normalisation_equals_normalising_the_input():
    torch.manual_seed(0)
    weight, bias = torch.randn(8, 3, 3, 3), torch.randn(8)
    x = torch.rand(1, 3, 12, 12)
    mean = torch.tensor(IMAGENET_MEAN)[None, :, None, None]
    std = torch.tensor(IMAGENET_STD)[None, :, None, None]
    expected = F.conv2d((x - mean) / std, weight, bias)  # valid convolution: no padding to differ at borders
    folded_w, folded_b = fold_input_normalisation(weight, bias, IMAGENET_MEAN, IMAGENET_STD)
    torch.testing.assert_close(F.conv2d(x, folded_w, folded_b), expected, atol=1e-4, rtol=1e-5)


def test_the_tiny_variant_is_refused_with_a_reason(fake_vgg16):
    with pytest.raises(WeightsError, match="full-width"):
        init_encoder_from_vgg16(CEVRNet(get_config("cevr-tiny")), fake_vgg16)


def test_a_file_without_vgg16_keys_is_refused(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"encoder.0.weight": torch.zeros(1)}, str(path))
    with pytest.raises(WeightsError, match="features.0.weight"):
        init_encoder_from_vgg16(CEVRNet(get_config("cevr")), path)
