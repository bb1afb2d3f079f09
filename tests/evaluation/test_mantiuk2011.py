"""HDR-VDP-2 against the MATLAB reference (2.2.1 run in GNU Octave), plus shapes, dtypes and bad input.

The golden figures come from tests/golden/make_hdrvdp2_golden.py; the pairs are rebuilt here from the
same recipe (tests/golden/hdrvdp2_pairs.py), so no Octave is needed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cevr_cli.errors import UsageError
from cevr_cli.evaluation.mantiuk2011 import (
    HdrVdp2Options,
    collapse_pyramid,
    hdrvdp2,
    ncsf,
    optical_mtf,
    pyramid_height,
    steerable_pyramid,
)
from tests.golden.hdrvdp2_pairs import pairs, scene

GOLDEN = json.loads((Path(__file__).resolve().parents[1] / "golden" / "hdrvdp2_golden.json").read_text())
REFERENCE = {row["name"]: row for row in GOLDEN["results"]}
PAIRS = {pair.name: pair for pair in pairs()}


def test_golden_covers_every_pair() -> None:
    assert set(REFERENCE) == set(PAIRS)
    assert len(PAIRS) >= 6


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_matches_matlab_reference(name: str) -> None:
    pair, ref = PAIRS[name], REFERENCE[name]
    assert list(pair.test.shape) == ref["shape"]
    res = hdrvdp2(pair.test, pair.reference, pair.encoding, pair.pixels_per_degree)
    assert res.Q == pytest.approx(ref["Q"], abs=0.5)
    assert res.P_det == pytest.approx(ref["P_det"], abs=0.02)
    assert res.C_max == pytest.approx(ref["C_max"], rel=0.02, abs=1e-6)


def test_result_maps_have_image_shape_and_range() -> None:
    ref = scene(64)
    res = hdrvdp2(ref * 1.5, ref, "rgb-bt.709", 30.0)
    assert res.P_map.shape == res.C_map.shape == (64, 64)
    assert res.P_map.dtype == res.C_map.dtype == np.float64
    assert 0.0 <= res.P_map.min() and res.P_map.max() <= 1.0
    assert res.P_det == pytest.approx(res.P_map.max())
    assert res.C_max == pytest.approx(res.C_map.max())
    assert isinstance(res.Q, float)


def test_identical_images_score_100() -> None:
    ref = scene(48)
    res = hdrvdp2(ref, ref.copy())
    assert res.Q == 100.0
    assert res.P_det == 0.0


def test_larger_distortion_scores_lower() -> None:
    ref = scene(64)
    noise = np.random.default_rng(5).random(ref.shape) - 0.5
    mild, strong = (hdrvdp2(ref * (1 + a * noise), ref) for a in (0.02, 0.2))
    assert strong.Q < mild.Q < 100.0
    assert strong.P_det > mild.P_det


def test_higher_peak_sensitivity_sees_more() -> None:
    ref = scene(64)
    test = ref * 0.8
    low = hdrvdp2(test, ref, options=HdrVdp2Options(peak_sensitivity=2.0))
    high = hdrvdp2(test, ref, options=HdrVdp2Options(peak_sensitivity=2.8))
    assert high.C_max > low.C_max


def test_luminance_accepts_2d_or_single_channel() -> None:
    lum = scene(48)[..., 1]
    a = hdrvdp2(lum * 1.2, lum, "luminance", 30.0)
    b = hdrvdp2((lum * 1.2)[..., None], lum[..., None], "luminance", 30.0)
    assert a.Q == b.Q and a.P_det == b.P_det


def test_float32_and_integer_inputs() -> None:
    ref = scene(48)
    test = ref * 1.3
    f64 = hdrvdp2(test, ref)
    f32 = hdrvdp2(test.astype(np.float32), ref.astype(np.float32))
    assert f32.Q == pytest.approx(f64.Q, abs=0.01)
    assert f32.P_det == pytest.approx(f64.P_det, abs=1e-3)
    ints = hdrvdp2(np.round(test).astype(np.uint16), np.round(ref).astype(np.uint16))
    assert np.isfinite(ints.Q)


@pytest.mark.parametrize(("test", "reference", "kwargs", "message"), [
    (np.ones((16, 16, 3)), np.ones((16, 17, 3)), {}, "differ in shape"),
    (-np.ones((16, 16, 3)), np.ones((16, 16, 3)), {}, "negative"),
    (np.full((16, 16, 3), np.nan), np.ones((16, 16, 3)), {}, "NaN"),
    (np.ones((16, 16, 3)), np.ones((16, 16, 3)), {"encoding": "srgb"}, "unknown colour encoding"),
    (np.ones((16, 16)), np.ones((16, 16)), {"encoding": "rgb-bt.709"}, "HxWx3"),
    (np.ones((16, 16, 3)), np.ones((16, 16, 3)), {"encoding": "luminance"}, "HxW or HxWx1"),
    (np.ones((16, 16, 3)), np.ones((16, 16, 3)), {"pixels_per_degree": 0.0}, "pixels per degree"),
    (np.ones((16, 16, 3)), np.ones((16, 16, 3)), {"options": HdrVdp2Options(rgb_display="oled")}, "rgb_display"),
    (np.ones((16, 16, 3)), np.ones((16, 16, 3)), {"options": HdrVdp2Options(surround_luminance=0)}, "surround"),
    (np.ones((16, 16, 3), dtype=complex), np.ones((16, 16, 3)), {}, "real numbers"),
])
def test_bad_input_raises_usage_error(test: np.ndarray, reference: np.ndarray, kwargs: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        hdrvdp2(test, reference, **kwargs)


def test_model_components_known_values() -> None:
    assert optical_mtf(np.array(0.0)) == pytest.approx(1.0)  # the optics pass the mean luminance
    assert float(optical_mtf(np.array(30.0))) < float(optical_mtf(np.array(1.0))) < 1.0
    # The nCSF peaks at a few cycles/degree and its peak rises with adapting luminance.
    rho = np.linspace(0.5, 30, 60)
    assert 1.0 < rho[np.argmax(ncsf(rho, 100.0))] < 8.0
    assert ncsf(4.0, 100.0) > ncsf(4.0, 0.1)


def test_pyramid_shapes_and_reconstruction() -> None:
    x = np.random.default_rng(0).random((70, 45))
    bands = steerable_pyramid(x)
    assert pyramid_height(x.shape) == 2
    assert [[b.shape for b in level] for level in bands] == [
        [(70, 45)], [(70, 45)] * 4, [(35, 23)] * 4, [(18, 12)]]
    smooth = np.outer(np.sin(np.linspace(0, 3, 70)), np.cos(np.linspace(0, 2, 45)))
    # sp3 is nearly self-inverting away from the mirrored borders.
    error = np.abs(collapse_pyramid(steerable_pyramid(smooth)) - smooth)
    assert error[10:-10, 10:-10].max() < 0.01
