"""Files that ship inside the package (and so inside the wheel): the sample photo and the default weights.

The repository keeps the weights in its top-level ``weights/`` folder; ``cevr_cli/weights`` is a link to
it, which the wheel build follows, so there is one copy in the repository and one in every install.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

DEFAULT_WEIGHTS_NAME = "cevr-synthetic.safetensors"


def package_file(*parts: str) -> Path:
    """A file shipped in the package, by its parts below ``cevr_cli/``: the one way the code finds its data."""
    return Path(str(files("cevr_cli").joinpath(*parts)))


def default_weights_path() -> Path:
    """The shipped weights pair."""
    return package_file("weights", DEFAULT_WEIGHTS_NAME)


def sample_photo_path() -> Path:
    """The bundled sample photo (a JPEG with EXIF) that `cevr demo` runs on."""
    return package_file("samples", "sample.jpg")


RESIDUAL_WEIGHTS_NAME = "cevr-residual.safetensors"


def residual_weights_path() -> Path:
    """The shipped residual-role weights (``--model cevr``: physics first, the network fills what was clipped)."""
    return package_file("weights", RESIDUAL_WEIGHTS_NAME)
