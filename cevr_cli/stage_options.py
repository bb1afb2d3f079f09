"""What `cevr stack` and `cevr fuse` are asked: each option declared once (:mod:`cevr_cli.options`).

Default, help text, allowed values and whether the option changes the outputs live in the field; the CLI
builds its flags from them (``cevr_cli.cli.common.flag``), the classes validate themselves at construction
and record the output-changing fields with every output. Torch- and numpy-free, so that ``cevr --help``
stays instant; what needs them is imported where it is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import UsageError
from .evs import CONTINUOUS_EVS, MAX_EVS, check_ev_values, label_clash, parse_evs
from .options import given, option, option_specs, replaced, request_record, validate
from .vocabulary import (
    EXPOSURE_MODELS,
    EXR_COMPRESSION,
    EXR_COMPRESSIONS,
    HDR_FORMATS,
    MAX_MEGAPIXELS,
    MERGES,
    RAW_MODES,
    RESPONSE_HELP,
    RESPONSE_SUGGESTIONS,
    STACK_FORMATS,
    TONE_MAPPERS,
    format_for_bits,
)

if TYPE_CHECKING:
    from .exposure import ExposureModel, ModelSpec
    from .io.images import Photo
    from .measure import MeasuredPhoto

_MODEL_HELP = "How frames are made: " + "; ".join(f"{k} = {v}" for k, v in EXPOSURE_MODELS.items()) + "."
_RAW_HELP = "Camera RAW files: " + "; ".join(f"{k} = {v}" for k, v in RAW_MODES.items()) + "."
_MERGE_HELP = "How a photo's HDR image is made: " + "; ".join(f"{k} = {v}" for k, v in MERGES.items()) + "."
_TMO_HELP = ("Tone mapping: " + "; ".join(f"{name} = {what}" for name, what in TONE_MAPPERS.items())
             + "; none = only the HDR file.")


def check_evs(evs: Sequence[float] | str) -> tuple[float, ...]:
    """The EV list as ``parse_evs`` makes it: sorted, distinct, finite, within +-6 EV, at most 121 values; a
    string is read by ``parse_evs`` (``StackOptions("-3:3:0.5")``).

    Raises:
        UsageError: anything else (a library user's hand-made list).
    """
    if isinstance(evs, str):  # what --evs takes, read as the CLI reads it
        return tuple(parse_evs(evs))
    values = tuple(check_ev_values(evs))
    clash = label_clash(values)
    if clash is not None:
        raise UsageError(f"EV list {list(values)}: two EVs are one to 0.01 stop, as frames are named "
                         f"({clash[0]:g} and {clash[1]:g})")
    if not values or len(values) > MAX_EVS or list(values) != sorted(set(values)):
        raise UsageError(f"EV list {list(values)}: need 1 to {MAX_EVS} distinct values in -6..6, ascending "
                         "(parse_evs makes one from '-3:3:0.5' or '-2,-1,1,2')")
    return values


def _check_response(options: Any) -> None:
    """The ``response`` field checked and kept as text: a name, or a profile's path (given as ``str`` or ``Path``)."""
    from .response import check_response_spec  # imports numpy: only when a request is made

    object.__setattr__(options, "response", check_response_spec(options.response))


_Options = TypeVar("_Options", "StackOptions", "FuseOptions")


def _for_model(options: _Options, model: ExposureModel | ModelSpec | None) -> _Options:
    """``options`` whose ``model`` is the model given (:func:`~cevr_cli.exposure.model_choice`), checked again as
    such: that model makes the frames, so the merge ``auto`` picks and the request a manifest records follow it,
    not a field left at its default (``cevr`` recorded for physics frames). The same options when they agree, or
    for no model or one of the caller's own making."""
    from .exposure import model_choice

    choice = model_choice(model) if model is not None else None
    return options if choice is None or choice == options.model else replaced(options, model=choice)


def _profiles_in_use(response: str) -> dict[str, str]:
    """Under ``--response auto``, the folder of installed profiles it looks in: another one (``CEVR_CONFIG_DIR``)
    may hold a profile for a photo's camera, so it is another request. A profile installed, replaced or removed in
    the same folder is followed per photo (``depends_on``)."""
    from .response import profiles_dir

    return {"profiles": str(profiles_dir().expanduser().resolve())} if response == "auto" else {}


@dataclass(frozen=True)
class StackOptions:
    """What `cevr stack` is asked."""

    evs: Sequence[float] = field(default=CONTINUOUS_EVS)
    image_format: str = option("png", "png = 8-bit PNG, tiff = 16-bit TIFF.", flag="--format", choices=STACK_FORMATS,
                               request=True)
    max_megapixels: float = option(MAX_MEGAPIXELS, "Refuse photos larger than this.", gt=0)
    raw_mode: str = option("linear", _RAW_HELP, choices=RAW_MODES, request=True)
    response: str = option("auto", RESPONSE_HELP, request=True, suggestions=RESPONSE_SUGGESTIONS)
    model: str = option("cevr", _MODEL_HELP, choices=EXPOSURE_MODELS, request=True)
    encoders: int | None = None  # threads encoding images while the next EV computes; None: the default

    def __post_init__(self) -> None:
        object.__setattr__(self, "evs", check_evs(self.evs))
        validate(self)
        _check_response(self)

    def read(self, path: Path) -> Photo:
        """Decode a photo within this request's size limit."""
        from .io.images import read_photo

        return read_photo(path, max_megapixels=self.max_megapixels)

    def for_model(self, model: ExposureModel | ModelSpec) -> StackOptions:
        """These options with ``model`` the one given: the model passed wins over the field (:func:`_for_model`)."""
        return _for_model(self, model)

    def request(self, model: ExposureModel | ModelSpec) -> dict[str, Any]:
        """What the stack folder records as asked (another request redoes it): the output-changing options, with
        the model ``model`` is (:meth:`for_model`), the model's weights id and the physics revision."""
        from .exposure import PHYSICS_REVISION

        return {"evs": list(self.evs), **request_record(self.for_model(model)), **_profiles_in_use(self.response),
                "weights_id": model.weights_id, "physics": PHYSICS_REVISION}


@dataclass(frozen=True)
class FuseOptions:
    """What `cevr fuse` is asked."""

    evs: Sequence[float] = field(default=CONTINUOUS_EVS)
    tmo: str = option("reinhard", _TMO_HELP, choices=(*TONE_MAPPERS, "none"), request=True)
    hdr_format: str = option("exr", "exr = OpenEXR, hdr = Radiance RGBE.", flag="--format", choices=HDR_FORMATS,
                             request=True)
    full_float: bool = option(False, "32-bit float EXR instead of half.", flag="--float", request=True)
    compression: str = option(EXR_COMPRESSION, "EXR compression.", choices=EXR_COMPRESSIONS, request=True)
    save_crf: bool = option(False, "Also write the camera response (recovered, or the one a measured merge used) as "
                                   "CSV and a PNG plot.", request=True)
    keep_stack: bool = option(False, "From photos: also keep the stack.", request=True)
    raw_mode: str = option("linear", _RAW_HELP, choices=RAW_MODES, request=True)
    response: str = option("auto", RESPONSE_HELP, request=True, suggestions=RESPONSE_SUGGESTIONS)
    model: str = option("cevr", _MODEL_HELP, choices=EXPOSURE_MODELS, request=True)
    merge: str = option("auto", _MERGE_HELP, choices=MERGES, request=True)
    max_megapixels: float = option(MAX_MEGAPIXELS, "Refuse photos (and stack folders' frames) larger than this.", gt=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "evs", check_evs(self.evs))
        validate(self)
        _check_response(self)
        if self.hdr_format != "exr" and (self.full_float or given(self, "compression")):
            flag = "--float" if self.full_float else f"--compression {self.compression}"
            raise UsageError(f"{flag} is for OpenEXR files; --format {self.hdr_format} (Radiance RGBE) has neither")
        if len(self.evs) < 2 and self.merge_for_source(linear_source=False) == "debevec":
            why = "--merge debevec" if self.merge == "debevec" else "--model cevr-paper (its merge is Debevec's)"
            raise UsageError(f"{why} recovers the response from the stack: give at least two EVs (e.g. --evs "
                             f"-3:3:0.5), not {len(self.evs)}")

    PHOTO_ONLY = ("model", "keep_stack", "merge", "response", "raw_mode")  # fields a stack folder is fused without

    def stack_folder_request(self) -> dict[str, Any]:
        """What fuse.json records as asked for a stack folder: the output-changing options less the photos' own
        (:attr:`PHOTO_ONLY`, ``--evs``, the weights, the physics revision), which its fuse does not use, so that
        changing them neither redoes it nor is recorded as what made it."""
        return {name: value for name, value in request_record(self).items() if name not in self.PHOTO_ONLY}

    def photo_only_flags(self) -> list[str]:
        """The flags given (:func:`~cevr_cli.options.given`: on the command line, or not at their default) that apply
        to photos only: a stack folder is fused as it is, by Debevec & Malik's merge of its own frames."""
        specs = option_specs(self)
        evs = ["--evs"] if tuple(self.evs) != CONTINUOUS_EVS else []  # a stack folder's frames are its EVs
        return evs + [specs[name][0].flag_for(name) for name in self.PHOTO_ONLY if given(self, name)]

    @property
    def tone_mapper(self) -> str | None:
        """The operator of the tone-mapped image, None for ``--tmo none`` (the HDR file only)."""
        return None if self.tmo == "none" else self.tmo

    @property
    def half(self) -> bool:
        return not self.full_float

    def stack_options(self, bits: int) -> StackOptions:
        """The stack request a kept stack (``--keep-stack``) records."""
        return StackOptions(self.evs, format_for_bits(bits), self.max_megapixels, self.raw_mode, self.response,
                            self.model)

    @property
    def frames_per_photo(self) -> int:
        """The frames a photo's progress counts: the paper's merge makes its stack frame by frame; the measured
        merge makes the HDR image in one step (a RAW read by the paper's model in ``auto`` shows no count)."""
        return len(self.evs) if self.merge_for_source(linear_source=False) == "debevec" else 0

    def merge_for(self, photo: MeasuredPhoto) -> str:
        """``auto``: the paper's Debevec merge for the paper's model on a photo, else the measured merge."""
        return self.merge_for_source(photo.measured.linear_source)

    def merge_for_source(self, linear_source: bool) -> str:
        """:meth:`merge_for` before the photo is read: ``linear_source`` for linear RAW data
        (:func:`cevr_cli.measure.reads_linear`)."""
        if self.merge != "auto":
            return self.merge
        return "debevec" if self.model == "cevr-paper" and not linear_source else "measured"

    def for_model(self, model: ExposureModel | ModelSpec | None) -> FuseOptions:
        """These options with ``model`` the one given: the model passed wins over the field, and the merge ``auto``
        follows it (:func:`_for_model`; Debevec's for the paper's model).

        Raises:
            UsageError: one EV for the paper's model, whose merge recovers the response from the stack.
        """
        return _for_model(self, model)

    def request(self, model: ExposureModel | ModelSpec | None) -> dict[str, Any]:
        """What fuse.json records as asked, with the model ``model`` is (:meth:`for_model`; None: only stack folders,
        the field as it is); another request redoes the folder."""
        from .exposure import PHYSICS_REVISION

        return {"evs": list(self.evs), **request_record(self.for_model(model)), **_profiles_in_use(self.response),
                "weights_id": model.weights_id if model is not None else None, "physics": PHYSICS_REVISION}
