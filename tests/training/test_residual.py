"""The residual network's training objectives (cevr_cli/training/residual.py)."""

import numpy as np
import pytest
import torch
from radiance_maps import radiance_map

from cevr_cli.errors import UsageError
from cevr_cli.exposure import FILL_EVS, ResidualModel, measure_photo, physics_frame
from cevr_cli.model import CEVRNet, CEVRPredictor, ModelPair, get_config
from cevr_cli.response import SRGB, darktable_response, gamma_response
from cevr_cli.training.camera import auto_exposure_scale
from cevr_cli.training.loop import TrainConfig, run_training
from cevr_cli.training.residual import (
    HIGHLIGHT_OVER_WHITE,
    HIGHLIGHT_SHARE,
    PHOTO_MIN_PIXELS,
    PHOTO_MSE_FLOOR,
    ResidualPairs,
    ResponseBank,
    highlight_exposure_scale,
    light_sample,
    light_tensors,
    lookup,
    pooled_error,
    residual_light_frames,
    residual_light_loss,
    response_tables,
)


def tiny_residual(seed: int, trained: bool) -> CEVRNet:
    """A tiny residual-role darkening model; ``trained``: its output maps are random (not the identity)."""
    torch.manual_seed(seed)
    model = CEVRNet(get_config("cevr-residual-tiny")).eval()
    if trained:
        with torch.no_grad():
            model.conv_rgb.weight.normal_(0.0, 0.2)
            model.conv_rgb.bias.fill_(0.3)  # mostly brightening what was clipped
    return model


class DirectPredictor:
    """The residual predictor's contract (G_s clamped to [0, 1], darkening steps) without CEVRPredictor's mirrored
    border, so that inference's merge is compared with the objective's on the same network outputs."""

    name, weights_id = "direct", "direct"

    def __init__(self, model: CEVRNet) -> None:
        self.model = model

    def describe(self):
        return {"model": {"name": self.name, "weights_id": self.weights_id}}

    def trained_directions(self):
        return ("dec",)

    def residual_gain(self) -> float:
        return 1.0

    def iter_on_frames(self, rgb, frames):
        photo = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]
        for ev, frame in frames:
            onto = torch.from_numpy(np.ascontiguousarray(frame.transpose(2, 0, 1)))[None]
            with torch.no_grad():
                out = self.model(photo, torch.tensor([ev]), onto=onto).clamp(0.0, 1.0)
            yield ev, out[0].numpy().transpose(1, 2, 0)


def clipped_photo_sample(response, size: int = 48):
    radiance = radiance_map(2)[:size, :size]
    scale = auto_exposure_scale(radiance) * 2.0
    sample = light_sample(radiance, response, response, scale, np.random.default_rng(0))
    assert 0.05 < sample["clipped"].mean() < 0.95  # the views clip somewhere
    return sample


def test_lookup_is_the_responses_own_curve():
    decode, encode = response_tables(SRGB)
    codes = torch.rand(2, 1, 3, 5, 7, dtype=torch.float32)
    tables = torch.from_numpy(decode)[None].repeat(2, 1, 1)
    expected = SRGB.decode(codes.permute(0, 1, 3, 4, 2).numpy()).transpose(0, 1, 4, 2, 3)
    np.testing.assert_allclose(lookup(codes, tables).numpy(), expected, atol=2e-4)
    light = torch.tensor([0.0, 0.0031308, 0.18, 0.5, 1.0]).view(1, 1, 1, 1, 5).repeat(1, 1, 3, 1, 1)
    encoded = lookup(light, torch.from_numpy(encode)[None])[0, 0, 0, 0].numpy()
    # the sRGB encoding by hand (IEC 61966-2-1): 12.92 x below 0.0031308, 1.055 x^(1/2.4) - 0.055 above
    np.testing.assert_allclose(encoded, [0.0, 0.04045, 1.055 * 0.18 ** (1 / 2.4) - 0.055,
                                         1.055 * 0.5 ** (1 / 2.4) - 0.055, 1.0], atol=3e-4)


def test_lookup_passes_gradients_to_its_values():
    decode, _ = response_tables(gamma_response(2.2))
    codes = torch.full((1, 1, 3, 1, 1), 0.5, requires_grad=True)
    lookup(codes, torch.from_numpy(decode)[None]).sum().backward()
    np.testing.assert_allclose(codes.grad.numpy().ravel(), 3 * [2.2 * 0.5**1.2], rtol=2e-3)  # d/dx x^2.2


def test_several_steps_per_image_share_its_encoding():
    model = tiny_residual(1, trained=True)
    images = torch.rand(2, 3, 16, 16)
    steps = torch.tensor([-3.0, -1.0, -2.0, -0.5])
    onto = torch.rand(4, 3, 16, 16)
    together = model(images, steps, onto=onto)
    one_by_one = torch.cat([model(images[i:i + 1], steps[2 * i:2 * i + 2], onto=onto[2 * i:2 * i + 2])
                            for i in range(2)])
    torch.testing.assert_close(together, one_by_one, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("gain", [1.0, 0.5])
@pytest.mark.parametrize("response", [SRGB, darktable_response(0)], ids=["srgb", "darktable"])
def test_the_light_objectives_frames_are_the_ones_inference_makes(gain, response):
    model = tiny_residual(1, trained=True)
    sample = clipped_photo_sample(response)
    batch = {k: v[None] for k, v in light_tensors(sample).items()}
    with torch.no_grad():
        frames = residual_light_frames(model, batch, gain=gain)[0].numpy().transpose(0, 2, 3, 1)
    measured = measure_photo(sample["input"], response, 8)
    residual = ResidualModel(DirectPredictor(model), scale=1.0, gain=gain)
    inference = {ev: f for ev, f, _ in residual.frames(measured, FILL_EVS)}
    for i, ev in enumerate(FILL_EVS):
        # the same frames up to the tables' interpolation (codes: 1/255 = 0.0039)
        np.testing.assert_allclose(frames[i], inference[ev], atol=2e-3)
    assert np.abs(frames[0] - physics_frame(measured, FILL_EVS[0]))[measured.clipped].max() > 0.02  # it filled


def test_the_inference_path_gives_the_frames_cevr_makes_from_a_photo_at_half_resolution():
    # ResidualModel at its default scale 2 through CEVRPredictor (mirrored border, divisor padding, fused layers)
    model = tiny_residual(1, trained=True)
    sample = clipped_photo_sample(SRGB, size=48)
    batch = {k: v[None] for k, v in light_tensors(sample).items()}
    with torch.no_grad():
        frames = residual_light_frames(model, batch, gain=0.5, inference_scale=2.0)[0].numpy().transpose(0, 2, 3, 1)
        whole = residual_light_frames(model, batch, gain=0.5)[0].numpy().transpose(0, 2, 3, 1)
    pair = ModelPair(CEVRNet(model.config).eval(), model, model.config, weights_id="tiny")
    residual = ResidualModel(CEVRPredictor(pair, "cpu", precision="fp32"), scale=2.0, gain=0.5)
    measured = measure_photo(sample["input"], SRGB, 8)
    inference = {ev: f for ev, f, _ in residual.frames(measured, FILL_EVS)}
    for i, ev in enumerate(FILL_EVS):
        np.testing.assert_allclose(frames[i], inference[ev], atol=2e-3)  # the tables' interpolation, as above
    assert np.abs(frames - whole).max() > 0.02  # the network at half resolution is another path


def test_an_untrained_residual_gives_the_physics_frames():
    sample = clipped_photo_sample(gamma_response(2.2))
    batch = {k: v[None] for k, v in light_tensors(sample).items()}
    with torch.no_grad():
        frames = residual_light_frames(tiny_residual(0, trained=False), batch)[0].numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(frames, sample["physics"], atol=2e-3)


def test_the_light_loss_trains_the_network():
    data = ResidualPairs([radiance_map(i) for i in range(3)], "dec", ResponseBank.default(), crop=32,
                         samples_per_epoch=4, objective="light")
    batch = next(iter(torch.utils.data.DataLoader(data, batch_size=4)))
    assert batch["physics"].shape == (4, len(FILL_EVS), 3, 32, 32) and batch["decode"].shape[:2] == (4, 3)
    # from a network that fills (at the identity every max() of the merge is a tie and the loss is not smooth)
    model = tiny_residual(1, trained=True).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=2e-2)
    losses = []
    for _ in range(12):
        loss, _ = residual_light_loss(model, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())  # every weight learns
    # measured 0.0666 -> 0.0565; the first step may rise (measured pixels clamped to their codes' light pass no
    # gradient, so the clipped ones carry the learning)
    assert all(b < a for a, b in zip(losses[2:-1], losses[3:], strict=True)), losses
    assert losses[-1] < 0.9 * losses[0], losses


@pytest.mark.parametrize("inference_scale", [None, 2.0])
def test_a_light_objective_run_writes_its_checkpoints(tmp_path, scene_folder, inference_scale):
    cfg = TrainConfig(data=str(scene_folder), out=str(tmp_path / "run"), direction="dec",
                      variant="cevr-residual-tiny", objective="light", epochs=1, samples_per_epoch=2, batch_size=2,
                      crop=16, val_size=16, val_cameras=1, device="cpu", inference_scale=inference_scale)
    result = run_training(cfg)
    assert result.iterations == {"dec": 1} and set(result.best_psnr) == {"dec"}
    assert (tmp_path / "run" / "dec-best.pt").is_file()
    psnr = torch.load(tmp_path / "run" / "dec-best.pt", weights_only=False)["psnr"]
    assert sorted(psnr) == sorted(FILL_EVS)  # validated at every step the frames are merged from


@pytest.mark.parametrize(("variant", "direction"), [("cevr-tiny", "dec"), ("cevr-residual-tiny", "inc"),
                                                    ("cevr-residual-tiny", "both")])
def test_the_light_objective_is_refused_where_it_has_no_meaning(tmp_path, variant, direction):
    cfg = TrainConfig(data=str(tmp_path / "missing"), out=str(tmp_path / "run"), variant=variant,
                      direction=direction, objective="light")
    with pytest.raises(UsageError, match="--objective light"):
        run_training(cfg)


@pytest.mark.parametrize(("objective", "scale"), [("frame", 2.0), ("light", 0.5), ("light", float("nan"))])
def test_the_inference_scale_is_refused_without_the_light_objective_or_below_1(tmp_path, objective, scale):
    cfg = TrainConfig(data=str(tmp_path / "missing"), out=str(tmp_path / "run"), variant="cevr-residual-tiny",
                      direction="dec", objective=objective, inference_scale=scale)
    with pytest.raises(UsageError, match="--inference-scale"):
        run_training(cfg)


def _errors_and_weights() -> tuple[torch.Tensor, torch.Tensor]:
    """Two photos (B=2, 3x4x5): the first with a large weighted area of small errors, the second a small one of
    large errors."""
    rng = np.random.default_rng(3)
    error = torch.from_numpy(rng.normal(0.0, 1.0, (2, 3, 4, 5)).astype(np.float32))
    error[0] *= 0.01
    weight = torch.zeros(2, 1, 4, 5)
    weight[0, 0, :, :] = 1.0
    weight[0, 0, 0, 0] = 0.5
    weight[1, 0, 1:3, 1:3] = 1.0
    return error, weight


def test_pixel_pooling_is_the_weighted_mean_absolute_error():
    error, weight = _errors_and_weights()
    e, w = error.numpy().astype(np.float64), np.broadcast_to(weight.numpy(), error.shape)
    expected = (w * np.abs(e)).sum() / w.sum()
    assert pooled_error(error, weight, "pixel").item() == pytest.approx(expected, rel=1e-5)


def test_photo_pooling_is_the_mean_over_photos_of_their_log_mse():
    error, weight = _errors_and_weights()
    e, w = error.numpy().astype(np.float64), np.broadcast_to(weight.numpy(), error.shape)
    per_photo = []
    for i in range(2):
        mse = (w[i] * e[i] ** 2).sum() / max(w[i].sum(), 3 * PHOTO_MIN_PIXELS)
        per_photo.append(np.log(mse + PHOTO_MSE_FLOOR))
    assert pooled_error(error, weight, "photo").item() == pytest.approx(np.mean(per_photo), rel=1e-5)
    # 10 log10 MSE per photo, i.e. minus the mean PSNR, is the same loss scaled
    assert 10 / np.log(10) * np.mean(per_photo) == pytest.approx(np.mean([10 * np.log10(np.exp(v)) for v in per_photo]))


def test_photo_chroma_pooling_adds_each_photos_log_chroma_mse():
    """The chroma term by hand: the error less its mean over the channels; a grey error (equal in every channel)
    adds nothing to it, a coloured one does."""
    error, weight = _errors_and_weights()
    e, w = error.numpy().astype(np.float64), np.broadcast_to(weight.numpy(), error.shape)
    chroma = e - e.mean(axis=1, keepdims=True)
    expected = []
    for i in range(2):
        mass = max(w[i].sum(), 3 * PHOTO_MIN_PIXELS)
        expected.append(np.log((w[i] * e[i] ** 2).sum() / mass + PHOTO_MSE_FLOOR)
                        + np.log((w[i] * chroma[i] ** 2).sum() / mass + PHOTO_MSE_FLOOR))
    assert pooled_error(error, weight, "photo-chroma").item() == pytest.approx(np.mean(expected), rel=1e-5)
    grey = error.mean(dim=1, keepdim=True).expand_as(error).contiguous()
    assert pooled_error(grey, weight, "photo-chroma").item() == pytest.approx(
        pooled_error(grey, weight, "photo").item() + np.log(PHOTO_MSE_FLOOR), rel=1e-5)


def test_photo_pooling_counts_each_photo_alike_pixel_pooling_counts_its_pixels():
    """Doubling the first photo's weighted area leaves the per-photo loss unchanged (its mean error is the same)
    and moves the pixel-pooled one towards that photo's error."""
    error, weight = _errors_and_weights()
    wide = torch.cat([error, error], dim=3)
    wide_weight = torch.cat([weight, torch.cat([weight[:1], torch.zeros_like(weight[1:])])], dim=3)
    # photo 0 now has twice the weighted pixels with the same errors; photo 1 the same as before
    assert pooled_error(wide, wide_weight, "photo").item() == pytest.approx(
        pooled_error(error, weight, "photo").item(), rel=1e-5)
    assert pooled_error(wide, wide_weight, "pixel").item() < 0.9 * pooled_error(error, weight, "pixel").item()


def test_photo_pooling_leaves_out_photos_without_weight_and_keeps_the_graph():
    error, weight = _errors_and_weights()
    error.requires_grad_(True)
    only_first = weight.clone()
    only_first[1] = 0.0
    alone = pooled_error(error[:1], weight[:1], "photo")
    assert pooled_error(error, only_first, "photo").item() == pytest.approx(alone.item(), rel=1e-6)
    none = pooled_error(error, torch.zeros_like(weight), "photo")
    none.backward()
    assert none.item() == 0.0 and error.grad is not None


def test_a_photo_loss_run_trains_and_is_refused_for_the_paper_role(tmp_path, scene_folder):
    cfg = TrainConfig(data=str(scene_folder), out=str(tmp_path / "run"), direction="dec",
                      variant="cevr-residual-tiny", loss="photo", epochs=1, samples_per_epoch=2, batch_size=2,
                      crop=16, val_size=16, val_cameras=1, device="cpu")
    assert run_training(cfg).iterations == {"dec": 1}
    paper = TrainConfig(data=str(tmp_path / "missing"), out=str(tmp_path / "paper"), variant="cevr-tiny",
                        loss="photo")
    with pytest.raises(UsageError, match="--loss photo: only for a residual variant"):
        run_training(paper)


def test_a_highlight_exposure_puts_the_top_share_of_the_view_just_above_white():
    # 1000 pixels whose largest channels are 1..1000 (one channel each): numpy's linear quantile at 0.98 is
    # 1 + 0.98 x 999 = 980.02, which the scale puts at 1.3 x white
    radiance = np.zeros((1000, 3), np.float32)
    radiance[np.arange(1000), np.arange(1000) % 3] = np.arange(1, 1001)
    scale = highlight_exposure_scale(radiance.reshape(10, 100, 3), 1.3)
    assert scale == pytest.approx(1.3 / 980.02)
    assert HIGHLIGHT_SHARE == 0.02 and HIGHLIGHT_OVER_WHITE == (1.0, 1.6)


def test_highlight_exposed_samples_clip_what_the_share_and_bounds_say():
    # every 32 px crop of an 8 px-periodic map holds each of the values 1..64 16 times: the top 2 % begin at
    # q = 63 (the 0.98 quantile of the 1024 sorted values, between the 1003rd and 1004th, both 63), so at
    # q x 1.0 .. 1.6 of white the values from q / 1.6 = 39.4 (40..64: 25 of 64) down to 63 (63, 64: 2 of 64) clip
    tile = np.arange(1, 65, dtype=np.float32).reshape(8, 8)
    radiance = np.repeat(np.tile(tile, (8, 8))[..., None], 3, axis=-1)
    values = np.repeat(np.arange(1, 65), 16)
    assert np.quantile(values, 0.98) == 63.0
    data = ResidualPairs([radiance], "dec", ResponseBank((SRGB,)), crop=32, samples_per_epoch=16,
                         jpeg_probability=0.0, highlight_exposures=1.0)
    shares = [float((data[i]["clipped"][0] > 0.5).float().mean()) for i in range(16)]
    # a sensor's noise moves a value next to the threshold across it: one value's 16 pixels at most
    assert all(2 / 64 - 1 / 64 <= share <= 25 / 64 + 1 / 64 for share in shares), shares
    assert max(shares) - min(shares) > 4 / 64, shares  # the bounds are drawn, not fixed
