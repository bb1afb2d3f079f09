"""The fused inference copy against the network it is folded from, and the network's training path."""

import inspect
from pathlib import Path

import pytest
import torch
from torch import nn

from cevr_cli.model import CEVRConfig, CEVRNet, CEVRPredictor, get_config
from cevr_cli.model import cevr as cevr_module
from cevr_cli.model import fused as fused_module
from cevr_cli.model import inference as inference_module
from cevr_cli.model.cevr import EVMLP, NormStats
from cevr_cli.model.fused import (
    FusedCEVR,
    FusedMLP,
    collapse_mlp,
    fold_batchnorm,
    fuse_vgg_stage,
    reparameterize,
)
from tests.conftest import randomised

STEPS = torch.tensor([-3.0, -0.5, 1.25, 2.0])


def random_model(config: CEVRConfig, seed: int) -> CEVRNet:
    """Random heads and non-trivial BatchNorm statistics and affine parameters, in eval mode."""
    torch.manual_seed(seed)
    model = randomised(CEVRNet(config), seed)
    generator = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(torch.rand(n, generator=generator) * 0.4 - 0.2)
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.copy_(torch.rand(n, generator=generator) * 0.2 - 0.1)
    return model.eval()


@pytest.fixture(scope="module")
def tiny() -> CEVRNet:
    return random_model(get_config("cevr-tiny"), 3)


@pytest.mark.parametrize("shape", [(1, 3, 32, 48), (1, 3, 24, 16)])
def test_fused_equals_network(tiny, shape):
    torch.manual_seed(4)
    x = torch.rand(shape)
    fused = reparameterize(tiny)
    with torch.no_grad():
        expected = tiny.decode(x, tiny.encode(x), STEPS)
    got = fused.decode(x, fused.encode(x), STEPS)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(fused(x, STEPS[:1]), expected[:1], atol=1e-4, rtol=1e-4)


def test_fused_equals_network_at_full_width():
    model = random_model(CEVRConfig(), 5)
    x = torch.rand(1, 3, 16, 24)
    with torch.no_grad():
        expected = model.decode(x, model.encode(x), STEPS[:2])
    fused = reparameterize(model)
    torch.testing.assert_close(fused.decode(x, fused.encode(x), STEPS[:2]), expected, atol=1e-4, rtol=1e-4)


def test_fused_norm_statistics_record_and_apply(tiny):
    x = torch.rand(1, 3, 32, 32)
    fused = reparameterize(tiny)
    with torch.no_grad():
        reference_stats = NormStats("record")
        plain = tiny.decode(x, tiny.encode(x), STEPS, reference_stats)
    encoded = fused.encode(x)
    stats = NormStats("record")
    recorded = fused.decode(x, encoded, STEPS, stats)
    assert set(stats.values) == set(reference_stats.values) == {"neck", "decoder3", "decoder4", "decoder5"}
    for key, (mean, var) in stats.values.items():
        torch.testing.assert_close(mean, reference_stats.values[key][0], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(var, reference_stats.values[key][1], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(recorded, plain, atol=1e-4, rtol=1e-4)
    # Statistics imposed from elsewhere (here: another image) are used, not recomputed.
    other = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        imposed_plain = tiny.decode(other, tiny.encode(other), STEPS, NormStats("apply", reference_stats.values))
    imposed = fused.decode(other, fused.encode(other), STEPS, NormStats("apply", stats.values))
    torch.testing.assert_close(imposed, imposed_plain, atol=1e-4, rtol=1e-4)
    picked = torch.tensor([1, 3])
    chunk = fused.decode(other, fused.encode(other), STEPS[picked], NormStats("apply", stats.values).select(picked))
    torch.testing.assert_close(chunk, imposed[picked], atol=1e-5, rtol=1e-5)


def test_fused_plain_path_in_float64(tiny):
    """Not CPU float32: plain torch ops (the CUDA / fp16 / MPS path), same function."""
    model = random_model(get_config("cevr-tiny"), 3).double()
    fused = reparameterize(model)
    assert all(b.dtype == torch.float64 for b in fused.buffers())
    x = torch.rand(1, 3, 24, 32, dtype=torch.float64)
    with torch.no_grad():
        expected = model(x, STEPS.double())
    torch.testing.assert_close(fused(x, STEPS.double()), expected, atol=1e-10, rtol=1e-10)


def test_fused_copy_moves_with_to(tiny):
    fused = reparameterize(tiny).to(torch.float64)
    assert all(b.dtype == torch.float64 for b in fused.buffers())
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        expected = tiny(x, STEPS[:1]).double()
    torch.testing.assert_close(fused(x.double(), STEPS[:1].double()), expected, atol=1e-4, rtol=1e-4)


def test_fused_copy_holds_folded_buffers_and_no_parameters(tiny):
    fused = reparameterize(tiny)
    assert list(fused.parameters()) == []
    buffers = dict(fused.named_buffers())
    assert {"head_weight", "decoders.0.resize_weight", "decoders.0.taps", "neck_mlp.weight"} <= set(buffers)
    assert buffers["encoder.0.0.weight"].shape == tiny.encoder1[0].weight.shape
    assert "decoders.2.taps" not in buffers  # the last block has no intensity maps: the head makes them


def test_fused_copy_is_folded_once(tiny, monkeypatch):
    fused = reparameterize(tiny)
    x = torch.rand(1, 3, 16, 16)
    first = fused(x, STEPS)

    def refold(*args, **kwargs):
        raise AssertionError("weights folded again at run time")

    for name in ("fold_batchnorm", "collapse_mlp", "_exact"):
        monkeypatch.setattr(fused_module, name, refold)
    for owner, name in ((CEVRNet, "head_weights"), (cevr_module.DecoderBlock, "map_taps")):
        monkeypatch.setattr(owner, name, refold)
    for _ in range(2):
        encoded = fused.encode(x)
        torch.testing.assert_close(fused.decode(x, encoded, STEPS), first)


def test_predictor_builds_fused_copies_once(tiny_pair, gradient_image, monkeypatch):
    predictor = CEVRPredictor(tiny_pair)
    assert set(predictor._fused) == {"inc", "dec"}
    assert all(isinstance(m, FusedCEVR) for m in predictor._fused.values())
    monkeypatch.setattr(inference_module, "reparameterize", lambda model: pytest.fail("rebuilt"))
    for _ in range(2):
        assert predictor.predict(gradient_image, [-1.0, 1.0]).shape == (2, *gradient_image.shape)


def test_no_grad_mode_branching_in_the_model_package():
    assert "is_grad_enabled" not in inspect.getsource(cevr_module)
    for path in Path(cevr_module.__file__).parent.glob("*.py"):
        assert "is_grad_enabled" not in path.read_text(), path.name


@pytest.mark.parametrize("hidden", [[], [2, 2], [64, 64]])
def test_fused_mlp_equals_mlp(hidden):
    """Collapsed ([], [64, 64]: one affine map) or kept as a chain ([2, 2] is cheaper as the chain)."""
    torch.manual_seed(4)
    mlp = EVMLP(8, 8, hidden, slope=0.01)
    fused = FusedMLP(mlp).float()
    assert len(fused.rest) == (len(hidden) if hidden == [2, 2] else 0)
    s = torch.tensor([0.5, -1.0, 2.0])
    for x in (torch.randn(3, 8, 4, 5), torch.randn(1, 8, 4, 5)):  # per step, or shared by all steps
        with torch.no_grad():
            expected = mlp(x, s)
        with torch.inference_mode():
            got = fused(x, s)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_collapsed_mlp_equals_layer_chain():
    torch.manual_seed(3)
    mlp = EVMLP(6, 5, [4, 3], slope=0.01)
    weight, bias, s_column = collapse_mlp(mlp)
    z = torch.randn(10, 6, dtype=torch.float64)
    s = torch.randn(10, dtype=torch.float64)
    chain = torch.cat([z, s[:, None]], dim=1)
    for layer in mlp.double().layers:
        chain = layer(chain)
    torch.testing.assert_close(z @ weight.T + bias + s[:, None] * s_column, chain)


def test_folded_vgg_stage_equals_conv_then_norm():
    torch.manual_seed(2)
    conv, norm = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)
    norm.running_mean.uniform_(-1, 1)
    norm.running_var.uniform_(0.5, 2)
    norm.weight.data.uniform_(0.5, 1.5)
    norm.bias.data.uniform_(-0.5, 0.5)
    stage = nn.Sequential(nn.MaxPool2d(2, 2), conv, norm, nn.ReLU(), nn.Conv2d(4, 2, 1)).eval()
    x = torch.randn(2, 3, 18, 20)
    with torch.no_grad():
        expected = stage(x)
        weight, bias = fold_batchnorm(conv, norm)
        folded = torch.relu(torch.conv2d(stage[0](x).double(), weight, bias, padding=1))
        torch.testing.assert_close(folded, stage[:4](x).double(), atol=1e-5, rtol=1e-5)
    with torch.inference_mode():
        torch.testing.assert_close(fuse_vgg_stage(stage).float()(x), expected, atol=1e-4, rtol=1e-4)


def test_training_gradients_reach_encoder_and_decoder():
    model = random_model(get_config("cevr-tiny"), 7).train()
    x = torch.rand(2, 3, 16, 16)
    model(x, torch.tensor([1.0, -1.5])).abs().mean().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    assert model.encoder1[0].weight.grad.abs().sum() > 0 and model.decoder3.conv_resize.weight.grad.abs().sum() > 0


def test_training_forward_under_bf16_autocast():
    model = random_model(get_config("cevr-tiny"), 8).train()
    x = torch.rand(2, 3, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = model(x, torch.tensor([1.0, 2.0]))
    y.float().abs().mean().backward()
    assert model.decoder4.mlp3.layers[0].weight.grad.abs().sum() > 0


def test_network_same_with_and_without_gradients(tiny):
    x, s = torch.rand(1, 3, 16, 24), torch.tensor([0.5, -2.0])
    with_grad = tiny(x, s)
    with torch.inference_mode():
        without = tiny(x, s)
    torch.testing.assert_close(without, with_grad.detach())
