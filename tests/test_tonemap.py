"""`cevr_cli.tonemap`: HDR files to display images, and `cevr tonemap` batches on the shared engine."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from cevr_cli.batch import BatchPolicy
from cevr_cli.errors import InputError, OutputError, UsageError
from cevr_cli.hdr.tonemap import tonemap_to_display
from cevr_cli.io.hdrfile import write_exr
from cevr_cli.tonemap import TonemapOptions, run_tonemap, tonemap_array_to_file, tonemap_file


def _scene() -> np.ndarray:
    ramp = np.exp(np.linspace(np.log(0.01), np.log(3.0), 24 * 32)).reshape(24, 32)
    return np.stack([ramp, 0.8 * ramp, 1.1 * ramp], axis=-1)


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


def test_same_names_in_two_folders_give_two_outputs(tmp_path: Path) -> None:
    for folder, scale in (("a", 1.0), ("b", 4.0)):
        (tmp_path / "in" / folder).mkdir(parents=True)
        write_exr(tmp_path / "in" / folder / "x.exr", (_scene() * scale).astype(np.float32))
    report = run_tonemap([tmp_path / "in"], tmp_path / "out", TonemapOptions(), BatchPolicy(recursive=True))
    assert report.counts() == {"done": 2} and report.exit_code == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a__x-reinhard.png", "b__x-reinhard.png"]


def test_dry_run_lists_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    write_exr(tmp_path / "in" / "x.exr", _scene().astype(np.float32))
    report = run_tonemap([tmp_path / "in"], tmp_path / "out", TonemapOptions(tmo="kimkautz"), BatchPolicy(dry_run=True))
    assert report.counts() == {"planned": 1} and report.items[0].output.name == "x-kimkautz.png"
    assert not (tmp_path / "out").exists()
