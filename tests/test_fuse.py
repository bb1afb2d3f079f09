"""Library entry points of `cevr fuse` / `cevr tonemap` on tiny synthetic stacks and files."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from cevr_cli.errors import InputError, OutputError, UsageError
from cevr_cli.fuse import fuse_stack, write_crf_csv, write_crf_plot, write_hdr_output
from cevr_cli.tonemap import tonemap_array_to_file, tonemap_file
from cevr_cli.hdr.tonemap import tonemap_to_display
from cevr_cli.io.hdrfile import read_hdr_image, write_exr

EVS = [-2.0, -1.0, 0.0, 1.0, 2.0]


def _scene() -> np.ndarray:
    ramp = np.exp(np.linspace(np.log(0.01), np.log(3.0), 24 * 32)).reshape(24, 32)
    return np.stack([ramp, 0.8 * ramp, 1.1 * ramp], axis=-1)


def _stack(radiance: np.ndarray) -> list[np.ndarray]:
    return [np.round(255 * np.clip(radiance * 2.0**ev, 0, 1) ** (1 / 2.2)).astype(np.uint8) for ev in EVS]


def test_fuse_stack_recovers_relative_radiance() -> None:
    radiance = _scene()
    result = fuse_stack(_stack(radiance), EVS)
    np.testing.assert_allclose(result.exposure_times, [0.25, 0.5, 1, 2, 4])
    assert result.radiance.shape == radiance.shape and result.radiance.dtype == np.float32
    assert result.response.g.shape == (256, 3)
    ratio = result.radiance / radiance
    rel = np.abs(ratio / np.median(ratio) - 1)
    assert np.median(rel) < 0.01 and rel.max() < 0.08


def test_fuse_stack_rejects_bad_evs() -> None:
    stack = _stack(_scene())
    with pytest.raises(UsageError, match="EVs"):
        fuse_stack(stack, EVS[:-1])
    with pytest.raises(UsageError, match="distinct"):
        fuse_stack(stack, [0.0, 0.0, 1.0, 2.0, 3.0])
    with pytest.raises(UsageError, match="finite"):
        fuse_stack(stack, [0.0, 1.0, 2.0, 3.0, float("nan")])


@pytest.mark.parametrize("fmt", ["exr", "hdr"])
def test_write_hdr_output(tmp_path: Path, fmt: str) -> None:
    radiance = _scene().astype(np.float32)
    path = tmp_path / f"out.{fmt}"
    write_hdr_output(path, radiance, fmt, half=False)
    np.testing.assert_allclose(read_hdr_image(path), radiance, rtol=0.01 if fmt == "hdr" else 0)
    with pytest.raises(UsageError, match="format"):
        write_hdr_output(tmp_path / "x.tif", radiance, "tiff")


def test_crf_csv_and_plot(tmp_path: Path) -> None:
    response = fuse_stack(_stack(_scene()), EVS).response
    write_crf_csv(tmp_path / "crf.csv", response)
    table = np.loadtxt(tmp_path / "crf.csv", delimiter=",", skiprows=1)
    assert (tmp_path / "crf.csv").read_text().splitlines()[0] == "code,g_r,g_g,g_b"
    np.testing.assert_array_equal(table[:, 0], np.arange(256))
    np.testing.assert_allclose(table[:, 1:], response.g, atol=1e-6)
    write_crf_plot(tmp_path / "crf.png", response, size=(200, 120))
    plot = cv2.imread(str(tmp_path / "crf.png"))
    assert plot.shape == (120, 200, 3) and (plot < 128).any()


@pytest.mark.parametrize(("suffix", "dtype"), [(".png", np.uint8), (".jpg", np.uint8), (".tif", np.uint16)])
def test_tonemap_file(tmp_path: Path, suffix: str, dtype: type) -> None:
    hdr = _scene().astype(np.float32)
    write_exr(tmp_path / "in.exr", hdr, half=False)
    tonemap_file(tmp_path / "in.exr", tmp_path / f"out{suffix}", "reinhard")
    written = cv2.imread(str(tmp_path / f"out{suffix}"), cv2.IMREAD_UNCHANGED)
    assert written.dtype == dtype and written.shape == hdr.shape
    peak = np.iinfo(dtype).max
    expected = np.round(tonemap_to_display(hdr, "reinhard") * peak)
    tolerance = 8 if suffix == ".jpg" else 0  # JPEG is lossy
    assert np.abs(written[..., ::-1].astype(np.float64) - expected).max() <= tolerance


def test_tonemap_array_srgb(tmp_path: Path) -> None:
    hdr = _scene().astype(np.float32)
    tonemap_array_to_file(hdr, tmp_path / "s.png", "kimkautz", srgb=True)
    written = cv2.imread(str(tmp_path / "s.png"))[..., ::-1]
    np.testing.assert_array_equal(written, np.round(tonemap_to_display(hdr, "kimkautz", srgb=True) * 255))


def test_tonemap_file_errors(tmp_path: Path) -> None:
    write_exr(tmp_path / "in.exr", _scene().astype(np.float32))
    with pytest.raises(InputError, match="not found"):
        tonemap_file(tmp_path / "missing.exr", tmp_path / "o.png", "reinhard")
    with pytest.raises(UsageError, match="png"):
        tonemap_file(tmp_path / "in.exr", tmp_path / "o.bmp", "reinhard")
    with pytest.raises(UsageError, match="unknown tone mapper"):
        tonemap_file(tmp_path / "in.exr", tmp_path / "o.png", "nope")
    (tmp_path / "same.png").write_bytes(b"")
    with pytest.raises(OutputError, match="input"):
        tonemap_file(tmp_path / "same.png", tmp_path / "same.png", "reinhard")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.exr", "same.png"]
