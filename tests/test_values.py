"""cevr_cli.values: the typed values the stages pass refuse what they cannot be."""

import numpy as np
import pytest

from cevr_cli.errors import UsageError
from cevr_cli.provenance import SourceMetadata
from cevr_cli.values import ExposureStack


def _source() -> SourceMetadata:
    return SourceMetadata(size=(4, 4), bit_depth=8)


def test_a_stack_is_one_image_per_ascending_finite_ev_of_its_bit_depth():
    images = [np.zeros((4, 4, 3), np.uint8) for _ in range(2)]
    assert ExposureStack(images, [-1.0, 1.0], 8, _source()).evs == [-1.0, 1.0]
    for evs, bits, told in (([1.0, -1.0], 8, "distinct and ascending"), ([-1.0, float("nan")], 8, "nan is not"),
                            ([-1.0], 8, "one image per EV"), ([-1.0, 1.0], 16, "holds uint16 codes, not uint8"),
                            ([-1.0, 1.0], 12, "8 or 16, not 12")):
        with pytest.raises(UsageError, match=told):
            ExposureStack(images, evs, bits, _source())


def test_a_stack_is_of_hxwx3_images_of_one_size():
    """Frames of two sizes were saved as a stack folder that read_stack_folder then refused."""
    frame = np.zeros((4, 6, 3), np.uint8)
    for images, told in (([frame, frame[:2]], r"not of shapes \(2, 6, 3\), \(4, 6, 3\)$"),
                         ([frame[..., 0], frame[..., 0]], r"not of shapes \(4, 6\)$"),
                         ([frame[:0], frame[:0]], r"not of shapes \(0, 6, 3\)$")):
        with pytest.raises(UsageError, match=r"^a stack's images are HxWx3 RGB of one size, " + told):
            ExposureStack(images, [-1.0, 1.0], 8, _source())
