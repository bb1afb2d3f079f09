"""Each name the CLI offers (cevr_cli.vocabulary) has exactly one implementation in its registry, and back."""

from cevr_cli import vocabulary as V
from cevr_cli.evaluation.metrics import METRICS
from cevr_cli.hdr.tonemap import TONEMAPPERS
from cevr_cli.model.config import VARIANTS


def test_tone_mappers_variants_and_metrics_match_their_registries():
    assert list(V.TONE_MAPPERS) == list(TONEMAPPERS)
    assert list(V.MODEL_VARIANTS) == list(VARIANTS)
    assert list(V.LDR_METRICS) + list(V.HDR_METRICS) == list(METRICS)
    assert all(VARIANTS[name].variant == name for name in VARIANTS)


def test_suffixes_are_lower_case_dotted_and_disjoint():
    groups = (V.LDR_SUFFIXES, V.RAW_SUFFIXES, V.HDR_SUFFIXES)
    suffixes = [s for group in groups for s in group]
    assert all(s.startswith(".") and s == s.lower() for s in suffixes)
    assert len(set(suffixes)) == len(suffixes)
    assert V.PHOTO_SUFFIXES == V.LDR_SUFFIXES + V.RAW_SUFFIXES
    assert V.HDR_SUFFIXES == (".exr", ".hdr")


def test_a_described_choice_has_no_semicolon_of_its_own_where_help_joins_them_with_one():
    """--help joins "name = meaning" items with "; ": `cevr stack --help` read "--model ... cevr = exact physics
    through the photo's response; the residual CEVR network fills what the photo clipped; physics = ...", and
    "--raw-mode ... linear = exact re-exposure of the sensor's linear data; CEVR fills only what the sensor
    clipped; cevr = ...": where one choice's meaning ended was a guess. Inside brackets a semicolon is unambiguous."""
    import re

    for described in (V.EXPOSURE_MODELS, V.RAW_MODES, V.MERGES, V.INFERENCE_PRECISIONS, V.CALIBRATION_METHODS,
                      V.TONE_MAPPERS, V.MODEL_VARIANTS, V.RESIDUAL_OBJECTIVES, V.RESIDUAL_LOSSES, V.KEPT_CHECKPOINTS,
                      V.TRAINING_PRECISIONS):
        for name, meaning in described.items():
            while re.search(r"\([^()]*\)", meaning):
                meaning = re.sub(r"\([^()]*\)", "", meaning)  # innermost brackets first
            assert "; " not in meaning, (name, meaning)
