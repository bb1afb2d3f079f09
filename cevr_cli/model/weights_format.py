"""The weights file format, read without torch: its name, version and header.

One ``.safetensors`` file holds a pair of models (:mod:`cevr_cli.model.weights` reads and writes the tensors);
its metadata carries the format name and version, the model config as JSON, and free-form provenance. Reading
the header costs milliseconds and no torch import: a batch whose outputs are all complete checks and names its
weights (the request record holds their id) without building a network.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..assets import default_weights_path
from ..errors import UsageError, WeightsError
from .config import CEVRConfig

FORMAT_NAME = "cevr-weights"
FORMAT_VERSION = 1
# What to do about a .safetensors file cevr cannot use: every such message ends with it.
WEIGHTS_REMEDY = "use a pair that cevr train or cevr convert-weights wrote, or leave --weights out"


@dataclass(frozen=True)
class WeightsHeader:
    """What a weights file says about itself, read without its tensors: enough to name and check it."""

    path: Path
    config: CEVRConfig
    info: dict[str, Any]
    weights_id: str


def read_header(path: str | Path | None = None) -> WeightsHeader:
    """The header of a weights pair in our safetensors format (``None``: the shipped default weights), checked:
    format name and version, config; the file id hashes the whole file. Costs milliseconds: no network is built.

    Any other file is refused with what it is, by content: an official checkpoint or one of cevr's own
    training checkpoints (both: convert them with ``cevr convert-weights``), or not weights at all.

    Raises:
        WeightsError: as :func:`load_pair`, but for its tensors.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path) if path is not None else default_weights_path()
    if path.is_dir():
        raise WeightsError(f"{path}: is a folder, not a weights file (pass --weights PATH.safetensors)")
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found (pass --weights PATH, or reinstall cevr)")
    try:
        if not is_safetensors(path):
            from .weights import describe_checkpoint  # torch: only to say what the file is instead

            raise WeightsError(f"{path}: {describe_checkpoint(path)}")
        with safe_open(str(path), framework="numpy") as fh:
            metadata = fh.metadata() or {}
        weights_id = file_id(path)
    except (SafetensorError, ValueError) as exc:
        raise WeightsError(f"{path}: not a readable safetensors file ({exc}); {WEIGHTS_REMEDY}") from None
    except OSError as exc:
        raise WeightsError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if metadata.get("format") != FORMAT_NAME:
        raise WeightsError(f"{path}: not a cevr weights file (metadata format={metadata.get('format')!r}); "
                           f"{WEIGHTS_REMEDY}")
    version = str(metadata.get("format_version", "0"))
    if version != str(FORMAT_VERSION):
        newer = version.isdigit() and int(version) > FORMAT_VERSION
        raise WeightsError(
            f"{path}: weights format version {version}, this cevr reads version {FORMAT_VERSION}; "
            + ("upgrade cevr" if newer else "re-save the weights with this cevr")
        )
    try:
        config = CEVRConfig.from_dict(json.loads(metadata["config"]))
        info = json.loads(metadata.get("info", "{}"))
    except WeightsError as exc:
        raise WeightsError(f"{path}: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise WeightsError(f"{path}: its header is damaged (config: {type(exc).__name__}); {WEIGHTS_REMEDY}"
                          ) from None
    return WeightsHeader(path, config, info, weights_id)


def check_weights_destination(output: Path, inputs: Sequence[Path]) -> None:
    """Refuse a weights file name that would replace what it must not: one without the ``.safetensors`` suffix (a
    photo or a checkpoint given by mistake), one of the checkpoints being converted, or a file there that is not a
    cevr weights pair (the suffix alone let a user's notes be replaced); a pair there is replaced (a reconversion).

    Raises:
        UsageError: naming the file.
    """
    output = Path(output)
    if output.suffix.lower() != ".safetensors":
        raise UsageError(f"-o {output}: give a .safetensors file name (a file of another kind is never replaced)")
    if any(output.resolve() == Path(source).resolve() for source in inputs):
        raise UsageError(f"-o {output}: is one of the checkpoints being converted; give another name")
    if output.is_file():  # a folder there is refused as unwritable, by the write itself
        try:
            read_header(output)
        except WeightsError:
            raise UsageError(f"-o {output}: something that is not a cevr weights pair is there; it is never "
                             "replaced (give another name)") from None


def is_safetensors(path: Path) -> bool:
    """A safetensors file: an 8-byte little-endian header length, then a JSON header starting with '{'
    (safetensors format spec). Told by content, so a ``.pt`` name does not decide."""
    with open(path, "rb") as fh:
        head = fh.read(9)
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") > 0




def file_id(path: Path) -> str:
    """Short content hash naming a weights file in outputs (``stack.json``). Remembered per file version
    (path, inode, size, modification time), since a run reads the header before it loads the tensors."""
    stat = os.stat(path)
    return _hashed_file_id(str(Path(path).resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _hashed_file_id(path: str, inode: int, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]
