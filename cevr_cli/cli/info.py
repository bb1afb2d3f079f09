"""`cevr info` and `cevr convert-weights`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..vocabulary import MODEL_VARIANTS
from .common import DebugOpt, JsonOpt, QuietOpt, choices, errors, out, path_value, print_json, say

Variant = choices("ConvertVariant", list(MODEL_VARIANTS))


def info(as_json: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Device found, weights loaded and their id, library versions, installed response profiles."""
    with errors(debug):
        from ..diagnostics import collect_info

        facts = collect_info()
    if as_json:
        print_json(facts)
    else:
        for key, value in facts.items():
            if key == "profiles":
                out.print(f"{key:>16}: {len(value) or 'none installed (cevr calibrate --install)'}", soft_wrap=True)
                for profile in value:
                    camera = " ".join(str(v) for v in (profile["make"], profile["model"]) if v)
                    label = f" ({camera})" if camera else ""
                    problem = f" {profile['problem']}" if profile.get("problem") else ""
                    out.print(f"{'':>16}  {profile['path']}{label}{problem}", soft_wrap=True)
            else:
                out.print(f"{key:>16}: {value}", soft_wrap=True)


def convert_weights(
    inc: Annotated[Path, typer.Argument(parser=path_value, metavar="INC",
                                        help="Increase-EV checkpoint: official (.../inc/final_model.pth) or "
                                             "cevr's own (runs/.../inc-best.pt).")],
    dec: Annotated[Path, typer.Argument(parser=path_value, metavar="DEC",
                                        help="Decrease-EV checkpoint: official (.../dec/final_model.pth) or "
                                             "cevr's own (runs/.../dec-best.pt).")],
    output: Annotated[
        Path, typer.Option("--out", "-o", help="Output .safetensors file.", parser=path_value, metavar="<path>")
    ] = Path("cevr-official.safetensors"),
    variant: Annotated[
        Optional[Variant],  # noqa: UP045 (typer)
        typer.Option("--variant", help="Model variant of the checkpoints (sets the role: cevr-residual* are "
                                       "residual). Default: what a *-last.pt records, else cevr; a -best.pt "
                                       "does not record it, so pass the variant the run was trained as."),
    ] = None,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Convert PyTorch checkpoints, official CEVR or cevr's own training ones, to cevr's safetensors format."""
    with errors(debug):
        from ..exposure import weights_flags
        from ..model import convert_checkpoints

        pair, file_id = convert_checkpoints(inc, dec, output, variant=variant.value if variant is not None else None)
    use = weights_flags(pair.config.role, output)
    if as_json:
        print_json({"output": str(output), "variant": pair.config.variant, "role": pair.config.role,
                    "weights_id": file_id, "use": use})
    elif not quiet:
        say(f"wrote {output} ({pair.config.variant}, role {pair.config.role}; id {file_id}); use it with {use}")
