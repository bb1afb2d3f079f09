"""Reading and writing photos: bit depths, EXIF orientation, metadata, and each kind of bad file."""

import logging
import os
import re
import struct
import warnings
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from cevr_cli.errors import InputError, OutputError, UsageError
from cevr_cli.io.exif import ExifInfo, read_exif
from cevr_cli.io.images import read_photo, write_ldr


def asymmetric(h=20, w=30):
    img = np.zeros((h, w, 3), np.uint8)
    img[:5, :10] = (255, 0, 0)  # red block at top-left marks orientation
    img[..., 2] = np.arange(w, dtype=np.uint8)[None, :] * 8
    return img


def test_8_and_16_bit_values_are_preserved(tmp_path):
    rgb16 = (np.random.default_rng(0).random((18, 22, 3)) * 65535).astype(np.uint16)
    for name in ("p.png", "p.tif"):
        cv2.imwrite(str(tmp_path / name), rgb16[..., ::-1])
        photo = read_photo(tmp_path / name)
        assert photo.bit_depth == 16
        np.testing.assert_array_equal(np.round(photo.rgb * 65535).astype(np.uint16), rgb16)
    rgb8 = asymmetric()
    Image.fromarray(rgb8).save(tmp_path / "p8.png")
    photo = read_photo(tmp_path / "p8.png")
    assert photo.bit_depth == 8 and photo.rgb.dtype == np.float32
    np.testing.assert_array_equal(np.round(photo.rgb * 255).astype(np.uint8), rgb8)


def zlib_flevel(header: bytes) -> int:
    """FLEVEL of a zlib stream's header (RFC 1950): 0 = levels 0-1, 1 = levels 2-5, 2 = 6 (the default), 3 = 7-9."""
    return header[1] >> 6


def png_zlib_flevel(path) -> int:
    data = path.read_bytes()
    at = data.index(b"IDAT") + 4
    return zlib_flevel(data[at:at + 2])


@pytest.mark.parametrize("bits, suffix", [(8, ".png"), (16, ".png"), (16, ".tif"), (8, ".tif")])
def test_frames_are_written_at_the_chosen_zlib_levels_and_read_back_exactly(tmp_path, bits, suffix):
    import tifffile

    rgb = (np.random.default_rng(1).random((40, 50, 3)) * (2**bits - 1)).round().astype(np.uint8 if bits == 8
                                                                                          else np.uint16)
    path = tmp_path / f"frame{suffix}"
    write_ldr(path, rgb, bit_depth=bits)
    np.testing.assert_array_equal(np.round(read_photo(path).rgb * (2**bits - 1)).astype(rgb.dtype), rgb)
    if suffix == ".png":
        assert png_zlib_flevel(path) == 1  # PNG_ZLIB_LEVEL 4
    else:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            assert page.compression == tifffile.COMPRESSION.ADOBE_DEFLATE
            assert page.predictor == tifffile.PREDICTOR.HORIZONTAL
            tif.filehandle.seek(page.dataoffsets[0])
            assert zlib_flevel(tif.filehandle.read(2)) == 0  # TIFF_ZLIB_LEVEL 1


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(tmp_path, orientation):
    stored = asymmetric()
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(tmp_path / "o.png", exif=exif.tobytes())
    upright = {
        1: stored, 2: stored[:, ::-1], 3: stored[::-1, ::-1], 4: stored[::-1],
        5: stored.transpose(1, 0, 2), 6: np.rot90(stored, -1), 7: stored.transpose(1, 0, 2)[::-1, ::-1],
        8: np.rot90(stored, 1),
    }[orientation]
    # Pillow's own exif_transpose is the independent reference.
    from PIL import ImageOps

    reference = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "o.png")).convert("RGB"))
    np.testing.assert_array_equal(reference, upright)
    got = np.round(read_photo(tmp_path / "o.png").rgb * 255).astype(np.uint8)
    np.testing.assert_array_equal(got, reference)


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_tiffs_orientation_tag_is_applied_once(tmp_path, orientation, bits):
    """TIFF keeps orientation in IFD0's tag 274, which OpenCV 5's TIFF decoder applies itself: turned twice, 2-8
    came out wrong. Pillow's exif_transpose of the 8-bit file is the reference, for the 16-bit one too."""
    import tifffile
    from PIL import ImageOps

    stored = asymmetric()
    codes = stored if bits == 8 else stored.astype(np.uint16) * 257
    tifffile.imwrite(tmp_path / "o.tif", codes, photometric="rgb", extratags=[(274, "H", 1, orientation, True)])
    tifffile.imwrite(tmp_path / "o8.tif", stored, photometric="rgb", extratags=[(274, "H", 1, orientation, True)])
    reference = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "o8.tif")).convert("RGB"))
    assert reference.shape == ((30, 20, 3) if orientation >= 5 else (20, 30, 3))
    photo = read_photo(tmp_path / "o.tif")
    np.testing.assert_array_equal(np.round(photo.rgb * 255).astype(np.uint8), reference)
    assert photo.exif is not None and photo.exif.orientation == orientation


@pytest.mark.parametrize(("orientation", "compression", "alpha"), [(1, None, False), (6, "zlib", False),
                                                                   (3, "zlib", True)])
def test_a_16_bit_tiff_with_separate_colour_planes_is_read_as_stored(tmp_path, orientation, compression, alpha):
    """Photoshop's "Per Channel" pixel order: OpenCV decoded the red plane as if interleaved and the rest black."""
    import tifffile

    rng = np.random.default_rng(5)
    codes = rng.integers(0, 65536, (20, 30, 4 if alpha else 3), dtype=np.uint16)
    if alpha:
        codes[..., 3] = 65535
    tifffile.imwrite(tmp_path / "p.tif", np.moveaxis(codes, -1, 0), photometric="rgb", planarconfig="separate",
                     compression=compression, extrasamples=[2] if alpha else None,
                     extratags=[(274, "H", 1, orientation, True)])
    upright = {1: codes, 6: np.rot90(codes, -1), 3: codes[::-1, ::-1]}[orientation][..., :3]
    photo = read_photo(tmp_path / "p.tif")
    assert photo.bit_depth == 16
    np.testing.assert_array_equal(np.round(photo.rgb * 65535).astype(np.uint16), upright)


@pytest.mark.parametrize("bits", [8, 16])
def test_a_min_is_white_grey_tiff_is_read_as_light_not_as_a_negative(tmp_path, bits):
    """PhotometricInterpretation 0 (MinIsWhite: code 0 is white): OpenCV 5.1 inverts the 8-bit codes, not the
    16-bit ones, which came out a negative."""
    import tifffile

    top = 255 if bits == 8 else 65535
    stored = (np.arange(20 * 30).reshape(20, 30) * (top // 600)).astype(np.uint8 if bits == 8 else np.uint16)
    tifffile.imwrite(tmp_path / "g.tif", stored, photometric="miniswhite")
    got = np.round(read_photo(tmp_path / "g.tif").rgb * top).astype(np.int64)
    np.testing.assert_array_equal(got, np.repeat((top - stored.astype(np.int64))[..., None], 3, axis=2))


def test_a_tiff_of_a_readable_sample_type_in_a_layout_pillow_does_not_open_says_its_layout(tmp_path):
    """16-bit grey with alpha: the message was 'unsupported sample type uint16 (8- or 16-bit integer images only)'."""
    import tifffile

    tifffile.imwrite(tmp_path / "ga.tif", np.zeros((20, 30, 2), np.uint16), photometric="minisblack", extrasamples=[2])
    with pytest.raises(InputError) as info:
        read_photo(tmp_path / "ga.tif")
    assert "unsupported sample type" not in str(info.value)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'ga.tif'}: a 16-bit TIFF") and "2 samples per pixel" in message


def test_a_16_bit_tiff_with_separate_planes_that_cannot_be_decoded_says_so(tmp_path):
    import tifffile

    tifffile.imwrite(tmp_path / "p.tif", np.zeros((3, 20, 30), np.uint16), photometric="rgb", planarconfig="separate")
    with tifffile.TiffFile(tmp_path / "p.tif") as tif:
        at = tif.pages.first.tags[259].valueoffset
    data = bytearray((tmp_path / "p.tif").read_bytes())
    data[at:at + 2] = struct.pack("<H", 5)  # LZW, which tifffile decodes only with imagecodecs
    (tmp_path / "p.tif").write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"p\.tif.*separate (colour )?planes"):
        read_photo(tmp_path / "p.tif")


_TILED_LAYOUTS = {  # name: (samples as stored, tifffile's keywords)
    "rgb": ((20, 30, 3), {"photometric": "rgb"}),
    "grey": ((20, 30), {"photometric": "minisblack"}),
    "min-is-white": ((20, 30), {"photometric": "miniswhite"}),
    "palette": ((20, 30), {"photometric": "palette"}),
    "cmyk": ((20, 30, 4), {"photometric": "separated"}),
    "associated alpha": ((20, 30, 4), {"photometric": "rgb", "extrasamples": ["assocalpha"]}),
    "separate planes": ((3, 20, 30), {"photometric": "rgb", "planarconfig": "separate"}),
}


@pytest.mark.parametrize("orientation", [1, 6])
@pytest.mark.parametrize("layout", list(_TILED_LAYOUTS))
def test_an_uncompressed_tiled_8_bit_tiff_reads_as_the_same_image_saved_untiled(tmp_path, layout, orientation):
    """tifffile's tile=(16, 16) (768-byte RGB tiles): OpenCV's libtiff, reading from memory, refused each tile
    whose size is no multiple of 1024 bytes, and the valid file failed as "truncated or corrupt image data". The
    untiled file (decoded by OpenCV) is the reference, and for RGB and grey the written codes themselves."""
    import tifffile

    shape, keywords = _TILED_LAYOUTS[layout]
    rng = np.random.default_rng(11)
    stored = rng.integers(0, 256, shape, dtype=np.uint8)
    if layout == "palette":
        keywords = {**keywords, "colormap": rng.integers(0, 65536, (3, 256), dtype=np.uint16)}
    if layout == "associated alpha":
        stored[..., :3] = (stored[..., :3].astype(np.uint16) * stored[..., 3:] // 255).astype(np.uint8)
    turned = [(274, "H", 1, orientation, True)]
    tifffile.imwrite(tmp_path / "tiled.tif", stored, tile=(16, 16), extratags=turned, **keywords)
    tifffile.imwrite(tmp_path / "strips.tif", stored, extratags=turned, **keywords)
    with tifffile.TiffFile(tmp_path / "tiled.tif") as tif:
        assert tif.pages.first.is_tiled and tif.pages.first.compression == 1
    got = np.round(read_photo(tmp_path / "tiled.tif").rgb * 255).astype(np.uint8)
    reference = np.round(read_photo(tmp_path / "strips.tif").rgb * 255).astype(np.uint8)
    np.testing.assert_array_equal(got, reference)
    light = {"rgb": stored, "grey": np.repeat(stored[..., None], 3, axis=2),
             "separate planes": np.moveaxis(stored, 0, -1)}.get(layout)
    if light is not None:
        np.testing.assert_array_equal(got, light if orientation == 1 else np.rot90(light, -1))


@pytest.mark.parametrize("compression", [None, "zlib"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_turned_tiled_8_bit_tiff_comes_out_upright(tmp_path, orientation, compression):
    """OpenCV 5 turns a tiled TIFF tile by tile: Orientation 2, 3, 6 and 7 came out scrambled (up to 252 codes off),
    ZIP-compressed too. Pillow's exif_transpose of the same pixels untiled is the reference."""
    import tifffile
    from PIL import ImageOps

    stored = np.random.default_rng(12).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    turned = [(274, "H", 1, orientation, True)]
    tifffile.imwrite(tmp_path / "t.tif", stored, photometric="rgb", tile=(32, 32), compression=compression,
                     extratags=turned)
    tifffile.imwrite(tmp_path / "s.tif", stored, photometric="rgb", extratags=turned)
    reference = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "s.tif")).convert("RGB"))
    np.testing.assert_array_equal(np.round(read_photo(tmp_path / "t.tif").rgb * 255).astype(np.uint8), reference)


def test_an_uncompressed_tiled_tiff_opencv_refuses_says_why_and_what_to_do(tmp_path):
    """8-bit CIELab in 16x16 uncompressed tiles, a model left to OpenCV (libtiff converts it to RGB), which
    refuses the tiles: the message was "truncated or corrupt image data" for a valid file."""
    import tifffile

    tifffile.imwrite(tmp_path / "lab.tif", np.zeros((20, 30, 3), np.uint8), photometric="cielab", tile=(16, 16))
    with pytest.raises(InputError, match=r"lab\.tif: a TIFF of uncompressed tiles .* save it untiled"):
        read_photo(tmp_path / "lab.tif")


def test_what_libpng_says_of_a_png_is_a_warning_not_a_bare_line_on_stderr(tmp_path, capfd):
    """OpenCV's libpng printed "libpng warning: iCCP: too short" to the C stderr, naming no photo, in a batch of
    such PNGs one bare line each."""
    Image.fromarray(asymmetric()).save(tmp_path / "p.png", icc_profile=b"not a profile")
    with pytest.warns(UserWarning, match=rf"^{re.escape(str(tmp_path / 'p.png'))}: libpng: iCCP: too short$"):
        read_photo(tmp_path / "p.png")
    assert "libpng" not in capfd.readouterr().err


def test_what_libpng_says_of_each_photo_of_a_batch_is_its_own_warning(tmp_path):
    """libpng's words were the warning's, without the photo: Python shows a warning's words once per place in the code
    (its "default" action), so of two PNGs with the same damaged profile in a batch only the first had its warning
    (warnings 1 -> 2, each naming its photo)."""
    import warnings

    for name in ("a.png", "b.png"):
        Image.fromarray(asymmetric()).save(tmp_path / name, icc_profile=b"not a profile")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        for name in ("a.png", "b.png"):
            read_photo(tmp_path / name)
    assert [str(w.message) for w in caught if "libpng" in str(w.message)] == [
        f"{tmp_path / name}: libpng: iCCP: too short" for name in ("a.png", "b.png")]


def test_what_libjpeg_says_of_a_jpeg_is_a_warning_not_a_bare_line_on_stderr(tmp_path, capfd):
    """A JPEG cut short and closed with its end marker (a copy stopped midway) decodes with its missing rows grey;
    libjpeg's "Corrupt JPEG data: premature end of data segment" came out as a bare line on stderr, naming no photo,
    and went past --quiet."""
    Image.fromarray(np.random.default_rng(5).integers(0, 256, (64, 64, 3), np.uint8)).save(tmp_path / "p.jpg")
    data = (tmp_path / "p.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) * 2 // 3] + b"\xff\xd9")
    with pytest.warns(UserWarning, match=rf"^{re.escape(str(tmp_path / 'cut.jpg'))}: libjpeg: Corrupt JPEG data: "
                                         r"premature end of data segment$"):
        read_photo(tmp_path / "cut.jpg")
    assert "Corrupt JPEG" not in capfd.readouterr().err


def test_a_decoders_warning_names_the_photo_it_came_from_while_another_is_decoded(tmp_path, monkeypatch):
    """A batch decodes the next photo in a prefetch thread while the first is decoded: the cut JPEG's libjpeg line
    landed in the other photo's capture of stderr and was told as that photo's ("warning: a.jpg: libjpeg: ...")."""
    import threading
    import time
    import warnings

    from cevr_cli.io import library_output
    from cevr_cli.io.images import warning_text

    rng = np.random.default_rng(6)
    Image.fromarray(rng.integers(0, 256, (1600, 1600, 3), np.uint8)).save(tmp_path / "big.jpg", quality=95)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), np.uint8)).save(tmp_path / "p.jpg")
    data = (tmp_path / "p.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) * 2 // 3] + b"\xff\xd9")
    told: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        monkeypatch.setattr(warnings, "showwarning", lambda message, *a, **k: told.append(warning_text(message)))
        for _ in range(3):
            other = threading.Thread(target=read_photo, args=(tmp_path / "big.jpg",))
            other.start()
            while other.is_alive() and library_output._redirecting.acquire(blocking=False):  # until it captures
                library_output._redirecting.release()
                time.sleep(0.001)
            read_photo(tmp_path / "cut.jpg")
            other.join()
    assert told == [f"{tmp_path / 'cut.jpg'}: libjpeg: Corrupt JPEG data: premature end of data segment"] * 3


def test_a_jpegs_libjpeg_line_is_its_warning_while_a_raw_is_read_in_another_thread(tmp_path, monkeypatch, capfd):
    """A mixed batch of RAW and JPEG photos reads a RAW in one thread (LibRaw's unpacking, its fd 2 captured to drop
    LibRaw's data-error lines) while the prefetch thread decodes a JPEG: the JPEG's capture was skipped, its libjpeg
    line went into the RAW's capture and out as a bare line on the terminal, and the JPEG had no warning."""
    import threading
    import warnings

    from cevr_cli.io import raw
    from cevr_cli.io.images import warning_text
    from tests.dng import write_linear_dng

    write_linear_dng(tmp_path / "r.dng", np.full((32, 48, 3), 1000, np.uint16), 4095)
    Image.fromarray(np.random.default_rng(7).integers(0, 256, (64, 64, 3), np.uint8)).save(tmp_path / "p.jpg")
    data = (tmp_path / "p.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) * 2 // 3] + b"\xff\xd9")
    unpacking, jpeg_read = threading.Event(), threading.Event()
    check_pixel_data = raw.check_pixel_data

    def slow_unpack(*args):  # LibRaw unpacking, held open until the JPEG is read (or for 1 s, if that waits)
        unpacking.set()
        jpeg_read.wait(1)
        return check_pixel_data(*args)

    monkeypatch.setattr(raw, "check_pixel_data", slow_unpack)
    told: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        monkeypatch.setattr(warnings, "showwarning", lambda message, *a, **k: told.append(warning_text(message)))
        other = threading.Thread(target=read_photo, args=(tmp_path / "r.dng",))
        other.start()
        assert unpacking.wait(30)
        read_photo(tmp_path / "cut.jpg")
        jpeg_read.set()
        other.join()
    assert told == [f"{tmp_path / 'cut.jpg'}: libjpeg: Corrupt JPEG data: premature end of data segment"]
    assert "Corrupt JPEG" not in capfd.readouterr().err


def test_grey_and_alpha_become_rgb(tmp_path):
    cv2.imwrite(str(tmp_path / "g.png"), np.full((20, 20), 128, np.uint8))
    cv2.imwrite(str(tmp_path / "a.png"), np.full((20, 20, 4), 200, np.uint8))
    assert read_photo(tmp_path / "g.png").rgb.shape == (20, 20, 3)
    assert read_photo(tmp_path / "a.png").rgb.shape == (20, 20, 3)


@pytest.mark.parametrize("bits", [8, 16])
def test_a_dropped_alpha_channel_is_said_with_the_share_of_pixels_it_hid(tmp_path, bits):
    """Issue 23 item 17: alpha was dropped without a word; now the photo source warns, as its colour does."""
    from cevr_cli.measure import photo_source

    top = 2**bits - 1
    rgba = np.full((20, 20, 4), top // 2, np.uint16 if bits == 16 else np.uint8)
    rgba[..., 0] = top  # blue: OpenCV writes BGRA
    rgba[..., 3] = top
    rgba[:5, :, 3] = 0  # a quarter of the pixels transparent
    cv2.imwrite(str(tmp_path / "cut-out.png"), rgba)
    cv2.imwrite(str(tmp_path / "opaque.png"), np.dstack([rgba[..., :3], np.full((20, 20), top, rgba.dtype)]))
    photo = read_photo(tmp_path / "cut-out.png")
    assert photo.translucent == 0.25 and photo.rgb.shape == (20, 20, 3)
    np.testing.assert_allclose(photo.rgb[0, 0], [(top // 2) / top, (top // 2) / top, 1.0])  # colour kept, as RGB
    assert "alpha channel dropped (25.0% of the pixels were not opaque: they show their stored colour)" in \
        photo_source(photo).warnings()
    opaque = read_photo(tmp_path / "opaque.png")  # an alpha channel that hides nothing is not worth a word
    assert opaque.translucent == 0.0 and not any("alpha" in w for w in photo_source(opaque).warnings())


@pytest.mark.parametrize("compression", [None, "lzw"])
def test_an_8_bit_tiff_with_unassociated_alpha_keeps_its_stored_colour(tmp_path, compression):
    """OpenCV decodes 8-bit TIFFs through libtiff's RGBA reader, which multiplies unassociated ("straight") alpha
    into the colour: a white pixel at alpha 128 came out grey (code 128), unlike the same pixels as a PNG. Such a
    file (GIMP's or Photoshop's cut-out exported as TIFF, uncompressed or LZW) shows its stored colour, as every
    other format does."""
    rgba = np.dstack([asymmetric(), np.full((20, 30), 128, np.uint8)])
    rgba[:5, :10, :3] = 255  # white where asymmetric() is red
    rgba[5:10, :, 3] = 0  # and fully transparent rows keep their colour too
    Image.fromarray(rgba).save(tmp_path / "cut-out.tif", **({"compression": "tiff_lzw"} if compression else {}))
    photo = read_photo(tmp_path / "cut-out.tif")
    assert photo.translucent == 1.0 and photo.bit_depth == 8
    np.testing.assert_array_equal(np.round(photo.rgb * 255).astype(np.uint8), rgba[..., :3])


@pytest.mark.parametrize("compression", [None, "tiff_lzw"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_turned_8_bit_tiff_with_unassociated_alpha_keeps_its_colour_and_comes_out_upright(
        tmp_path, orientation, compression):
    """Only an upright such TIFF was decoded by Pillow: turned (Orientation 2-8) it stayed with OpenCV and came out
    darkened (white at alpha 128 as code 128). Pillow 13 turns a TIFF itself while decoding (an uncompressed one by
    90 degrees into scrambled rows), so it must read as the same pixels do as a PNG with that orientation."""
    rgba = np.dstack([asymmetric(), np.full((20, 30), 128, np.uint8)])
    rgba[:5, :10, :3] = 255  # white where asymmetric() is red
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(rgba).save(tmp_path / "o.tif", exif=exif, **({"compression": compression} if compression else {}))
    Image.fromarray(rgba).save(tmp_path / "o.png", exif=exif.tobytes())
    with Image.open(tmp_path / "o.tif") as written:
        assert written.tag_v2[338] == (2,) and written.tag_v2[0x0112] == orientation  # straight alpha, turned
    photo = read_photo(tmp_path / "o.tif")
    assert photo.exif is not None and photo.exif.orientation == orientation
    assert photo.translucent == 1.0 and photo.bit_depth == 8
    got = np.round(photo.rgb * 255).astype(np.uint8)
    np.testing.assert_array_equal(got, np.round(read_photo(tmp_path / "o.png").rgb * 255).astype(np.uint8))
    assert got.max() == 255  # the white corner is not darkened by its alpha


def test_a_tiffs_own_layout_and_layers_are_not_carried_as_its_exif(tmp_path):
    """A TIFF's IFD0 is both its EXIF and its file layout: outputs carried the source's BitsPerSample, StripOffsets,
    SamplesPerPixel 4 (for RGB frames), tifffile's shape JSON as the caption, and Photoshop's layers (tag 37724)
    and resources, so a 3 MB layered TIFF gave 3 MB stack frames, each. What describes the photo stays."""
    import tifffile

    from cevr_cli.io.images import read_image_metadata

    layers = os.urandom(300_000)
    rgba = np.dstack([asymmetric(), np.full((20, 30), 255, np.uint8)])
    tifffile.imwrite(tmp_path / "layered.tif", rgba, photometric="rgb", extrasamples=["unassalpha"],
                     extratags=[(271, "s", 0, "Canon", True), (315, "s", 0, "A. Photographer", True),
                                (37724, "B", len(layers), layers, True), (34377, "B", 4, b"8BIM", True)])
    carried = Image.Exif()
    carried.load(read_photo(tmp_path / "layered.tif").exif_bytes)
    assert carried[271] == "Canon" and carried[315] == "A. Photographer"
    for tag in (256, 257, 258, 259, 262, 273, 277, 278, 279, 284, 338, 270, 37724, 34377):
        assert tag not in carried, tag
    exif_bytes, _ = read_image_metadata(tmp_path / "layered.tif")
    assert len(exif_bytes) < 1000


def huge_png(path, width, height):
    """A valid PNG header claiming a huge size, with almost no data (must be refused before decoding)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 10))
                     + chunk(b"IEND", b""))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_photos_header_gives_the_size_its_pixels_have_upright(tmp_path, orientation):
    """read_photo_header's size (read before any pixel, to refuse a bracket's odd frame at once) is the size
    read_photo gives the pixels once turned upright by the EXIF Orientation: sides swapped for 5 to 8."""
    from cevr_cli.io.images import read_photo_header

    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(asymmetric()).save(tmp_path / "o.jpg", exif=exif)
    header = read_photo_header(tmp_path / "o.jpg")
    assert (header.width, header.height) == read_photo(tmp_path / "o.jpg").rgb.shape[1::-1]
    assert (header.width, header.height) == ((20, 30) if orientation >= 5 else (30, 20))
    assert header.exif is not None and header.exif.orientation == orientation


def png_with_text(path, codes, broken=()):
    """An 8-bit RGB PNG of ``codes`` built by hand, with a tEXt comment before its IDAT; the chunks named in
    ``broken`` get a wrong CRC."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) ^ (
            kind in broken))
    height, width, _ = codes.shape
    rows = b"".join(b"\0" + row.tobytes() for row in codes)  # filter type 0 (None) on every row
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"tEXt", b"Comment\0made by hand") + chunk(b"IDAT", zlib.compress(rows))
                     + chunk(b"IEND", b""))


def test_a_png_whose_text_chunk_has_a_bad_crc_is_read_with_libpngs_warning(tmp_path, capfd):
    """A tEXt chunk with a wrong CRC (an ancillary chunk: libpng warns and skips it, viewers and OpenCV show the photo)
    made Pillow, which cevr asks for size and metadata, refuse the photo as "corrupt PNG data". It is read, pixels
    as written, with libpng's warning; a critical chunk's bad CRC is still refused."""
    from cevr_cli.io.images import PhotoHeader, read_image_metadata, read_photo_header

    codes = asymmetric()
    png_with_text(tmp_path / "p.png", codes, broken=(b"tEXt",))
    with pytest.warns(UserWarning, match=rf"^{re.escape(str(tmp_path / 'p.png'))}: libpng: tEXt: CRC error$"):
        photo = read_photo(tmp_path / "p.png")
    np.testing.assert_array_equal(np.round(photo.rgb * 255).astype(np.uint8), codes)
    assert read_photo_header(tmp_path / "p.png") == PhotoHeader(30, 20, None)
    assert read_image_metadata(tmp_path / "p.png") == (None, None)
    assert "libpng" not in capfd.readouterr().err
    png_with_text(tmp_path / "q.png", codes, broken=(b"tEXt", b"IHDR"))
    with pytest.raises(InputError, match=r"q\.png: corrupt PNG data \(it starts as one, but cannot be parsed\)$"):
        read_photo(tmp_path / "q.png")


@pytest.mark.parametrize("kind,reason", [
    ("empty", "empty file"), ("random", "not an image"), ("text", "not an image"), ("truncated", "truncated"),
    ("tiny", "too small"), ("huge", "too large"), ("missing", "not found"), ("raw", "camera RAW"),
    ("bad crc", "corrupt PNG data (it starts as one, but cannot be parsed)"),
    ("png named jpg", "corrupt PNG data"),  # the signature tells the container, not the name
])
def test_bad_files_give_one_clear_reason(tmp_path, kind, reason):
    names = {"raw": "x.cr2", "text": "x.jpg", "bad crc": "x.png", "tiny": "x.png", "huge": "x.png"}
    path = tmp_path / names.get(kind, "x.jpg")
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "random":
        path.write_bytes(np.random.default_rng(0).bytes(500))
    elif kind == "text":
        path.write_text("hello, I am not a photo\n")
    elif kind == "truncated":
        ok, buf = cv2.imencode(".jpg", (np.random.default_rng(1).random((64, 64, 3)) * 255).astype(np.uint8))
        path.write_bytes(buf.tobytes()[: len(buf) // 2])
    elif kind == "tiny":
        cv2.imwrite(str(path), np.zeros((4, 4, 3), np.uint8))
    elif kind == "huge":
        huge_png(path, 60000, 60000)
    elif kind == "raw":
        path.write_bytes(b"II*\x00" + b"\x00" * 100)
    elif kind in ("bad crc", "png named jpg"):  # one flipped byte in the IHDR chunk: its CRC no longer matches
        huge_png(path, 32, 32)
        data = bytearray(path.read_bytes())
        data[20] ^= 0xFF
        path.write_bytes(bytes(data))
    with pytest.raises(InputError) as info:
        read_photo(path)
    message = str(info.value)
    assert str(path) in message and reason in message and "\n" not in message


@pytest.mark.parametrize("channels", [3, 1])
def test_a_floating_point_tiff_is_named_as_hdr_not_as_an_unknown_format(tmp_path, channels):
    """Pillow reads no 3-channel float TIFF (it said 'not an image'); a 1-channel one it reads and OpenCV
    decodes as float32: both get the same reason."""
    import tifffile

    path = tmp_path / "merged.tif"
    if channels == 3:
        tifffile.imwrite(path, np.full((32, 48, 3), 2.5, np.float32), photometric="rgb")
    else:
        tifffile.imwrite(path, np.full((32, 48), 2.5, np.float32))
    with pytest.raises(InputError) as info:
        read_photo(path)
    assert str(info.value) == (f"{path}: unsupported sample type float32 (8- or 16-bit integer images only); a "
                               "floating-point image is already HDR: save it as OpenEXR for `cevr tonemap`")


@pytest.mark.parametrize("shape, told", [((8, 8), r"shape \(8, 8\)"), ((8, 8, 4), r"\(drop the alpha"),
                                         ((0, 8, 3), r"shape \(0, 8, 3\)")])
def test_write_ldr_refuses_what_is_not_an_rgb_image_with_its_own_line(tmp_path, shape, told):
    """An HxW or RGBA array reached Pillow ('Invalid mode for data type')."""
    with pytest.raises(UsageError, match=rf"^expected a non-empty HxWx3 RGB image for {tmp_path / 'g.png'}, .*{told}"):
        write_ldr(tmp_path / "g.png", np.zeros(shape, np.float32))
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["n.png", "n.tif"])
def test_write_ldr_refuses_nan_in_one_line_naming_the_file(tmp_path, name):
    """NaN became code 0 with numpy's "invalid value encountered in cast", which names no file."""
    rgb = np.full((8, 8, 3), 0.5, np.float32)
    rgb[0, 0, :2] = np.nan
    with pytest.raises(UsageError, match=rf"^image for {tmp_path / name}: 2 values are NaN "):
        write_ldr(tmp_path / name, rgb, bit_depth=16 if name.endswith(".tif") else 8)
    assert not list(tmp_path.iterdir())


def test_write_ldr_refuses_a_request_that_is_not_json(tmp_path):
    with pytest.raises(UsageError, match=rf"^image for {tmp_path / 'x.png'}: its request must be JSON data"):
        write_ldr(tmp_path / "x.png", np.full((8, 8, 3), 0.5, np.float32), request={"source": tmp_path})
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["x.png", "x.jpg", "x.tif"])
def test_write_ldr_that_cannot_write_is_an_output_error(tmp_path, name):
    """A file where the folder must be raised FileExistsError."""
    (tmp_path / "afile").write_text("not a folder")
    destination = tmp_path / "afile" / name
    with pytest.raises(OutputError) as caught:
        write_ldr(destination, np.zeros((8, 8, 3), np.float32))
    assert str(caught.value) == f"{destination}: cannot write image ({tmp_path / 'afile'} is a file, not a folder)"


def test_write_ldr_carries_exif_and_icc_and_resets_orientation(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "TestCam"
    icc = b"\x00\x00\x02\x0cfake-icc-profile-bytes" + b"\x00" * 100
    rgb = np.random.default_rng(2).random((16, 24, 3)).astype(np.float32)
    write_ldr(tmp_path / "o.png", rgb, exif_bytes=exif.tobytes(), icc_profile=icc)
    with Image.open(tmp_path / "o.png") as im:
        assert im.getexif()[0x010F] == "TestCam" and im.getexif()[0x0112] == 1
        assert im.info.get("icc_profile") == icc
        np.testing.assert_array_equal(np.asarray(im), np.round(rgb * 255).astype(np.uint8))
    write_ldr(tmp_path / "o.tif", rgb, bit_depth=16)
    back = cv2.imread(str(tmp_path / "o.tif"), cv2.IMREAD_UNCHANGED)[..., ::-1]
    np.testing.assert_array_equal(back, np.round(rgb * 65535).astype(np.uint16))


@pytest.mark.parametrize("name", ["o.png", "o.jpg"])
def test_write_ldr_says_the_written_images_width_and_height_in_exif(tmp_path, name):
    """A portrait camera JPEG is stored landscape with Orientation 6 and its EXIF PixelXDimension/PixelYDimension
    say the stored 24 x 16; the upright outputs are 16 x 24 and say so (they said 24 x 16: software that reads
    the size from EXIF showed a portrait frame as landscape)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x0100], exif[0x0101] = 24, 16  # IFD0's ImageWidth and ImageLength, as phones write them
    exif.get_ifd(0x8769).update({0xA002: 24, 0xA003: 16, 0x829A: 0.01})
    rgb = np.random.default_rng(4).random((24, 16, 3)).astype(np.float32)
    write_ldr(tmp_path / name, rgb, exif_bytes=exif.tobytes())
    with Image.open(tmp_path / name) as im:
        written = im.getexif().get_ifd(0x8769)
        assert im.size == (16, 24) and (written[0xA002], written[0xA003]) == (16, 24)
        assert (im.getexif()[0x0100], im.getexif()[0x0101]) == (16, 24)
        assert written[0x829A] == 0.01
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    write_ldr(tmp_path / name, rgb, exif_bytes=exif.tobytes())  # EXIF that does not say the size is not given it
    with Image.open(tmp_path / name) as im:
        assert 0xA002 not in im.getexif().get_ifd(0x8769)


@pytest.mark.parametrize("bits", [8, 16])
def test_tiff_carries_icc_and_camera_tags(tmp_path, bits):
    import tifffile

    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    exif[0x0110] = "Model 7"
    exif[0x0132] = "2026:11:25 10:00:00"
    exif[0x010E] = "Harbour at dusk"
    icc = b"\x00\x00\x02\x0cfake-icc-profile-bytes" + b"\x00" * 100
    rgb = np.random.default_rng(3).random((10, 14, 3)).astype(np.float32)
    write_ldr(tmp_path / "o.tif", rgb, bit_depth=bits, exif_bytes=exif.tobytes(), icc_profile=icc)
    with tifffile.TiffFile(tmp_path / "o.tif") as tif:
        tags = tif.pages[0].tags
        assert tags["Make"].value == "TestCam" and tags["Model"].value == "Model 7"
        assert tags["DateTime"].value == "2026:11:25 10:00:00"
        assert tags["ImageDescription"].value == "Harbour at dusk"  # not tifffile's own shape JSON
        assert bytes(tags["InterColorProfile"].value) == icc
    # OpenCV, an independent reader, sees the same pixels.
    back = cv2.imread(str(tmp_path / "o.tif"), cv2.IMREAD_UNCHANGED)[..., ::-1]
    levels = 255 if bits == 8 else 65535
    np.testing.assert_array_equal(back, np.round(rgb * levels).astype(back.dtype))


def test_a_tiffs_software_is_the_carried_exifs_and_cevrs_without_exif(tmp_path):
    """A TIFF stack of a camera JPEG keeps the camera's encoding and its Software; only EXIF cevr made for its
    own sRGB rendering (or no EXIF at all) says cevr."""
    from cevr_cli.io.exif import CEVR_SOFTWARE, ExifInfo

    rgb = np.zeros((8, 8, 3), np.float32)
    camera = Image.Exif()
    camera[0x010F], camera[0x0131] = "TestCam", "Firmware 1.1"
    rendered = ExifInfo(camera_make="TestCam", iso=100).rendered_exif()
    for name, exif_bytes, software in [("camera", camera.tobytes(), "Firmware 1.1"),
                                       ("rendered", rendered, CEVR_SOFTWARE), ("none", None, CEVR_SOFTWARE)]:
        write_ldr(tmp_path / f"{name}.tif", rgb, bit_depth=16, exif_bytes=exif_bytes)
        with Image.open(tmp_path / f"{name}.tif") as tiff:
            assert tiff.tag_v2[305] == software, name


UTF8_TEXT = {0x010F: "Søny", 0x013B: "José Müller", 0x8298: "© 2026 José", 0x010E: "Hafen – Dämmerung"}


def utf8_exif_jpeg(path, orientation=1):
    """A JPEG whose IFD0 text is UTF-8, as exiftool and Lightroom write names beyond ASCII."""
    exif = Image.Exif()
    exif.update({tag: text.encode("utf-8") for tag, text in UTF8_TEXT.items()})
    exif[0x0112] = orientation
    exif.get_ifd(0x8769)[0x829A] = 1 / 100
    Image.fromarray(asymmetric()).save(path, exif=exif.tobytes(), quality=95)
    return path


@pytest.mark.parametrize("orientation", [1, 6])
def test_text_beyond_ascii_in_a_photos_exif_reaches_png_and_tiff_frames_as_written(tmp_path, orientation):
    """Pillow reads an ASCII tag's bytes as Latin-1 and writes text as ASCII with "?": "Søny" came out "S??ny"."""
    import tifffile

    from cevr_cli.io.exif import reexposed_exif

    photo = read_photo(utf8_exif_jpeg(tmp_path / "p.jpg", orientation))
    frame_exif = reexposed_exif(photo.exif_bytes, -1.0)
    write_ldr(tmp_path / "f.png", photo.rgb, exif_bytes=frame_exif)
    write_ldr(tmp_path / "f.tif", photo.rgb, bit_depth=16, exif_bytes=frame_exif)
    with Image.open(tmp_path / "f.png") as png:
        exif = png.getexif()
        assert {tag: exif[tag].encode("latin-1").decode("utf-8") for tag in UTF8_TEXT} == UTF8_TEXT
        assert exif[0x0112] == 1 and float(exif.get_ifd(0x8769)[0x829A]) == pytest.approx(1 / 200)
    with tifffile.TiffFile(tmp_path / "f.tif") as tif:
        tags = tif.pages[0].tags
        assert {tag: tags[tag].value for tag in UTF8_TEXT} == UTF8_TEXT


def test_a_tiff_whose_exposure_is_in_xmp_only_gives_frames_their_own_exposure(tmp_path):
    """A 16-bit TIFF as cevr writes it (no EXIF IFD: its exposure in an XMP packet) stacked again: its frames' EXIF
    had no ExposureTime, FNumber or ISO at all (read from the XMP into stack.json, not carried)."""
    from PIL.TiffImagePlugin import IFDRational

    from cevr_cli.io.exif import exif_from_pillow, reexposed_exif

    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    exif.get_ifd(0x8769).update({0x829A: IFDRational(1, 100), 0x829D: IFDRational(4), 0x8827: 400})
    write_ldr(tmp_path / "t.tif", np.full((20, 30, 3), 0.5, np.float32), bit_depth=16, exif_bytes=exif.tobytes())
    photo = read_photo(tmp_path / "t.tif")
    assert photo.exif.exposure_time == pytest.approx(0.01)  # from the XMP packet
    frame = Image.Exif()
    frame.load(reexposed_exif(photo.exif_bytes, -1.0))
    info = exif_from_pillow(frame)
    assert (info.exposure_time, info.f_number, info.iso) == (pytest.approx(0.005), 4.0, 400)


def test_rendered_exif_holds_the_known_facts_upright_and_signed_by_cevr():
    from cevr_cli.io.exif import CEVR_SOFTWARE, ExifInfo, exif_from_pillow

    info = ExifInfo(camera_make="Cam", camera_model="X100", lens="23mm", exposure_time=1 / 125, f_number=8.0,
                    iso=400, datetime_original="2024:05:01 10:11:12", orientation=6)
    exif = Image.Exif()
    exif.load(info.rendered_exif())
    assert exif_from_pillow(exif) == ExifInfo(**{**info.__dict__, "orientation": 1, "software": CEVR_SOFTWARE})
    exif.load(ExifInfo().rendered_exif())  # nothing known: orientation and Software only, no empty tags
    assert dict(exif) == {0x0112: 1, 0x0131: CEVR_SOFTWARE}


def test_exposure_value_formula():
    info = ExifInfo(exposure_time=1 / 125, f_number=8.0, iso=100)
    assert info.exposure_value() == pytest.approx(np.log2(64 * 125))  # 12.966
    assert ExifInfo(exposure_time=1 / 125, f_number=8.0, iso=400).exposure_value() == pytest.approx(np.log2(8000) - 2)
    missing = ExifInfo(exposure_time=1 / 125)
    assert missing.exposure_value() is None and missing.missing_exposure_fields() == ["f_number", "iso"]


def test_read_exif_from_jpeg(tmp_path):
    exif = Image.Exif()
    exif[0x010F] = "Cam"
    exif[0x0110] = "X100"
    sub = exif.get_ifd(0x8769)
    sub[0x829A] = 0.01
    sub[0x829D] = 2.8
    sub[0x8827] = 200
    Image.fromarray(asymmetric()).save(tmp_path / "e.jpg", exif=exif.tobytes())
    info = read_exif(tmp_path / "e.jpg")
    assert (info.camera_make, info.camera_model, info.iso) == ("Cam", "X100", 200)
    assert info.exposure_value() == pytest.approx(np.log2(2.8**2 / 0.01) - 1)


def test_exif_json_round_trip_and_exr_attributes():
    info = ExifInfo(camera_make="Cam", camera_model="X100", lens="23mm", exposure_time=0.01, f_number=2.8, iso=200,
                    datetime_original="2024:05:01 10:11:12", orientation=6)
    assert ExifInfo.from_json(info.to_json()) == info
    assert ExifInfo.from_json(None) is None
    assert info.exr_attributes() == {"capDate": "2024:05:01 10:11:12", "expTime": 0.01, "aperture": 2.8,
                                     "isoSpeed": 200.0, "cameraMake": "Cam", "cameraModel": "X100",
                                     "lensModel": "23mm"}
    assert ExifInfo(iso=100).exr_attributes() == {"isoSpeed": 100.0}  # unknown facts are left out, not zeroed


def test_exif_of_a_tiff_based_raw_is_read_with_its_exposure_sub_ifd(tmp_path):
    # DNG, CR2 and NEF are TIFF-based: Pillow reads their Exif sub-IFD lazily from the open file, which
    # failed ("seek of closed file") when the file was closed before the EXIF was parsed.
    from PIL import Image

    from cevr_cli.io.exif import read_exif

    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "EOS R5"
    sub = exif.get_ifd(0x8769)
    sub[0x829A], sub[0x829D], sub[0x8827] = 0.008, 4.0, 400
    Image.fromarray(np.zeros((32, 48, 3), np.uint8)).save(tmp_path / "IMG_0001.tif", exif=exif.tobytes())
    raw = tmp_path / "IMG_0001.dng"
    raw.write_bytes((tmp_path / "IMG_0001.tif").read_bytes())
    info = read_exif(raw)
    assert (info.camera_model, info.exposure_time, info.f_number, info.iso) == ("EOS R5", 0.008, 4.0, 400)


def test_a_file_name_that_is_not_utf8_is_read_and_written(tmp_path, gradient_image):
    import os

    from cevr_cli.io.images import read_photo, write_ldr

    name = os.fsdecode(b"IMG_\xff\xfe.png")  # bytes no UTF-8 decoder accepts (surrogate-escaped by Python)
    write_ldr(tmp_path / name, gradient_image, bit_depth=8)
    photo = read_photo(tmp_path / name)
    assert photo.rgb.shape == gradient_image.shape
    np.testing.assert_allclose(photo.rgb, np.round(gradient_image * 255) / 255, atol=1e-6)


def test_pillows_bomb_guard_follows_max_megapixels(tmp_path, monkeypatch):
    # Pillow refuses images above twice Image.MAX_IMAGE_PIXELS (179 MP by default) whatever --max-megapixels
    # says; shrunk here so that a small image stands in for a 200 MP one.
    from PIL import Image

    from cevr_cli.io.images import read_photo

    path = tmp_path / "wide.png"
    Image.new("RGB", (100, 50)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 5,000 px is a "bomb" at this setting
    assert read_photo(path, max_megapixels=250).rgb.shape == (50, 100, 3)


@pytest.mark.parametrize("suffix", [".png", ".avif"])
def test_an_image_above_opencvs_pixel_limit_is_refused_before_decoding(tmp_path, monkeypatch, suffix):
    Image.fromarray(asymmetric(40, 50)).save(tmp_path / f"p{suffix}")
    monkeypatch.setenv("OPENCV_IO_MAX_IMAGE_PIXELS", "1999")  # 40 x 50 = 2000 pixels: one too many

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded before the size was checked")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr(cv2, "imdecode", no_decoding)
    with pytest.raises(InputError, match="too large: 50x40 px \\(0.002 MP\\) is more than OpenCV decodes") as info:
        read_photo(tmp_path / f"p{suffix}", max_megapixels=1000)
    assert "OPENCV_IO_MAX_IMAGE_PIXELS" in str(info.value)


def test_an_opencv_decoder_error_is_the_inputs_failure(tmp_path, monkeypatch):
    Image.fromarray(asymmetric()).save(tmp_path / "p.png")

    def refuse(*args, **kwargs):
        raise cv2.error("OpenCV(5.1.0) imgcodecs: image is too big")

    monkeypatch.setattr(cv2, "imdecode", refuse)
    told = r"p.png: OpenCV cannot decode it \(OpenCV\(5.1.0\) imgcodecs: image is too big\)$"
    with pytest.raises(InputError, match=told):
        read_photo(tmp_path / "p.png")


def test_an_opencv_error_is_told_without_its_build_path():
    from cevr_cli.io.opencv import _opencv_reason

    raised = cv2.error("OpenCV(5.1.0) /io/opencv/modules/imgcodecs/src/loadsave.cpp:80: error: (-215:Assertion "
                       "failed) pixels <= CV_IO_MAX_IMAGE_PIXELS in function 'validateInputImageSize'\n")
    assert _opencv_reason(raised) == "pixels <= CV_IO_MAX_IMAGE_PIXELS"


@pytest.mark.parametrize("name", ["x.jpg", "x.cr2", "x.exr"])
def test_a_broken_link_and_a_folder_are_named_as_such_by_every_reader(tmp_path, name):
    """Photos, camera RAW and HDR images all start at images.check_input_file."""
    from cevr_cli.io.hdrfile import read_hdr_image

    read = read_hdr_image if name.endswith(".exr") else read_photo
    link = tmp_path / name
    link.symlink_to(tmp_path / "gone" / name)
    with pytest.raises(InputError) as broken:
        read(link)
    assert str(broken.value) == f"{link}: broken link: its target {tmp_path / 'gone' / name} does not exist"
    folder = tmp_path / "as-folder" / name
    folder.mkdir(parents=True)
    with pytest.raises(InputError) as is_folder:
        read(folder)
    assert str(is_folder.value) == f"{folder}: is a folder, not " + {"x.jpg": "a photo", "x.cr2": "a camera RAW file",
                                                                      "x.exr": "an HDR image"}[name]
    with pytest.raises(InputError, match="file not found"):
        read(tmp_path / "missing" / name)


def test_a_named_pipe_and_a_name_too_long_are_refused_by_name_without_blocking(tmp_path):
    pipe = tmp_path / "pipe.jpg"
    os.mkfifo(pipe)  # opening it to read would wait for a writer forever
    with pytest.raises(InputError) as refused:
        read_photo(pipe)
    assert str(refused.value) == f"{pipe}: not a regular file (a named pipe)"
    long = tmp_path / ("D" * 300 + ".jpg")
    with pytest.raises(InputError) as too_long:
        read_photo(long)
    assert str(too_long.value) == f"{long}: cannot be read (File name too long)"


def test_an_hdr_image_given_as_a_photo_points_to_tonemap(tmp_path):
    from cevr_cli.io.hdrfile import write_exr

    write_exr(tmp_path / "scene.exr", np.ones((8, 8, 3), np.float32))
    with pytest.raises(InputError, match="scene.exr: an HDR image, not a photo: tone-map it with `cevr tonemap`"):
        read_photo(tmp_path / "scene.exr")


def test_a_file_of_several_images_reads_the_first_and_says_so(tmp_path):
    from cevr_cli.measure import photo_source

    pages = [Image.fromarray(np.full((24, 24, 3), value, np.uint8)) for value in (50, 150, 250)]
    pages[0].save(tmp_path / "pages.tif", save_all=True, append_images=pages[1:])
    photo = read_photo(tmp_path / "pages.tif")
    assert photo.frames == 3 and np.allclose(photo.rgb, 50 / 255)
    assert photo_source(photo).warnings() == ["holds 3 images (an animation or a multi-page file): only the first "
                                              "is used"]
    pages[0].save(tmp_path / "one.tif")
    single = read_photo(tmp_path / "one.tif")
    assert single.frames == 1 and photo_source(single).warnings() == []


def test_a_decoders_warning_is_raised_while_the_photo_is_named_in_its_thread(tmp_path, caplog, monkeypatch):
    """Pillow's "Corrupt EXIF data" comes while photo_being_decoded() names the photo in this thread (the CLI's
    warning line names it from there), as it was raised (category kept, no thread's warnings taken for another's);
    afterwards nothing is named. A failing TIFF header gives no tifffile log line before its error."""
    import threading
    import warnings

    from cevr_cli.io.images import photo_being_decoded
    from tests.raw_containers import jpeg_with_exif

    damaged = tmp_path / "exif.jpg"
    damaged.write_bytes(jpeg_with_exif(b"MM\x00*\x00\x00\x00\x08\x00\x05\x01\x0f\x00\x02\x00\x00"))  # cut off
    seen = []
    monkeypatch.setattr(warnings, "showwarning", lambda message, category, *rest, **kw: seen.append(
        (str(message), category, photo_being_decoded(), threading.current_thread().name)))
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        photo = read_photo(damaged)
    assert photo.rgb.shape == (16, 24, 3) and photo_being_decoded() is None
    assert seen == [("Corrupt EXIF data.  Expecting to read 12 bytes but only got 6. ", UserWarning, damaged,
                     threading.current_thread().name)]
    broken = tmp_path / "header.tif"
    broken.write_bytes(b"II*\x00\x08\x00\x00\x00")
    with caplog.at_level("DEBUG"), pytest.raises(InputError, match="corrupt TIFF data"):
        read_photo(broken)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == [] and photo_being_decoded() is None


def _without_adobe_marker(data: bytes) -> bytes:
    """A JPEG's bytes without its APP14 "Adobe" segments (T.81 B.1: FFxx, then a 2-byte length that counts itself)."""
    out, at = bytearray(data[:2]), 2
    while data[at] == 0xFF and data[at + 1] != 0xDA:  # up to the start of scan
        length = int.from_bytes(data[at + 2:at + 4], "big")
        if not (data[at + 1] == 0xEE and data[at + 4:at + 9] == b"Adobe"):
            out += data[at:at + 2 + length]
        at += 2 + length
    return bytes(out + data[at:])


@pytest.mark.parametrize("marked", [True, False])
def test_a_cmyk_jpeg_is_read_as_its_inks_make_rgb(tmp_path, marked):
    """OpenCV turned CMYK into RGB dividing by 256 where 255 is meant: 0.74 codes too bright on average, up to
    1.88. The reference, computed here in float from the decoded samples: (255 - C)(255 - K) / 255, the samples taken
    as inverted (255: no ink) as Photoshop writes them, marked with its APP14 segment, and as OpenCV and browsers
    take an unmarked file too (as Pillow, the decoder of the inks here, does)."""
    inks = np.random.default_rng(13).integers(0, 256, (48, 64, 4), dtype=np.uint8)
    Image.fromarray(inks, "CMYK").save(tmp_path / "c.jpg", quality=95)
    with Image.open(tmp_path / "c.jpg") as im:
        assert im.mode == "CMYK" and "adobe" in im.info  # Pillow writes Adobe's inverted samples, marked
        decoded = np.asarray(im).astype(np.float64)  # Pillow inverts them back: inks
    if not marked:
        (tmp_path / "c.jpg").write_bytes(_without_adobe_marker((tmp_path / "c.jpg").read_bytes()))
        with Image.open(tmp_path / "c.jpg") as im:
            assert "adobe" not in im.info and np.array_equal(np.asarray(im), decoded)  # the same samples
    reference = (255 - decoded[..., :3]) * (255 - decoded[..., 3:]) / 255
    got = read_photo(tmp_path / "c.jpg").rgb.astype(np.float64) * 255
    assert np.abs(got - reference).max() <= 0.5 + 1e-4  # rounded once
    assert abs(float(np.mean(got - reference))) < 0.02


def test_a_jpeg_too_small_for_its_declared_size_is_refused_before_decoding(tmp_path):
    """A damaged frame header claiming 12000 x 12000 px in a 600-byte file decoded to grey after 38 s and 9 GB.
    Every 8x8 block needs a DC code of at least one bit, so the least a Huffman JPEG can take is w x h / 512 bytes:
    the smallest real ones (a flat grey, optimised progressive coding, one channel) are still read."""
    ok, buf = cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8))
    data = bytearray(buf.tobytes())
    at = data.index(b"\xff\xc0")  # SOF0: length, precision, then height and width
    data[at + 5:at + 9] = struct.pack(">HH", 12000, 12000)
    (tmp_path / "claims.jpg").write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"corrupt JPEG data: \d+ bytes cannot hold the 12000x12000 px its header "
                                         r"declares \(at least 281250\)"):
        read_photo(tmp_path / "claims.jpg")
    flat = np.full((1024, 1024), 128, np.uint8)
    ok, buf = cv2.imencode(".jpg", flat, [cv2.IMWRITE_JPEG_OPTIMIZE, 1, cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert len(buf) < 3 * (1024 * 1024 // 512)  # within 3x of the bound (2048 bytes)
    (tmp_path / "flat.jpg").write_bytes(buf.tobytes())
    assert read_photo(tmp_path / "flat.jpg").rgb.shape == (1024, 1024, 3)


@pytest.mark.parametrize("name", ["linear.tif", "linear.jpg", "cfa.tif", "cfa.png", "preview.tif"])
def test_a_dng_under_a_photos_name_is_named_as_a_raw_to_rename(tmp_path, name):
    """A DNG is a TIFF: named .tif, .jpg or .png it reached the photo reader, which refused its raw samples as an
    'unsupported sample type uint16 (8- or 16-bit integer images only)', and read a camera DNG whose IFD0 is an
    8-bit preview (the raw image in a SubIFD) as that preview: a thumbnail stack, no error."""
    from tests.dng import _dng_tags, write_cfa_dng, write_linear_dng

    path = tmp_path / name
    if name.startswith("preview"):
        import tifffile

        tifffile.imwrite(path, np.full((40, 56, 3), 120, np.uint8), photometric="rgb",
                         extratags=[*_dng_tags(4000, (1, 1, 1))[:3], (254, "I", 1, 1, True)])  # NewSubFileType 1
    elif name.startswith("linear"):
        write_linear_dng(path, np.full((40, 56, 3), 1000, np.uint16), 4000)
    else:
        write_cfa_dng(path, np.full((40, 56, 3), 0.4), 4000)
    with pytest.raises(InputError, match=rf"a camera RAW \(DNG\) file named \{path.suffix}: rename it \.dng"):
        read_photo(path)


def test_an_exif_larger_than_a_jpeg_holds_is_written_without_its_maker_note_and_said(tmp_path):
    """A PNG's 90 kB EXIF (a camera's MakerNote) given to a JPEG: Pillow raised "EXIF data is too long"."""
    from PIL import Image

    from cevr_cli.io.images import write_ldr

    exif = Image.Exif()
    exif[0x010F] = "Nikon"
    exif.get_ifd(0x8769)[0x927C] = bytes(90_000)  # MakerNote
    big = exif.tobytes()
    assert len(big) > 65_533
    image = np.full((8, 8, 3), 0.5, np.float32)
    with pytest.warns(UserWarning, match=r"x\.jpg: its EXIF \(\d+ bytes\) is more than a JPEG holds \(65527\): "
                                         r"written without the camera's MakerNote"):
        write_ldr(tmp_path / "x.jpg", image, exif_bytes=big)
    with Image.open(tmp_path / "x.jpg") as written:
        kept = written.getexif()
        assert kept[0x010F] == "Nikon" and 0x927C not in kept.get_ifd(0x8769)
    exif[0x010E] = "x" * 80_000  # an ImageDescription as large: nothing to leave out but all of it
    with pytest.warns(UserWarning, match=r"y\.jpg: .* written without EXIF"):
        write_ldr(tmp_path / "y.jpg", image, exif_bytes=exif.tobytes())
    with Image.open(tmp_path / "y.jpg") as written:
        assert not written.getexif()
    write_ldr(tmp_path / "z.png", image, exif_bytes=big)  # a PNG holds it whole
    with Image.open(tmp_path / "z.png") as written:
        assert len(written.getexif().get_ifd(0x8769)[0x927C]) == 90_000


@pytest.mark.parametrize(("limits", "told"), [({"max_megapixels": 0}, "^max_megapixels 0: a positive number"),
                                              ({"max_megapixels": float("nan")}, "^max_megapixels nan"),
                                              ({"max_megapixels": "5"}, "^max_megapixels '5'"),
                                              ({"min_side": 0}, "^min_side 0: a whole number")])
def test_a_readers_size_limits_are_checked_before_the_file_is_blamed(tmp_path, limits, told):
    """max_megapixels 0 said the 16x16 photo was "too large"; NaN raised "cannot convert float NaN to integer"."""
    path = tmp_path / "p.png"
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(path)
    with pytest.raises(UsageError, match=told):
        read_photo(path, **limits)


def test_a_photo_over_the_limit_is_refused_in_cevrs_words_alone(tmp_path):
    """A 300 MP photo (limit 250) gave, before cevr's "too large" line, Pillow's "warning: Image size (300000000
    pixels) exceeds limit of 250000000 pixels, could be decompression bomb DOS attack.", the same fact in alarming
    words (naming no photo where `cevr calibrate` read the frames' headers)."""
    huge_png(tmp_path / "x.png", 20000, 15000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(InputError, match=r"too large: 20000x15000 px, 300 MP \(limit 250 MP"):
            read_photo(tmp_path / "x.png")
    assert [str(w.message) for w in caught] == []
