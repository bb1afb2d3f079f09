"""`--raw-mode linear` on the shared physics-first path (cevr_cli/exposure.py): exact exposures where the sensor
measured, a model blended in only where it clipped (here the paper's CEVR role, ``PaperModel``)."""

import json

import numpy as np
import pytest

from cevr_cli.exposure import (
    EXACT,
    EXACT_AND_MODEL,
    MeasuredImage,
    PaperModel,
    measure_linear,
    measured_radiance,
    soft_weight,
)
from cevr_cli.imaging import srgb_decode, srgb_encode

EXACT_AND_CEVR = EXACT_AND_MODEL.format(model="CEVR (paper)")


def linear_frames(predictor, photo: MeasuredImage, evs):
    return PaperModel(predictor).frames(photo, evs)


def linear_hdr(predictor, photo: MeasuredImage, evs):
    return measured_radiance(photo, linear_frames(predictor, photo, [ev for ev in evs if ev < 0]))


class ConstantPredictor:
    """Predicts every EV as one grey level: what the blend takes from CEVR is then known exactly."""

    name = "constant"
    weights_id = "constant"

    def __init__(self, level: float) -> None:
        self.level = level
        self.asked: list[list[float]] = []

    def iter_predictions(self, rgb, evs):
        self.asked.append(list(evs))
        for ev in sorted(evs):
            yield ev, np.full(rgb.shape, self.level, dtype=np.float32)

    def describe(self):
        return {"model": {"name": "constant", "variant": "test", "weights_id": "constant"}, "device": "cpu"}


def photo_with_clipped_disc(size: int = 64) -> MeasuredImage:
    y, x = np.mgrid[0:size, 0:size]
    linear = np.repeat((0.05 + 0.4 * x / size)[..., None], 3, axis=2).astype(np.float32)
    clipped = (y - size / 2) ** 2 + (x - size / 2) ** 2 < (size / 6) ** 2
    linear[clipped] = 1.0
    return measure_linear(linear, clipped)


def test_unclipped_pixels_are_the_linear_data_times_two_to_the_ev_exactly():
    photo = photo_with_clipped_disc(128)
    frames = list(linear_frames(ConstantPredictor(0.2), photo, [-2.0, -0.5, 0.0, 1.0, 3.0]))
    far = soft_weight(photo.clipped) == 0
    assert far.mean() > 0.5
    for ev, frame, _ in frames:
        np.testing.assert_allclose(frame[far], srgb_encode(photo.linear * 2.0**ev)[far], atol=1e-6)
    assert [source for *_, source in frames] == [EXACT_AND_CEVR, EXACT_AND_CEVR, EXACT, EXACT, EXACT]


def test_cevr_fills_the_clipped_region_of_darker_frames_only():
    photo = photo_with_clipped_disc()
    predictor = ConstantPredictor(0.8)  # brighter than the clipped value at -2 EV: sRGB(0.25) = 0.537
    frames = {ev: frame for ev, frame, _ in linear_frames(predictor, photo, [-2.0, 1.0])}
    assert predictor.asked == [[-2.0]]  # only the darker frame needs the model
    np.testing.assert_allclose(frames[-2.0][photo.clipped], 0.8, atol=1e-6)
    np.testing.assert_allclose(frames[1.0][photo.clipped], 1.0)  # brighter: saturated either way


def test_an_unclipped_photo_never_runs_the_model():
    photo = photo_with_clipped_disc()
    photo.clipped[:] = False
    predictor = ConstantPredictor(0.2)
    list(linear_frames(predictor, photo, [-3.0, -1.0, 2.0]))
    assert predictor.asked == []


def test_a_guess_below_the_clipped_value_is_raised_to_it():
    # The sensor saturated: the light was at least what it recorded, 1.0 x 2^ev.
    photo = photo_with_clipped_disc()
    (ev, frame, _), = linear_frames(ConstantPredictor(0.1), photo, [-2.0])
    np.testing.assert_allclose(frame[photo.clipped], srgb_encode(np.array(0.25)), atol=1e-6)


def test_the_blend_border_has_no_step():
    # CEVR's guess (1.0) differs from the exact frame by about 0.6 at the disc's edge: a hard mask would jump
    # by that much between two neighbouring pixels; the soft border spreads it over several.
    photo = photo_with_clipped_disc(128)
    (ev, frame, _), = linear_frames(ConstantPredictor(1.0), photo, [-2.0])
    exact = srgb_encode(photo.linear * 0.25)
    hard = np.where(photo.clipped[..., None], 1.0, exact)
    hard_step = np.abs(np.diff(hard[64, :, 1])).max()
    soft_step = np.abs(np.diff(frame[64, :, 1])).max()
    assert hard_step > 0.25 and soft_step < hard_step / 4


def test_the_hdr_is_the_linear_data_with_the_clipped_region_filled():
    photo = photo_with_clipped_disc(128)
    level = 0.7  # CEVR says the disc is 0.7 (sRGB) at -3 and -2 EV: radiance srgb_decode(0.7) / 2^ev
    radiance = linear_hdr(ConstantPredictor(level), photo, [-3.0, -2.0, 0.0, 1.0])
    far = soft_weight(photo.clipped) == 0
    np.testing.assert_array_equal(radiance[far], photo.linear[far])
    # Both guesses are above the recorded lower bound (sRGB(0.125), sRGB(0.25)), so they are kept; Debevec's hat
    # weights are equal (same code), so the fill is the mean of decode(0.7) * (8, 4).
    expected = float(srgb_decode(np.array(level))) * (8 + 4) / 2
    np.testing.assert_allclose(radiance[photo.clipped], expected, rtol=1e-5)


def test_a_darker_frame_never_claims_less_light_than_the_sensor_recorded():
    # At -1 EV the guess (0.7) is below what the saturated photosites recorded (sRGB(0.5) = 0.735): the frame keeps
    # 0.735, and the HDR fill from it is the recorded 1.0, not less.
    photo = photo_with_clipped_disc(128)
    radiance = linear_hdr(ConstantPredictor(0.7), photo, [-1.0])
    np.testing.assert_allclose(radiance[photo.clipped], 1.0, rtol=1e-5)


def test_stack_and_fuse_a_cfa_dng_end_to_end(tmp_path, tiny_pair):
    from typer.testing import CliRunner

    from cevr_cli.cli import app
    from cevr_cli.io.hdrfile import read_hdr_image
    from cevr_cli.model import save_pair
    from tests.dng import write_cfa_dng

    weights = tmp_path / "tiny.safetensors"
    save_pair(tiny_pair, weights)
    scene = np.full((48, 64, 3), 0.2)
    scene[16:32, 24:40] = 3.0  # a highlight well above saturation
    (tmp_path / "raw").mkdir()
    write_cfa_dng(tmp_path / "raw" / "IMG_0001.dng", scene * np.array([0.5, 1.0, 0.8]), 4000)
    runner = CliRunner()
    result = runner.invoke(app, ["stack", str(tmp_path / "raw"), "-o", str(tmp_path / "stacks"), "--evs", "-2,0,2",
                                 "--format", "tiff", "--model", "cevr-paper", "--weights", str(weights), "-q"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "stacks" / "IMG_0001" / "stack.json").read_text())
    assert manifest["raw"]["mode"] == "linear" and 0.05 < manifest["raw"]["clipped_fraction"] < 0.2
    assert manifest["frames"]["-2.00"] == EXACT_AND_CEVR and manifest["frames"]["+2.00"] == EXACT
    assert manifest["response"]["name"] == "linear"
    result = runner.invoke(app, ["fuse", str(tmp_path / "raw"), "-o", str(tmp_path / "hdr"), "--evs", "-3:3:1",
                                 "--model", "cevr-paper", "--weights", str(weights), "-q"])
    assert result.exit_code == 0, result.output
    radiance = read_hdr_image(tmp_path / "hdr" / "IMG_0001" / "IMG_0001.exr")
    np.testing.assert_allclose(radiance[2:8, 2:8], 0.2, rtol=2e-3)  # measured: the linear data, exactly
    assert radiance[20:28, 28:36].min() >= 0.99  # the highlight: at least what the sensor saw


@pytest.mark.parametrize("mode", ["cevr", "linear"])
def test_raw_mode_is_part_of_the_request(mode):
    from cevr_cli.stack import StackOptions

    assert StackOptions([1.0], raw_mode=mode).request(PaperModel(ConstantPredictor(0)))["raw_mode"] == mode


class CountingModel:
    """An exposure model that counts its passes (``frames`` calls) and the EVs each asked for."""

    name = "counting"
    weights_id = "counting"

    def __init__(self) -> None:
        self.passes: list[list[float]] = []

    def describe(self):
        return {"model": {"name": "counting", "weights_id": "counting"}, "device": "cpu"}

    def frames(self, measured, evs):
        from cevr_cli.exposure import PhysicsModel

        self.passes.append(sorted(evs))
        yield from PhysicsModel().frames(measured, evs)

    def hdr(self, measured, evs, keep_frames=False):
        from cevr_cli.exposure import merge_own_frames

        return merge_own_frames(self, measured, evs, keep_frames)


def test_fuse_keep_stack_on_a_clipped_raw_runs_the_model_once(tmp_path):
    from cevr_cli.batch import BatchPolicy
    from cevr_cli.fuse import run_fuse
    from cevr_cli.stage_options import FuseOptions
    from tests.dng import write_cfa_dng

    scene = np.full((48, 64, 3), 0.2)
    scene[16:32, 24:40] = 3.0  # clipped
    (tmp_path / "raw").mkdir()
    write_cfa_dng(tmp_path / "raw" / "IMG_0001.dng", scene * np.array([0.5, 1.0, 0.8]), 4000)
    model = CountingModel()
    options = FuseOptions((-2.0, -1.0, 0.0, 1.0), keep_stack=True)
    report = run_fuse([tmp_path / "raw"], tmp_path / "hdr", options, model, BatchPolicy())
    assert report.counts() == {"done": 1}, report.to_json()
    assert model.passes == [[-2.0, -1.0, 0.0, 1.0]]  # one pass made both the HDR fill and the kept stack
    manifest = json.loads((tmp_path / "hdr" / "IMG_0001" / "stack" / "stack.json").read_text())
    assert manifest["evs"] == [-2.0, -1.0, 0.0, 1.0]
