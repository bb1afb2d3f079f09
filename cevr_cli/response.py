"""Camera responses as values: the monotone curve R between relative linear light and encoded pixel codes.

A response maps linear light x in [0, 1] (1 = the white point: the light that just reaches the top code)
to codes y = R(x) in [0, 1], per channel, and back with R^-1. Re-exposing a photo by s stops is then
R(min(2^s R^-1(y), 1)) wherever the photo recorded the light (:mod:`cevr_cli.exposure`).

Built in (:func:`parse_response`):

* ``srgb``: IEC 61966-2-1 (renders, screenshots, exports; cevr's own outputs).
* ``gamma:G``: y = x^(1/G).
* ``linear``: y = x (camera RAW data, scene-linear files).
* ``camera``: a generic camera-JPEG prior, the mean of the measured camera base curves darktable ships
  (``src/iop/basecurve.c``, measured from RAW+JPEG pairs), composed with sRGB as darktable applies them;
  the held-out curves are excluded (see ``cevr_cli/data/README.md``).
* a profile file (JSON, written by ``cevr calibrate``): a per-channel table for one camera.

``auto`` (:func:`choose_response`) routes by what the file says: camera RAW -> linear; an image cevr rendered
(EXIF Software cevr) -> ``srgb``; a photo with camera EXIF (Make) -> the installed profile of that camera,
else ``camera``; anything else -> ``srgb``.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
import sys
from dataclasses import dataclass, field
from functools import cache, cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .assets import package_file
from .errors import InputError, UsageError
from .imaging import srgb_decode, srgb_encode, unit_codes
from .io.atomic import shortened_name
from .io.exif import is_cevr_software
from .vocabulary import RESPONSES

PROFILE_FORMAT = "cevr-response"
PROFILE_VERSION = 1
GAMMA_RANGE = (0.2, 5.0)  # `gamma:G`: power laws any camera or display uses lie well inside
MAX_PROFILE_BYTES = 16 << 20  # a 16-bit profile of 3 rows is about 0.1 MiB: a larger file is not read into memory


class PiecewiseLinear:
    """y = f(x), linear between increasing nodes ``(xp, fp)`` on [xp[0], xp[-1]] and held at the ends outside:
    ``np.interp``'s function, evaluated in float32 through a uniform index of the segments.

    ``np.interp`` binary-searches the nodes for every value in float64: 1.3 s for one 12-megapixel frame through a
    4096-node camera curve, most of a physics stack's time (0.27 s here: tests/benchmarks/bench_table_response.py).
    Here the value's bucket (one of a power of two at least twice the nodes' density) names the segment that holds
    the bucket's lower neighbour, and a step or two along the nodes finds its own (``steps``, the most any bucket
    needs, known from the nodes). Agrees with
    ``np.interp`` to float32 rounding (tests/test_response.py).
    """

    MAX_BUCKETS = 1 << 20
    MAX_STEPS = 16  # beyond, nodes crowd into one bucket (a calibrated curve's flat run steps by 1e-9): the walk
    # along them cost 10.8 s a megapixel for 1,200 such nodes, so those curves binary-search (np.interp) instead

    def __init__(self, xp: np.ndarray, fp: np.ndarray) -> None:
        xp, fp = np.asarray(xp, dtype=np.float64), np.asarray(fp, dtype=np.float64)
        self.xp, self.fp = xp, fp
        self.low, self.high = xp[0], xp[-1]
        span = self.high - self.low
        density = span / max(float(np.diff(xp).min()), span / self.MAX_BUCKETS)  # denormal gaps: no inf
        self.buckets = min(self.MAX_BUCKETS, 1 << max(4, math.ceil(math.log2(2.0 * density))))
        self.scale = self.buckets / span
        # from the bucket below's lower edge: float32 rounding may put a value one bucket too high
        edges = self.low + np.arange(-1, self.buckets + 2, dtype=np.float64) / self.scale
        segment = np.clip(np.searchsorted(xp, edges, side="right") - 1, 0, xp.size - 2)
        self.first = segment[:-3].astype(np.intp)
        self.steps = int((segment[3:] - segment[:-3]).max())
        with np.errstate(over="ignore"):  # a denormal gap's slope overflows (float64, or float32): binary search
            slope = np.diff(fp) / np.diff(xp)
            self.start, self.slope, self.value = (a.astype(np.float32) for a in (xp[:-1], slope, fp[:-1]))
        self.upper = np.append(xp[1:-1], np.inf).astype(np.float32)  # the last segment runs to the end
        # nodes that float32 cannot tell apart (a step of 1e-40) make an infinite float32 slope: binary search
        apart = bool(np.all(np.diff(xp.astype(np.float32)) > 0) and np.all(np.isfinite(self.slope)))
        self.binary_search = self.steps > self.MAX_STEPS or not apart

    def __call__(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float32)
        out = np.empty(values.shape, dtype=np.float32)
        flat, into = values.reshape(-1), out.reshape(-1)
        if self.binary_search:
            for start in range(0, flat.size, CHUNK):
                into[start:start + CHUNK] = np.interp(flat[start:start + CHUNK], self.xp, self.fp)
            return out
        scratch = _scratch(min(flat.size, CHUNK))
        for start in range(0, flat.size, CHUNK):
            self._evaluate(flat[start:start + CHUNK], into[start:start + CHUNK], scratch)
        return out

    def _evaluate(self, values: np.ndarray, out: np.ndarray, scratch: tuple[np.ndarray, ...]) -> None:
        n = values.size
        bucket, index, segment, above, table = (a[:n] for a in scratch)
        # ufuncs, not np.clip: its Python wrapper costs more than the arithmetic on a chunk
        x = np.maximum(values, np.float32(self.low), out=out)
        np.minimum(x, np.float32(self.high), out=x)
        np.subtract(x, np.float32(self.low), out=bucket)
        bucket *= np.float32(self.scale)
        index[...] = bucket
        np.take(self.first, index, out=segment, mode="clip")
        for _ in range(self.steps):
            np.take(self.upper, segment, out=table, mode="clip")
            np.greater_equal(x, table, out=above)
            segment += above
        x -= np.take(self.start, segment, out=table, mode="clip")  # from the start, not an intercept: no cancellation
        x *= np.take(self.slope, segment, out=table, mode="clip")
        x += np.take(self.value, segment, out=table, mode="clip")


CHUNK = 1 << 16  # values per pass of PiecewiseLinear: its temporaries stay in the CPU's cache


def _scratch(size: int) -> tuple[np.ndarray, ...]:
    """PiecewiseLinear's temporaries for one chunk (bucket, index, segment, above, table), allocated once per call;
    indices as intp and takes in "clip" mode: numpy's fastest gather, which also puts x = high (bucket index
    ``buckets``) in the last bucket."""
    return (np.empty(size, np.float32), np.empty(size, np.intp), np.empty(size, np.intp), np.empty(size, bool),
            np.empty(size, np.float32))


@dataclass(frozen=True)
class Response:
    """A monotone per-channel curve R: relative linear light [0, 1] -> codes [0, 1], with its inverse.

    ``kind`` is ``srgb``, ``gamma``, ``linear`` (closed forms) or ``table``: ``codes`` (N,) increasing
    from 0 to 1 and ``linear`` (C, N) with C = 1 (all channels alike) or 3, each row increasing from 0 to
    1: R^-1 sampled at ``codes``, both directions linear interpolation between the samples, so that
    R(R^-1(y)) = y exactly at every code. The white point is linear 1 (the light that reaches code 1).
    """

    name: str
    kind: str
    gamma: float = 1.0
    codes: np.ndarray | None = field(default=None, repr=False, compare=False)
    linear: np.ndarray | None = field(default=None, repr=False, compare=False)
    source: str = ""

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """R^-1: codes (..., 3) in [0, 1] (or uint8/uint16 codes, :func:`~cevr_cli.imaging.unit_codes`) -> relative
        linear light, float32.

        Raises:
            UsageError: a table with a curve per channel given values whose last axis is not 3.
        """
        y = np.asarray(unit_codes(codes), dtype=np.float32)
        if self.kind == "table":  # the table's ends hold beyond [0, 1]: no clipped copy of a whole frame
            return self._table(y, forward=False)
        if self.kind == "srgb":
            return srgb_decode(y)
        y = np.clip(y, 0.0, 1.0)
        if self.kind == "gamma":
            return np.power(y, np.float32(self.gamma))
        return y  # linear

    def encode(self, linear: np.ndarray) -> np.ndarray:
        """R: relative linear light (..., 3) -> codes in [0, 1], clipped at the white point; float32.

        Raises:
            UsageError: as :meth:`decode`.
        """
        x = np.asarray(linear, dtype=np.float32)
        if self.kind == "table":
            return self._table(x, forward=True)
        if self.kind == "srgb":
            return srgb_encode(x)
        x = np.clip(x, 0.0, 1.0)
        if self.kind == "gamma":
            return np.power(x, np.float32(1.0 / self.gamma))
        return x  # linear

    def _table(self, values: np.ndarray, forward: bool) -> np.ndarray:
        """Piecewise-linear lookup of ``values`` (..., 3) through the per-channel (or shared) sample tables: R if
        ``forward``, else R^-1."""
        curves = self._curves[forward]
        if len(curves) == 1:
            return curves[0](values)
        if values.ndim == 0 or values.shape[-1] != len(curves):  # (H, W) took R, G, B, B... along its columns
            raise UsageError(f"response {self.name}: its curves are per channel, so values come as (..., "
                             f"{len(curves)}), one per channel; got shape {values.shape}")
        out = np.empty(values.shape, dtype=np.float32)
        for c in range(values.shape[-1]):
            out[..., c] = curves[min(c, len(curves) - 1)](values[..., c])
        return out

    @cached_property
    def _curves(self) -> dict[bool, list[PiecewiseLinear]]:
        """The table's curves, each indexed once per response (a frame is 36 M lookups at 12 MP)."""
        codes, linear = np.atleast_2d(self.codes), np.atleast_2d(self.linear)
        rows = max(len(codes), len(linear))
        pairs = [(linear[min(c, len(linear) - 1)], codes[min(c, len(codes) - 1)]) for c in range(rows)]
        return {True: [PiecewiseLinear(x, y) for x, y in pairs], False: [PiecewiseLinear(y, x) for x, y in pairs]}

    def describe(self) -> dict[str, Any]:
        """What manifests record: the name and, for tables, where the curve came from."""
        record: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.kind == "gamma":
            record["gamma"] = self.gamma
        if self.source:
            record["source"] = self.source
        return record


SRGB = Response("srgb", "srgb")
LINEAR = Response("linear", "linear")


def gamma_response(gamma: float) -> Response:
    """y = x^(1/gamma); ``gamma`` within :data:`GAMMA_RANGE`."""
    low, high = GAMMA_RANGE
    if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real):  # text or None: math.isfinite's TypeError
        raise UsageError(f"gamma {gamma!r}: the gamma must be a number from {low:g} to {high:g} (e.g. 2.2)")
    if not (math.isfinite(gamma) and low <= gamma <= high):
        raise UsageError(f"--response gamma:{gamma:g}: the gamma must be a number from {low:g} to {high:g} "
                         "(e.g. gamma:2.2)")
    return Response(f"gamma:{gamma:g}", "gamma", gamma=float(gamma))


def table_response(name: str, codes: np.ndarray, linear: np.ndarray, source: str = "") -> Response:
    """A tabulated response, checked: codes and each linear row strictly increasing from 0 to 1.

    Raises:
        InputError: a table that is not a monotone curve from 0 to 1.
    """
    where = source or name
    try:
        codes = np.asarray(codes, dtype=np.float64)
        linear = np.asarray(linear, dtype=np.float64)
    except (TypeError, ValueError):  # text, ragged rows: numpy's "could not convert string to float"
        raise InputError(where, "a response needs N codes and 1 or 3 rows of N linear values (numbers)") from None
    if linear.ndim in (1, 2):
        linear = np.atleast_2d(linear)
    if (codes.ndim != 1 or codes.size < 2 or linear.ndim != 2 or linear.shape[1] != codes.size
            or linear.shape[0] not in (1, 3)):
        raise InputError(where, "a response needs N codes and 1 or 3 rows of N linear values")
    for values, what in [(codes, "codes"), *((row, "linear values") for row in linear)]:
        if not np.all(np.isfinite(values)) or np.any(np.diff(values) <= 0):
            raise InputError(where, f"the {what} must be finite and strictly increasing")
        if abs(values[0]) > 1e-9 or abs(values[-1] - 1.0) > 1e-9:
            raise InputError(where, f"the {what} must run from 0 to 1 (normalise the white point to 1)")
    return Response(name, "table", codes=codes, linear=linear, source=source)


def _data_path() -> Path:
    return package_file("data", "darktable_curves.npz")


@cache
def darktable_curves() -> dict[str, np.ndarray]:
    """The derived darktable camera-curve table (see ``cevr_cli/data/README.md``)."""
    with np.load(_data_path(), allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


@cache
def camera_prior() -> Response:
    """The generic camera-JPEG prior: the mean of darktable's training camera curves (R averaged over cameras
    at each linear value), composed with sRGB."""
    table = darktable_curves()
    return table_response("camera", table["codes"], table["camera_prior"],
                          source="mean of darktable's measured camera base curves, with sRGB")


def darktable_response(index: int) -> Response:
    """One of darktable's measured camera curves (composed with sRGB), by its row in the table."""
    table = darktable_curves()
    return table_response(f"darktable:{table['names'][index]}", table["codes"], table["linear"][index],
                          source="darktable src/iop/basecurve.c")


# --- profiles ----------------------------------------------------------------------------------------------

def profiles_dir() -> Path:
    """Where ``cevr calibrate --install`` puts profiles and ``auto`` looks for them: the per-user config folder
    (``$CEVR_CONFIG_DIR``, else ``%APPDATA%\\cevr`` on Windows, ``~/Library/Application Support/cevr`` on
    macOS, ``$XDG_CONFIG_HOME/cevr`` or ``~/.config/cevr`` elsewhere), subfolder ``responses``."""
    override = os.environ.get("CEVR_CONFIG_DIR")
    if override:
        base = Path(override)
    elif sys.platform == "win32":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming")) / "cevr"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support" / "cevr"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "cevr"
    return base / "responses"


def camera_key(make: str | None, model: str | None) -> str:
    """A file-name-safe key for a camera: ``canon__canon-eos-5d-mark-ii`` (case and punctuation ignored; letters of
    any script kept, so that two makes written only in non-Latin letters do not share one key)."""
    def slug(text: str | None) -> str:
        return re.sub(r"[\W_]+", "-", (text or "").strip().casefold()).strip("-") or "unknown"

    return shortened_name(f"{slug(make)}__{slug(model)}", _MAX_KEY_BYTES)  # a file name: 255 bytes at most


_MAX_KEY_BYTES = 200


def profile_record(response: Response, make: str | None, model: str | None, method: str,
                   extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON document of a profile (``format``, ``version``, camera, method, the table). The table's values are
    written in full (JSON keeps a float's shortest exact form): a fitted curve may rise by 1e-9 across codes no
    pixel measured, and rounding would make it flat there, a curve :func:`load_profile` refuses."""
    assert response.codes is not None and response.linear is not None
    return {"format": PROFILE_FORMAT, "version": PROFILE_VERSION, "make": make, "model": model,
            "method": method, "codes": [float(c) for c in response.codes],
            "linear": [[float(v) for v in row] for row in np.atleast_2d(response.linear)],
            **(extra or {})}


def load_profile(path: str | os.PathLike[str]) -> Response:
    """A profile written by ``cevr calibrate``; one read per version of the file: a batch asks for it once per
    photo (and ``--response`` once more to check it first), and the Response keeps its indexed curves.

    Raises:
        InputError: unreadable, not a cevr response profile, no version recorded, a newer version, or not a
            monotone curve.
    """
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise InputError(path, f"cannot read the response profile ({exc})") from None
    if stat.st_size > MAX_PROFILE_BYTES:
        raise InputError(path, f"too large for a response profile ({stat.st_size / 2**20:.0f} MiB; a profile is at "
                         f"most {MAX_PROFILE_BYTES >> 20} MiB, `cevr calibrate` writes under 0.1 MiB)")
    return _read_profile(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=32)
def _read_profile(path: Path, mtime_ns: int, size: int) -> Response:
    """:func:`load_profile` for one version of the file (``mtime_ns`` and ``size`` key the cache)."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_PROFILE_BYTES + 1)  # the file may have grown since its size was read
        if len(data) > MAX_PROFILE_BYTES:
            raise InputError(path, f"too large for a response profile (over {MAX_PROFILE_BYTES >> 20} MiB)")
        document = json.loads(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(path, f"cannot read the response profile ({exc})") from None
    except RecursionError:
        raise InputError(path, "not a cevr response profile (JSON nested too deep)") from None
    if not isinstance(document, dict) or document.get("format") != PROFILE_FORMAT:
        raise InputError(path, "not a cevr response profile (write one with `cevr calibrate`)")
    if "version" not in document:  # every profile `cevr calibrate` wrote records one: this one was made otherwise
        raise InputError(path, "the profile records no version (every profile `cevr calibrate` writes has one): "
                         "recalibrate the camera with `cevr calibrate`")
    version = document["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise InputError(path, f"the profile's version {version!r} is not a whole number")
    if version > PROFILE_VERSION:
        raise InputError(path, f"profile version {version} is newer than this cevr: upgrade cevr")
    try:
        codes, linear = np.asarray(document["codes"], float), np.asarray(document["linear"], float)
    except (KeyError, TypeError, ValueError):
        raise InputError(path, "the profile has no usable 'codes' and 'linear' tables") from None
    camera = " ".join(str(v) for v in (document.get("make"), document.get("model")) if v)
    return table_response(f"profile:{camera or path.stem}", codes, linear, source=str(path))


def profile_path(make: str, model: str | None) -> Path:
    """Where a camera's installed profile lives (``cevr calibrate --install`` writes it, ``auto`` reads it)."""
    return profiles_dir() / f"{camera_key(make, model)}.json"


def installed_profile(make: str | None, model: str | None) -> Path | None:
    """The installed profile of this camera, if any."""
    if not make:
        return None
    candidate = profile_path(make, model)
    return candidate if candidate.is_file() else None


def installed_profiles() -> list[Path]:
    """Every installed profile, sorted by name."""
    folder = profiles_dir()
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


# --- choosing a response -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ResponseChoice:
    """The response used for a photo and why (recorded in stack.json and fuse.json)."""

    response: Response
    reason: str
    # Files whose change would change the choice: the camera's installed profile (there or not) under ``auto``,
    # the profile file of ``--response PROFILE.json``.
    depends_on: tuple[Path, ...] = ()

    def describe(self) -> dict[str, Any]:
        return {**self.response.describe(), "reason": self.reason}


def check_response_spec(spec: str | os.PathLike[str]) -> str:
    """Validate a ``--response`` value (a name, or a profile's path as ``str`` or ``os.PathLike``) before any photo
    is read; returns it normalised, as text.

    Raises:
        UsageError: not text or a path, an unknown name, a bad gamma, or a profile file that does not exist.
    """
    spec = os.fspath(spec) if isinstance(spec, os.PathLike) else spec
    if not isinstance(spec, str):
        raise UsageError(f"--response {spec!r}: give a name ({', '.join(RESPONSES)}) or a profile .json path")
    text = spec.strip()
    lowered = text.lower()
    if lowered in RESPONSES and ":" not in lowered:  # the named curves; gamma:G is a pattern
        return lowered
    if lowered.startswith("gamma:"):
        try:
            gamma_response(float(lowered.split(":", 1)[1]))
        except ValueError:
            raise UsageError(f"--response {spec!r}: write the gamma as a number, e.g. gamma:2.2") from None
        return lowered
    if text.lower().endswith(".json"):
        if not Path(text).is_file():
            raise UsageError(f"--response {spec}: no such profile file")
        try:
            load_profile(text)  # a broken profile stops the run here, not once per photo
        except InputError as exc:
            raise UsageError(f"--response {exc}") from None
        return text
    raise UsageError(f"--response {spec!r}: use {', '.join(RESPONSES)} or a profile .json")


def parse_response(spec: str | os.PathLike[str]) -> Response:
    """A fixed response from its name, or a profile's path (not ``auto``: that needs the photo, see
    :func:`choose_response`)."""
    name = check_response_spec(spec)
    if name == "auto":
        raise UsageError("--response auto depends on each photo: use choose_response()")
    if name == "srgb":
        return SRGB
    if name == "linear":
        return LINEAR
    if name == "camera":
        return camera_prior()
    if name.startswith("gamma:"):
        return gamma_response(float(name.split(":", 1)[1]))
    try:
        return load_profile(name)
    except InputError as exc:
        raise UsageError(str(exc)) from None


def choose_response(spec: str | os.PathLike[str], *, raw: bool, make: str | None, model: str | None,
                    software: str | None = None) -> ResponseChoice:
    """The response for one photo: ``spec`` itself (a name, or a profile's path), or for ``auto`` what the file says.

    ``raw``: the photo is camera RAW data (linear). ``make``/``model``: its EXIF camera, if any.
    ``software``: its EXIF Software; cevr's own sRGB renderings (a RAW's stack frames, tone-mapped images)
    name cevr there and carry the camera's Make, which does not make them camera JPEGs.
    """
    name = check_response_spec(spec)
    if name != "auto":
        named = () if name in RESPONSES or name.startswith("gamma:") else (Path(name).absolute(),)
        return ResponseChoice(parse_response(name), f"--response {name}", named)
    if raw:
        return ResponseChoice(LINEAR, "camera RAW: linear sensor data")
    if is_cevr_software(software):
        return ResponseChoice(SRGB, f"EXIF Software {software}: cevr's own sRGB rendering")
    if make:
        camera = " ".join(v for v in (make, model) if v)
        profile = installed_profile(make, model)
        if profile is not None:
            return ResponseChoice(load_profile(profile), f"EXIF camera {camera}: installed profile {profile.name}",
                                  (profile,))
        return ResponseChoice(camera_prior(), f"EXIF Make {make}, no profile: camera prior",
                              (profile_path(make, model),))  # a profile installed later redoes the photo
    return ResponseChoice(SRGB, "no camera EXIF (render, export or screenshot): sRGB")
