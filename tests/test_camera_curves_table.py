"""The camera-JPEG response table derived from darktable's base-curve presets (``cevr_cli/data/darktable_curves.npz``).

Built by ``tests/golden/make_camera_curves.py`` from darktable's ``src/iop/basecurve.c``; see
``cevr_cli/data/README.md``.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest


def _srgb_encode(v: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB encoding."""
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * np.power(v, 1 / 2.4) - 0.055)


@pytest.fixture(scope="module")
def table() -> dict[str, np.ndarray]:
    with resources.files("cevr_cli").joinpath("data/darktable_curves.npz").open("rb") as f, np.load(f) as d:
        return {k: d[k] for k in d.files}


def test_shapes(table: dict[str, np.ndarray]) -> None:
    k = len(table["names"])
    assert k >= 20
    np.testing.assert_array_equal(table["codes"], np.linspace(0, 1, 4096))
    assert table["linear"].shape == (k, 4096) and table["linear"].dtype == np.float64
    assert table["makers"].shape == table["validation"].shape == (k,)
    assert table["validation"].dtype == bool and 0.2 <= table["validation"].mean() <= 0.3
    assert table["camera_prior"].shape == (4096,) and table["camera_prior"].dtype == np.float64
    assert str(table["source"]).startswith("darktable-org/darktable src/iop/basecurve.c @ ")
    assert len(set(table["makers"][table["validation"]])) >= 4  # held-out curves spread over makers


def test_inverse_curves_strictly_increasing_from_0_to_1(table: dict[str, np.ndarray]) -> None:
    for inv in [*table["linear"], table["camera_prior"]]:
        assert inv[0] == 0 and inv[-1] == 1
        assert np.all(np.diff(inv) > 0)


def test_prior_within_training_curves(table: dict[str, np.ndarray]) -> None:
    train = table["linear"][~table["validation"]]
    prior = table["camera_prior"]
    assert np.all(prior >= train.min(axis=0) - 1e-12) and np.all(prior <= train.max(axis=0) + 1e-12)


def test_prior_is_the_mean_response_of_the_training_curves_only(table: dict[str, np.ndarray]) -> None:
    codes, fine = table["codes"], np.linspace(0, 1, 65536)
    responses = np.stack([np.interp(fine, inv, codes) for inv in table["linear"]])  # R_k(x) from R_k^-1
    train = responses[~table["validation"]].mean(axis=0)
    np.testing.assert_allclose(np.interp(codes, train, fine), table["camera_prior"], rtol=0, atol=1e-6)
    with_held_out = np.interp(codes, responses.mean(axis=0), fine)
    assert np.abs(with_held_out - table["camera_prior"]).max() > 1e-4


def test_curve_passes_through_its_nodes(table: dict[str, np.ndarray]) -> None:
    # darktable basecurve.c preset "Nikon D7000" (nikon d7000 by Edouard Gomez), monotone Hermite nodes:
    x = np.array([0.000000, 0.001943, 0.019814, 0.080784, 0.145700, 0.295961, 0.651915, 1.000000])
    y = np.array([0.000000, 0.003040, 0.028810, 0.210476, 0.383873, 0.654041, 0.952819, 1.000000])
    k = list(table["names"]).index("Nikon D7000")
    response_at_nodes = np.interp(x, table["linear"][k], table["codes"])  # R(x) from the stored R^-1
    np.testing.assert_allclose(response_at_nodes, _srgb_encode(y), rtol=0, atol=1e-6)
