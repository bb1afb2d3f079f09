"""Phones' photos: HEIC, 10-bit HEIF and AVIF are read with their pixels, depth, EXIF and orientation."""

import json

import cv2
import numpy as np
import pytest
from PIL import Image, features

from cevr_cli.batch import BatchPolicy, discover_inputs
from cevr_cli.errors import InputError
from cevr_cli.exposure import ResidualModel
from cevr_cli.fuse import FuseOptions, run_fuse
from cevr_cli.io.images import read_photo
from cevr_cli.model import CEVRPredictor
from cevr_cli.stack import StackOptions, run_stack

pillow_heif = pytest.importorskip("pillow_heif", reason="pillow-heif (a cevr dependency) is not installed")
needs_heif_encoder = pytest.mark.skipif("x265" not in str(pillow_heif.libheif_info().get("encoders")),
                                        reason="this pillow-heif build has no HEVC encoder to write test files")
needs_avif = pytest.mark.skipif(not features.check("avif"), reason="this Pillow build has no AVIF codec")


def scene(h=24, w=40):
    """A smooth, asymmetric image (float in [0, 1]): red ramps left to right, green top to bottom."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    return np.stack([x / (w - 1), y / (h - 1), 0.25 + 0.5 * (x + y) / (w + h)], axis=-1)


def camera_exif(orientation):
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = "PhoneCo", "Pocket 15", orientation
    exif.get_ifd(0x8769)[0x829A] = 1 / 120  # ExposureTime
    return exif.tobytes()


def write_heif(path, rgb, *, bits, orientation=1, icc_profile=None):
    """Lossless (RGB matrix, 4:4:4) HEIF of float ``rgb`` at 8 or 10 bits, with EXIF."""
    codes = np.round(rgb * (255 if bits == 8 else 65535)).astype(np.uint8 if bits == 8 else np.uint16)
    h, w = codes.shape[:2]
    heif = pillow_heif.from_bytes(mode="RGB" if bits == 8 else "RGB;16", size=(w, h), data=codes.tobytes())
    heif.save(path, quality=-1, chroma=444, matrix_coefficients=0, exif=camera_exif(orientation),
              **({"icc_profile": icc_profile} if icc_profile else {}))


@needs_heif_encoder
@pytest.mark.parametrize("suffix", [".heic", ".HEIF", ".hif"])
def test_a_heic_photo_is_read_upright_with_its_exif(tmp_path, suffix):
    stored = scene()
    path = tmp_path / f"IMG_0001{suffix}"
    write_heif(path, stored, bits=8, orientation=6)  # 90 degrees clockwise, as a phone held upright
    photo = read_photo(path)
    assert photo.bit_depth == 8 and photo.rgb.shape == (40, 24, 3)
    np.testing.assert_allclose(photo.rgb, np.rot90(stored, -1), atol=1.5 / 255)
    assert photo.exif.camera_make == "PhoneCo" and photo.exif.exposure_time == pytest.approx(1 / 120)
    assert photo.exif.orientation == 1  # the pixels are upright already: nothing turns them twice
    assert discover_inputs([tmp_path]) == [path]


@needs_heif_encoder
def test_a_10_bit_heif_is_read_at_16_bits_without_losing_its_depth(tmp_path):
    stored = scene()
    stored[0, 0] = 1.0  # full scale reads 1.0, not 1020/1023 or 65472/65535
    write_heif(tmp_path / "p.heif", stored, bits=10)
    photo = read_photo(tmp_path / "p.heif")
    assert photo.bit_depth == 10 and photo.rgb[0, 0].tolist() == [1.0, 1.0, 1.0]
    error = np.abs(photo.rgb - stored).max()
    assert error < 0.8 / 1023  # 8-bit decoding would be off by up to 0.5 / 255 = 2 / 1023
    codes = np.round(photo.rgb * 255)
    assert np.abs(photo.rgb * 255 - codes).max() > 0.1  # values between 8-bit codes survive


@needs_avif
@pytest.mark.parametrize("orientation", [1, 6, 3])
def test_an_avif_photo_is_read_upright_with_its_exif(tmp_path, orientation):
    stored = scene()
    Image.fromarray(np.round(stored * 255).astype(np.uint8)).save(
        tmp_path / "p.avif", quality=100, subsampling="4:4:4", exif=camera_exif(orientation))
    photo = read_photo(tmp_path / "p.avif")
    upright = {1: stored, 6: np.rot90(stored, -1), 3: stored[::-1, ::-1]}[orientation]
    assert photo.rgb.shape == upright.shape and photo.bit_depth == 8
    np.testing.assert_allclose(photo.rgb, upright, atol=6 / 255)
    assert photo.exif.camera_model == "Pocket 15"


@needs_heif_encoder
@needs_avif
def test_phone_photos_stack_and_fuse_with_their_exif(tmp_path, tiny_residual_pair):
    photos = tmp_path / "photos"
    photos.mkdir()
    write_heif(photos / "a.heic", scene(), bits=8, orientation=6)
    write_heif(photos / "b.heif", scene(), bits=10)
    Image.fromarray(np.round(scene() * 255).astype(np.uint8)).save(photos / "c.avif", exif=camera_exif(1))
    model = ResidualModel(CEVRPredictor(tiny_residual_pair))
    report = run_stack([photos], tmp_path / "stacks", model, StackOptions([-1.0, 1.0]), BatchPolicy())
    assert report.counts() == {"done": 3}, report.to_json()
    for name, size, bits in (("a", [24, 40], 8), ("b", [40, 24], 10), ("c", [40, 24], 8)):
        manifest = json.loads((tmp_path / "stacks" / name / "stack.json").read_text())
        assert manifest["exif"]["camera_make"] == "PhoneCo" and manifest["source_size"] == size
        assert manifest["source_bit_depth"] == bits
        # phones write camera EXIF: no installed profile here, so the camera prior
        assert manifest["response"]["reason"] == "EXIF Make PhoneCo, no profile: camera prior"
    fused = run_fuse([photos], tmp_path / "hdr", FuseOptions([-1.0, 0.0, 1.0]), model, BatchPolicy())
    assert fused.counts() == {"done": 3}, fused.to_json()
    assert json.loads((tmp_path / "hdr" / "b" / "fuse.json").read_text())["exif"]["camera_model"] == "Pocket 15"


@pytest.mark.skipif(not cv2.haveImageWriter(".avif"), reason="this OpenCV build cannot write AVIF test files")
@pytest.mark.parametrize("bits", [10, 12])
def test_a_10_or_12_bit_avif_keeps_its_depth(tmp_path, bits):
    stored = scene()
    stored[0, 0] = 1.0
    codes = np.round(stored * (2**bits - 1)).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "p.avif"), codes[..., ::-1].copy(),
                [cv2.IMWRITE_AVIF_DEPTH, bits, cv2.IMWRITE_AVIF_QUALITY, 100])
    photo = read_photo(tmp_path / "p.avif")
    assert photo.bit_depth == bits and photo.rgb[0, 0].tolist() == [1.0, 1.0, 1.0]
    assert np.abs(photo.rgb - stored).max() < 0.8 / 1023


@needs_avif
def test_an_avif_is_read_by_pillow_where_opencv_has_no_avif_decoder(tmp_path, monkeypatch):
    from cevr_cli.io import opencv

    stored = scene()
    Image.fromarray(np.round(stored * 255).astype(np.uint8)).save(
        tmp_path / "p.avif", quality=100, subsampling="4:4:4", exif=camera_exif(6))
    monkeypatch.setattr(opencv, "imread", lambda *args: None)
    photo = read_photo(tmp_path / "p.avif")
    assert photo.bit_depth == 8
    np.testing.assert_allclose(photo.rgb, np.rot90(stored, -1), atol=6 / 255)


@needs_heif_encoder
def test_a_truncated_heic_is_one_line(tmp_path):
    write_heif(tmp_path / "p.heic", scene(), bits=8)
    data = (tmp_path / "p.heic").read_bytes()
    (tmp_path / "cut.heic").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated or corrupt") as info:
        read_photo(tmp_path / "cut.heic")
    assert "\n" not in str(info.value)


@needs_heif_encoder
def test_a_display_p3_heic_is_converted_to_srgb_by_its_icc_profile(tmp_path):
    from cevr_cli.io.colour import CONVERTED, to_srgb
    from tests.icc_profiles import display_p3_profile

    stored = scene()
    write_heif(tmp_path / "p3.heic", stored, bits=8, icc_profile=display_p3_profile())
    photo = read_photo(tmp_path / "p3.heic")
    assert photo.colour.source == "Display P3" and photo.colour.conversion == CONVERTED
    assert photo.icc_profile is None  # outputs are untagged sRGB once converted
    expected, _, _ = to_srgb(np.round(stored * 255).astype(np.uint8), display_p3_profile())
    np.testing.assert_allclose(photo.rgb, expected / 255, atol=1.5 / 255)


@pytest.mark.skipif(not features.check("webp"), reason="this Pillow build has no WebP codec")
@pytest.mark.parametrize("lossless", [True, False])
def test_a_webp_in_a_folder_is_found_read_upright_with_its_exif_and_measured_as_lossy(tmp_path, lossless):
    from cevr_cli.measure import read_measured

    stored = scene()
    Image.fromarray(np.round(stored * 255).astype(np.uint8)).save(
        tmp_path / "p.webp", lossless=lossless, quality=100, exif=camera_exif(6))
    assert discover_inputs([tmp_path]) == [tmp_path / "p.webp"]
    photo = read_photo(tmp_path / "p.webp")
    assert photo.rgb.shape == (40, 24, 3) and photo.bit_depth == 8 and photo.exif.camera_model == "Pocket 15"
    np.testing.assert_allclose(photo.rgb, np.rot90(stored, -1), atol=(0.5 if lossless else 12) / 255)
    measured = read_measured(tmp_path / "p.webp", response="auto", raw_mode="linear", max_megapixels=250)
    assert measured.measured.lossy  # most WebP photos are VP8-coded: near a clip their codes ring


@needs_heif_encoder
def test_a_heif_whose_colour_an_nclx_box_describes_is_converted_to_srgb(tmp_path):
    """Phones describe Display P3 in an nclx box (ITU-T H.273: primaries 12, the sRGB curve 13) instead of an ICC
    profile: it was decoded as sRGB, unchanged (a red of 201, 60, 40 where sRGB's is about 219, 41, 22)."""
    from tests.icc_profiles import p3_to_srgb_codes

    codes = np.zeros((16, 16, 3), np.uint8)
    codes[:8], codes[8:] = (201, 60, 40), (40, 160, 90)
    path = tmp_path / "p3.heic"
    Image.fromarray(codes).save(path, quality=95, color_primaries=12, transfer_characteristics=13,
                                matrix_coefficients=6, full_range_flag=1)
    with Image.open(path) as im:
        stored = np.asarray(im.convert("RGB")).astype(np.float64)  # the codes as decoded, without colour management
    photo = read_photo(path)
    np.testing.assert_allclose(photo.rgb * 255, p3_to_srgb_codes(stored), atol=0.6)  # to the code
    assert photo.colour.source == "nclx colour primaries 12" and photo.colour.conversion.startswith("converted")
    assert photo.colour.warning() is None
    pq = tmp_path / "pq.heic"  # an HDR curve is not converted, and said so
    Image.fromarray(codes).save(pq, quality=95, color_primaries=9, transfer_characteristics=16,
                                matrix_coefficients=9, full_range_flag=1)
    hdr = read_photo(pq)
    assert "another curve than sRGB's" in hdr.colour.conversion and "not applied" in hdr.colour.warning()


def _with_nclx(avif: bytes, primaries: int, transfer: int) -> bytes:
    """The AVIF with its nclx box saying other primaries and curve: the coded pixels stay as they were."""
    at = avif.index(b"colrnclx") + 8
    return avif[:at] + primaries.to_bytes(2, "big") + transfer.to_bytes(2, "big") + avif[at + 4:]


@needs_avif
def test_an_avif_whose_colour_an_nclx_box_describes_is_converted_to_srgb(tmp_path):
    """Pillow's AVIF plugin reports no nclx box, so a Display P3 AVIF was decoded as sRGB, unchanged; HEIF's
    was converted (pillow-heif reports it). Expected: an independent P3 -> sRGB conversion of the same codes."""
    from tests.icc_profiles import p3_to_srgb_codes

    codes = np.zeros((16, 16, 3), np.uint8)
    codes[:8], codes[8:] = (201, 60, 40), (40, 160, 90)
    plain = tmp_path / "srgb.avif"
    Image.fromarray(codes).save(plain, quality=100, subsampling="4:4:4")
    stored = read_photo(plain).rgb.astype(np.float64) * 255  # said BT.709 with the sRGB curve: read unchanged
    assert read_photo(plain).colour.conversion.startswith("none")
    p3 = tmp_path / "p3.avif"
    p3.write_bytes(_with_nclx(plain.read_bytes(), 12, 13))
    photo = read_photo(p3)
    np.testing.assert_allclose(photo.rgb * 255, p3_to_srgb_codes(np.round(stored)), atol=0.6)
    assert photo.colour.source == "nclx colour primaries 12" and photo.colour.conversion.startswith("converted")
    pq = tmp_path / "pq.avif"  # BT.2020 with the PQ curve: not converted, and said so
    pq.write_bytes(_with_nclx(plain.read_bytes(), 9, 16))
    assert "not applied" in read_photo(pq).colour.warning()
