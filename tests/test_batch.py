"""Batches: collision-free names, never writing into inputs, resume, failures, Ctrl-C."""

import json
import os
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from cevr_cli.batch import BatchPolicy, completion, discover_inputs, plan_outputs, run_batch
from cevr_cli.errors import InputError, OutputError
from cevr_cli.io.lock import OutputLock


@pytest.fixture()
def tree(tmp_path):
    root = tmp_path / "photos"
    for rel in ("a/IMG_0001.JPG", "b/IMG_0001.JPG", "b/IMG_0002.jpg", "b/deep/IMG_0003.png", ".hidden/x.jpg",
                "b/notes.txt"):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    return root


def test_discovery_recursive_or_not(tree):
    assert discover_inputs([tree / "b"]) == [tree / "b/IMG_0001.JPG", tree / "b/IMG_0002.jpg"]
    found = discover_inputs([tree], recursive=True)
    assert tree / "b/deep/IMG_0003.png" in found and all(".hidden" not in str(p) for p in found)
    assert all(p.suffix != ".txt" for p in found)


def test_nothing_found_names_a_subfolder_that_cannot_be_listed_and_counts_only_photos(tmp_path, monkeypatch):
    """`cevr stack only/` with only/ holding nothing but an unlistable subfolder (chmod 000) said "no photos found in
    only (1 in subfolders: add -r to search them)": the folder was counted as a photo. It is named instead, and
    beside a photo in another subfolder the count is that photo's."""
    from cevr_cli.batch import discover_batch_inputs
    from cevr_cli.errors import UsageError
    from tests.conftest import refuse_to_list

    only, locked = tmp_path / "only", tmp_path / "only" / "locked"
    locked.mkdir(parents=True)
    refuse_to_list(monkeypatch, locked)
    with pytest.raises(UsageError) as caught:
        discover_batch_inputs([only], False, "no photos found")
    assert str(caught.value) == f"no photos found in {only} ({locked} could not be listed)"
    (only / "day").mkdir()
    (only / "day" / "a.jpg").write_bytes(b"x")
    with pytest.raises(UsageError) as caught:
        discover_batch_inputs([only], False, "no photos found")
    assert str(caught.value) == (f"no photos found in {only} (1 in subfolders: add -r to search them; {locked} could "
                                 "not be listed)")


def test_nothing_found_names_the_stage_folders_inside_and_the_command_that_takes_them(tmp_path):
    """`cevr stack cevr-stacks/` (the stages' order mixed up) said only "no photos found in cevr-stacks", exit 2, where
    the folder held a stack folder per photo: each given by name says "`cevr fuse` takes it"."""
    from cevr_cli.batch import discover_batch_inputs
    from cevr_cli.errors import UsageError
    from cevr_cli.vocabulary import FUSE_MANIFEST, STACK_MANIFEST

    given = tmp_path / "given"
    for name, marker in (("a", STACK_MANIFEST), ("b", STACK_MANIFEST), ("c", FUSE_MANIFEST)):
        (given / name).mkdir(parents=True)
        (given / name / marker).write_text('{"cevr_version": "0.1.0"}')
    (given / "d").mkdir()
    (given / "d" / STACK_MANIFEST).write_text('{"another": "program"}')  # no cevr stack folder
    with pytest.raises(UsageError) as caught:
        discover_batch_inputs([given], False, "no photos found")
    assert str(caught.value) == (f"no photos found in {given} (2 cevr stack folders: `cevr fuse` takes them; "
                                 "1 cevr fuse output folder: `cevr tonemap` takes it)")
    with pytest.raises(UsageError) as caught:  # a stage is not sent to itself
        discover_batch_inputs([given], False, "nothing found", takes=STACK_MANIFEST)
    assert str(caught.value) == f"nothing found in {given} (1 cevr fuse output folder: `cevr tonemap` takes it)"


def test_a_broken_link_with_a_photos_name_is_found_so_that_it_fails_by_name(tree):
    """Not passed over in silence: the batch reports it (images.check_input_file says it is a broken link)."""
    (tree / "b" / "IMG_0009.jpg").symlink_to(tree / "gone.jpg")
    (tree / "b" / "notes-link.txt").symlink_to(tree / "gone.txt")
    assert discover_inputs([tree / "b"]) == [tree / "b/IMG_0001.JPG", tree / "b/IMG_0002.jpg", tree / "b/IMG_0009.jpg"]


def test_stacks_kept_in_fuse_folders_are_named_after_their_photos(tmp_path):
    kept = []
    for name in ("IMG_1", "IMG_2"):
        (tmp_path / "hdr" / name / "stack").mkdir(parents=True)
        (tmp_path / "hdr" / name / "fuse.json").write_text(json.dumps({"cevr_version": "0.1.0"}))
        kept.append(tmp_path / "hdr" / name / "stack")
    plan = plan_outputs(kept, tmp_path / "out", roots=kept)  # cevr fuse hdr/*/stack: was stack, stack_
    assert [plan[k].name for k in kept] == ["IMG_1", "IMG_2"]


def test_an_hdr_image_in_a_fuse_folder_is_named_after_that_folder_whatever_its_own_name(tmp_path):
    """fuse names the HDR after the photo and the folder after the output (IMG_1_ for a namesake's); tonemap of
    hdr/ gave IMG_1___IMG_1 for it, as if the folder were a subfolder found by -r."""
    images = []
    for folder, file in (("IMG_1", "IMG_1.exr"), ("IMG_1_", "IMG_1.exr"), ("a__IMG_2", "IMG_2.exr"),
                         ("IMG_3_jpg", "IMG_3.hdr")):
        (tmp_path / "hdr" / folder).mkdir(parents=True)
        (tmp_path / "hdr" / folder / "fuse.json").write_text(json.dumps({"cevr_version": "0.1.0"}))
        (tmp_path / "hdr" / folder / file).write_bytes(b"x")
        images.append(tmp_path / "hdr" / folder / file)
    root = tmp_path / "hdr"
    walked = plan_outputs(images, tmp_path / "out", roots=[root], name_format="{name}-reinhard.png")
    named = plan_outputs(images, tmp_path / "out", roots=images, name_format="{name}-reinhard.png")
    expected = ["IMG_1-reinhard.png", "IMG_1_-reinhard.png", "a__IMG_2-reinhard.png", "IMG_3_jpg-reinhard.png"]
    assert [walked[i].name for i in images] == [named[i].name for i in images] == expected
    (tmp_path / "plain" / "IMG_4").mkdir(parents=True)  # no fuse.json: a subfolder like any other
    (tmp_path / "plain" / "IMG_4" / "IMG_4.exr").write_bytes(b"x")
    plain = plan_outputs([tmp_path / "plain" / "IMG_4" / "IMG_4.exr"], tmp_path / "out", roots=[tmp_path / "plain"])
    assert [p.name for p in plain.values()] == ["IMG_4__IMG_4"]


def test_a_named_pipe_with_a_photos_name_is_found_so_that_it_fails_by_name(tree):
    os.mkfifo(tree / "b" / "pipe.png")  # reading it would block: the reader refuses it by name
    assert tree / "b" / "pipe.png" in discover_inputs([tree / "b"])


def test_a_symlink_loop_is_planned_and_then_fails_by_name(tree, tmp_path):
    """Resolving a loop raises (RuntimeError before Python 3.13): the plan keeps it as it stands, and the reader
    names it, so the batch goes on with the other photos."""
    from cevr_cli.errors import InputError
    from cevr_cli.io.images import check_input_file

    (tree / "b" / "loop-a.jpg").symlink_to("loop-b.jpg")
    (tree / "b" / "loop-b.jpg").symlink_to("loop-a.jpg")
    photos = discover_inputs([tree / "b"])
    assert tree / "b" / "loop-a.jpg" in photos and tree / "b" / "loop-b.jpg" in photos
    plan = plan_outputs(photos, tmp_path / "out", roots=[tree / "b"])
    assert plan[tree / "b" / "loop-a.jpg"] == (tmp_path / "out" / "loop-a").resolve()
    with pytest.raises(InputError) as caught:
        check_input_file(tree / "b" / "loop-a.jpg")
    assert str(caught.value) == f"{tree / 'b' / 'loop-a.jpg'}: symlink loop: its target loop-b.jpg leads back to itself"


def test_names_that_differ_only_in_case_get_names_of_their_own_whatever_the_order(tmp_path):
    import hashlib

    folder = tmp_path / "a"
    folder.mkdir()
    lower, upper = folder / "x.png", folder / "X.PNG"
    lower.write_bytes(b"1")
    upper.write_bytes(b"2")
    one = plan_outputs([lower, upper], tmp_path / "out", roots=[lower, upper])
    other = plan_outputs([upper, lower], tmp_path / "out", roots=[folder])
    assert one == other
    tag = {p: hashlib.sha1(p.name.encode()).hexdigest()[:6] for p in (lower, upper)}
    assert {p.name: f.name for p, f in one.items()} == {"x.png": f"x_png_{tag[lower]}", "X.PNG": f"X_png_{tag[upper]}"}
    assert one[lower].name.lower() != one[upper].name.lower()


@pytest.mark.parametrize("name", ["..jpg", "...jpg"])
def test_a_photo_whose_stem_is_a_dot_or_two_gets_an_output_inside_the_output_folder(tmp_path, name):
    """Its stem, '.' or '..', named out/. (the output folder itself, which a redo replaced whole) or out/.. (the
    folder above it)."""
    photo = tmp_path / "in" / name
    photo.parent.mkdir()
    photo.write_bytes(b"x")
    out = tmp_path / "out"
    for roots in ([photo], [photo.parent]):
        output = plan_outputs([photo], out, roots=roots)[photo]
        assert output.parent == out and output.name not in (".", "..", "")


def test_same_names_from_different_folders_do_not_collide(tree, tmp_path):
    photos = discover_inputs([tree], recursive=True)
    plan = plan_outputs(photos, tmp_path / "out", roots=[tree])
    folders = list(plan.values())
    assert len(set(folders)) == len(folders)
    assert {source.relative_to(tree).as_posix(): folder.name for source, folder in plan.items()} == {
        "a/IMG_0001.JPG": "a__IMG_0001", "b/IMG_0001.JPG": "b__IMG_0001", "b/IMG_0002.jpg": "b__IMG_0002",
        "b/deep/IMG_0003.png": "b__deep__IMG_0003"}


def test_a_photos_output_name_does_not_depend_on_the_rest_of_the_batch(tmp_path):
    folder = tmp_path / "card"
    folder.mkdir()
    for name in ("IMG_0001.JPG", "IMG_0001.CR2", "IMG_0001.xmp", "IMG_0002.jpg"):
        (folder / name).write_bytes(b"x")
    out = tmp_path / "out"
    alone = {name: plan_outputs([folder / name], out, roots=[folder / name])[folder / name].name
             for name in ("IMG_0001.JPG", "IMG_0001.CR2", "IMG_0002.jpg")}
    together = {source.name: output.name
                for source, output in plan_outputs(discover_inputs([folder]), out, roots=[folder]).items()}
    assert alone == together == {"IMG_0001.JPG": "IMG_0001_jpg", "IMG_0001.CR2": "IMG_0001_cr2",
                                 "IMG_0002.jpg": "IMG_0002"}  # a sidecar (.xmp) is not a namesake


def test_a_photo_keeps_its_output_when_its_namesake_is_gone(tmp_path):
    """RAW + JPEG shot side by side give IMG_0001_cr2 and IMG_0001_jpg; with the JPEG deleted, the RAW was named
    IMG_0001 again and, that name being the JPEG's, IMG_0001_: every RAW redone under a new name, its complete
    output left beside it (and fused twice downstream). A photo whose output was made while a namesake lay beside it
    keeps that output; a photo never made keeps the bare name."""
    card, out = tmp_path / "card", tmp_path / "out"
    card.mkdir()
    raw, jpeg, other = card / "IMG_0001.CR2", card / "IMG_0001.JPG", card / "IMG_0002.JPG"
    for photo in (raw, jpeg):
        photo.write_bytes(b"x")
    plan = plan_outputs(discover_inputs([card]), out, roots=[card], marker=MARKER)
    assert run_batch(plan, _listing(), DEFAULT, marker=MARKER).counts() == {"done": 2}
    jpeg.unlink()
    other.write_bytes(b"x")
    plan = plan_outputs(discover_inputs([card]), out, roots=[card], marker=MARKER)
    assert plan == {raw: out / "IMG_0001_cr2", other: out / "IMG_0002"}
    assert run_batch(plan, _listing(), DEFAULT, marker=MARKER).counts() == {"skipped": 1, "done": 1}


def test_a_file_given_by_name_is_named_after_itself_whatever_is_given_beside_it(tree, tmp_path):
    """A file root names only itself: ``b/IMG_0002.jpg b/deep/IMG_0003.png`` gave ``deep__IMG_0003`` (the first
    file's folder taken as a root), while ``b/deep/IMG_0003.png`` alone gives ``IMG_0003``: a rerun with other
    files beside it redid the photo under another name."""
    first, deep = tree / "b/IMG_0002.jpg", tree / "b/deep/IMG_0003.png"
    out = tmp_path / "out"
    alone = plan_outputs([deep], out, roots=[deep])[deep]
    together = plan_outputs([first, deep], out, roots=[first, deep])
    assert alone == together[deep] == out / "IMG_0003" and together[first] == out / "IMG_0002"
    walked = plan_outputs(discover_inputs([tree / "b"], recursive=True), out, roots=[tree / "b"])
    assert walked[deep] == out / "deep__IMG_0003"  # found in a folder given: named from that folder
    # given by name beside a folder that holds it: still named after itself (it was deep__IMG_0003, made twice)
    both = plan_outputs(discover_inputs([tree / "b", deep], recursive=True), out, roots=[tree / "b", deep])
    assert both[deep] == out / "IMG_0003"


def test_a_link_in_a_folder_walked_is_named_after_itself(tree, tmp_path):
    """``b/pick.png`` -> ``deep/IMG_0003.png`` was planned as ``deep__pick``: the folder from the link's target, the
    stem from the link."""
    (tree / "b" / "pick.png").symlink_to(Path("deep") / "IMG_0003.png")
    plan = plan_outputs(discover_inputs([tree / "b"]), tmp_path / "out", roots=[tree / "b"])
    assert plan[tree / "b" / "pick.png"] == tmp_path / "out" / "pick"


def test_a_file_met_twice_is_one_input_under_the_path_first_met(tree):
    """Given as b/IMG_0002.jpg and b/../b/IMG_0002.jpg, or through a link in a folder walked: one input (it was
    made twice, as IMG_0002 and IMG_0002_)."""
    photo = tree / "b" / "IMG_0002.jpg"
    assert discover_inputs([photo, tree / "b" / ".." / "b" / "IMG_0002.jpg"]) == [photo]
    (tree / "picks").mkdir()
    (tree / "picks" / "best.jpg").symlink_to(photo)
    assert discover_inputs([photo, tree / "picks"]) == [photo]
    assert discover_inputs([tree / "picks", photo]) == [tree / "picks" / "best.jpg"]


def test_a_volumes_system_folders_are_passed_over_as_hidden_ones_are(tree):
    """A card or disk walked with -r: lost+found (root's alone, unreadable) failed the run every time."""
    for name in ("lost+found", "System Volume Information", "$Recycle.Bin"):  # Windows 10's spelling of the last
        (tree / name).mkdir()
        (tree / name / "x.jpg").write_bytes(b"x")
    found = discover_inputs([tree], recursive=True)
    assert not any(part in ("lost+found", "System Volume Information", "$Recycle.Bin") for p in found
                   for part in p.parts) and tree / "b" / "IMG_0002.jpg" in found


def test_a_folder_holding_the_photo_is_no_output_in_any_case_of_its_letters(tmp_path, monkeypatch):
    """shoot/img_1/IMG_1.jpg with -o shoot: on a case-insensitive disk shoot/IMG_1 is the photo's own folder and
    gets the _; on a case-sensitive one it is another folder and the name stays (an upgrade redid such outputs)."""
    photo = tmp_path / "shoot" / "img_1" / "IMG_1.jpg"
    photo.parent.mkdir(parents=True)
    photo.write_bytes(b"x")
    assert plan_outputs([photo], tmp_path / "shoot", roots=[photo])[photo].name == "IMG_1"  # this disk: ext4/tmpfs
    real = os.path.samefile
    monkeypatch.setattr(os.path, "samefile", lambda a, b: str(a).casefold() == str(b).casefold() or real(a, b))
    assert plan_outputs([photo], tmp_path / "shoot", roots=[photo])[photo].name == "IMG_1_"  # as macOS would say


def test_refuses_output_inside_the_input_tree(tree):
    with pytest.raises(OutputError):
        plan_outputs(discover_inputs([tree]), tree / "out", roots=[tree])


MARKER = "stack.json"
DEFAULT = BatchPolicy()


def job_writing(fail_on=None, interrupt_on=None, request=None):
    def job(source, folder):
        (folder / "image.png").write_bytes(b"data")
        if fail_on and source.name == fail_on:
            raise InputError(source, "cannot decode")
        if interrupt_on and source.name == interrupt_on:
            raise KeyboardInterrupt
        (folder / MARKER).write_text(json.dumps({"source": str(source), "request": request}))
    return job


def test_failure_does_not_stop_the_batch_and_leaves_no_partial_output(tree, tmp_path):
    photos = discover_inputs([tree / "b"])
    plan = plan_outputs(photos, tmp_path / "out", roots=[tree / "b"])
    report = run_batch(plan, job_writing(fail_on="IMG_0001.JPG"), DEFAULT, marker=MARKER)
    assert report.counts() == {"failed": 1, "done": 1} and report.exit_code == 1
    assert "IMG_0001.JPG: cannot decode" in report.items[0].message
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["IMG_0002"]


def test_rerun_resumes_and_overwrite_redoes(tree, tmp_path):
    plan = plan_outputs(discover_inputs([tree / "b"]), tmp_path / "out", roots=[tree / "b"])
    assert run_batch(plan, job_writing(), DEFAULT, marker=MARKER).counts() == {"done": 2}
    first = next(iter(plan.values()))
    (first / MARKER).write_text("{")  # a damaged marker of this command's: redone
    assert run_batch(plan, job_writing(), DEFAULT, marker=MARKER).counts() == {"done": 1, "skipped": 1}
    assert run_batch(plan, job_writing(), BatchPolicy(overwrite=True), marker=MARKER).counts() == {"done": 2}
    assert all(completion(folder, MARKER) == "complete" for folder in plan.values())


def test_interrupt_leaves_no_partial_files(tree, tmp_path):
    out = tmp_path / "out"
    plan = plan_outputs(discover_inputs([tree / "b"]), out, roots=[tree / "b"])
    with pytest.raises(KeyboardInterrupt):
        run_batch(plan, job_writing(interrupt_on="IMG_0002.jpg"), DEFAULT, marker=MARKER)
    assert sorted(p.name for p in out.iterdir()) == ["IMG_0001"]  # the finished one, nothing else


def test_dry_run_writes_nothing(tree, tmp_path):
    plan = plan_outputs(discover_inputs([tree / "b"]), tmp_path / "out", roots=[tree / "b"])
    report = run_batch(plan, job_writing(), BatchPolicy(dry_run=True), marker=MARKER)
    assert report.counts() == {"planned": 2} and not (tmp_path / "out").exists()


def test_a_dry_run_fails_a_missing_input_as_the_run_would(tree, tmp_path):
    """A photo given by name that is not there (a typo, a broken link) was listed as 'would write'."""
    missing, broken = tree / "b" / "IMG_9999.jpg", tree / "b" / "gone.jpg"
    broken.symlink_to(tree / "b" / "nowhere.jpg")
    photos = [tree / "b" / "IMG_0002.jpg", missing, broken]
    plan = plan_outputs(photos, tmp_path / "out", roots=photos)
    report = run_batch(plan, job_writing(), BatchPolicy(dry_run=True), marker=MARKER)
    assert report.counts() == {"planned": 1, "failed": 2} and report.exit_code == 1
    messages = {item.source: item.message for item in report.items}
    assert messages[missing] == f"{missing}: file not found" and "broken link" in messages[broken]
    assert not (tmp_path / "out").exists()


def test_a_rerun_with_another_request_redoes_only_what_it_changes(tree, tmp_path):
    plan = plan_outputs(discover_inputs([tree / "b"]), tmp_path / "out", roots=[tree / "b"])
    first = {"evs": [-1.0, 1.0], "format": "png"}
    assert run_batch(plan, job_writing(request=first), DEFAULT, marker=MARKER, request=first).counts() == {"done": 2}
    assert run_batch(plan, job_writing(request=first), DEFAULT, marker=MARKER, request=first).counts() == {
        "skipped": 2}
    other = {"evs": [-2.0, 2.0], "format": "png"}
    dry = run_batch(plan, job_writing(request=other), BatchPolicy(dry_run=True), marker=MARKER, request=other)
    assert dry.counts() == {"planned": 2} and "other options" in dry.items[0].message
    redone = run_batch(plan, job_writing(request=other), DEFAULT, marker=MARKER, request=other)
    assert redone.counts() == {"done": 2} and "other options" in redone.items[0].message
    assert all(json.loads((f / MARKER).read_text())["request"] == other for f in plan.values())


@pytest.mark.parametrize("kept", [5, "x.png", ["", "/etc/passwd", "../escape.png", 7, None], {"a": 1}])
def test_a_redo_that_keeps_earlier_outputs_survives_a_hostile_marker(tree, tmp_path, kept):
    """A marker whose kept list is not a list of safe relative names keeps nothing from it and moves nothing
    from outside the output folder; the redo itself completes."""
    photo = tree / "b" / "IMG_0002.jpg"
    plan = plan_outputs([photo], tmp_path / "out", roots=[tree / "b"])
    folder = plan[photo]
    folder.mkdir(parents=True)
    (folder / "old.png").write_bytes(b"old")
    (tmp_path / "escape.png").write_bytes(b"outside")
    (folder / MARKER).write_text(json.dumps({"request": {"evs": [1.0]}, "outputs": ["old.png"],
                                             "kept_from_earlier_requests": kept}))
    request = {"evs": [2.0]}
    report = run_batch(plan, job_writing(request=request), DEFAULT, marker=MARKER, request=request,
                       keep_earlier=True)
    assert report.counts() == {"done": 1}, report.items[0].message
    assert sorted(p.name for p in folder.iterdir()) == ["image.png", "old.png", MARKER]
    assert json.loads((folder / MARKER).read_text())["kept_from_earlier_requests"] == ["old.png"]
    assert (tmp_path / "escape.png").read_bytes() == b"outside"


def test_file_outputs_get_collision_free_names_and_resume(tree, tmp_path):
    photos = discover_inputs([tree], recursive=True)
    plan = plan_outputs(photos, tmp_path / "out", roots=[tree], name_format="{name}-done.txt")
    assert len(set(plan.values())) == len(plan)
    assert plan[tree / "a/IMG_0001.JPG"].name == "a__IMG_0001-done.txt"

    def job(source, output):
        output.write_text(source.name)

    assert run_batch(plan, job, DEFAULT, marker=None).counts() == {"done": len(plan)}
    assert run_batch(plan, job, DEFAULT, marker=None).counts() == {"skipped": len(plan)}


def test_a_file_outputs_temporary_that_a_killed_run_left_is_removed_when_it_is_redone(tmp_path):
    """SIGKILL (the OOM killer, a power cut) while a file output was written left its atomic temporary file; the
    rerun wrote the output and left the stray ``.x-done.<random>.part.txt`` beside it for good."""
    from cevr_cli.io.atomic import atomic_path

    source = tmp_path / "x.png"
    source.write_bytes(b"x")
    out = tmp_path / "out"
    plan = plan_outputs([source], out, roots=[source], name_format="{name}-done.txt")
    out.mkdir()
    (out / ".x-done.k1lled_0.part.txt").write_bytes(b"half")  # atomic_path's temporary of x-done.txt
    (out / ".x-done.y.k1lled_0.part.txt").write_bytes(b"theirs")  # that of another output, x-done.y.txt

    def job(source, output):
        with atomic_path(output) as temporary:
            temporary.write_text(source.name)

    assert run_batch(plan, job, DEFAULT, marker=None).counts() == {"done": 1}
    assert sorted(p.name for p in out.iterdir()) == [".x-done.y.k1lled_0.part.txt", "x-done.txt"]


def test_cleaning_after_a_killed_worker_removes_its_outputs_temporaries_only(tmp_path):
    """A worker killed while writing x.png: its temporary goes; that of x.y.png, which another worker may be writing
    now, stays (the pattern took every name that began with '.x.')."""
    from cevr_cli.batch import clean_abandoned

    for name in (".x.abcd1234.part.png", ".x.y.abcd1234.part.png", ".x.notmkstemp.part.png"):
        (tmp_path / name).write_bytes(b"part")
    clean_abandoned(tmp_path / "x.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".x.notmkstemp.part.png", ".x.y.abcd1234.part.png"]


@pytest.mark.parametrize("fails", [False, True])
def test_a_link_at_a_file_outputs_name_is_replaced_never_followed(tree, tmp_path, fails):
    from cevr_cli.io.atomic import atomic_write_text

    photo, other = tree / "a" / "IMG_0001.JPG", tree / "b" / "IMG_0002.jpg"
    before = other.read_bytes()
    plan = plan_outputs([photo], tmp_path / "out", roots=[photo], name_format="{name}-done.txt")
    plan[photo].parent.mkdir(parents=True)
    plan[photo].symlink_to(other)  # at the output's name: a link to another input of the batch

    def job(source, output):
        if fails:
            raise InputError(source, "truncated file")
        atomic_write_text(output, source.name)  # writes through links, as --csv asks: the engine must not let it

    report = run_batch(plan, job, BatchPolicy(overwrite=True), marker=None)
    assert other.read_bytes() == before
    if fails:
        assert report.counts() == {"failed": 1} and os.readlink(plan[photo]) == str(other)  # the link kept
    else:
        assert report.counts() == {"done": 1} and not plan[photo].is_symlink()
        assert plan[photo].read_text() == photo.name
    assert sorted(p.name for p in plan[photo].parent.iterdir()) == [plan[photo].name]


def test_a_marker_is_trusted_only_when_the_files_it_lists_are_there_and_not_empty(tmp_path):
    folder = tmp_path / "IMG_0001"
    folder.mkdir()
    (folder / "00_ev-1.00.png").write_bytes(b"data")
    (folder / "contact.jpg").write_bytes(b"data")
    (folder / MARKER).write_text(json.dumps({"files": ["00_ev-1.00.png", "01_ev+1.00.png"],
                                             "contact_sheet": "contact.jpg", "request": None}))
    assert completion(folder, MARKER) == "missing"  # 01_ev+1.00.png is listed but not there
    (folder / "01_ev+1.00.png").write_bytes(b"")
    assert completion(folder, MARKER) == "missing"  # there, but empty
    (folder / "01_ev+1.00.png").write_bytes(b"data")
    assert completion(folder, MARKER) == "complete"
    (folder / "contact.jpg").unlink()
    assert completion(folder, MARKER) == "missing"


def test_a_run_redoes_an_output_whose_marker_lists_missing_files(tree, tmp_path):
    plan = plan_outputs(discover_inputs([tree / "b"]), tmp_path / "out", roots=[tree / "b"])

    def job(source, folder):
        (folder / "image.png").write_bytes(b"data")
        (folder / MARKER).write_text(json.dumps({"files": ["image.png"], "request": None}))

    assert run_batch(plan, job, DEFAULT, marker=MARKER).counts() == {"done": 2}
    (plan[tree / "b/IMG_0002.jpg"] / "image.png").unlink()  # what a run that lost its images left
    assert run_batch(plan, job, DEFAULT, marker=MARKER).counts() == {"skipped": 1, "done": 1}
    assert (plan[tree / "b/IMG_0002.jpg"] / "image.png").read_bytes() == b"data"


def test_partial_folders_that_crashed_runs_left_are_removed_and_names_are_per_run(tree, tmp_path):
    out = tmp_path / "out"
    plan = plan_outputs(discover_inputs([tree / "b"]), out, roots=[tree / "b"])
    for name in (".IMG_0002.partial", ".IMG_0002.partial-4242-0a1b2c3d", ".IMG_0002.old"):
        (out / name).mkdir(parents=True)
    (out / ".IMG_0002.partial-4242-0a1b2c3d" / "x.png").write_bytes(b"")
    (out / ".IMG_0002.partial-keep").mkdir()  # not a name this engine makes: left alone
    seen = []

    def job(source, folder):
        seen.append(folder.name)
        job_writing()(source, folder)

    assert run_batch(plan, job, DEFAULT, marker=MARKER).counts() == {"done": 2}
    assert all(re.fullmatch(rf"\.IMG_000[12]\.partial-{os.getpid()}-[0-9a-f]+", name) for name in seen)
    assert sorted(p.name for p in out.iterdir()) == [".IMG_0002.partial-keep", "IMG_0001", "IMG_0002"]


def test_an_output_another_run_is_writing_is_left_to_it_and_waited_for(tree, tmp_path):
    out = tmp_path / "out"
    plan = plan_outputs(discover_inputs([tree / "b"]), out, roots=[tree / "b"])
    theirs = plan[tree / "b/IMG_0001.JPG"]
    other_run = OutputLock(theirs)
    assert other_run.acquire(wait=False)
    their_partial = out / ".IMG_0001.partial-4242-0a1b2c3d"
    their_partial.mkdir()
    warnings, jobs, reports = [], [], []

    def job(source, folder):
        jobs.append(source.name)
        job_writing()(source, folder)

    def on_event(kind, payload):
        if kind == "warning":
            warnings.append(payload)

    batch = threading.Thread(target=lambda: reports.append(run_batch(plan, job, DEFAULT, marker=MARKER,
                                                                     on_event=on_event)))
    batch.start()
    deadline = time.monotonic() + 30
    while not warnings and time.monotonic() < deadline:
        time.sleep(0.05)
    assert warnings == [f"{theirs}: busy: being written by another run; waiting for it"]
    assert jobs == ["IMG_0002.jpg"] and their_partial.is_dir()  # neither written twice nor cleaned up
    job_writing()(tree / "b/IMG_0001.JPG", their_partial)  # the other run finishes
    their_partial.rename(theirs)
    other_run.release()
    batch.join(30)
    assert jobs == ["IMG_0002.jpg"]  # what the other run completed is not done again
    assert [(i.source.name, i.status, i.message) for i in reports[0].items] == [
        ("IMG_0001.JPG", "skipped", "already complete (written by another run)"), ("IMG_0002.jpg", "done", "")]
    assert sorted(p.name for p in out.iterdir()) == ["IMG_0001", "IMG_0002"]  # and no lock files left


def test_an_output_whose_other_run_gave_up_is_done_here(tree, tmp_path):
    plan = plan_outputs(discover_inputs([tree / "b"]), tmp_path / "out", roots=[tree / "b"])
    other_run = OutputLock(plan[tree / "b/IMG_0001.JPG"])
    assert other_run.acquire(wait=False)
    threading.Timer(0.5, other_run.release).start()  # it ends without finishing (a failure, Ctrl-C)
    report = run_batch(plan, job_writing(), DEFAULT, marker=MARKER)
    assert report.counts() == {"done": 2} and [i.source.name for i in report.items] == ["IMG_0001.JPG",
                                                                                         "IMG_0002.jpg"]


def test_a_failure_that_does_not_name_a_file_is_said_with_the_input(tmp_path):
    """An input's error that is not about a file (a stack folder with one EV for Debevec's merge) starts with the
    input; an InputError names its own file."""
    from cevr_cli.batch import BatchPolicy, run_batch
    from cevr_cli.errors import InputError, UsageError

    sources = [tmp_path / "one-ev", tmp_path / "bad"]

    def job(source, output):
        if source.name == "bad":
            raise InputError(source / "00_ev+0.00.png", "truncated file")
        raise UsageError("recovering a response needs at least two exposures")

    report = run_batch({s: tmp_path / "out" / s.name for s in sources}, job, BatchPolicy(), marker="fuse.json")
    assert [item.message for item in report.items] == [
        f"{sources[0]}: recovering a response needs at least two exposures",
        f"{sources[1] / '00_ev+0.00.png'}: truncated file"]
    assert report.exit_code == 1


def test_an_unforeseen_exception_fails_its_input_alone_and_interrupts_still_stop(tmp_path):
    sources = [tmp_path / "a", tmp_path / "bug", tmp_path / "c"]

    def job(source, output):
        if source.name == "bug":
            raise OverflowError("cannot convert float infinity to integer")
        output.mkdir(exist_ok=True)
        (output / MARKER).write_text("{}")

    report = run_batch({s: tmp_path / "out" / s.name for s in sources}, job, BatchPolicy(), marker=MARKER)
    assert report.counts() == {"done": 2, "failed": 1} and report.exit_code == 1
    assert report.items[1].message == (f"{sources[1]}: unexpected OverflowError: cannot convert float infinity to "
                                       "integer (a cevr bug: please report it)")

    def interrupted(source, output):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch({s: tmp_path / "out2" / s.name for s in sources}, interrupted, BatchPolicy(), marker=MARKER)


def test_an_output_made_before_its_input_changed_is_outdated_and_redone(tmp_path):
    """As make decides: a photo replaced, or a stack folder that `cevr stack` redid, after the output was made."""
    photo, stack_folder = tmp_path / "p.png", tmp_path / "stacks" / "p"
    photo.write_bytes(b"photo")
    stack_folder.mkdir(parents=True)
    (stack_folder / MARKER).write_text("{}")
    made = []

    def job(source, output):
        made.append(source)
        (output / "x.txt").write_text("made")
        (output / "fuse.json").write_text(json.dumps({"files": ["x.txt"], "request": {"tmo": "reinhard"}}))

    plan = {photo: tmp_path / "out" / "p", stack_folder: tmp_path / "out" / "stack-p"}
    request = {"tmo": "reinhard"}
    assert run_batch(plan, job, BatchPolicy(), marker="fuse.json", request=request).counts() == {"done": 2}
    hour_ago = time.time() - 3600
    for path in (tmp_path / "out" / "p" / "fuse.json", tmp_path / "out" / "stack-p" / "fuse.json"):
        os.utime(path, (hour_ago, hour_ago))  # the outputs' times do not decide: the inputs' recorded versions do
    assert [completion(output, "fuse.json", request, source) for source, output in plan.items()] == ["complete"] * 2
    assert run_batch(plan, job, BatchPolicy(), marker="fuse.json", request=request).counts() == {"skipped": 2}
    photo.write_bytes(b"another photo")  # replaced now: newer than its output
    (stack_folder / "00_ev+1.00.png").write_bytes(b"frame")  # the stack redone: its folder changed
    assert [completion(output, "fuse.json", request, source) for source, output in plan.items()] == ["outdated"] * 2
    assert completion(tmp_path / "out" / "p", "fuse.json", {"tmo": "kim"}, photo) == "stale"  # the request first
    report = run_batch(plan, job, BatchPolicy(), marker="fuse.json", request=request)
    assert report.counts() == {"done": 2} and len(made) == 4
    assert all(item.message == "redone: its input changed after the earlier output was made" for item in report.items)
    assert run_batch(plan, job, BatchPolicy(), marker="fuse.json", request=request).counts() == {"skipped": 2}
    assert completion(tmp_path / "out" / "p", "fuse.json", request, tmp_path / "other.png") == "taken"
    photo.unlink()  # a source that cannot be read is not outdated: its job says what is wrong with it
    assert completion(tmp_path / "out" / "p", "fuse.json", request, photo) == "complete"


def _listing(job_request=None):
    """A job whose marker lists the image it writes, as stack.json does."""
    def job(source, folder):
        (folder / "image.png").write_text(source.name)
        (folder / MARKER).write_text(json.dumps({"files": ["image.png"], "request": job_request}))
    return job


def test_namesakes_batched_in_separate_runs_get_their_own_outputs(tree, tmp_path):
    """a/IMG_0001.JPG and b/IMG_0001.JPG, one run each into one -o: the second is neither skipped as done nor
    replaces the first; each rerun finds its own output; a changed photo redoes its own output only."""
    out = tmp_path / "out"
    first, second = tree / "b" / "IMG_0001.JPG", tree / "a" / "IMG_0001.JPG"
    plan_b = plan_outputs([first], out, roots=[first], marker=MARKER)
    assert run_batch(plan_b, _listing(), DEFAULT, marker=MARKER).counts() == {"done": 1}
    plan_a = plan_outputs([second], out, roots=[second], marker=MARKER)
    assert plan_a[second].name == "IMG_0001_"
    assert run_batch(plan_a, _listing(), DEFAULT, marker=MARKER).counts() == {"done": 1}
    made_from = {p.name: json.loads((p / MARKER).read_text())["made_from"]["path"] for p in out.iterdir()}
    assert made_from == {"IMG_0001": str(first.resolve()), "IMG_0001_": str(second.resolve())}
    for photo in (first, second):  # reruns, either order, together or alone
        planned = plan_outputs([photo], out, roots=[photo], marker=MARKER)
        assert planned == {photo: out / made_from_name(made_from, photo)}
    together = plan_outputs([second, first], out, roots=[second, first], marker=MARKER)
    assert run_batch(together, _listing(), DEFAULT, marker=MARKER).counts() == {"skipped": 2}
    future = time.time() + 5
    os.utime(second, (future, future))  # the second photo replaced
    report = run_batch(plan_outputs([second], out, roots=[second], marker=MARKER), _listing(), DEFAULT, marker=MARKER)
    assert report.counts() == {"done": 1} and report.items[0].output == out / "IMG_0001_"
    assert (out / "IMG_0001" / "image.png").read_text() == "IMG_0001.JPG" and len(list(out.iterdir())) == 2
    # --overwrite redoes this photo's own output, never its namesake's
    again = run_batch(plan_outputs([first], out, roots=[first], marker=MARKER), _listing(), BatchPolicy(overwrite=True),
                      marker=MARKER)
    assert again.items[0].output == out / "IMG_0001"
    assert json.loads((out / "IMG_0001_" / MARKER).read_text())["made_from"]["path"] == str(second.resolve())


def made_from_name(made_from, photo):
    return next(name for name, source in made_from.items() if source == str(photo.resolve()))


def test_a_namesakes_file_output_is_not_taken_for_this_inputs(tree, tmp_path):
    from cevr_cli.batch import input_record
    from cevr_cli.io.images import read_output_record, write_ldr

    out = tmp_path / "out"
    first, second = tree / "b" / "IMG_0001.JPG", tree / "a" / "IMG_0001.JPG"

    def job(source, output):
        write_ldr(output, np.zeros((2, 2, 3), np.float32), request={"k": 1}, made_from=input_record(source))

    for photo in (first, second):
        plan = plan_outputs([photo], out, roots=[photo], marker=None, name_format="{name}-done.png")
        assert run_batch(plan, job, DEFAULT, marker=None, request={"k": 1}).counts() == {"done": 1}
    assert sorted(p.name for p in out.iterdir()) == ["IMG_0001-done.png", "IMG_0001_-done.png"]
    assert read_output_record(out / "IMG_0001_-done.png")["made_from"]["path"] == str(second.resolve())


@pytest.mark.parametrize("name", ["result.png", "scene.EXR", "IMG_0001.jpg", "out.hdr"])
def test_an_output_folder_named_as_an_image_is_refused_unless_it_is_a_folder_already(tree, tmp_path, name):
    """`cevr tonemap scene.exr -o scene.png` made a folder named scene.png holding scene-reinhard.png, and said
    "1 done": -o is the folder the outputs go into, each named after its input."""
    photo = tree / "b" / "IMG_0002.jpg"
    with pytest.raises(OutputError, match=re.escape(f"{tmp_path / name}: -o names the folder the outputs go into "
                                                    "(each named after its input), not an image: give a folder name")):
        plan_outputs([photo], tmp_path / name, roots=[photo], marker=MARKER)
    assert not (tmp_path / name).exists()
    (tmp_path / name).mkdir()  # a folder of that name, made on purpose, is one
    assert plan_outputs([photo], tmp_path / name, roots=[photo], marker=MARKER) == {photo: tmp_path / name / "IMG_0002"}


def test_a_folder_this_command_did_not_make_is_left_alone_unless_overwrite(tree, tmp_path):
    photo = tree / "b" / "IMG_0002.jpg"
    plan = plan_outputs([photo], tmp_path / "out", roots=[photo], marker=MARKER)
    folder = plan[photo]
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.txt").write_text("mine")
    report = run_batch(plan, _listing(), DEFAULT, marker=MARKER)
    assert report.counts() == {"failed": 1} and report.exit_code == 1
    assert report.items[0].message == (f"{folder}: exists and was not made by this command (a folder without "
                                       f"{MARKER}); choose another -o, or --overwrite to write into it (its files "
                                       "are kept)")
    assert (folder / "notes.txt").read_text() == "mine" and (folder / "sub").is_dir()
    assert run_batch(plan, _listing(), BatchPolicy(dry_run=True), marker=MARKER).counts() == {"failed": 1}
    report = run_batch(plan, _listing(), BatchPolicy(overwrite=True), marker=MARKER)
    assert report.counts() == {"done": 1} and report.items[0].message == "kept files it did not make: notes.txt, sub/"
    assert sorted(p.name for p in folder.iterdir()) == ["image.png", "notes.txt", MARKER, "sub"]
    assert sorted(p.name for p in folder.parent.iterdir()) == [folder.name]  # nothing set aside


def test_overwrite_never_deletes_a_users_folder_nor_a_photo_of_the_batch_in_it(tree, tmp_path):
    """`cevr stack shoot/good/x.jpg other/good.jpg -o shoot --overwrite`: good.jpg's output is shoot/good, the
    user's folder that holds x.jpg, which --overwrite deleted with everything in it. Its files stay; one of a name
    the new output uses (their own image.png) is kept in the folder set aside, which the message names."""
    out = tmp_path / "shoot"
    inside, photo = out / "IMG_0002" / "x.jpg", tree / "b" / "IMG_0002.jpg"
    inside.parent.mkdir(parents=True)
    inside.write_bytes(b"their photo")
    (inside.parent / "image.png").write_text("their image")
    plan = plan_outputs([inside, photo], out, roots=[inside, photo], marker=MARKER)
    assert plan[photo] == inside.parent
    report = run_batch(plan, _listing(), BatchPolicy(overwrite=True), marker=MARKER)
    assert report.counts() == {"done": 2}
    assert inside.read_bytes() == b"their photo" and (inside.parent / "image.png").read_text() == "IMG_0002.jpg"
    aside = [p for p in out.iterdir() if p.name.startswith(".IMG_0002.earlier-")]
    assert len(aside) == 1 and (aside[0] / "image.png").read_text() == "their image"
    message = next(item.message for item in report.items if item.source == photo)
    assert message == f"kept image.png in {aside[0]}, where the new output has files of those names; " \
        "kept files it did not make: x.jpg"


def test_a_file_where_a_folder_output_belongs_is_refused_then_replaced_without_leftovers(tree, tmp_path):
    photo = tree / "b" / "IMG_0002.jpg"
    plan = plan_outputs([photo], tmp_path / "out", roots=[photo], marker=MARKER)
    plan[photo].parent.mkdir(parents=True)
    plan[photo].write_text("data")
    report = run_batch(plan, _listing(), DEFAULT, marker=MARKER)
    assert "a file, where a folder with stack.json belongs" in report.items[0].message
    assert plan[photo].read_text() == "data"
    assert run_batch(plan, _listing(), BatchPolicy(overwrite=True), marker=MARKER).counts() == {"done": 1}
    assert sorted(p.name for p in plan[photo].parent.iterdir()) == [plan[photo].name]  # no hidden .old left


def test_a_redo_keeps_the_files_a_user_put_into_the_output_folder(tree, tmp_path):
    photo = tree / "b" / "IMG_0002.jpg"
    plan = plan_outputs([photo], tmp_path / "out", roots=[photo], marker=MARKER)
    assert run_batch(plan, _listing({"evs": [1]}), DEFAULT, marker=MARKER, request={"evs": [1]}).counts() == {
        "done": 1}
    folder = plan[photo]
    (folder / "notes.txt").write_text("mine")
    (folder / "picks").mkdir()
    report = run_batch(plan, _listing({"evs": [2]}), DEFAULT, marker=MARKER, request={"evs": [2]})
    assert report.counts() == {"done": 1}
    assert report.items[0].message == ("redone: the earlier output was made with other options; kept files it did "
                                       "not make: notes.txt, picks/")
    assert sorted(p.name for p in folder.iterdir()) == ["image.png", "notes.txt", "picks", MARKER]
    report = run_batch(plan, _listing({"evs": [2]}), BatchPolicy(overwrite=True), marker=MARKER,
                       request={"evs": [2]})
    assert report.items[0].message == "kept files it did not make: notes.txt, picks/"  # no reason to follow


@pytest.mark.parametrize("stray", ["file", "failing rename"])
def test_a_redo_that_fails_while_swapping_folders_keeps_the_earlier_folder_and_the_users_files(tree, tmp_path,
                                                                                               monkeypatch, stray):
    photo = tree / "b" / "IMG_0002.jpg"
    plan = plan_outputs([photo], tmp_path / "out", roots=[photo], marker=MARKER)
    run_batch(plan, _listing({"evs": [1]}), DEFAULT, marker=MARKER, request={"evs": [1]})
    folder = plan[photo]
    (folder / "notes.txt").write_text("mine")
    if stray == "file":  # a file under the name the swap sets the earlier folder aside as
        (folder.parent / f".{folder.name}.old").write_text("")
    else:
        real_rename = os.rename
        monkeypatch.setattr(Path, "rename", lambda self, target: (
            _raise(OSError(28, "No space left on device")) if ".partial-" in self.name
            else Path(real_rename(self, target) or target)))
    report = run_batch(plan, _listing({"evs": [2]}), DEFAULT, marker=MARKER, request={"evs": [2]})
    monkeypatch.undo()
    if stray == "file":  # removed as a stale leftover: the redo goes through and keeps the notes
        assert report.counts() == {"done": 1}
    else:
        assert report.counts() == {"failed": 1} and "No space left on device" in report.items[0].message
        assert json.loads((folder / MARKER).read_text())["request"] == {"evs": [1]}  # the earlier result, whole
    assert (folder / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in folder.parent.iterdir()) == [folder.name]


def _raise(exc):
    raise exc


def test_a_user_file_that_cannot_be_carried_over_is_left_set_aside_and_named_never_deleted(tree, tmp_path,
                                                                                         monkeypatch):
    photo = tree / "b" / "IMG_0002.jpg"
    plan = plan_outputs([photo], tmp_path / "out", roots=[photo], marker=MARKER)
    run_batch(plan, _listing({"evs": [1]}), DEFAULT, marker=MARKER, request={"evs": [1]})
    folder = plan[photo]
    (folder / "notes1.txt").write_text("one")
    (folder / "notes2.txt").write_text("two")
    real_rename = os.rename
    monkeypatch.setattr(Path, "rename", lambda self, target: (
        _raise(OSError(28, "No space left on device")) if self.name == "notes2.txt"
        else Path(real_rename(self, target) or target)))
    report = run_batch(plan, _listing({"evs": [2]}), DEFAULT, marker=MARKER, request={"evs": [2]})
    monkeypatch.undo()
    assert report.counts() == {"done": 1}
    (aside,) = [p for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}.earlier-")]
    assert report.items[0].message.startswith("redone: the earlier output was made with other options; could not "
                                              f"carry notes2.txt over: left in {aside}")
    assert (folder / "notes1.txt").read_text() == "one" and (aside / "notes2.txt").read_text() == "two"
    run_batch(plan, _listing({"evs": [3]}), DEFAULT, marker=MARKER, request={"evs": [3]})
    assert (aside / "notes2.txt").read_text() == "two"  # no cleanup removes it


@pytest.mark.parametrize("set_aside", ["old", "earlier-4242-0a1b2c3d"])
def test_an_earlier_result_a_killed_run_set_aside_goes_back_in_place_with_the_users_files(tree, tmp_path,
                                                                                       set_aside):
    """Killed right after setting the earlier result aside (``.old``: a file output's way; ``.earlier-``: a folder
    redo's), before its own was in place."""
    photo = tree / "b" / "IMG_0002.jpg"
    plan = plan_outputs([photo], tmp_path / "out", roots=[photo], marker=MARKER)
    run_batch(plan, _listing({"evs": [1]}), DEFAULT, marker=MARKER, request={"evs": [1]})
    folder = plan[photo]
    (folder / "notes.txt").write_text("mine")
    folder.rename(folder.parent / f".{folder.name}.{set_aside}")
    report = run_batch(plan, _listing({"evs": [1]}), DEFAULT, marker=MARKER, request={"evs": [1]})
    assert report.counts() == {"done": 1}  # planned as missing, so made again, over the restored folder
    assert (folder / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in folder.parent.iterdir()) == [folder.name]
    (folder / "more.txt").write_text("later")
    run_batch(plan, _listing({"evs": [2]}), DEFAULT, marker=MARKER, request={"evs": [2]})
    assert sorted(p.name for p in folder.parent.iterdir()) == [folder.name]
    assert {p.name for p in folder.iterdir()} == {"image.png", MARKER, "notes.txt", "more.txt"}


def test_long_names_get_output_names_that_leave_room_for_temporaries(tmp_path):
    from cevr_cli.batch import MAX_OUTPUT_NAME_BYTES

    folder = tmp_path / "in"
    folder.mkdir()
    names = ["P" * 240 + ".jpg", "P" * 239 + "é.jpg", "short.jpg"]  # é: two bytes in UTF-8
    for name in names:
        (folder / name).write_bytes(b"x")
    for name_format in ("{name}", "{name}-reinhard.png"):
        plan = plan_outputs(discover_inputs([folder]), tmp_path / "out", roots=[folder], name_format=name_format)
        outputs = [output.name for output in plan.values()]
        assert len(set(outputs)) == 3 and all(len(os.fsencode(o)) <= MAX_OUTPUT_NAME_BYTES for o in outputs)
        assert plan[folder / "short.jpg"].name == name_format.format(name="short")
        again = plan_outputs(discover_inputs([folder]), tmp_path / "out", roots=[folder], name_format=name_format)
        assert again == plan  # the same names every run
    stack = run_batch(plan_outputs(discover_inputs([folder]), tmp_path / "out", roots=[folder]), _listing(), DEFAULT,
                      marker=MARKER)
    assert stack.counts() == {"done": 3}  # partial folders and locks of 200-byte names fit in 255 bytes


def test_a_name_too_long_given_as_input_is_kept_to_fail_by_name(tmp_path):
    long = tmp_path / ("D" * 300 + ".jpg")
    assert discover_inputs([long, tmp_path]) == [long]
    plan = plan_outputs([long], tmp_path / "out", roots=[long])
    assert len(os.fsencode(plan[long].name)) <= 200


def test_a_recursive_walk_leaves_the_stages_output_folders_alone(tmp_path):
    root = tmp_path / "photos"
    for rel in ("IMG_1.jpg", "IMG_1/00_ev+0.00.png", "IMG_1/stack.json", "day/IMG_2.jpg",
                "day/out/IMG_2/IMG_2-reinhard.png", "day/out/IMG_2/fuse.json", "site/x.jpg", "site/stack.json"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(json.dumps({"cevr_version": "0.1.0"}) if rel.endswith(".json") else "x")
    (root / "site/stack.json").write_text('{"name": "my-photo-site"}')  # another program's: not a cevr output
    assert discover_inputs([root], recursive=True) == [root / "IMG_1.jpg", root / "day/IMG_2.jpg", root / "site/x.jpg"]
    # given itself, the folder is one input that fails by name (its frames are no photos); a frame given by name
    # is the user's choice
    assert discover_inputs([root / "IMG_1"]) == [root / "IMG_1"]
    assert discover_inputs([root / "IMG_1/00_ev+0.00.png"]) == [root / "IMG_1/00_ev+0.00.png"]


def test_a_recursive_walk_for_hdr_images_still_finds_fuses_outputs(tmp_path):
    root = tmp_path / "hdr"
    for rel in ("IMG_2/IMG_2.exr", "IMG_2/IMG_2-reinhard.png", "IMG_2/fuse.json"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(json.dumps({"cevr_version": "0.1.0"}) if rel.endswith(".json") else "x")
    assert discover_inputs([root], recursive=True, extensions=(".exr", ".hdr")) == [root / "IMG_2/IMG_2.exr"]
    assert discover_inputs([root], recursive=True) == []


def test_a_photo_replaced_by_an_older_file_is_redone_and_a_moved_one_keeps_its_output(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    photo = photos / "IMG_1.jpg"
    photo.write_bytes(b"first photo")
    out = tmp_path / "out"
    assert run_batch(plan_outputs([photo], out, roots=[photo], marker=MARKER), _listing(), DEFAULT,
                     marker=MARKER).counts() == {"done": 1}
    older = photo.stat().st_mtime - 3600
    photo.write_bytes(b"another photo, copied with its older time kept (cp -p, rsync -t)")
    os.utime(photo, (older, older))
    assert completion(out / "IMG_1", MARKER, None, photo) == "outdated"
    report = run_batch(plan_outputs([photo], out, roots=[photo], marker=MARKER), _listing(), DEFAULT, marker=MARKER)
    assert report.counts() == {"done": 1} and report.items[0].message.startswith("redone: its input changed")
    moved = tmp_path / "renamed" / "IMG_1.jpg"
    moved.parent.mkdir()
    photo.rename(moved)  # the same file: its size and time go with it
    plan = plan_outputs([moved], out, roots=[moved], marker=MARKER)
    assert plan == {moved: out / "IMG_1"}
    assert run_batch(plan, _listing(), DEFAULT, marker=MARKER).counts() == {"skipped": 1}


def test_a_changed_input_keeps_nothing_an_earlier_request_made_from_it(tree, tmp_path):
    photo = tree / "b" / "IMG_0002.jpg"
    plan = plan_outputs([photo], tmp_path / "out", roots=[photo], marker=MARKER)

    def job(tmo):
        def write(source, folder):
            (folder / f"x-{tmo}.png").write_text(source.read_text())
            (folder / MARKER).write_text(json.dumps({"outputs": [f"x-{tmo}.png"], "request": {"tmo": tmo}}))
        return write

    for tmo in ("reinhard", "kimkautz"):  # another request keeps the earlier one's image
        run_batch(plan, job(tmo), DEFAULT, marker=MARKER, request={"tmo": tmo}, keep_earlier=True)
    assert sorted(p.name for p in plan[photo].iterdir()) == [MARKER, "x-kimkautz.png", "x-reinhard.png"]
    photo.write_text("another photo")
    report = run_batch(plan, job("local"), DEFAULT, marker=MARKER, request={"tmo": "local"}, keep_earlier=True)
    assert report.counts() == {"done": 1} and "kept" not in report.items[0].message
    assert sorted(p.name for p in plan[photo].iterdir()) == [MARKER, "x-local.png"]  # made from the old photo: gone


def test_an_output_made_before_made_from_was_recorded_is_told_by_its_source(tree, tmp_path):
    first, second = tree / "b" / "IMG_0001.JPG", tree / "a" / "IMG_0001.JPG"
    out = tmp_path / "out"
    (out / "IMG_0001").mkdir(parents=True)
    (out / "IMG_0001" / "image.png").write_text("old")
    (out / "IMG_0001" / MARKER).write_text(json.dumps({"source": str(first.resolve()), "files": ["image.png"],
                                                      "request": None}))
    assert plan_outputs([first], out, roots=[first], marker=MARKER) == {first: out / "IMG_0001"}
    assert plan_outputs([second], out, roots=[second], marker=MARKER) == {second: out / "IMG_0001_"}


def test_a_folder_where_an_image_belongs_is_refused_then_replaced_with_overwrite(tree, tmp_path):
    photo = tree / "b" / "IMG_0002.jpg"
    plan = plan_outputs([photo], tmp_path / "out", roots=[photo], name_format="{name}-done.png")
    (plan[photo] / "inside").mkdir(parents=True)

    def job(source, output):
        output.write_text("image")

    report = run_batch(plan, job, DEFAULT, marker=None, request={"k": 1})
    assert report.items[0].message == (f"{plan[photo]}: exists and was not made by this command (a folder or special "
                                       "file, where an image belongs); choose another -o, or --overwrite to replace it")
    assert (plan[photo] / "inside").is_dir()
    (plan[photo] / "inside" / "notes.txt").write_text("mine")
    replaced = run_batch(plan, job, BatchPolicy(overwrite=True), marker=None, request={"k": 1})
    assert replaced.counts() == {"done": 1} and plan[photo].read_text() == "image"
    # the folder's files are not deleted (they were): set aside under a name no cleanup removes, and said
    kept = [p for p in plan[photo].parent.iterdir() if p != plan[photo]]
    assert len(kept) == 1 and (kept[0] / "inside" / "notes.txt").read_text() == "mine"
    assert replaced.items[0].message == f"kept the folder that stood at {plan[photo]} as {kept[0]}"
    plan[photo].unlink()
    plan[photo].mkdir()  # an empty folder holds nothing to keep: replaced
    assert run_batch(plan, job, BatchPolicy(overwrite=True), marker=None, request={"k": 1}).items[0].message == ""
    assert sorted(p.name for p in plan[photo].parent.iterdir()) == sorted([plan[photo].name, kept[0].name])


def test_redo_redoes_this_commands_outputs_but_never_replaces_a_foreign_folder(tree, tmp_path):
    photos = [tree / "b" / "IMG_0001.JPG", tree / "b" / "IMG_0002.jpg"]
    plan = plan_outputs(photos, tmp_path / "out", roots=[tree / "b"], marker=MARKER)
    assert run_batch({photos[0]: plan[photos[0]]}, _listing(), DEFAULT, marker=MARKER).counts() == {"done": 1}
    plan[photos[1]].mkdir(parents=True)
    (plan[photos[1]] / "thesis.txt").write_text("mine")
    report = run_batch(plan, _listing(), BatchPolicy(redo=True), marker=MARKER)
    assert [item.status for item in report.items] == ["done", "failed"]
    assert (plan[photos[1]] / "thesis.txt").read_text() == "mine"


def test_a_frame_replaced_in_a_stack_folder_outdates_what_was_made_from_it(tmp_path):
    stack = tmp_path / "IMG"
    stack.mkdir()
    (stack / "00.png").write_text("frame")
    out = tmp_path / "out"
    plan = plan_outputs([stack], out, roots=[stack], marker=MARKER)
    run_batch(plan, _listing(), DEFAULT, marker=MARKER)
    assert completion(plan[stack], MARKER, None, stack) == "complete"
    before = (stack / "00.png").stat().st_mtime_ns
    (stack / "00.png").write_text("other")  # in place: the folder's own time does not change
    os.utime(stack / "00.png", ns=(before + 10**9, before + 10**9))
    assert completion(plan[stack], MARKER, None, stack) == "outdated"


def test_a_recursive_walk_leaves_tonemaps_images_alone_but_not_a_photo_of_such_a_name(tmp_path):
    from cevr_cli.io.images import write_ldr

    root = tmp_path / "work"
    (root / "cevr-tonemapped").mkdir(parents=True)
    image = np.zeros((4, 4, 3), np.float32)
    write_ldr(root / "cevr-tonemapped" / "IMG-reinhard.png", image, request={"tmo": "reinhard"})
    write_ldr(root / "cevr-tonemapped" / "beach-reinhard.png", image)  # named alike, recording nothing: a photo
    write_ldr(root / "IMG.png", image)
    assert discover_inputs([root], recursive=True) == [root / "IMG.png", root / "cevr-tonemapped/beach-reinhard.png"]


def test_what_a_run_killed_after_completing_an_output_left_goes_when_a_rerun_skips_it(tree, tmp_path):
    """SIGKILL between renaming an output into place and letting go of its lock left ``.<name>.lock`` (the kernel
    drops the lock, not the file); one killed while removing the earlier result it replaced left that folder. The
    rerun skips the complete output, and left both there for good; a lock another run holds stays."""
    out = tmp_path / "out"
    photos = [tree / "b" / "IMG_0001.JPG", tree / "b" / "IMG_0002.jpg"]
    plan = plan_outputs(photos, out, roots=photos, marker=MARKER)
    run_batch(plan, _listing({"evs": [1]}), DEFAULT, marker=MARKER, request={"evs": [1]})
    (out / ".IMG_0001.lock").write_bytes(b"")  # the killed run's
    held = OutputLock(out / "IMG_0002")
    assert held.acquire(wait=False)  # a live run's
    report = run_batch(plan, _listing({"evs": [1]}), DEFAULT, marker=MARKER, request={"evs": [1]})
    assert report.counts() == {"skipped": 2}
    assert sorted(p.name for p in out.iterdir()) == [".IMG_0002.lock", "IMG_0001", "IMG_0002"]
    held.release()


def test_a_run_killed_while_removing_the_earlier_result_it_replaced_leaves_nothing_after_a_rerun(tree, tmp_path,
                                                                                               monkeypatch):
    import shutil

    photo = tree / "b" / "IMG_0002.jpg"
    out = tmp_path / "out"
    plan = plan_outputs([photo], out, roots=[photo], marker=MARKER)
    run_batch(plan, _listing({"evs": [1]}), DEFAULT, marker=MARKER, request={"evs": [1]})
    real_rmtree = shutil.rmtree

    def killed(path, *args, **kwargs):  # the first removal is the earlier result's: the run dies there
        monkeypatch.setattr(shutil, "rmtree", real_rmtree)
        raise KeyboardInterrupt

    monkeypatch.setattr(shutil, "rmtree", killed)
    with pytest.raises(KeyboardInterrupt):
        run_batch(plan, _listing({"evs": [2]}), DEFAULT, marker=MARKER, request={"evs": [2]})
    report = run_batch(plan, _listing({"evs": [2]}), DEFAULT, marker=MARKER, request={"evs": [2]})
    assert report.counts() == {"skipped": 1}  # the new result was in place
    assert sorted(p.name for p in out.iterdir()) == ["IMG_0002"]


def test_ctrl_c_that_a_library_turned_into_its_own_error_stops_the_batch(tree, tmp_path):
    """Ctrl-C or SIGTERM landing while an extension module is first imported (OpenEXR's, at the first EXR a fuse
    writes) comes back from pybind11 as ImportError "initialization failed" caused by the KeyboardInterrupt: the
    input failed as "a cevr bug", the batch went on failing every later input (the module stays half registered)
    and the process then died by SIGSEGV instead of stopping with exit 130 or 143."""
    class Terminated(KeyboardInterrupt):
        pass

    photos = [tree / "b" / "IMG_0001.JPG", tree / "b" / "IMG_0002.jpg"]
    plan = plan_outputs(photos, tmp_path / "out", roots=photos, marker=MARKER)
    jobs = []

    def job(source, folder):
        jobs.append(source.name)
        try:
            raise Terminated
        except KeyboardInterrupt as exc:
            raise ImportError("initialization failed") from exc

    with pytest.raises(Terminated):
        run_batch(plan, job, DEFAULT, marker=MARKER)
    assert jobs == ["IMG_0001.JPG"] and not any((tmp_path / "out").iterdir())


def test_a_kept_stack_whose_frame_was_deleted_or_replaced_since_leaves_its_fuse_output_incomplete(tmp_path):
    """fuse.json lists ``stack/stack.json`` only: a frame of the kept stack deleted or replaced by a file of another
    size left the fuse output complete for every rerun, its stack broken for good."""
    folder = tmp_path / "IMG_1"
    (folder / "stack").mkdir(parents=True)
    for name, data in (("IMG_1.exr", b"hdr"), ("stack/00.png", b"frame0"), ("stack/01.png", b"frame1")):
        (folder / name).write_bytes(data)
    stack = {"files": ["00.png", "01.png"], "file_sizes": {"00.png": 6, "01.png": 6}}
    (folder / "stack" / "stack.json").write_text(json.dumps(stack))
    listed = ["IMG_1.exr", "stack/stack.json"]
    sizes = {name: (folder / name).stat().st_size for name in listed}
    (folder / "fuse.json").write_text(json.dumps({"outputs": listed, "file_sizes": sizes}))
    assert completion(folder, "fuse.json") == "complete"
    (folder / "stack" / "01.png").write_bytes(b"edited by hand")
    assert completion(folder, "fuse.json") == "missing"
    (folder / "stack" / "01.png").unlink()
    assert completion(folder, "fuse.json") == "missing"


def test_cleaning_after_a_worker_killed_replacing_a_users_folder_keeps_that_folders_files(tmp_path):
    """tonemap --overwrite sets a folder of a user's files standing at an image's name aside as ``.<name>.old``
    while it writes the image; a worker killed after writing it, before keeping that folder as ``.earlier-``, had
    the driver's cleanup delete the folder with the user's files (``.old`` counted as a stale copy)."""
    from cevr_cli.batch import clean_abandoned

    output = tmp_path / "x-reinhard.png"
    output.write_bytes(b"image")
    (tmp_path / ".x-reinhard.png.old").mkdir()
    (tmp_path / ".x-reinhard.png.old" / "notes.txt").write_text("mine")
    clean_abandoned(output)
    kept = [p for p in tmp_path.iterdir() if p.name != output.name]
    assert len(kept) == 1 and re.fullmatch(r"\.x-reinhard\.png\.earlier-\d+-[0-9a-f]{8}", kept[0].name)
    assert (kept[0] / "notes.txt").read_text() == "mine"


def test_a_stack_folder_whose_manifest_cannot_be_read_is_not_walked_for_photos(tmp_path, monkeypatch):
    """`cevr fuse -r stacks/` with one stack.json unreadable (chmod 000) fused that stack's frames and contact sheet
    as four photos (cmyk__00_ev-1.00 ...): a marker that could not be read was taken for no marker. It is a stage's
    folder still: found as a stack folder (which fails by name when its manifest is read), its images not photos."""
    import builtins
    import errno
    import io

    from cevr_cli.batch import marked_folders_below

    stacks = tmp_path / "stacks"
    for name in ("a", "b"):
        (stacks / name).mkdir(parents=True)
        (stacks / name / "stack.json").write_text(json.dumps({"cevr_version": "0.1.0", "files": ["00_ev+0.00.png"]}))
        (stacks / name / "00_ev+0.00.png").write_bytes(b"\x89PNG")
    locked = stacks / "b" / "stack.json"
    real_open = builtins.open

    def refusing_open(file, *args, **kwargs):
        if not isinstance(file, int) and Path(file) == locked:
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refusing_open)
    monkeypatch.setattr(io, "open", refusing_open)  # pathlib's
    assert marked_folders_below(stacks, "stack.json") == [stacks / "a", stacks / "b"]
    assert discover_inputs([stacks], recursive=True) == []
