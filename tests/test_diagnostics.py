"""cevr_cli.diagnostics: `cevr info` on a healthy and on a broken installation."""

import importlib

import cv2
import rawpy

from cevr_cli import diagnostics


def test_a_library_that_fails_to_load_is_a_line_in_the_report_not_a_traceback(monkeypatch):
    real = importlib.import_module

    def broken_torchvision(name, *args):
        if name == "torchvision":  # a torchvision built for another torch, as pip can leave it
            raise RuntimeError("operator torchvision::nms does not exist\n(the rest of the C++ message)")
        return real(name, *args)

    monkeypatch.setattr(diagnostics.importlib, "import_module", broken_torchvision)
    facts = diagnostics.collect_info()
    assert facts["torchvision"] == "unavailable (RuntimeError: operator torchvision::nms does not exist)"
    assert facts["opencv"] == cv2.__version__ and facts["rawpy"] == rawpy.__version__
    assert facts["libraw"] == ".".join(map(str, rawpy.libraw_version))
