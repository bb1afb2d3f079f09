"""Inference fast paths against the plain PyTorch ops they replace."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cevr_cli.model.cevr import EVMLP
from cevr_cli.model.fastops import conv3x3, fold_batchnorm, nnpack_ready, run_vgg_stage, upsample_bicubic


@pytest.mark.parametrize("shape", [(1, 5, 8, 8), (3, 16, 17, 30), (2, 4, 1, 1)])
def test_conv3x3_equals_conv2d(shape):
    torch.manual_seed(0)
    x = torch.randn(shape)
    weight, bias = torch.randn(7, shape[1], 3, 3), torch.randn(7)
    with torch.inference_mode():
        fast = conv3x3(x, weight, bias)
    torch.testing.assert_close(fast, F.conv2d(x, weight, bias, padding=1), atol=1e-4, rtol=1e-4)


def test_conv3x3_keeps_gradients_when_training():
    x = torch.randn(1, 2, 8, 8, requires_grad=True)
    y = conv3x3(x, torch.randn(3, 2, 3, 3), None)
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_nnpack_state_is_a_bool():
    assert isinstance(nnpack_ready(), bool)


@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("hw", [(1, 1), (3, 5), (11, 8)])
def test_upsample_equals_torch_bicubic(scale, hw):
    torch.manual_seed(1)
    x = torch.randn(2, 3, *hw)
    with torch.inference_mode():
        fast = upsample_bicubic(x, scale)
    expected = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
    assert fast.shape == expected.shape
    torch.testing.assert_close(fast, expected, atol=1e-5, rtol=1e-5)


def test_upsample_of_non_contiguous_input():
    x = torch.randn(2, 6, 5, 7)[:, ::2]
    with torch.inference_mode():
        fast = upsample_bicubic(x, 2)
    torch.testing.assert_close(fast, F.interpolate(x, scale_factor=2, mode="bicubic"), atol=1e-5, rtol=1e-5)


def test_folded_batchnorm_equals_conv_then_norm():
    torch.manual_seed(2)
    conv, norm = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)
    norm.running_mean.uniform_(-1, 1)
    norm.running_var.uniform_(0.5, 2)
    norm.weight.data.uniform_(0.5, 1.5)
    norm.bias.data.uniform_(-0.5, 0.5)
    stage = nn.Sequential(conv, norm, nn.ReLU()).eval()
    x = torch.randn(2, 3, 9, 10)
    with torch.no_grad():
        expected = stage(x)
        weight, bias = fold_batchnorm(conv, norm)
        torch.testing.assert_close(F.relu(F.conv2d(x, weight, bias, padding=1)), expected, atol=1e-5, rtol=1e-5)
    with torch.inference_mode():
        torch.testing.assert_close(run_vgg_stage(stage, x), expected, atol=1e-4, rtol=1e-4)


def test_collapsed_mlp_equals_layer_chain():
    torch.manual_seed(3)
    mlp = EVMLP(6, 5, [4, 3], slope=0.01)
    weight, bias, s_column = mlp.collapsed()
    z = torch.randn(10, 6)
    s = torch.randn(10)
    chain = torch.cat([z, s[:, None]], dim=1)
    for layer in mlp.layers:
        chain = layer(chain)
    torch.testing.assert_close(z @ weight.T + bias + s[:, None] * s_column, chain, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("hidden", [[], [2, 2], [64, 64]])
def test_mlp_forward_same_with_and_without_gradients(hidden):
    torch.manual_seed(4)
    mlp = EVMLP(8, 8, hidden, slope=0.01)
    x, s = torch.randn(3, 8, 4, 5), torch.tensor([0.5, -1.0, 2.0])
    trained = mlp(x, s)
    with torch.inference_mode():
        inferred = mlp(x, s)
    torch.testing.assert_close(inferred, trained.detach(), atol=1e-5, rtol=1e-5)
