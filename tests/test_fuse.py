"""`cevr_cli.fuse`: Debevec fusion of tiny synthetic stacks, HDR and response-curve files."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from cevr_cli.errors import UsageError
from cevr_cli.fuse import fuse_stack, write_crf_csv, write_crf_plot, write_hdr_output
from cevr_cli.io.hdrfile import read_hdr_image

EVS = [-2.0, -1.0, 0.0, 1.0, 2.0]


def _scene() -> np.ndarray:
    ramp = np.exp(np.linspace(np.log(0.01), np.log(3.0), 24 * 32)).reshape(24, 32)
    return np.stack([ramp, 0.8 * ramp, 1.1 * ramp], axis=-1)


def _stack(radiance: np.ndarray) -> list[np.ndarray]:
    return [np.round(255 * np.clip(radiance * 2.0**ev, 0, 1) ** (1 / 2.2)).astype(np.uint8) for ev in EVS]


def test_fuse_stack_recovers_relative_radiance() -> None:
    radiance = _scene()
    result = fuse_stack(_stack(radiance), EVS)
    np.testing.assert_allclose(result.exposure_times, [0.25, 0.5, 1, 2, 4])
    assert result.radiance.shape == radiance.shape and result.radiance.dtype == np.float32
    assert result.response.g.shape == (256, 3)
    ratio = result.radiance / radiance
    rel = np.abs(ratio / np.median(ratio) - 1)
    assert np.median(rel) < 0.01 and rel.max() < 0.08


def test_fuse_stack_rejects_bad_evs() -> None:
    stack = _stack(_scene())
    with pytest.raises(UsageError, match="EVs"):
        fuse_stack(stack, EVS[:-1])
    with pytest.raises(UsageError, match="distinct"):
        fuse_stack(stack, [0.0, 0.0, 1.0, 2.0, 3.0])
    with pytest.raises(UsageError, match="finite"):
        fuse_stack(stack, [0.0, 1.0, 2.0, 3.0, float("nan")])


@pytest.mark.parametrize("evs", [["a", "b", "c", "d", "e"], [[0.0], [1.0, 2.0], 3.0, 4.0, 5.0]])
def test_evs_that_are_not_numbers_are_a_usage_error(evs: list) -> None:
    """Text EVs raised numpy's bare ValueError ("could not convert string to float"), nested ones "inhomogeneous"."""
    with pytest.raises(UsageError, match="^EVs must be numbers"):
        fuse_stack(_stack(_scene()), evs)


@pytest.mark.parametrize("far", [2000.0, -2000.0])
def test_evs_whose_exposure_time_a_float_cannot_hold_are_named(far: float) -> None:
    """EV 2000 raised numpy's 'overflow encountered in exp2' and then 'exposure times must be finite and positive'."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UsageError, match=rf"^EV {far:g}: 2\^EV is beyond what a float holds"):
            fuse_stack(_stack(_scene()), [-2.0, -1.0, 0.0, 1.0, far])


@pytest.mark.parametrize("fmt", ["exr", "hdr"])
def test_write_hdr_output(tmp_path: Path, fmt: str) -> None:
    radiance = _scene().astype(np.float32)
    path = tmp_path / f"out.{fmt}"
    write_hdr_output(path, radiance, fmt, half=False)
    np.testing.assert_allclose(read_hdr_image(path), radiance, rtol=0.01 if fmt == "hdr" else 0)
    with pytest.raises(UsageError, match="format"):
        write_hdr_output(tmp_path / "x.tif", radiance, "tiff")


def test_crf_csv_and_plot(tmp_path: Path) -> None:
    response = fuse_stack(_stack(_scene()), EVS).response
    write_crf_csv(tmp_path / "crf.csv", response)
    table = np.loadtxt(tmp_path / "crf.csv", delimiter=",", skiprows=1)
    assert (tmp_path / "crf.csv").read_text().splitlines()[0] == "code,g_r,g_g,g_b"
    np.testing.assert_array_equal(table[:, 0], np.arange(256))
    np.testing.assert_allclose(table[:, 1:], response.g, atol=1e-6)
    write_crf_plot(tmp_path / "crf.png", response, size=(200, 120))
    plot = cv2.imread(str(tmp_path / "crf.png"))
    assert plot.shape == (120, 200, 3) and (plot < 128).any()


@pytest.mark.parametrize("bits", [8, 16])
def test_the_crf_plot_labels_its_axes_with_names_and_tick_values(tmp_path: Path, bits: int) -> None:
    """Issue 23 item 17: the plot had no axes. Text (dark grey; the curves are coloured, the frame light grey)
    is drawn below the plot (code ticks at both ends and the middle, the name) and left of it (ln exposure)."""
    from cevr_cli.fuse import known_response_curve
    from cevr_cli.response import SRGB

    write_crf_plot(tmp_path / "crf.png", known_response_curve(SRGB, bits), size=(512, 384))
    text = np.all(cv2.imread(str(tmp_path / "crf.png")) < 100, axis=-1)
    below, left = text[384 - 30 :], text[:, :48]
    for x0, x1 in [(40, 70), (230, 290), (460, 512)]:  # "0", "code" / the middle tick, the top code
        assert below[:, x0:x1].any(), (x0, x1)
    for y0, y1 in [(0, 30), (150, 230), (320, 354)]:  # the largest g, "ln exposure", the smallest g
        assert left[y0:y1].any(), (y0, y1)


@pytest.mark.parametrize("fmt", ["exr", "hdr"])
def test_write_hdr_output_to_a_name_that_is_not_utf8(tmp_path: Path, fmt: str) -> None:
    # A photo named b"IMG-\xff.jpg" gives outputs named after it (issue 23: its EXR failed after the whole stack).
    import os

    radiance = _scene().astype(np.float32)
    path = tmp_path / os.fsdecode(b"IMG-\xff") / os.fsdecode(b"IMG-\xff." + fmt.encode())
    path.parent.mkdir()
    write_hdr_output(path, radiance, fmt, half=False)
    np.testing.assert_allclose(read_hdr_image(path), radiance, rtol=0.01 if fmt == "hdr" else 0)


def test_fusing_a_photo_says_what_its_source_warns_about(tmp_path: Path) -> None:
    from cevr_cli.batch import BatchPolicy
    from cevr_cli.exposure import ModelSpec
    from cevr_cli.fuse import run_fuse
    from cevr_cli.stage_options import FuseOptions

    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., :3] = 128
    rgba[..., 3] = 255
    rgba[:4, :, 3] = 0  # a quarter transparent: dropped, and said
    cv2.imwrite(str(tmp_path / "logo.png"), rgba)
    warnings = []
    report = run_fuse([tmp_path / "logo.png"], tmp_path / "out", FuseOptions([-1.0, 0.0, 1.0]),
                      ModelSpec("physics"), BatchPolicy(),
                      on_event=lambda kind, payload: warnings.append(payload) if kind == "warning" else None)
    assert report.counts() == {"done": 1}
    assert any(w.startswith(f"{tmp_path / 'logo.png'}: alpha channel dropped (25.0%") for w in warnings), warnings


def test_a_fuse_batch_takes_its_paths_as_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """str inputs raised AttributeError: 'str' object has no attribute 'is_dir' (README: str or Path)."""
    from cevr_cli.batch import BatchPolicy
    from cevr_cli.exposure import ModelSpec
    from cevr_cli.fuse import run_fuse
    from cevr_cli.stage_options import FuseOptions

    cv2.imwrite(str(tmp_path / "p.png"), _stack(_scene())[2][..., ::-1])
    monkeypatch.chdir(tmp_path)
    report = run_fuse(["p.png"], "out", FuseOptions([-1.0, 0.0, 1.0]), ModelSpec("physics"), BatchPolicy())
    assert report.counts() == {"done": 1} and (tmp_path / "out" / "p" / "p.exr").is_file()


def test_an_hdr_file_is_written_under_its_formats_name(tmp_path: Path) -> None:
    radiance = np.full((4, 4, 3), 2.0, np.float32)
    with pytest.raises(UsageError, match=r"o\.exr: an HDR file needs a \.hdr name"):
        write_hdr_output(tmp_path / "o.exr", radiance, "hdr")  # RGBE under .exr: the EXR reader refused it
    write_hdr_output(tmp_path / "O.EXR", radiance, "exr")
    assert not (tmp_path / "o.exr").exists() or (tmp_path / "O.EXR").exists()


def _measured_photo(tmp_path: Path):
    from cevr_cli.stack import measure
    from cevr_cli.stage_options import StackOptions

    cv2.imwrite(str(tmp_path / "p.png"), _stack(_scene())[2][..., ::-1])
    return measure(tmp_path / "p.png", StackOptions(response="gamma:2.2"))


def test_the_merge_follows_the_model_passed_not_the_options_default(tmp_path: Path) -> None:
    """fuse_photo(paper model, photo, FuseOptions()) took the measured merge: FuseOptions().model is cevr."""
    from cevr_cli.exposure import MeasuringPredictor, PaperModel, PhysicsModel
    from cevr_cli.fuse import MEASURED_METHOD, MERGE_METHOD, fuse, fuse_photo
    from cevr_cli.response import gamma_response
    from cevr_cli.stack import predict_stack
    from cevr_cli.stage_options import FuseOptions

    photo = _measured_photo(tmp_path)
    paper = PaperModel(MeasuringPredictor(PhysicsModel(), gamma_response(2.2)))  # the paper's, on physics frames
    hdr, merge, _, _ = fuse_photo(paper, photo, FuseOptions(EVS))
    assert merge == MERGE_METHOD
    np.testing.assert_array_equal(hdr.radiance, fuse(predict_stack(paper, photo, EVS)[0]).radiance)
    assert fuse_photo(PhysicsModel(), photo, FuseOptions(EVS, model="cevr-paper"))[1] == MEASURED_METHOD
    with pytest.raises(UsageError, match=r"^--model cevr-paper \(its merge is Debevec's\) recovers the response"):
        fuse_photo(paper, photo, FuseOptions((0.0,)))  # one EV: as FuseOptions((0.0,), model="cevr-paper") says


def _stack_folder_and_kept_stack(tmp_path: Path) -> tuple[Path, Path]:
    """A stack folder `cevr stack` wrote (stacks/p) and the stack `fuse --keep-stack` kept (kept/p/stack)."""
    from cevr_cli.batch import BatchPolicy
    from cevr_cli.exposure import ModelSpec
    from cevr_cli.fuse import run_fuse
    from cevr_cli.stack import run_stack
    from cevr_cli.stage_options import FuseOptions, StackOptions

    photo = tmp_path / "p.png"
    cv2.imwrite(str(photo), np.tile(np.arange(0, 256, 4, dtype=np.uint8), (24, 1))[..., None].repeat(3, 2))
    run_stack([photo], tmp_path / "stacks", ModelSpec("physics"), StackOptions((-1.0, 0.0, 1.0)), BatchPolicy())
    run_fuse([photo], tmp_path / "kept", FuseOptions((-1.0, 0.0, 1.0), model="physics", keep_stack=True),
             ModelSpec("physics"), BatchPolicy())
    return tmp_path / "stacks" / "p", tmp_path / "kept" / "p" / "stack"


def test_a_stack_folder_that_cannot_be_listed_fails_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`cevr fuse stacks/a stacks/b` with b unlistable (chmod 000) ended the whole batch with "error:
    stacks/b/stack.json: Permission denied", exit 2: pathlib's is_file raised where it was asked whether b is a stack
    folder. b fails by name, as a folder given to any stage that cannot be listed does; a is fused."""
    from cevr_cli.batch import BatchPolicy
    from cevr_cli.exposure import ModelSpec
    from cevr_cli.fuse import run_fuse
    from cevr_cli.stage_options import FuseOptions
    from tests.conftest import refuse_to_list

    stacked, _ = _stack_folder_and_kept_stack(tmp_path)
    locked = tmp_path / "stacks" / "b"
    locked.mkdir()
    refuse_to_list(monkeypatch, locked)
    report = run_fuse([stacked, locked], tmp_path / "hdr", FuseOptions(), ModelSpec("physics"), BatchPolicy())
    assert report.counts() == {"done": 1, "failed": 1} and report.exit_code == 1
    (failed,) = [item for item in report.items if item.status == "failed"]
    assert failed.message == (f"{locked}: a folder that cannot be listed (Permission denied): the files in it were "
                              "not searched")


def test_a_subfolder_that_cannot_be_listed_in_a_folder_of_stacks_fails_by_name(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """`cevr fuse stacks/` (no -r) with stacks/b unlistable (chmod 000) fused stacks/p and said "1 done, 0 failed",
    exit 0: whether b is a stack folder was asked of its stack.json, which cannot be stat'ed, and b was passed over in
    silence. b fails by name (exit 1), as it does given itself or met by -r."""
    from cevr_cli.batch import BatchPolicy
    from cevr_cli.exposure import ModelSpec
    from cevr_cli.fuse import run_fuse
    from cevr_cli.stage_options import FuseOptions
    from tests.conftest import refuse_to_list

    _stack_folder_and_kept_stack(tmp_path)
    locked = tmp_path / "stacks" / "b"
    locked.mkdir()
    refuse_to_list(monkeypatch, locked)
    report = run_fuse([tmp_path / "stacks"], tmp_path / "hdr", FuseOptions(), ModelSpec("physics"), BatchPolicy())
    assert report.counts() == {"done": 1, "failed": 1} and report.exit_code == 1
    (failed,) = [item for item in report.items if item.status == "failed"]
    assert failed.message == (f"{locked}: a folder that cannot be listed (Permission denied): the files in it were "
                              "not searched")


def test_nothing_to_fuse_names_a_deeper_folder_that_cannot_be_listed(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """`cevr fuse only/` (no -r) with only/day/locked unlistable (chmod 000) and nothing else said "nothing to fuse in
    only (1 in subfolders: add -r to search them)": the folder was counted as a photo. It is named instead."""
    from cevr_cli.batch import BatchPolicy
    from cevr_cli.exposure import ModelSpec
    from cevr_cli.fuse import run_fuse
    from cevr_cli.stage_options import FuseOptions
    from tests.conftest import refuse_to_list

    only, locked = tmp_path / "only", tmp_path / "only" / "day" / "locked"
    locked.mkdir(parents=True)
    refuse_to_list(monkeypatch, locked)
    with pytest.raises(UsageError) as caught:
        run_fuse([only], tmp_path / "hdr", FuseOptions(), ModelSpec("physics"), BatchPolicy())
    assert str(caught.value) == f"nothing to fuse in {only} ({locked} could not be listed)"
    assert not (tmp_path / "hdr").exists()


def test_a_kept_stack_fuses_into_files_named_after_its_photo(tmp_path: Path) -> None:
    """`cevr fuse cevr-hdr/p/stack` gave hdr/p/stack.exr and stack-reinhard.png (the folder was named after the photo,
    its files after the kept stack's folder), and `cevr tonemap hdr/` then named its image p__stack-reinhard.png."""
    from cevr_cli.batch import BatchPolicy
    from cevr_cli.exposure import ModelSpec
    from cevr_cli.fuse import run_fuse
    from cevr_cli.stage_options import FuseOptions

    _, kept = _stack_folder_and_kept_stack(tmp_path)
    report = run_fuse([kept], tmp_path / "hdr", FuseOptions(), ModelSpec("physics"), BatchPolicy())
    assert report.counts() == {"done": 1}
    assert sorted(p.name for p in (tmp_path / "hdr" / "p").iterdir()) == ["fuse.json", "p-reinhard.png", "p.exr"]


def test_a_stack_folders_frames_larger_than_max_megapixels_are_refused_by_their_header(tmp_path: Path) -> None:
    """--max-megapixels bounded photos only: a stack folder's frames (64x24 here) were decoded whatever their size."""
    from cevr_cli.batch import BatchPolicy
    from cevr_cli.exposure import ModelSpec
    from cevr_cli.fuse import run_fuse
    from cevr_cli.stage_options import FuseOptions

    stacked, _ = _stack_folder_and_kept_stack(tmp_path)
    report = run_fuse([stacked], tmp_path / "hdr", FuseOptions(max_megapixels=0.001), ModelSpec("physics"),
                      BatchPolicy())
    assert report.counts() == {"failed": 1}
    assert report.items[0].message.endswith("_ev-1.00.png: too large: 64x24 px, 0.00154 MP (limit 0.001 MP, see "
                                            "--max-megapixels)")
    assert not (tmp_path / "hdr" / "p").exists()
    allowed = run_fuse([stacked], tmp_path / "hdr", FuseOptions(max_megapixels=0.002), ModelSpec("physics"),
                       BatchPolicy())
    assert allowed.counts() == {"done": 1}


@pytest.mark.parametrize("name", ["..png", "...png"])
def test_a_photo_whose_stem_is_only_dots_gets_a_folder_of_its_own(tmp_path: Path, name: str) -> None:
    """'..png' (stem '.') planned OUT/. -- the output folder itself, which --overwrite then replaced with its HDR
    image -- and '...png' (stem '..') OUT/.., the output folder's parent."""
    from cevr_cli.batch import BatchPolicy
    from cevr_cli.exposure import ModelSpec
    from cevr_cli.fuse import run_fuse
    from cevr_cli.stage_options import FuseOptions

    photo = tmp_path / "in" / name
    photo.parent.mkdir()
    cv2.imwrite(str(photo), np.tile(np.arange(0, 256, 4, dtype=np.uint8), (24, 1))[..., None].repeat(3, 2))
    out = tmp_path / "out"
    report = run_fuse([photo], out, FuseOptions((-1.0, 0.0, 1.0), model="physics"), ModelSpec("physics"),
                      BatchPolicy(overwrite=True))
    assert report.counts() == {"done": 1}
    assert [p.name for p in out.iterdir()] == [name] and (out / name / "fuse.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out"]


def test_a_stack_folder_given_as_dot_is_named_after_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`cevr fuse .` inside a stack folder failed (".exr: an EXR file needs a .exr name") and planned -o itself as
    the output folder."""
    from cevr_cli.batch import BatchPolicy
    from cevr_cli.exposure import ModelSpec
    from cevr_cli.fuse import run_fuse
    from cevr_cli.stage_options import FuseOptions

    stacked, _ = _stack_folder_and_kept_stack(tmp_path)
    monkeypatch.chdir(stacked)
    report = run_fuse([Path(".")], tmp_path / "hdr", FuseOptions(), ModelSpec("physics"), BatchPolicy())
    assert report.counts() == {"done": 1}
    assert sorted(p.name for p in (tmp_path / "hdr" / "p").iterdir()) == ["fuse.json", "p-reinhard.png", "p.exr"]


def test_a_stack_folder_is_redone_only_for_options_its_fuse_uses(tmp_path: Path) -> None:
    """A stack folder's fuse.json recorded the photo options (--evs, --model, --response, the weights...), which its
    fuse ignores, with a warning: changing them, or fusing it beside a photo (whose model named weights), redid it
    ("made with other options") to the same files, and its record said -3:3:0.5 where the frames were -1, 0, 1."""
    import json

    from cevr_cli.batch import BatchPolicy
    from cevr_cli.exposure import ModelSpec
    from cevr_cli.fuse import run_fuse
    from cevr_cli.stage_options import FuseOptions

    stacked, _ = _stack_folder_and_kept_stack(tmp_path)
    photo, out = tmp_path / "p.png", tmp_path / "hdr"
    assert run_fuse([stacked], out, FuseOptions(), ModelSpec("physics"), BatchPolicy()).counts() == {"done": 1}
    recorded = json.loads((out / "p" / "fuse.json").read_text())
    assert recorded["evs"] == [-1.0, 0.0, 1.0] and "evs" not in recorded["request"]
    assert "model" not in recorded["request"] and recorded["request"]["tmo"] == "reinhard"
    for ignored in (FuseOptions((-2.0, 2.0)), FuseOptions(model="physics", response="gamma:2.2", merge="debevec")):
        assert run_fuse([stacked], out, ignored, ModelSpec("physics"), BatchPolicy()).counts() == {"skipped": 1}
    beside = run_fuse([stacked, photo], out, FuseOptions((-1.0, 0.0, 1.0), model="physics"), ModelSpec("physics"),
                      BatchPolicy())
    assert [item.status for item in beside.items] == ["skipped", "done"]  # the photo: its own folder, p_
    assert json.loads((out / "p_" / "fuse.json").read_text())["request"]["model"] == "physics"
    changed = run_fuse([stacked], out, FuseOptions(tmo="kimkautz"), ModelSpec("physics"), BatchPolicy())
    assert changed.counts() == {"done": 1} and "other options" in changed.items[0].message
    assert run_fuse([stacked], out, FuseOptions(tmo="kimkautz"), ModelSpec("physics"), BatchPolicy(dry_run=True)
                    ).counts() == {"skipped": 1}


@pytest.mark.parametrize(("model", "merge", "evs", "warned"), [
    ("cevr-paper", "measured", (1.0, 2.0), True),  # the network never fills a clipped pixel: said
    ("cevr-paper", "measured", (-1.0, 0.0, 1.0), False),  # a darker frame: the network fills
    ("cevr-paper", "auto", (1.0, 2.0), False),  # Debevec's merge of the network's frames
    ("physics", "measured", (1.0, 2.0), False),  # no network
])
def test_a_measured_merge_of_the_papers_model_without_a_darker_ev_says_the_network_fills_nothing(
        tmp_path: Path, model: str, merge: str, evs: tuple[float, ...], warned: bool) -> None:
    """--model cevr-paper --merge measured --evs 1,2: clipped pixels got the hue fill only, and nothing said so."""
    from cevr_cli.batch import BatchPolicy
    from cevr_cli.exposure import MeasuringPredictor, PaperModel, PhysicsModel
    from cevr_cli.fuse import run_fuse
    from cevr_cli.response import gamma_response
    from cevr_cli.stage_options import FuseOptions

    cv2.imwrite(str(tmp_path / "p.png"), _stack(_scene())[2][..., ::-1])
    exposure = PaperModel(MeasuringPredictor(PhysicsModel(), gamma_response(2.2))) if model == "cevr-paper" \
        else PhysicsModel()  # the paper's model on physics frames: no weights needed
    warnings: list[str] = []
    report = run_fuse([tmp_path / "p.png"], tmp_path / "out", FuseOptions(evs, merge=merge, response="gamma:2.2"),
                      exposure, BatchPolicy(),
                      on_event=lambda kind, payload: warnings.append(payload) if kind == "warning" else None)
    assert report.counts() == {"done": 1}
    expected = ["--evs 1,2 has no darker frame: the model does not fill clipped highlights in the measured merge (the "
                "hue fill alone does); add negative EVs (e.g. -3:3:0.5)"]
    assert warnings == (expected if warned else []), warnings


@pytest.mark.parametrize("fmt", ["exr", "hdr"])
def test_fuse_json_records_only_what_the_hdr_format_has(tmp_path: Path, fmt: str) -> None:
    """A Radiance file was recorded as half floats with zip compression, which only an EXR has."""
    import json

    from cevr_cli.batch import BatchPolicy
    from cevr_cli.exposure import ModelSpec
    from cevr_cli.fuse import run_fuse
    from cevr_cli.stage_options import FuseOptions

    cv2.imwrite(str(tmp_path / "p.png"), np.full((16, 16, 3), 100, np.uint8))
    report = run_fuse([tmp_path / "p.png"], tmp_path / "out", FuseOptions([-1.0, 0.0, 1.0], hdr_format=fmt),
                      ModelSpec("physics"), BatchPolicy())
    assert report.exit_code == 0
    record = json.loads((tmp_path / "out" / "p" / "fuse.json").read_text())["hdr"]
    if fmt == "exr":
        assert record == {"format": "exr", "half": True, "compression": "zip", "encoding": "scene-linear Rec.709"}
    else:
        assert record["format"] == "hdr" and "RGBE" in record["encoding"] and not {"half", "compression"} & set(record)


@pytest.mark.parametrize("raw_mode", ["linear", "cevr"])
def test_save_crf_of_a_raw_writes_the_response_fuse_json_records(tmp_path: Path, raw_mode: str) -> None:
    """A RAW file in linear mode is fused from its linear data (fuse.json: response ``linear``), but --save-crf
    wrote the sRGB curve its frames are encoded with (g(top) = 1.53, not ln(65535/32896) = 0.69). The expected
    curves are computed here: ln(code / middle code) for linear, the sRGB standard's decoding for --raw-mode cevr."""
    import json

    from cevr_cli.batch import BatchPolicy
    from cevr_cli.exposure import ModelSpec
    from cevr_cli.fuse import run_fuse
    from cevr_cli.stage_options import FuseOptions
    from tests.dng import write_linear_dng

    (tmp_path / "raw").mkdir()
    ramp = np.linspace(0, 4000, 32 * 48).reshape(32, 48, 1) * np.array([1.0, 0.8, 0.6])
    write_linear_dng(tmp_path / "raw" / "IMG_1.dng", ramp.astype(np.uint16), 4000)
    options = FuseOptions([-1.0, 0.0, 1.0], save_crf=True, raw_mode=raw_mode)
    report = run_fuse([tmp_path / "raw"], tmp_path / "hdr", options, ModelSpec("physics"), BatchPolicy())
    assert report.counts() == {"done": 1}, report.to_json()
    manifest = json.loads((tmp_path / "hdr" / "IMG_1" / "fuse.json").read_text())
    assert manifest["response"]["name"] == {"linear": "linear", "cevr": "srgb"}[raw_mode]
    table = np.loadtxt(tmp_path / "hdr" / "IMG_1" / "IMG_1-crf.csv", delimiter=",", skiprows=1)
    codes, middle, top = table[1:, 0], table[len(table) // 2, 0], table[-1, 0]  # code 0: ln 0 has no value
    if raw_mode == "linear":
        expected = np.log(codes / middle)
    else:
        def srgb_light(v: np.ndarray) -> np.ndarray:
            return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)

        expected = np.log(srgb_light(codes / top) / srgb_light(middle / top))
    for channel in (1, 2, 3):
        np.testing.assert_allclose(table[1:, channel], expected, atol=2e-5)


def test_a_photo_found_in_a_subfolder_names_its_files_as_its_stack_folder_does(tmp_path: Path) -> None:
    """`cevr fuse shoot -r` wrote hdr/a__p/p.exr while fusing the stack of the same photo wrote hdr/a__p/a__p.exr, and
    two photos p in a/ and b/ gave two p.exr, which `cp hdr/*/*.exr` onto one folder overwrote one with the other."""
    from cevr_cli.batch import BatchPolicy
    from cevr_cli.exposure import ModelSpec
    from cevr_cli.fuse import run_fuse
    from cevr_cli.stack import run_stack
    from cevr_cli.stage_options import FuseOptions, StackOptions

    shoot = tmp_path / "shoot"
    for sub in ("a", "b"):
        (shoot / sub).mkdir(parents=True)
        cv2.imwrite(str(shoot / sub / "p.png"),
                    np.tile(np.arange(0, 256, 4, dtype=np.uint8), (24, 1))[..., None].repeat(3, 2))
    policy = BatchPolicy(recursive=True)
    options = FuseOptions((-1.0, 0.0, 1.0), model="physics")
    assert run_fuse([shoot], tmp_path / "hdr", options, ModelSpec("physics"), policy).counts() == {"done": 2}
    run_stack([shoot], tmp_path / "stacks", ModelSpec("physics"), StackOptions((-1.0, 0.0, 1.0)), policy)
    assert run_fuse([tmp_path / "stacks"], tmp_path / "hdr2", options, ModelSpec("physics"),
                    BatchPolicy()).counts() == {"done": 2}
    for out in ("hdr", "hdr2"):
        made = sorted(f"{p.parent.name}/{p.name}" for p in (tmp_path / out).glob("*/*") if p.name != "fuse.json")
        assert made == ["a__p/a__p-reinhard.png", "a__p/a__p.exr", "b__p/b__p-reinhard.png", "b__p/b__p.exr"]


def test_a_stack_folder_of_one_frame_fails_saying_how_to_make_one_that_fuses(tmp_path: Path) -> None:
    """`cevr stack photos/ --evs 0` then `cevr fuse` failed each folder with "recovering a response needs at least two
    exposures", naming neither the folder's one EV nor what to do; the photo beside it, fused from itself, is made."""
    from cevr_cli.batch import BatchPolicy
    from cevr_cli.exposure import ModelSpec
    from cevr_cli.fuse import run_fuse
    from cevr_cli.stack import run_stack
    from cevr_cli.stage_options import FuseOptions, StackOptions

    photo = tmp_path / "p.png"
    cv2.imwrite(str(photo), _stack(_scene())[2][..., ::-1])
    run_stack([photo], tmp_path / "stacks", ModelSpec("physics"), StackOptions((0.0,)), BatchPolicy())
    report = run_fuse([tmp_path / "stacks" / "p", photo], tmp_path / "hdr", FuseOptions(EVS, model="physics"),
                      ModelSpec("physics"), BatchPolicy())
    assert report.counts() == {"done": 1, "failed": 1} and report.exit_code == 1
    (failed,) = [item for item in report.items if item.status == "failed"]
    assert failed.message == (f"{tmp_path / 'stacks' / 'p'}: a stack of one frame (EV +0): Debevec & Malik's merge "
                              "needs two or more exposures; stack the photo with several EVs (--evs -3:3:0.5), or "
                              "fuse the photo itself")


def test_a_folder_of_fuse_folders_given_to_fuse_is_sent_to_tonemap(tmp_path: Path) -> None:
    """`cevr fuse cevr-hdr/` said only "nothing to fuse in cevr-hdr"."""
    from cevr_cli.batch import BatchPolicy
    from cevr_cli.exposure import ModelSpec
    from cevr_cli.fuse import run_fuse
    from cevr_cli.stage_options import FuseOptions

    cv2.imwrite(str(tmp_path / "p.png"), _stack(_scene())[2][..., ::-1])
    run_fuse([tmp_path / "p.png"], tmp_path / "hdr", FuseOptions(EVS, model="physics"), ModelSpec("physics"),
             BatchPolicy())
    with pytest.raises(UsageError) as caught:
        run_fuse([tmp_path / "hdr"], tmp_path / "again", FuseOptions(), ModelSpec("physics"), BatchPolicy())
    assert str(caught.value) == f"nothing to fuse in {tmp_path / 'hdr'} (1 cevr fuse output folder: `cevr tonemap` " \
                                "takes it)"
