"""cevr_cli.imaging: the array a library caller hands over as a photo."""

import numpy as np
import pytest

from cevr_cli.errors import UsageError
from cevr_cli.imaging import display_codes, float32_image


@pytest.mark.parametrize(("dtype", "white"), [(np.uint8, 255), (np.uint16, 65535)])
def test_integer_codes_are_scaled_by_their_type_s_white(dtype, white):
    codes = np.array([[[0, 1, white // 2], [white, 3, 7]]], dtype=dtype)
    out = display_codes(codes)
    assert out.dtype == np.float32 and out.shape == (1, 2, 3)
    np.testing.assert_array_equal(out, codes.astype(np.float32) / np.float32(white))
    assert out[0, 1, 0] == 1.0 and out[0, 0, 0] == 0.0


def test_floats_are_kept_and_clipped_to_the_code_range():
    image = np.array([[[-0.5, 0.25, 1.0001]]], dtype=np.float64)
    np.testing.assert_array_equal(display_codes(image), np.array([[[0.0, 0.25, 1.0]]], dtype=np.float32))
    beyond_float32 = np.array([[[1e39, -1e39, 0.5]]])  # finite: "2 values are NaN or infinite" once cast first
    np.testing.assert_array_equal(display_codes(beyond_float32), np.array([[[1.0, 0.0, 0.5]]], dtype=np.float32))


def test_float32_image_refuses_what_float32_cannot_hold_and_says_which():
    image = np.full((2, 2, 3), 0.5)
    np.testing.assert_array_equal(float32_image(image), np.full((2, 2, 3), 0.5, np.float32))
    assert float32_image(image).dtype == np.float32
    image[0, 0, :2] = [3.4e38, -1e39]  # the first is within float32's 3.403e38, the second not
    with pytest.raises(UsageError, match=r"^light: 1 values are out of range \(beyond float32's \+-3\.4e\+38\)$"):
        float32_image(image, "light")
    image[1, 1, 1] = np.nan
    with pytest.raises(UsageError, match=r"^light: 1 values are NaN or infinite$"):
        float32_image(image, "light")


def test_a_list_converts_like_an_array():
    assert display_codes([[[0.5, 0.5, 0.5]]]).shape == (1, 1, 3)


@pytest.mark.parametrize(("image", "told"), [
    (np.zeros((4, 4, 3), np.int32), "of type int32: give uint8 or uint16 codes, or floats in [0, 1]"),
    (np.zeros((4, 4, 3), bool), "expected a non-empty HxWx3 RGB photo, got shape (4, 4, 3) (bool)"),
    (np.zeros((4, 4, 4), np.uint8), "got shape (4, 4, 4) (uint8) (drop the alpha: image[..., :3])"),
    (np.zeros((4, 4), np.uint8), "got shape (4, 4) (uint8)"),
    (np.zeros((0, 4, 3), np.float32), "got shape (0, 4, 3)"),
])
def test_what_is_no_rgb_photo_is_refused_in_one_line(image, told):
    with pytest.raises(UsageError) as caught:
        display_codes(image)
    assert told in str(caught.value) and "\n" not in str(caught.value)


def test_non_finite_values_are_counted_and_refused():
    image = np.full((4, 4, 3), 0.5, np.float32)
    image[0, 0] = np.nan
    image[1, 1, 2] = np.inf
    with pytest.raises(UsageError, match=r"^photo: 4 values are NaN or infinite$"):
        display_codes(image)


def test_integer_codes_of_either_width_quantise_to_the_same_light():
    from cevr_cli.imaging import quantise, unit_codes

    codes8 = np.array([[[0, 1, 128], [254, 255, 7]]], np.uint8)
    np.testing.assert_array_equal(quantise(codes8, 16), codes8.astype(np.uint16) * 257)  # was {0, 65535} only
    np.testing.assert_array_equal(quantise(codes8.astype(np.uint16) * 257, 8), codes8)
    assert quantise(codes8, 8) is codes8  # already those codes
    np.testing.assert_array_equal(unit_codes(codes8), codes8 / np.float32(255))
    assert unit_codes(np.float64(0.25)) == 0.25  # floats as they are


def test_half_floats_quantise_to_the_codes_of_their_value():
    from cevr_cli.imaging import quantise

    half = np.array([[[0.0, 0.5, 1.0]]], np.float16)  # 0.5 * 65535 overflowed half float: every code was 0
    np.testing.assert_array_equal(quantise(half, 16), np.array([[[0, 32768, 65535]]], np.uint16))
    np.testing.assert_array_equal(quantise(half, 8), np.array([[[0, 128, 255]]], np.uint8))


@pytest.mark.parametrize("dtype", [np.int32, np.int64, bool])
def test_codes_of_unknown_white_are_refused_by_quantise(dtype):
    from cevr_cli.imaging import quantise

    with pytest.raises(UsageError, match=f"of type {np.dtype(dtype).name}: give floats, or uint8 or uint16 codes"):
        quantise(np.full((2, 2, 3), 200, dtype), 8)  # int32 200 was read as light 200: a white image


def test_complex_numbers_are_no_image():
    from cevr_cli.imaging import check_rgb

    told = r"^expected a non-empty HxWx3 RGB image, got shape \(2, 2, 3\) \(complex128\)$"
    with pytest.raises(UsageError, match=told):
        check_rgb(np.full((2, 2, 3), 0.5 + 0.5j))  # was taken, its imaginary part dropped with a ComplexWarning


def test_what_numpy_cannot_read_as_an_array_is_a_usage_error():
    import torch

    from cevr_cli.imaging import check_rgb

    for image in (torch.full((2, 2, 3), 0.5, dtype=torch.bfloat16), [[[0.5, 0.5, 0.5]], [[0.5, 0.5]]]):
        with pytest.raises(UsageError, match=r"^photo cannot be read as an array \(.+\): give a numpy array"):
            check_rgb(image, "photo")  # numpy's TypeError ('Got unsupported ScalarType BFloat16'), ValueError
    assert check_rgb(torch.full((2, 2, 3), 0.5)).dtype == np.float32  # what numpy reads stays readable


def test_luminance_weighs_each_primary_by_its_y_from_the_rec709_chromaticities():
    """SMPTE RP 177 worked by hand: primaries (x, y) -> XYZ columns (x/y, 1, z/y), scaled so that RGB (1, 1, 1) is
    D65 (0.3127, 0.3290) with Y = 1; each scale is that primary's Y. The standard's 4-decimal weights lie within
    1e-4 of these, and white is Y = 1."""
    from cevr_cli.imaging import luminance

    primaries = [(0.64, 0.33), (0.30, 0.60), (0.15, 0.06)]
    columns = np.array([[x / y, 1.0, (1.0 - x - y) / y] for x, y in primaries]).T
    white = np.array([0.3127 / 0.3290, 1.0, (1.0 - 0.3127 - 0.3290) / 0.3290])
    y_of_primary = np.linalg.solve(columns, white)
    np.testing.assert_allclose(luminance(np.eye(3)[None]), y_of_primary[None], atol=1e-4)
    assert luminance(np.ones((1, 1, 3)))[0, 0] == pytest.approx(1.0, abs=1e-12)
