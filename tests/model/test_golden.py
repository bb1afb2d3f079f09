"""The shipped weights on the bundled sample against stored images: a change to the network code (or the
weights) that alters what users get cannot pass silently. Regenerate with tests/golden/make_golden.py
when the weights are deliberately replaced."""

import math

import cv2
import numpy as np
import pytest

from tests.golden.make_golden import EVS, HERE, golden_path, sample_at_golden_size

PSNR_FLOOR_DB = {"fp32": 60.0, "bf16": 50.0}  # 16-bit golden images (fp32); float differences of 1e-4 give ~80 dB


def test_the_golden_images_belong_to_the_shipped_weights():
    from cevr_cli.model import load_pair

    assert load_pair().weights_id == (HERE / "weights_id.txt").read_text().strip(), (
        "the shipped weights changed: rerun tests/golden/make_golden.py and commit the images")


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("ev", EVS)
def test_the_shipped_weights_reproduce_the_golden_images(ev, precision):
    from cevr_cli.model import load_predictor
    from cevr_cli.model.device import cpu_has_native_bf16

    if precision == "bf16" and not cpu_has_native_bf16():
        pytest.skip("this CPU has no native bf16")
    (image,) = load_predictor(None, "cpu", precision=precision).predict(sample_at_golden_size(), [ev])
    golden = cv2.imread(str(golden_path(ev)), cv2.IMREAD_UNCHANGED)[..., ::-1].astype(np.float64) / 65535
    mse = float(np.mean((image.astype(np.float64) - golden) ** 2))
    assert -10 * math.log10(mse + 1e-20) > PSNR_FLOOR_DB[precision]
    assert abs(float(image.mean()) - float(golden.mean())) < 1e-3
