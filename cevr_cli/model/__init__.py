"""The CEVR network, its weights, and stack inference. Importing this package imports torch."""

from .cevr import CEVRNet
from .config import VARIANTS, CEVRConfig, get_config
from .device import resolve_device, resolve_precision
from .fused import FusedCEVR, reparameterize
from .inference import CEVRPredictor, InferenceSettings, load_predictor
from .weights import (
    DEFAULT_WEIGHTS,
    ModelPair,
    load_checkpoint_pair,
    load_official_pair,
    load_pair,
    new_pair,
    save_pair,
)

__all__ = [
    "CEVRConfig",
    "CEVRNet",
    "CEVRPredictor",
    "DEFAULT_WEIGHTS",
    "FusedCEVR",
    "InferenceSettings",
    "ModelPair",
    "VARIANTS",
    "get_config",
    "load_checkpoint_pair",
    "load_official_pair",
    "load_pair",
    "load_predictor",
    "new_pair",
    "reparameterize",
    "resolve_device",
    "resolve_precision",
    "save_pair",
]
