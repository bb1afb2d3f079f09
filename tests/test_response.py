"""Responses as values: round trips on every code, monotone curves, white point, hand values, profiles, routing."""

import json

import numpy as np
import pytest

from cevr_cli.errors import InputError, UsageError
from cevr_cli.response import (
    LINEAR,
    SRGB,
    PiecewiseLinear,
    camera_key,
    camera_prior,
    check_response_spec,
    choose_response,
    darktable_curves,
    darktable_response,
    gamma_response,
    load_profile,
    parse_response,
    profile_record,
    table_response,
)

CODES_8 = np.arange(256, dtype=np.float64) / 255
CODES_16 = np.arange(65536, dtype=np.float64) / 65535


def built_ins():
    return [SRGB, LINEAR, gamma_response(2.2), gamma_response(1.8), camera_prior(), darktable_response(0)]


@pytest.mark.parametrize("response", built_ins(), ids=lambda r: r.name)
@pytest.mark.parametrize("codes", [CODES_8, CODES_16], ids=["8-bit", "16-bit"])
def test_encode_inverts_decode_on_every_code(response, codes):
    rgb = np.repeat(codes[:, None], 3, axis=1).astype(np.float32)
    back = response.encode(response.decode(rgb))
    # float32 arithmetic: within 1/50 of the finest 16-bit step
    np.testing.assert_allclose(back, rgb, atol=3e-7)


@pytest.mark.parametrize("response", built_ins(), ids=lambda r: r.name)
def test_curves_are_monotone_with_white_at_one(response):
    x = np.linspace(0, 1, 4097, dtype=np.float32)[:, None].repeat(3, axis=1)
    y = response.encode(x)
    assert np.all(np.diff(y[:, 0]) >= 0) and np.diff(y[:, 0]).sum() > 0.99
    assert response.encode(np.ones((1, 3)))[0, 0] == pytest.approx(1.0)
    assert response.decode(np.ones((1, 3)))[0, 0] == pytest.approx(1.0)
    assert response.encode(np.full((1, 3), 4.0))[0, 0] == pytest.approx(1.0)  # clipped at the white point
    assert response.encode(np.zeros((1, 3)))[0, 0] == pytest.approx(0.0, abs=1e-7)
    # codes past the ends (an edited float photo) mean the light of the end codes
    assert response.decode(np.full((1, 3), 1.5))[0, 0] == pytest.approx(1.0)
    assert response.decode(np.full((1, 3), -0.25))[0, 0] == pytest.approx(0.0, abs=1e-7)


def test_built_ins_against_hand_values():
    half = np.full((1, 3), 0.5, dtype=np.float32)
    assert SRGB.decode(half)[0, 0] == pytest.approx(((0.5 + 0.055) / 1.055) ** 2.4, rel=1e-6)
    assert SRGB.decode(np.full((1, 3), 0.04))[0, 0] == pytest.approx(0.04 / 12.92, rel=1e-6)
    assert gamma_response(2.2).decode(half)[0, 0] == pytest.approx(0.5**2.2, rel=1e-6)
    assert gamma_response(2.2).encode(half)[0, 0] == pytest.approx(0.5 ** (1 / 2.2), rel=1e-6)
    assert LINEAR.decode(half)[0, 0] == 0.5


def test_the_camera_prior_is_the_mean_of_the_training_curves_only():
    table = darktable_curves()
    training = [i for i in range(len(table["names"])) if not table["validation"][i]]
    held_out = [i for i in range(len(table["names"])) if table["validation"][i]]
    assert held_out and len(training) > len(held_out)
    x = np.array([[0.01] * 3, [0.18] * 3, [0.5] * 3], dtype=np.float32)
    mean = np.mean([darktable_response(i).encode(x) for i in training], axis=0)
    np.testing.assert_allclose(camera_prior().encode(x), mean, atol=2e-3)
    with_held_out = np.mean([darktable_response(i).encode(x) for i in training + held_out], axis=0)
    assert np.abs(with_held_out - mean).max() > 2e-3  # the held-out curves would have moved it


def test_tables_refuse_curves_that_are_not_monotone_from_zero_to_one():
    codes = np.linspace(0, 1, 5)
    with pytest.raises(InputError, match="strictly increasing"):
        table_response("bad", codes, [0, 0.3, 0.2, 0.6, 1.0])
    with pytest.raises(InputError, match="from 0 to 1"):
        table_response("bad", codes, [0, 0.1, 0.2, 0.6, 0.9])
    with pytest.raises(InputError, match="strictly increasing"):  # a flat step has no inverse
        table_response("bad", codes, [0, 0.3, 0.3, 0.6, 1.0])
    with pytest.raises(InputError, match="from 0 to 1"):  # a white point off by 1e-4 is not normalised
        table_response("bad", codes, [0, 0.1, 0.2, 0.6, 0.9999])


def test_nodes_float32_cannot_tell_apart_are_interpolated_exactly_not_overflowed():
    curve = table_response("tiny steps", np.array([0.0, 5e-324, 1.0]), [0.0, 0.5, 1.0])
    np.testing.assert_allclose(curve.decode(np.array([0.0, 0.25, 1.0], np.float32)), [0.0, 0.625, 1.0], rtol=1e-6)
    assert np.all(np.isfinite(curve.encode(np.array([0.0, 0.5, 0.75], np.float32))))


def test_a_profile_nested_too_deep_is_an_input_error(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(InputError, match="nested too deep"):
        load_profile(path)


@pytest.mark.parametrize("linear", [[[[0, 0.1], [0.5, 0.6], [1, 1.1]]], [[[0], [0.5], [1]]], 0.5])
def test_tables_of_other_dimensions_are_refused_as_input_errors(linear):
    with pytest.raises(InputError, match="1 or 3 rows of N linear values"):
        table_response("bad", np.linspace(0, 1, 3), linear)


def test_per_channel_tables_apply_each_row_to_its_channel():
    codes = np.linspace(0, 1, 3)
    response = table_response("rgb", codes, [[0, 0.5, 1], [0, 0.25, 1], [0, 0.125, 1]])
    np.testing.assert_allclose(response.decode(np.full((1, 3), 0.5)), [[0.5, 0.25, 0.125]])


@pytest.mark.parametrize("values", [np.full((2, 4), 0.5), np.full((2, 4, 4), 0.5), np.float32(0.5)])
def test_per_channel_tables_refuse_values_that_are_not_one_per_channel(values):
    """An HxW image took the red curve in column 0, green in 1 and blue in every other; a scalar an IndexError."""
    response = table_response("rgb", np.linspace(0, 1, 3), [[0, 0.5, 1], [0, 0.25, 1], [0, 0.125, 1]])
    told = r"^response rgb: its curves are per channel, so values come as \(\.\.\., 3\)"
    for direction in (response.decode, response.encode):
        with pytest.raises(UsageError, match=told):
            direction(values)
    shared = table_response("grey", np.linspace(0, 1, 3), [0, 0.5, 1])  # one curve for every value: any shape
    np.testing.assert_allclose(shared.decode(values), np.full(np.shape(values), 0.5))


@pytest.mark.parametrize("xp, fp", [
    (np.linspace(0, 1, 5), np.array([0.0, 0.1, 0.5, 0.55, 1.0])),
    (np.atleast_2d(darktable_curves()["camera_prior"])[0], darktable_curves()["codes"]),  # R: light -> codes
    (darktable_curves()["codes"], np.atleast_2d(darktable_curves()["camera_prior"])[0]),  # R^-1
    (np.array([-2.0, 0.5, 3.0]), np.array([1.0, -1.0, 4.0])),  # any increasing nodes, any values
], ids=["five nodes", "camera R", "camera R^-1", "off the unit interval"])
def test_piecewise_linear_is_numpys_interp(xp, fp):
    curve = PiecewiseLinear(xp, fp)
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.uniform(xp[0] - 0.5, xp[-1] + 0.5, 20000), rng.uniform(xp[0], xp[-1], 20000) ** 3,
                             xp, np.nextafter(xp, -np.inf), np.nextafter(xp, np.inf)]).astype(np.float32)
    values = values[: len(values) // 8 * 8]
    expected = np.interp(values.astype(np.float64), xp, fp)
    got = curve(values.reshape(-1, 4, 2))
    assert got.dtype == np.float32 and got.shape == (len(values) // 8, 4, 2)
    np.testing.assert_allclose(got.ravel(), expected, rtol=0, atol=4e-7 * max(1.0, np.abs(fp).max()))


def test_piecewise_linear_walks_buckets_that_hold_many_nodes():
    rng = np.random.default_rng(1)
    # 14 nodes 1e-7 apart (float32 resolves them near 0.01): more than a million buckets would be needed
    xp = np.unique(np.concatenate([np.linspace(0.0, 1.0, 300), 0.01 + 1e-7 * np.arange(14)]))
    fp = np.sqrt(xp)
    curve = PiecewiseLinear(xp, fp)
    assert curve.buckets == PiecewiseLinear.MAX_BUCKETS and 10 < curve.steps <= PiecewiseLinear.MAX_STEPS
    values = np.concatenate([rng.random(50000), 0.01 + 4e-6 * rng.random(5000)]).astype(np.float32)
    np.testing.assert_allclose(curve(values), np.interp(values.astype(np.float64), xp, fp), rtol=0, atol=1e-6)


def test_piecewise_linear_binary_searches_where_a_flat_run_crowds_its_nodes():
    # a calibrated table's flat toe, stepped by 1e-9 over 1,200 nodes (calibrate.inverse_table's minimal step): the
    # bucket walk took 1,200 steps a value, 10.8 s a megapixel
    xp = np.concatenate([1e-3 + 1e-9 * np.arange(1200), np.linspace(0.01, 1.0, 200)])
    fp = np.linspace(0.0, 1.0, xp.size)
    curve = PiecewiseLinear(xp, fp)
    assert curve.steps > PiecewiseLinear.MAX_STEPS  # so it does not walk them
    values = np.random.default_rng(2).random(300_000).astype(np.float32)
    np.testing.assert_array_equal(curve(values), np.interp(values, xp, fp).astype(np.float32))


def test_a_slope_beyond_float32_binary_searches_without_a_warning():
    """Nodes 1e-300 apart (a hand-made profile's codes) have a slope of 5e299, finite in float64: its float32 copy
    overflowed with numpy's "overflow encountered in cast", which the CLI printed as a warning."""
    import warnings

    xp, fp = np.array([0.0, 1e-300, 1.0]), np.array([0.0, 0.5, 1.0])
    values = np.linspace(0.0, 1.0, 101, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        curve = PiecewiseLinear(xp, fp)
        out = curve(values)
    assert curve.binary_search
    np.testing.assert_array_equal(out, np.interp(values, xp, fp).astype(np.float32))  # 0.5 + x / 2 above 0


@pytest.mark.parametrize("spec, message", [("bogus", "use auto"), ("gamma:x", "gamma:2.2"), ("gamma:G", "gamma:2.2"),
                                           ("gamma:-2", "from 0.2 to 5"), ("gamma:1e9", "from 0.2 to 5"),
                                           ("gamma:nan", "from 0.2 to 5"), ("missing.json", "no such profile")])
def test_bad_specs_are_one_line_usage_errors(spec, message):
    with pytest.raises(UsageError, match=message):
        check_response_spec(spec)


def test_the_gamma_range_ends_are_accepted():
    assert check_response_spec("gamma:0.2") == "gamma:0.2" and check_response_spec("gamma:5") == "gamma:5"


@pytest.mark.parametrize("document, message", [
    ("{not json", "cannot read the response profile"),
    ([1, 2], "not a cevr response profile"),
    ({"format": "cevr-response", "version": "x", "codes": [0, 1], "linear": [[0, 1]]}, "version 'x' is not a whole"),
    ({"format": "cevr-response", "version": None, "codes": [0, 1], "linear": [[0, 1]]}, "version None is not"),
    ({"format": "cevr-response", "version": 1, "codes": [0, 0.5, 1], "linear": [[0, 0.6, 0.5]]},
     "strictly increasing"),
    ({"format": "cevr-response", "version": 1, "codes": [0, 0.5, 1], "linear": [["a", 0.6, 1]]}, "no usable 'codes'"),
    ({"format": "cevr-response", "codes": [0, 1], "linear": [[0, 1]]},  # was read as version 0
     "records no version .*: recalibrate the camera with `cevr calibrate`$"),
    ({"format": "cevr-response", "version": 2, "codes": [0, 1], "linear": [[0, 1]]},  # PROFILE_VERSION is 1
     "profile version 2 is newer than this cevr"),
])
def test_a_broken_profile_file_stops_the_request_before_any_photo(tmp_path, document, message):
    path = tmp_path / "broken.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    with pytest.raises(UsageError, match=message) as caught:
        check_response_spec(str(path))
    assert str(caught.value).startswith(f"--response {path}: ") and "\n" not in str(caught.value)


def test_a_huge_profile_file_is_refused_without_reading_it(tmp_path):
    """A profile file of hundreds of MB (a 121 MB one of 3 million nodes took 4 s a command and was used) was read
    whole into memory, parsed and indexed; a profile is at most 16 MiB (cevr calibrate's are under 0.1 MiB)."""
    record = profile_record(table_response("x", CODES_8, CODES_8**2.0), "Canon", "EOS 5D", "test")
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(record) + " " * (17 << 20))  # valid JSON: whitespace may follow the document
    with pytest.raises(UsageError) as caught:
        check_response_spec(str(path))
    assert str(caught.value) == f"--response {path}: too large for a response profile (17 MiB; a profile is at " \
        "most 16 MiB, `cevr calibrate` writes under 0.1 MiB)"
    path.write_text(json.dumps(record) + " " * ((16 << 20) - 1 - len(json.dumps(record))))  # 16 MiB less a byte
    assert load_profile(path).name == "profile:Canon EOS 5D"


def test_a_curve_that_rises_by_a_billionth_survives_its_profile(tmp_path):
    """A fitted curve is forced strictly increasing by 1e-9 steps across codes no pixel measured (calibrate's
    inverse_table); the profile must keep those steps, or load_profile refuses the curve as flat."""
    linear = CODES_8**2.2
    linear[15:21] = linear[15] + 1e-9 * np.arange(6)  # a plateau kept strictly increasing
    linear[21:] = np.maximum(linear[21:], linear[20] + 1e-9)
    linear /= linear[-1]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(profile_record(table_response("x", CODES_8, linear), "Canon", "EOS 5D", "test")))
    loaded = load_profile(path)
    np.testing.assert_array_equal(loaded.linear[0], linear)


def test_profiles_round_trip_and_refuse_what_is_not_one(tmp_path):
    response = table_response("x", CODES_8, CODES_8**2.0)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(profile_record(response, "Canon", "EOS 5D", "test")))
    loaded = parse_response(str(path))
    assert loaded.name == "profile:Canon EOS 5D"
    # linear interpolation of x^2 between codes: at most (1/255)^2 / 4 off
    np.testing.assert_allclose(loaded.decode(np.full((1, 3), 0.5)), 0.25, atol=(1 / 255) ** 2 / 4)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InputError, match="cannot read"):
        load_profile(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "something"}))
    with pytest.raises(InputError, match="not a cevr response profile"):
        load_profile(tmp_path / "other.json")
    (tmp_path / "new.json").write_text(json.dumps({**profile_record(response, "a", "b", "t"), "version": 99}))
    with pytest.raises(InputError, match="upgrade cevr"):
        load_profile(tmp_path / "new.json")
    unversioned = {key: value for key, value in profile_record(response, "a", "b", "t").items() if key != "version"}
    (tmp_path / "old.json").write_text(json.dumps(unversioned))
    with pytest.raises(InputError, match="recalibrate") as caught:
        load_profile(tmp_path / "old.json")
    assert caught.value.path == str(tmp_path / "old.json")


def test_auto_routes_by_what_the_file_says(tmp_path, monkeypatch):
    monkeypatch.setenv("CEVR_CONFIG_DIR", str(tmp_path))
    assert choose_response("auto", raw=True, make=None, model=None).response is LINEAR
    choice = choose_response("auto", raw=False, make="Canon", model="EOS 5D")
    assert choice.response.name == "camera" and choice.reason == "EXIF Make Canon, no profile: camera prior"
    assert choose_response("auto", raw=False, make=None, model=None).response is SRGB
    folder = tmp_path / "responses"
    folder.mkdir()
    record = profile_record(table_response("x", CODES_8, CODES_8**2.0), "Canon", "EOS 5D", "test")
    (folder / f"{camera_key('CANON', 'eos 5d')}.json").write_text(json.dumps(record))
    choice = choose_response("auto", raw=False, make="Canon", model="EOS 5D")
    assert choice.response.name == "profile:Canon EOS 5D" and "installed profile" in choice.reason
    assert choose_response("srgb", raw=False, make="Canon", model="EOS 5D").response is SRGB  # explicit wins


def test_auto_reads_cevrs_own_renderings_as_srgb_whatever_camera_they_name():
    """cevr's outputs from a RAW carry the camera's Make; their EXIF Software (cevr) says they are sRGB."""
    from cevr_cli.io.exif import CEVR_SOFTWARE

    choice = choose_response("auto", raw=False, make="Canon", model="EOS R5", software=CEVR_SOFTWARE)
    assert choice.response is SRGB and choice.reason == f"EXIF Software {CEVR_SOFTWARE}: cevr's own sRGB rendering"
    assert choose_response("auto", raw=False, make="Canon", model="EOS R5", software="Firmware 1.1").response.name \
        == "camera"
    assert choose_response("auto", raw=False, make="Canon", model=None, software="cevrish").response.name == "camera"


def test_the_srgb_curve_in_float32_matches_the_standard_formula_in_float64():
    # imaging.srgb_encode/decode compute in float32 (memory of 24 MP frames); the IEC formula in float64 agrees
    x = np.linspace(0, 1, 65536)
    encoded = np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)
    decoded = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    np.testing.assert_allclose(SRGB.encode(x), encoded, atol=3e-7)
    np.testing.assert_allclose(SRGB.decode(x), decoded, atol=3e-7)
    assert SRGB.encode(np.float32(0.5)).shape == ()  # scalars stay scalars


def test_a_profile_is_read_once_per_version_of_its_file(tmp_path):
    """A batch asks for the profile once per photo: the same file gives the same Response (its indexed curves kept);
    a rewritten file is read again."""
    import os

    path = tmp_path / "p.json"
    path.write_text(json.dumps(profile_record(table_response("x", CODES_8, CODES_8**2.0), "Canon", "A", "test")))
    first = load_profile(path)
    assert load_profile(str(path)) is first and parse_response(str(path)) is first
    path.write_text(json.dumps(profile_record(table_response("x", CODES_8, CODES_8**3.0), "Canon", "B", "test")))
    os.utime(path, ns=(1, 1))  # a rewrite within the file system's time resolution still changes the key's mtime
    second = load_profile(path)
    assert second is not first and second.name == "profile:Canon B"


@pytest.mark.parametrize("response", [SRGB, gamma_response(2.2)], ids=["srgb", "gamma"])
def test_integer_codes_decode_as_their_floats(response):
    codes = np.array([[128, 255, 0]], np.uint8)
    floats = response.decode(codes / np.float32(255))
    np.testing.assert_array_equal(response.decode(codes), floats)  # 128 was read as 128.0: white
    np.testing.assert_array_equal(response.decode(codes.astype(np.uint16) * 257), floats)


def test_a_profile_may_be_given_as_a_path(tmp_path):
    path = tmp_path / "p.json"  # a pathlib value, as notebooks pass profile paths (was an AttributeError)
    path.write_text(json.dumps(profile_record(table_response("x", CODES_8, CODES_8**2.0), "Canon", "EOS 5D", "t")))
    assert parse_response(path).name == parse_response(str(path)).name == "profile:Canon EOS 5D"
    assert check_response_spec(path) == str(path)  # kept as text: the request records it
    choice = choose_response(path, raw=False, make="Canon", model="EOS 5D")  # an AttributeError ('strip')
    assert choice.response.name == "profile:Canon EOS 5D" and choice.depends_on == (path.absolute(),)


@pytest.mark.parametrize("spec", [3, None, b"srgb"])
def test_a_response_that_is_neither_text_nor_a_path_is_a_usage_error(spec):
    with pytest.raises(UsageError, match=r"^--response .*: give a name \(auto, .*\) or a profile \.json path$"):
        check_response_spec(spec)


@pytest.mark.parametrize("gamma", ["2.2", None, True])
def test_a_gamma_that_is_no_number_is_a_usage_error(gamma):
    """Text or None raised math.isfinite's TypeError ('must be real number, not str'); True was gamma 1."""
    with pytest.raises(UsageError, match=r"^gamma .*: the gamma must be a number from 0\.2 to 5"):
        gamma_response(gamma)


@pytest.mark.parametrize(("codes", "linear"), [(["a", "b"], [0, 1]), ([0, 1], [[0, [1]]])])
def test_a_table_of_what_is_not_numbers_is_an_input_error(codes, linear):
    """numpy's ValueError ('could not convert string to float', 'inhomogeneous shape') escaped."""
    with pytest.raises(InputError, match=r"^bad: a response needs N codes and 1 or 3 rows of N linear values"):
        table_response("bad", codes, linear)
