"""Measuring a photo file: a block-compressed file is measured as lossy, a lossless one is not."""

import numpy as np
import pytest
from PIL import Image

from cevr_cli.measure import read_measured


@pytest.mark.parametrize("suffix, lossy", [(".jpg", True), (".JPEG", True), (".png", False), (".tif", False)])
def test_block_compressed_files_are_measured_as_lossy(tmp_path, suffix, lossy):
    path = tmp_path / f"photo{suffix}"
    codes = np.full((32, 48, 3), 128, np.uint8)
    codes[8:16, 8:16] = 255
    Image.fromarray(codes).save(path)
    measured = read_measured(path, response="srgb", raw_mode="linear", max_megapixels=10).measured
    assert measured.lossy is lossy and measured.clipped.any()
