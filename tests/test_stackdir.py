"""The stack folder writer: background encoding writes the same files as inline encoding, and failures surface."""

from pathlib import Path

import numpy as np
import pytest

from cevr_cli.errors import OutputError
from cevr_cli.provenance import SourceMetadata
from cevr_cli.stackdir import STACK_MANIFEST, StackFolderWriter, read_stack_folder

EVS = [-2.0, -1.0, 0.0, 1.0, 2.0]


def _images() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.random((20, 30, 3), dtype=np.float32) for _ in EVS]


def _write(folder: Path, encoders: int) -> dict:
    folder.mkdir()
    with StackFolderWriter(folder, EVS, "png", SourceMetadata(), encoders) as writer:
        for ev, image in zip(EVS, _images(), strict=True):
            writer.add(ev, image)
        return writer.finish({"model": "test"}, {"evs": EVS})


@pytest.mark.parametrize("encoders", [1, 3])
def test_background_encoding_writes_what_inline_encoding_writes(tmp_path, encoders):
    inline = _write(tmp_path / "inline", 0)
    background = _write(tmp_path / "background", encoders)
    assert inline["files"] == background["files"] and len(background["files"]) == len(EVS)
    for name in [*inline["files"], "contact.jpg"]:
        assert (tmp_path / "inline" / name).read_bytes() == (tmp_path / "background" / name).read_bytes()
    stack = read_stack_folder(tmp_path / "background")
    assert stack.evs == EVS and len(stack.images) == len(EVS)


def test_a_failed_background_write_surfaces_and_leaves_no_manifest(tmp_path):
    folder = tmp_path / "stack"
    folder.mkdir()
    (folder / "02_ev+0.00.png").mkdir()  # a directory where the EV 0 image must go: its write fails
    with (pytest.raises(OutputError, match="Is a directory"),
          StackFolderWriter(folder, EVS, "png", SourceMetadata(), 2) as writer):
        for ev, image in zip(EVS, _images(), strict=True):
            writer.add(ev, image)
        writer.finish({}, {})
    assert not (folder / STACK_MANIFEST).exists()


@pytest.mark.parametrize(("count", "step", "first", "last"), [(13, 0.5, "00_ev-3.00.png", "12_ev+3.00.png"),
                                                              (101, 0.1, "000_ev-5.00.png", "100_ev+5.00.png"),
                                                              (121, 0.1, "000_ev-6.00.png", "120_ev+6.00.png")])
def test_a_plain_name_sort_follows_ev_order_whatever_the_count(tmp_path, count, step, first, last):
    evs = [round((i - (count - 1) / 2) * step, 2) for i in range(count)]
    folder = tmp_path / "stack"
    folder.mkdir()
    with StackFolderWriter(folder, evs, "png", SourceMetadata()) as writer:
        for ev in evs:
            writer.add(ev, np.zeros((16, 16, 3), np.float32))
        manifest = writer.finish({"model": "test"}, {"evs": evs})
    names = sorted(p.name for p in folder.glob("*_ev*.png"))
    assert names == manifest["files"] and names[0] == first and names[-1] == last
    assert read_stack_folder(folder).evs == evs


def test_each_frame_says_its_exposure_and_the_folder_reads_back_the_photos(tmp_path):
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif.get_ifd(0x8769).update({0x829A: 1 / 100, 0x829D: 5.6})  # ExposureTime, FNumber
    source = SourceMetadata(exif_bytes=exif.tobytes())
    folder = tmp_path / "stack"
    folder.mkdir()
    with StackFolderWriter(folder, EVS, "png", source) as writer:
        for ev, image in zip(EVS, _images(), strict=True):
            writer.add(ev, image)
        manifest = writer.finish({"model": "test"}, {"evs": EVS})
    for ev, name in zip(manifest["evs"], manifest["files"], strict=True):
        frame = Image.open(folder / name).getexif()
        sub = frame.get_ifd(0x8769)
        # a frame s stops brighter is the photo with the shutter open 2^s times as long (what HDR software reads)
        assert float(sub[0x829A]) == pytest.approx(2.0**ev / 100, rel=1e-6), name
        assert float(sub.get(0x9204, 0.0)) == ev and float(sub[0x829D]) == 5.6 and frame[0x010F] == "Canon"
    # the folder's source metadata (carried into what fuse writes from it) is the photo's, not its first frame's
    read_back = Image.Exif()
    read_back.load(read_stack_folder(folder).source.exif_bytes)
    assert float(read_back.get_ifd(0x8769)[0x829A]) == pytest.approx(1 / 100, rel=1e-6)


def test_16_bit_tiff_frames_say_their_exposure_in_xmp(tmp_path):
    import tifffile
    from PIL import Image

    from tests.io.test_exif import xmp_description

    exif = Image.Exif()
    exif.get_ifd(0x8769).update({0x829A: 1 / 100, 0x829D: 5.6})
    folder = tmp_path / "stack"
    folder.mkdir()
    with StackFolderWriter(folder, EVS, "tiff", SourceMetadata(exif_bytes=exif.tobytes())) as writer:
        for ev, image in zip(EVS, _images(), strict=True):
            writer.add(ev, image)
        manifest = writer.finish({"model": "test"}, {"evs": EVS})
    for ev, name in zip(manifest["evs"], manifest["files"], strict=True):
        with tifffile.TiffFile(folder / name) as tif:
            xmp = xmp_description(tif.pages.first.tags[700].value)
        # 1/100 s x 2^EV, by hand
        assert xmp["ExposureTime"] == {-2.0: "1/400", -1.0: "1/200", 0.0: "1/100", 1.0: "1/50", 2.0: "1/25"}[ev]
        assert xmp.get("ExposureBiasValue", "0/1") == f"{int(ev)}/1" and xmp["FNumber"] == "28/5"
    # read back, the folder carries the photo's metadata: neither the first frame's XMP nor an exposure bias
    read_back = Image.Exif()
    read_back.load(read_stack_folder(folder).source.exif_bytes)
    assert 700 not in read_back and 0x9204 not in read_back.get_ifd(0x8769)


def test_a_manifest_without_its_ev_list_says_so(tmp_path):
    import json

    from cevr_cli.errors import InputError
    from cevr_cli.stackdir import read_stack_manifest

    (tmp_path / "stack.json").write_text(json.dumps({"files": ["00_ev-1.00.png"]}))
    with pytest.raises(InputError) as caught:
        read_stack_manifest(tmp_path)
    assert str(caught.value) == f"{tmp_path / 'stack.json'}: not a complete stack manifest (it has no 'evs' list)"


@pytest.mark.parametrize(("text", "told"), [
    ("null", "a JSON object expected, found null"),
    ("[1, 2]", "a JSON object expected, found a list"),
    ('{"evs": 5, "files": ["a.png"]}', "its 'evs' must be a list of numbers"),
    ('{"evs": ["x"], "files": ["a.png"]}', "its 'evs' must be a list of numbers"),
    ('{"evs": [1], "files": 7}', "its 'files' must list the frames' names"),
])
def test_a_manifest_of_the_wrong_shape_says_what_in_the_users_words(tmp_path, text, told):
    """A damaged stack.json said Python's words ("'NoneType' object is not subscriptable", "'int' object is not
    iterable")."""
    from cevr_cli.errors import InputError
    from cevr_cli.stackdir import read_stack_manifest

    (tmp_path / "stack.json").write_text(text)
    with pytest.raises(InputError) as caught:
        read_stack_manifest(tmp_path)
    assert str(caught.value) == f"{tmp_path / 'stack.json'}: not a complete stack manifest ({told})"


def test_stack_folders_take_text_paths(tmp_path):
    import numpy as np

    from cevr_cli.provenance import SourceMetadata
    from cevr_cli.stackdir import read_stack_folder, save_stack_folder
    from cevr_cli.values import ExposureStack

    images = [np.full((16, 16, 3), v, np.uint8) for v in (40, 200)]
    save_stack_folder(str(tmp_path / "s"), ExposureStack(images, [-1.0, 1.0], 8, SourceMetadata()), {}, {})
    back = read_stack_folder(str(tmp_path / "s"))  # str / str was a TypeError
    assert back.evs == [-1.0, 1.0] and [int(im[0, 0, 0]) for im in back.images] == [40, 200]


def test_a_16_bit_tiff_folder_gives_what_fuse_writes_the_photos_exposure(tmp_path):
    """A 16-bit TIFF frame says its exposure in XMP only, which the folder's outputs do not carry: the tone-mapped
    PNG `cevr fuse` made from a TIFF stack (a RAW's, `--format tiff`) had no ExposureTime, FNumber, ISO, date or
    lens, where fused from the photo, or from a PNG stack, it has them."""
    from PIL import Image

    from cevr_cli.io.exif import ExifInfo

    info = ExifInfo(camera_make="Canon", exposure_time=1 / 100, f_number=5.6, iso=400,
                    datetime_original="2024:05:01 10:11:12", lens="EF 50mm")
    folder = tmp_path / "stack"
    folder.mkdir()
    with StackFolderWriter(folder, EVS, "tiff", SourceMetadata(exif=info, exif_bytes=info.rendered_exif())) as writer:
        for ev, image in zip(EVS, _images(), strict=True):
            writer.add(ev, image)
        writer.finish({"model": "test", "exif": info.to_json()}, {"evs": EVS})  # as `cevr stack` records it
    read_back = Image.Exif()
    read_back.load(read_stack_folder(folder).source.exif_bytes)
    sub = read_back.get_ifd(0x8769)
    assert float(sub[0x829A]) == pytest.approx(1 / 100) and float(sub[0x829D]) == 5.6 and sub[0x8827] == 400
    assert sub[0x9003] == "2024:05:01 10:11:12" and sub[0xA434] == "EF 50mm" and 0x9204 not in sub
    assert read_back[0x010F] == "Canon" and 700 not in read_back


@pytest.mark.parametrize(("edit", "named"), [
    ({"files": [], "evs": []}, "'files'"), ({"files": [1, 2, 3, 4, 5]}, "'files'"), ({"source": 5}, "'source'"),
    ({"source_size": 5}, "'source_size'"), ({"exif": "x"}, "'exif'"), ({"exif": [1]}, "'exif'"),
    ({"exif": {"iso": [1]}}, "'exif.iso'"), ({"exif": {"exposure_time": "abc"}}, "'exif.exposure_time'"),
    ({"dng_opcodes_not_applied": 5}, "'dng_opcodes_not_applied'"), ({"dng_opcodes_not_applied": [7]}, "opcodes'"),
    ({"files": ["../t/00_ev-2.00.png", "a", "b", "c", "d"]}, "outside its folder"),
    ({"files": ["/etc/x.png", "a", "b", "c", "d"]}, "outside its folder"),
    ({"evs": [-1.0, 1.0]}, "different number of EVs and files"), ({"files": ["", "a", "b", "c", "d"]}, "'files'"),
    ({"files": ["..", "a", "b", "c", "d"]}, "outside its folder"), ({"files": [".", "a", "b", "c", "d"]}, "outside"),
    ({"source_size": [30, 20, 1]}, "'source_size'"), ({"source_size": [True, True]}, "'source_size'"),
    ({"source_size": [0, 20]}, "'source_size'"), ({"exif": {"iso": True}}, "'exif.iso'"),
    ({"exif": {"camera_make": 5}}, "'exif.camera_make'")])
def test_a_hand_edited_manifest_of_the_wrong_types_fails_naming_it(tmp_path, edit, named):
    """Types no `cevr stack` writes failed deep inside fuse as an unexpected TypeError/AttributeError/IndexError."""
    import json

    from cevr_cli.errors import InputError

    _write(tmp_path / "s", 0)
    manifest = json.loads((tmp_path / "s" / STACK_MANIFEST).read_text())
    (tmp_path / "s" / STACK_MANIFEST).write_text(json.dumps({**manifest, **edit}))
    with pytest.raises(InputError) as caught:
        read_stack_folder(tmp_path / "s")
    assert caught.value.path == str(tmp_path / "s" / STACK_MANIFEST) and named in caught.value.reason


def test_a_manifest_of_the_types_stack_writes_reads(tmp_path):
    import json

    _write(tmp_path / "s", 0)
    manifest = json.loads((tmp_path / "s" / STACK_MANIFEST).read_text())
    exif = {"camera_make": "A", "exposure_time": 0.01, "f_number": 2.8, "iso": 100, "orientation": 1, "ev100": 9.9}
    (tmp_path / "s" / STACK_MANIFEST).write_text(json.dumps({**manifest, "source": "x.jpg", "source_size": [30, 20],
                                                             "exif": exif}))
    assert read_stack_folder(tmp_path / "s").source.exif.iso == 100


def test_a_frame_replaced_by_a_grey_image_is_named_as_not_rgb(tmp_path):
    """It failed as 'missing or unreadable stack image', which it is not: the file is there and reads."""
    import cv2

    from cevr_cli.errors import InputError

    manifest = _write(tmp_path / "s", 0)
    frame = tmp_path / "s" / manifest["files"][1]
    cv2.imwrite(str(frame), np.zeros((20, 30), np.uint8))
    with pytest.raises(InputError) as caught:
        read_stack_folder(tmp_path / "s")
    assert caught.value.path == str(frame) and caught.value.reason.startswith("stack image is not RGB (1 channel(s))")


@pytest.mark.parametrize("damage", ["unreadable", "empty"])
def test_a_frame_that_cannot_be_read_is_named_in_one_line_with_its_reason(tmp_path, monkeypatch, damage):
    """A frame without read permission failed its stack as "stacks/x: PermissionError: [Errno 13] Permission denied:
    'stacks/x/00_ev-1.00.png'" (an exception escaped from OpenCV's reader), an empty one as "missing or unreadable".
    Now as a photo's: the frame named, "permission denied", "empty file (0 bytes)". (Tests may run as root, whom no
    permission stops: the refusal is the file system's, told as it would tell it.)"""
    import builtins
    import errno

    from cevr_cli.errors import InputError

    manifest = _write(tmp_path / "s", 0)
    frame = tmp_path / "s" / manifest["files"][0]
    if damage == "empty":
        frame.write_bytes(b"")
    else:
        real_open = builtins.open

        def refusing_open(file, *args, **kwargs):
            if Path(file) == frame:
                raise PermissionError(errno.EACCES, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", refusing_open)
    with pytest.raises(InputError) as caught:
        read_stack_folder(tmp_path / "s")
    assert caught.value.path == str(frame)
    assert caught.value.reason == ("permission denied" if damage == "unreadable" else "empty file (0 bytes)")


@pytest.mark.parametrize(("a", "b"), [(0.05, 0.1), (-2.75, -2.8), (-0.25, -0.2)])
def test_the_contact_sheet_labels_each_ev_as_its_frame_is_named(a, b):
    """Frames are named to the hundredth of a stop; labels to the tenth gave 0.05 and 0.1 (a 0.05-stop stack) one
    label, and -2.75 (a 0.25-stop stack) the label of -2.8."""
    from cevr_cli.stackdir import contact_sheet

    thumb = np.zeros((40, 120, 3), np.uint8)
    sheet = contact_sheet([(a, thumb), (b, thumb)], columns=1)
    row = (sheet.shape[0] - 6) // 2  # two rows of equal height below a 6 px margin
    first, second = sheet[6 : 6 + row], sheet[6 + row : 6 + 2 * row]
    assert first.shape == second.shape and not np.array_equal(first, second)  # equal thumbnails: the labels differ


def test_frame_names_are_as_wide_as_the_largest_index_and_keys_are_hundredths():
    from cevr_cli.stackdir import ev_filename, frame_key

    assert ev_filename(0, -3.0, ".png", 100) == "00_ev-3.00.png"  # indices 0..99: two digits
    assert ev_filename(99, 2.5, ".tif", 100) == "99_ev+2.50.tif"
    assert ev_filename(100, 3.0, ".png", 101) == "100_ev+3.00.png"
    assert [frame_key(ev) for ev in (-2.0, 0.5, 0.125, -0.004)] == ["-2.00", "+0.50", "+0.12", "+0.00"]


def test_frames_are_numbered_in_ev_order_whatever_order_the_evs_are_given(tmp_path):
    folder = tmp_path / "s"
    folder.mkdir()
    with StackFolderWriter(folder, EVS[::-1], "png", SourceMetadata()) as writer:
        for ev, image in zip(EVS, _images(), strict=True):
            writer.add(ev, image)
        manifest = writer.finish({}, {})
    assert manifest["files"] == ["00_ev-2.00.png", "01_ev-1.00.png", "02_ev+0.00.png", "03_ev+1.00.png",
                                 "04_ev+2.00.png"]


def test_at_most_encoders_plus_one_images_wait_in_memory(tmp_path, monkeypatch):
    """Each write takes 100 ms while the caller adds at once: with one encoder, ``add`` must wait once two images
    are queued (the one being written and the next), not queue all five."""
    import threading
    import time

    done = []
    lock = threading.Lock()

    def slow_write(self, ev, image):
        time.sleep(0.1)
        with lock:
            done.append(ev)

    monkeypatch.setattr(StackFolderWriter, "_write", slow_write)
    waiting = []
    with StackFolderWriter(tmp_path, EVS, "png", SourceMetadata(), 1) as writer:
        for added, (ev, image) in enumerate(zip(EVS, _images(), strict=True), start=1):
            writer.add(ev, image)
            with lock:
                waiting.append(added - len(done))
    assert max(waiting) <= 2


def test_the_manifest_records_the_format_and_every_files_size(tmp_path):
    import os

    from cevr_cli.batch import SIZES_KEY

    folder = tmp_path / "s"
    folder.mkdir()
    with StackFolderWriter(folder, EVS, "tiff", SourceMetadata()) as writer:
        for ev, image in zip(EVS, _images(), strict=True):
            writer.add(ev, image)
        manifest = writer.finish({}, {})
    assert manifest["format"] == {"container": "tiff", "bit_depth": 16}
    assert manifest[SIZES_KEY] == {name: os.path.getsize(folder / name) for name in [*manifest["files"], "contact.jpg"]}


@pytest.mark.parametrize(("shape", "thumb"), [((20, 30), (20, 30)), ((480, 960), (120, 240)), ((960, 480), (240, 120)),
                                              ((1, 1000), (1, 240))])
def test_a_thumbnail_fits_240_px_keeps_its_aspect_and_is_never_enlarged(shape, thumb):
    from cevr_cli.stackdir import _thumbnail

    assert _thumbnail(np.zeros((*shape, 3), np.uint8)).shape == (*thumb, 3)


def test_a_16_bit_thumbnail_keeps_the_high_byte():
    from cevr_cli.stackdir import _thumbnail

    image = np.array([[[0, 32768, 65535]]], np.uint16)
    assert _thumbnail(image).tolist() == [[[0, 128, 255]]]


def test_a_contact_sheet_of_fewer_frames_than_columns_is_as_wide_as_they_are():
    from cevr_cli.stackdir import contact_sheet

    sheet = contact_sheet([(-1.0, np.zeros((40, 60, 3), np.uint8)), (1.0, np.zeros((40, 60, 3), np.uint8))])
    assert sheet.shape == (6 + 40 + 22 + 6, 6 + 2 * (60 + 6), 3)  # one row, two columns, 6 px pads, 22 px labels


def test_a_folder_without_its_manifest_is_not_a_stack_folder(tmp_path):
    from cevr_cli.stackdir import is_stack_folder

    _write(tmp_path / "s", 0)
    assert is_stack_folder(tmp_path / "s")
    (tmp_path / "s" / STACK_MANIFEST).unlink()
    assert not is_stack_folder(tmp_path / "s") and not is_stack_folder(tmp_path / "missing")


def test_frames_read_back_in_rgb_order_with_the_recorded_source(tmp_path):
    """A red frame is red when read (OpenCV reads BGR); the manifest's source, size, colour space and opcodes not
    applied come back as the photo's metadata."""
    import json

    from cevr_cli.io.colour import ColourSpace
    from cevr_cli.io.dng_opcodes import Opcode
    from cevr_cli.stackdir import save_stack_folder
    from cevr_cli.values import ExposureStack

    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 200
    recorded = {"source": "photos/IMG_1.dng", "source_size": [16, 16],
                "colour": {"source_colour_space": "Display P3", "colour_conversion": "converted"},
                "dng_opcodes_not_applied": ["WarpRectilinear (OpcodeList3)", "no opcode"]}
    save_stack_folder(tmp_path / "s", ExposureStack([red, red], [-1.0, 1.0], 8, SourceMetadata()), recorded, {})
    stack = read_stack_folder(tmp_path / "s")
    assert stack.images[0][0, 0].tolist() == [200, 0, 0]
    assert stack.source.path == Path("photos/IMG_1.dng") and stack.source.size == (16, 16)
    assert stack.source.colour == ColourSpace("Display P3", "converted")
    assert stack.source.not_applied == (Opcode(1, 3, False),)
    manifest = json.loads((tmp_path / "s" / STACK_MANIFEST).read_text())
    assert manifest["source"] == "photos/IMG_1.dng"


@pytest.mark.parametrize("replacement", ["16-bit", "smaller"])
def test_a_frame_of_another_bit_depth_or_size_is_refused(tmp_path, replacement):
    import cv2

    from cevr_cli.errors import InputError

    manifest = _write(tmp_path / "s", 0)
    frame = np.zeros((20, 30, 3), np.uint16) if replacement == "16-bit" else np.zeros((10, 30, 3), np.uint8)
    cv2.imwrite(str(tmp_path / "s" / manifest["files"][2]), frame)
    with pytest.raises(InputError, match="stack images differ in size or bit depth"):
        read_stack_folder(tmp_path / "s")


def test_a_frame_over_the_size_limit_is_refused_from_its_header(tmp_path):
    from cevr_cli.errors import InputError

    manifest = _write(tmp_path / "s", 0)
    with pytest.raises(InputError, match=r"too large: 30x20 px, 0\.0006 MP \(limit 0\.0004 MP") as caught:
        read_stack_folder(tmp_path / "s", max_megapixels=0.0004)
    assert caught.value.path == str(tmp_path / "s" / manifest["files"][0])


def _png_header(path: Path, width: int, height: int) -> None:
    """A PNG of only its signature and header chunk: what Pillow reads to know an image's size."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IEND", b""))


@pytest.mark.parametrize(("limit", "told"), [(0.0004, "too large: refused as a decompression bomb"),
                                             (1000.0, "missing or unreadable stack image")])
def test_pillows_bomb_guard_refuses_no_frame_the_limit_allows(tmp_path, monkeypatch, limit, told):
    """A frame whose header says 15000x12000 (180 MP, over twice Pillow's own 89 MP guard): under a small limit
    Pillow's refusal is told as a bomb, by name; under a 1000 MP limit the guard is raised to it, so the header
    passes and the frame (a header without pixels) fails only as unreadable."""
    from PIL import Image

    from cevr_cli.errors import InputError

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 89_478_485)  # Pillow's default: the guard is process-wide
    manifest = _write(tmp_path / "s", 0)
    _png_header(tmp_path / "s" / manifest["files"][0], 15000, 12000)
    with pytest.raises(InputError, match=told) as caught:
        read_stack_folder(tmp_path / "s", max_megapixels=limit)
    assert caught.value.path == str(tmp_path / "s" / manifest["files"][0])


def test_a_bad_size_limit_is_a_usage_error(tmp_path):
    from cevr_cli.errors import UsageError

    _write(tmp_path / "s", 0)
    with pytest.raises(UsageError):
        read_stack_folder(tmp_path / "s", max_megapixels=0)
