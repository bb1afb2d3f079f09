"""Weights I/O: our safetensors format, and the official CEVR checkpoints.

Our format: one ``.safetensors`` file holds a pair of models, keys prefixed ``inc.`` (s > 0) and ``dec.``
(s < 0); the metadata carries the format name and version, the model config as JSON, and free-form
provenance (training data, steps). Loading is strict: missing, unexpected or mis-shaped tensors are an
error that says what to do.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..assets import default_weights_path
from ..errors import WeightsError
from ..io.atomic import atomic_path
from .cevr import CEVRNet
from .config import CEVRConfig

FORMAT_NAME = "cevr-weights"
FORMAT_VERSION = 1
DIRECTIONS = ("inc", "dec")
DEFAULT_WEIGHTS = default_weights_path()


@dataclass
class ModelPair:
    """The increase (s > 0) and decrease (s < 0) models with their provenance."""

    inc: CEVRNet
    dec: CEVRNet
    config: CEVRConfig
    weights_id: str = "untrained"
    info: dict[str, Any] = field(default_factory=dict)

    def for_step(self, s: float) -> CEVRNet:
        return self.inc if s > 0 else self.dec


def new_pair(config: CEVRConfig | None = None, seed: int | None = None) -> ModelPair:
    """Freshly initialised models (PyTorch's default init); nothing is downloaded."""
    config = config or CEVRConfig()
    if seed is not None:
        torch.manual_seed(seed)
    return ModelPair(CEVRNet(config), CEVRNet(config), config)


def file_id(path: Path) -> str:
    """Short content hash naming a weights file in outputs (``stack.json``)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


def save_pair(pair: ModelPair, path: str | Path, *, half: bool = True, info: Mapping[str, Any] | None = None) -> str:
    """Write ``pair`` as safetensors (fp16 by default); returns the file id."""
    from safetensors.torch import save_file

    dtype = torch.float16 if half else torch.float32
    tensors: dict[str, torch.Tensor] = {}
    for direction in DIRECTIONS:
        for key, value in getattr(pair, direction).state_dict().items():
            value = value.detach().cpu()
            tensors[f"{direction}.{key}"] = value.to(dtype) if value.is_floating_point() else value
    metadata = {
        "format": FORMAT_NAME,
        "format_version": str(FORMAT_VERSION),
        "config": json.dumps(pair.config.to_dict()),
        "info": json.dumps(dict(info or pair.info)),
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    return file_id(path)


def load_pair(path: str | Path | None = None, *, device: str | torch.device = "cpu") -> ModelPair:
    """Load a model pair from our safetensors format (``None``: the shipped default weights)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    path = Path(path) if path is not None else DEFAULT_WEIGHTS
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found (pass --weights PATH, or reinstall cevr)")
    if path.suffix in (".pth", ".pt"):
        raise WeightsError(
            f"{path}: this looks like an official PyTorch checkpoint; convert it with "
            "`cevr convert-weights INC.pth DEC.pth -o pair.safetensors`"
        )
    try:
        with safe_open(str(path), framework="pt") as fh:
            metadata = fh.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path}: not a readable safetensors file ({exc})") from None
    if metadata.get("format") != FORMAT_NAME:
        raise WeightsError(f"{path}: not a cevr weights file (metadata format={metadata.get('format')!r})")
    version = int(metadata.get("format_version", "0"))
    if version != FORMAT_VERSION:
        raise WeightsError(
            f"{path}: weights format version {version}, this cevr reads version {FORMAT_VERSION}; "
            + ("upgrade cevr" if version > FORMAT_VERSION else "re-save the weights with this cevr")
        )
    config = CEVRConfig.from_dict(json.loads(metadata["config"]))
    pair = new_pair(config)
    for direction in DIRECTIONS:
        prefix = f"{direction}."
        state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        _load_strict(getattr(pair, direction), state, f"{path} [{direction}]")
    pair.weights_id = file_id(path)
    pair.info = json.loads(metadata.get("info", "{}"))
    pair.inc.to(device).eval()
    pair.dec.to(device).eval()
    return pair


def _load_strict(model: CEVRNet, state: Mapping[str, torch.Tensor], where: str) -> None:
    """Copy ``state`` into ``model`` after checking every key and shape; errors name what differs."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        raise WeightsError(f"{where}: tensors do not match the model: {', '.join(parts)}")
    for key, value in state.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise WeightsError(
                f"{where}: {key} has shape {tuple(value.shape)}, the model expects {tuple(expected[key].shape)}"
                " (weights of another model variant?)"
            )
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=True)


def config_from_official(state: Mapping[str, torch.Tensor]) -> CEVRConfig:
    """Infer our config from an official ``CEVR_NormNoAffine_Maps`` state dict's shapes."""
    try:
        c1 = state["encoder1.0.weight"].shape[0]
        c2 = state["encoder2.7.weight"].shape[0]
        c3 = state["encoder3.14.weight"].shape[0]
        hidden = state["neck.mlp.layers.0.weight"].shape[0]
    except KeyError as exc:
        raise WeightsError(f"not a CEVR_NormNoAffine_Maps state dict: no tensor {exc}") from None
    layers = len({k.split(".")[3] for k in state if k.startswith("neck.mlp.layers.")})
    return CEVRConfig(encoder_channels=(c1, c2, c3), bottleneck_hidden=hidden, mlp_layers=layers)


def _official_state(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise WeightsError(f"{path}: checkpoint not found")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for foreign pickles
        raise WeightsError(f"{path}: not a PyTorch state dict ({type(exc).__name__}: {exc})") from None
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path}: expected a plain state dict of tensors")
    # Checkpoints saved from nn.DataParallel prefix every key with "module.".
    return {k.removeprefix("module."): v for k, v in obj.items()}


def load_official_pair(inc_path: str | Path, dec_path: str | Path) -> ModelPair:
    """Load the official released checkpoints (``.../inc/final_model.pth`` and ``.../dec/final_model.pth``)."""
    states = {"inc": _official_state(Path(inc_path)), "dec": _official_state(Path(dec_path))}
    config = config_from_official(states["inc"])
    if config_from_official(states["dec"]) != config:
        raise WeightsError(f"{inc_path} and {dec_path} are models of different shapes")
    pair = new_pair(config)
    for direction, path in (("inc", inc_path), ("dec", dec_path)):
        _load_strict(getattr(pair, direction), states[direction], str(path))
    pair.info = {"source": "official CEVR checkpoints", "inc": str(inc_path), "dec": str(dec_path)}
    return pair
