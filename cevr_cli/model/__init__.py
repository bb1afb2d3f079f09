"""The CEVR network, its weights, and stack inference.

Names are imported on first use (PEP 562): reading a weights file's header (:func:`read_header`) needs neither
torch nor the network's modules, so a batch with nothing left to do does not pay for them. Building a network
does not import torchvision either (:func:`cevr_cli.model.cevr.vgg16_bn_encoder`): its import cost every process
1.3-2 s.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_HOMES = {
    "CEVRNet": "cevr",
    "CEVRConfig": "config",
    "VARIANTS": "config",
    "get_config": "config",
    "resolve_device": "device",
    "resolve_precision": "device",
    "FusedCEVR": "fused",
    "reparameterize": "fused",
    "CEVRPredictor": "inference",
    "InferenceSettings": "inference",
    "load_predictor": "inference",
    "DEFAULT_WEIGHTS": "weights",
    "ModelPair": "weights",
    "WeightsHeader": "weights_format",
    "convert_checkpoints": "weights",
    "load_checkpoint_pair": "weights",
    "load_official_pair": "weights",
    "load_pair": "weights",
    "new_pair": "weights",
    "read_header": "weights_format",
    "save_pair": "weights",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
