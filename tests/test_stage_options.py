"""StackOptions and FuseOptions: each option declared once, refused at construction with the CLI's line."""

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cevr_cli.cli import app
from cevr_cli.errors import UsageError
from cevr_cli.evs import CONTINUOUS_EVS
from cevr_cli.options import Given, given
from cevr_cli.stage_options import FuseOptions, StackOptions, check_evs


@pytest.mark.parametrize("field, value, message", [
    ("image_format", "jpeg", "--format 'jpeg': use one of png, tiff"),
    ("max_megapixels", -1.0, "--max-megapixels -1: must be > 0"),
    ("raw_mode", "bogus", "--raw-mode 'bogus': use one of linear, cevr"),
    ("response", "bogus", "--response 'bogus'"),
    ("model", "bogus", "--model 'bogus': use one of cevr, physics, cevr-paper"),
])
def test_stack_options_refuse_each_bad_field(field, value, message):
    with pytest.raises(UsageError) as error:
        StackOptions(**{field: value})
    assert str(error.value).startswith(message)


@pytest.mark.parametrize("field, value, message", [
    ("tmo", "bogus", "--tmo 'bogus': use one of"),
    ("hdr_format", "png", "--format 'png': use one of exr, hdr"),
    ("compression", "lzma", "--compression 'lzma': use one of"),
    ("merge", "bogus", "--merge 'bogus': use one of auto, measured, debevec"),
    ("model", "bogus", "--model 'bogus'"),
    ("max_megapixels", 0.0, "--max-megapixels 0: must be > 0"),
])
def test_fuse_options_refuse_each_bad_field(field, value, message):
    with pytest.raises(UsageError) as error:
        FuseOptions(**{field: value})
    assert str(error.value).startswith(message)


@pytest.mark.parametrize("options, message", [
    ({"merge": "debevec"}, "--merge debevec recovers the response from the stack: give at least two EVs"),
    ({"model": "cevr-paper"}, "--model cevr-paper (its merge is Debevec's) recovers the response"),
])
def test_a_debevec_merge_of_one_ev_is_refused_as_a_request(options, message):
    """It could never work, so it is the request's error (exit 2), not each photo's."""
    with pytest.raises(UsageError) as error:
        FuseOptions((0.0,), **options)
    assert str(error.value).startswith(message)
    assert FuseOptions((0.0,)).evs == (0.0,)  # the measured merge needs no second EV
    assert FuseOptions((-1.0, 1.0), **options).merge == options.get("merge", "auto")


@pytest.mark.parametrize("evs", [[], [1.0, -1.0], [0.0, 0.0], [7.0], [float("nan")], [0.01 * i for i in range(122)]])
def test_an_ev_list_that_parse_evs_would_not_make_is_refused(evs):
    with pytest.raises(UsageError, match="EV list"):
        check_evs(evs)


def test_the_library_refuses_evs_that_share_a_frame_name():
    with pytest.raises(UsageError, match="two EVs are one to 0.01 stop"):
        StackOptions((-0.004, 0.004))


def test_the_request_records_what_changes_the_outputs_and_the_weights():
    class Model:
        weights_id = "abc"

    stack = StackOptions((-1.0, 1.0), response="SRGB").request(Model())
    assert stack == {"evs": [-1.0, 1.0], "image_format": "png", "raw_mode": "linear", "response": "srgb",
                     "model": "cevr", "weights_id": "abc", "physics": 9}  # max_megapixels, encoders: no change
    fuse = FuseOptions(tmo="none").request(None)
    assert fuse["evs"] == list(CONTINUOUS_EVS) and fuse["tmo"] == "none" and fuse["weights_id"] is None
    assert fuse["physics"] == 9  # outputs of earlier revisions (1: before the hue fill) are redone
    assert FuseOptions(tmo="none").tone_mapper is None and FuseOptions().half


@pytest.mark.parametrize("command, args, message", [
    ("stack", ["--model", "bogus"], "--model 'bogus'"),
    ("stack", ["--format", "gif"], "--format 'gif'"),
    ("fuse", ["--merge", "bogus"], "--merge 'bogus'"),
    ("fuse", ["--tmo", "drago"], "--tmo 'drago'"),
    ("fuse", ["--evs", "0", "--merge", "debevec"], "--merge debevec recovers the response from the stack"),
    ("fuse", ["--format", "hdr", "--float"], "--float is for OpenEXR files; --format hdr (Radiance RGBE) has neither"),
    ("fuse", ["--format", "hdr", "--compression", "dwaa"], "--compression dwaa is for OpenEXR files"),
    ("fuse", ["--format", "hdr", "--compression", "zip"], "--compression zip is for OpenEXR files"),  # the default
])
def test_the_cli_says_the_same_line_and_exits_2(tmp_path, command, args, message):
    photo = tmp_path / "a.png"
    photo.write_bytes(b"not read: the request is refused first")
    result = CliRunner().invoke(app, [command, str(photo), "-o", str(tmp_path / "out"), *args])
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "out").exists()


def test_the_flags_a_stack_folder_does_not_use_are_named():
    assert FuseOptions().photo_only_flags() == []
    assert FuseOptions(model="physics", keep_stack=True, merge="measured", tmo="kimkautz").photo_only_flags() == [
        "--model", "--keep-stack", "--merge"]  # --tmo applies to stack folders too
    assert FuseOptions((-1.0, 1.0)).photo_only_flags() == ["--evs"]  # a stack folder's EVs are its frames'
    # given at their defaults (`cevr fuse stacks/ --model cevr --merge auto`): still for photos only
    assert FuseOptions(model=Given("cevr"), merge=Given("auto"), tmo=Given("reinhard")).photo_only_flags() == [
        "--model", "--merge"]


def test_the_flags_given_stay_given_when_the_model_is_another():
    from cevr_cli.exposure import ModelSpec

    options = FuseOptions(compression=Given("zip"), response=Given("auto"))
    assert given(options, "compression") and not given(options, "merge")
    other = options.for_model(ModelSpec("physics"))
    assert other.model == "physics" and other.compression == "zip"
    assert given(other, "compression") and given(other, "response") and not given(other, "merge")
    with pytest.raises(UsageError, match="--compression zip is for OpenEXR files"):
        FuseOptions(hdr_format="hdr", compression=Given("zip"))


def test_fusing_stack_folders_with_photo_only_flags_says_so(tmp_path):
    import cv2
    import numpy as np

    from cevr_cli.batch import BatchPolicy
    from cevr_cli.exposure import ModelSpec
    from cevr_cli.fuse import run_fuse
    from cevr_cli.stack import run_stack

    photo = tmp_path / "p.png"
    cv2.imwrite(str(photo), np.tile(np.arange(0, 256, 4, dtype=np.uint8), (24, 1))[..., None].repeat(3, 2))
    run_stack([photo], tmp_path / "stacks", ModelSpec("physics"), StackOptions((-1.0, 0.0, 1.0)), BatchPolicy())
    for options, expected in ((FuseOptions(), []), (FuseOptions((-1.0, 0.0, 1.0), model="physics"), [
            "--evs, --model: for photos only; the 1 stack folder(s) are fused as they are, by Debevec & Malik's merge "
            "of their own frames"])):
        events: list = []
        report = run_fuse([tmp_path / "stacks"], tmp_path / "hdr", options, ModelSpec("physics"),
                          BatchPolicy(overwrite=True), on_event=lambda kind, payload, seen=events: seen.append(
                              (kind, payload)))
        assert report.counts() == {"done": 1}
        assert [payload for kind, payload in events if kind == "warning"] == expected


def test_an_ev_text_is_read_as_the_cli_reads_it_and_non_numbers_are_refused():
    assert StackOptions("-3:3:0.5").evs == CONTINUOUS_EVS and check_evs(" -1, 1") == (-1.0, 1.0)
    for evs, told in ((["a"], "give numbers"), ([None], "give numbers"), ("1:", "cannot read EV list")):
        with pytest.raises(UsageError, match=told):
            StackOptions(evs)


def test_a_profile_may_be_given_as_a_path_and_is_recorded_as_text(tmp_path):
    """StackOptions(response=Path(...)) was an AttributeError ('strip')."""
    from cevr_cli.response import profile_record, table_response

    path = tmp_path / "p.json"
    codes = np.linspace(0.0, 1.0, 256)
    path.write_text(json.dumps(profile_record(table_response("x", codes, codes**2.0), "Canon", "EOS 5D", "t")))
    assert StackOptions(response=path).response == FuseOptions(response=path).response == str(path)
    assert StackOptions(response=Path("srgb")).response == "srgb"  # a name is a name, however given


def test_the_model_given_wins_over_the_options_field():
    """StackOptions().request(load_exposure_model("physics")) recorded model "cevr", the field's default."""
    from cevr_cli.exposure import ModelSpec, PhysicsModel

    assert StackOptions().request(PhysicsModel())["model"] == "physics"
    assert FuseOptions(model="cevr-paper").request(ModelSpec("physics"))["model"] == "physics"
    assert FuseOptions().for_model(ModelSpec("cevr-paper")).frames_per_photo == len(CONTINUOUS_EVS)  # Debevec's
    class OwnModel:  # of the caller's own making: the field stands
        weights_id = "own"

    options = FuseOptions((0.0,))
    assert options.for_model(OwnModel()) is options and options.for_model(ModelSpec("cevr")) is options
    assert options.request(None)["model"] == "cevr" and options.for_model(PhysicsModel()).model == "physics"
    with pytest.raises(UsageError, match=r"^--model cevr-paper \(its merge is Debevec's\)"):
        options.for_model(ModelSpec("cevr-paper"))  # one EV: checked as FuseOptions((0.0,), model=...) is
