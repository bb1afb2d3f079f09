"""The batch engine every batch command runs on: safe, resumable batches over files and folders.

One policy (:class:`BatchPolicy`) for all of them:

* One output per input (a folder, or a single file), named so that two inputs never collide, never
  inside the input tree.
* A folder job writes into a hidden ``.<name>.partial-<pid>-<random>`` folder of its own that is renamed
  into place when the job ends; a file job's writer is atomic itself. A folder counts as done only when
  its marker (written last) parses, records the same request and every file it lists is there and not
  empty: an interrupted batch leaves no half-written output, a re-run redoes exactly what is missing, and
  a re-run with other options redoes what they change.
* Runs sharing an output folder take turns on each output (:class:`~cevr_cli.io.lock.OutputLock`): an
  output another run is writing is left to it and looked at again once the rest is done; what that run
  completed is reported as skipped, what it did not finish is done here.
* ``--dry-run`` lists the plan; ``--overwrite`` redoes everything.
* A failing input is reported in one line and the batch goes on; the report's exit code says so.

Where the jobs run is the engine's choice too (:class:`Scale`): in this process, in local worker processes
(``--workers``, :mod:`cevr_cli.scaleout.processes`) or in the actors of a Ray cluster (``--ray``,
:mod:`cevr_cli.scaleout.raycluster`), all under the policy above. A stage hands the engine a
:class:`JobFactory`, which each worker opens once (loading its model once), and stays unaware of where it runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import secrets
import shutil
import stat
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from .errors import CevrError, InputError, OutputError, UsageError
from .io.atomic import atomic_write_text, remove_abandoned_temporaries, shortened_name
from .io.lock import OutputLock
from .vocabulary import (
    HDR_SUFFIXES,
    MADE_FROM_KEY,
    OUTPUT_MARKERS,
    PHOTO_SUFFIXES,
    STACK_MANIFEST,
    SYSTEM_FOLDERS,
    TONE_MAPPERS,
)

_INPUT_EXTENSIONS = PHOTO_SUFFIXES + HDR_SUFFIXES  # what some command reads: namesakes among them share a stem


def discover_inputs(inputs: Sequence[Path], *, recursive: bool = False,
                    extensions: Sequence[str] = PHOTO_SUFFIXES) -> list[Path]:
    """Files given explicitly are kept whatever their extension (they fail clearly later if unreadable);
    folders contribute their files with a known extension, hidden files and our temporaries skipped, and the
    images in the output folders of cevr's stages below them (:data:`~cevr_cli.vocabulary.OUTPUT_MARKERS`: a
    stack's frames and a tone-mapped image are not photos; fuse's HDR images stay `cevr tonemap`'s inputs).

    A folder that cannot be listed (no permission), and a stage's output folder given where its files are not what is
    sought (a stack folder to `cevr stack`: its frames and contact sheet are no photos; to `cevr tonemap`: no HDR
    images), are kept as inputs of their own, to fail by name when read: nothing is silently left out of the batch,
    nor taken for what it is not. A file met twice (given as ``in/a.png`` and ``in/../in/a.png``, or through a link)
    is one input, under the first path it was met by."""
    found: dict[Path, Path] = {}  # resolved -> as met
    for item in inputs:
        item = Path(item)
        if is_dir_safely(item) and _is_other_stage_output(item, extensions):
            found.setdefault(resolved(item), item)  # a stack folder given as photos: it fails by name, not its frames
        elif is_dir_safely(item):
            base = resolved(item)  # below it no link is followed: a path's resolved form is base + its parts
            outputs: dict[Path, bool] = {}
            for entry in _folder_entries(item, recursive):
                inner = entry.path.relative_to(item).parts
                if any(part.startswith(".") or part.casefold() in SYSTEM_FOLDERS for part in inner):
                    continue
                folders = (item.joinpath(*inner[:n]) for n in range(1, len(inner)))  # built only where asked
                key = resolved(entry.path) if entry.link else base.joinpath(*inner)
                if entry.unreadable:
                    if not any(_is_stage_output(folder, outputs) for folder in folders):
                        found.setdefault(key, entry.path)
                elif ((entry.file or entry.link or entry.special)  # broken links and named pipes fail by name
                        and entry.path.suffix.lower() in extensions
                        and not (entry.path.suffix.lower() in PHOTO_SUFFIXES
                                 and (any(_is_stage_output(folder, outputs) for folder in folders)
                                      or len(inner) > 1 and _is_tone_mapped_image(entry.path)))):
                    found.setdefault(key, entry.path)
        else:
            found.setdefault(resolved(item), item)  # a name the file system refuses too: it fails by name when read
    return list(found.values())


@dataclass(frozen=True, order=True)
class _Entry:
    path: Path
    file: bool = False  # a file, or a link to one
    link: bool = False
    unreadable: bool = False  # a folder that cannot be listed
    special: bool = False  # a named pipe, socket or device


def _folder_entries(folder: Path, recursive: bool) -> list[_Entry]:
    """What ``folder`` holds (with ``recursive``, at every depth, hidden folders not entered; links to folders are
    not followed), in order, told apart from the directory listing itself (no call per file on most file systems),
    and the folders, ``folder`` itself included, that cannot be listed (pathlib's ``rglob`` passed over those
    without a word)."""
    entries: list[_Entry] = []
    pending = [folder]
    while pending:
        here = pending.pop()
        try:
            with os.scandir(here) as listing:
                listed = list(listing)
        except OSError:
            entries.append(_Entry(here, unreadable=True))
            continue
        for item in listed:
            path = Path(here, item.name)
            try:
                link, folder_here = item.is_symlink(), item.is_dir(follow_symlinks=False)
            except OSError:  # a name the file system refuses, a file gone meanwhile
                link, folder_here = False, False
            try:
                file = item.is_file()
            except OSError:  # a link loop: kept as a link, to fail by name
                file = False
            walked = not item.name.startswith(".") and item.name.casefold() not in SYSTEM_FOLDERS
            if folder_here and recursive and walked:
                pending.append(path)
            entries.append(_Entry(path, file, link, special=not (file or link or folder_here)))
    return sorted(entries)


def _is_other_stage_output(folder: Path, extensions: Sequence[str]) -> bool:
    """Whether ``folder`` is the output folder of a stage whose files a search for ``extensions`` does not take: any
    stage's where photos are sought, a stack's where HDR images are (fuse's folders hold `cevr tonemap`'s inputs)."""
    markers = (STACK_MANIFEST,) if set(extensions) & set(HDR_SUFFIXES) else OUTPUT_MARKERS
    return any(_is_cevr_marker(folder / marker) for marker in markers)


def is_dir_safely(path: Path) -> bool:
    """``path.is_dir()``, False where the file system refuses the name (too long): Python < 3.14 raises there, and
    such an input must fail by name, not end the batch."""
    try:
        return path.is_dir()
    except OSError:
        return False


def _is_file(path: Path) -> bool:
    """``path.is_file()``, False where the file system refuses the name (as :func:`is_dir_safely`)."""
    try:
        return path.is_file()
    except OSError:
        return False


def is_stage_output(folder: Path) -> bool:
    """Whether ``folder`` is the output folder of a cevr stage (holds a ``stack.json`` or ``fuse.json`` cevr wrote)."""
    return _is_stage_output(folder, {})


def _is_stage_output(folder: Path, known: dict[Path, bool]) -> bool:
    """Whether ``folder`` holds a cevr stage's marker: a JSON object with ``cevr_version`` (another program's
    ``stack.json`` does not hide a folder)."""
    if folder not in known:
        known[folder] = any(_is_cevr_marker(folder / marker) for marker in OUTPUT_MARKERS)
    return known[folder]


def _is_cevr_marker(path: Path) -> bool:
    """Whether ``path`` is a marker cevr wrote; one there that cannot be read (chmod 000) is taken as one, so that its
    folder is a stage's still (it fails by name where the marker is read) and its images are never walked as photos."""
    try:
        record = json.loads(path.read_text())
    except PermissionError:
        return True
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and "cevr_version" in record


def _is_tone_mapped_image(path: Path) -> bool:
    """An image `cevr tonemap` wrote (``<name>-<tone mapper>.<ext>``, recording its request): not a photo. Only such
    names are opened, so a walk over photos reads no other file."""
    if not any(path.stem.endswith(f"-{tmo}") for tmo in TONE_MAPPERS):
        return False
    from .io.images import REQUEST_KEY, read_output_record

    record = read_output_record(path)
    return record is not None and (MADE_FROM_KEY in record or REQUEST_KEY in record)


def marked_subfolders(folder: Path, marker: str) -> list[Path]:
    """The folders one level below ``folder`` that a stage wrote (each holds that stage's ``marker``, e.g. stack.json
    or fuse.json), and those that cannot be looked into (no permission: each may be one, and fails by name where its
    files are sought; it was passed over in silence), in order; hidden and system ones skipped; none in a folder that
    cannot be listed (it fails by name where the batch's inputs are checked, rather than end the batch)."""
    try:
        names = list(folder.iterdir())
    except OSError:
        return []
    return sorted(p for p in names if not p.name.startswith(".") and p.name.casefold() not in SYSTEM_FOLDERS
                  and _may_hold(p, marker))


def _may_hold(folder: Path, name: str) -> bool:
    """Whether the file ``name`` is in ``folder``, or may be: ``folder`` is one that cannot be looked into."""
    try:
        return (folder / name).is_file()
    except PermissionError:
        return is_dir_safely(folder)
    except OSError:  # a name the file system refuses (too long)
        return False


def marked_folders_below(folder: Path, marker: str) -> list[Path]:
    """The folders at any depth below ``folder`` that a stage wrote (each holds that stage's ``marker``), in order;
    hidden folders, and the insides of every stage's output folders (a stack ``fuse --keep-stack`` kept), skipped."""
    found: list[Path] = []
    for root, folders, _ in os.walk(folder):
        here = Path(root)
        if here != folder and _is_cevr_marker(here / marker):
            found.append(here)
        if here != folder and _is_stage_output(here, {}):
            folders.clear()  # its contents are that output's own
            continue
        folders[:] = sorted(f for f in folders if not f.startswith(".") and f.casefold() not in SYSTEM_FOLDERS)
    return sorted(found)


def nothing_found(lead: str, inputs: Sequence[Path], in_subfolders: Sequence[Path]) -> UsageError:
    """The one-line error of a batch with nothing to do: ``lead`` ("no photos found"), the inputs, and what a search
    of their subfolders (``-r``) finds, ``in_subfolders``: how many inputs and the flag that finds them (photos sorted
    into a folder per day, say), and, by name, the folders it could not look into (no photos: `cevr stack only/`,
    only/ holding one such folder, said "1 in subfolders: add -r to search them")."""
    unlistable = [path for path in in_subfolders if _cannot_list(path)]
    hints = []
    if found := len(in_subfolders) - len(unlistable):
        hints.append(f"{found} in subfolders: add -r to search them")
    if unlistable:
        hints.append(f"{', '.join(map(str, unlistable))} could not be listed")
    text = f"{lead} in " + ", ".join(str(p) for p in inputs)
    return UsageError(text + (f" ({'; '.join(hints)})" if hints else ""))


def _cannot_list(path: Path) -> bool:
    """Whether ``path`` is a folder that cannot be listed (no permission)."""
    try:
        with os.scandir(path):
            return False
    except OSError:
        return is_dir_safely(path)


def discover_batch_inputs(inputs: Sequence[Path], recursive: bool, lead: str,
                          extensions: Sequence[str] = PHOTO_SUFFIXES) -> list[Path]:
    """:func:`discover_inputs`, or, when it finds nothing, :func:`nothing_found` with what ``-r`` would find.

    A folder given among others in which nothing was found is kept as an input of its own, to fail by name when
    read (a folder of day folders given without -r was skipped in silence, the batch reported complete).

    Raises:
        UsageError: nothing to work on.
    """
    found = discover_inputs(list(inputs), recursive=recursive, extensions=extensions)
    if not found:
        deeper = [] if recursive else discover_inputs(list(inputs), recursive=True, extensions=extensions)
        raise nothing_found(lead, inputs, deeper)
    return found + fruitless_folders(inputs, found)


def fruitless_folders(inputs: Sequence[Path], found: Sequence[Path]) -> list[Path]:
    """The folders among ``inputs`` that hold none of ``found`` (as met, or through links, resolved)."""
    folders = [Path(item) for item in inputs if is_dir_safely(Path(item))]
    if not folders:
        return []
    met = [Path(os.path.abspath(path)) for path in found]
    real = [resolved(path) for path in found]
    fruitless: dict[Path, Path] = {}
    for folder in folders:
        given, real_folder = Path(os.path.abspath(folder)), resolved(folder)
        if not any(m.is_relative_to(given) for m in met) and not any(r.is_relative_to(real_folder) for r in real):
            fruitless.setdefault(real_folder, folder)
    return list(fruitless.values())


def resolved(path: Path) -> Path:
    """``path`` made absolute with its links followed; a link loop (which only fails when read) as it stands."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # Python < 3.13 raises RuntimeError for a symlink loop
        return path.absolute()


def _relative_key(source: Path, real: Path, folders: Sequence[tuple[Path, Path]]) -> Path:
    """``source`` relative to the first folder given (``folders``: each as given, made absolute, and resolved) that
    holds it, else its name alone. The path as walked comes first, so a link in the folder is named after itself
    (``sl/alink.jpg`` pointing to ``sl/sub/a.jpg`` gives ``alink``, not ``sub__alink``); ``real`` (resolved) serves
    a source given by a path through a link."""
    absolute = Path(os.path.abspath(source))
    for given, real_root in folders:
        if absolute.is_relative_to(given):
            return absolute.relative_to(given)
        if real.is_relative_to(real_root):
            return real.relative_to(real_root)
    return Path(source.name)


@dataclass(frozen=True, kw_only=True)
class BatchPolicy:
    """How a batch treats existing outputs and what it walks (by keyword: a new field shifts no caller's meaning)."""

    overwrite: bool = False  # redo inputs whose outputs are complete, and replace what this command did not make
    dry_run: bool = False  # plan and report, write nothing
    recursive: bool = False  # walk folders recursively
    redo: bool = False  # redo inputs whose outputs are complete, but never replace what this command did not make


def plan_outputs(sources: Sequence[Path], out_dir: Path, *, roots: Sequence[Path], marker: str | None = None,
                 allow_inside_input: bool = False, name_format: str = "{name}") -> dict[Path, Path]:
    """Map each source to its own output under ``out_dir``: ``name_format`` with ``{name}`` filled in.

    The name (:func:`_output_name`) comes from the source's own path, never from what else is in the batch,
    so a photo keeps its output whatever it is stacked with. Names that still meet (files given one by one
    from two folders) are told apart by a trailing ``_``: in the order given within a run, and across runs by
    the input an existing output records it was made from (:func:`made_from`; ``marker`` as for
    :func:`completion`): a namesake's output is never taken for this source's, skipped or replaced. A name that is
    a folder holding the source (``shoot/IMG_1/IMG_1.jpg`` with ``-o shoot``) gets the ``_`` too: replacing that
    folder would delete the photo.
    """
    _check_folder_name(Path(out_dir))
    out_dir = resolved(Path(out_dir))
    folders, named = [], set()  # once, not per source
    for given in roots:
        real_root = resolved(Path(given))
        if is_dir_safely(real_root):
            folders.append((Path(os.path.abspath(given)), real_root))
        else:
            named.add(real_root)
    for _, root in folders:
        if not allow_inside_input and out_dir.is_relative_to(root):
            raise OutputError(f"{out_dir}: output folder is inside the input folder {root}; choose another -o")
    plan: dict[Path, Path] = {}
    used: set[str] = set()
    beside: dict[Path, _Neighbours] = {}
    for source in sources:
        source = Path(source)
        real = resolved(source)
        bare = _bare_name(source, real, folders, named)
        name = fitted_name(_output_name(source, bare, beside), name_format)
        bare = fitted_name(bare, name_format)
        if name != bare and _made_from_this(out_dir / name_format.format(name=bare), marker, real):
            name = bare  # made before a namesake came beside it (IMG_9.png, then IMG_9.jpg): it keeps its output
        elif name == bare and source.suffix and not _made_from_this(out_dir / name_format.format(name=bare), marker,
                                                                     real):
            name = _made_beside_namesakes(source, bare, out_dir, name_format, marker, real) or name
        holding = _FoldersHolding(real)
        now: dict[str, Any] | None = None  # the source's input_record, read only where an output records one
        while True:
            candidate = out_dir / name_format.format(name=name)
            if name.lower() in used or holding.includes(candidate):
                name += "_"
                continue
            recorded = made_from(candidate, marker)
            if recorded is not None:
                now = now or input_record(source)
                if _another_input(recorded, now):
                    name += "_"
                    continue
            break
        used.add(name.lower())
        if candidate == real:
            raise OutputError(f"{candidate}: output would overwrite the input")
        plan[source] = candidate
    return plan


class _FoldersHolding:
    """The folders a source lies in: none of them may be its output (shoot/IMG_1/IMG_1.jpg with -o shoot: replacing
    shoot/IMG_1 would delete the photo), whatever the case of the name on a case-insensitive disk (macOS's,
    Windows's). (A link at the output's name is replaced as a link, never followed.)"""

    def __init__(self, real: Path) -> None:
        self.parents = set(real.parents)
        self.folded = {str(folder).casefold(): folder for folder in real.parents}

    def includes(self, candidate: Path) -> bool:
        if candidate in self.parents:
            return True
        twin = self.folded.get(str(candidate).casefold())
        try:  # another spelling of a parent: the same folder only where the disk says so
            return twin is not None and os.path.samefile(candidate, twin)
        except OSError:  # no such folder
            return False


# File systems allow 255 bytes a name; an output's partial folder, lock and temporary files, and the files fuse names
# after its folder (``<name>-kimkautz.png``), add up to about 40 bytes to it.
MAX_OUTPUT_NAME_BYTES = 200


def _check_folder_name(out_dir: Path) -> None:
    """Refuse an output folder yet to be made that is named as an image (``-o scene.png``): the user wanted a file,
    and got a folder of that name holding ``scene-reinhard.png``, with "1 done". A folder of that name already there
    was made on purpose and is used.

    Raises:
        OutputError: ``out_dir`` does not exist and ends in a photo's or an HDR image's suffix.
    """
    if out_dir.suffix.lower() in PHOTO_SUFFIXES + HDR_SUFFIXES and not os.path.lexists(out_dir):
        raise OutputError(f"{out_dir}: -o names the folder the outputs go into (each named after its input), not an "
                          "image: give a folder name")


def fitted_name(name: str, name_format: str = "{name}") -> str:
    """``name`` cut so that ``name_format`` filled with it takes at most :data:`MAX_OUTPUT_NAME_BYTES`, with 8 hex
    digits of the whole name's hash after the cut (two long names alike in their first 190 bytes stay apart)."""
    return shortened_name(name, MAX_OUTPUT_NAME_BYTES - len(os.fsencode(name_format.format(name=""))))


def _output_name(source: Path, bare: str, beside: dict[Path, _Neighbours]) -> str:
    """``[<subfolder>__...]<stem>[_<ext>][_<hash>]``: the subfolders between the root the source was found in and
    the source (a recursive walk), its extension when another input of the same stem lies beside it on disk
    (IMG_0001.JPG beside IMG_0001.CR2, x.exr beside x.hdr), whether or not that one is in the batch, and 6 hex
    digits of its exact name when another file there differs from it only in case (x.png beside X.PNG: output names
    must differ on a case-insensitive disk too).

    ``bare``: :func:`_bare_name`; ``beside``: the input names per folder (:func:`_neighbours`), filled here as folders
    are first met.
    """
    name = bare
    if _is_file(source):
        if source.parent not in beside:
            beside[source.parent] = _neighbours(source.parent)
        stems, names = beside[source.parent]
        itself = 1 if source.suffix.lower() in _INPUT_EXTENSIONS else 0
        if stems[source.stem.lower()] > itself:
            name += f"_{source.suffix.lstrip('.').lower()}"
        if names[source.name.lower()] > itself:
            name += "_" + hashlib.sha1(os.fsencode(source.name)).hexdigest()[:6]
    return name


def named_path(source: Path) -> Path:
    """``source`` as its name can be read: ``.`` and ``..`` (whose names are empty or ``..``) made absolute, lexically,
    so that a link keeps its own name (``cevr fuse .`` inside a stack folder is named after that folder)."""
    return Path(os.path.abspath(source)) if source.name in ("", "..") else source


def _made_beside_namesakes(source: Path, bare: str, out_dir: Path, name_format: str, marker: str | None,
                           real: Path) -> str | None:
    """The name :func:`_output_name` gave ``source`` while a namesake lay beside it (``IMG_1_cr2`` beside
    ``IMG_1.JPG``, ``x_png_<hash>`` beside ``X.PNG``), where an output of that name was made from it; None if none
    was. A photo whose namesake is gone keeps that output rather than be redone under its bare name."""
    by_extension = f"{bare}_{source.suffix.lstrip('.').lower()}"
    by_case = "_" + hashlib.sha1(os.fsencode(source.name)).hexdigest()[:6]
    for name in (by_extension, bare + by_case, by_extension + by_case):
        name = fitted_name(name, name_format)
        if _made_from_this(out_dir / name_format.format(name=name), marker, real):
            return name
    return None


def _bare_name(source: Path, real: Path, folders: Sequence[tuple[Path, Path]], named: set[Path]) -> str:
    """``[<subfolder>__...]<stem>``: :func:`_output_name` before what tells it from its namesakes. A file given by
    name (``named``, resolved) is named after itself whatever else is given beside it, a folder holding it too
    (``in/a.png in/sub/b.png`` and ``in in/sub/b.png`` give ``b``, as ``in/sub/b.png`` alone does). A file named
    after the stage output folder it is in (``cevr-hdr/IMG_1/IMG_1.exr``, fuse's) is named after that folder once:
    ``IMG_1``, not ``IMG_1__IMG_1``, and an HDR image in one is named after it whatever its own name
    (``cevr-hdr/IMG_1_/IMG_1.exr``, a namesake's: ``IMG_1_``, not ``IMG_1___IMG_1``); so is a folder in one
    (``cevr-hdr/IMG_1/stack``, the stack ``--keep-stack`` kept: ``IMG_1``, where three such gave ``stack``,
    ``stack_``, ``stack__``). ``.`` is named after the folder it is; a file whose stem is only dots (``..png``,
    ``...png``) after its whole name, as the stem ``.`` or ``..`` made the output the output folder or its parent."""
    source = named_path(source)
    parts = () if real in named else _relative_key(source, real, folders).parent.parts
    stem = source.stem if source.stem.strip(".") else source.name  # "..png", "...png": not the output folder itself
    known: dict[Path, bool] = {}  # the parent's markers read once for both questions
    if (is_dir_safely(source) or source.suffix.lower() in HDR_SUFFIXES) and _is_stage_output(source.parent, known):
        # what the stage named its output: a folder in it (the stack fuse kept, cevr-hdr/IMG_1/stack), or its HDR
        # image, named after the photo while the folder may carry a namesake's mark (cevr-hdr/IMG_1_/IMG_1.exr)
        stem = source.parent.name
    if parts and parts[-1] == stem and _is_stage_output(source.parent, known):
        parts = parts[:-1]
    return "".join(f"{part}__" for part in parts) + stem


def _made_from_this(output: Path, marker: str | None, real: Path) -> bool:
    """Whether an existing output records being made from the input at ``real`` (a resolved path)."""
    recorded = made_from(output, marker)
    return recorded is not None and recorded["path"] == str(real)


_Neighbours = tuple[Counter[str], Counter[str]]


def _neighbours(folder: Path) -> _Neighbours:
    """How many files that cevr reads (photos, radiance maps) ``folder`` holds of each stem and of each name, both in
    lower case."""
    try:
        inputs = [p for p in folder.iterdir() if p.suffix.lower() in _INPUT_EXTENSIONS]
    except OSError:
        return Counter(), Counter()
    return Counter(p.stem.lower() for p in inputs), Counter(p.name.lower() for p in inputs)


def input_record(source: Path) -> dict[str, Any]:
    """What an output records of the input it is made from (:data:`~cevr_cli.vocabulary.MADE_FROM_KEY`): the
    input's resolved path, and its size and modification time (None while it cannot be read); a folder's (a stack
    folder given to fuse): the total size of its files and the latest time among it and them, so that a frame
    replaced in place counts as a change."""
    path = resolved(Path(source))
    try:
        info = os.stat(path)
        size, latest = info.st_size, info.st_mtime_ns
        if stat.S_ISDIR(info.st_mode):
            files = [entry.stat() for entry in os.scandir(path) if entry.is_file()]
            size = sum(f.st_size for f in files)
            latest = max([latest, *(f.st_mtime_ns for f in files)])
    except OSError:
        return {"path": str(path), "size": None, "mtime_ns": None}
    return {"path": str(path), "size": size, "mtime_ns": latest}


def made_from(output: Path, marker: str | None) -> dict[str, Any] | None:
    """The input an existing output records it was made from (:func:`input_record`, under
    :data:`~cevr_cli.vocabulary.MADE_FROM_KEY` in its marker or, for a file output, its comment); None where it
    records none (not made by cevr) or cannot be read."""
    return _input_of(_output_record(output, marker), marker)


def _output_record(output: Path, marker: str | None) -> dict[str, Any] | None:
    """What an existing output records: its marker's JSON object, or a file output's comment record."""
    if marker is None:
        from .io.images import read_output_record

        return read_output_record(output) if _is_file(output) else None
    try:
        record = json.loads((output / marker).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _input_of(record: dict[str, Any] | None, marker: str | None) -> dict[str, Any] | None:
    value = record.get(MADE_FROM_KEY) if record is not None else None
    if value is None and record is not None and marker is not None:
        # made before outputs recorded it (2026-12-07): the marker's provenance names the input (fuse of a stack:
        # its folder), without its version
        legacy = record.get("stack") or record.get("source")
        value = {"path": legacy} if isinstance(legacy, str) else None
    return value if isinstance(value, dict) and isinstance(value.get("path"), str) else None


def _version(record: dict[str, Any]) -> tuple[Any, Any]:
    return record.get("size"), record.get("mtime_ns")


def _another_input(recorded: dict[str, Any] | None, now: dict[str, Any]) -> bool:
    """Whether an output that records ``recorded`` (:func:`made_from`) was made from another input than the one
    ``now`` describes (:func:`input_record`): another path, unless that one is gone and ``now`` is the same version
    (size and time) of a file: the same photo, moved or renamed."""
    if recorded is None:
        return False
    if recorded["path"] == now["path"]:
        return False
    moved = not os.path.lexists(recorded["path"]) and now["size"] is not None and _version(recorded) == _version(now)
    return not moved


def record_made_from(marker_path: Path, made: dict[str, Any]) -> None:
    """Add ``made`` (:func:`input_record`) under :data:`~cevr_cli.vocabulary.MADE_FROM_KEY` to a job's marker."""
    manifest = json.loads(marker_path.read_text())
    manifest[MADE_FROM_KEY] = made
    atomic_write_text(marker_path, json.dumps(manifest, indent=2))


def completion(output: Path, marker: str | None, request: dict[str, Any] | None = None,
               source: Path | None = None) -> str:
    """``complete``, ``stale`` (made by another request), ``outdated`` (made from an earlier version of ``source``),
    ``dependency changed`` (a file its marker depends on, :data:`DEPENDENCIES_KEY`, changed since),
    ``foreign`` (not made by this command, never replaced unasked: a file output that records no request, a folder
    output without its marker, a file where a folder output belongs), ``taken`` (made from another input of the
    same name, :func:`made_from`) or ``missing``.

    A folder output is complete when its ``marker`` parses, lists only files that are there and not empty
    (:func:`_listed_files_present`) and records ``request``; a file output (``marker`` None, written
    atomically) when it exists and, if ``request`` is given, records it in the image
    (:func:`cevr_cli.io.images.read_output_record`). Either is outdated when ``source`` changed since it was made
    from it (:func:`_changed_since`): a photo replaced, a stack folder or an HDR file that an earlier stage redid; a
    folder output also when a file its marker depends on (:data:`DEPENDENCIES_KEY`: a camera profile) changed since.
    """
    record = _output_record(output, marker)  # read once: the request, the input and the files it lists
    made = _input_of(record, marker)
    now = input_record(source) if source is not None else None  # stat once: for "taken" and for "outdated"
    if now is not None and _another_input(made, now):
        return "taken"
    if marker is None:
        if not _is_file(output):  # a folder there is not this command's; a dangling link is written through
            return "foreign" if os.path.isdir(output) or os.path.lexists(output) and not os.path.islink(output) \
                else "missing"
        from .io.images import REQUEST_KEY

        recorded = record.get(REQUEST_KEY) if record is not None and request is not None else None
        if request is not None and recorded is None:
            return "foreign"
    else:
        if os.path.lexists(output) and not os.path.lexists(output / marker):
            return "foreign"
        if record is None or not _listed_files_present(output, record):
            return "missing"
        recorded = record.get("request")
    if request is not None and recorded != json.loads(json.dumps(request)):
        return "stale"
    if source is not None and now is not None and _changed_since(source, output, marker, made, now):
        return "outdated"
    if marker is not None and record is not None and not _dependencies_unchanged(record.get(DEPENDENCIES_KEY)):
        return "dependency changed"
    return "complete"


# The marker key listing the files (other than the input) whose change changes an output, with their version then:
# a photo's camera profile under --response auto (installed, replaced or removed later), a --response PROFILE.json.
DEPENDENCIES_KEY = "depends_on"


def file_version(path: Path) -> int | None:
    """What :data:`DEPENDENCIES_KEY` records of a file: its modification time in ns; None while it does not exist."""
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def dependency_record(paths: Sequence[Path]) -> dict[str, int | None]:
    """The :data:`DEPENDENCIES_KEY` entry of a marker: each file's :func:`file_version` now."""
    return {str(path): file_version(path) for path in paths}


def _dependencies_unchanged(recorded: Any) -> bool:
    if not isinstance(recorded, dict):
        return True  # nothing recorded: nothing to follow
    return all(file_version(Path(path)) == version for path, version in recorded.items())


def _changed_since(source: Path, output: Path, marker: str | None, recorded: dict[str, Any] | None,
                   now: dict[str, Any]) -> bool:
    """Whether ``source`` (now as ``now`` describes it, :func:`input_record`) changed after ``output`` was made from
    it: another size or modification time than the output records (``recorded``, :func:`made_from`; a photo
    replaced by an older file, ``cp -p``, counts), or, for an output that records none, a modification after the
    output's (as make decides). An unreadable source has not: its job says what is wrong."""
    if recorded is not None and recorded.get("mtime_ns") is not None:
        return now["mtime_ns"] is not None and _version(now) != _version(recorded)
    return _modified_after(source, output if marker is None else output / marker)


def _modified_after(source: Path, made: Path) -> bool:
    """Whether ``source`` (a file, or a folder: its entries' last change) was modified after ``made`` was written.
    An unreadable source is not: its job says what is wrong with it."""
    source_version, made_version = file_version(source), file_version(made)
    return source_version is not None and made_version is not None and source_version > made_version


def _refusal(output: Path, marker: str | None, state: str) -> str:
    """Why an output this command did not make for this input (``state``: foreign or taken) is left alone."""
    if state == "taken":
        other = (made_from(output, marker) or {}).get("path")
        return f"{output}: was made from another input of the same name ({other}) by a run " \
            "that planned it meanwhile; run again (the next free name is chosen then)"
    if marker is None:
        why = "it records no request" if _is_file(output) else "a folder or special file, where an image belongs"
    elif _is_file(output):
        why = f"a file, where a folder with {marker} belongs"
    else:
        why = f"a folder without {marker}"
    # --overwrite replaces a file; a folder becomes the output with its files kept (_replace_earlier)
    what = "write into it (its files are kept)" if marker is not None and not _is_file(output) \
        and os.path.isdir(output) and not os.path.islink(output) else "replace it"
    return f"{output}: exists and was not made by this command ({why}); choose another -o, or --overwrite to {what}"


_REDONE_BECAUSE = {"stale": "the earlier output was made with other options",
                   "outdated": "its input changed after the earlier output was made",
                   "dependency changed": "a file it was made with (its camera profile) changed since"}


# The keys under which markers list the files they complete: stack.json's images and contact sheet,
# fuse.json's outputs.
_MARKER_FILE_KEYS = ("files", "contact_sheet", "outputs")
# What a marker's folder holds that earlier requests made and a redo kept (not part of its own request's outputs).
_KEPT_KEY = "kept_from_earlier_requests"


def _listed_names(recorded: Any) -> list[Any]:
    """What a marker lists under :data:`_MARKER_FILE_KEYS` (names, if it is well formed)."""
    names: list[Any] = []
    if isinstance(recorded, dict):
        for key in _MARKER_FILE_KEYS:
            value = recorded.get(key)
            names += value if isinstance(value, list) else [] if value is None else [value]
    return names


# The marker key holding the byte size of each file it lists, as written: a file of another size since (cut short
# by a crash before the disk had it, replaced) leaves the output incomplete, and it is made again.
SIZES_KEY = "file_sizes"


def with_file_sizes(folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """``manifest`` with :data:`SIZES_KEY`: the size of each file it lists (:data:`_MARKER_FILE_KEYS`) in
    ``folder``, read just before the marker is written."""
    return {**manifest, SIZES_KEY: {name: (folder / name).stat().st_size for name in _listed_names(manifest)}}


def _listed_files_present(folder: Path, recorded: Any) -> bool:
    """Whether every file a marker lists (under :data:`_MARKER_FILE_KEYS`) is in ``folder``, not empty and of the
    size it records (:data:`SIZES_KEY`; markers written before it was kept record none); for a marker it lists in a
    subfolder (``stack/stack.json``, the stack ``fuse --keep-stack`` keeps), the files that one lists too."""
    if not isinstance(recorded, dict):
        return False
    sizes = recorded.get(SIZES_KEY)
    sizes = sizes if isinstance(sizes, dict) else {}
    for name in _listed_names(recorded):
        if not isinstance(name, str) or Path(name).is_absolute() or ".." in Path(name).parts:
            return False
        try:
            size = (folder / name).stat().st_size
        except OSError:
            return False
        if size == 0 or sizes.get(name, size) != size:
            return False
        if Path(name).name in OUTPUT_MARKERS and len(Path(name).parts) > 1:  # fuse --keep-stack's stack: its files too
            kept = (folder / name).parent
            if not _listed_files_present(kept, _output_record(kept, Path(name).name)):
                return False
    return True


@dataclass
class BatchItemResult:
    source: Path
    status: str  # done | skipped | failed | planned
    output: Path | None
    message: str = ""
    seconds: float = 0.0
    detail: str = ""  # what a one-line message leaves out (a Ray actor's death as Ray tells it): --json only

    def to_json(self) -> dict[str, Any]:
        data = {"source": str(self.source), "status": self.status, "output": str(self.output) if self.output else None,
                "message": self.message, "seconds": round(self.seconds, 3)}
        if self.detail:
            data["detail"] = self.detail
        return data


@dataclass
class BatchReport:
    items: list[BatchItemResult] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return dict(Counter(item.status for item in self.items))

    @property
    def exit_code(self) -> int:
        return 1 if any(item.status == "failed" for item in self.items) else 0

    def to_json(self) -> dict[str, Any]:
        return {"counts": self.counts(), "exit_code": self.exit_code, "items": [i.to_json() for i in self.items]}


Job = Callable[[Path, Path], None]  # (source, output being written)
Event = Callable[[str, Any], None]


class JobFactory(Protocol):
    """Makes a batch's job in the process that runs it: a worker opens it once (loading its model once) and runs
    many inputs through it. Picklable, so that worker processes and Ray actors can receive it.

    ``accelerator``: what the job computes on (``cpu``, ``cuda``, ``mps``): CUDA workers get a GPU each; ``cuda:N``
    workers share GPU N.
    """

    accelerator: str

    def open(self, emit: Event, order: Sequence[Path]) -> AbstractContextManager[Job]:
        """The job, reporting progress and warnings through ``emit``; ``order``: the inputs this process will
        run, in order, when known (a serial batch), so that it can decode ahead; empty in a worker."""
        ...

    def check(self) -> None:
        """Before workers start (when there is work for them): fail here, once, for what would stop every worker
        (a model's weights that do not load), instead of in each of them."""
        ...


@dataclass(frozen=True)
class InProcessJob:
    """A plain job function as a :class:`JobFactory`: runs in this process only (it may hold a loaded model)."""

    job: Job
    accelerator: str = "cpu"

    @contextmanager
    def open(self, emit: Event, order: Sequence[Path]) -> Iterator[Job]:
        yield self.job

    def check(self) -> None:
        """Nothing to check: the job runs here."""


@dataclass(frozen=True)
class Scale:
    """Where a batch's jobs run: ``workers`` local processes (1: this process; ``auto``: one per visible CUDA GPU,
    else this process), or the actors of the Ray cluster at ``ray`` (``auto``: RAY_ADDRESS or a running one;
    ``local``: one started for the run; else ``host:port``), ``workers`` of them (``auto``: one per GPU with
    CUDA, else one per 2 CPUs of the cluster)."""

    workers: int | str = 1
    ray: str | None = None

    def __post_init__(self) -> None:
        workers = self.workers
        if isinstance(workers, str) and workers != "auto":
            try:
                workers = int(workers)
            except ValueError:
                workers = 0
        if workers != "auto" and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise UsageError(f"--workers {self.workers!r}: use a number of processes (1 or more) or auto")
        object.__setattr__(self, "workers", workers)
        if self.ray is not None and importlib.util.find_spec("ray") is None:  # before anything is planned or written
            raise UsageError("--ray needs Ray: pip install 'cevr[ray]'")
        if self.ray is not None and self.ray not in ("auto", "local"):
            ray_endpoint(self.ray)

    def runs_here(self, accelerator: str | Callable[[], str]) -> bool:
        """Whether the jobs run in this process: one local worker (``auto`` resolved for ``accelerator``, which is
        asked for only then: resolving a device imports torch)."""
        if self.ray is not None:
            return False
        if self.workers != "auto":
            return self.workers == 1
        from .scaleout import local_workers

        return local_workers(self.workers, accelerator() if callable(accelerator) else accelerator) == 1


IN_PROCESS = Scale()  # the default: every job in this process


def ray_endpoint(address: str) -> tuple[str, int]:
    """(host, port) of a Ray cluster's ``[ray://]HOST:PORT``.

    Raises:
        UsageError: anything else.
    """
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--ray {address!r}: use auto, local or the cluster's HOST:PORT (e.g. 10.0.0.5:6379)")
    return host.strip("[]"), int(port)


@dataclass(frozen=True)
class Task:
    """One input for a worker: its output, the completion rules, and whether to wait for another run's lock."""

    source: Path
    output: Path
    marker: str | None
    request: dict[str, Any] | None
    redo_complete: bool
    wait: bool
    keep_earlier: bool = False  # redoing an output made by another request keeps the files it listed
    replace_foreign: bool = False  # what this command did not make is replaced (--overwrite), not refused


def run_task(job: Job, task: Task, emit: Event | None) -> BatchItemResult | None:
    """Run one task where the worker is (:func:`_run_locked`); None when another run holds its output."""
    return _run_locked(task.source, task.output, job, task.marker, task.request, redo_complete=task.redo_complete,
                       wait=task.wait, on_event=emit, keep_earlier=task.keep_earlier,
                       replace_foreign=task.replace_foreign)


class Executor(Protocol):
    """Runs tasks somewhere (worker processes, Ray actors) and yields each with its result as it completes."""

    def run(self, tasks: Sequence[Task]) -> Iterator[tuple[Task, BatchItemResult | None]]: ...

    def close(self) -> None: ...


def _run_one(source: Path, output: Path, job: Job, marker: str | None, keep_earlier: bool = False) -> BatchItemResult:
    started = time.monotonic()
    if marker is None:
        return _run_file(source, output, job, started)
    folder = output
    try:
        _remove_stale_partials(folder)
        partial = _new_partial(folder)
    except OSError as exc:  # a name too long for the file system, a full disk
        return _failure(source, exc, started)
    notes: list[str] = []
    made = input_record(source)  # before the job reads it: a change while it runs is seen by the next run
    try:
        job(source, partial)
        if (partial / marker).is_file():
            record_made_from(partial / marker, made)
        if folder.is_dir() and not folder.is_symlink():  # an earlier result, or a user's folder (--overwrite)
            notes += _replace_earlier(folder, partial, marker, keep_earlier)
        elif folder.exists() or folder.is_symlink():  # a file or a link, not made here: replaced as --overwrite asked
            _remove(folder)
            partial.rename(folder)
        else:
            partial.rename(folder)
    except BaseException as exc:
        shutil.rmtree(partial, ignore_errors=True)
        return _failure(source, exc, started)
    return BatchItemResult(source, "done", folder, "; ".join(notes), time.monotonic() - started)


def _replace_earlier(folder: Path, partial: Path, marker: str, keep_earlier: bool) -> list[str]:
    """Put ``partial`` in place of ``folder``, an earlier result of this command (overwritten, stale, outdated or
    damaged) or a folder it did not make (no ``marker``: a user's, replaced as --overwrite asked), carrying over
    what it kept (``keep_earlier``) and files it did not make (a user's notes put in the folder, a user's folder's
    photos, perhaps inputs of this very batch). Returns the notes to report.

    What can fail is done before anything moves (the new marker's record of what it keeps); then the earlier folder
    is set aside under a name no cleanup removes, the new one renamed into place (else the earlier one goes back),
    and the carried files renamed across, one by one. Whatever could not be carried stays in the set-aside folder,
    which is kept and named in the notes; a run killed midway leaves it too (and, killed before the new folder was in
    place, gets it back as the output): a user's file is never deleted. So is a file of a user's folder whose name
    the new output uses: it stays in the set-aside folder.
    """
    foreign = not os.path.lexists(folder / marker)
    kept = _keep_from_earlier(folder, partial, marker) if keep_earlier and not foreign else []
    theirs = _not_made(folder, partial, marker)
    clashing = _same_names(folder, partial) if foreign else []
    shown = {name: f"{name}/" if (folder / name).is_dir() else name for name in kept + theirs + clashing}
    aside = _run_name(folder, _SET_ASIDE)
    folder.rename(aside)
    try:
        partial.rename(folder)
    except BaseException:
        aside.rename(folder)
        raise
    left = []
    for name in kept + theirs:
        try:
            (aside / name).rename(folder / name)
        except OSError:
            left.append(shown[name])
    notes = [f"kept {', '.join(shown[name] for name in clashing)} in {aside}, where the new output has files of "
             "those names"] if clashing else []
    if left:
        notes.append(f"could not carry {', '.join(left)} over: left in {aside}")
    elif not clashing:  # under a partial's name first: a run killed while removing it leaves what a rerun removes
        doomed = _run_name(folder, "partial")
        with contextlib.suppress(OSError):
            aside = aside.rename(doomed)
        shutil.rmtree(aside, ignore_errors=True)
    kept_shown = sorted(shown[name] for name in kept if shown[name] not in left)
    theirs_shown = [shown[name] for name in theirs if shown[name] not in left]
    return notes + ([f"kept what it made that this request does not: {', '.join(kept_shown)}"] if kept_shown else []) \
        + ([f"kept files it did not make: {', '.join(theirs_shown)}"] if theirs_shown else [])


_SET_ASIDE = "earlier"  # .<name>.earlier-<pid>-<token>: an earlier result being replaced; never removed unasked


def _made_before(earlier: Path, marker: str) -> list[Any] | None:
    """What ``earlier``'s marker lists as made there: its request's outputs (:data:`_MARKER_FILE_KEYS`) and what it
    had kept from earlier requests (:data:`_KEPT_KEY`), as written (not checked); None where it cannot be read."""
    try:
        listed = json.loads((earlier / marker).read_text())
    except (OSError, ValueError):
        return None
    kept_before = listed.get(_KEPT_KEY) if isinstance(listed, dict) else None
    return _listed_names(listed) + (kept_before if isinstance(kept_before, list) else [])


def _keep_from_earlier(earlier: Path, partial: Path, marker: str) -> list[str]:
    """The entries of ``earlier`` to keep that its marker listed (its request's outputs and what it had kept itself,
    :data:`_KEPT_KEY`) and ``partial`` does not hold; recorded under :data:`_KEPT_KEY` in ``partial``'s marker, so
    that the next request keeps them too. A listed name inside a folder (``stack/stack.json``, the stack ``fuse
    --keep-stack`` kept) keeps the whole folder. Returns the top-level names, to be moved."""
    listed = _made_before(earlier, marker)
    if listed is None:
        return []
    kept_names: list[str] = []
    tops: list[str] = []
    for name in listed:
        if not isinstance(name, str) or not Path(name).parts or name == marker or Path(name).is_absolute() \
                or ".." in Path(name).parts:
            continue
        top = Path(name).parts[0]
        if top not in tops:
            if not (earlier / name).is_file() or (partial / top).exists():
                continue
            tops.append(top)
        kept_names.append(name)
    if kept_names:
        manifest_path = partial / marker
        manifest = json.loads(manifest_path.read_text())
        manifest[_KEPT_KEY] = kept_names
        atomic_write_text(manifest_path, json.dumps(manifest, indent=2))
    return tops


def _not_made(earlier: Path, partial: Path, marker: str) -> list[str]:
    """The entries of ``earlier`` that no request of this command made (neither its marker nor what the marker lists,
    :data:`_MARKER_FILE_KEYS`, :data:`_KEPT_KEY`) and ``partial`` does not hold: a user's, to be moved. A marker
    that cannot be read lists nothing: then everything ``partial`` lacks is kept."""
    names = _made_before(earlier, marker) or []
    made = {marker} | {Path(name).parts[0] for name in names if isinstance(name, str) and Path(name).parts}
    return [entry.name for entry in sorted(earlier.iterdir())
            if entry.name not in made and not os.path.lexists(partial / entry.name)]


def _same_names(folder: Path, partial: Path) -> list[str]:
    """The entries of ``folder`` whose names ``partial`` holds too (a user's folder made the output: theirs stay
    set aside rather than be replaced)."""
    return [entry.name for entry in sorted(folder.iterdir()) if os.path.lexists(partial / entry.name)]


def _remove(path: Path) -> None:
    """Remove a file, a link or a folder tree at ``path``."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _run_name(output: Path, kind: str) -> Path:
    """``.<name>.<kind>-<pid>-<hex>`` beside ``output``: a name of this run's, which no other run picks (``partial``:
    work in progress, or a result being removed; :data:`_SET_ASIDE`: an earlier result or a user's folder kept)."""
    return output.parent / f".{output.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}"


def _new_partial(folder: Path) -> Path:
    """A new empty folder beside ``folder`` for this run's partial output, named for no other run."""
    partial = _run_name(folder, "partial")
    partial.mkdir(parents=True)
    return partial


def _remove_stale_partials(folder: Path) -> None:
    """Remove the partial and replaced copies of ``folder`` that crashed runs left; an earlier result set aside
    with nothing in its place goes back in place.

    Called with the output's lock held: no live run is writing any of them.
    """
    stale = re.compile(rf"\.{re.escape(folder.name)}\.(partial(-\d+-[0-9a-f]+)?|old)")
    earlier = re.compile(rf"\.{re.escape(folder.name)}\.(old|{_SET_ASIDE}-\d+-[0-9a-f]+)")
    if not os.path.lexists(folder):  # a run killed between setting the earlier result aside and putting its own there
        for path in sorted(folder.parent.iterdir()):
            if earlier.fullmatch(path.name) and path.is_dir() and not path.is_symlink() and any(path.iterdir()):
                path.rename(folder)
                break
    for path in folder.parent.iterdir():
        if stale.fullmatch(path.name):
            if path.name.endswith(".old") and path.is_dir() and not path.is_symlink() and any(path.iterdir()):
                # a folder of someone's files that _run_file set aside (--overwrite) for the image now there: kept
                with contextlib.suppress(OSError):
                    path.rename(_run_name(folder, _SET_ASIDE))
                continue
            with contextlib.suppress(OSError):  # one it cannot remove is in no one's way: names are per run
                _remove(path)


def clean_abandoned(output: Path) -> None:
    """Remove what a worker killed while writing ``output`` left (a partial folder, an atomic write's temporary
    file), unless another run holds the output's lock now."""
    with _unless_locked(output) as free:
        if free and output.parent.is_dir():
            _remove_stale_partials(output)
            with contextlib.suppress(OutputError):  # a device or fifo there, where no temporary of ours is
                remove_abandoned_temporaries(output)  # its own name's only: not those of x.y.png beside x.png


@contextmanager
def _unless_locked(output: Path) -> Iterator[bool]:
    """Holds ``output``'s lock for the block, and says so, unless another run holds it (or it cannot be taken);
    the release removes the lock file."""
    lock = OutputLock(output)
    try:
        free = lock.acquire(wait=False)
    except OSError:
        free = False
    try:
        yield free
    finally:
        if free:
            lock.release()


def _has_leftovers(output: Path, hidden: dict[Path, list[str]]) -> bool:
    """Whether ``output``'s folder holds a hidden entry named after it (``.<name>.lock``, ``.<name>.partial-...``, an
    atomic write's ``.<stem>.XXXXXXXX.part.<ext>``); ``hidden`` caches each folder's hidden names (one listing)."""
    names = hidden.get(output.parent)
    if names is None:
        try:
            names = [entry.name for entry in os.scandir(output.parent) if entry.name.startswith(".")]
        except OSError:
            names = []
        hidden[output.parent] = names
    return any(name.startswith((f".{output.name}.", f".{output.stem}.")) for name in names)


def _remove_leftovers(output: Path, marker: str | None) -> None:
    """Remove what a run killed after completing ``output`` left beside it (its lock file: SIGKILL between the
    rename and the release; the partial name of the earlier result it was removing), unless a run holds its lock
    now. Not ``.old`` or ``.earlier-``: they may hold a user's files."""
    with _unless_locked(output) as free:
        if not free:
            return
        if marker is None:
            with contextlib.suppress(OutputError):
                remove_abandoned_temporaries(output)
        else:
            stale = re.compile(rf"\.{re.escape(output.name)}\.partial(-\d+-[0-9a-f]+)?")
            for path in output.parent.iterdir():
                if stale.fullmatch(path.name):
                    with contextlib.suppress(OSError):
                        _remove(path)


def _run_file(source: Path, output: Path, job: Job, started: float) -> BatchItemResult:
    output.parent.mkdir(parents=True, exist_ok=True)
    aside = None
    # A folder there is reached with --overwrite only (completion calls it foreign); a link is never followed: the
    # file it points to may be anything, another input of this batch too. Either is set aside until done.
    if os.path.isdir(output) or os.path.islink(output):
        aside = output.parent / f".{output.name}.old"
        output.rename(aside)
    try:
        remove_abandoned_temporaries(output)  # a run killed while writing it left them (we hold its lock)
        job(source, output)
    except BaseException as exc:
        if aside is not None:
            aside.rename(output)
        return _failure(source, exc, started)
    note = ""
    if aside is not None and os.path.isdir(aside) and not os.path.islink(aside) and any(os.scandir(aside)):
        kept = _run_name(output, _SET_ASIDE)
        aside.rename(kept)  # a folder of someone's files: --overwrite replaces it, but deletes none of them
        note = f"kept the folder that stood at {output} as {kept}"
    elif aside is not None:
        _remove(aside)
    return BatchItemResult(source, "done", output, note, time.monotonic() - started)


def _interrupt_within(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C or SIGTERM (a KeyboardInterrupt) that ``exc`` was raised from or while handling: pybind11 turns one
    that lands during an extension module's first import (OpenEXR's, at a batch's first EXR) into ImportError
    "initialization failed", caused by it."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


def _failure(source: Path, exc: BaseException, started: float) -> BatchItemResult:
    """The one-line result of a failed input. Ctrl-C, SIGTERM and exits propagate; any other exception fails this
    input alone, a library's or cevr's own unforeseen one too (a bug met by one photo must not stop the batch), unless
    it comes of Ctrl-C or SIGTERM (:func:`_interrupt_within`): then that interrupt propagates."""
    if isinstance(exc, Exception) and (interrupt := _interrupt_within(exc)) is not None:
        raise interrupt
    if isinstance(exc, InputError):
        message = str(exc)  # it names the file it is about (the input, or a file of it: a stack's frame)
    elif isinstance(exc, CevrError):
        message = f"{source}: {exc}"
    elif isinstance(exc, OSError | ValueError | MemoryError):
        message = str(InputError(source, f"{type(exc).__name__}: {exc}"))
    elif isinstance(exc, Exception):
        message = str(InputError(source, f"unexpected {type(exc).__name__}: {exc} (a cevr bug: please report it)"))
    else:
        raise exc
    return BatchItemResult(source, "failed", None, message, time.monotonic() - started)


def run_batch(plan: dict[Path, Path], job: Job | JobFactory, policy: BatchPolicy, *, marker: str | None,
              request: dict[str, Any] | Callable[[Path], dict[str, Any]] | None = None, on_event: Event | None = None,
              scale: Scale = IN_PROCESS, keep_earlier: bool = False,
              check: Callable[[Path], None] | None = None) -> BatchReport:
    """Run the job for every planned source whose output is not complete.

    ``job``: a function ``job(source, output)`` (runs in this process), or a :class:`JobFactory` (needed for
    worker processes and Ray, ``scale``). ``marker``: the file that completes a folder output (None: outputs
    are single files). ``request``: what was asked, compared with the one a marker records (a function of the
    source where inputs of one batch are asked different things: fuse's stack folders take none of its photo
    options). ``keep_earlier``:
    a folder made by another request is redone keeping the files its marker listed that the new one does not
    write (fuse: the image another ``--tmo`` made), unless the policy overwrites. ``check``: raises the
    :class:`InputError` that reading a source would (missing, a folder of no photos, a named pipe), so that a dry
    run lists such a source as failing, as the run would, not as one it would write.
    """
    # A job function is called per input; a factory is not callable (a Protocol's isinstance would read its
    # accelerator, which may import torch to resolve a device).
    factory = InProcessJob(job) if callable(job) else job
    here = scale.runs_here(lambda: factory.accelerator)
    if not here and isinstance(factory, InProcessJob):
        raise UsageError("worker processes need a JobFactory (a picklable job), not a job function")
    results: dict[Path, BatchItemResult] = {}
    to_run: list[Task] = []
    request_of = request if callable(request) else (lambda _source: request)
    hidden: dict[Path, list[str]] = {}
    for source, output in plan.items():
        state = completion(output, marker, request_of(source), source)
        if state == "complete" and not (policy.overwrite or policy.redo):
            results[source] = BatchItemResult(source, "skipped", output, "already complete")
            if not policy.dry_run and _has_leftovers(output, hidden):
                _remove_leftovers(output, marker)
        elif state == "taken" or (state == "foreign" and not policy.overwrite):
            results[source] = BatchItemResult(source, "failed", output, _refusal(output, marker, state))
        elif policy.dry_run:
            note = f"would redo ({_REDONE_BECAUSE[state]})" if state in _REDONE_BECAUSE else "would write"
            results[source] = _checked(check, source) or BatchItemResult(source, "planned", output, note)
        else:
            to_run.append(Task(source, output, marker, request_of(source), policy.overwrite or policy.redo, wait=False,
                               keep_earlier=keep_earlier and not policy.overwrite, replace_foreign=policy.overwrite))
    with ExitStack() as resources:
        run: Callable[[list[Task]], Any] | None = None
        if to_run and here:  # the job opens (loads its model) only when there is work, before any progress
            job_here = resources.enter_context(factory.open(on_event or _ignore, [task.source for task in to_run]))
            run = partial(_run_in_process, job_here, on_event)
        elif to_run:
            from .scaleout import open_executor

            factory.check()
            executor = open_executor(factory, scale, len(to_run), on_event or _ignore)  # fails before any progress
            resources.callback(executor.close)
            run = executor.run
        if on_event:
            on_event("planned", len(plan))
            for result in results.values():
                on_event("item", result)
        if run is not None:
            results.update(_deal(to_run, run, on_event))
    return BatchReport([results[source] for source in plan])


def _checked(check: Callable[[Path], None] | None, source: Path) -> BatchItemResult | None:
    """The failed result of a source that is not there (missing, a broken link: the run fails it by name, whatever
    the stage) or that ``check`` finds unreadable; None where it passes."""
    from .io.images import check_input_file

    try:
        if not os.path.exists(source):
            check_input_file(source)  # says which: missing, a broken link, a link loop
            raise InputError(source, "file not found")
        if check is not None:
            check(source)
    except InputError as exc:
        return BatchItemResult(source, "failed", None, str(exc))
    return None


def _run_in_process(job: Job, on_event: Event | None,
                    tasks: list[Task]) -> Iterator[tuple[Task, BatchItemResult | None]]:
    """Run ``tasks`` one after another in this process, as they are asked for."""
    return ((task, run_task(job, task, on_event)) for task in tasks)


def _deal(tasks: list[Task], run: Callable[[list[Task]], Any], on_event: Event | None) -> dict[Path, BatchItemResult]:
    """Run ``tasks``; those whose output another run was writing go again once the rest is done, then, if that
    run is still at it, once more waiting for it."""
    results: dict[Path, BatchItemResult] = {}
    for wait in (None, False, True):
        if wait is not None:
            tasks = [replace(t, redo_complete=False, wait=wait) for t in tasks]
        if wait and on_event:
            for task in tasks:
                on_event("warning", f"{task.output}: busy: being written by another run; waiting for it")
        busy: list[Task] = []
        for task, result in run(tasks) if tasks else ():
            if result is None:
                busy.append(task)
                continue
            results[task.source] = result
            if on_event:
                on_event("item", result)
        tasks = busy
    assert not tasks  # the last round waited for the locks
    return results


def _ignore(kind: str, payload: Any) -> None:
    """The event sink of a batch run without one."""


def _run_locked(source: Path, output: Path, job: Job, marker: str | None, request: dict[str, Any] | None, *,
                redo_complete: bool, wait: bool, on_event: Event | None,
                keep_earlier: bool = False, replace_foreign: bool = False) -> BatchItemResult | None:
    """Run one input's job holding its output's lock, its completion checked again under the lock.

    None when another run holds the lock and ``wait`` is False. An output that another run completed meanwhile
    is skipped unless ``redo_complete``; one made by another request keeps its listed files if ``keep_earlier``.
    """
    started = time.monotonic()
    lock = OutputLock(output)
    try:
        if not lock.acquire(wait=wait):
            return None
    except OSError as exc:
        error = OutputError(f"{lock.path}: cannot take the output's lock ({exc.strerror or exc})")
        return _failure(source, error, started)
    try:
        state = completion(output, marker, request, source)
        if state == "complete" and not redo_complete:
            return BatchItemResult(source, "skipped", output, "already complete (written by another run)")
        if state == "taken" or (state == "foreign" and not replace_foreign):
            return BatchItemResult(source, "failed", output, _refusal(output, marker, state))
        if on_event:
            on_event("start", source)
        # a changed input makes what an earlier request made from it outdated too: nothing of it is kept
        keep = keep_earlier and state == "stale" and not _changed_since(
            source, output, marker, made_from(output, marker), input_record(source))
        result = _run_one(source, output, job, marker, keep)
    finally:
        lock.release()
    if state in _REDONE_BECAUSE and result.status == "done":
        result.message = "; ".join([f"redone: {_REDONE_BECAUSE[state]}", *([result.message] if result.message else [])])
    return result
