"""Physics-first re-exposure: exact where the photo measured, the residual network only where it did not."""

import re
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch

from cevr_cli.exposure import (
    EXACT,
    FILL_EVS,
    MeasuringPredictor,
    PhysicsModel,
    ResidualModel,
    blend_residual,
    clip_threshold,
    measure_photo,
    measured_radiance,
    merge_darker,
    physics_frame,
    soft_weight,
    upsample_at,
)
from cevr_cli.imaging import quantise
from cevr_cli.model import CEVRNet, CEVRPredictor, ModelPair, get_config
from cevr_cli.response import SRGB, darktable_response, gamma_response


def scene(h: int = 48, w: int = 64) -> np.ndarray:
    """Relative radiance: a smooth ramp from 0.02 to 0.9, and a bright disc at 4 (clipped at EV 0)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    radiance = np.stack([0.02 + 0.88 * x / w, 0.02 + 0.5 * y / h, 0.3 + 0.2 * np.sin(x / 4)], axis=-1)
    radiance[(y - h / 2) ** 2 + (x - w / 2) ** 2 < (h / 6) ** 2] = 4.0
    return radiance.astype(np.float32)


@pytest.mark.parametrize("response", [SRGB, gamma_response(2.2), darktable_response(3)], ids=lambda r: r.name)
@pytest.mark.parametrize("s", [-3.0, -1.5, 1.0, 2.5])
def test_physics_is_exact_wherever_the_photo_measured(response, s):
    radiance = scene()
    photo = response.encode(radiance)  # unquantised: the curve is then the only thing between light and codes
    measured = measure_photo(photo, response, 16)
    truth = response.encode(radiance * 2.0**s)
    unclipped = ~measured.clipped
    assert unclipped.mean() > 0.8 and measured.clipped.any()
    np.testing.assert_allclose(physics_frame(measured, s)[unclipped], truth[unclipped], atol=2e-5)


def test_the_clipping_mask_is_the_top_code_of_any_channel():
    rgb = np.zeros((2, 2, 3), np.float32)
    rgb[0, 0, 1] = 1.0  # one channel at 255: clipped
    rgb[0, 1] = 254 / 255  # every channel one code below white: measured
    rgb[1, 1, 2] = 255 / 255
    measured = measure_photo(rgb, SRGB, 8)
    assert clip_threshold(8) == pytest.approx(254.5 / 255)
    assert measured.clipped.tolist() == [[True, False], [False, True]]
    assert measured.crushed.tolist() == [[False, False], [True, False]]
    sixteen = measure_photo(np.full((1, 1, 3), 65530 / 65535, np.float32), SRGB, 16)
    assert sixteen.clipped.all()  # 16-bit: the top 16 codes (sensor noise at white)


def test_a_lossy_photo_bounds_near_white_channels_next_to_a_clip():
    rgb = np.full((40, 40, 3), 0.5, np.float32)
    rgb[10:20, 10:20] = 1.0  # clipped
    rgb[10:20, 20] = (1.0, 1.0, 251 / 255)  # its rim: blue 4 codes below white, next to the clip
    rgb[10:20, 21] = (0.95, 0.9, 251 / 255)  # ringing: near white (blue) and joined to the clip
    rgb[10:20, 22] = (0.95, 0.9, 246 / 255)  # 9 codes below white: measured
    rgb[30, 5] = (252 / 255, 0.9, 0.9)  # near white but on its own: measured
    rgb[35, 35] = (1.0, 0.9, 240 / 255)  # clipped in red: its blue, 15 codes below white, is light
    lossless, lossy = measure_photo(rgb, SRGB, 8), measure_photo(rgb, SRGB, 8, lossy=True)
    assert not lossless.lower_bounds()[10:20, 20, 2].any() and lossy.lower_bounds()[10:20, 20, 2].all()
    assert not lossy.lower_bounds()[35, 35, 1:].any()
    grown = lossless.clipped.copy()
    grown[10:20, 21] = True
    np.testing.assert_array_equal(lossy.clipped, grown)  # only the near-white pixels joined to a clip are added
    assert lossy.lower_bounds()[10:20, 21, 2].all() and not lossy.lower_bounds()[10:20, 21, :2].any()
    # (lower_bounds is read in clipped pixels only)
    red_at_white = rgb[..., 0] >= clip_threshold(8)
    np.testing.assert_array_equal(lossy.lower_bounds()[..., 0][lossy.clipped], red_at_white[lossy.clipped])
    # where they are clipped, their measured channels stay as recorded and the bounded one is at least its code
    light = dict(zip(map(tuple, np.argwhere(lossy.clipped)), lossy.clipped_light(), strict=True))
    for row in range(10, 20):
        np.testing.assert_allclose(light[(row, 21)][:2], SRGB.decode(rgb[row, 21])[:2], rtol=1e-5)
        assert light[(row, 21)][2] >= SRGB.decode(rgb[row, 21])[2] - 1e-6


def test_a_jpeg_suns_rim_darkens_closer_to_the_truth_when_measured_as_lossy():
    import io

    from PIL import Image

    y, x = np.mgrid[0:96, 0:96].astype(np.float32)
    light = np.stack([0.25 + 0 * x, 0.45 + 0 * x, 0.9 + 0 * x], axis=-1)  # a blue sky just below white
    light[(y - 48) ** 2 + (x - 48) ** 2 < 20**2] = 1.5  # a sun, clipped in every channel
    buffer = io.BytesIO()
    Image.fromarray(quantise(SRGB.encode(light), 8)).save(buffer, format="JPEG", quality=75)
    photo = np.asarray(Image.open(buffer)).astype(np.float32) / np.float32(255)
    truth = SRGB.encode(light / 8)
    scores = {}
    for lossy in (False, True):
        measured = measure_photo(photo, SRGB, 8, lossy=lossy)
        frame = physics_frame(measured, -3.0)
        rim = measured.clipped & (photo.min(axis=2) < clip_threshold(8))  # clipped pixels with a channel below white
        scores[lossy] = np.abs(frame - truth)[rim].mean()
    # JPEG ringing leaves channels of the sun at 250-254: read as light, they darken below the sun's other pixels
    # (physics revision 5: 0.0750 against 0.0602; the pixels clipped in every channel then take more of the sky's
    # hue: 1.2 -> 8.7 degrees from the neutral truth)
    assert scores[True] < 0.95 * scores[False], scores


def test_physics_model_frames_are_the_physics_frames_in_ev_order():
    measured = measure_photo(SRGB.encode(scene()), SRGB, 8)
    frames = list(PhysicsModel().frames(measured, [1.0, -2.0, 0.0]))
    assert [ev for ev, _, _ in frames] == [-2.0, 0.0, 1.0]
    for ev, frame, how in frames:
        assert how == EXACT
        np.testing.assert_array_equal(frame, physics_frame(measured, ev))


def residual_pair(seed: int, trained: bool) -> ModelPair:
    """A tiny residual-role pair; ``trained``: the darkening model's output maps are random (not the identity)."""
    torch.manual_seed(seed)
    config = get_config("cevr-residual-tiny")
    inc, dec = CEVRNet(config).eval(), CEVRNet(config).eval()
    if trained:
        with torch.no_grad():
            dec.conv_rgb.weight.normal_(0.0, 0.2)  # beta = a function of the features: a real residual,
            dec.conv_rgb.bias.fill_(0.3)  # mostly brightening what was clipped
    return ModelPair(inc, dec, config, weights_id="tiny-residual")


@pytest.mark.parametrize(("options", "told"), [
    ({"scale": float("nan")}, r"^residual scale nan: a finite number above 0$"),  # ValueError at the first frame
    ({"scale": 0.0}, "^residual scale 0.0"), ({"max_pixels": 0}, "^residual max_pixels 0: a whole number"),  # 1/0
    ({"max_pixels": 2.5}, "^residual max_pixels 2.5"),
    ({"gain": float("nan")}, r"^residual gain nan: a finite number of at least 0$"),  # NaN frames
    ({"gain": -1.0}, "^residual gain -1.0"),
])
def test_a_residual_models_settings_are_checked_when_it_is_made(options, told):
    from cevr_cli.errors import UsageError

    with pytest.raises(UsageError, match=told):
        ResidualModel(CEVRPredictor(residual_pair(0, trained=False), "cpu", precision="fp32"), **options)


def test_a_physics_frames_step_and_a_soft_masks_width_are_checked():
    """physics_frame(m, nan) returned a NaN frame; soft_weight(sigma=-1) failed in an OpenCV assertion."""
    from cevr_cli.errors import UsageError
    from cevr_cli.exposure import soft_weight

    measured = measure_photo(np.full((8, 8, 3), 0.5, np.float32), SRGB, 8)
    for s in (float("nan"), 7.0):
        with pytest.raises(UsageError, match="is not a finite step within"):
            physics_frame(measured, s)
    with pytest.raises(UsageError, match=r"^soft_weight sigma -1\.0: a positive number of pixels$"):
        soft_weight(np.ones((8, 8), bool), sigma=-1.0)


def test_an_untrained_residual_returns_exactly_the_physics_frame():
    # The network runs (its features are random) but its output layer is the identity: G_s = P_s exactly.
    predictor = CEVRPredictor(residual_pair(0, trained=False), "cpu", precision="fp32")
    measured = measure_photo(quantise(SRGB.encode(scene()), 8) / np.float32(255), SRGB, 8)
    frames = [(ev, physics_frame(measured, ev)) for ev in (-3.0, -1.0, 2.0)]
    for (_ev, out), (_, physics) in zip(predictor.iter_on_frames(measured.photo, frames), frames, strict=True):
        np.testing.assert_array_equal(out, np.clip(physics, 0, 1))
    assert predictor.trained_directions() == ()
    model = ResidualModel(predictor)
    for ev, frame, _ in model.frames(measured, [-3.0, -1.0, 2.0]):
        np.testing.assert_array_equal(frame, physics_frame(measured, ev))


def test_a_trained_residual_changes_only_what_the_photo_clipped():
    predictor = CEVRPredictor(residual_pair(1, trained=True), "cpu", precision="fp32")
    assert predictor.trained_directions() == ("dec",)
    measured = measure_photo(quantise(SRGB.encode(scene()), 8) / np.float32(255), SRGB, 8)
    far = soft_weight(measured.clipped) == 0
    changed = False
    for ev, frame, how in ResidualModel(predictor, scale=1.0).frames(measured, [-2.0, 1.0]):
        physics = physics_frame(measured, ev)
        np.testing.assert_array_equal(frame[far], physics[far])  # exact away from the clipped disc
        assert np.all(frame[measured.clipped] >= physics[measured.clipped] - 1e-7)  # never below what was recorded
        changed |= bool(np.abs(frame - physics)[measured.clipped].max() > 1e-3)
        assert (how == EXACT) == (ev > 0)
    assert changed


def test_the_residuals_darker_frames_re_expose_one_light():
    # the network's frames, one per step, are separate guesses; the frames given are R(min(2^s L, 1)) of one L
    predictor = CEVRPredictor(residual_pair(1, trained=True), "cpu", precision="fp32")
    measured = measure_photo(quantise(SRGB.encode(scene()), 8) / np.float32(255), SRGB, 8)
    frames = {ev: f for ev, f, _ in ResidualModel(predictor, scale=1.0).frames(measured, [-3.0, -2.5, -2.0, -1.0])}
    light = {ev: SRGB.decode(f) / np.float32(2.0**ev) for ev, f in frames.items()}
    assert light[-3.0][measured.clipped].max() > 1.05  # the network brightened clipped pixels
    for ev in (-2.5, -2.0):
        shown = measured.clipped[..., None] & (frames[ev] < clip_threshold(8)) & (frames[-3.0] < clip_threshold(8))
        assert shown.sum() > 50
        np.testing.assert_allclose(light[ev][shown], light[-3.0][shown], rtol=1e-4)
    # and a frame does not depend on which others were asked for
    ((_, alone, _),) = ResidualModel(predictor, scale=1.0).frames(measured, [-1.0])
    np.testing.assert_array_equal(alone, frames[-1.0])


@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_the_residuals_hdr_image_is_the_light_its_frames_reexpose(scale):
    predictor = CountingResidualPredictor(CEVRPredictor(residual_pair(1, trained=True), "cpu", precision="fp32"))
    measured = measure_photo(quantise(SRGB.encode(scene()), 8) / np.float32(255), SRGB, 8)
    model = ResidualModel(predictor, scale=scale)
    light = model.filled_light(measured)
    assert np.abs(light - measured_radiance(measured, iter(())))[~measured.clipped].max() > 1e-3  # a soft border
    predictor.calls = 0
    evs = [-3.0, -2.0, -1.0, 0.0, 1.0]
    hdr, frames = model.hdr(measured, evs, keep_frames=True)
    assert predictor.calls == 1  # one network pass made the HDR image and the kept frames
    np.testing.assert_array_equal(hdr, light)
    assert [ev for ev, _, _ in frames] == evs
    for (_, frame, _), (_, alone, _) in zip(frames, model.frames(measured, evs), strict=True):
        np.testing.assert_array_equal(frame, alone)  # the same frames as the stack stage makes
    # the frames' own merge (fuse before the HDR image was the model's light) gives it back up to the codes'
    # rounding of the soft border
    merged = measured_radiance(measured, iter([f for f in frames if f[0] < 0]))
    np.testing.assert_allclose(merged, light, rtol=5e-3, atol=1e-6)
    hdr, frames = model.hdr(measured, evs)
    np.testing.assert_array_equal(hdr, light)
    assert frames == []


def test_physics_hdr_image_is_the_photos_light_and_hue_fill():
    measured = measure_photo(quantise(SRGB.encode(scene()), 8) / np.float32(255), SRGB, 8)
    hdr, frames = PhysicsModel().hdr(measured, [-2.0, 1.0])
    assert frames == []
    np.testing.assert_array_equal(hdr[~measured.clipped], measured.linear[~measured.clipped])
    np.testing.assert_array_equal(hdr[measured.clipped], measured.clipped_light())
    # and it is what a bracket of its own frames merges to (fuse before the HDR image was the model's own),
    # up to the soft border's blend (measured 0.4 %)
    merged = measured_radiance(measured, PhysicsModel().frames(measured, [-3.0, -2.0, -1.0]))
    np.testing.assert_allclose(merged, hdr, rtol=5e-3, atol=1e-6)


class CountingResidualPredictor:
    """A residual predictor that counts the network passes (``iter_on_frames`` calls); the rest is the wrapped one's."""

    def __init__(self, predictor: CEVRPredictor) -> None:
        self.predictor, self.calls = predictor, 0

    def __getattr__(self, name: str):
        return getattr(self.predictor, name)

    def iter_on_frames(self, rgb, frames):
        self.calls += 1
        return self.predictor.iter_on_frames(rgb, frames)


def test_the_light_is_the_same_made_in_pixel_chunks(monkeypatch):
    predictor = CEVRPredictor(residual_pair(1, trained=True), "cpu", precision="fp32")
    measured = measure_photo(quantise(SRGB.encode(scene(50, 70)), 8) / np.float32(255), SRGB, 8)
    whole = ResidualModel(predictor, scale=2.0).filled_light(measured)
    monkeypatch.setattr("cevr_cli.exposure.FILL_PIXELS", 7)
    np.testing.assert_allclose(ResidualModel(predictor, scale=2.0).filled_light(measured), whole, rtol=1e-6)


def test_the_light_is_the_whole_frames_merge_where_the_mask_reaches_and_the_hue_fill_elsewhere():
    """Made only where w > 0, the light equals the merge of whole full-resolution frames (the residual upsampled
    with OpenCV's resize) blended in with w everywhere."""
    predictor = CEVRPredictor(residual_pair(1, trained=True), "cpu", precision="fp32")
    measured = measure_photo(quantise(SRGB.encode(scene(60, 90)), 8) / np.float32(255), SRGB, 8)
    model = ResidualModel(predictor, scale=2.0, gain=0.5)
    weight = measured.weight(-1.0)
    assert 0 < (weight > 0).mean() < 0.9  # some pixels are left to the hue fill
    fill = measured_radiance(measured, iter(()))
    up = [(ev, cv2.resize(low, (90, 60), interpolation=cv2.INTER_LINEAR)) for ev, low in
          model._low_residuals(measured, FILL_EVS)]
    frames = [(ev, blend_residual(physics_frame(measured, ev), res * np.float32(1.0), weight, ev, measured.clipped))
              for ev, res in up]
    merged = merge_darker(iter(frames), measured.output.decode, fill)
    expected = fill + np.float32(0.5) * weight[..., None] * (merged - fill)
    assert np.abs(expected - fill)[~measured.clipped].max() > 1e-3  # the network moves the soft border too
    # ... but a pixel the photo measured only within the light its 8-bit code can mean: R^-1(x -+ 0.5 / 255)
    codes = measured.photo[~measured.clipped]
    low, high = (SRGB.decode(np.clip(codes + d / np.float32(255), 0, 1)) for d in (-0.5, 0.5))
    expected[~measured.clipped] = np.clip(expected[~measured.clipped], low, high)
    light = model.filled_light(measured)
    np.testing.assert_allclose(light, expected, rtol=2e-5, atol=1e-6)
    assert np.all(light[~measured.clipped] <= high) and np.all(light[~measured.clipped] >= low)


@pytest.mark.parametrize("count", [0, 1, 4096, 5000])
def test_upsampling_at_pixels_is_opencvs_bilinear_resize_there(count):
    low = np.random.default_rng(0).random((37, 53, 3)).astype(np.float32)
    full = cv2.resize(low, (211, 150), interpolation=cv2.INTER_LINEAR).reshape(-1, 3)
    pixels = np.sort(np.random.default_rng(1).choice(full.shape[0], count, replace=False))
    got = upsample_at(low, (150, 211), pixels)
    assert got.shape == (count, 3) and got.dtype == np.float32
    np.testing.assert_allclose(got, full[pixels], atol=1e-5)
    np.testing.assert_array_equal(upsample_at(full.reshape(150, 211, 3), (150, 211), pixels), full[pixels])


def test_a_residual_gain_of_zero_is_the_physics_frame():
    predictor = CEVRPredictor(residual_pair(1, trained=True), "cpu", precision="fp32")
    measured = measure_photo(quantise(SRGB.encode(scene()), 8) / np.float32(255), SRGB, 8)
    for ev, frame, _ in ResidualModel(predictor, scale=1.0, gain=0.0).frames(measured, [-2.0, -0.5]):
        np.testing.assert_array_equal(frame, physics_frame(measured, ev))


@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_reduced_resolution_residual_keeps_the_frame_size(scale):
    predictor = CEVRPredictor(residual_pair(1, trained=True), "cpu", precision="fp32")
    measured = measure_photo(quantise(SRGB.encode(scene(50, 70)), 8) / np.float32(255), SRGB, 8)
    ((ev, frame, _),) = ResidualModel(predictor, scale=scale).frames(measured, [-1.0])
    assert frame.shape == (50, 70, 3) and frame.dtype == np.float32


def test_measured_radiance_is_the_photos_light_where_it_did_not_clip():
    response = gamma_response(2.2)
    radiance = scene()
    measured = measure_photo(response.encode(radiance), response, 16)
    hdr = measured_radiance(measured, PhysicsModel().frames(measured, [-3.0, -2.0]))
    far = soft_weight(measured.clipped) == 0
    np.testing.assert_allclose(hdr[far], radiance[far], rtol=1e-4, atol=1e-6)
    # in the clipped disc physics knows the recorded lower bound and the hue around it: the hue fill, which the
    # darker frames show and the merge recovers
    light = measured.clipped_light()
    assert (light >= 1.0 - 1e-6).all()
    np.testing.assert_allclose(hdr[measured.clipped], light, rtol=1e-4)
    flat = replace(measured, fill_hue=False)  # without the hue fill: exactly the recorded white, 1
    hdr = measured_radiance(flat, PhysicsModel().frames(flat, [-3.0, -2.0]))
    np.testing.assert_allclose(hdr[measured.clipped], 1.0, rtol=1e-4)


def test_a_darker_frame_that_clipped_bounds_the_merged_light_from_below():
    measured = replace(measure_photo(SRGB.encode(scene()), SRGB, 16), fill_hue=False)
    white = np.ones(measured.photo.shape, np.float32)  # both darker frames clipped everywhere
    hdr = measured_radiance(measured, iter([(-3.0, white, ""), (-2.0, white, "")]))
    # the hat-weighted average of 1 / 2^s is 6; a clipped frame says the light is at least 1 / 2^s: 8
    np.testing.assert_allclose(hdr[measured.clipped], 8.0, rtol=1e-6)


def test_measuring_predictor_is_an_image_predictor_through_a_fixed_response():
    predictor = MeasuringPredictor(PhysicsModel(), gamma_response(2.2))
    rgb = gamma_response(2.2).encode(scene() * 0.2)
    stack = predictor.predict(rgb, [1.0, -1.0])
    assert stack.shape == (2, *rgb.shape) and predictor.name == "physics (gamma:2.2)"
    np.testing.assert_allclose(stack[0], gamma_response(2.2).encode(scene() * 0.4), atol=1e-5)


def test_a_device_or_precision_this_machine_cannot_run_fails_even_with_nothing_left_to_do(monkeypatch):
    import torch

    from cevr_cli.batch import IN_PROCESS, Scale
    from cevr_cli.errors import UsageError
    from cevr_cli.exposure import ModelSpec, batch_models

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for spec, told in ((ModelSpec("cevr", None, "cpu", "fp16"), "--precision fp16 needs a GPU"),
                       (ModelSpec("cevr", None, "cuda", "auto"), "--device cuda: no CUDA GPU")):
        with pytest.raises(UsageError, match=told):
            batch_models(spec, IN_PROCESS)
        assert batch_models(spec, Scale(ray="local")) is spec  # a cluster's devices are its own
    assert batch_models(ModelSpec("physics", None, "cuda", "fp16"), IN_PROCESS).name == "physics"  # uses neither


def test_a_numbered_gpu_is_one_gpu_that_local_workers_share_and_ray_refuses(monkeypatch):
    from cevr_cli.batch import IN_PROCESS, Scale
    from cevr_cli.errors import UsageError
    from cevr_cli.exposure import ModelSpec, batch_models
    from cevr_cli.scaleout import local_workers
    from cevr_cli.scaleout.processes import worker_environment

    spec = ModelSpec("cevr", None, "cuda:1", "auto")
    assert spec.accelerator == "cuda:1" and ModelSpec("cevr", None, "cuda", "auto").accelerator == "cuda"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2")
    assert local_workers("auto", spec.accelerator) == 1 and local_workers("auto", "cuda") == 3
    assert "CUDA_VISIBLE_DEVICES" not in worker_environment(1, 2, spec.accelerator, ["0", "1", "2"])  # both on GPU 1
    with pytest.raises(UsageError, match=r"^--ray with --device cuda:1: Ray gives each actor a GPU of its own; use "
                                         r"--device cuda$"):
        batch_models(spec, Scale(ray="local"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(UsageError, match="this machine's CUDA GPUs are cuda:0 to cuda:0"):  # before any worker starts
        batch_models(spec, Scale(2))
    assert batch_models(ModelSpec("cevr", None, "cuda:0", "fp32"), IN_PROCESS).device == "cuda:0"


def test_a_photo_given_as_integer_codes_is_measured_as_its_floats_at_its_depth():
    codes8 = np.round(SRGB.encode(scene()) * 255).astype(np.uint8)  # the bright disc clips
    as8, floats = measure_photo(codes8, SRGB), measure_photo(codes8.astype(np.float32) / 255, SRGB)
    np.testing.assert_array_equal(as8.linear, floats.linear)  # uint8 was read as white everywhere (all clipped)
    np.testing.assert_array_equal(as8.clipped, floats.clipped)
    assert as8.clipped[24, 32] and not as8.clipped.all()
    codes16 = codes8.astype(np.uint16) * 257
    codes16[5, 5] = 65450  # above 8 bits' clip threshold (254.5/255), below 16 bits' (top 16 codes)
    as16 = measure_photo(codes16, SRGB)
    assert as16.clip_code == measure_photo(codes16.astype(np.float32) / 65535, SRGB, bits=16).clip_code
    assert not as16.clipped[5, 5] and measure_photo(codes16, SRGB, bits=8).clipped[5, 5]


def test_a_response_may_be_named_and_linear_data_is_checked():
    from cevr_cli.errors import UsageError
    from cevr_cli.exposure import measure_linear

    photo = SRGB.encode(scene() * 0.2)
    np.testing.assert_array_equal(measure_photo(photo, "srgb").linear, measure_photo(photo, SRGB).linear)
    linear, clipped = scene() * 0.2, np.zeros(scene().shape[:2], bool)
    assert measure_linear(linear, clipped).linear_source
    spoilt = linear.copy()
    spoilt[0, 0, 0] = np.nan  # NaN frames came out, 192 of 192 values
    for args, told in (((spoilt, clipped), "1 values are NaN"), ((linear[..., 0], clipped), "HxWx3"),
                       ((linear, clipped[:4]), "clipping mask of shape (4, 64)")):
        with pytest.raises(UsageError, match=re.escape(told)):
            measure_linear(*args)


def test_a_response_profile_may_be_given_as_a_path(tmp_path):
    """measure_photo(rgb, Path("prof.json")) was an AttributeError ('decode')."""
    import json

    from cevr_cli.response import load_profile, profile_record, table_response

    path = tmp_path / "p.json"
    codes = np.linspace(0.0, 1.0, 256)
    path.write_text(json.dumps(profile_record(table_response("x", codes, codes**3.0), "Canon", "EOS 5D", "t")))
    photo = SRGB.encode(scene() * 0.2)
    measured = measure_photo(photo, path)
    assert measured.output.name == "profile:Canon EOS 5D"
    np.testing.assert_array_equal(measured.linear, measure_photo(photo, load_profile(str(path))).linear)


def test_linear_integer_codes_are_light_of_their_types_white_and_other_types_are_refused():
    """uint16 was read as light 0..65535: every frame came out white."""
    from cevr_cli.errors import UsageError
    from cevr_cli.exposure import measure_linear

    clipped = np.zeros((16, 16), bool)
    codes = np.full((16, 16, 3), 11796, np.uint16)
    np.testing.assert_array_equal(measure_linear(codes, clipped).linear, np.full((16, 16, 3), 11796 / 65535,
                                                                                 np.float32))
    assert measure_linear(np.full((16, 16, 3), 51, np.uint8), clipped).linear.max() == np.float32(51 / 255)
    for linear, told in ((codes.astype(np.int64), "linear image of type int64: give floats, or uint8 or uint16 codes"),
                         (np.full((16, 16, 3), 1e39), "linear image: 768 values are out of range")):
        with pytest.raises(UsageError, match=f"^{re.escape(told)}"):
            measure_linear(linear, clipped)


def test_half_float_linear_data_is_measured_without_a_warning():
    """float32_image compared float16's largest value with float32's: numpy's "overflow encountered in cast"."""
    import warnings

    from cevr_cli.exposure import measure_linear

    linear = np.full((16, 16, 3), 0.25, np.float16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        measured = measure_linear(linear, np.zeros((16, 16), bool))
    assert measured.linear.dtype == np.float32 and (measured.linear == np.float32(0.25)).all()


@pytest.mark.parametrize("bits", [0, 17, -8, 2.5, True, "8"])
def test_a_photos_bit_depth_is_a_whole_number_from_1_to_16(bits):
    """bits=0 was a ZeroDivisionError."""
    from cevr_cli.errors import UsageError

    with pytest.raises(UsageError, match=rf"^bits {re.escape(repr(bits))}: how deep the photo's codes were, a whole"):
        measure_photo(SRGB.encode(scene() * 0.2), "srgb", bits=bits)


def test_a_photo_measured_at_its_depth_knows_half_a_code_step():
    photo = SRGB.encode(scene() * 0.2)
    assert measure_photo(photo, "srgb", bits=1).half_code == 0.5 and measure_photo(photo, "srgb", bits=16).half_code \
        == 0.5 / 65535
    assert measure_photo(photo, "srgb", bits=np.int64(12)).half_code == 0.5 / 4095


def test_a_measuring_predictor_refuses_an_empty_ev_list():
    from cevr_cli.errors import UsageError
    from cevr_cli.exposure import MeasuringPredictor, PhysicsModel

    with pytest.raises(UsageError, match=r"^EV list \[\]: give at least one EV"):  # was np.stack's ValueError
        MeasuringPredictor(PhysicsModel(), SRGB).predict(SRGB.encode(scene() * 0.2), [])


def test_load_exposure_model_takes_a_path_and_a_torch_device_as_readme_says(tmp_path, tiny_residual_pair):
    """README's Library section: paths may be str or Path, devices a name or a torch.device (the signature said str)."""
    import torch

    from cevr_cli.exposure import ResidualModel, load_exposure_model
    from cevr_cli.model import save_pair

    save_pair(tiny_residual_pair, tmp_path / "pair.safetensors")
    model = load_exposure_model("cevr", weights=tmp_path / "pair.safetensors", device=torch.device("cpu"))
    assert isinstance(model, ResidualModel)


def test_a_pixel_is_crushed_only_where_every_channel_is_at_code_0():
    rgb = np.array([[[0, 0, 0], [1, 1, 1], [0, 0, 1]]], np.uint8)
    assert measure_photo(rgb, SRGB).crushed.tolist() == [[True, False, False]]
    deep = np.array([[[0, 0, 0], [1, 1, 1]]], np.uint16)
    assert measure_photo(deep, SRGB).crushed.tolist() == [[True, False]]


def test_near_white_pixels_join_a_clip_in_a_lossy_photo_through_corners_too():
    """8-connected: the codec's ringing reaches diagonal neighbours as well."""
    rgb = np.full((5, 5, 3), 0.5, np.float32)
    rgb[1, 1] = 1.0  # clipped
    rgb[2, 2] = (0.9, 0.9, 252 / 255)  # near white, touching the clip at a corner only
    expected = np.zeros((5, 5), bool)
    expected[1, 1] = expected[2, 2] = True
    np.testing.assert_array_equal(measure_photo(rgb, SRGB, 8, lossy=True).clipped, expected)


def test_a_lossy_photo_of_more_than_8_bits_clips_only_at_its_top_codes():
    """Near white is counted in 8-bit codes, the ringing of 8-bit JPEGs: a 10-bit HEIF's codes near white are light."""
    rgb = np.full((3, 3, 3), 30000, np.uint16)
    rgb[1, 1] = 65535
    rgb[1, 2] = (60000, 60000, 65535 - 1000)  # within 6 8-bit codes of white, next to the clip
    expected = np.zeros((3, 3), bool)
    expected[1, 1] = True
    np.testing.assert_array_equal(measure_photo(rgb, SRGB, 16, lossy=True).clipped, expected)


def test_the_soft_weight_is_twice_the_blurred_mask_so_it_meets_the_mask_without_a_step():
    """Beside a straight edge the Gaussian-blurred mask is 1 - Phi(d / sigma) at d px past it, so the weight is
    erfc(d / (sigma sqrt 2)): 1 at the edge, 0.90 half a pixel out."""
    import math

    mask = np.zeros((64, 64), bool)
    mask[:, :32] = True
    weight = soft_weight(mask, sigma=4.0)
    assert np.all(weight[:, :32] == 1.0)
    d = np.arange(32, 64) - 31.5
    expected = [math.erfc(v / (4.0 * math.sqrt(2.0))) for v in d]
    np.testing.assert_allclose(weight[32, 32:], expected, atol=0.01)


def test_a_measured_pixel_keeps_its_light_within_the_light_its_code_can_mean():
    """Half a code either side: an 8-bit sRGB code 100 holds light from R^-1(99.5/255) to R^-1(100.5/255)."""
    rgb = np.full((1, 2, 3), 100, np.uint8)
    rgb[0, 1] = 255  # clipped: its estimate is not bounded
    measured = measure_photo(rgb, SRGB)
    light = np.array([[0.0, 0.0, 0.0], [5.0, 5.0, 5.0]], np.float32)
    measured.keep_measured(light, np.array([0, 1]))
    low = ((99.5 / 255 + 0.055) / 1.055) ** 2.4
    np.testing.assert_allclose(light[0], low, rtol=1e-5)
    assert np.all(light[1] == 5.0)
    light = np.full((1, 3), 1.0, np.float32)
    measured.keep_measured(light, np.array([0]))
    np.testing.assert_allclose(light[0], ((100.5 / 255 + 0.055) / 1.055) ** 2.4, rtol=1e-5)


def test_the_default_soft_mask_width_is_0_4_percent_of_the_long_side_and_at_least_4_px():
    mask = np.zeros((8, 2000), bool)
    mask[:, 1000:1003] = True
    np.testing.assert_array_equal(soft_weight(mask), soft_weight(mask, sigma=8.0))
    np.testing.assert_array_equal(soft_weight(mask[:, 900:1100]), soft_weight(mask[:, 900:1100], sigma=4.0))
    one = np.zeros((9, 9), bool)
    one[4, 4] = True  # a lone pixel's blur is far below 0.5 there: it is 1 all the same
    assert soft_weight(one)[4, 4] == 1.0


def test_blending_a_residual_never_darkens_a_clipped_pixel_when_darkening_and_stays_in_the_code_range():
    physics = np.array([[[0.5] * 3, [0.5] * 3, [0.9] * 3]], np.float32)
    clipped = np.array([[True, False, False]])
    weight = np.array([[1.0, 0.5, 1.0]], np.float32)

    def residual():
        return np.array([[[-0.2] * 3, [-0.2] * 3, [0.5] * 3]], np.float32)

    darker = blend_residual(physics, residual(), weight, -1.0, clipped)
    np.testing.assert_allclose(darker[0, :, 0], [0.5, 0.4, 1.0])  # P is a lower bound of the clipped pixel
    brighter = blend_residual(physics, residual(), weight, 1.0, clipped)
    np.testing.assert_allclose(brighter[0, :, 0], [0.3, 0.4, 1.0])


def test_a_clipped_frame_in_float_codes_bounds_the_light_from_its_clip_code_up():
    """A network's frame is floats: from 254.5/255 up (the 8-bit top code's rounding) it clipped."""
    floor = np.zeros((1, 1, 3), np.float32)
    frame = np.full((1, 1, 3), 254.8 / 255, np.float32)
    merged = merge_darker(iter([(-2.0, frame)]), SRGB.decode, floor)
    np.testing.assert_allclose(merged, 4.0)  # at least white / 2^-2


class _ShapeRecorder:
    """A residual predictor that predicts the physics frames it is given plus ``offset`` and records the photo
    size it saw."""

    name, weights_id = "recorder", None

    def __init__(self, offset: float = 0.0, directions: tuple[str, ...] = ("dec",)) -> None:
        self.sizes: list[tuple[int, int]] = []
        self.offset, self.directions = np.float32(offset), directions

    def describe(self):
        return {"name": self.name}

    def trained_directions(self):
        return self.directions

    def residual_gain(self):
        return 1.0

    def iter_on_frames(self, rgb, frames):
        self.sizes.append(rgb.shape[:2])
        return iter([(ev, frame + self.offset) for ev, frame in frames])


@pytest.mark.parametrize(("size", "network"), [
    ((256, 128), (91, 45)),  # 32768 px over 4096: each side / sqrt(8) = 2.83, 4095 px
    ((20, 4000), (8, 905)),  # / 4.42, but never narrower than 8 px
])
def test_the_residual_network_sees_at_most_max_pixels_and_at_least_8_px_a_side(size, network):
    rgb = np.full((*size, 3), 0.5, np.float32)
    rgb[:4, :4] = 1.0
    recorder = _ShapeRecorder()
    list(ResidualModel(recorder, scale=1.0, max_pixels=64 * 64).frames(measure_photo(rgb, SRGB, 8), [-1.0]))
    assert recorder.sizes == [network]


def test_measured_pixels_the_soft_mask_reaches_keep_the_light_their_code_can_mean():
    """Darker frames clipped everywhere would put every pixel of the mask at 1 / 2^-3 = 8: the measured ones
    stay below R^-1(code + half a code)."""
    measured = replace(measure_photo(SRGB.encode(scene()), SRGB, 8), fill_hue=False)
    white = np.ones(measured.photo.shape, np.float32)
    hdr = measured_radiance(measured, iter([(-3.0, white, "")]))
    border = (soft_weight(measured.clipped) > 0) & ~measured.clipped
    assert border.any()
    top = SRGB.decode(np.clip(measured.photo + np.float32(0.5 / 255), 0.0, 1.0))
    assert np.all(hdr[border] <= top[border] * (1 + 1e-6))
    np.testing.assert_allclose(hdr[measured.clipped], 8.0, rtol=1e-6)


def test_the_ev_0_frame_of_a_residual_model_is_the_photo_itself():
    rgb = np.full((32, 32, 3), 0.5, np.float32)
    rgb[8:12, 8:12] = 1.0
    measured = measure_photo(rgb, SRGB, 8)
    frames = {ev: (frame, how) for ev, frame, how in ResidualModel(_ShapeRecorder(), scale=1.0).frames(measured,
                                                                                                     [-1.0, 0.0])}
    assert frames[0.0][1] == EXACT
    np.testing.assert_array_equal(frames[0.0][0], physics_frame(measured, 0.0))


def test_the_gain_scales_the_residual_of_brighter_frames_too():
    rgb = np.full((16, 16, 3), 0.5, np.float32)
    rgb[:4, :4] = 0.0  # crushed: a brighter frame needs the network there
    measured = measure_photo(rgb, SRGB, 8)
    network = _ShapeRecorder(offset=0.25, directions=("inc",))
    for gain, residual in ((0.0, 0.0), (0.5, 0.125)):
        ((_, frame, _),) = ResidualModel(network, scale=1.0, gain=gain).frames(measured, [1.0])
        expected = physics_frame(measured, 1.0) + residual * measured.weight(1.0)[..., None]
        np.testing.assert_allclose(frame, expected, atol=1e-6)
