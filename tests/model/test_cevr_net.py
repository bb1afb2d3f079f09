"""The CEVR network: shapes, identity at s=0, batching, equality with the literal forward pass."""

import pytest
import torch

from cevr_cli.model import CEVRConfig, CEVRNet, get_config
from cevr_cli.model.cevr import GroupNormNoAffine, NormStats, channel_moments
from tests.conftest import randomised
from tests.model.reference import reference_forward


@pytest.fixture(scope="module")
def tiny() -> CEVRNet:
    torch.manual_seed(0)
    return randomised(CEVRNet(get_config("cevr-tiny")), 0)


def test_new_model_starts_as_identity():
    model = CEVRNet(get_config("cevr-tiny")).eval()
    x = torch.rand(1, 3, 16, 24)
    with torch.no_grad():
        torch.testing.assert_close(model(x, torch.tensor([2.0])), x)


def test_full_model_has_official_parameter_count():
    # 3.29 M per the official CEVR_NormNoAffine_Maps model (counted by hand from its layer list).
    assert sum(p.numel() for p in CEVRNet(CEVRConfig()).parameters()) == 3_291_592


@pytest.mark.parametrize("h,w", [(8, 8), (16, 40), (64, 24)])
def test_output_shape_matches_input(tiny, h, w):
    x = torch.rand(2, 3, h, w)
    with torch.no_grad():
        y = tiny(x, torch.tensor([1.0, -2.0]))
    assert y.shape == (2, 3, h, w)
    assert y.dtype == torch.float32


def test_optimised_forward_equals_literal_forward(tiny):
    torch.manual_seed(1)
    x = torch.rand(1, 3, 32, 48)
    s = torch.tensor([0.5, -1.0, 2.75])
    with torch.no_grad():
        fast = tiny.decode(x, tiny.encode(x), s)
        literal = reference_forward(tiny, x.expand(3, -1, -1, -1), s)
    torch.testing.assert_close(fast, literal, atol=1e-5, rtol=1e-5)


def test_batch_of_steps_equals_one_at_a_time(tiny):
    x = torch.rand(1, 3, 32, 32)
    steps = [0.5, 1.0, 2.5]
    with torch.no_grad():
        together = tiny.decode(x, tiny.encode(x), torch.tensor(steps))
        alone = torch.cat([tiny(x, torch.tensor([s])) for s in steps])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)


def test_recorded_norm_statistics_reproduce_plain_forward(tiny):
    x = torch.rand(1, 3, 32, 32)
    s = torch.tensor([1.0, 2.0])
    with torch.no_grad():
        enc = tiny.encode(x)
        stats = NormStats("record")
        recorded = tiny.decode(x, enc, s, stats)
        imposed = tiny.decode(x, enc, s, NormStats("apply", stats.values))
        plain = tiny.decode(x, enc, s)
    assert set(stats.values) == {"neck", "decoder3", "decoder4", "decoder5"}
    torch.testing.assert_close(recorded, plain, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(imposed, plain, atol=1e-5, rtol=1e-5)


def test_step_changes_output(tiny):
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        a = tiny(x, torch.tensor([1.0]))
        b = tiny(x, torch.tensor([2.0]))
    assert not torch.allclose(a, b)


def test_gradients_reach_every_parameter():
    """Every parameter gets a non-zero gradient once the intensity-map heads are not zero. A new model is the
    identity (zero heads), so its first gradients reach exactly the heads, which is how training starts."""
    torch.manual_seed(0)
    x, s = torch.rand(2, 3, 16, 16), torch.tensor([1.0, -1.0])

    def zero_grads(model: CEVRNet) -> list[str]:
        model.train()
        model(x, s).abs().mean().backward()
        return [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]

    assert zero_grads(randomised(CEVRNet(get_config("cevr-tiny")), 3)) == []
    new = CEVRNet(get_config("cevr-tiny"))
    heads = {name for name, _ in new.named_parameters() if name.rsplit(".", 2)[-2] in ("conv_mul", "conv_rgb")}
    assert len(heads) == 12 and set(zero_grads(new)) == {name for name, _ in new.named_parameters()} - heads


@pytest.mark.parametrize("dtype, tolerance", [(torch.float32, 1e-5), (torch.bfloat16, 1e-2)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_channel_moments_equal_float64_var_mean(dtype, tolerance, channels_last):
    torch.manual_seed(0)
    x = (torch.randn(3, 6, 40, 24) * torch.linspace(0.2, 2.0, 6)[:, None, None] + 0.7).to(dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    var, mean = channel_moments(x)
    assert var.shape == mean.shape == (3, 6) and var.dtype == mean.dtype == torch.float32
    want_var, want_mean = torch.var_mean(x.double().flatten(2), dim=2, correction=0)
    torch.testing.assert_close(mean.double(), want_mean, atol=tolerance, rtol=tolerance)
    torch.testing.assert_close(var.double(), want_var, atol=tolerance, rtol=tolerance)


def test_group_moments_combine_the_channels_of_each_group():
    x = torch.randn(2, 8, 5, 7, dtype=torch.float64)
    mean, var = GroupNormNoAffine(2, "test").moments(x)
    want_var, want_mean = torch.var_mean(x.reshape(2, 2, -1), dim=2, correction=0)
    torch.testing.assert_close(mean, want_mean)
    torch.testing.assert_close(var, want_var)


@pytest.mark.parametrize("channels", [(64, 128, 256), (8, 16, 32)])
def test_the_encoder_is_torchvisions_vgg16_bn_layout_and_initialisation(channels):
    from torchvision.models.vgg import make_layers

    from cevr_cli.model.cevr import vgg16_bn_encoder

    c1, c2, c3 = channels
    torch.manual_seed(0)
    theirs = list(make_layers([c1, c1, "M", c2, c2, "M", c3, c3, c3], batch_norm=True))
    torch.manual_seed(0)
    ours = [module for stage in vgg16_bn_encoder(channels) for module in stage]
    assert [repr(m) for m in ours] == [repr(m) for m in theirs]
    names = [name for stage in vgg16_bn_encoder(channels) for name, _ in stage.named_children()]
    assert names == [str(i) for i in range(23)]  # torchvision's indices: features.14 is encoder3.14
    for a, b in zip(ours, theirs, strict=True):
        for (name, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
            assert torch.equal(p, q), name


@pytest.mark.parametrize(("image", "s", "told"), [
    (torch.rand(1, 3, 12, 12), torch.tensor([1.0]), "multiples of 8, got 12x12"),  # "size of tensor a (2) must match"
    (torch.rand(1, 3, 17, 16), torch.tensor([1.0]), "multiples of 8, got 17x16"),
    (torch.rand(16, 16, 3), torch.tensor([1.0]), r"\(B, 3, H, W\) image tensor in \[0, 1\], got \(16, 16, 3\)"),
    (torch.rand(1, 4, 16, 16), torch.tensor([1.0]), r"got \(1, 4, 16, 16\) torch\.float32"),
    (torch.zeros(1, 3, 16, 16, dtype=torch.uint8), torch.tensor([1.0]), r"got \(1, 3, 16, 16\) torch\.uint8"),
    (torch.rand(1, 3, 16, 16), 1.0, "as a 1-D tensor.*got float"),  # "'float' object has no attribute 'shape'"
    (torch.rand(1, 3, 16, 16), torch.tensor(1.0), r"as a 1-D tensor.*got shape \(\)"),  # an IndexError
    (torch.rand(2, 3, 16, 16), torch.tensor([1.0, 2.0, 3.0]), r"batch of 2, got shape \(3,\)"),
])
def test_a_wrong_input_is_a_usage_error_that_names_its_shape(tiny, image, s, told):
    from cevr_cli.errors import UsageError
    from cevr_cli.model import reparameterize

    for model in (tiny, reparameterize(tiny)):
        with pytest.raises(UsageError, match=told), torch.no_grad():
            model(image, s)


def test_one_step_serves_a_whole_batch(tiny):
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(tiny(x, torch.tensor([1.5])), tiny(x, torch.tensor([1.5, 1.5])))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_any_floating_point_image_is_taken_as_the_fused_copy_takes_it(tiny, dtype):
    # A float64 image into the float32 network raised "Input type (double) and bias type (float) should be the same"
    # (a RuntimeError, not the library's error), where the README promises a floating-point tensor.
    from cevr_cli.model import reparameterize

    x, s = torch.rand(1, 3, 16, 16), torch.tensor([1.0])
    with torch.no_grad():
        expected = tiny(x.to(dtype).float(), s)
        torch.testing.assert_close(tiny(x.to(dtype), s), expected)
        torch.testing.assert_close(reparameterize(tiny)(x.to(dtype), s).float(), expected, atol=1e-5, rtol=1e-5)
