"""Properties every tone mapper must have by its equations, checked on small random images.

- Uniform in, uniform out: every step is a function of the pixel's own L and of image-wide statistics
  (the local operator's blur of a uniform image is uniform under circular borders).
- Hue: ChangeLuminance multiplies all three channels by the same Ld / L, so channel ratios are kept.
- Monotone in L for the global operators: Ls (1 + Ls/W^2) / (1 + Ls) strictly increases with Ls;
  Kim-Kautz's exponent c2 k2 (Ll - mu) increases with Ll for k1 > 1 (its derivative is
  k1 + (1 - k1) w (1 - (Ll - mu)^2 / sigma^2) >= 1), and the percentile clip only flattens it.
- Exposure: scaling the image by k leaves the automatic key (log ratios), white point (ratio Lmax/Lmin),
  Ls = a L / Lav (Lav scales by k too, so also with a fixed key and white) and Kim-Kautz's k1, sigma, w, k2
  unchanged, and Kim-Kautz's rescale to [0, 1] removes the factor k from Ld. Only the 1e-6 deltas break
  this, by < 1e-4 for L >= 1/16.
"""

import re

import numpy as np
import pytest

from cevr_cli.hdr.kimkautz2008 import kimkautz2008
from cevr_cli.hdr.reinhard2002 import reinhard2002

WEIGHTS = np.array([0.2126, 0.7152, 0.0722])  # ITU-R BT.709

OPERATORS = {
    "reinhard-auto": lambda hdr: reinhard2002(hdr),
    "reinhard-fixed": lambda hdr: reinhard2002(hdr, key=0.3, white=5.0),
    "reinhard-local": lambda hdr: reinhard2002(hdr, local=True),
    "reinhard-local-toolbox": lambda hdr: reinhard2002(hdr, local=True, toolbox=True),
    "kimkautz": kimkautz2008,
}
GLOBAL = ["reinhard-auto", "reinhard-fixed", "kimkautz"]


def _random_hdr(seed: int, shape: tuple[int, int] = (9, 11)) -> np.ndarray:
    """Colours with L spread over 2^-4 .. 2^6 (about 1000:1, so Kim-Kautz's k1 = ln 1000 / range ~ 1)."""
    rng = np.random.default_rng(seed)
    return np.exp2(rng.uniform(-4.0, 6.0, size=(*shape, 3)))


@pytest.mark.parametrize("name", list(OPERATORS))
def test_uniform_image_maps_to_uniform_image_of_the_same_hue(name: str) -> None:
    colour = np.array([0.8, 2.0, 5.0])
    out = OPERATORS[name](np.broadcast_to(colour, (6, 7, 3)).copy())
    np.testing.assert_allclose(out, np.broadcast_to(out[0, 0], out.shape), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(out[0, 0] / out[0, 0, 1], colour / colour[1], rtol=1e-6)
    if name in ("reinhard-auto", "reinhard-local", "kimkautz"):  # the automatic forms: about middle grey
        assert 0.17 < float(out[0, 0] @ WEIGHTS) < 0.19


@pytest.mark.parametrize("name", list(OPERATORS))
def test_channel_ratios_are_kept(name: str) -> None:
    hdr = _random_hdr(1)
    out = OPERATORS[name](hdr).astype(np.float64)
    lit = out.sum(axis=-1) > 0  # Kim-Kautz clips its darkest pixels to black
    assert lit.mean() > 0.9
    np.testing.assert_allclose(out[lit] / out[lit].sum(-1, keepdims=True), hdr[lit] / hdr[lit].sum(-1, keepdims=True),
                               rtol=1e-5)


@pytest.mark.parametrize("name", GLOBAL)
def test_global_operators_are_monotone_in_luminance(name: str) -> None:
    hdr = _random_hdr(2)
    lum_in = (hdr @ WEIGHTS).ravel()
    lum_out = (OPERATORS[name](hdr).astype(np.float64) @ WEIGHTS).ravel()
    order = np.argsort(lum_in)
    steps = np.diff(lum_out[order])
    assert steps.min() >= -1e-6 * lum_out.max()
    if name != "kimkautz":  # no clipping: strictly increasing
        assert steps.min() > 0


@pytest.mark.parametrize("name", list(OPERATORS))
@pytest.mark.parametrize("k", [1 / 8, 8.0])
def test_result_is_exposure_invariant(name: str, k: float) -> None:
    hdr = _random_hdr(3, (8, 8))
    op = OPERATORS[name]
    np.testing.assert_allclose(op(k * hdr), op(hdr), rtol=1e-4, atol=1e-5)



@pytest.mark.parametrize("operator", ["reinhard", "reinhard-local", "kimkautz"])
@pytest.mark.parametrize("k", [1e-8, 1e-5, 1e6])
def test_the_photographers_form_does_not_depend_on_the_images_units_however_small(operator: str, k: float) -> None:
    """The 1e-6 deltas made an image stored in units of 1e-8 come out at mean code 34 (Reinhard) and 15
    (Kim-Kautz) instead of 83: an image whose typical value lies far from 1 is brought to 1 first."""
    from cevr_cli.hdr.tonemap import tonemap_to_display

    hdr = _random_hdr(5, (16, 16)).astype(np.float32)
    np.testing.assert_allclose(tonemap_to_display(k * hdr, operator), tonemap_to_display(hdr, operator),
                               rtol=1e-4, atol=1e-5)
    as_toolbox = tonemap_to_display(1e-8 * hdr, operator, toolbox=True)  # the toolbox's own arithmetic, deltas and all
    assert np.abs(as_toolbox - tonemap_to_display(hdr, operator, toolbox=True)).max() > 0.05


@pytest.mark.parametrize("operator", ["reinhard", "kimkautz"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_an_array_holding_nan_or_inf_maps_as_its_file_would_whatever_its_units(operator: str, bad: float) -> None:
    """One NaN or +Inf in an image in units of 1e-8 left it unscaled: mean code 50 instead of 99 (Reinhard)."""
    from cevr_cli.hdr.finite import finite_radiance
    from cevr_cli.hdr.tonemap import tonemap_to_display

    hdr = (1e-8 * _random_hdr(5, (16, 16))).astype(np.float32)
    hdr[3, 4, 1] = bad
    as_read = finite_radiance(hdr)[0]  # what read_hdr_image gives of the file
    np.testing.assert_allclose(tonemap_to_display(hdr, operator), tonemap_to_display(as_read, operator), atol=1e-6)
    clean = np.delete(hdr.reshape(-1, 3), 3 * 16 + 4, axis=0).reshape(15, 17, 3)  # the same light without the pixel
    assert abs(tonemap_to_display(hdr, operator).mean() - tonemap_to_display(clean, operator).mean()) < 0.05


@pytest.mark.parametrize(("option", "value", "told"), [
    ("key", 1e308, "key 1e+308: a number from 0.001 to 100"), ("white", 1e-300, "white 1e-300: a number from 0.001"),
    ("gamma", float("nan"), "gamma nan: a number from 0.1 to 10"), ("key", "0.18", "key '0.18': a number from"),
    ("key", True, "key True: a number from"),
])
def test_the_library_tone_mapper_holds_the_clis_bounds(option, value, told):
    """A key of 1e308 overflowed and a white of 1e-300 gave a black image, through the library only."""
    from cevr_cli.errors import UsageError
    from cevr_cli.hdr.tonemap import tonemap_to_display

    with pytest.raises(UsageError, match=f"^{re.escape(told)}"):
        tonemap_to_display(np.full((4, 4, 3), 0.5, np.float32), "reinhard", **{option: value})


def test_the_library_tone_mapper_takes_numpy_numbers_as_the_numbers_they_are():
    """np.float32(0.18) was refused as 'a number from 0.001 to 100'."""
    from cevr_cli.hdr.tonemap import tonemap_to_display

    hdr = _random_hdr(5, (8, 8))
    np.testing.assert_array_equal(tonemap_to_display(hdr, "reinhard", key=np.float32(0.25), gamma=np.int64(2)),
                                  tonemap_to_display(hdr, "reinhard", key=0.25, gamma=2))
