"""Decode-time colour management: photos with an embedded ICC profile come out in sRGB.

Expected pixels come from an independent computation: P3 codes decoded with the sRGB curve, taken to
XYZ and back to sRGB with matrices built from the published primaries (both D65), clipped and
re-encoded (tests/icc_profiles.py); littlecms goes through the D50 connection space and 8-bit
tables, hence the tolerance of one code.
"""

import numpy as np
import pytest
from PIL import Image, ImageCms

from cevr_cli.imaging import srgb_encode
from cevr_cli.io.colour import (
    ASSUMED,
    CONVERTED,
    CONVERTED_16,
    SIXTEEN_BIT,
    UNCHANGED,
    UNREADABLE,
    ColourSpace,
    MatrixShaper,
    to_srgb,
)
from cevr_cli.io.images import read_photo
from cevr_cli.measure import photo_source
from tests.icc_profiles import (
    ADOBE_RGB_PRIMARIES,
    SRGB_PRIMARIES,
    display_p3_profile,
    gamma_curve_tag,
    p3_to_srgb_codes,
    parametric_curve_tag,
)
from tests.icc_profiles import (
    srgb_encode as reference_srgb_encode,
)

SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _codes(h: int = 24, w: int = 32) -> np.ndarray:
    # Random colours plus blocks of P3's pure red and green (blocks, so JPEG's chroma subsampling keeps them
    # pure), which lie outside sRGB and must clip to its gamut.
    codes = np.random.default_rng(4).integers(0, 256, (h, w, 3), dtype=np.uint8)
    codes[:16, :16], codes[:16, 16:32] = (255, 0, 0), (0, 255, 0)
    return codes


def _save(path, codes: np.ndarray, icc: bytes | None) -> None:
    kwargs = {"icc_profile": icc} if icc else {}
    if path.suffix == ".jpg":
        kwargs["quality"] = 95
    Image.fromarray(codes, "RGB").save(path, **kwargs)


def _stored_codes(path) -> np.ndarray:
    """The codes in the file as stored (a JPEG's are not quite what was saved), without colour management."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".tif"])
def test_display_p3_photo_is_converted_to_srgb(tmp_path, suffix: str) -> None:
    path = tmp_path / f"p3{suffix}"
    _save(path, _codes(), display_p3_profile())
    photo = read_photo(path)
    assert photo.rgb.shape == (24, 32, 3) and photo.rgb.dtype == np.float32
    expected = p3_to_srgb_codes(_stored_codes(path))
    np.testing.assert_allclose(photo.rgb * 255.0, expected, atol=1.0)
    assert photo.colour == ColourSpace("Display P3", CONVERTED)
    assert photo.icc_profile is None  # outputs are sRGB now: carrying the P3 profile would mislabel them
    # P3 red and green are more saturated than sRGB's: they clip to the sRGB primaries' neighbourhood
    # (linear sRGB (1.22, -0.04, -0.02) -> (255, 0, 0); green (-0.22, 1.04, -0.08) -> (0, 255, 0)).
    np.testing.assert_allclose(photo.rgb[8, 8] * 255.0, [255.0, 0.0, 0.0], atol=1.5)
    np.testing.assert_allclose(photo.rgb[8, 24] * 255.0, [0.0, 255.0, 0.0], atol=1.5)


PROFILES = {  # matrix/TRC profiles with each kind of tone curve
    "P3, sampled curve": display_p3_profile(),
    "Adobe RGB, gamma": display_p3_profile("Adobe RGB (1998)", ADOBE_RGB_PRIMARIES, gamma_curve_tag(2.2)),
    "P3, parametric sRGB curve": display_p3_profile(
        "P3 para", curve=parametric_curve_tag(3, [2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045])),
    "Adobe RGB, parametric gamma": display_p3_profile(
        "Adobe para", ADOBE_RGB_PRIMARIES, parametric_curve_tag(0, [2.2])),
    # ICC.1 sec. 10.18's functions 1 ((aX + b)^g, 0 below -b/a) and 2 (the same + c, c below -b/a); b < 0, so that
    # the darkest codes take the lower branch
    "P3, parametric function 1": display_p3_profile("P3 para 1", curve=parametric_curve_tag(1, [2.2, 1.0, -0.05])),
    "P3, parametric function 2": display_p3_profile(
        "P3 para 2", curve=parametric_curve_tag(2, [2.2, 0.95, -0.05, 0.05])),
}


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_the_matrix_shaper_transform_is_littlecms_to_a_code_at_8_bits(name: str) -> None:
    profile = PROFILES[name]
    codes = np.random.default_rng(7).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    littlecms, colour, _ = to_srgb(codes, profile)
    assert colour.conversion == CONVERTED
    ours = np.round(srgb_encode(np.clip(MatrixShaper.parse(profile).to_linear_srgb(codes / 255.0), 0, 1)) * 255.0)
    difference = np.abs(ours - littlecms)  # littlecms rounds through 8-bit tables: a code now and then
    assert difference.max() <= 1.0 and difference.mean() < 0.1, (difference.max(), difference.mean())


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_a_16_bit_display_p3_photo_is_converted_too(tmp_path, suffix: str) -> None:
    """It was decoded as sRGB and its EXR labelled Rec.709: mean 7.5 codes off, green by up to 89 codes."""
    codes8 = _codes()
    codes16 = codes8.astype(np.uint16) * 257
    path = tmp_path / f"p3-16{suffix}"
    if suffix == ".tif":
        import tifffile

        tifffile.imwrite(path, codes16, photometric="rgb", iccprofile=display_p3_profile())
    else:  # OpenCV writes 16-bit PNGs without a profile; Pillow cannot write 16-bit RGB: add the iCCP chunk
        import cv2

        cv2.imwrite(str(path), codes16[..., ::-1])
        _add_iccp(path, display_p3_profile())
    photo = read_photo(path)
    assert photo.colour == ColourSpace("Display P3", CONVERTED_16) and photo.icc_profile is None
    np.testing.assert_allclose(photo.rgb * 255.0, p3_to_srgb_codes(codes8), atol=0.6)


def test_a_16_bit_photo_whose_profile_has_no_matrix_is_left_as_it_is_and_warned_about() -> None:
    codes = np.full((4, 4, 3), 30000, np.uint16)
    out, colour, icc = to_srgb(codes, display_p3_profile("no matrix", matrix=False))
    if colour.conversion != UNREADABLE:  # littlecms may refuse such a profile outright
        assert colour.conversion == SIXTEEN_BIT and colour.warning() is not None
    np.testing.assert_array_equal(out, codes)


@pytest.mark.parametrize("curve", [
    parametric_curve_tag(1, [2.2, 0.0, 0.0]),  # a = 0: -b/a divides by zero
    parametric_curve_tag(7, [2.2]),  # no such function
    b"curv" + b"\0" * 4 + b"\x00\x00\x10\x00",  # 4096 samples announced, none there
    b"curv" + b"\0" * 4 + b"\x00\x00\x00\x03" + b"\xff\xff\x00\x00\x80\x00",  # falling
    b"para",  # cut short
    gamma_curve_tag(0.0),  # constant: every pixel white
])
def test_a_damaged_matrix_profile_is_no_matrix_shaper_and_never_an_exception(curve: bytes) -> None:
    profile = display_p3_profile("damaged", curve=curve)
    assert MatrixShaper.parse(profile) is None
    assert MatrixShaper.parse(profile[:200]) is None  # the tag table cut off too


def test_a_profile_with_lookup_tables_is_left_to_littlecms_which_prefers_them() -> None:
    import struct

    profile = display_p3_profile()
    count = struct.unpack_from(">I", profile, 128)[0]
    # rename the copyright tag (the last entry) A2B0: littlecms would take such a table over the matrix
    entry = 132 + 12 * (count - 1)
    tampered = profile[:entry] + b"A2B0" + profile[entry + 4:]
    assert MatrixShaper.parse(profile) is not None and MatrixShaper.parse(tampered) is None


def _add_iccp(path, profile: bytes) -> None:
    """Insert an iCCP chunk (PNG 1.2 sec. 4.2.2.4: name, 0, compression 0, zlib data) after IHDR."""
    import struct
    import zlib

    data = path.read_bytes()
    body = b"icc\0\0" + zlib.compress(profile)
    chunk = struct.pack(">I", len(body)) + b"iCCP" + body + struct.pack(">I", zlib.crc32(b"iCCP" + body))
    end_of_ihdr = 8 + 8 + 13 + 4
    path.write_bytes(data[:end_of_ihdr] + chunk + data[end_of_ihdr:])


@pytest.mark.parametrize("icc", [SRGB_ICC, None], ids=["srgb-tagged", "untagged"])
def test_srgb_tagged_and_untagged_photos_are_unchanged(tmp_path, icc: bytes | None) -> None:
    path = tmp_path / "s.png"
    codes = _codes()
    _save(path, codes, icc)
    photo = read_photo(path)
    np.testing.assert_array_equal(np.round(photo.rgb * 255.0).astype(np.uint8), codes)
    assert photo.colour == (ColourSpace("sRGB built-in", UNCHANGED) if icc else ColourSpace("sRGB", ASSUMED))
    assert photo.icc_profile == icc


@pytest.mark.parametrize("gamma, identity", [(2.42, True), (2.47, False)], ids=["within-one-code", "three-codes-off"])
def test_a_profile_a_hair_from_srgb_is_the_identity_only_within_one_code(gamma: float, identity: bool) -> None:
    # sRGB's primaries and piecewise curve (ICC parametric type 3) with its 2.4 exponent changed: by the formula
    # the codes move at most 0.82 codes at 2.42 (an sRGB profile by another name: the pixels and the profile are
    # kept) and 2.85 codes at 2.47 (another colour space: converted, as the formula says within a code)
    curve = parametric_curve_tag(3, [gamma, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045])
    profile = display_p3_profile("near sRGB", primaries=SRGB_PRIMARIES, curve=curve)
    v = np.arange(256) / 255.0
    light = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** gamma)
    expected = np.round(reference_srgb_encode(light) * 255.0)
    deviation = np.abs(expected - np.arange(256)).max()
    assert deviation == (1 if identity else 3)  # hand formula: 0.82 -> 1 after rounding, 2.85 -> 3
    codes = np.stack([np.arange(256, dtype=np.uint8)] * 3, axis=-1)[None]
    out, colour, icc = to_srgb(codes, profile)
    if identity:
        assert colour == ColourSpace("near sRGB", UNCHANGED) and icc == profile
        np.testing.assert_array_equal(out, codes)
    else:
        assert colour == ColourSpace("near sRGB", CONVERTED) and icc is None
        assert np.abs(out[0].astype(int) - expected[:, None]).max() <= 1


def test_a_corrupt_icc_profile_decodes_as_srgb_with_a_one_line_warning(tmp_path) -> None:
    path = tmp_path / "bad.png"
    codes = _codes()
    bad = b"\x00\x00\x02\x0cnot-a-profile" + b"\x00" * 64
    _save(path, codes, bad)
    with pytest.warns(UserWarning, match="libpng: iCCP: too short"):  # libpng's own line, routed as a warning
        photo = read_photo(path)
    np.testing.assert_array_equal(np.round(photo.rgb * 255.0).astype(np.uint8), codes)
    assert photo.colour is not None and photo.colour.conversion == UNREADABLE
    warning = photo.colour.warning()
    assert warning is not None and "ICC profile" in warning and "\n" not in warning
    assert photo.icc_profile is None  # read as sRGB, so outputs are untagged sRGB: no viewer applies the damage
    from PIL import Image
    from typer.testing import CliRunner

    from cevr_cli.cli import app

    result = CliRunner().invoke(app, ["stack", str(path), "-o", str(tmp_path / "out"), "--evs", "1", "--model",
                                      "physics", "-q"])
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "out" / "bad" / "00_ev+1.00.png") as frame:
        assert "icc_profile" not in frame.info


def test_a_profile_of_another_colour_model_is_not_carried_onto_rgb_outputs(tmp_path) -> None:
    """A grey or CMYK profile was carried onto RGB PNG frames, an invalid file libpng warns about on every read."""
    from cevr_cli.io.colour import NOT_RGB

    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()  # colour space "Lab ", as GRAY, CMYK
    path = tmp_path / "lab.png"
    codes = _codes()
    _save(path, codes, lab)
    with pytest.warns(UserWarning, match="libpng: iCCP: .*invalid ICC profile color space"):
        photo = read_photo(path)
    np.testing.assert_array_equal(np.round(photo.rgb * 255.0).astype(np.uint8), codes)  # read as sRGB, said so
    assert photo.colour is not None and photo.colour.conversion == NOT_RGB and photo.colour.warning() is not None
    assert photo.icc_profile is None


def test_provenance_records_the_source_colour_space(tmp_path) -> None:
    path = tmp_path / "p3.png"
    _save(path, _codes(), display_p3_profile("Display P3 (phone)"))
    record = photo_source(read_photo(path)).to_json()["colour"]
    assert record == {"source_colour_space": "Display P3 (phone)", "colour_conversion": CONVERTED}
    assert ColourSpace.from_json(record) == ColourSpace("Display P3 (phone)", CONVERTED)
    assert ColourSpace.from_json(None) is None
    # converted, opaque: nothing to warn about (no EXIF exposure is recorded as source_ev100 null, not warned)
    source = photo_source(read_photo(path))
    assert source.warnings() == [] and source.to_json()["source_ev100"] is None



def _camera_exif(colour_space: int, interop_index: bytes | None) -> bytes:
    """EXIF as a camera writes it, built byte by byte (Pillow writes no Interoperability IFD of its own): IFD0 ->
    EXIF IFD with ColorSpace (EXIF 2.32 sec. 4.6.5) -> Interoperability IFD with its index (DCF 2.0 sec. 5.2)."""
    import struct

    tiff = b"II*\x00" + struct.pack("<I", 8)
    tiff += struct.pack("<H", 1) + struct.pack("<HHII", 0x8769, 4, 1, 26) + struct.pack("<I", 0)
    entries = [struct.pack("<HHIHH", 0xA001, 3, 1, colour_space, 0)]
    if interop_index is not None:
        entries.append(struct.pack("<HHII", 0xA005, 4, 1, 26 + 2 + 12 * 2 + 4))
    tiff += struct.pack("<H", len(entries)) + b"".join(entries) + struct.pack("<I", 0)
    if interop_index is not None:
        tiff += struct.pack("<H", 1) + struct.pack("<HHI", 1, 2, 4) + interop_index + b"\x00" + struct.pack("<I", 0)
    return b"Exif\x00\x00" + tiff


def _colour_tags(exif_bytes: bytes | None) -> tuple[int | None, str | None]:
    exif = Image.Exif()
    exif.load(exif_bytes)
    return exif.get_ifd(0x8769).get(0xA001), exif.get_ifd(0xA005).get(1)


def test_an_adobe_rgb_photo_marked_only_by_its_exif_is_converted_as_littlecms_converts_its_profile(tmp_path) -> None:
    """Cameras set to Adobe RGB (Canon, Sony, Fujifilm) mark the JPEG by DCF's rule and embed no profile: it was
    read as sRGB, its colours desaturated. Expected: littlecms through an Adobe RGB (1998) profile of the
    published primaries and the 563/256 gamma, from the same stored codes."""
    from cevr_cli.io.colour import EXIF_ADOBE_RGB, EXIF_CONVERTED

    path = tmp_path / "adobe.jpg"
    Image.fromarray(_codes(), "RGB").save(path, quality=95, exif=_camera_exif(0xFFFF, b"R03"))
    photo = read_photo(path)
    adobe_icc = display_p3_profile("Adobe RGB (1998)", ADOBE_RGB_PRIMARIES, gamma_curve_tag(563 / 256))
    expected, colour, _ = to_srgb(_stored_codes(path), adobe_icc)
    assert colour.conversion == CONVERTED
    difference = np.abs(photo.rgb * 255.0 - expected)
    assert difference.max() <= 1.0 and difference.mean() < 0.1, (difference.max(), difference.mean())
    assert photo.colour == ColourSpace(EXIF_ADOBE_RGB, EXIF_CONVERTED) and photo.colour.warning() is None
    assert photo.icc_profile is None
    assert _colour_tags(photo.exif_bytes) == (1, "R98")  # outputs are sRGB: their EXIF must no longer say Adobe


@pytest.mark.parametrize("colour_space, index", [(0xFFFF, None), (0xFFFF, b"R98"), (1, b"R03")])
def test_exif_that_does_not_mark_adobe_rgb_leaves_the_photo_as_srgb(tmp_path, colour_space, index) -> None:
    path = tmp_path / "srgb.png"
    codes = _codes()
    Image.fromarray(codes, "RGB").save(path, exif=_camera_exif(colour_space, index))
    photo = read_photo(path)
    np.testing.assert_array_equal(np.round(photo.rgb * 255.0).astype(np.uint8), codes)
    assert photo.colour == ColourSpace("sRGB", ASSUMED)


def test_a_photo_converted_by_its_profile_carries_exif_that_says_srgb(tmp_path) -> None:
    """A Nikon in Adobe RGB embeds the profile and marks the EXIF too: once converted, the outputs (untagged) kept
    ColorSpace "uncalibrated" and index R03, which DCF-aware viewers show as Adobe RGB."""
    path = tmp_path / "adobe-icc.jpg"
    adobe_icc = display_p3_profile("Adobe RGB (1998)", ADOBE_RGB_PRIMARIES, gamma_curve_tag(563 / 256))
    Image.fromarray(_codes(), "RGB").save(path, quality=95, icc_profile=adobe_icc, exif=_camera_exif(0xFFFF, b"R03"))
    photo = read_photo(path)
    assert photo.colour == ColourSpace("Adobe RGB (1998)", CONVERTED)
    assert _colour_tags(photo.exif_bytes) == (1, "R98")
    srgb = tmp_path / "srgb-icc.jpg"
    Image.fromarray(_codes(), "RGB").save(srgb, quality=95, icc_profile=SRGB_ICC, exif=_camera_exif(1, b"R98"))
    with Image.open(srgb) as im:
        stored = im.getexif().tobytes()
    assert read_photo(srgb).exif_bytes == stored  # nothing to correct: carried as it was


def _iec_srgb_decode(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _iec_srgb_encode(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)


# Published linear RGB -> linear Rec.709 matrices, to 4 decimals: ITU-R BT.2087-0 (BT.2020 -> BT.709), and Display P3
# -> sRGB (both D65, so no adaptation). nclx code points (ITU-T H.273): 9 BT.2020, 12 Display P3.
@pytest.mark.parametrize(("primaries", "matrix"), [
    (9, [[1.6605, -0.5876, -0.0728], [-0.1246, 1.1329, -0.0083], [-0.0182, -0.1006, 1.1187]]),
    (12, [[1.2249, -0.2249, 0.0], [-0.0421, 1.0421, 0.0], [-0.0196, -0.0786, 1.0983]]),
])
def test_an_nclx_colour_description_converts_as_the_published_matrix(primaries: int, matrix: list) -> None:
    from cevr_cli.io.colour import nclx_to_srgb

    codes = np.array([[[200, 100, 50], [50, 180, 90], [30, 60, 220], [128, 128, 128], [90, 200, 200],
                       [255, 40, 120]]], np.uint8)
    out, colour = nclx_to_srgb(codes, {"color_primaries": primaries, "transfer_characteristics": 13})
    linear = np.clip(_iec_srgb_decode(codes / 255.0) @ np.array(matrix).T, 0.0, 1.0)
    expected = np.round(_iec_srgb_encode(linear) * 255.0)
    assert colour.converted
    assert np.abs(out.astype(np.float64) - expected).max() <= 1.0  # the matrices' 4 decimals: half a code at most


def test_a_d50_white_is_adapted_to_d65_by_lindblooms_bradford_matrix() -> None:
    """The adaptation to_rec709_matrix builds in for a D50 space (ProPhoto's primaries) is Bradford's D50 -> D65 XYZ
    matrix as Lindbloom tabulates it (whites XYZ (0.96422, 1, 0.82521) -> (0.95047, 1, 1.08883)); the 4-decimal D65
    (0.3127, 0.3290) of Rec.709 moves it by under 3e-4."""
    from cevr_cli.io.colour import REC709_CHROMATICITIES, rgb_to_xyz_matrix, to_rec709_matrix

    lindbloom = np.array([[0.9555766, -0.0230393, 0.0631636], [-0.0282895, 1.0099416, 0.0210077],
                          [0.0122982, -0.0204830, 1.3299098]])
    d50 = np.array([0.96422, 1.0, 0.82521])
    prophoto = (0.7347, 0.2653, 0.1596, 0.8404, 0.0366, 0.0001, *(d50[:2] / d50.sum()))
    adapt = rgb_to_xyz_matrix(REC709_CHROMATICITIES) @ to_rec709_matrix(prophoto) @ np.linalg.inv(
        rgb_to_xyz_matrix(prophoto))
    np.testing.assert_allclose(adapt, lindbloom, atol=4e-4)
