"""`cevr info`: what this installation can do, for bug reports."""

from __future__ import annotations

import importlib
import platform
from collections.abc import Callable
from typing import Any

from . import __version__
from .vocabulary import EXPOSURE_MODELS, RAW_MODES


def collect_info() -> dict[str, Any]:
    """Device found, default weights and their id, and the versions of the libraries cevr relies on."""
    import numpy
    import torch

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
        "torch": torch.__version__,
        "torchvision": _library_version("torchvision", lambda m: m.__version__),
        "opencv": _library_version("cv2", lambda m: m.__version__),
        "openexr": _library_version("OpenEXR", lambda m: getattr(m, "__version__", "unknown")),
        "rawpy": _library_version("rawpy", lambda m: m.__version__),
        "libraw": _library_version("rawpy", lambda m: ".".join(str(v) for v in m.libraw_version)),
        "numpy": numpy.__version__,
    })
    facts.update({f"raw-mode {name}": what for name, what in RAW_MODES.items()})
    from .response import profiles_dir

    facts["profiles folder"] = str(profiles_dir())
    # `cevr calibrate --install`: path, make, model of each (calibrate imports OpenCV: a broken one is a line too)
    facts["profiles"] = _library_version("cevr_cli.calibrate", lambda m: m.installed_profile_facts())
    return facts


def _library_version(module: str, version: Callable[[Any], Any]) -> Any:
    """``version(module)``, or what stopped the module from loading: a broken install (a torchvision built for
    another torch) is what a bug report must show, as a line, not as the traceback that ends ``cevr info``."""
    try:
        return version(importlib.import_module(module))
    except Exception as exc:  # noqa: BLE001 - whatever a broken extension module raises on import
        reason = str(exc).splitlines()[0] if str(exc) else ""
        return f"unavailable ({type(exc).__name__}: {reason})"
