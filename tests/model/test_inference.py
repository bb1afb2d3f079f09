"""Stack inference: EV 0 identity, batching, tiling, padding, devices and bad input."""

import numpy as np
import pytest
import torch

from cevr_cli.errors import UsageError
from cevr_cli.model import CEVRPredictor, InferenceSettings
from cevr_cli.model.device import cpu_has_native_bf16
from cevr_cli.model.inference import _tile_spans


def one_at_a_time(pair, image: np.ndarray, ev: float, border: int = 8) -> np.ndarray:
    """The naive way: one full forward pass for one EV, on the image mirrored by ``border`` pixels on every
    side (the predictor's border policy) and padded by hand to a multiple of 8, then cropped back."""
    image = np.pad(image, ((border, border), (border, border), (0, 0)), mode="reflect")
    h, w = image.shape[:2]
    ph, pw = (-h) % 8, (-w) % 8
    padded = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="reflect")
    x = torch.from_numpy(padded.transpose(2, 0, 1).copy())[None]
    with torch.no_grad():
        y = pair.for_step(ev)(x, torch.tensor([ev]))
    return y[0, :, border : h - border, border : w - border].clamp(0, 1).permute(1, 2, 0).numpy()


def test_stack_shapes_and_ev0_identity(tiny_pair, gradient_image):
    predictor = CEVRPredictor(tiny_pair)
    evs = [-1.0, 0.0, 0.5, 2.0]
    stack = predictor.predict(gradient_image, evs)
    assert stack.shape == (4, *gradient_image.shape)
    assert stack.dtype == np.float32
    np.testing.assert_array_equal(stack[1], gradient_image)
    assert stack.min() >= 0.0 and stack.max() <= 1.0


def test_a_predictor_is_named_by_the_model_that_runs_its_weights_and_their_id(tiny_pair, tiny_residual_pair):
    """bench's columns: the paper's weights were labelled cevr[...] as the default model's are."""
    assert CEVRPredictor(tiny_pair).name == "cevr-paper[tiny-test]"
    assert CEVRPredictor(tiny_residual_pair).name == "cevr[tiny-residual]"


def test_residual_weights_are_refused_where_the_network_would_re_expose_the_photo(tiny_residual_pair, gradient_image):
    # load_predictor(a residual run's pair).predict(rgb, evs) ran the residual network on the photo itself: frames
    # unlike any exposure (an untrained direction returned the photo at every EV), without a word
    from cevr_cli.errors import WeightsError

    predictor = CEVRPredictor(tiny_residual_pair)
    for run in (lambda: predictor.predict(gradient_image, [-1.0, 1.0]),
                lambda: list(predictor.iter_predictions(gradient_image, [1.0]))):
        with pytest.raises(WeightsError, match=r"^cevr\[tiny-residual\]: residual-role weights .*load_exposure_model"):
            run()


def test_batched_stack_equals_one_pass_per_ev(tiny_pair):
    rng = np.random.default_rng(0)
    image = rng.random((37, 45, 3), dtype=np.float32)  # odd size: padded and cropped back
    evs = [-3.0, -0.5, 1.0, 2.5]
    stack = CEVRPredictor(tiny_pair, settings=InferenceSettings(max_batch_pixels=48 * 48 * 2)).predict(image, evs)
    for ev, got in zip(evs, stack, strict=True):
        np.testing.assert_allclose(got, one_at_a_time(tiny_pair, image, ev), atol=1e-5)


def test_tiled_equals_untiled(tiny_pair, gradient_image):
    image = np.tile(gradient_image, (3, 3, 1))[:110, :150]
    evs = [-2.0, 1.5]
    untiled = CEVRPredictor(tiny_pair).predict(image, evs)
    tiled_settings = InferenceSettings(tile_pixels=64 * 64, tile_size=64, halo=64, blend=16)
    tiled = CEVRPredictor(tiny_pair, settings=tiled_settings).predict(image, evs)
    assert np.abs(tiled - untiled).max() < 1e-3


def test_tiled_output_has_no_seams_when_statistics_come_from_a_downscaled_copy(tiny_pair, gradient_image):
    image = np.tile(gradient_image, (3, 3, 1))
    settings = InferenceSettings(tile_pixels=64 * 64, tile_size=64, halo=32, blend=16, stats_pixels=40 * 40)
    out = CEVRPredictor(tiny_pair, settings=settings).predict(image, [1.0])[0]
    reference = CEVRPredictor(tiny_pair).predict(image, [1.0])[0]
    # Approximate statistics shift the whole image a little, but alike in every tile.
    assert np.abs(out - reference).mean() < 0.05
    column_jumps = np.abs(np.diff(out - reference, axis=1)).max()
    assert column_jumps < 0.02


def test_tile_spans_cover_length_with_overlap():
    spans = _tile_spans(1000, 256, 32)
    assert spans[0][0] == 0 and spans[-1][1] == 1000
    for (_a0, a1), (b0, _b1) in zip(spans, spans[1:], strict=False):
        assert b0 < a1 and b0 % 8 == 0


@pytest.mark.parametrize("shape", [(4, 4, 3), (16, 16), (16, 16, 4)])
def test_bad_images_are_rejected(tiny_pair, shape):
    with pytest.raises(UsageError):
        CEVRPredictor(tiny_pair).predict(np.zeros(shape, np.float32), [1.0])


needs_bf16 = pytest.mark.skipif(not cpu_has_native_bf16(), reason="this CPU has no native bf16")


@needs_bf16
def test_bf16_stack_agrees_with_fp32_and_is_float32(tiny_pair, gradient_image):
    evs = [-2.5, -1.0, 0.0, 1.0, 3.0]
    reference = CEVRPredictor(tiny_pair, precision="fp32").predict(gradient_image, evs)
    predictor = CEVRPredictor(tiny_pair, precision="bf16")
    stack = predictor.predict(gradient_image, evs)
    assert stack.dtype == np.float32 and stack.shape == reference.shape
    assert predictor.describe()["precision"] == "bf16"
    np.testing.assert_array_equal(stack[2], gradient_image)  # EV 0 is the photo, not a bf16 copy of it
    for got, want in zip(stack, reference, strict=True):
        mse = float(np.mean((got.astype(np.float64) - want) ** 2))
        assert -10 * np.log10(mse + 1e-20) > 40.0


@needs_bf16
def test_bf16_tiled_equals_bf16_untiled(tiny_pair, gradient_image):
    image = np.tile(gradient_image, (3, 3, 1))[:110, :150]
    evs = [-2.0, 1.5]
    untiled = CEVRPredictor(tiny_pair, precision="bf16").predict(image, evs)
    settings = InferenceSettings(tile_pixels=64 * 64, tile_size=64, halo=64, blend=16)
    tiled = CEVRPredictor(tiny_pair, precision="bf16", settings=settings).predict(image, evs)
    assert np.abs(tiled - untiled).max() < 2e-2  # bf16 rounding differs between tile and whole, nothing more


@pytest.mark.parametrize("ev", [-3.0, 3.0])
def test_border_rows_and_columns_behave_like_the_interior(ev):
    # The network's zero padding made a 1-pixel frame up to 29/255 lighter or darker at EV +-3.
    import cv2

    from cevr_cli.assets import sample_photo_path
    from cevr_cli.io.images import read_photo
    from cevr_cli.model import load_predictor

    rgb = cv2.resize(read_photo(sample_photo_path()).rgb, (384, 256), interpolation=cv2.INTER_AREA)
    (out,) = load_predictor(None, "cpu", precision="fp32").predict(rgb, [ev])
    for edge, inner, interior in ((out[0], out[1], out[2]), (out[-1], out[-2], out[-3]),
                                  (out[:, 0], out[:, 1], out[:, 2]), (out[:, -1], out[:, -2], out[:, -3])):
        step_at_edge = float(np.abs(edge - inner).mean())
        step_inside = float(np.abs(inner - interior).mean())
        assert step_at_edge < 2 * step_inside + 2 / 255


def test_cpu_settings_are_the_defaults():
    assert InferenceSettings.for_device(torch.device("cpu")) == InferenceSettings()


@pytest.mark.parametrize(("free_gib", "dtype", "tiled"), [(80, torch.float16, False), (8, torch.float32, True)])
def test_cuda_settings_follow_free_memory(monkeypatch, free_gib, dtype, tiled):
    # No GPU here: the free-memory query is mocked. 80 GiB free in fp16: 0.6 * 80 GiB / 2 / (1800 B / 2) = 28.6 M
    # pixels at once, so a 24 MP photo (6016 x 4016 with its border) runs whole; 8 GiB in fp32: 1.43 M pixels.
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free_gib << 30, 141 << 30))
    settings = InferenceSettings.for_device(torch.device("cuda"), dtype)
    assert (6016 * 4016 > settings.tile_pixels) == tiled
    assert settings.tile_size % 8 == 0 and settings.tile_size >= InferenceSettings.tile_size
    assert settings.max_batch_pixels >= InferenceSettings.max_batch_pixels
    expected_tile = int(0.6 * (free_gib << 30) / 2 / (1800 * torch.finfo(dtype).bits / 32))
    assert settings.tile_pixels == max(expected_tile, InferenceSettings.tile_pixels)


def test_integer_codes_predict_as_their_floats_and_bad_input_is_a_usage_error(tiny_pair, gradient_image):
    from cevr_cli.errors import UsageError

    predictor = CEVRPredictor(tiny_pair)
    codes = np.round(gradient_image * 255).astype(np.uint8)  # a decoder's photo: was read as all white (clipped)
    np.testing.assert_array_equal(predictor.predict(codes, [-1.0, 1.0]),
                                  predictor.predict(codes.astype(np.float32) / 255, [-1.0, 1.0]))
    spoilt = gradient_image.copy()
    spoilt[3, 4, 1] = np.nan  # one NaN pixel turned every output pixel NaN
    for image, evs, told in ((spoilt, [1.0], "1 values are NaN or infinite"),
                             (gradient_image, [float("nan")], "nan is not a finite step"),
                             (gradient_image, "-1,1", "give numbers"),
                             (gradient_image, [], r"^EV list \[\]: give at least one EV"),  # was np.stack's ValueError
                             (np.dstack([gradient_image, gradient_image[..., :1]]), [1.0], "drop the alpha")):
        with pytest.raises(UsageError, match=told):
            predictor.predict(image, evs)


def test_predictions_come_in_ascending_ev_order_as_a_stack_lists_them(tiny_pair, gradient_image):
    got = [ev for ev, _ in CEVRPredictor(tiny_pair).iter_predictions(gradient_image, [2.0, 0.0, -1.0, 1.0, -2.0])]
    assert got == [-2.0, -1.0, 0.0, 1.0, 2.0]  # EV 0 came first


def test_residual_frames_of_another_size_or_step_are_usage_errors(tiny_residual_pair, gradient_image):
    predictor = CEVRPredictor(tiny_residual_pair)
    frame = gradient_image
    assert [ev for ev, _ in predictor.iter_on_frames(gradient_image, [(-1.0, frame)])] == [-1.0]
    for frames, told in (([(-1.0, frame[:8])], r"^the frame at EV -1 is \(8, "),  # was torch's "size of tensor a"
                         ([(-9.0, frame)], "9 is not a finite step within"),  # was run, 3 stops past any training
                         ([(float("nan"), frame)], "nan is not a finite step")):
        with pytest.raises(UsageError, match=told):
            list(predictor.iter_on_frames(gradient_image, frames))


@pytest.mark.parametrize(("settings", "told"), [
    ({"tile_size": 32}, r"^InferenceSettings blend=32 must be below tile_size=32$"),  # ZeroDivisionError when tiled
    ({"tile_size": 36}, r"^InferenceSettings tile_size=36: a multiple of 8"),  # numpy's broadcasting ValueError
    ({"tile_size": 0}, "^InferenceSettings tile_size=0: a whole number of at least 1$"),  # IndexError
    ({"border": -1}, "^InferenceSettings border=-1: a whole number of at least 0$"),  # np.pad's ValueError
    ({"halo": 4}, "^InferenceSettings halo=4: a multiple of 8"),
    ({"max_batch_pixels": 1.5e6}, r"^InferenceSettings max_batch_pixels=1500000\.0: a whole number"),
])
def test_inference_settings_are_checked_when_made(settings, told):
    with pytest.raises(UsageError, match=told):
        InferenceSettings(**settings)
    assert InferenceSettings(tile_size=32, blend=0).blend == 0


def test_cuda_sized_settings_are_valid_settings(monkeypatch):
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (3 * 2**30 + 12345, 80 * 2**30))
    settings = InferenceSettings.for_device(torch.device("cuda"), torch.float16)
    assert settings.tile_size % 8 == 0 and settings.blend < settings.tile_size


@pytest.mark.parametrize(("device", "told"), [("gpu", r"^--device 'gpu': use one of"), ("cuda:7", "^--device cuda:7")])
def test_a_predictor_on_a_device_this_machine_has_not_is_a_usage_error(tiny_pair, device, told, monkeypatch):
    """'gpu' raised torch's "Expected one of cpu, cuda, ipu, ..." RuntimeError."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UsageError, match=told):
        CEVRPredictor(tiny_pair, device)
    assert CEVRPredictor(tiny_pair, torch.device("cpu")).device == torch.device("cpu")
