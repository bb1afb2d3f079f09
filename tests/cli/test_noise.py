"""Issue 23 item 17: what Pillow, libpng (inside OpenCV) and tifffile say reaches stderr as cevr's warning
lines, and under --quiet nothing but errors does. Real processes: C libraries write to file descriptor 2."""

import logging
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from cevr_cli.cli import noise

ROOT = Path(__file__).resolve().parents[2]


def noisy_inputs(folder: Path) -> list[Path]:
    """A JPEG whose EXIF points past its end (Pillow warns "Truncated File Read") and a grey PNG with an RGB
    ICC profile (libpng prints "iCCP: ... RGB color space not permitted on grayscale PNG")."""
    folder.mkdir()
    pixels = (np.random.default_rng(0).random((32, 48, 3)) * 255).astype(np.uint8)
    exif = Image.Exif()
    exif[0x010F] = "A make longer than four bytes"
    data = bytearray(exif.tobytes())
    at = data.index(struct.pack(">H", 0x010F))
    data[at + 8 : at + 12] = struct.pack(">I", 5000)  # the Make's offset, past the end of the EXIF block
    Image.fromarray(pixels).save(folder / "bad-exif.jpg", exif=bytes(data))
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(pixels[..., 0]).save(folder / "grey-rgb-icc.png", icc_profile=srgb)
    return [folder / "bad-exif.jpg", folder / "grey-rgb-icc.png"]


def cevr(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cevr_cli", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_under_quiet_only_errors_reach_stderr(tmp_path):
    photos = noisy_inputs(tmp_path / "photos")
    (tmp_path / "photos" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    result = cevr("stack", str(tmp_path / "photos"), "-o", str(tmp_path / "out"), "--evs", "0,1",
                  "--model", "physics", "-q")
    assert result.returncode == 1  # broken.png failed; the noisy photos were stacked
    assert all((tmp_path / "out" / photo.stem / "stack.json").is_file() for photo in photos)
    assert result.stderr.splitlines() == [f"failed: {tmp_path / 'photos' / 'broken.png'}: corrupt PNG data (it "
                                          "starts as one, but cannot be parsed)"]


def test_without_quiet_python_warnings_are_cevr_warning_lines(tmp_path):
    photos = noisy_inputs(tmp_path / "photos")
    result = cevr("stack", str(photos[0]), "-o", str(tmp_path / "out"), "--evs", "0,1", "--model", "physics")
    assert result.returncode == 0, result.stderr
    assert f"warning: {photos[0]}: Truncated File Read" in result.stderr.splitlines()  # naming the photo
    assert "UserWarning" not in result.stderr and "warnings.warn" not in result.stderr


@pytest.fixture()
def routed():
    yield
    logging.getLogger().removeHandler(noise._LOG_HANDLER)


def test_library_log_records_are_warning_lines_and_dropped_when_quiet(capsys, routed):
    noise.route_library_noise(False)
    logging.getLogger("tifffile").warning("TiffTag 50741: invalid value")
    assert capsys.readouterr().err == "warning: tifffile: TiffTag 50741: invalid value\n"
    noise.route_library_noise(True)  # sys.stderr is pytest's capture here, not descriptor 2: left alone
    logging.getLogger("tifffile").warning("TiffTag 50741: invalid value")
    assert capsys.readouterr().err == ""
