"""Writes the golden images of the shipped weights: the bundled sample at 256 px (long side), EV -2 and +2,
as 16-bit PNGs. Run once per weights release (and commit the PNGs with the weights):

    python tests/golden/make_golden.py
"""

from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
LONG_SIDE = 256
EVS = (-2.0, 2.0)


def sample_at_golden_size() -> np.ndarray:
    from cevr_cli.assets import sample_photo_path
    from cevr_cli.io.images import read_photo

    rgb = read_photo(sample_photo_path()).rgb
    h, w = rgb.shape[:2]
    scale = LONG_SIDE / max(h, w)
    size = (round(w * scale / 8) * 8, round(h * scale / 8) * 8)
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def golden_path(ev: float) -> Path:
    return HERE / f"sample-{LONG_SIDE}-ev{ev:+.0f}.png"


def main() -> None:
    from cevr_cli.imaging import quantise
    from cevr_cli.model import load_predictor

    predictor = load_predictor(None, "cpu", precision="fp32")
    stack = predictor.predict(sample_at_golden_size(), EVS)
    for ev, image in zip(EVS, stack, strict=True):
        cv2.imwrite(str(golden_path(ev)), np.ascontiguousarray(quantise(image, 16)[..., ::-1]))
    (HERE / "weights_id.txt").write_text(predictor.pair.weights_id + "\n")
    print("wrote", ", ".join(golden_path(ev).name for ev in EVS), "for weights", predictor.pair.weights_id)


if __name__ == "__main__":
    main()
