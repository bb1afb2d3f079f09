"""Configuration of the CEVR network (Chen et al., ICCV 2023), timm style: one dataclass, named variants."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..errors import WeightsError


@dataclass(frozen=True)
class CEVRConfig:
    """Shape of one CEVR model.

    The defaults are the official ``CEVR_NormNoAffine_Maps`` GroupNorm model: a VGG16-bn encoder cut after
    its third stage (64, 128, 256 channels), per-pixel MLPs of three linear layers (``mlp_num=3``),
    GroupNorm with two groups and no affine parameters, LeakyReLU(0.01). About 3.29 M parameters.
    """

    encoder_channels: tuple[int, int, int] = (64, 128, 256)
    bottleneck_hidden: int = 256
    mlp_layers: int = 3
    norm_groups: int = 2
    leaky_slope: float = 0.01
    variant: str = "cevr"
    # What the intensity transformations act on: "paper" = the photo, F(I, s) re-exposes it (the paper);
    # "residual" = the physics frame P_s (cevr_cli/exposure.py), so that the identity maps give exactly P_s.
    role: str = "paper"

    @property
    def divisor(self) -> int:
        """Height and width must be multiples of this (three 2x poolings)."""
        return 8

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CEVRConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise WeightsError(
                f"weights carry unknown config fields {unknown}; they were written by a newer cevr: upgrade cevr"
            )
        values = dict(data)
        if values.get("role", "paper") not in ROLES:
            raise WeightsError(f"weights carry an unknown model role {values['role']!r}: upgrade cevr")
        if "encoder_channels" in values:
            values["encoder_channels"] = tuple(int(c) for c in values["encoder_channels"])
        return cls(**values)


# One per name of vocabulary.MODEL_VARIANTS.
VARIANTS: dict[str, CEVRConfig] = {
    "cevr": CEVRConfig(),
    # Same wiring at 1/8 of the width: for tests and quick experiments, never for photos.
    "cevr-tiny": CEVRConfig(encoder_channels=(8, 16, 32), bottleneck_hidden=32, variant="cevr-tiny"),
    # The same network in the physics-first role: what the photo measured is exact, the network fills the rest.
    "cevr-residual": CEVRConfig(variant="cevr-residual", role="residual"),
    "cevr-residual-tiny": CEVRConfig(encoder_channels=(8, 16, 32), bottleneck_hidden=32,
                                     variant="cevr-residual-tiny", role="residual"),
}
ROLES = ("paper", "residual")


def get_config(variant: str) -> CEVRConfig:
    try:
        return VARIANTS[variant]
    except KeyError:
        raise WeightsError(f"unknown model variant {variant!r}; known: {', '.join(VARIANTS)}") from None
