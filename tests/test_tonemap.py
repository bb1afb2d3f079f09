"""`cevr_cli.tonemap`: HDR files to display images, and `cevr tonemap` batches on the shared engine."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from cevr_cli.batch import BatchPolicy
from cevr_cli.errors import InputError, OutputError, UsageError
from cevr_cli.hdr.tonemap import tonemap_to_display
from cevr_cli.io.hdrfile import write_exr
from cevr_cli.tonemap import TonemapOptions, run_tonemap, tonemap_array_to_file, tonemap_file


def _scene() -> np.ndarray:
    ramp = np.exp(np.linspace(np.log(0.01), np.log(3.0), 24 * 32)).reshape(24, 32)
    return np.stack([ramp, 0.8 * ramp, 1.1 * ramp], axis=-1)


@pytest.mark.parametrize(("suffix", "dtype"), [(".png", np.uint8), (".jpg", np.uint8), (".tif", np.uint16)])
def test_tonemap_file(tmp_path: Path, suffix: str, dtype: type) -> None:
    hdr = _scene().astype(np.float32)
    write_exr(tmp_path / "in.exr", hdr, half=False)
    tonemap_file(tmp_path / "in.exr", tmp_path / f"out{suffix}", TonemapOptions())
    written = cv2.imread(str(tmp_path / f"out{suffix}"), cv2.IMREAD_UNCHANGED)
    assert written.dtype == dtype and written.shape == hdr.shape
    peak = np.iinfo(dtype).max
    expected = np.round(tonemap_to_display(hdr, "reinhard") * peak)
    tolerance = 8 if suffix == ".jpg" else 0  # JPEG is lossy
    assert np.abs(written[..., ::-1].astype(np.float64) - expected).max() <= tolerance


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif"])
def test_the_capture_facts_of_fuses_exr_reach_the_tone_mapped_images_exif(tmp_path: Path, suffix: str) -> None:
    """`cevr fuse --tmo none` then `cevr tonemap` (the README's chain) gave images with no EXIF at all, where `cevr
    fuse --tmo reinhard` carries the photo's camera, date and exposure: the EXR header's facts are carried now."""
    from PIL import Image

    from cevr_cli.io.exif import ExifInfo, read_exif

    facts = ExifInfo(camera_make="Canon", camera_model="EOS R5", lens="RF 24-70mm", exposure_time=0.01, f_number=8.0,
                     iso=200.0, datetime_original="2026:05:01 10:00:00")
    write_exr(tmp_path / "in.exr", _scene().astype(np.float32), attributes=facts.exr_attributes())
    tonemap_file(tmp_path / "in.exr", tmp_path / f"out{suffix}", TonemapOptions())
    back = read_exif(tmp_path / f"out{suffix}")
    assert (back.camera_make, back.camera_model, back.datetime_original) == ("Canon", "EOS R5", "2026:05:01 10:00:00")
    if suffix != ".tif":  # a TIFF carries the exposure in XMP (write_ldr), read back the same
        assert (back.exposure_time, back.f_number, back.iso, back.lens) == (0.01, 8.0, 200.0, "RF 24-70mm")
        with Image.open(tmp_path / f"out{suffix}") as image:
            assert image.getexif()[0x0112] == 1 and image.getexif()[0x0131].startswith("cevr ")
    write_exr(tmp_path / "bare.exr", _scene().astype(np.float32))  # an EXR of no such facts: no EXIF, as before
    tonemap_file(tmp_path / "bare.exr", tmp_path / "bare.png", TonemapOptions())
    with Image.open(tmp_path / "bare.png") as image:
        assert not image.getexif()


def test_an_exrs_header_is_parsed_once_alone_and_once_with_its_pixels(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The size check before any pixel is decoded reads the header alone; the capture facts come from that read
    (they had a third parse of their own). The facts still reach the image (the test above)."""
    import OpenEXR

    from cevr_cli.io.exif import ExifInfo

    write_exr(tmp_path / "in.exr", _scene().astype(np.float32),
              attributes=ExifInfo(camera_make="Canon", exposure_time=0.01).exr_attributes())
    parses = []
    original = OpenEXR.File

    def counted(*args, **kwargs):
        parses.append("header" if kwargs.get("header_only") else "pixels")
        return original(*args, **kwargs)

    monkeypatch.setattr(OpenEXR, "File", counted)
    tonemap_file(tmp_path / "in.exr", tmp_path / "out.png", TonemapOptions())
    assert sorted(parses) == ["header", "pixels"]


def test_tonemap_array_srgb(tmp_path: Path) -> None:
    hdr = _scene().astype(np.float32)
    tonemap_array_to_file(hdr, tmp_path / "s.png", "kimkautz", srgb=True)
    written = cv2.imread(str(tmp_path / "s.png"))[..., ::-1]
    np.testing.assert_array_equal(written, np.round(tonemap_to_display(hdr, "kimkautz", srgb=True) * 255))


def test_tonemap_file_errors(tmp_path: Path) -> None:
    write_exr(tmp_path / "in.exr", _scene().astype(np.float32))
    with pytest.raises(InputError, match="not found"):
        tonemap_file(tmp_path / "missing.exr", tmp_path / "o.png", TonemapOptions())
    with pytest.raises(UsageError, match="png"):
        tonemap_file(tmp_path / "in.exr", tmp_path / "o.bmp", TonemapOptions())
    with pytest.raises(UsageError, match="unknown tone mapper"):
        tonemap_array_to_file(_scene(), tmp_path / "o.png", "nope")
    (tmp_path / "same.png").write_bytes(b"")
    with pytest.raises(OutputError, match="input"):
        tonemap_file(tmp_path / "same.png", tmp_path / "same.png", TonemapOptions())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.exr", "same.png"]
    with pytest.raises(OutputError) as caught:  # was a FileExistsError from the library
        tonemap_array_to_file(_scene(), tmp_path / "same.png" / "o.png", "reinhard")
    assert str(caught.value) == f"{tmp_path / 'same.png' / 'o.png'}: cannot write image ({tmp_path / 'same.png'} is " \
                                "a file, not a folder)"


def test_same_names_in_two_folders_give_two_outputs(tmp_path: Path) -> None:
    for folder, scale in (("a", 1.0), ("b", 4.0)):
        (tmp_path / "in" / folder).mkdir(parents=True)
        write_exr(tmp_path / "in" / folder / "x.exr", (_scene() * scale).astype(np.float32))
    report = run_tonemap([tmp_path / "in"], tmp_path / "out", TonemapOptions(), BatchPolicy(recursive=True))
    assert report.counts() == {"done": 2} and report.exit_code == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a__x-reinhard.png", "b__x-reinhard.png"]


def test_a_folder_that_cannot_be_listed_fails_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`cevr tonemap hdr/a hdr/b` with b unlistable (chmod 000) ended the whole batch with "error: hdr/b: Permission
    denied", exit 2: the look for fuse's folders inside b listed it unguarded. b fails by name; a is tone-mapped."""
    from tests.conftest import refuse_to_list

    for folder in ("a", "b"):
        (tmp_path / "hdr" / folder).mkdir(parents=True)
    write_exr(tmp_path / "hdr" / "a" / "x.exr", _scene().astype(np.float32))
    locked = tmp_path / "hdr" / "b"
    refuse_to_list(monkeypatch, locked)
    report = run_tonemap([tmp_path / "hdr" / "a", locked], tmp_path / "out", TonemapOptions(), BatchPolicy())
    assert report.counts() == {"done": 1, "failed": 1} and report.exit_code == 1
    (failed,) = [item for item in report.items if item.status == "failed"]
    assert failed.message == (f"{locked}: a folder that cannot be listed (Permission denied): the files in it were "
                              "not searched")


def test_a_stack_folder_given_to_tonemap_is_told_which_command_takes_it(tmp_path: Path) -> None:
    """`cevr tonemap cevr-stacks/IMG_1` (the stage skipped) refused the request as "no .exr or .hdr files found in
    cevr-stacks/IMG_1", where `cevr stack` given it says "a cevr stack folder, not a photo (`cevr fuse` takes it)"."""
    from cevr_cli.vocabulary import STACK_MANIFEST

    stack = tmp_path / "stacks" / "p"
    stack.mkdir(parents=True)
    cv2.imwrite(str(stack / "00_ev+0.00.png"), np.full((16, 16, 3), 128, np.uint8))
    (stack / STACK_MANIFEST).write_text('{"cevr_version": "0.1.0"}')
    report = run_tonemap([stack], tmp_path / "out", TonemapOptions(), BatchPolicy())
    assert report.counts() == {"failed": 1} and report.exit_code == 1
    assert report.items[0].message == f"{stack}: a cevr stack folder, not an HDR image (`cevr fuse` takes it)"


def test_a_folder_of_stack_folders_given_to_tonemap_is_sent_to_fuse(tmp_path: Path) -> None:
    """`cevr tonemap cevr-stacks/` said only "no .exr or .hdr files found in cevr-stacks"."""
    from cevr_cli.vocabulary import STACK_MANIFEST

    for name in ("a", "b"):
        (tmp_path / "stacks" / name).mkdir(parents=True)
        (tmp_path / "stacks" / name / STACK_MANIFEST).write_text('{"cevr_version": "0.1.0"}')
    with pytest.raises(UsageError) as caught:
        run_tonemap([tmp_path / "stacks"], tmp_path / "out", TonemapOptions(), BatchPolicy())
    assert str(caught.value) == (f"no .exr or .hdr files found in {tmp_path / 'stacks'} (2 cevr stack folders: "
                                 "`cevr fuse` takes them)")


def test_a_subfolder_that_cannot_be_listed_beside_fuses_folders_fails_by_name(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """`cevr tonemap hdr/` (no -r) with hdr/b unlistable (chmod 000) beside fuse's folder hdr/a: b, which may be one of
    fuse's folders too, was passed over in silence, exit 0. It fails by name (exit 1); a is tone-mapped."""
    from cevr_cli.vocabulary import FUSE_MANIFEST
    from tests.conftest import refuse_to_list

    for folder in ("a", "b"):
        (tmp_path / "hdr" / folder).mkdir(parents=True)
    write_exr(tmp_path / "hdr" / "a" / "x.exr", _scene().astype(np.float32))
    (tmp_path / "hdr" / "a" / FUSE_MANIFEST).write_text('{"cevr_version": "0.1.0"}')
    locked = tmp_path / "hdr" / "b"
    refuse_to_list(monkeypatch, locked)
    report = run_tonemap([tmp_path / "hdr"], tmp_path / "out", TonemapOptions(), BatchPolicy())
    assert report.counts() == {"done": 1, "failed": 1} and report.exit_code == 1
    (failed,) = [item for item in report.items if item.status == "failed"]
    assert failed.message == (f"{locked}: a folder that cannot be listed (Permission denied): the files in it were "
                              "not searched")


def test_a_stack_folder_given_alone_fails_by_name_as_another_stages_folder_does_in_stack(tmp_path: Path) -> None:
    """`cevr tonemap stacks/p` said "error: no .exr or .hdr files found in stacks/p", exit 2, where `cevr stack
    hdr/p` (fuse's folder) and `cevr tonemap stacks/p hdr/x.exr` name the folder as what it is and the command that
    takes it, exit 1."""
    from cevr_cli.vocabulary import STACK_MANIFEST

    stack = tmp_path / "stacks" / "p"
    stack.mkdir(parents=True)
    (stack / STACK_MANIFEST).write_text('{"cevr_version": "0.1.0"}')
    cv2.imwrite(str(stack / "00_ev+1.00.png"), np.zeros((4, 4, 3), np.uint8))
    report = run_tonemap([stack], tmp_path / "out", TonemapOptions(), BatchPolicy())
    assert report.counts() == {"failed": 1} and report.exit_code == 1
    assert report.items[0].message == f"{stack}: a cevr stack folder, not an HDR image (`cevr fuse` takes it)"


def test_dry_run_lists_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    write_exr(tmp_path / "in" / "x.exr", _scene().astype(np.float32))
    report = run_tonemap([tmp_path / "in"], tmp_path / "out", TonemapOptions(tmo="kimkautz"), BatchPolicy(dry_run=True))
    assert report.counts() == {"planned": 1} and report.items[0].output.name == "x-kimkautz.png"
    assert not (tmp_path / "out").exists()


# --- the request each image records: a rerun with other options redoes it -------------------------------

def _batch(tmp_path: Path, **options: object):
    return run_tonemap([tmp_path / "in"], tmp_path / "out", TonemapOptions(**options), BatchPolicy())


@pytest.mark.parametrize("image_format", ["png", "jpg", "tiff"])
@pytest.mark.parametrize("changed", [{"gamma": 1.8}, {"key": 0.09}, {"white": 0.5}, {"srgb": True}])
def test_another_request_redoes_the_image_and_the_same_one_skips_it(tmp_path, image_format, changed):
    (tmp_path / "in").mkdir()
    hdr = _scene().astype(np.float32)
    write_exr(tmp_path / "in" / "x.exr", hdr, half=False)
    first = _batch(tmp_path, image_format=image_format)
    (output,) = (tmp_path / "out").iterdir()
    assert first.counts() == {"done": 1}
    assert _batch(tmp_path, image_format=image_format).counts() == {"skipped": 1}

    again = _batch(tmp_path, image_format=image_format, **changed)
    assert again.counts() == {"done": 1} and "other options" in again.items[0].message
    after = cv2.imread(str(output), cv2.IMREAD_UNCHANGED)[..., ::-1].astype(np.float64)
    peak = np.iinfo(np.uint16 if image_format == "tiff" else np.uint8).max
    old = np.round(tonemap_to_display(hdr, "reinhard") * peak)
    new = np.round(tonemap_to_display(hdr, "reinhard", **changed) * peak)  # type: ignore[arg-type]
    assert np.abs(new - old).max() >= 4  # the change matters
    assert np.abs(after - new).max() <= (8 if image_format == "jpg" else 0)  # JPEG is lossy
    assert np.abs(after - new).mean() < np.abs(after - old).mean()  # the image is the new request's
    assert _batch(tmp_path, image_format=image_format, **changed).counts() == {"skipped": 1}


def test_an_image_recording_no_request_is_left_alone_unless_overwriting(tmp_path):
    """A file at the output's path that this command did not make (fuse's own tone-mapped image, when -o is the fuse
    folder; any other program's) is not replaced unasked: the input fails naming it, and --overwrite replaces it."""
    (tmp_path / "in").mkdir()
    write_exr(tmp_path / "in" / "x.exr", _scene().astype(np.float32))
    (tmp_path / "out").mkdir()
    theirs = tmp_path / "out" / "x-reinhard.png"
    cv2.imwrite(str(theirs), np.zeros((24, 32, 3), np.uint8))
    before = theirs.read_bytes()
    report = _batch(tmp_path)
    assert report.counts() == {"failed": 1} and report.exit_code == 1
    assert report.items[0].message == (f"{theirs}: exists and was not made by this command (it records no request); "
                                       "choose another -o, or --overwrite to replace it")
    assert theirs.read_bytes() == before
    assert run_tonemap([tmp_path / "in"], tmp_path / "out", TonemapOptions(), BatchPolicy(dry_run=True)).counts() == {
        "failed": 1}
    replaced = run_tonemap([tmp_path / "in"], tmp_path / "out", TonemapOptions(), BatchPolicy(overwrite=True))
    assert replaced.counts() == {"done": 1} and cv2.imread(str(theirs)).max() > 0
    assert _batch(tmp_path).counts() == {"skipped": 1}  # now it is this command's


def test_the_request_is_in_the_images_own_comment_field(tmp_path):
    """Read back with readers other than ours: PNG tEXt Comment, JPEG COM, TIFF ImageDescription."""
    import json

    import tifffile
    from PIL import Image

    options = TonemapOptions(gamma=1.9, key=0.2)
    expected = {"tmo": "reinhard", "image_format": "png", "key": 0.2, "white": None, "gamma": 1.9, "srgb": False}
    for suffix, image_format in ((".png", "png"), (".jpg", "jpg"), (".tif", "tiff")):
        src = tmp_path / "in.exr"
        write_exr(src, _scene().astype(np.float32))
        options = TonemapOptions(image_format=image_format, gamma=1.9, key=0.2)
        tonemap_file(src, tmp_path / f"o{suffix}", options)
        if suffix == ".tif":
            with tifffile.TiffFile(tmp_path / "o.tif") as tif:
                comment = tif.pages[0].description
        else:
            with Image.open(tmp_path / f"o{suffix}") as image:
                comment = image.info["Comment"] if suffix == ".png" else image.info["comment"].decode()
        recorded = json.loads(comment)
        assert recorded["cevr_request"] == {**expected, "image_format": image_format}
        assert recorded["made_from"] == {"path": str(src.resolve()), "size": src.stat().st_size,
                                         "mtime_ns": src.stat().st_mtime_ns}


def test_an_image_of_no_positive_light_is_tone_mapped_black_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    write_exr(tmp_path / "in" / "dark.exr", -_scene().astype(np.float32), half=False)  # every pixel below 0
    write_exr(tmp_path / "in" / "lit.exr", _scene().astype(np.float32), half=False)
    events: list[tuple[str, object]] = []
    report = run_tonemap([tmp_path / "in"], tmp_path / "out", TonemapOptions(), BatchPolicy(),
                         on_event=lambda kind, payload: events.append((kind, payload)))
    assert report.counts() == {"done": 2}
    assert [str(p) for kind, p in events if kind == "warning"] == [
        f"{tmp_path / 'in' / 'dark.exr'}: holds no positive light (every pixel is 0 or below): the image is black"]
    assert cv2.imread(str(tmp_path / "out" / "dark-reinhard.png")).max() == 0


def test_non_finite_pixels_are_reported_and_inf_is_not_black(tmp_path: Path) -> None:
    hdr = _scene().astype(np.float32)
    hdr[0, 0] = [np.inf, np.inf, np.inf]
    hdr[5, 7] = [np.nan, 1.0, 1.0]
    (tmp_path / "in").mkdir()
    write_exr(tmp_path / "in" / "scene.exr", hdr, half=False)
    events: list[tuple[str, object]] = []
    report = run_tonemap([tmp_path / "in"], tmp_path / "out", TonemapOptions(), BatchPolicy(),
                         on_event=lambda kind, payload: events.append((kind, payload)))
    assert report.exit_code == 0
    warnings = [str(p) for kind, p in events if kind == "warning"]
    assert len(warnings) == 1 and "scene.exr: 2 pixels held NaN or Inf" in warnings[0]
    written = cv2.imread(str(tmp_path / "out" / "scene-reinhard.png"))[..., ::-1]
    assert written[0, 0].min() == 255  # +Inf is the brightest thing in the picture (it was black)


@pytest.mark.parametrize(("fill", "expected"), [
    (np.inf, "no finite pixel (every pixel held NaN or Inf): the image is black"),
    (np.nan, "no finite pixel (every pixel held NaN or Inf): the image is black"),
    ("inf and negative", "holds no positive light (1 pixel held NaN or Inf, every other is 0 or below: no brightest "
                         "finite value for +Inf to take): the image is black"),
])
def test_an_image_with_no_finite_light_says_so_once_and_is_black(tmp_path: Path, fill: object, expected: str) -> None:
    """An all-+Inf EXR said "+Inf as the brightest finite value" and then "every pixel is 0 or below": with no
    finite value above 0, +Inf reads as 0. One line, as for an all-NaN image; the file is tone-mapped (black)."""
    hdr = np.full((16, 16, 3), -1.0 if fill == "inf and negative" else fill, np.float32)
    hdr[0, 0] = np.inf
    (tmp_path / "in").mkdir()
    write_exr(tmp_path / "in" / "void.exr", hdr, half=False)
    events: list[tuple[str, object]] = []
    report = run_tonemap([tmp_path / "in"], tmp_path / "out", TonemapOptions(), BatchPolicy(),
                         on_event=lambda kind, payload: events.append((kind, payload)))
    assert report.counts() == {"done": 1}
    assert [str(p) for kind, p in events if kind == "warning"] == [f"{tmp_path / 'in' / 'void.exr'}: {expected}"]
    assert cv2.imread(str(tmp_path / "out" / "void-reinhard.png")).max() == 0


def test_tonemap_reads_an_exr_whose_name_is_not_utf8(tmp_path: Path) -> None:
    import os

    (tmp_path / "in").mkdir()
    src = tmp_path / "in" / os.fsdecode(b"sunset-\xff.exr")
    write_exr(src, _scene().astype(np.float32), half=False)
    report = run_tonemap([tmp_path / "in"], tmp_path / "out", TonemapOptions(), BatchPolicy())
    assert report.counts() == {"done": 1}, report.to_json()
    assert os.listdir(os.fsencode(tmp_path / "out")) == [b"sunset-\xff-reinhard.png"]
