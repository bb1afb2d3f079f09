"""Baseline predictors: shapes, identity at EV 0, and hand-computed exposures."""

from __future__ import annotations

import numpy as np
import pytest

from cevr_cli.errors import UsageError
from cevr_cli.evaluation.baselines import AkyuzExpansion, NaiveExposure
from cevr_cli.response import SRGB


def _image() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.uniform(0.02, 0.98, (12, 10, 3)).astype(np.float32)


def test_naive_exposure_matches_hand_formula() -> None:
    rgb = _image()
    out = NaiveExposure().predict(rgb, [-1.0, 0.0, 1.5])
    assert out.shape == (3, 12, 10, 3) and out.dtype == np.float32
    for stack, ev in zip(out, [-1.0, 0.0, 1.5], strict=True):
        expected = np.clip(rgb.astype(np.float64) ** 2.2 * 2**ev, 0, 1) ** (1 / 2.2)
        np.testing.assert_allclose(stack, expected, atol=1e-5)


def test_naive_exposure_srgb_round_trip_and_mid_grey() -> None:
    curve = SRGB
    rgb = _image()
    np.testing.assert_allclose(NaiveExposure(curve).predict(rgb, [0.0])[0], rgb, atol=1e-5)
    # sRGB code 0.5 is linear 0.21404; one stop up is 0.42808
    # -> sRGB 1.055 * 0.42808^(1/2.4) - 0.055 = 0.68584.
    grey = np.full((2, 2, 3), 0.5, np.float32)
    assert NaiveExposure(curve).predict(grey, [1.0])[0, 0, 0, 0] == pytest.approx(0.68584, abs=1e-4)


def test_akyuz_identity_at_zero_and_monotone_in_ev() -> None:
    rgb = _image()
    model = AkyuzExpansion()
    out = model.predict(rgb, [-2.0, -1.0, 0.0, 1.0, 2.0])
    np.testing.assert_allclose(out[2], rgb, atol=1e-5)
    means = out.reshape(5, -1).mean(axis=1)
    assert np.all(np.diff(means) > 0)
    assert out.min() >= 0 and out.max() <= 1
    assert "akyuz2007" in model.name and "naive" in NaiveExposure().name


def test_akyuz_expansion_follows_the_paper_formula() -> None:
    rgb = _image()
    k, gamma = 1000.0, 1.0
    hdr = AkyuzExpansion(gamma=gamma, max_luminance=k).expand(rgb)
    lin = rgb.astype(np.float64) ** 2.2
    lum = lin @ np.array([0.2126, 0.7152, 0.0722])
    expected = k * ((lum - lum.min()) / (lum.max() - lum.min())) ** gamma
    np.testing.assert_allclose(hdr @ np.array([0.2126, 0.7152, 0.0722]), expected, rtol=1e-4, atol=1e-3)
    # With gamma 1 an exposure step keeps the black level and scales the rest: Ld' = lo + 2^s (Ld - lo).
    one_up_rgb = AkyuzExpansion().predict(rgb, [1.0])[0].astype(np.float64)
    one_up = one_up_rgb**2.2 @ np.array([0.2126, 0.7152, 0.0722])
    want = lum.min() + 2 * (lum - lum.min())
    unclipped = (lin * (want / lum)[..., None]).max(axis=-1) < 1
    np.testing.assert_allclose(one_up[unclipped], want[unclipped], rtol=1e-3)


def test_baselines_read_integer_codes_by_their_type_and_refuse_non_finite_steps() -> None:
    codes = np.arange(4 * 5 * 3, dtype=np.uint16).reshape(4, 5, 3) * 1000
    for predictor in (NaiveExposure(), AkyuzExpansion()):
        np.testing.assert_array_equal(predictor.predict(codes, [-1.0, 0.5]),
                                      predictor.predict(codes.astype(np.float32) / 65535, [-1.0, 0.5]))
        with pytest.raises(UsageError, match="inf is not a finite step"):
            predictor.predict(codes, [float("inf")])
        with pytest.raises(UsageError, match=r"^EV list \[\]: give at least one EV"):  # was np.stack's ValueError
            predictor.predict(codes, [])
        assert list(predictor.iter_predictions(codes, [])) == []  # none asked, none made, as CEVR's
