"""EXR and Radiance .hdr reading and writing on small images the tests write themselves."""

import os
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import OpenEXR
import pytest

from cevr_cli.errors import InputError, OutputError, UsageError
from cevr_cli.io.hdrfile import EXR_COMPRESSIONS, read_hdr_image, write_exr, write_radiance_hdr


def _scene(h: int = 6, w: int = 9) -> np.ndarray:
    """Positive HDR values spanning 2^-6 .. 2^6 with distinct channels."""
    rng = np.random.default_rng(3)
    return np.exp2(rng.uniform(-6, 6, size=(h, w, 3))).astype(np.float32)


def _write_channels(path: Path, channels: dict[str, np.ndarray], **header: object) -> None:
    base = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage, **header}
    with OpenEXR.File(base, channels) as exr:
        exr.write(str(path))


@pytest.mark.parametrize("compression", EXR_COMPRESSIONS)
@pytest.mark.parametrize("half", [True, False])
def test_exr_round_trip(tmp_path: Path, compression: str, half: bool) -> None:
    rgb = _scene()
    path = tmp_path / "x.exr"
    write_exr(path, rgb, half=half, compression=compression)
    back = read_hdr_image(path)
    assert back.shape == rgb.shape and back.dtype == np.float32
    expected = rgb.astype(np.float16).astype(np.float32) if half else rgb
    # DWAA is lossy (a DCT codec); the others are lossless on these values.
    rtol = 0.05 if compression == "dwaa" else 0
    np.testing.assert_allclose(back, expected, rtol=rtol)
    with OpenEXR.File(str(path)) as exr:
        np.testing.assert_allclose(exr.header()["chromaticities"],
                                   (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290), atol=1e-6)
    assert [p.name for p in tmp_path.iterdir()] == ["x.exr"]  # no temporary file left behind


def test_values_a_half_cannot_hold_are_written_as_float_with_a_warning(tmp_path: Path) -> None:
    rgb = np.full((4, 5, 3), 1e5, np.float32)  # absolute radiance (cd/m2 of the sun's disc go far beyond)
    rgb[0, 0] = [1.0, 65504.0, np.inf]
    path = tmp_path / "sun.exr"
    with pytest.warns(UserWarning, match=r"sun\.exr: values beyond half float's 65504 written as 32-bit float"):
        write_exr(path, rgb)  # half asked (the default): every 1e5 became 65504 when read back
    with OpenEXR.File(str(path), separate_channels=True) as exr:
        assert exr.channels()["R"].pixels.dtype == np.float32
    back = read_hdr_image(path)
    assert back[1, 1].tolist() == [1e5, 1e5, 1e5] and back[0, 0, :2].tolist() == [1.0, 65504.0]
    fits = tmp_path / "fits.exr"
    rgb[rgb > 65504] = 65504.0  # the image's own infinity alone does not ask for 32 bits
    write_exr(fits, rgb)
    with OpenEXR.File(str(fits), separate_channels=True) as exr:
        assert exr.channels()["R"].pixels.dtype == np.float16


def test_a_half_float_image_is_written_without_a_warning(tmp_path: Path) -> None:
    """Comparing float16 values with float32's 3.4e38 cast that bound to half float: numpy's "overflow encountered
    in cast" RuntimeWarning on every half-float image."""
    rgb = _scene().astype(np.float16)
    path = tmp_path / "half.exr"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_exr(path, rgb)
    np.testing.assert_array_equal(read_hdr_image(path), rgb.astype(np.float32))


def test_values_beyond_float32_are_written_as_its_largest_with_a_warning(tmp_path: Path) -> None:
    rgb = np.ones((2, 3, 3), np.float64)
    rgb[0, 0] = [1e39, -1e39, 2.0]
    path = tmp_path / "far.exr"
    with pytest.warns(UserWarning) as caught:
        write_exr(path, rgb)
    assert [str(w.message) for w in caught] == [
        f"{path}: values beyond 32-bit float's 3.403e+38 written as 3.403e+38, the largest an EXR holds",
        f"{path}: values beyond half float's 65504 written as 32-bit float, not lost to infinity"]
    with OpenEXR.File(str(path), separate_channels=True) as exr:
        channels = exr.channels()
        assert channels["R"].pixels[0, 0] == np.finfo(np.float32).max and channels["G"].pixels[0, 0] == -np.finfo(
            np.float32).max and channels["B"].pixels[0, 0] == 2.0
    assert np.isfinite(read_hdr_image(path)).all()


def test_rgba_drops_alpha_and_cleans_values(tmp_path: Path) -> None:
    rgb = _scene(4, 5)
    rgb[0, 0] = [np.nan, np.inf, -2.0]
    channels = {c: rgb[..., i].copy() for i, c in enumerate("RGB")} | {"A": np.full((4, 5), 0.5, np.float32)}
    _write_channels(tmp_path / "rgba.exr", channels)
    back = read_hdr_image(tmp_path / "rgba.exr")
    assert back.shape == (4, 5, 3)
    # NaN and -2 -> 0; +Inf -> the brightest finite value
    np.testing.assert_array_equal(back[0, 0], [0, rgb[np.isfinite(rgb)].max(), 0])
    np.testing.assert_array_equal(back[1:], rgb[1:])


def test_luminance_chroma_file(tmp_path: Path) -> None:
    """Y/RY/BY as OpenEXR's RgbaYca defines them, with the published Rec.709 luminance weights
    (the Y row of the RP 177 matrix, 7 digits)."""
    rgb = _scene(4, 6).astype(np.float64)
    y = 0.2126390 * rgb[..., 0] + 0.7151687 * rgb[..., 1] + 0.0721923 * rgb[..., 2]
    channels = {"Y": y.astype(np.float32), "RY": ((rgb[..., 0] - y) / y).astype(np.float32),
                "BY": ((rgb[..., 2] - y) / y).astype(np.float32)}
    _write_channels(tmp_path / "yc.exr", channels)
    np.testing.assert_allclose(read_hdr_image(tmp_path / "yc.exr"), rgb, rtol=1e-4)


def test_luminance_only_is_grey(tmp_path: Path) -> None:
    y = np.linspace(0, 4, 12, dtype=np.float32).reshape(3, 4)
    _write_channels(tmp_path / "y.exr", {"Y": y})
    back = read_hdr_image(tmp_path / "y.exr")
    np.testing.assert_array_equal(back, np.repeat(y[..., None], 3, axis=2))


@pytest.mark.parametrize("present, missing", [("RY", "BY"), ("BY", "RY")])
def test_luminance_with_one_chroma_channel_is_refused_not_read_grey(tmp_path: Path, present, missing) -> None:
    y = np.linspace(0.1, 4, 12, dtype=np.float32).reshape(3, 4)
    _write_channels(tmp_path / "half.exr", {"Y": y, present: np.full_like(y, 0.5)})
    with pytest.raises(InputError) as refused:
        read_hdr_image(tmp_path / "half.exr")
    assert refused.value.reason.startswith(f"luminance-chroma EXR with {present} but not {missing}: ")


def test_multiview_takes_default_view(tmp_path: Path) -> None:
    rgb = _scene(3, 4)
    channels = {c: rgb[..., i].copy() for i, c in enumerate("RGB")}
    channels |= {f"right.{c}": np.zeros((3, 4), np.float32) for c in "RGB"}
    _write_channels(tmp_path / "mv.exr", channels, multiView=["left", "right"])
    np.testing.assert_array_equal(read_hdr_image(tmp_path / "mv.exr"), rgb)


def test_layer_only_file_takes_first_view(tmp_path: Path) -> None:
    rgb = _scene(3, 4)
    channels = {f"left.{c}": rgb[..., i].copy() for i, c in enumerate("RGB")}
    channels |= {f"right.{c}": np.zeros((3, 4), np.float32) for c in "RGB"}
    _write_channels(tmp_path / "lr.exr", channels, multiView=["left", "right"])
    np.testing.assert_array_equal(read_hdr_image(tmp_path / "lr.exr"), rgb)


def test_other_primaries_are_converted_to_rec709(tmp_path: Path) -> None:
    """An ACES AP0 file: its white (1,1,1) must stay neutral, and a pure AP0 red must match the
    published ACES2065-1 -> linear sRGB (Bradford) matrix's first column."""
    ap0 = (0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.077, 0.32168, 0.33767)
    rgb = np.zeros((1, 2, 3), np.float32)
    rgb[0, 0] = 1.0
    rgb[0, 1, 0] = 1.0
    _write_channels(tmp_path / "aces.exr", {c: rgb[..., i].copy() for i, c in enumerate("RGB")},
                    chromaticities=ap0)
    back = read_hdr_image(tmp_path / "aces.exr")
    np.testing.assert_allclose(back[0, 0], [1, 1, 1], atol=1e-3)
    # Negative Rec.709 components are clipped to 0 by the reader.
    np.testing.assert_allclose(back[0, 1], [2.5217, 0.0, 0.0], atol=2e-3)


def test_radiance_hdr_round_trip(tmp_path: Path) -> None:
    rgb = _scene()
    write_radiance_hdr(tmp_path / "x.hdr", rgb)
    back = read_hdr_image(tmp_path / "x.hdr")
    assert back.shape == rgb.shape and back.dtype == np.float32
    # RGBE shares one exponent: the largest channel keeps 8 mantissa bits (error < 2^-8 of it).
    peak = rgb.max(axis=2, keepdims=True)
    assert np.all(np.abs(back - rgb) <= peak * 2.0**-7)


@pytest.mark.parametrize("value", [2e38, 3e38, 1e39])
def test_values_beyond_rgbe_are_written_as_its_largest_with_a_warning(tmp_path: Path, value: float) -> None:
    """From 2^127 (1.7e38) RGBE's exponent byte wrapped to 0: the brightest pixel read back black, unwarned."""
    rgb = np.ones((2, 3, 3))
    rgb[0, 0] = [value, 1.0, 1.0]
    path = tmp_path / "far.hdr"
    with pytest.warns(UserWarning, match=rf"^{re.escape(str(path))}: values beyond Radiance RGBE's 1\.701e\+38 "):
        write_radiance_hdr(path, rgb)
    back = read_hdr_image(path)
    assert back[0, 0, 0] > 1.6e38 and back[1, 1].tolist() == [1.0, 1.0, 1.0]


def test_bad_files(tmp_path: Path) -> None:
    good = tmp_path / "good.exr"
    write_exr(good, _scene(32, 32), half=False, compression="none")
    truncated = tmp_path / "truncated.exr"
    truncated.write_bytes(good.read_bytes()[:-200])
    empty = tmp_path / "empty.exr"
    empty.write_bytes(b"")
    junk = tmp_path / "junk.hdr"
    junk.write_bytes(b"not a radiance file at all")
    wrong = tmp_path / "wrong.exr"
    _write_channels(wrong, {"Z": np.ones((2, 2), np.float32)})
    cases = {truncated: "truncated", empty: "empty", junk: "not a readable", wrong: "no RGB",
             tmp_path / "missing.exr": "not found", tmp_path / "x.png": "a photo, not an HDR image"}
    (tmp_path / "x.png").write_bytes(b"png")
    for path, reason in cases.items():
        with pytest.raises(InputError, match=reason) as info:
            read_hdr_image(path)
        assert info.value.path == str(path)


def test_write_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="compression"):
        write_exr(tmp_path / "x.exr", _scene(), compression="lzw")
    with pytest.raises(UsageError, match="HxWx3"):
        write_exr(tmp_path / "x.exr", np.zeros((4, 4), np.float32))
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("write, name, told", [
    (write_exr, "x.png", "x.png: an EXR file needs a .exr name"),
    (write_exr, "x.hdr", "x.hdr: an EXR file needs a .exr name"),
    (write_radiance_hdr, "r.exr", "r.exr: an HDR file needs a .hdr name"),
    (write_radiance_hdr, "r", "r: an HDR file needs a .hdr name"),
])
def test_a_name_that_says_another_format_is_refused(tmp_path: Path, write, name, told) -> None:
    """write_radiance_hdr("r.exr") wrote RGBE that read_hdr_image then refused as a damaged EXR."""
    with pytest.raises(UsageError) as caught:
        write(tmp_path / name, _scene())
    assert str(caught.value) == f"{tmp_path / told}"
    assert not list(tmp_path.iterdir())
    write(tmp_path / ("UPPER.EXR" if write is write_exr else "UPPER.HDR"), _scene())  # the case is not the format
    assert read_hdr_image(next(tmp_path.iterdir())).shape == _scene().shape


@pytest.mark.parametrize("write, name, what", [(write_exr, "x.exr", "EXR"),
                                              (write_radiance_hdr, "x.hdr", "Radiance .hdr")])
def test_a_write_that_fails_is_an_output_error_naming_why(tmp_path: Path, write, name, what) -> None:
    """A file where the folder must be raised FileExistsError from write_radiance_hdr."""
    (tmp_path / "afile").write_text("not a folder")
    destination = tmp_path / "afile" / name
    with pytest.raises(OutputError) as caught:
        write(destination, _scene())
    assert str(caught.value) == f"{destination}: cannot write {what} ({tmp_path / 'afile'} is a file, not a folder)"
    long_name = tmp_path / ("n" * 300 + name)  # the system's reason, not the temporary file's name
    with pytest.raises(OutputError) as caught:
        write(long_name, _scene())
    assert str(caught.value) == f"{long_name}: cannot write {what} (File name too long)"


def test_exr_extra_attributes_round_trip(tmp_path: Path) -> None:
    rgb = np.ones((4, 6, 3), np.float32)
    attributes = {"capDate": "2024:05:01 10:11:12", "expTime": 0.004, "isoSpeed": 200, "cameraMake": "Cam"}
    write_exr(tmp_path / "a.exr", rgb, attributes=attributes)
    with OpenEXR.File(str(tmp_path / "a.exr")) as exr:
        header = dict(exr.header())  # the live header is emptied when the file closes
    assert header["capDate"] == "2024:05:01 10:11:12" and header["cameraMake"] == "Cam"
    assert header["expTime"] == pytest.approx(0.004) and header["isoSpeed"] == 200.0
    with pytest.raises(UsageError, match="set by cevr"):
        write_exr(tmp_path / "b.exr", rgb, attributes={"compression": "none"})
    with pytest.raises(UsageError, match="text or number"):
        write_exr(tmp_path / "c.exr", rgb, attributes={"owner": b"bytes"})
    assert not (tmp_path / "b.exr").exists() and not (tmp_path / "c.exr").exists()


@pytest.mark.parametrize(("name", "value"), [("dataWindow", "x"), ("lineOrder", 3.0), ("channels", "RGB"),
                                           ("", "x"), (5, "x")])
def test_exr_attributes_cannot_replace_the_files_structure(tmp_path: Path, name: object, value: object) -> None:
    """dataWindow raised the binding's bare ValueError; lineOrder and channels an OutputError ('cannot write EXR')
    for what is a wrong request; an empty name the same."""
    with pytest.raises(UsageError, match="EXR attribute"):
        write_exr(tmp_path / "s.exr", np.ones((4, 6, 3), np.float32), attributes={name: value})
    assert not (tmp_path / "s.exr").exists()


def test_exr_attributes_may_be_numpy_numbers(tmp_path: Path) -> None:
    """np.float32 and np.int64 (what an array's element is) were refused as 'text or number expected'."""
    write_exr(tmp_path / "n.exr", np.ones((4, 6, 3), np.float32),
              attributes={"expTime": np.float32(0.25), "isoSpeed": np.int64(400)})
    with OpenEXR.File(str(tmp_path / "n.exr")) as exr:
        header = dict(exr.header())
    assert header["expTime"] == 0.25 and header["isoSpeed"] == 400.0


# IEC 61966-2-1 (sRGB) linear RGB -> CIE XYZ, Rec.709 primaries and D65 white, to 4 decimals.
SRGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])


def test_an_exr_in_xyz_primaries_reads_as_the_rec709_colours_it_holds(tmp_path):
    # OpenEXR's Chromaticities/XYZ.exr beside Rec709.exr (the same scene): red (1, 0), green (0, 1), blue
    # (0, 0), white (1/3, 1/3). Blue's y = 0 once broke the primaries' Y = 1 normalisation. The pixels are
    # the XYZ of known Rec.709 colours; reading them back must give those colours (a Bradford E -> D65
    # adaptation gave 0.934 R - 0.124 G for red: 12 % less red on the sample pair).
    colours = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0], [0.18, 0.18, 0.18],
                        [1.0, 0.5, 0.1], [0.2, 0.6, 0.9], [4.0, 2.0, 0.5]])
    xyz = (colours @ SRGB_TO_XYZ.T).reshape(2, 4, 3).astype(np.float32)
    _write_channels(tmp_path / "XYZ.exr", {c: xyz[..., i].copy() for i, c in enumerate("RGB")},
                    chromaticities=(1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1 / 3, 1 / 3))
    rgb = read_hdr_image(tmp_path / "XYZ.exr").reshape(-1, 3)
    # 4-decimal matrix vs the one from the chromaticities: about 1e-4 relative.
    np.testing.assert_allclose(rgb, colours, rtol=1e-3, atol=1e-3)
    # D65 white stays neutral (1, 1, 1); XYZ (1, 1, 1), equal-energy light, is pinkish beside D65:
    # inverse(SRGB_TO_XYZ) @ (1, 1, 1) = (1.2049, 0.9483, 0.9086).
    _write_channels(tmp_path / "E.exr", {c: np.ones((1, 1), np.float32) for c in "RGB"},
                    chromaticities=(1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1 / 3, 1 / 3))
    np.testing.assert_allclose(read_hdr_image(tmp_path / "E.exr")[0, 0], [1.2049, 0.9483, 0.9086], atol=1e-3)


def test_a_truncated_exr_is_one_line_with_no_library_noise(tmp_path, capfd):
    rgb = np.random.default_rng(0).random((256, 256, 3)).astype(np.float32)  # several chunks of pixel data
    write_exr(tmp_path / "ok.exr", rgb)
    data = (tmp_path / "ok.exr").read_bytes()
    (tmp_path / "cut.exr").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cut.exr: truncated or damaged"):
        read_hdr_image(tmp_path / "cut.exr")
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""


def _deep(h: int = 3, w: int = 4) -> np.ndarray:
    """A deep channel: every pixel holds its own array of samples (two here)."""
    samples = np.empty((h, w), dtype=object)
    for index in np.ndindex(h, w):
        samples[index] = np.full(2, 0.5, np.float32)
    return samples


def _part(channels: dict[str, np.ndarray], name: str, storage: object = OpenEXR.scanlineimage) -> OpenEXR.Part:
    deep = storage in (OpenEXR.deepscanline, OpenEXR.deeptile)
    header = {"compression": OpenEXR.ZIPS_COMPRESSION if deep else OpenEXR.ZIP_COMPRESSION, "type": storage}
    if storage == OpenEXR.deeptile:
        header["tiles"] = OpenEXR.TileDescription()
    return OpenEXR.Part(header, channels, name=name)


@pytest.mark.parametrize("storage", [OpenEXR.deepscanline, OpenEXR.deeptile], ids=["scanline", "tile"])
def test_a_deep_exr_is_refused_as_deep_not_as_damaged(tmp_path: Path, storage: object) -> None:
    path = tmp_path / "deep.exr"
    with OpenEXR.File([_part({c: _deep() for c in "RGB"}, "deep", storage)]) as exr:
        exr.write(str(path))
    with pytest.raises(InputError) as info:
        read_hdr_image(path)
    assert "deep EXR" in info.value.reason and "flatten it first" in info.value.reason
    assert "truncated" not in info.value.reason and "\n" not in str(info.value)


def test_a_multipart_exr_skips_deep_and_colourless_parts(tmp_path: Path) -> None:
    # Part 0 deep RGB, part 1 depth only, part 2 the flat beauty pass: the beauty pass is read.
    rgb = _scene(3, 4)
    path = tmp_path / "multi.exr"
    parts = [_part({c: _deep() for c in "RGB"}, "deep", OpenEXR.deepscanline),
             _part({"Z": np.ones((3, 4), np.float32)}, "depth"), _part({"RGB": rgb}, "beauty")]
    with OpenEXR.File(parts) as exr:
        exr.write(str(path))
    np.testing.assert_array_equal(read_hdr_image(path), rgb)


def test_a_multipart_exr_with_colour_in_several_parts_says_which_it_read(tmp_path: Path) -> None:
    rgb = _scene(3, 4)
    path = tmp_path / "passes.exr"
    parts = [_part({"Z": np.ones((3, 4), np.float32)}, "depth"), _part({"RGB": rgb}, "beauty"),
             _part({"RGB": rgb * 2}, "key light")]
    with OpenEXR.File(parts) as exr:
        exr.write(str(path))
    with pytest.warns(UserWarning, match=r"passes\.exr: a multi-part EXR with colour in 2 parts: read beauty "
                                         r"\(.*\), not key light \("):
        np.testing.assert_array_equal(read_hdr_image(path), rgb)


def test_a_multipart_exr_without_colour_names_its_parts(tmp_path: Path) -> None:
    path = tmp_path / "aovs.exr"
    parts = [_part({"Z": np.ones((3, 4), np.float32)}, "depth"), _part({"mask": np.ones((3, 4), np.float32)}, "matte")]
    with OpenEXR.File(parts) as exr:
        exr.write(str(path))
    with pytest.raises(InputError) as info:
        read_hdr_image(path)
    assert info.value.reason == ("no part of this multi-part EXR has RGB, Y/RY/BY or Y channels in flat pixels "
                                 "(parts: depth (flat: Z); matte (flat: mask))")


@pytest.mark.skipif(sys.platform != "linux", reason="Linux file names are bytes; others refuse non-UTF-8 names")
def test_an_exr_whose_name_is_not_utf8_is_written_and_read(tmp_path: Path) -> None:
    # b"\xff" is no UTF-8: Python keeps it as the surrogate escape "\udcff" (PEP 383), which the OpenEXR
    # binding refused to encode: fuse failed after the whole stack, tonemap could not read the file.
    folder = tmp_path / os.fsdecode(b"caf\xe9-\xff")
    path = folder / os.fsdecode(b"photo-\xff.exr")
    rgb = _scene()
    write_exr(path, rgb, half=False)
    assert os.listdir(os.fsencode(folder)) == [b"photo-\xff.exr"]  # the name as given, no temporary left
    np.testing.assert_array_equal(read_hdr_image(path), rgb)


def test_a_radiance_header_claiming_too_many_pixels_is_refused_before_decoding(tmp_path, capfd, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))  # where OpenCV's decoder would leave its copy of the file
    (tmp_path / "tmp").mkdir()
    huge = tmp_path / "huge.hdr"
    huge.write_bytes(b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 99999 +X 88888\n")
    with pytest.raises(InputError, match=r"huge.hdr: too large: 88888x99999 px, .* \(limit 250 MP, see "
                                         r"--max-megapixels\)"):
        read_hdr_image(huge)
    with pytest.raises(InputError, match=r"huge.hdr: too large: 88888x99999 px .* more than OpenCV decodes"):
        read_hdr_image(huge, max_megapixels=1e5)  # what cevr allows, past what OpenCV decodes
    headless = tmp_path / "headless.hdr"
    headless.write_bytes(b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 9 +X 9\n")  # no pixel data
    with pytest.raises(InputError, match="headless.hdr: not a readable Radiance .hdr file"):
        read_hdr_image(headless)
    assert capfd.readouterr().err == ""  # OpenCV's own log line ([ERROR:0@...] imdecode_) is off
    assert not list((tmp_path / "tmp").iterdir())


def test_a_radiance_header_gives_width_and_height_in_either_order(tmp_path):
    from cevr_cli.io.hdrfile import _radiance_layout

    def size(data: bytes) -> tuple[int, int] | None:
        layout = _radiance_layout(data)
        return None if layout is None else (layout.width, layout.height)

    rgb = np.random.default_rng(0).random((20, 30, 3)).astype(np.float32)
    write_radiance_hdr(tmp_path / "a.hdr", rgb)
    assert size((tmp_path / "a.hdr").read_bytes()) == (30, 20)
    assert size(b"#?RGBE\n\n+X 7 -Y 5\n") == (7, 5)  # column-major order: width first
    assert size(b"no header at all") is None


def test_a_photo_renamed_hdr_is_refused_not_read_as_radiance(tmp_path: Path) -> None:
    import cv2

    path = tmp_path / "holiday.hdr"
    ok, data = cv2.imencode(".jpg", np.full((8, 8, 3), 200, np.uint8))
    path.write_bytes(data.tobytes())  # OpenCV decoded it as radiance 0..255
    with pytest.raises(InputError, match=r"holiday\.hdr: a JPEG image named \.hdr, not an HDR image"):
        read_hdr_image(path)


def _radiance_pixels(image: np.ndarray) -> bytes:
    """``image``'s rows as the scanlines of a Radiance file (OpenCV's encoder), without its header."""
    import cv2

    from cevr_cli.io.hdrfile import _radiance_layout

    ok, encoded = cv2.imencode(".hdr", np.ascontiguousarray(image[..., ::-1], dtype=np.float32))
    data = encoded.tobytes()
    return data[_radiance_layout(data).pixels_at:]


def test_a_radiance_file_in_any_of_the_formats_scan_orders_reads_upright(tmp_path: Path) -> None:
    """The resolution line says how scanlines run: -Y H +X W (top to bottom, left to right) is the usual one and
    the only one OpenCV decodes; the other seven were refused as "truncated or damaged". Each is written here from
    the format's definition: scanline i holds the pixels of the named axis, in the named direction."""
    rgb = _scene(5, 7)
    write_radiance_hdr(tmp_path / "usual.hdr", rgb)
    upright = read_hdr_image(tmp_path / "usual.hdr")  # RGBE-rounded
    stored = {b"+Y 5 +X 7": upright[::-1], b"-Y 5 -X 7": upright[:, ::-1], b"+Y 5 -X 7": upright[::-1, ::-1],
              b"+X 7 -Y 5": upright.transpose(1, 0, 2), b"+X 7 +Y 5": upright[::-1].transpose(1, 0, 2),
              b"-X 7 -Y 5": upright[:, ::-1].transpose(1, 0, 2), b"-X 7 +Y 5": upright[::-1, ::-1].transpose(1, 0, 2)}
    for resolution, scanlines in stored.items():
        path = tmp_path / "turned.hdr"
        path.write_bytes(b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n" + resolution + b"\n" + _radiance_pixels(scanlines))
        np.testing.assert_array_equal(read_hdr_image(path), upright, err_msg=resolution.decode())


def test_a_radiance_file_of_xyze_pixels_reads_as_the_rec709_colours_it_holds(tmp_path: Path) -> None:
    from cevr_cli.io.hdrfile import REC709_CHROMATICITIES, rgb_to_xyz_matrix

    rgb = np.array([[[1.0, 1.0, 1.0], [0.5, 0.1, 0.02], [0.05, 0.3, 0.9]]], np.float32)
    xyz = rgb @ rgb_to_xyz_matrix(REC709_CHROMATICITIES).T  # SMPTE RP 177, as OpenEXR's RGBtoXYZ
    path = tmp_path / "xyz.hdr"
    path.write_bytes(b"#?RADIANCE\nFORMAT=32-bit_rle_xyze\n\n-Y 1 +X 3\n" + _radiance_pixels(xyz))
    np.testing.assert_allclose(read_hdr_image(path), rgb, rtol=0.02, atol=1e-3)  # RGBE keeps 8 bits a channel


def test_an_hdr_file_named_as_the_other_format_is_read_as_what_it_is(tmp_path: Path) -> None:
    rgb = _scene()
    write_exr(tmp_path / "a.exr", rgb, half=False)
    write_radiance_hdr(tmp_path / "b.hdr", rgb)
    radiance = read_hdr_image(tmp_path / "b.hdr")  # RGBE-rounded
    (tmp_path / "a.exr").rename(tmp_path / "exr-named.hdr")
    (tmp_path / "b.hdr").rename(tmp_path / "hdr-named.exr")
    np.testing.assert_array_equal(read_hdr_image(tmp_path / "exr-named.hdr"), rgb)
    np.testing.assert_array_equal(read_hdr_image(tmp_path / "hdr-named.exr"), radiance)


def test_an_exr_larger_than_the_limit_is_refused_from_its_header_before_any_pixel_is_decoded(tmp_path, monkeypatch):
    from cevr_cli.io import hdrfile

    path = tmp_path / "big.exr"
    _write_channels(path, {c: np.zeros((40, 50), np.float16) for c in "RGB"})  # 2,000 px: 0.002 MP
    np.testing.assert_array_equal(read_hdr_image(path, max_megapixels=0.002), np.zeros((40, 50, 3), np.float32))

    def decoded(*args: object) -> None:
        raise AssertionError("pixels decoded")

    monkeypatch.setattr(hdrfile, "_read_exr_rgb", decoded)
    with pytest.raises(InputError) as refused:
        read_hdr_image(path, max_megapixels=0.0019)
    assert refused.value.reason == "too large: 50x40 px, 0.002 MP (limit 0.0019 MP, see --max-megapixels)"


@pytest.mark.parametrize(("layers", "read", "note"), [
    (("albedo", "beauty"), "beauty", "read beauty, not albedo"),  # albedo sorted first and was read: black
    (("diffuse", "specular"), "diffuse", "read diffuse, not specular"),  # no name says which: the first
    (("ViewLayer.Combined", "ViewLayer.Diffuse"), "ViewLayer.Combined", "read ViewLayer.Combined, not "
                                                                        "ViewLayer.Diffuse"),  # Blender's
])
def test_an_exr_of_named_layers_reads_the_whole_images_layer_and_names_the_others(tmp_path, layers, read, note):
    path = tmp_path / "layers.exr"
    images = {layer: _scene(3, 4) * (i + 1) for i, layer in enumerate(layers)}
    _write_channels(path, {f"{layer}.{c}": image[..., i].copy() for layer, image in images.items()
                           for i, c in enumerate("RGB")})
    with pytest.warns(UserWarning, match=rf"layers\.exr: an EXR with 2 RGB layers: {note}$"):
        np.testing.assert_array_equal(read_hdr_image(path), images[read])


def test_the_default_layer_beside_named_passes_is_read_without_a_note(tmp_path, recwarn):
    rgb = _scene(3, 4)
    path = tmp_path / "aovs.exr"
    _write_channels(path, {**{c: rgb[..., i].copy() for i, c in enumerate("RGB")},
                           **{f"diffuse.{c}": np.zeros((3, 4), np.float32) for c in "RGB"}})
    np.testing.assert_array_equal(read_hdr_image(path), rgb)
    assert not [w for w in recwarn if "layers" in str(w.message)]


@pytest.mark.parametrize("chromaticities", [
    (float("nan"), 0.33, 0.3, 0.6, 0.15, 0.06, 0.3127, 0.329),
    (float("inf"), 0.33, 0.3, 0.6, 0.15, 0.06, 0.3127, 0.329),
    (0.64, 0.33, 0.64, 0.33, 0.15, 0.06, 0.3127, 0.329),  # red and green at one point: came out pure red
])
def test_chromaticities_that_are_no_colour_space_are_refused_naming_the_file(tmp_path, chromaticities):
    path = tmp_path / "bad.exr"
    _write_channels(path, {c: np.ones((3, 4), np.float32) for c in "RGB"}, chromaticities=chromaticities)
    with pytest.raises(InputError) as refused:
        read_hdr_image(path)
    assert str(refused.value) == f"{path}: chromaticities ({', '.join(f'{v:.4g}' for v in chromaticities)}): " + (
        "the primaries are not independent" if np.isfinite(chromaticities).all() else "not all finite")


@pytest.mark.parametrize("limit", [0, -1.0, float("nan"), "5"])
def test_an_hdr_readers_size_limit_is_checked_before_the_file_is_blamed(tmp_path: Path, limit) -> None:
    """'5' said the EXR was "not a readable OpenEXR file, truncated or damaged"; NaN read any size; 0 "too large"."""
    write_exr(tmp_path / "x.exr", np.ones((4, 4, 3), np.float32))
    with pytest.raises(UsageError, match=r"^max_megapixels .*: a positive number of megapixels$"):
        read_hdr_image(tmp_path / "x.exr", max_megapixels=limit)


def test_a_photo_named_as_an_exr_is_named_for_what_it_is(tmp_path: Path) -> None:
    """A PNG renamed .exr failed as 'not a readable OpenEXR file, truncated or damaged'."""
    import cv2

    path = tmp_path / "photo.exr"
    ok, png = cv2.imencode(".png", np.full((16, 16, 3), 128, np.uint8))
    path.write_bytes(png.tobytes())
    with pytest.raises(InputError) as refused:
        read_hdr_image(path)
    assert refused.value.reason == "a PNG image named .exr, not an HDR image (`cevr stack` and `cevr fuse` take photos)"


@pytest.mark.parametrize("name", ["photo.jpg", "IMG_1.CR2", "scan.TIFF"])
def test_a_photo_given_to_tonemap_is_told_which_command_makes_its_hdr_image(tmp_path: Path, name: str) -> None:
    """`cevr tonemap photo.jpg` failed as "unsupported HDR format '.jpg' (use .exr or .hdr)", a photographer's first
    try that said nothing of the photo-to-HDR step."""
    path = tmp_path / name
    path.write_bytes(b"never read: the name says a photo")
    with pytest.raises(InputError) as refused:
        read_hdr_image(path)
    assert refused.value.reason == ("a photo, not an HDR image: `cevr fuse` makes its HDR image, which `cevr tonemap` "
                                    "takes")


def test_a_file_of_neither_kind_is_told_which_suffixes_an_hdr_image_has(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError) as refused:
        read_hdr_image(tmp_path / "notes.txt")
    assert refused.value.reason == "unsupported HDR format '.txt' (use .exr or .hdr)"


def test_a_file_that_is_no_exr_is_told_as_a_non_radiance_hdr_is(tmp_path: Path) -> None:
    """Text named .exr failed as "not a readable OpenEXR file, truncated or damaged (Unable to open 'x.exr' for
    read)": the name twice, and words for a damaged EXR or a file without permission, where the same text named
    .hdr is "not a readable Radiance .hdr file (no #?RADIANCE header: a photo renamed .hdr?)"."""
    for name in ("x.exr", "x.hdr"):
        (tmp_path / name).write_text("hello, I am not an HDR image\n")
    reasons = []
    for name in ("x.exr", "x.hdr"):
        with pytest.raises(InputError) as refused:
            read_hdr_image(tmp_path / name)
        reasons.append(refused.value.reason)
    assert reasons == ["not a readable OpenEXR file (no OpenEXR magic number: a file of another kind renamed .exr?)",
                       "not a readable Radiance .hdr file (no #?RADIANCE header: a photo renamed .hdr?)"]


@pytest.mark.parametrize(("data_window", "display_window"), [
    (((2, 3), (10, 8)), ((0, 0), (12, 9))),  # a region inside the frame, offset: black around it
    (((-2, -1), (10, 6)), ((0, 0), (8, 4))),  # overscan: cropped to the frame
    (((5, -2), (13, 3)), ((0, 0), (9, 5))),  # partly outside: cropped there, black elsewhere
    (((100, 200), (108, 205)), ((100, 200), (108, 205))),  # the frame itself, away from the origin
])
def test_an_exr_is_read_in_its_display_window(tmp_path: Path, data_window, display_window) -> None:
    """Until 2026-12-07 the data window was read as stored: a region render or a render with overscan came out at
    another size and framing than exrdisplay, Nuke or OpenImageIO show. The expected frame is built here pixel by
    pixel from the window coordinates."""
    (dx0, dy0), (dx1, dy1) = data_window
    (wx0, wy0), (wx1, wy1) = display_window
    scene = _scene(dy1 - dy0 + 1, dx1 - dx0 + 1)
    _write_channels(tmp_path / "w.exr", {"RGB": scene}, dataWindow=data_window, displayWindow=display_window)
    expected = np.zeros((wy1 - wy0 + 1, wx1 - wx0 + 1, 3), np.float32)
    for y in range(wy0, wy1 + 1):
        for x in range(wx0, wx1 + 1):
            if dx0 <= x <= dx1 and dy0 <= y <= dy1:
                expected[y - wy0, x - wx0] = scene[y - dy0, x - dx0]
    np.testing.assert_array_equal(read_hdr_image(tmp_path / "w.exr"), expected)


def test_an_exr_whose_data_window_is_outside_its_frame_is_refused(tmp_path: Path) -> None:
    _write_channels(tmp_path / "w.exr", {"RGB": _scene(4, 4)}, dataWindow=((20, 20), (23, 23)),
                    displayWindow=((0, 0), (9, 9)))
    with pytest.raises(InputError, match=r"w\.exr: its data window \(20,20\)-\(23,23\) lies wholly outside its "
                                         r"display window \(0,0\)-\(9,9\)"):
        read_hdr_image(tmp_path / "w.exr")


def test_an_exr_display_window_beyond_the_size_limit_is_refused_from_the_header(tmp_path: Path) -> None:
    """The frame is what cevr allocates: a 4x4 data window in a 20000x20000 display window is 400 megapixels."""
    _write_channels(tmp_path / "w.exr", {"RGB": _scene(4, 4)}, dataWindow=((0, 0), (3, 3)),
                    displayWindow=((0, 0), (19999, 19999)))
    with pytest.raises(InputError, match=r"too large: 20000x20000 px"):
        read_hdr_image(tmp_path / "w.exr")
