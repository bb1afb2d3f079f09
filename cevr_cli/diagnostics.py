"""`cevr info`: what this installation can do, for bug reports."""

from __future__ import annotations

import platform
from typing import Any

from . import __version__
from .vocabulary import EXPOSURE_MODELS, RAW_MODES


def collect_info() -> dict[str, Any]:
    """Device found, default weights and their id, and the versions of the libraries cevr relies on."""
    import cv2
    import numpy
    import OpenEXR
    import rawpy
    import torch
    import torchvision

    from .errors import WeightsError
    from .model import DEFAULT_WEIGHTS, load_pair, resolve_device

    facts: dict[str, Any] = {
        "cevr": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "device": str(resolve_device("auto")),
        "cuda": torch.version.cuda if torch.cuda.is_available() else "not available",
        "mps": "available" if torch.backends.mps.is_available() else "not available",
    }
    from .assets import residual_weights_path

    for key, path in (("weights cevr-paper", DEFAULT_WEIGHTS), ("weights cevr", residual_weights_path())):
        try:
            pair = load_pair(path)
            facts[key] = f"{path} (id {pair.weights_id}, {pair.config.variant})"
        except WeightsError as exc:
            facts[key] = f"unavailable ({exc})"
    facts.update({f"model {name}": what for name, what in EXPOSURE_MODELS.items()})
    facts.update({
        "torch": torch.__version__, "torchvision": torchvision.__version__, "opencv": cv2.__version__,
        "openexr": getattr(OpenEXR, "__version__", "unknown"), "rawpy": rawpy.__version__,
        "libraw": ".".join(str(v) for v in rawpy.libraw_version), "numpy": numpy.__version__,
    })
    facts.update({f"raw-mode {name}": what for name, what in RAW_MODES.items()})
    from .calibrate import installed_profile_facts
    from .response import profiles_dir

    facts["profiles folder"] = str(profiles_dir())
    facts["profiles"] = installed_profile_facts()  # `cevr calibrate --install`: path, make, model of each
    return facts
