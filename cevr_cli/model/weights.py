"""Weights I/O: our safetensors format, the official CEVR checkpoints and cevr's own training checkpoints.

Our format (:mod:`cevr_cli.model.weights_format`: name, version, header): one ``.safetensors`` file holds a
pair of models, keys prefixed ``inc.`` (s > 0) and ``dec.`` (s < 0). Loading is strict: missing, unexpected or
mis-shaped tensors are an error that says what to do.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..assets import default_weights_path
from ..errors import UsageError, WeightsError
from ..io.atomic import atomic_path, write_failure
from .config import VARIANTS, CEVRConfig, get_config
from .weights_format import FORMAT_NAME, FORMAT_VERSION, WEIGHTS_REMEDY, file_id, is_safetensors, read_header

if TYPE_CHECKING:
    from .cevr import CEVRNet

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
    from .cevr import CEVRNet  # the network's modules: imported only when a network is built

    config = config or CEVRConfig()
    if seed is not None:
        torch.manual_seed(seed)
    return ModelPair(CEVRNet(config), CEVRNet(config), config)


def save_pair(pair: ModelPair, path: str | Path, *, half: bool = True, info: Mapping[str, Any] | None = None) -> str:
    """Write ``pair`` as safetensors (fp16 by default); returns the file id. The same pair always gives the same
    bytes, hence the same id (:func:`canonical_safetensors`)."""
    from safetensors.torch import save

    dtype = torch.float16 if half else torch.float32
    tensors: dict[str, torch.Tensor] = {}
    for direction in DIRECTIONS:
        for key, value in getattr(pair, direction).state_dict().items():
            value = value.detach().cpu()
            tensors[f"{direction}.{key}"] = value.to(dtype) if value.is_floating_point() else value
    path = Path(path)
    try:
        described = json.dumps(dict(info or pair.info))
    except (TypeError, ValueError) as exc:  # a value JSON has no form for: said before anything is written
        raise UsageError(f"{path}: the weights' info must be JSON data (numbers, text, lists, mappings): {exc}") \
            from None
    metadata = {
        "format": FORMAT_NAME,
        "format_version": str(FORMAT_VERSION),
        "config": json.dumps(pair.config.to_dict()),
        "info": described,
    }
    try:
        data = canonical_safetensors(save({k: v.contiguous() for k, v in tensors.items()}, metadata=metadata))
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    except OSError as exc:
        raise write_failure(path, "the weights", exc) from None
    return file_id(path)


def canonical_safetensors(data: bytes) -> bytes:
    """``data`` (a safetensors file) with its JSON header's keys in sorted order: safetensors writes the metadata
    from a hash map, in an order that changes from run to run, so identical weights gave files of other bytes
    and other ids. The header stays padded to 8 bytes (the format's alignment); tensor offsets count from the
    end of the header, so they hold."""
    length = int.from_bytes(data[:8], "little")
    header = json.dumps(json.loads(data[8:8 + length]), sort_keys=True, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    return len(header).to_bytes(8, "little") + header + data[8 + length:]


def load_pair(path: str | Path | None = None, *, device: str | torch.device = "cpu") -> ModelPair:
    """Load a model pair from our safetensors format (``None``: the shipped default weights): its header
    (:func:`read_header`), then its tensors, strictly: missing, unexpected or mis-shaped ones are an error.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    header = read_header(path)
    try:
        tensors = load_file(str(header.path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{header.path}: not a readable safetensors file ({exc}); {WEIGHTS_REMEDY}") from None
    pair = new_pair(header.config)
    for direction in DIRECTIONS:
        prefix = f"{direction}."
        state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        _load_strict(getattr(pair, direction), state, f"{header.path} [{direction}]", f"; {WEIGHTS_REMEDY}")
    pair.weights_id = header.weights_id
    pair.info = header.info
    pair.inc.to(device).eval()
    pair.dec.to(device).eval()
    return pair


def _load_strict(model: CEVRNet, state: Mapping[str, torch.Tensor], where: str, remedy: str = "") -> None:
    """Copy ``state`` into ``model`` after checking every key and shape; errors name what differs (a missing or
    unexpected tensor ends with ``remedy``)."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        raise WeightsError(f"{where}: tensors do not match the model: {', '.join(parts)}{remedy}")
    for key, value in state.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise WeightsError(
                f"{where}: {key} has shape {tuple(value.shape)}, the model expects {tuple(expected[key].shape)}"
                " (weights of another model variant?)"
            )
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise WeightsError(f"{where}: {key} holds {bad} NaN or infinite values (a damaged or diverged file: "
                               "use the shipped weights or an earlier checkpoint)")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=True)


def config_from_official(state: Mapping[str, torch.Tensor]) -> CEVRConfig:
    """Infer our config from an official ``CEVR_NormNoAffine_Maps`` state dict's shapes."""
    try:
        c1 = state[_FIRST_TENSOR].shape[0]
        c2 = state["encoder2.7.weight"].shape[0]
        c3 = state["encoder3.14.weight"].shape[0]
        hidden = state["neck.mlp.layers.0.weight"].shape[0]
    except KeyError as exc:
        raise WeightsError(f"not a CEVR_NormNoAffine_Maps state dict: no tensor {exc}") from None
    layers = len({k.split(".")[3] for k in state if k.startswith("neck.mlp.layers.")})
    return CEVRConfig(encoder_channels=(c1, c2, c3), bottleneck_hidden=hidden, mlp_layers=layers)


# The first bytes of what torch.save writes: a zip archive (PyTorch >= 1.6) or a legacy pickle (protocol 2+).
_TORCH_MAGIC = (b"PK\x03\x04", b"\x80")


def describe_checkpoint(path: Path) -> str:
    """What a file that is not our safetensors format is, and how to use it: for :func:`load_pair`'s error."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not head.startswith(_TORCH_MAGIC):
        return "not a readable safetensors file (not a cevr weights pair)"
    try:
        kind = read_checkpoint(path)[1]["kind"]
    except WeightsError as exc:
        reason = exc.args[0].removeprefix(f"{path}: ")
        return reason if reason.startswith("a PyTorch") else f"a PyTorch file, but not a CEVR checkpoint ({reason})"
    if kind == TRAINING:
        return ("a cevr training checkpoint (one direction); use the run's cevr-pair.safetensors, or convert "
                "the two directions with `cevr convert-weights INC-best.pt DEC-best.pt --variant VARIANT "
                "-o pair.safetensors`")
    return ("an official CEVR checkpoint (one direction); convert it with "
            "`cevr convert-weights INC.pth DEC.pth -o pair.safetensors`")


OFFICIAL, TRAINING = "official", "cevr-training"
_FIRST_TENSOR = "encoder1.0.weight"  # the first conv of every CEVR_NormNoAffine_Maps, official or cevr's own


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """One direction's state dict from a PyTorch checkpoint, told apart by content, and what it records.

    - official CEVR (``.../inc/final_model.pth``): a plain state dict of tensors, or ``{"state_dict": ...}``;
      keys may carry nn.DataParallel's ``module.`` prefix.
    - cevr's own training checkpoints (:func:`cevr_cli.training.loop.train_direction`: ``<dir>-best.pt``,
      ``<dir>-last.pt``): ``{"model": state dict, "epoch": int, ...}``; ``-last.pt`` also holds the run's
      ``config`` (with its ``variant``).

    Read with ``weights_only=True``: no code in the file runs. Returns the state dict and
    ``{"kind": OFFICIAL | TRAINING, "epoch": ..., "variant": ...}`` (the last two when recorded).

    Raises:
        WeightsError: missing, unreadable, or neither layout.
    """
    path = Path(path)
    if path.is_dir():
        raise WeightsError(f"{path}: is a folder, not a checkpoint")
    if not path.is_file():
        raise WeightsError(f"{path}: checkpoint not found")
    if is_safetensors(path):
        read_header(path)  # a damaged or foreign safetensors file is refused as --weights would refuse it
        raise WeightsError(f"{path}: already a cevr weights pair (.safetensors): use it as it is, with --weights")
    try:
        with warnings.catch_warnings():  # its pickle-protocol notes about a file it then refuses: our line says it
            warnings.simplefilter("ignore")
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for foreign pickles; its advice (weights_only=False) is unsafe
        raise WeightsError(f"{path}: not a PyTorch checkpoint that can be read safely ({type(exc).__name__})"
                           ) from None
    facts: dict[str, Any] = {"kind": OFFICIAL}
    if isinstance(obj, Mapping) and isinstance(obj.get("model"), Mapping) and "epoch" in obj:
        facts = {"kind": TRAINING, "epoch": obj["epoch"]}
        if obj.get("direction") in DIRECTIONS:
            facts["direction"] = obj["direction"]
        config = obj.get("config")
        if isinstance(config, Mapping) and isinstance(config.get("variant"), str):
            facts["variant"] = config["variant"]
        obj = obj["model"]
    elif isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path}: expected a state dict of tensors (an official CEVR checkpoint or cevr's "
                           "own <dir>-best.pt / <dir>-last.pt)")
    # Checkpoints saved from nn.DataParallel prefix every key with "module.".
    state = {str(k).removeprefix("module."): v for k, v in obj.items()}
    if _FIRST_TENSOR not in state:  # any other network's state dict is tensors too
        raise WeightsError(f"{path}: a PyTorch state dict of another network (no tensor {_FIRST_TENSOR!r}), not a "
                           "CEVR checkpoint")
    return state, facts


def _pair_config(shapes: CEVRConfig, variant: str | None, where: str) -> CEVRConfig:
    """The named variant's config (its role included) after checking that the tensors have its shapes;
    without a name, the shapes alone (official checkpoints: the paper's role)."""
    if variant is None:
        return shapes
    config = get_config(variant)
    fields = ("encoder_channels", "bottleneck_hidden", "mlp_layers")
    if any(getattr(config, f) != getattr(shapes, f) for f in fields):
        fitting = [name for name, c in VARIANTS.items() if all(getattr(c, f) == getattr(shapes, f) for f in fields)]
        raise WeightsError(f"{where}: tensors have the shapes of {' or '.join(fitting) or 'no known variant'}, "
                           f"not of --variant {variant}")
    return config


def load_checkpoint_pair(inc_path: str | Path, dec_path: str | Path, *, variant: str | None = None) -> ModelPair:
    """A pair from two PyTorch checkpoints, one per direction, each official or cevr's own (by content).

    The shapes come from the state dicts (:func:`config_from_official`). The variant, which sets the role
    (:data:`cevr_cli.model.config.ROLES`; a ``cevr-residual`` model must come out with role "residual"),
    is ``variant``, else the one a ``-last.pt`` records, else "cevr" for cevr's own checkpoints (a
    ``-best.pt`` does not record it); official checkpoints alone keep the config of their shapes.

    Raises:
        WeightsError: unreadable checkpoints, the two of different shapes, shapes not of ``variant``,
            two different recorded variants, or missing/unexpected tensors.
    """
    read = {"inc": read_checkpoint(inc_path), "dec": read_checkpoint(dec_path)}
    paths = {"inc": Path(inc_path), "dec": Path(dec_path)}
    for direction, (_, facts) in read.items():
        check_direction(paths[direction], facts.get("direction"), direction,
                        remedy="the increase-EV (inc) checkpoint comes first, then the decrease-EV (dec) one")
    try:
        shapes = config_from_official(read["inc"][0])
    except WeightsError as exc:
        raise WeightsError(f"{inc_path}: {exc}") from None
    try:
        dec_shapes = config_from_official(read["dec"][0])
    except WeightsError as exc:
        raise WeightsError(f"{dec_path}: {exc}") from None
    if dec_shapes != shapes:
        raise WeightsError(f"{inc_path} and {dec_path} are models of different shapes")
    recorded = {facts["variant"] for _, facts in read.values() if "variant" in facts}
    if variant is None and len(recorded) > 1:
        raise WeightsError(f"{inc_path} and {dec_path} record different variants ({', '.join(sorted(recorded))})")
    for direction, (_, facts) in read.items():
        if variant is not None and facts.get("variant") not in (None, variant):
            raise WeightsError(f"--variant {variant}, but {paths[direction]} was trained as {facts['variant']}: "
                               "leave --variant out, or give the variant it was trained as")
    kinds = {facts["kind"] for _, facts in read.values()}
    if variant is None:
        variant = recorded.pop() if recorded else ("cevr" if TRAINING in kinds else None)
    config = _pair_config(shapes, variant, f"{inc_path}, {dec_path}")
    pair = new_pair(config)
    for direction in DIRECTIONS:
        _load_strict(getattr(pair, direction), read[direction][0], str(paths[direction]))
    source = "official CEVR checkpoints" if kinds == {OFFICIAL} else \
        "cevr training checkpoints" if kinds == {TRAINING} else "official and cevr training checkpoints"
    pair.info = {"source": source, "inc": str(inc_path), "dec": str(dec_path)}
    for direction in DIRECTIONS:
        if "epoch" in read[direction][1]:
            pair.info[f"{direction}_epoch"] = read[direction][1]["epoch"]
    return pair


def convert_checkpoints(inc_path: str | Path, dec_path: str | Path, output: str | Path, *,
                        variant: str | None = None) -> tuple[ModelPair, str]:
    """What `cevr convert-weights` does: check ``output`` (a ``.safetensors`` name, writable, not one of the
    checkpoints) before reading them, load the pair (:func:`load_checkpoint_pair`) and save it in full precision
    (a conversion keeps every bit the checkpoints hold). Returns the pair and the file id written.

    Raises:
        UsageError, OutputError: a destination that cannot be used (nothing is read then).
        WeightsError: as :func:`load_checkpoint_pair`.
    """
    from ..io.atomic import check_writable
    from .weights_format import check_weights_destination

    check_weights_destination(Path(output), (Path(inc_path), Path(dec_path)))
    check_writable(Path(output))
    pair = load_checkpoint_pair(inc_path, dec_path, variant=variant)
    return pair, save_pair(pair, output, half=False)


def check_direction(path: Path, recorded: object, direction: str, *, remedy: str, lead: str = "") -> None:
    """A checkpoint taken as ``direction``'s model must be of that direction: the one it records (``recorded``, the
    ``direction`` of cevr's own training checkpoints), else the one its path names; one that says neither passes.

    Raises:
        WeightsError: ``{lead}{path}: a dec checkpoint given as the inc one: {remedy}``.
    """
    said = recorded if recorded in DIRECTIONS else _direction_in_name(path)
    if said is not None and said != direction:
        article = "an" if said == "inc" else "a"
        raise WeightsError(f"{lead}{path}: {article} {said} checkpoint given as the {direction} one: {remedy}")


def _direction_in_name(path: Path) -> str | None:
    """The direction a checkpoint's path names: cevr's ``inc-best.pt`` / ``dec-last.pt``, the official layout's
    ``inc/final_model.pth``; None when it names neither or both."""
    said = {d for d in DIRECTIONS if path.name.lower().startswith(f"{d}-") or path.parent.name.lower() == d}
    return said.pop() if len(said) == 1 else None


def load_official_pair(inc_path: str | Path, dec_path: str | Path) -> ModelPair:
    """Load the official released checkpoints (``.../inc/final_model.pth`` and ``.../dec/final_model.pth``);
    :func:`load_checkpoint_pair` also takes cevr's own."""
    return load_checkpoint_pair(inc_path, dec_path)
