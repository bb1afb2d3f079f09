"""Inference fast paths against the plain PyTorch ops they replace."""

import pytest
import torch
import torch.nn.functional as F

from cevr_cli.model import fastops
from cevr_cli.model.fastops import conv3x3, nnpack_ready, upsample_bicubic


@pytest.mark.parametrize("shape", [(1, 5, 8, 8), (3, 16, 17, 30), (2, 4, 1, 1)])
def test_conv3x3_equals_conv2d(shape):
    torch.manual_seed(0)
    x = torch.randn(shape)
    weight, bias = torch.randn(7, shape[1], 3, 3), torch.randn(7)
    with torch.inference_mode():
        fast = conv3x3(x, weight, bias)
    torch.testing.assert_close(fast, F.conv2d(x, weight, bias, padding=1), atol=1e-4, rtol=1e-4)


def test_conv3x3_without_bias_and_in_other_dtypes():
    torch.manual_seed(5)
    x, weight = torch.randn(2, 3, 6, 7), torch.randn(4, 3, 3, 3)
    with torch.inference_mode():
        torch.testing.assert_close(conv3x3(x, weight, None), F.conv2d(x, weight, padding=1), atol=1e-4, rtol=1e-4)
        doubled = conv3x3(x.double(), weight.double(), None)  # not float32: the plain op
    assert doubled.dtype == torch.float64
    torch.testing.assert_close(doubled, F.conv2d(x.double(), weight.double(), padding=1))


def test_conv3x3_takes_nnpack_exactly_when_it_is_ready(monkeypatch):
    """The readiness answer decides the path: NNPACK when ready, F.conv2d otherwise, and a failing probe is
    "not ready" rather than an error."""
    calls = []
    real = torch._nnpack_spatial_convolution
    monkeypatch.setattr(torch, "_nnpack_spatial_convolution", lambda *a: calls.append(1) or real(*a))
    x, weight = torch.randn(1, 2, 5, 5), torch.randn(3, 2, 3, 3)
    with torch.inference_mode():
        conv3x3(x, weight, None)
    assert calls == ([1] if nnpack_ready() else [])

    before = len(calls)
    monkeypatch.setattr(fastops, "nnpack_ready", lambda: False)
    with torch.inference_mode():
        conv3x3(x, weight, None)
    assert len(calls) == before  # not ready: no NNPACK call

    def broken() -> bool:
        raise RuntimeError("NNPACK failed to initialise")

    monkeypatch.setattr(torch.backends.nnpack, "is_available", broken)
    assert nnpack_ready.__wrapped__() is False


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


def test_upsample_in_float64_uses_torch():
    x = torch.randn(1, 2, 4, 5, dtype=torch.float64)
    with torch.inference_mode():
        fast = upsample_bicubic(x, 2)
    assert fast.dtype == torch.float64
    torch.testing.assert_close(fast, F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False))


def test_fast_paths_can_be_switched_off(monkeypatch):
    monkeypatch.setattr(fastops, "FAST_PATHS", False)
    x, weight = torch.randn(1, 2, 5, 6), torch.randn(3, 2, 3, 3)
    with torch.inference_mode():
        torch.testing.assert_close(conv3x3(x, weight, None), F.conv2d(x, weight, padding=1))
        expected = F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)
        torch.testing.assert_close(upsample_bicubic(x, 2), expected)


def _reference_pointwise(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """Per-pixel linear layer by einsum in float64 (weight (O, C) or per sample (N, O, C))."""
    w = weight.double() if weight.dim() == 3 else weight.double()[None].expand(x.shape[0], -1, -1)
    out = torch.einsum("noc,nchw->nohw", w, x.double())
    if bias is not None:
        out = out + (bias.double() if bias.dim() == 2 else bias.double()[None])[:, :, None, None]
    return out


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("per_sample", [False, True])
def test_pointwise_is_a_linear_layer_at_every_pixel_in_either_layout(channels_last, per_sample):
    torch.manual_seed(0)
    x = torch.randn(3, 5, 6, 7)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    weight = torch.randn(3, 4, 5) if per_sample else torch.randn(4, 5)
    bias = torch.randn(3, 4) if per_sample else torch.randn(4)
    out = fastops.pointwise(x, weight, bias)
    assert out.shape == (3, 4, 6, 7)
    assert fastops.is_channels_last(out) == channels_last  # the layout is kept
    torch.testing.assert_close(out.double(), _reference_pointwise(x, weight, bias), atol=1e-5, rtol=1e-5)


def test_pointwise_of_a_shared_feature_with_a_bias_per_step_grows_the_batch():
    x = torch.randn(1, 5, 4, 4).contiguous(memory_format=torch.channels_last)  # encoder feature, batch 1
    weight, bias = torch.randn(4, 5), torch.randn(3, 4)  # three EV steps
    out = fastops.pointwise(x, weight, bias)
    assert out.shape == (3, 4, 4, 4)
    torch.testing.assert_close(out.double(), _reference_pointwise(x.expand(3, -1, -1, -1), weight, bias),
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("channels", [3, 200])  # 200: more than OpenCV takes in one call
def test_bf16_channels_last_upsample_equals_torch_bicubic(channels):
    torch.manual_seed(0)
    x = torch.rand(2, channels, 9, 11)
    fast = upsample_bicubic(x.contiguous(memory_format=torch.channels_last).bfloat16(), 2)
    assert fast.dtype == torch.bfloat16 and fastops.is_channels_last(fast) and fast.shape == (2, channels, 18, 22)
    expected = F.interpolate(x.bfloat16().double(), scale_factor=2, mode="bicubic", align_corners=False)
    torch.testing.assert_close(fast.double(), expected, atol=1.5e-2, rtol=1e-2)  # bf16 output rounding


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("residual", [False, True])
def test_pointwise_chain_equals_the_layers_one_after_the_other(monkeypatch, channels_last, residual):
    monkeypatch.setattr(fastops, "CHAIN_CHUNK_PIXELS", 10)  # 6 x 7 = 42 pixels: four chunks and a remainder
    torch.manual_seed(0)
    x = torch.randn(3, 5, 6, 7)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    first = [(torch.randn(3, 4, 5), torch.randn(3, 4)), (torch.randn(6, 4), torch.randn(6))]  # per step, shared
    second = [(torch.randn(5 if residual else 2, 6), torch.randn(5 if residual else 2))]
    expected = x.double()
    for layers, slope in ((first, 0.01), (second, 0.2)):
        for weight, bias in layers:
            expected = _reference_pointwise(expected, weight, bias)
        expected = F.leaky_relu(expected, slope)
    if residual:
        expected = expected + x.double()
    out = fastops.pointwise_chain(x.clone(), [(first, 0.01), (second, 0.2)], residual=residual)
    assert out.shape == expected.shape and fastops.is_channels_last(out) == channels_last
    torch.testing.assert_close(out.double(), expected, atol=1e-4, rtol=1e-4)
