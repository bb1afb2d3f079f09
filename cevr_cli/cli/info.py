"""`cevr info` and `cevr convert-weights`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .common import DebugOpt, JsonOpt, err, errors, out


def info(as_json: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Device found, weights loaded and their id, library versions, installed response profiles."""
    with errors(debug):
        from ..diagnostics import collect_info

        facts = collect_info()
    if as_json:
        out.print_json(json.dumps(facts))
    else:
        for key, value in facts.items():
            if key == "profiles":
                out.print(f"{key:>16}: {len(value) or 'none installed (cevr calibrate --install)'}", soft_wrap=True)
                for profile in value:
                    camera = " ".join(str(v) for v in (profile["make"], profile["model"]) if v)
                    out.print(f"{'':>16}  {profile['path']} ({camera})", soft_wrap=True)
            else:
                out.print(f"{key:>16}: {value}", soft_wrap=True)


def convert_weights(
    inc: Annotated[Path, typer.Argument(help="Official increase-EV checkpoint (.../inc/final_model.pth).")],
    dec: Annotated[Path, typer.Argument(help="Official decrease-EV checkpoint (.../dec/final_model.pth).")],
    output: Annotated[
        Path, typer.Option("--out", "-o", help="Output .safetensors file.")
    ] = Path("cevr-official.safetensors"),
    debug: DebugOpt = False,
) -> None:
    """Convert the official CEVR checkpoints (plain PyTorch state dicts) to cevr's safetensors format."""
    with errors(debug):
        from ..model import load_official_pair, save_pair

        pair = load_official_pair(inc, dec)
        file_id = save_pair(pair, output, half=False)
    err.print(f"wrote {output} (id {file_id}); use it with --weights {output}")
