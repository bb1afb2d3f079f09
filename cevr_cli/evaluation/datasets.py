"""Benchmark datasets as lists of :class:`BenchScene`: an EV 0 input, ground-truth LDRs, ground-truth HDR.

Kinds (``load_dataset(kind, path)``):

* ``vds`` -- the VDS dataset of Lee et al. (Deep Chain HDRI, ECCV 2018), brackets at EV -3..+3. Two
  layouts are recognised under ``path``:

  - as distributed: ``{split}_set/tN/tN_{ev}EV_true.jpg`` (or ``.jpg.png``), HDR ground truth in
    ``{split}_hdr_set/tN/target_hdr.hdr``;
  - as the CEVR code reads it (``VDS_half_dataset`` in ``train_strategy/core/Data_provider.py``):
    ``{split}/set/tN/tN_{ev}EV_true.jpg.png``; the HDR is looked for in ``{split}_hdr_set/tN/`` and
    ``{split}/hdr_set/tN/`` (CEVR's loader has no HDR path), else the scene has none.

  ``path`` may also be a folder that directly holds the ``tN`` scene folders (``{split}_set`` or ``set`` itself:
  then the HDR truths are also looked for in the ``{split}_hdr_set`` or ``hdr_set`` beside it).
* ``hdreye`` -- HDREye (Nemoto et al. 2015), test only: EV 0 inputs ``images/LDR/Cxx_LDR.tif`` (the
  files CEVR's ``demo_Eye.py`` reads), HDR ground truth ``images/HDR/Cxx_HDR.{exr,hdr}`` or beside
  the LDR; no ground-truth LDR brackets.
* ``brackets`` -- generic exposure brackets: one folder per scene (or ``path`` itself is one scene) of
  LDR images. EVs come from file names (``ev-1.png``, ``EV+0.5.jpg``, ``img_-2EV.tif``,
  ``03_ev+1.00.png``) or, when a name has none, from EXIF: relative step s = EV100(ref) - EV100(img),
  with EV100 = log2(N^2/t) - log2(ISO/100) and ref the middle exposure (a brighter photo has a lower
  EV100, hence a positive s); EXIF steps are snapped to 1/6 stop, which covers cameras' 1/2 and 1/3
  stop grids. The EV 0 image is the input; an ``*.exr``/``*.hdr`` in the scene folder is the HDR truth.
* ``synthetic`` -- a folder of radiance maps (.exr/.hdr) photographed on the fly by
  :mod:`cevr_cli.training.camera` with a camera drawn from a seed derived from the file name (CRC-32), so
  every run sees the same brackets. The input carries sensor noise; the ground-truth LDRs are rendered
  noise-free by the same camera at ``synthetic_evs`` (default -3:3:0.5); the HDR truth is the
  radiance at the EV 0 exposure. Every map in the folder is used (``split`` does not apply): point it
  at held-out scenes.

``size`` resizes every image to size x size with ``cv2.INTER_AREA``, the paper's 256x256 protocol
(CEVR's loaders apply ``transforms.Resize((256, 256))``, which ignores the aspect ratio, so do we).
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError, UsageError, use_one_of
from ..evs import CONTINUOUS_EVS
from ..vocabulary import DATASET_KINDS, DATASETS_ENV, DATASETS_FOLDER, HDR_SUFFIXES, LDR_SUFFIXES, MIN_PHOTO_SIDE

MIN_BENCH_SIZE = MIN_PHOTO_SIDE  # px a side, as for any photo (SSIM's windows need no more)

if TYPE_CHECKING:
    from ..training.camera import SyntheticScene

_NUMBER = r"[+-]?\d+(?:\.\d+)?"
# "ev-1", "EV+0.5", "03_ev+1.00": EV before the number; not preceded by a letter (e.g. "level2").
_EV_PREFIX = re.compile(rf"(?<![a-z])ev\s*({_NUMBER})", re.IGNORECASE)
# "_-2EV", "t1_0EV_true": number before EV; the number must not continue a word or another number.
_EV_SUFFIX = re.compile(rf"(?<![a-z0-9.])({_NUMBER})\s*ev(?![a-z])", re.IGNORECASE)
_EXIF_SNAP = 6  # snap EXIF-derived steps to 1/6 stop



# Where each kind's HDR truths are looked for (``{split}``: the split read), as a gap names a scene without one.
HDR_TRUTH_PLACES = {
    "vds": "{split}_hdr_set/tN/target_hdr.hdr beside {split}_set, or {split}/hdr_set/tN/target_hdr.hdr",
    "hdreye": "images/HDR/Cxx_HDR.exr or .hdr, or beside Cxx_LDR.tif",
    "brackets": "an .exr or .hdr in the scene's folder",
}


@dataclass
class BenchScene:
    """One benchmark scene; images are float32 HxWx3 (LDR in [0, 1], HDR linear and relative)."""

    name: str
    input_ev0: np.ndarray
    ldr_by_ev: dict[float, np.ndarray] = field(default_factory=dict)
    hdr: np.ndarray | None = None


def load_dataset(kind: str, path: str | Path, split: str = "test", size: int | None = None, *,
                 synthetic_evs: Sequence[float] = CONTINUOUS_EVS, skipped: list[str] | None = None
                 ) -> list[BenchScene]:
    """Read a benchmark dataset of ``kind`` (one of :data:`DATASET_KINDS`) from ``path``.

    ``synthetic_evs``: the EVs at which ``synthetic`` scenes get ground-truth LDRs. ``skipped``, when given, gets
    one line for each folder or file among the scenes that is no scene of the layout (a VDS folder whose frames
    are named for another scene or are .jpeg, an HDREye input that is no .tif, a brackets folder without
    images), naming it and why, and one for each scene left out because a file of it cannot be used (unreadable,
    of another size than its photo at the native size, a VDS scene without its EV 0 frame): the scenes read are
    part of the dataset.

    Raises:
        UsageError: a request that cannot be read as ``kind`` (no such folder, not its layout, a bad ``size``).
        InputError: every scene had a file that cannot be used (the first one's).
    """
    skipped = [] if skipped is None else skipped
    path = Path(path)
    if size is not None and size < MIN_BENCH_SIZE:
        raise UsageError(f"benchmark image size must be at least {MIN_BENCH_SIZE} px, got {size}")
    if not path.is_dir():  # the request names it: exit 2
        what = "is a file, not a" if path.is_file() else "not found: no"
        raise UsageError(f"{path}: {what} {kind} dataset folder")
    native = size is None  # no resizing to one size: every image of a scene must have the photo's
    failed: list[InputError] = []  # scenes left out, each for a file of it that cannot be used
    if kind == "vds":
        scenes = _load_vds(path, split, native, skipped, failed)
    elif kind == "hdreye":
        if split != "test":
            raise UsageError(f"HDREye has only a test split, not {split!r}")
        scenes = _load_hdreye(path, native, skipped, failed)
    elif kind == "brackets":
        scenes = _load_brackets(path, native, skipped, failed)
    elif kind == "synthetic":
        scenes = _load_synthetic(path, size, synthetic_evs, failed)
    else:
        raise UsageError(f"unknown dataset kind {kind!r}: {use_one_of(kind, DATASET_KINDS)}")
    if size is not None and kind != "synthetic":
        scenes = [_resize_scene(s, size) for s in scenes]
    elif native and kind != "synthetic":
        scenes = [s for s in scenes if _usable(lambda s=s: _check_native_size(path / s.name, s.input_ev0), failed)]
    if not scenes and failed:
        raise failed[0]
    skipped += [f"scene skipped: {exc}" for exc in failed]
    return scenes


def _usable(read: Callable[[], object], failed: list[InputError]) -> bool:
    """Run ``read`` (a scene's reading or check); False, with its error added to ``failed``, where a file of the
    scene cannot be used: the benchmark goes on with the other scenes and says which were left out."""
    try:
        read()
    except InputError as exc:
        failed.append(exc)
        return False
    return True


def _check_native_size(where: Path, image: np.ndarray) -> None:
    """A scene at its own size (no ``--size``) must be large enough for every metric (SSIM's windows)."""
    if min(image.shape[:2]) < MIN_BENCH_SIZE:
        raise InputError(where, f"{image.shape[1]}x{image.shape[0]} px is too small to benchmark ({MIN_BENCH_SIZE} "
                                "px minimum a side; --size resizes every scene)")


def default_dataset_path(kind: str, environ: Mapping[str, str] | None = None) -> Path:
    """Where ``cevr bench --dataset KIND`` looks when given no path: the folder named KIND (any letter case, e.g.
    ``VDS``) in ``$CEVR_DATASETS``, else in ``./datasets``.

    Raises:
        UsageError: no such folder (the message says where it looked and how to point elsewhere).
    """
    environ = os.environ if environ is None else environ
    root = Path(environ.get(DATASETS_ENV) or DATASETS_FOLDER)
    if root.is_dir():
        for entry in sorted(root.iterdir()):
            if entry.name.lower() == kind.lower() and entry.is_dir():
                return entry
    where = f"${DATASETS_ENV} ({root})" if environ.get(DATASETS_ENV) else f"./{DATASETS_FOLDER}"
    raise UsageError(f"--dataset {kind}: no path given and no {kind} folder in {where}: give the dataset's folder "
                     f"(cevr bench PATH --dataset {kind}) or set {DATASETS_ENV} to the folder holding it")


def ev_from_name(name: str) -> float | None:
    """The EV written in a file name (without its extension), or None when it has none."""
    stem = name
    while Path(stem).suffix.lower() in LDR_SUFFIXES + HDR_SUFFIXES:
        stem = Path(stem).stem
    match = _EV_PREFIX.search(stem) or _EV_SUFFIX.search(stem)
    return round(float(match.group(1)), 6) + 0.0 if match else None


# --- helpers --------------------------------------------------------------------------------------------

def _natural_key(text: str) -> list[object]:
    """Sort t2 before t10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def _read_ldr(path: Path) -> np.ndarray:
    from ..io.images import read_photo

    return read_photo(path).rgb


def _read_hdr(path: Path) -> np.ndarray:
    """A radiance map, which must hold some light: the HDR metrics scale the prediction to it by its peak.

    Raises:
        InputError: unreadable, or no pixel of positive luminance (a black truth stopped the benchmark after its
            scores, naming no file).
    """
    from ..imaging import luminance
    from ..io.hdrfile import read_hdr_image

    image = read_hdr_image(path)
    if not float(np.max(luminance(np.maximum(image, 0.0)), initial=0.0)) > 0:
        raise InputError(path, "holds no light (no pixel of positive luminance): no HDR truth to score against")
    return image


def _read_scene(name: str, ev0: Path, others: dict[float, Path], hdr: Path | None, native: bool) -> BenchScene:
    """A scene from its files: the photo at EV 0, its truths at other EVs, its HDR truth. ``native``: compared at
    their own size, so each must have the photo's (else a metric fails later, naming no file).

    Raises:
        InputError: a file that cannot be read, or (``native``) one of another size than the photo.
    """
    photo = _read_ldr(ev0)
    truths = {ev: _read_ldr(p) for ev, p in sorted(others.items())}
    truth_hdr = _read_hdr(hdr) if hdr is not None else None
    if native:
        for path, image in [*((others[ev], image) for ev, image in truths.items()), (hdr, truth_hdr)]:
            if image is not None and image.shape[:2] != photo.shape[:2]:
                raise InputError(path, f"{image.shape[1]}x{image.shape[0]} px, but the scene's EV 0 photo "
                                 f"{ev0.name} is {photo.shape[1]}x{photo.shape[0]}: --size N compares both at NxN")
    return BenchScene(name, photo, truths, truth_hdr)


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    import cv2

    if image.shape[:2] == (size, size):
        return image
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)


def _resize_scene(scene: BenchScene, size: int) -> BenchScene:
    return BenchScene(
        scene.name,
        _resize(scene.input_ev0, size),
        {ev: _resize(im, size) for ev, im in scene.ldr_by_ev.items()},
        None if scene.hdr is None else _resize(scene.hdr, size),
    )


def _files(folder: Path, suffixes: Iterable[str]) -> list[Path]:
    suffixes = tuple(suffixes)
    return sorted((p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                   and p.suffix.lower() in suffixes), key=lambda p: _natural_key(p.name))


def _first_existing(candidates: Iterable[Path]) -> Path | None:
    return next((p for p in candidates if p.is_file()), None)


# --- VDS ------------------------------------------------------------------------------------------------

_VDS_FILE = re.compile(rf"^(?P<scene>.+)_(?P<ev>{_NUMBER})EV_true\.(?:jpg|jpg\.png|png)$", re.IGNORECASE)
_VDS_LAYOUT = ("{split}_set/tN/tN_<ev>EV_true.jpg or {split}/set/tN/tN_<ev>EV_true.jpg.png, ev from -3 to 3 (HDR: "
               + HDR_TRUTH_PLACES["vds"] + ")")


def _vds_brackets(scene_dir: Path) -> dict[float, Path]:
    """The scene's frames by EV.

    Raises:
        InputError: two frames at one EV (``t1_1EV_true.jpg`` beside ``t1_1EV_true.jpg.png``): which one is
            scored would depend on the folder's listing order.
    """
    found: dict[float, Path] = {}
    for p in sorted(scene_dir.iterdir(), key=lambda q: q.name):
        match = _VDS_FILE.match(p.name)
        if match and match.group("scene") == scene_dir.name and p.is_file():
            ev = round(float(match.group("ev")), 6) + 0.0
            if ev in found:
                raise InputError(scene_dir, f"two frames at EV {ev:+g}: {found[ev].name} and {p.name}; keep one")
            found[ev] = p
    return found


def _has_vds_frames(scene_dir: Path) -> bool:
    try:
        return bool(_vds_brackets(scene_dir))
    except InputError:  # two frames at one EV: frames of VDS's layout still
        return True


def _load_vds(root: Path, split: str, native: bool, skipped: list[str], failed: list[InputError]
              ) -> list[BenchScene]:
    candidates = [root / f"{split}_set", root / split / "set", root]
    set_dir = next((c for c in candidates if c.is_dir() and any(
        d.is_dir() and _has_vds_frames(d) for d in c.iterdir())), None)
    if set_dir is None:
        raise UsageError(f"{root}: not a VDS dataset: expected " + _VDS_LAYOUT.format(split=split))
    hdr_roots = [root / f"{split}_hdr_set", root / split / "hdr_set", *_sibling_hdr_roots(set_dir)]
    scenes = []
    for scene_dir in sorted((d for d in set_dir.iterdir() if d.is_dir() and not d.name.startswith(".")),
                            key=lambda d: _natural_key(d.name)):
        if not _has_vds_frames(scene_dir):
            if not any(r.is_relative_to(scene_dir) for r in hdr_roots):  # scenes beside their HDR truths' folder
                skipped.append(_vds_unrecognised(scene_dir))
            continue
        hdr_path = _first_existing(r / scene_dir.name / "target_hdr.hdr" for r in hdr_roots)
        _usable(lambda d=scene_dir, h=hdr_path: scenes.append(_vds_scene(d, h, native)), failed)
    return scenes


def _sibling_hdr_roots(set_dir: Path) -> list[Path]:
    """Where the HDR truths lie when the scenes' own folder is given: ``X_set`` (as distributed) keeps them in the
    ``X_hdr_set`` beside it, CEVR's ``set`` in ``hdr_set``. ``cevr bench --dataset vds VDS/test_set`` scored the
    scenes and found no HDR truth, naming no place it had looked."""
    name = set_dir.name
    if name.lower() == "set":
        return [set_dir.parent / "hdr_set"]
    if name.lower().endswith("_set") and not name.lower().endswith("_hdr_set"):
        return [set_dir.parent / f"{name[:-len('_set')]}_hdr_set"]
    return []


def _vds_scene(scene_dir: Path, hdr_path: Path | None, native: bool) -> BenchScene:
    brackets = _vds_brackets(scene_dir)
    if 0.0 not in brackets:
        raise InputError(scene_dir, f"VDS scene has no EV 0 image {scene_dir.name}_0EV_true.jpg[.png]")
    return _read_scene(scene_dir.name, brackets[0.0], {ev: p for ev, p in brackets.items() if ev != 0.0},
                       hdr_path, native)


def _vds_unrecognised(scene_dir: Path) -> str:
    """Why a folder among VDS scenes is none: its frames are named for another scene, or none is named as VDS's."""
    others = sorted({m.group("scene") for p in scene_dir.iterdir() if (m := _VDS_FILE.match(p.name))},
                    key=_natural_key)
    if others:
        return f"{scene_dir}: its frames are named for scene {others[0]}, not {scene_dir.name}"
    return f"{scene_dir}: no frames named {scene_dir.name}_<ev>EV_true.jpg, .jpg.png or .png"


# --- HDREye ---------------------------------------------------------------------------------------------

_EYE_FILE = re.compile(r"^(?P<scene>C\d+)_LDR\.tiff?$", re.IGNORECASE)
_EYE_NAME = re.compile(r"^(?P<scene>C\d+)_(?P<kind>LDR|HDR)\.", re.IGNORECASE)  # any suffix


def _load_hdreye(root: Path, native: bool, skipped: list[str], failed: list[InputError]) -> list[BenchScene]:
    ldr_dir = next((d for d in (root / "images" / "LDR", root / "LDR", root)
                    if d.is_dir() and any(_EYE_FILE.match(p.name) for p in d.iterdir())), None)
    if ldr_dir is None:
        raise UsageError(f"{root}: not an HDREye dataset: expected images/LDR/Cxx_LDR.tif "
                         "(HDR truth in images/HDR/Cxx_HDR.exr or .hdr)")
    hdr_dirs = [ldr_dir.parent / "HDR", ldr_dir]
    scenes: list[BenchScene] = []
    inputs: dict[str, Path] = {}
    for p in sorted(ldr_dir.iterdir(), key=lambda q: _natural_key(q.name)):
        match = _EYE_FILE.match(p.name)
        if not match:
            continue
        name = match.group("scene")
        if name.upper() in inputs:  # C01_LDR.tif beside C01_LDR.tiff: which is the scene? Neither is scored
            first = inputs[name.upper()].name
            failed.append(InputError(p, f"a second input of scene {name}, beside {first}; keep one"))
            scenes[:] = [scene for scene in scenes if scene.name.upper() != name.upper()]
            continue
        inputs[name.upper()] = p
        hdr_path = _first_existing(d / f"{name}_HDR{s}" for d in hdr_dirs for s in HDR_SUFFIXES)
        _usable(lambda n=name, p=p, h=hdr_path: scenes.append(_read_scene(n, p, {}, h, native)), failed)
    skipped += _eye_unrecognised([ldr_dir, *hdr_dirs], set(inputs))
    return scenes


def _eye_unrecognised(folders: list[Path], read: set[str]) -> list[str]:
    """HDREye scenes in ``folders`` not among those ``read``, one line each: an input that is no .tif, else an HDR
    truth without its input."""
    files = [p for d in dict.fromkeys(folders) if d.is_dir() for p in sorted(d.iterdir(), key=lambda q: q.name)]
    why = {"LDR": "HDREye's inputs are Cxx_LDR.tif files", "HDR": "an HDR truth without its Cxx_LDR.tif input"}
    lines: dict[str, str] = {}
    for kind in why:  # an input of another type first: it says more than the truth it leaves alone
        for p in files:
            match = _EYE_NAME.match(p.name)
            if match and match.group("kind").upper() == kind and match.group("scene").upper() not in read \
                    and (kind == "LDR" or p.suffix.lower() in HDR_SUFFIXES):
                lines.setdefault(match.group("scene").upper(), f"{p}: {why[kind]}")
    return [lines[scene] for scene in sorted(lines, key=_natural_key)]


# --- generic brackets -----------------------------------------------------------------------------------

def _exif_evs(paths: list[Path]) -> dict[Path, float]:
    from ..io.exif import read_exif

    ev100: dict[Path, float] = {}
    for p in paths:
        info = read_exif(p)
        value = info.exposure_value() if info is not None else None
        if value is None:
            missing = ", ".join(info.missing_exposure_fields()) if info is not None else "no EXIF"
            raise InputError(p, f"no EV in the file name (e.g. ev-1.png) and no EXIF exposure ({missing})")
        ev100[p] = value
    reference = sorted(ev100.values())[len(ev100) // 2]
    return {p: round(round((reference - v) * _EXIF_SNAP) / _EXIF_SNAP, 6) + 0.0 for p, v in ev100.items()}


def _bracket_scene(folder: Path, images: list[Path], native: bool) -> BenchScene:
    named = {p: ev_from_name(p.name) for p in images}
    evs = named if all(v is not None for v in named.values()) else _exif_evs(images)
    by_ev: dict[float, Path] = {}
    for p, ev in evs.items():
        if ev in by_ev:
            raise InputError(folder, f"two images at EV {ev:+g}: {by_ev[ev].name} and {p.name}")
        by_ev[ev] = p
    if 0.0 not in by_ev:
        raise InputError(folder, f"no EV 0 image among the brackets (found EVs {sorted(by_ev)})")
    hdr_files = _files(folder, HDR_SUFFIXES)
    if len(hdr_files) > 1:
        raise InputError(folder, f"more than one HDR ground truth: {', '.join(p.name for p in hdr_files)}")
    return _read_scene(folder.name, by_ev[0.0], {ev: p for ev, p in by_ev.items() if ev != 0.0},
                       hdr_files[0] if hdr_files else None, native)


def _load_brackets(root: Path, native: bool, skipped: list[str], failed: list[InputError]) -> list[BenchScene]:
    own = _files(root, LDR_SUFFIXES)
    if own:
        return [_bracket_scene(root, own, native)]
    folders = sorted((d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")),
                     key=lambda d: _natural_key(d.name))
    scenes = []
    for folder in folders:
        images = _files(folder, LDR_SUFFIXES)
        if images:
            _usable(lambda f=folder, i=images: scenes.append(_bracket_scene(f, i, native)), failed)
        else:
            skipped.append(f"{folder}: no LDR images ({', '.join(LDR_SUFFIXES)})")
    if not scenes and not failed:
        raise UsageError(f"{root}: no exposure brackets: expected one folder per scene of LDR images "
                         "(.jpg/.png/.tif) named with their EV (ev-1.png, EV+0.5.jpg) or carrying EXIF")
    return scenes


# --- synthetic ------------------------------------------------------------------------------------------

def _load_synthetic(root: Path, size: int | None, evs: Sequence[float], failed: list[InputError]
                    ) -> list[BenchScene]:
    from ..training.scenes import find_radiance_maps

    scenes: list[BenchScene] = []
    for path in find_radiance_maps(root, option=""):
        _usable(lambda p=path: scenes.extend(bench for bench, _ in synthetic_bench_scenes([p], size, evs)), failed)
    return scenes


def synthetic_bench_scenes(
    paths: Iterable[Path], size: int | None, evs: Sequence[float], cameras: int = 1
) -> Iterator[tuple[BenchScene, SyntheticScene]]:
    """Each radiance map photographed by ``cameras`` seeded synthetic cameras, with exact truth at ``evs``.

    Scenes are seen as training validation sees them (:func:`cevr_cli.training.scenes.scene_views`: a flat
    map resized to ``size`` x ``size``, a panorama as two perspective views, ``<stem>`` and ``<stem>@1``).
    Camera k of a view has seed crc32(file name) + k (+ 1000 for the second view), so camera 0 of a flat map
    is the one ``--dataset synthetic`` uses; scenes of cameras k > 0 are named ``<stem>#k``.
    Yields the bench scene and the synthetic scene
    it came from (its camera response, for grouping results).
    """
    from ..training.camera import make_scene
    from ..training.scenes import scene_views

    for path in paths:
        radiance = _read_hdr(path)
        if size is None:
            _check_native_size(path, radiance)
        views = scene_views(radiance, size) if size is not None else [radiance]
        for v, view in enumerate(views):
            stem = path.stem if v == 0 else f"{path.stem}@{v}"
            for camera in range(cameras):
                # A seed from the file name (not its position) keeps a scene's camera when others are added.
                seed = zlib.crc32(path.name.encode("utf-8")) + camera + 1000 * v
                scene = make_scene(stem, view, seed=seed)
                truth = {ev: scene.photo(ev, with_noise=False) for ev in evs if ev != 0.0}
                hdr = (scene.radiance * np.float32(scene.exposure_scale)).astype(np.float32)
                name = scene.name if camera == 0 else f"{scene.name}#{camera}"
                yield BenchScene(name, scene.photo(0.0), truth, hdr), scene
