"""Options declared once (cevr_cli.options): validation at construction, the request record, and the CLI's flags
built from the same declaration, with the same one-line refusals and exit 2."""

from dataclasses import dataclass, fields

import numpy as np
import pytest
from typer.testing import CliRunner

from cevr_cli.cli import app
from cevr_cli.errors import UsageError
from cevr_cli.options import Given, given, option, option_specs, request_record, validate
from cevr_cli.tonemap import TonemapOptions
from cevr_cli.vocabulary import DISPLAY_FORMATS, TONE_MAPPERS


@dataclass(frozen=True)
class Example:
    mode: str = option("a", "Mode.", choices=("a", "b"), request=True)
    rate: float = option(1.0, "Rate.", gt=0, le=10, request=True)
    count: int | None = option(None, "Count.", flag="--n", ge=1)
    verbose: bool = option(False, "Chatty.")

    def __post_init__(self) -> None:
        validate(self)


@pytest.mark.parametrize(("values", "message"), [
    ({"mode": "c"}, "--mode 'c': use one of a, b"),
    ({"rate": 0.0}, "--rate 0: must be > 0"),
    ({"rate": -1}, "--rate -1: must be > 0"),
    ({"rate": 10.5}, "--rate 10.5: must be <= 10"),
    ({"rate": float("nan")}, "--rate nan: must be a finite number"),
    ({"rate": "2"}, "--rate '2': must be a number"),
    ({"rate": True}, "--rate True: must be a number"),
    ({"rate": np.bool_(True)}, "--rate True: must be a number"),
    ({"rate": np.float32(0)}, "--rate 0.0: must be > 0"),
    ({"count": 0}, "--n 0: must be >= 1"),
])
def test_each_bad_value_is_refused_with_the_cli_line(values, message):
    with pytest.raises(UsageError) as caught:
        Example(**values)
    assert str(caught.value) == message and caught.value.exit_code == 2


def test_good_values_pass_and_the_record_holds_the_request_fields_only():
    assert request_record(Example(mode="b", rate=10, count=3, verbose=True)) == {"mode": "b", "rate": 10}
    assert Example(count=None).count is None  # optional fields are not bounded when unset


def test_numpy_numbers_are_numbers_and_recorded_as_python_ones():
    """np.float32(2.2) was refused as 'must be a number'; kept, it would not go into a JSON request."""
    example = Example(rate=np.float32(2.5), count=np.int64(3))
    assert request_record(example) == {"mode": "a", "rate": 2.5} and example.count == 3
    assert type(example.rate) is float and type(example.count) is int
    assert TonemapOptions(gamma=np.float32(2.5)).gamma == 2.5


def test_a_value_given_at_its_default_counts_as_given_and_is_unwrapped():
    """The CLI passes each flag on its command line as Given: `--gamma 2.2` is asked for, though 2.2 is the default
    (a conflict found by comparing with the default missed it)."""
    asked = Example(rate=Given(1.0), mode=Given("b"))
    assert asked == Example(rate=1.0, mode="b") and type(asked.rate) is float and asked.mode == "b"
    assert request_record(asked) == {"mode": "b", "rate": 1.0}
    assert given(asked, "rate") and given(asked, "mode") and not given(asked, "count")
    assert not given(Example(), "rate") and given(Example(rate=2.0), "rate")  # a library caller's other value
    with pytest.raises(UsageError, match=r"^--rate 0: must be > 0$"):
        Example(rate=Given(0.0))


def test_specs_are_read_from_the_class_in_order():
    specs = option_specs(Example)
    assert list(specs) == [f.name for f in fields(Example)]
    spec, default = specs["count"]
    assert default is None and spec.flag_for("count") == "--n" and spec.bounds == ((">=", 1.0),)
    assert specs["mode"][0].choices == ("a", "b") and specs["mode"][0].request


# --- TonemapOptions, the first stage that declares its options this way ---------------------------------

BAD_TONEMAP = [
    ({"tmo": "bogus"}, ["--tmo", "bogus"], f"--tmo 'bogus': use one of {', '.join(TONE_MAPPERS)}"),
    ({"image_format": "bmp"}, ["--format", "bmp"], f"--format 'bmp': use one of {', '.join(DISPLAY_FORMATS)}"),
    ({"gamma": -1.0}, ["--gamma", "-1"], "--gamma -1: must be >= 0.1"),
    ({"gamma": 0.0}, ["--gamma", "0"], "--gamma 0: must be >= 0.1"),
    ({"gamma": 1e308}, ["--gamma", "1e308"], "--gamma 1e+308: must be <= 10"),  # gave white images
    ({"key": 0.0}, ["--key", "0"], "--key 0: must be >= 0.001"),
    ({"key": 1e308}, ["--key", "1e308"], "--key 1e+308: must be <= 100"),  # overflowed to black images
    ({"white": -2.0}, ["--white", "-2"], "--white -2: must be >= 0.001"),
    ({"white": 1e308}, ["--white", "1e308"], "--white 1e+308: must be <= 1e+100"),  # an OverflowError traceback
    ({"white": float("nan")}, ["--white", "nan"], "--white nan: must be a finite number"),
    ({"gamma": float("inf")}, ["--gamma", "inf"], "--gamma inf: must be a finite number"),
    ({"tmo": "kimkautz", "key": 0.2}, ["--tmo", "kimkautz", "--key", "0.2"],
     "--tmo kimkautz takes no --key or --white"),
    # --gamma was silently ignored: the sRGB curve made the same pixels whatever it said (and a rerun redid them)
    ({"srgb": True, "gamma": 1.8}, ["--srgb", "--gamma", "1.8"],
     "--srgb encodes with the sRGB curve, which takes no --gamma (got 1.8): give one or the other"),
    # at the default value too: --srgb --gamma 2.2 was accepted, --srgb --gamma 1.8 refused
    ({"srgb": True, "gamma": Given(2.2)}, ["--srgb", "--gamma", "2.2"],
     "--srgb encodes with the sRGB curve, which takes no --gamma (got 2.2): give one or the other"),
    ({"srgb": Given(True), "gamma": Given(2.2)}, ["--gamma", "2.2", "--srgb"],
     "--srgb encodes with the sRGB curve, which takes no --gamma (got 2.2): give one or the other"),
]


@pytest.mark.parametrize(("values", "_", "message"), BAD_TONEMAP)
def test_tonemap_options_refuse_each_bad_field_at_construction(values, _, message):
    with pytest.raises(UsageError) as caught:
        TonemapOptions(**values)
    assert str(caught.value) == message


@pytest.mark.parametrize(("_", "argv", "message"), BAD_TONEMAP)
def test_cevr_tonemap_refuses_them_with_the_same_line_and_exit_2(tmp_path, _, argv, message):
    result = CliRunner().invoke(app, ["tonemap", str(tmp_path / "missing.exr"), "-o", str(tmp_path / "out"), *argv])
    assert result.exit_code == 2
    assert f"error: {message}" in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv", [["--srgb"], ["--gamma", "2.2"], ["--gamma", "1.8"]])
def test_srgb_alone_and_gamma_alone_are_requests(tmp_path, argv):
    result = CliRunner().invoke(app, ["tonemap", str(tmp_path / "missing.exr"), "-o", str(tmp_path / "out"), *argv])
    assert result.exit_code == 1 and "file not found" in result.output  # the request ran: its input failed


def test_a_bad_tonemap_value_is_one_usage_error_before_any_file_is_read(tmp_path):
    """Issue 23 item 17: --gamma/--key/--white were checked per file and reported without the file; they are
    checked once, before the inputs are looked at: one line, exit 2, nothing written, whatever the files."""
    from cevr_cli.io.hdrfile import write_exr

    for name in ("a.exr", "b.exr"):
        write_exr(tmp_path / name, np.ones((8, 8, 3), np.float32))
    result = CliRunner().invoke(app, ["tonemap", str(tmp_path / "a.exr"), str(tmp_path / "b.exr"), "-o",
                                      str(tmp_path / "out"), "--gamma", "-1"])
    assert result.exit_code == 2 and result.output.strip() == "error: --gamma -1: must be >= 0.1"
    assert not (tmp_path / "out").exists()


def test_the_tonemap_flags_are_the_declarations():
    """Each flag's default and help in `cevr tonemap --help` come from TonemapOptions."""
    result = CliRunner().invoke(app, ["tonemap", "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for name, (spec, default) in option_specs(TonemapOptions).items():
        assert spec.flag_for(name) in text and " ".join(spec.help.split()) in text
        if default not in (None, False):
            assert f"[default: {default}]" in text
    assert "--format <png|jpg|tiff>" in text and "--tmo <reinhard|reinhard-local|kimkautz>" in text
    assert request_record(TonemapOptions()) == {"tmo": "reinhard", "image_format": "png", "key": None, "white": None,
                                                "gamma": 2.2, "srgb": False}
