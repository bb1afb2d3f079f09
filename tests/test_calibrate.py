"""`cevr calibrate`: a known response is recovered from a synthetic bracket rendered through it, profiles round-trip
and install where `--response auto` finds them, and every bad request stops with exit 2 before anything is written.

The truth is the response module's own curves (sRGB's closed form, darktable's held-out tables); the fit is read
back by plain linear interpolation of its table, so the comparison does not go through the fitting code.
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cevr_cli.calibrate import (
    calibrate,
    check_bracket,
    evs_from_exif,
    fit_basis,
    fit_bracket,
    installed_profile_facts,
    inverse_table,
    parse_bracket_evs,
)
from cevr_cli.cli import app
from cevr_cli.errors import UsageError
from cevr_cli.imaging import quantise
from cevr_cli.io.exif import ExifInfo
from cevr_cli.response import (
    SRGB,
    Response,
    choose_response,
    darktable_curves,
    darktable_response,
    gamma_response,
    load_profile,
)

runner = CliRunner()
BRACKET = list(range(-4, 5))  # 9 frames, EV -4..+4


def scene(height: int = 64, width: int = 96, lo: float = -16.0, hi: float = 4.0) -> np.ndarray:
    """Relative radiance (white = 1 at EV 0): a horizontal ramp over ``lo``..``hi`` stops, a wavy texture of
    +-1 stop and a colour cast varying over the frame, so every channel sees every level in some frame."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    stops = lo + (hi - lo) * (x + 0.5 * np.sin(y / 3.0)) / (width - 1)
    texture = 0.7 * np.sin(x / 2.3) * np.cos(y / 4.1) + 0.3 * np.sin(x * y / 17.0)
    cast = [0.6 * np.sin(y / 9.0 + 2.1 * c) * np.cos(x / 13.0 + c) for c in range(3)]
    return np.exp2(np.stack([stops + texture + cast[c] for c in range(3)], axis=-1))


def render(response: Response | list[Response], radiance: np.ndarray, evs: list[float]) -> list[np.ndarray]:
    """8-bit frames R(clip(2^ev L)), one response for all channels or one per channel."""
    per_channel = response if isinstance(response, list) else [response] * 3
    frames = []
    for ev in evs:
        light = np.clip(radiance * 2.0**ev, 0.0, 1.0).astype(np.float32)
        coded = np.stack([per_channel[c].encode(light)[..., c] for c in range(3)], axis=-1)
        frames.append(quantise(coded, 8))
    return frames


def code_errors(truth: Response, positions: np.ndarray, row: np.ndarray, lowest_light: float,
                channel: int = 0) -> tuple[float, float]:
    """(direct, aligned) max |R_fit(x) - R_true(x)| in 8-bit codes over x in [lowest_light, 1].

    direct compares the tables as they stand (both put the white point at 1); aligned first rescales the fit's
    light by the factor that minimises that maximum (searched on a grid of log factors): re-exposure
    R(2^s R^-1(y)) does not change when R^-1 is scaled, so aligned is the error that matters to it, and direct
    adds the uncertainty of the white point.
    """
    x = np.geomspace(lowest_light, 1.0, 2000)
    true_codes = truth.encode(np.repeat(x[:, None], 3, axis=1))[:, channel].astype(np.float64) * 255

    def worst(scale: float) -> float:
        inside = x * scale <= 1.0
        return float(np.max(np.abs(np.interp(x[inside] * scale, row, positions) * 255 - true_codes[inside])))

    best = 0.0
    for span in (0.5, 0.02, 0.001):
        grid = best + np.linspace(-span, span, 41)
        best = float(grid[np.argmin([worst(math.exp(v)) for v in grid])])
    return worst(1.0), worst(math.exp(best))


def held_out(name: str) -> Response:
    table = darktable_curves()
    index = [i for i, n in enumerate(table["names"]) if n == name][0]
    assert table["validation"][index]
    return darktable_response(index)


RADIANCE = scene()
LOWEST = float(RADIANCE.min()) * 2.0 ** max(BRACKET)  # the darkest light any frame recorded


# --- accuracy ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("truth", [held_out("canon eos like"), SRGB], ids=["canon-eos-like", "srgb"])
def test_debevec_recovers_a_known_curve(truth):
    fit = fit_bracket(render(truth, RADIANCE, BRACKET), BRACKET, "debevec")
    assert fit.shared and fit.linear.shape == (1, 256)
    direct, aligned = code_errors(truth, fit.positions, fit.linear[0], LOWEST)
    assert direct <= 1.0 and aligned <= 0.6, (direct, aligned)  # measured 0.39 / 0.39 (canon), 0.70 / 0.37 (sRGB)
    assert fit.covered[0] <= 2 / 255 and fit.covered[1] == 254 / 255
    assert fit.residual_codes < 0.6  # 8-bit rounding alone is 0.29 codes RMS


def test_robertson_runs_but_is_less_accurate_than_debevec():
    frames = render(SRGB, RADIANCE, BRACKET)
    aligned = {}
    for method in ("debevec", "robertson"):
        fit = fit_bracket(frames, BRACKET, method)
        aligned[method] = max(code_errors(SRGB, fit.positions, row, LOWEST)[1] for row in fit.linear)
    assert aligned["robertson"] < 3.0  # measured 2.02
    assert aligned["debevec"] < aligned["robertson"] / 3  # measured 0.37


def test_channels_with_different_curves_get_their_own_rows():
    truths = [SRGB, held_out("Nikon D90"), gamma_response(2.2)]
    fit = fit_bracket(render(truths, RADIANCE, BRACKET), BRACKET, "debevec")
    assert not fit.shared and fit.linear.shape == (3, 256)
    for c, truth in enumerate(truths):
        direct, aligned = code_errors(truth, fit.positions, fit.linear[c], LOWEST, c)
        assert direct <= 1.0 and aligned <= 0.8, (c, direct, aligned)  # measured at most 0.78 / 0.60


@pytest.mark.parametrize("truth", [held_out("canon eos like"), held_out("Nikon D90"), SRGB],
                         ids=["canon-eos-like", "nikon-d90", "srgb"])
def test_a_colour_cast_does_not_cost_the_weaker_channels_their_top_codes(truth):
    # red twice as bright as green and blue (warm light): green and blue show their top codes only where red
    # clipped, and an observation with a channel clipped is left out of the fit; without the codes it alone
    # shows, the curve was extrapolated over them and the white point read from the depleted level below
    # (measured 5.73 / 9.85 / 54.13 codes against 0.39 / 1.14 / 1.55)
    fit = fit_bracket(render(truth, RADIANCE * np.array([2.0, 1.0, 1.0]), BRACKET), BRACKET, "basis")
    for c in range(3):
        direct, _ = code_errors(truth, fit.positions, fit.linear[min(c, len(fit.linear) - 1)], LOWEST, c)
        assert direct <= 2.0, (c, direct)


def test_a_frame_that_changed_is_left_out_as_outliers(monkeypatch):
    truth = held_out("canon eos like")
    frames = render(truth, RADIANCE, BRACKET)
    moved = render(truth, RADIANCE[:, ::-1], BRACKET)[4]  # half of the middle frame shows another scene
    frames[4] = np.concatenate([moved[:, :48], frames[4][:, 48:]], axis=1)

    def worst(fit):
        return max(code_errors(truth, fit.positions, row, LOWEST, c)[1] for c, row in enumerate(fit.linear))

    fit = fit_bracket(frames, BRACKET, "debevec")
    assert worst(fit) <= 2.5 and fit.rejected > 0.02  # measured 1.78
    monkeypatch.setattr("cevr_cli.calibrate.OUTLIER_ROUNDS", 0)
    with pytest.raises(UsageError, match=r"do not agree with one curve .* by 77\.\d codes RMS"):  # kept: refused
        fit_bracket(frames, BRACKET, "debevec")
    monkeypatch.setattr("cevr_cli.calibrate.RESIDUAL_LIMIT_CODES", np.inf)
    assert worst(fit_bracket(frames, BRACKET, "debevec")) > 10  # measured 32.8: what the limit keeps from a user


def test_frames_of_different_scenes_fit_with_a_warning(tmp_path):
    """Each frame another random scene, brighter by its EV (so the order check passes): most readings disagree
    with their pixel's other frames, are left out, and the user is told to check the bracket."""
    rng = np.random.default_rng(5)
    paths = []
    for k, ev in enumerate((-2.0, 0.0, 2.0)):
        paths.append(tmp_path / f"m{k}.png")
        Image.fromarray(render(SRGB, np.exp(rng.normal(-3.0, 1.0, (64, 96, 3))), [ev])[0]).save(paths[-1])
    result = runner.invoke(app, ["calibrate", *map(str, paths), "--evs", "-2,0,2", "-o", str(tmp_path / "p.json")])
    assert result.exit_code == 0, result.output
    warning = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "disagree with their pixel's other frames" in warning[0], result.output
    assert json.loads((tmp_path / "p.json").read_text())["outliers"] > 0.5


def test_jpeg_frames_leave_out_what_lies_near_clipping():
    import io

    import cv2

    radiance = np.exp2(cv2.resize(np.log2(RADIANCE), (384, 256), interpolation=cv2.INTER_CUBIC))
    frames = []
    for frame in render(SRGB, radiance, BRACKET):
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format="JPEG", quality=92)
        frames.append(np.asarray(Image.open(buffer).convert("RGB")))
    lowest = float(radiance.min()) * 2.0 ** max(BRACKET)
    errors = {}
    for lossy in (False, True):
        fit = fit_bracket(frames, BRACKET, "debevec", lossy=lossy)
        errors[lossy] = [max(e) for e in zip(*(code_errors(SRGB, fit.positions, row, lowest, c)
                                               for c, row in enumerate(fit.linear)), strict=True)]
    # JPEG ringing pushes light above white into codes 250..254: measured 48.2 / 8.3 codes without the mask
    assert errors[False][0] > 20
    assert errors[True][0] <= 10 and errors[True][1] <= 5, errors  # measured 6.6 / 3.7
    # the default fit: with the codes near white left out, its components bent the curve's top up (the light at
    # the top code 40-75 % too high, 50.4 / 5.7 codes); above the 20 highest readings it is now a line
    fit = fit_bracket(frames, BRACKET, "basis", lossy=True)
    basis = [max(e) for e in zip(*(code_errors(SRGB, fit.positions, row, lowest, c)
                                   for c, row in enumerate(fit.linear)), strict=True)]
    assert basis[0] <= 5 and basis[1] <= 2.5, basis  # measured 2.37 / 1.14


@pytest.mark.parametrize("method", ["basis", "debevec", "robertson"])
def test_a_bracket_with_no_pixel_well_exposed_in_two_frames_is_refused_by_every_method(method):
    """Light 0.55..0.95 of white at EV 0 clips everywhere at EV +1: no pixel gives two readings, so nothing ties
    the codes to light. Debevec's and Robertson's fits returned a curve all the same (from smoothness alone, or
    the linear start), which calibrate wrote as a profile; the basis fit refused, saying the exposures were too
    far apart (they are 1 EV apart)."""
    _, x = np.mgrid[0:40, 0:60]
    frames = render(SRGB, np.repeat((0.55 + 0.4 * x / 59.0)[..., None], 3, axis=2), [0, 1])
    assert (frames[1] == 255).all() and 0 < frames[0].min() and frames[0].max() < 255
    with pytest.raises(UsageError, match=r"^no pixel is well exposed \(neither black nor white\) in two frames: the "
                                         r"bracket's exposures are too far apart for its scene, or its frames too "
                                         r"bright or too dark$"):
        fit_bracket(frames, [0, 1], method)


def test_table_is_a_valid_monotone_curve_from_a_narrow_bracket():
    frames = render(SRGB, scene(32, 48, -6.0, 1.0), [-1.0, 0.0, 1.0])
    for method in ("debevec", "basis"):
        fit = fit_bracket(frames, [-1.0, 0.0, 1.0], method)
        for row in fit.linear:
            assert row[0] == 0.0 and row[-1] == 1.0 and np.all(np.diff(row) > 0)


def test_a_dip_in_the_highest_observed_level_does_not_tilt_the_line_above_it_down():
    """Noise left the highest observed level (5 of 0..7) below the one before it: the line through the two has a
    negative slope, clamped to flat, so levels 6 and 7 keep level 5's light 0.45 and the table is the fit over
    0.45, with level 4's 0.5 cut to it by the running minimum. Unclamped, the line fell to 0.35 at the top code,
    the table was scaled by that instead and level 3 read 0.30 / 0.35 = 0.857 instead of 0.30 / 0.45 = 0.667."""
    positions = np.linspace(0.0, 1.0, 8)
    inverse = np.array([0.0, 0.1, 0.2, 0.3, 0.5, 0.45, np.nan, np.nan])
    counts = np.array([0, 5, 5, 5, 5, 5, 0, 0])
    table = inverse_table(inverse, counts, positions)
    expected = np.array([0.0, 0.1, 0.2, 0.3, 0.45, 0.45, 0.45, 0.45]) / 0.45
    np.testing.assert_allclose(table, expected, atol=1e-8)  # the steps of 1e-9 that keep it strictly increasing
    assert np.all(np.diff(table) > 0)


def test_the_basis_fit_stays_increasing_where_noise_and_few_codes_would_bend_it():
    """Two frames one stop apart of 400 pixels lit 0.1..0.6 of white, sRGB codes with noise of 2 codes: the codes
    seen span about 90..255, and the unconstrained least-squares fit of the basis fell (by 0.96 of white between
    two levels, measured). The fit's monotone penalty keeps it increasing and near the sRGB curve the frames were
    rendered through (within 0.032 of white, measured)."""
    rng = np.random.default_rng(2)
    light = np.exp(rng.uniform(np.log(0.1), np.log(0.6), 400))
    times = np.array([1.0, 2.0])
    exposed = np.clip(light[:, None] * times, 0.0, 1.0).astype(np.float32)
    codes = SRGB.encode(np.repeat(exposed[..., None], 3, axis=2))[..., 0] * 255 + rng.normal(0.0, 2.0, exposed.shape)
    fitted = fit_basis(np.clip(np.round(codes), 0, 255).astype(np.intp), times, 256)
    assert np.all(np.diff(fitted) > 0)
    truth = SRGB.decode(np.repeat(np.linspace(0.0, 1.0, 256, dtype=np.float32)[:, None], 3, axis=1))[:, 0]
    assert np.abs(fitted - truth).max() < 0.1


def test_sixteen_bit_frames_use_1024_levels():
    radiance = scene(32, 48)
    frames = [quantise(SRGB.encode(np.clip(radiance * 2.0**ev, 0, 1)), 16) for ev in BRACKET]
    fit = fit_bracket(frames, BRACKET, "debevec")
    assert fit.positions.size == 1024 and fit.positions[0] == 0 and fit.positions[-1] == 1
    lowest = float(radiance.min()) * 2.0 ** max(BRACKET)
    assert max(code_errors(SRGB, fit.positions, fit.linear[0], lowest)) <= 1.0  # measured 0.80


# --- EVs -------------------------------------------------------------------------------------------------------

def test_bracket_evs_keep_the_frames_order():
    assert parse_bracket_evs("2,-1,0") == [2.0, -1.0, 0.0]
    assert parse_bracket_evs("-4:4:2") == [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert parse_bracket_evs("1:-1:-0.5") == [1.0, 0.5, 0.0, -0.5, -1.0]
    assert 3 * 0.1 != 0.3 and parse_bracket_evs("0:0.3:0.1") == [0.0, 0.1, 0.2, 0.3]  # the stop despite float steps
    assert parse_bracket_evs("-8,8") == [-8.0, 8.0]  # brackets may exceed the model's +-6
    for bad in ("", "a,b", "0:4:0", "0:4:-1", "1:2", "nan,1"):
        with pytest.raises(UsageError):
            parse_bracket_evs(bad)
    for typo in ("-2,,0,2", "-2,0,2,", ",-2,0"):  # a frame's EV left out by mistake, not skipped
        with pytest.raises(UsageError, match=f"^--evs '{typo}': an empty item"):
            parse_bracket_evs(typo)


@pytest.mark.parametrize("typo", ["0,1_0", "0:1_0:5"])
def test_a_number_written_with_an_underscore_is_a_typo_as_in_stack(typo):
    """Python's float reads 1_0 as 10: `calibrate --evs 0,1_0` took a 10-stop bracket where `stack --evs 0,1_0`
    refuses the list."""
    with pytest.raises(UsageError, match=f"^--evs '{typo}': write a comma list"):
        parse_bracket_evs(typo)


def test_evs_from_exif_are_relative_stops_with_more_light_positive():
    infos = [ExifInfo(exposure_time=t, f_number=n, iso=iso) for t, n, iso in
             [(1 / 100, 8.0, 100), (1 / 25, 8.0, 100), (1 / 100, 4.0, 100), (1 / 100, 8.0, 400)]]
    evs = evs_from_exif(infos, ["a", "b", "c", "d"])
    # 4x the time, 2 stops wider aperture, 4x the ISO: each 2 stops more light than the first frame
    assert evs == pytest.approx([0.0, 2.0, 2.0, 2.0])
    with pytest.raises(UsageError, match="b.jpg"):
        evs_from_exif([infos[0], None], ["a.jpg", "b.jpg"])


def test_evs_from_exif_take_an_aperture_or_iso_no_frame_records_as_fixed():
    """A manual lens writes no FNumber: such a bracket was refused without --evs, though its exposure times say its
    steps (the aperture cannot change by itself between frames); one recorded in some frames only still is."""
    manual = [ExifInfo(exposure_time=t, iso=200) for t in (1 / 400, 1 / 100, 1 / 25)]
    assert evs_from_exif(manual, ["a", "b", "c"]) == pytest.approx([0.0, 2.0, 4.0])
    bare = [ExifInfo(exposure_time=t) for t in (1 / 100, 1 / 50)]
    assert evs_from_exif(bare, ["a", "b"]) == pytest.approx([0.0, 1.0])
    with pytest.raises(UsageError, match="no EXIF exposure time, aperture and ISO in b.jpg"):
        evs_from_exif([ExifInfo(exposure_time=0.01, f_number=8.0, iso=100), ExifInfo(exposure_time=0.01, iso=100)],
                      ["a.jpg", "b.jpg"])
    with pytest.raises(UsageError, match="in b.jpg"):  # the exposure time is needed
        evs_from_exif([ExifInfo(exposure_time=0.01), ExifInfo()], ["a.jpg", "b.jpg"])


def test_check_bracket():
    check_bracket([0.0, 1.0], 2)
    check_bracket(np.array([-8.0, 8.0]), 2)  # numbers of any kind, and beyond the model's +-6 EV
    for evs, frames in (([0.0], 1), ([0.0, 1.0, 2.0], 2), ([1.0, 0.0, 1.0], 3)):
        with pytest.raises(UsageError):
            check_bracket(evs, frames)
    check_bracket([0.0, 0.01], 2)  # a hundredth of a stop apart: two exposures
    with pytest.raises(UsageError, match="two frames have the same EV"):
        check_bracket([0.0, 0.005], 2)


@pytest.mark.parametrize("evs", [[-2000.0, 0.0, 2000.0], [0.0, 1100.0, 1101.0], [-101.0, 0.0, 2.0]])
def test_a_brackets_evs_are_refused_beyond_100_stops(evs):
    """--evs -2000,0,2000 ended in a traceback (numpy's 'array of sample points is empty': 2^-2000 is 0 and 2^2000
    inf in float64); -60,0,60, within range, fits and is told the frames do not agree."""
    frames = render(SRGB, RADIANCE, [-2, 0, 2])
    with pytest.raises(UsageError, match=r"^bracket EV [-+](2000|1100|101) is out of range: a frame's EV is its "
                                         r"exposure in stops relative to the others, from -100 to \+100$"):
        fit_bracket(frames, evs)
    check_bracket([-100.0, 0.0, 100.0], 3)


def test_frames_of_one_exposure_are_named(tmp_path):
    """EVs read from EXIF are relative to the first frame: 'the same EV (+3)' alone did not say which two of a
    9-frame bracket were one exposure."""
    frames = write_bracket(tmp_path / "bracket", evs=(-2, -1, 0, 1))
    again = tmp_path / "bracket" / "f1 copy.png"
    again.write_bytes(frames[1].read_bytes())
    result = runner.invoke(app, ["calibrate", *map(str, frames), str(again), "-o", str(tmp_path / "p.json"), "-q"])
    assert result.exit_code == 2, result.output
    assert f"the same EV (+1) ({frames[1]} and {again})" in " ".join(result.output.split()), result.output
    with pytest.raises(UsageError, match=r"\(b.png and c.png\)"):
        check_bracket([0.0, 1.0, 0.0], 3, ["b.png", "d.png", "c.png"])


def test_namesake_frames_are_told_apart_by_their_folders(tmp_path):
    """Two folders' f0.png: 'f0.png is 64x40 but f0.png is 64x48' named neither."""
    big = write_bracket(tmp_path / "a", evs=(0,))[0]
    small = write_bracket(tmp_path / "b", evs=(1,), size=(40, 64))[0]
    result = runner.invoke(app, ["calibrate", str(big), str(small), "--evs", "0,1", "-o", str(tmp_path / "p.json"),
                                 "-q"])
    assert result.exit_code == 2
    assert f"{small} is 64x40 but {big} is 64x48" in " ".join(result.output.split()), result.output
    darker = write_bracket(tmp_path / "c", evs=(1,))[0]
    brighter = write_bracket(tmp_path / "d", evs=(0,))[0]
    result = runner.invoke(app, ["calibrate", str(darker), str(brighter), "--evs", "0,1", "-o",
                                 str(tmp_path / "p.json"), "-q"])
    assert result.exit_code == 2
    assert f"{brighter} (EV +1) is not brighter than {darker} (EV +0)" in " ".join(result.output.split())


@pytest.mark.parametrize("evs", [[-np.inf, 0.0, 1.0], [0.0, np.nan, 1.0], "-1,0,1", ["-1", "0", "1"], [None, 0, 1]])
def test_a_brackets_evs_are_finite_numbers(evs):
    """-inf reached the fit (numpy's 'array of sample points is empty'); a string was read character by character."""
    frames = render(SRGB, RADIANCE, [-1.0, 0.0, 1.0])
    with pytest.raises(UsageError, match=r"^bracket EVs .*: give finite numbers, one per frame"):
        fit_bracket(frames, evs)


# --- files and the CLI -----------------------------------------------------------------------------------------

def exif_bytes(make: str | None, exposure_time: float | None) -> bytes:
    exif = Image.Exif()
    if make:
        exif[0x010F] = make
        exif[0x0110] = "Testcam 1"
    if exposure_time:
        sub = exif.get_ifd(0x8769)
        sub[0x829A], sub[0x829D], sub[0x8827] = exposure_time, 8.0, 100
    return exif.tobytes()


def write_bracket(folder, evs=(-2, -1, 0, 1, 2), make="Testmaker", with_exposure=True, size=(48, 64)):
    """PNG frames of a small scene through sRGB, with EXIF camera and exposure time (1/100 s at EV 0)."""
    folder.mkdir(parents=True, exist_ok=True)
    radiance = scene(*size, lo=-12.0, hi=2.0)
    paths = []
    for k, (ev, frame) in enumerate(zip(evs, render(SRGB, radiance, list(evs)), strict=True)):
        path = folder / f"f{k}.png"
        Image.fromarray(frame).save(path, exif=exif_bytes(make, 2.0**ev / 100 if with_exposure else None))
        paths.append(path)
    return paths


def files_under(folder):
    """Every file under ``folder`` with its content: nothing written, nothing overwritten."""
    return sorted((p, p.read_bytes()) for p in folder.rglob("*") if p.is_file())


def test_cli_writes_a_profile_that_round_trips(tmp_path):
    frames = write_bracket(tmp_path / "bracket", with_exposure=False)
    out = tmp_path / "profile.json"
    result = runner.invoke(app, ["calibrate", *map(str, frames), "--evs", "-2:2:1", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["format"] == "cevr-response" and document["method"] == "basis"
    assert document["make"] == "Testmaker" and document["model"] == "Testcam 1"
    assert document["evs"] == [-2, -1, 0, 1, 2] and document["frames"] == 5
    # the basis fit's channels differ by up to 2.6 codes on this 5-frame bracket (measured), so they may not share
    assert document["channels"] == ("shared" if len(document["linear"]) == 1 else "per-channel")
    assert 0 <= document["outliers"] < 0.1 and 0 < document["samples"] <= 48 * 64
    assert 0 < document["residual_codes_rms"] < 1
    profile = load_profile(out)
    assert np.allclose(profile.codes, document["codes"]) and np.allclose(profile.linear, document["linear"])
    codes = np.linspace(0, 1, 256, dtype=np.float32)[:, None].repeat(3, axis=1)
    assert np.max(np.abs(profile.encode(profile.decode(codes)) - codes)) < 1e-6
    assert json.loads(result.stdout)["written"] == [str(out)] and json.loads(result.stdout)["warnings"] == []


def test_a_profile_at_o_is_replaced_and_another_file_only_with_overwrite(tmp_path):
    """Calibrating again into the same -o replaces the profile (a recalibration); a file there that is not a
    profile is replaced only when --overwrite says so."""
    frames = write_bracket(tmp_path / "bracket")
    out = tmp_path / "profile.json"
    args = ["calibrate", *map(str, frames), "-o", str(out), "-q"]
    assert runner.invoke(app, args).exit_code == 0
    first = out.read_text()
    assert runner.invoke(app, [*args, "--method", "debevec"]).exit_code == 0
    assert json.loads(out.read_text())["method"] == "debevec" and out.read_text() != first
    out.write_text("notes")
    assert runner.invoke(app, args).exit_code == 2 and out.read_text() == "notes"
    assert runner.invoke(app, [*args, "--overwrite"]).exit_code == 0
    assert json.loads(out.read_text())["format"] == "cevr-response"


def test_evs_come_from_exif_when_not_given(tmp_path):
    frames = write_bracket(tmp_path / "bracket", evs=(0, 2, -2))
    result = calibrate(frames)
    assert result.evs == pytest.approx((0.0, 2.0, -2.0), abs=1e-3)
    assert result.record()["files"] == ["f0.png", "f1.png", "f2.png"]


def test_cevrs_own_16_bit_tiff_frames_give_their_evs_from_their_xmp(tmp_path):
    """16-bit TIFF stack frames carry their exposure in XMP only (no EXIF IFD): read back, a bracket of them needs
    no --evs (cevr's frames at -2..+2 EV of a photo at 1/100 s say 1/400 .. 1/25 s: stops from the first frame)."""
    photo = write_bracket(tmp_path / "shot", evs=(0,))[0]
    result = runner.invoke(app, ["stack", str(photo), "-o", str(tmp_path / "stack"), "--evs", "-2:2:1", "--format",
                                 "tiff", "--model", "physics", "-q"])
    assert result.exit_code == 0, result.output
    frames = sorted((tmp_path / "stack" / "f0").glob("*.tif"))
    assert calibrate(frames).evs == pytest.approx((0.0, 1.0, 2.0, 3.0, 4.0), abs=1e-3)


def test_install_puts_the_profile_where_auto_finds_it(tmp_path, monkeypatch):
    monkeypatch.setenv("CEVR_CONFIG_DIR", str(tmp_path / "config"))
    frames = write_bracket(tmp_path / "bracket")
    result = runner.invoke(app, ["calibrate", *map(str, frames), "--install", "--make", "Other Maker", "--quiet"])
    assert result.exit_code == 0, result.output
    installed = tmp_path / "config" / "responses" / "other-maker__testcam-1.json"
    assert [p for p, _ in files_under(tmp_path / "config")] == [installed]
    choice = choose_response("auto", raw=False, make="OTHER MAKER", model="Testcam 1")
    assert "installed profile" in choice.reason
    assert np.array_equal(choice.response.linear, load_profile(installed).linear)
    assert installed_profile_facts() == [{"path": str(installed), "make": "Other Maker", "model": "Testcam 1",
                                          "problem": None}]
    document = json.loads(installed.read_text())
    document["linear"][0][20] = document["linear"][0][19]  # flat: auto would refuse it
    installed.write_text(json.dumps(document))
    (fact,) = installed_profile_facts()
    assert fact["make"] == "Other Maker" and fact["problem"].startswith("broken: the linear values must be finite")
    result = runner.invoke(app, ["info"])
    assert f"{installed} (Other Maker Testcam 1) broken: the linear values" in " ".join(result.output.split())


def test_info_says_which_installed_profiles_auto_does_not_use(tmp_path, monkeypatch):
    """`auto` finds a camera's profile by its file name: a profile copied into the folder under a name of its own
    was listed as installed for its camera, with no problem, and never used; one named for another camera is used for
    that camera's photos. A JSON list there read "unreadable ('list' object has no attribute 'get')"."""
    monkeypatch.setenv("CEVR_CONFIG_DIR", str(tmp_path / "config"))
    frames = write_bracket(tmp_path / "bracket")
    assert runner.invoke(app, ["calibrate", *map(str, frames), "--install", "-q"]).exit_code == 0
    folder = tmp_path / "config" / "responses"
    installed = folder / "testmaker__testcam-1.json"
    text = installed.read_text()
    (folder / "d750.json").write_text(text)
    (folder / "nikon__d750.json").write_text(text)
    (folder / "list.json").write_text("[1, 2]")
    document = json.loads(text)
    document["make"] = None
    (folder / "nomake.json").write_text(json.dumps(document))
    problems = {Path(f["path"]).name: f["problem"] for f in installed_profile_facts()}
    assert problems["testmaker__testcam-1.json"] is None
    for name in ("d750.json", "nikon__d750.json"):  # beside the installed one, which renaming it would replace
        assert problems[name] == ("not used for Testmaker Testcam 1: --response auto reads testmaker__testcam-1.json, "
                                  "installed beside it; remove this copy, or rename it so to replace that profile")
    installed.unlink()
    problems = {Path(f["path"]).name: f["problem"] for f in installed_profile_facts()}
    assert problems["d750.json"] == ("not used for Testmaker Testcam 1: --response auto looks for its profile as "
                                     "testmaker__testcam-1.json; rename it so (or install it with cevr calibrate "
                                     "--install)")
    installed.write_text(text)
    assert problems["list.json"].startswith("broken: not a cevr response profile")
    assert problems["nomake.json"].startswith("not used: it records no camera make")
    result = runner.invoke(app, ["info"])
    assert f"{folder / 'd750.json'} (Testmaker Testcam 1) not used for Testmaker Testcam 1" in " ".join(
        result.output.split())


def test_an_install_that_fails_after_o_was_written_says_both(tmp_path, monkeypatch):
    """A full disk where the profile is installed: one line naming the install path and the reason, saying the -o
    file was written (it is complete, so the calibration need not be run again to keep it); exit 2."""
    import errno

    import cevr_cli.io.atomic

    monkeypatch.setenv("CEVR_CONFIG_DIR", str(tmp_path / "config"))
    sync = cevr_cli.io.atomic._sync

    def full_below_config(path):  # the disk is full when the written bytes are flushed to it
        if Path(path).is_relative_to(tmp_path / "config"):
            raise OSError(errno.ENOSPC, "No space left on device")
        sync(path)

    monkeypatch.setattr(cevr_cli.io.atomic, "_sync", full_below_config)
    frames = write_bracket(tmp_path / "bracket")
    profile = tmp_path / "cam.json"
    result = runner.invoke(app, ["calibrate", *map(str, frames), "-o", str(profile), "--install", "--quiet"])
    assert result.exit_code == 2
    installed = tmp_path / "config" / "responses" / "testmaker__testcam-1.json"
    assert " ".join(result.output.split()) == (f"error: {installed}: cannot write the profile (No space left on "
                                               f"device); {profile} was written")
    assert np.array_equal(load_profile(profile).linear, calibrate(frames).response.linear)


def test_info_lists_installed_profiles(tmp_path, monkeypatch):
    import cevr_cli.diagnostics

    facts = {"cevr": "x", "profiles": [{"path": "/p/a.json", "make": "Canon", "model": "EOS 5D"}]}
    monkeypatch.setattr(cevr_cli.diagnostics, "collect_info", lambda: facts)
    result = runner.invoke(app, ["info"])
    assert result.exit_code == 0 and "/p/a.json (Canon EOS 5D)" in result.output


@pytest.mark.parametrize(("case", "message"), [
    ("one frame", "{bracket}/f0.png is the only photo given: calibrating needs a bracket: at least two photos"),
    ("one frame with an ev", "{bracket}/f0.png is the only photo given: calibrating needs a bracket"),
    ("sizes", "share one size"),
    ("duplicate evs", "same EV"),
    ("no evs", "no --evs and no EXIF"),
    ("evs count", "3 EVs for 5 frames"),
    ("unwritable", "cannot write"),
    ("install without make", "needs the camera's make"),
    ("empty make", "--make is empty: give the camera's make, or leave --make out to read it from EXIF"),
    ("no destination", "-o PROFILE.json"),
    ("evs reversed", "{bracket}/f3.png (EV -1) is not brighter than {bracket}/f4.png (EV -2): give the EVs in the "
                     "frames' order"),
    ("one exposure", "{bracket}/c1.png (EV -1) is not brighter than {bracket}/c0.png (EV -2)"),
    ("a frame twice", "f2.png is given twice: each frame of a bracket is its own photo"),
    ("a photo as -o", "f0.png: a profile is a JSON file: give a name ending in .json"),  # -o IMG_*.JPG
    ("a frame as -o", "f0.png: that is one of the frames"),
    ("another file as -o", "profile.json: exists and is not a cevr profile; give another name, or --overwrite"),
])
def test_bad_requests_exit_2_with_one_line_and_write_nothing(tmp_path, monkeypatch, case, message):
    monkeypatch.setenv("CEVR_CONFIG_DIR", str(tmp_path / "config"))
    frames = write_bracket(tmp_path / "bracket", make=None if case == "install without make" else "Testmaker",
                           with_exposure=case != "no evs")
    out = tmp_path / "out" / "profile.json"
    args = ["calibrate", *map(str, frames), "-o", str(out)]
    if case in ("one frame", "one frame with an ev"):
        args = ["calibrate", str(frames[0]), "-o", str(out)]
        args += ["--evs", "0"] if case == "one frame with an ev" else []
    elif case == "sizes":
        write_bracket(tmp_path / "small", size=(40, 64))
        args = ["calibrate", *map(str, frames[:2]), str(tmp_path / "small" / "f2.png"), "-o", str(out)]
    elif case == "duplicate evs":
        args += ["--evs", "-2,-1,0,0,2"]
    elif case == "evs count":
        args += ["--evs", "-1,0,1"]
    elif case == "unwritable":
        (tmp_path / "out").write_text("a file where the profile's folder should be")
    elif case == "install without make":
        args += ["--install"]
    elif case == "empty make":  # the frames have an EXIF Make: the error was "the frames have no EXIF Make"
        args += ["--make", " ", "--install"]
    elif case == "no destination":
        args = ["calibrate", *map(str, frames)]
    elif case == "evs reversed":  # the frames go -2..+2; the EVs say +2..-2
        args += ["--evs", "2:-2:-1"]
    elif case == "one exposure":  # five copies of one frame, called a bracket
        copies = [tmp_path / "bracket" / f"c{k}.png" for k in range(5)]
        for copy in copies:
            copy.write_bytes(frames[2].read_bytes())
        args = ["calibrate", *map(str, copies), "-o", str(out), "--evs", "-2:2:1"]
    elif case == "a frame twice":
        args = ["calibrate", *map(str, frames[:3]), str(frames[2]), "-o", str(out), "--evs", "-2:1:1"]
    elif case == "a photo as -o":  # the shell expanded `-o f*.png`: the first photo follows -o
        args = ["calibrate", "-o", *map(str, frames), "--evs", "-1:2:1"]
    elif case == "a frame as -o":
        args = ["calibrate", *map(str, frames), "-o", str(frames[0])]
    elif case == "another file as -o":  # a file of the user's that happens to have the name
        out.parent.mkdir()
        out.write_text('{"important": 1}')
    before = files_under(tmp_path)
    message = message.replace("{bracket}/", str(tmp_path / "bracket" / "_")[:-1])  # frames are named as given
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()  # progress ("reading f0.png") comes before an error of the fit's
    errors = [line for line in lines if line.startswith("error:")]
    assert errors == [lines[-1]] and message in lines[-1], result.output
    # only what the pixels tell is refused after the frames are read: frames of two sizes were refused after
    # "reading" lines for the frames before the odd one, though their headers say it
    assert all(line.startswith("reading ") for line in lines[:-1]), result.output
    assert (len(lines) > 1) == (case in ("evs reversed", "one exposure")), result.output
    assert files_under(tmp_path) == before


def test_install_without_a_make_is_refused_before_any_frame_is_decoded(tmp_path, monkeypatch):
    """The make comes from the first frame's EXIF header: a bracket without one is refused with install_path's
    line before a frame is read for the fit or the curve fitted (seconds to minutes), and nothing is written."""
    import cevr_cli.calibrate as calibrate_module
    import cevr_cli.io.images as images

    def must_not_run(*args, **kwargs):
        raise AssertionError("the bracket was read or fitted before --install was refused")

    monkeypatch.setattr(calibrate_module, "fit_samples", must_not_run)
    monkeypatch.setattr(images, "read_photo", must_not_run)
    monkeypatch.setenv("CEVR_CONFIG_DIR", str(tmp_path / "config"))
    frames = write_bracket(tmp_path / "bracket", make=None)
    before = files_under(tmp_path)
    result = runner.invoke(app, ["calibrate", *map(str, frames), "-o", str(tmp_path / "p.json"), "--install"])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        "error: --install needs the camera's make: the frames have no EXIF Make; give --make (and --model)"]
    assert files_under(tmp_path) == before


def test_help_lists_calibrate_without_importing_numpy_for_it():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "calibrate" in result.output
    import subprocess
    import sys

    code = "import sys, cevr_cli.cli.calibrate; print('cevr_cli.calibrate' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_frames_of_two_cameras_are_refused(tmp_path):
    """A bracket whose frames' EXIF names two cameras fitted one curve to both and recorded the first camera's make
    and model (exit 0, 6 % of the readings left out, no warning): a wrong profile for both cameras."""
    frames = write_bracket(tmp_path / "a", evs=(-2, 0, 2))
    other = write_bracket(tmp_path / "b", evs=(-2, 0, 2), make="Othermaker")  # model "Testcam 1" too
    plain = write_bracket(tmp_path / "c", evs=(-2, 0, 2), make=None)  # no EXIF camera: nothing to compare
    out = tmp_path / "out" / "profile.json"
    before = files_under(tmp_path)
    result = runner.invoke(app, ["calibrate", str(frames[0]), str(frames[1]), str(other[2]), "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [  # told by the headers, before a frame is read ("reading" lines)
        f"error: {other[2]} is from Othermaker Testcam 1 but {frames[0]} from Testmaker Testcam 1 (EXIF Make and "
        "Model): the frames of a bracket come from one camera, whose curve the profile holds"]
    assert files_under(tmp_path) == before
    # one camera, written in another case, or frames without a camera in EXIF beside it: one bracket
    renamed = write_bracket(tmp_path / "d", evs=(-2, 0, 2), make="TESTMAKER")
    result = runner.invoke(app, ["calibrate", str(plain[0]), str(frames[1]), str(renamed[2]), "-o", str(out)])
    assert result.exit_code == 0, result.output


def test_a_folder_gives_its_photos_in_name_order(tmp_path):
    from cevr_cli.calibrate import bracket_frames

    for name in ("IMG_0003.JPG", "IMG_0001.jpg", "IMG_0002.tif", "notes.txt", "IMG_0004.CR2", ".hidden.jpg"):
        (tmp_path / name).write_bytes(b"x")
    in_order = [tmp_path / "IMG_0001.jpg", tmp_path / "IMG_0002.tif", tmp_path / "IMG_0003.JPG"]
    assert bracket_frames([tmp_path]) == in_order
    assert bracket_frames([tmp_path / "IMG_0003.JPG", tmp_path]) == [tmp_path / "IMG_0003.JPG", *in_order]


def test_a_folder_without_photos_is_named(tmp_path):
    """A folder of no photos (the wrong one, or the bracket in its subfolders) said only "calibrating needs a
    bracket: at least two photos", though other frames were given beside it."""
    frames = write_bracket(tmp_path / "bracket")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("x")
    for args in ([str(tmp_path / "empty")], [*map(str, frames), str(tmp_path / "empty")]):
        before = files_under(tmp_path)
        result = runner.invoke(app, ["calibrate", *args, "-o", str(tmp_path / "p.json")])
        assert result.exit_code == 2
        assert " ".join(result.output.split()) == (f"error: no photos found in {tmp_path / 'empty'} (JPEG, PNG, TIFF, "
                                                   "HEIC/HEIF, AVIF or WebP frames; its subfolders are not searched)")
        assert files_under(tmp_path) == before


def test_an_unreadable_installed_profile_is_a_problem_cevr_info_names(tmp_path, monkeypatch):
    monkeypatch.setenv("CEVR_CONFIG_DIR", str(tmp_path / "config"))
    folder = tmp_path / "config" / "responses"
    folder.mkdir(parents=True)
    (folder / "testmake__tm-1.json").write_text('{"format": "cevr-response-prof')  # cut short
    (folder / "other__x.json").mkdir()  # a folder of a profile's name: auto passes it over
    (folder / "deep__x.json").write_text("[" * 100000 + "]" * 100000)
    facts = {Path(f["path"]).name: f for f in installed_profile_facts()}
    assert facts["deep__x.json"]["problem"].startswith("unreadable (maximum recursion depth exceeded")
    assert facts["deep__x.json"]["problem"].endswith("the photos --response auto matches to it by its name fail "
                                                     "until it is replaced or removed")
    assert facts["testmake__tm-1.json"]["make"] is None
    assert facts["testmake__tm-1.json"]["problem"].startswith("unreadable (Unterminated string")
    assert facts["testmake__tm-1.json"]["problem"].endswith("the photos --response auto matches to it by its name "
                                                            "fail until it is replaced or removed")
    assert facts["other__x.json"]["problem"] == ("unreadable (Is a directory); the photos --response auto matches to "
                                                 "it by its name use the camera prior until it is replaced or "
                                                 "removed")
    result = runner.invoke(app, ["info"])
    assert f"{folder / 'testmake__tm-1.json'} unreadable (" in " ".join(result.output.split())


def test_camera_keys_keep_letters_of_any_script_and_ignore_case_and_punctuation():
    from cevr_cli.response import camera_key

    assert camera_key("Canon", "EOS 5D Mark II") == "canon__eos-5d-mark-ii"
    assert camera_key("NIKON CORPORATION", "NIKON D90") == camera_key("Nikon Corporation", "Nikon-D90")
    assert camera_key("Ünï cödé", "X*?:<>|") == "ünï-cödé__x" != camera_key("N.C.D", "x")
    assert camera_key("   ", None) == "unknown__unknown" and "/" not in camera_key("../../evil", "a/b")
    long_a, long_b = camera_key("Make", "M" * 300), camera_key("Make", "M" * 299)  # a file name has 255 bytes
    assert len(long_a.encode()) == len(long_b.encode()) == 200 and long_a != long_b
    assert long_a.startswith("make__" + "m" * 100) and long_a == camera_key("MAKE", "m" * 300)  # found again


def test_a_missing_frame_is_named_before_the_evs_are_counted(tmp_path):
    frames = write_bracket(tmp_path / "bracket")
    result = runner.invoke(app, ["calibrate", *map(str, frames), str(tmp_path / "nosuch"), "--evs", "-4:4:1",
                                 "-o", str(tmp_path / "p.json")])
    assert result.exit_code == 2 and f"{tmp_path / 'nosuch'}: file not found" in result.output, result.output
    again = runner.invoke(app, ["calibrate", *map(str, frames), str(frames[1]), "--evs", "-4:4:1",
                                "-o", str(tmp_path / "p.json")])
    assert again.exit_code == 2 and f"{frames[1].name} is given twice" in again.output, again.output
    assert not (tmp_path / "p.json").exists()


@pytest.mark.parametrize("method", ["basis", "debevec", "robertson"])
def test_a_bracket_of_only_black_and_white_pixels_is_too_few_codes_not_a_traceback(method):
    black, white = np.zeros((16, 16, 3), np.uint8), np.full((16, 16, 3), 255, np.uint8)
    speckled = np.where(np.random.default_rng(0).random((16, 16, 1)) > 0.5, white, black)
    for frames in ([black, white], [black, speckled]):
        with pytest.raises(UsageError, match="^the bracket reaches too few codes to fit a curve"):
            fit_bracket(frames, [0.0, 1.0], method)


def test_install_refuses_frames_cevr_made_and_o_alone_still_writes_their_fit(tmp_path, monkeypatch):
    """A stack folder's frames re-expose one photo through the curve cevr assumed for it: installed under the
    camera's name, that assumption passed for the camera's calibration (``cevr info`` listed it as one)."""
    monkeypatch.setenv("CEVR_CONFIG_DIR", str(tmp_path / "config"))
    photo = write_bracket(tmp_path / "one", evs=(0.0,))[0]
    made = runner.invoke(app, ["stack", str(photo), "-o", str(tmp_path / "stacks"), "--evs", "-2:2:1", "--model",
                               "physics", "-q"])
    assert made.exit_code == 0, made.output
    folder = tmp_path / "stacks" / photo.stem
    refused = runner.invoke(app, ["calibrate", str(folder), "--evs", "-2:2:1", "--install"], env={"COLUMNS": "300"})
    assert refused.exit_code == 2, refused.output
    assert " ".join(refused.output.split()).startswith(f"error: --install: {folder / '00_ev-2.00'}")
    assert "is a frame cevr made" in refused.output and not (tmp_path / "config").exists()
    written = runner.invoke(app, ["calibrate", str(folder), "--evs", "-2:2:1", "-o", str(tmp_path / "p.json")])
    assert written.exit_code == 0, written.output
    assert (tmp_path / "p.json").is_file()


@pytest.mark.parametrize(("power", "used"), [(8.0, 4.0), (0.25, 0.5), (2.2, 2.2)])
def test_below_the_darkest_seen_code_the_curve_is_a_power_law_of_a_clamped_exponent(power, used):
    """Levels 50..200 of 255 seen, light = code^power there: below level 50 the table follows code^k, k fitted on
    the darkest levels and held within 0.5..4 (a steeper or flatter toe is noise on a few dark codes)."""
    from cevr_cli.calibrate import inverse_table, level_positions

    positions = level_positions(8)
    counts = np.zeros(256, np.int64)
    counts[50:201] = 1
    row = inverse_table(positions**power, counts, positions)
    toe = slice(30, 50)  # darker, code^8 falls below the table's least step (1e-9 a level)
    np.testing.assert_allclose(row[toe] / row[50], (positions[toe] / positions[50]) ** used, rtol=1e-6)


def test_max_megapixels_is_calibrates_too(tmp_path):
    """A frame past the 250 MP limit was refused "(limit 250 MP, see --max-megapixels)", an option `cevr calibrate`
    did not have (No such option): a bracket of larger frames (a pixel-shift mode's) could not be calibrated. The
    limit is calibrate's too, read as stack, fuse and tonemap read it."""
    frames = write_bracket(tmp_path / "bracket", evs=(-1, 0, 1), with_exposure=False)  # 64x48: 0.003072 MP
    out = tmp_path / "p.json"
    args = ["calibrate", *map(str, frames), "--evs", "-1:1:1", "-o", str(out), "-q"]
    result = runner.invoke(app, [*args, "--max-megapixels", "0.003"])
    assert result.exit_code == 1 and not out.exists()
    assert result.output.splitlines() == [f"error: {frames[0]}: too large: 64x48 px, 0.00307 MP (limit 0.003 MP, see "
                                          "--max-megapixels)"]
    refused = runner.invoke(app, [*args, "--max-megapixels", "0"])
    assert (refused.exit_code, refused.output.splitlines()) == (2, ["error: --max-megapixels 0: must be > 0"])
    assert runner.invoke(app, [*args, "--max-megapixels", "0.0031"]).exit_code == 0 and out.is_file()


@pytest.mark.parametrize(("stop", "code", "label"), [("ctrl-c", 130, "interrupted"), ("sigterm", 143, "terminated")])
def test_a_stopped_calibration_says_it_starts_over_and_under_json_prints_the_stop(tmp_path, monkeypatch, stop, code,
                                                                                  label):
    """A Ctrl-C while the frames were read said "finished outputs are kept; run the same command again to resume"
    (there are none, and nothing resumes: a calibration reads its bracket again), and under --json left stdout empty,
    where a stopped batch prints its summary and a command stopped as it loads {"exit_code": 130, "interrupted":
    true}."""
    import cevr_cli.io.images
    from cevr_cli.cli.common import Terminated

    frames = write_bracket(tmp_path / "bracket", evs=(-1, 0, 1), with_exposure=False)
    read, seen = cevr_cli.io.images.read_photo, []

    def read_then_stop(path, *args, **kwargs):
        seen.append(path)
        if len(seen) == 2:
            raise Terminated if stop == "sigterm" else KeyboardInterrupt
        return read(path, *args, **kwargs)

    monkeypatch.setattr(cevr_cli.io.images, "read_photo", read_then_stop)
    out = tmp_path / "p.json"
    result = runner.invoke(app, ["calibrate", *map(str, frames), "--evs", "-1:1:1", "-o", str(out), "--json"])
    assert result.exit_code == code and not out.exists()
    assert json.loads(result.stdout) == {"exit_code": code, "interrupted": True}
    assert result.stderr.splitlines() == [f"{label}: nothing was written; a calibration starts over when run again"]


def test_a_frames_decoder_warning_is_one_line_naming_it(tmp_path):
    """Pillow's "Corrupt EXIF data" of a frame came three times: twice without a name, from the frames' header check
    before the first was read, then once naming it as it was decoded (stack says it once, named)."""
    from tests.raw_containers import jpeg_with_exif

    frames = [tmp_path / "a.jpg", tmp_path / "b.jpg"]
    for frame in frames:  # the EXIF cut off after its first entry's header
        frame.write_bytes(jpeg_with_exif(b"MM\x00*\x00\x00\x00\x08\x00\x05\x01\x0f\x00\x02\x00\x00"))
    result = runner.invoke(app, ["calibrate", *map(str, frames), "--evs", "0,1", "-o", str(tmp_path / "p.json")])
    warned = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warned == [f"warning: {frame}: Corrupt EXIF data. Expecting to read 12 bytes but only got 6."
                      for frame in frames]
