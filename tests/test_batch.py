"""Batches: collision-free names, never writing into inputs, resume, failures, Ctrl-C."""

import json

import pytest

from cevr_cli.batch import BatchPolicy, completion, discover_inputs, plan_outputs, run_batch
from cevr_cli.errors import InputError, OutputError


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


def test_same_names_from_different_folders_do_not_collide(tree, tmp_path):
    photos = discover_inputs([tree], recursive=True)
    plan = plan_outputs(photos, tmp_path / "out", roots=[tree])
    folders = list(plan.values())
    assert len(set(folders)) == len(folders)
    assert plan[tree / "b/IMG_0002.jpg"].name == "IMG_0002"
    assert {plan[tree / "a/IMG_0001.JPG"].name, plan[tree / "b/IMG_0001.JPG"].name} == {"a__IMG_0001_jpg",
                                                                                       "b__IMG_0001_jpg"}


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
    (next(iter(plan.values())) / "stack.json").unlink()
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


def test_file_outputs_get_collision_free_names_and_resume(tree, tmp_path):
    photos = discover_inputs([tree], recursive=True)
    plan = plan_outputs(photos, tmp_path / "out", roots=[tree], name_format="{name}-done.txt")
    assert len(set(plan.values())) == len(plan)
    assert plan[tree / "a/IMG_0001.JPG"].name == "a__IMG_0001_jpg-done.txt"

    def job(source, output):
        output.write_text(source.name)

    assert run_batch(plan, job, DEFAULT, marker=None).counts() == {"done": len(plan)}
    assert run_batch(plan, job, DEFAULT, marker=None).counts() == {"skipped": len(plan)}
