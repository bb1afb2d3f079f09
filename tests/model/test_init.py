"""The package's lazily imported names (cevr_cli/model/__init__.py, PEP 562)."""

import subprocess
import sys

import pytest

import cevr_cli.model


@pytest.mark.parametrize("name", cevr_cli.model.__all__)
def test_every_exported_name_resolves(name):
    # WeightsHeader was listed with the weights module, which only imports read_header from weights_format: an
    # AttributeError, so `from cevr_cli.model import *` failed too
    assert getattr(cevr_cli.model, name) is not None


def test_reading_a_header_through_the_package_imports_no_torch(tmp_path):
    # the module docstring's promise: read_header was mapped to the weights module, which imports torch
    from cevr_cli.model.weights_format import WeightsHeader, read_header

    assert (cevr_cli.model.read_header, cevr_cli.model.WeightsHeader) == (read_header, WeightsHeader)
    code = ("import sys; from cevr_cli.model import read_header, WeightsHeader; "
            "print(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["[]"]
