"""Atomic writes: the final name appears only on success, with the permissions a plain write would give."""

import os
import stat
import threading

import pytest

from cevr_cli.errors import OutputError
from cevr_cli.io.atomic import atomic_path, atomic_write_text, check_writable, remove_abandoned_temporaries


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_success_renames_into_place_and_leaves_no_temporary(tmp_path):
    atomic_write_text(tmp_path / "a.json", "{}")
    assert (tmp_path / "a.json").read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    (tmp_path / "a.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "a.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert (tmp_path / "a.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_the_temporaries_a_killed_write_left_are_removed_and_nothing_else(tmp_path):
    target = tmp_path / "dec-last.pt"
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"saved")
    left = tmp_path / tmp.name  # the name this write used: what a SIGKILL in its block leaves
    left.write_bytes(b"half a checkpoint")
    others = [".dec-last.abc1234.part.pt", ".dec-last.abcd1234.part.pt.bak", ".dec-best.abcd1234.part.pt",
              ".summary.abcd1234.part.json", "dec-last.abcd1234.part.pt"]  # not of the pattern, or another target's
    for name in others:
        (tmp_path / name).write_bytes(b"not this write's")
    remove_abandoned_temporaries(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*others, "dec-last.pt"])
    assert target.read_bytes() == b"saved"


def test_permissions_follow_the_umask_even_when_the_writer_replaces_the_file(tmp_path, umask_022):
    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"x")
    with atomic_path(tmp_path / "replaced.bin") as tmp:
        # Like safetensors: write elsewhere with mkstemp's 0600 mode, then rename over the given path.
        other = tmp_path / "other.bin"
        other.write_bytes(b"x")
        os.chmod(other, 0o600)
        os.replace(other, tmp)
    assert _mode(tmp_path / "replaced.bin") == _mode(plain) == 0o644


def test_reading_the_umask_never_lets_another_threads_new_folder_through_with_mode_0777(tmp_path, umask_022):
    """Reading it by setting it (umask(0), then back) gave 65 of 217 folders made meanwhile mode 0777."""
    import cevr_cli.io.atomic as atomic

    stop = threading.Event()

    def read():
        while not stop.is_set():
            assert atomic._process_umask() == 0o022

    readers = [threading.Thread(target=read) for _ in range(2)]
    for thread in readers:
        thread.start()
    try:
        for k in range(300):
            (tmp_path / f"d{k}").mkdir()
    finally:
        stop.set()
        for thread in readers:
            thread.join()
    assert {_mode(tmp_path / f"d{k}") for k in range(300)} == {0o755}


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="the umask at import stands without /proc")
def test_the_umask_read_is_the_current_one(umask_022):
    import cevr_cli.io.atomic as atomic

    os.umask(0o027)
    assert atomic._process_umask() == 0o027


def test_a_symbolic_link_is_written_through_and_stays_a_link(tmp_path):
    (tmp_path / "results").mkdir()
    target = tmp_path / "results" / "table.csv"
    target.write_text("old")
    link = tmp_path / "table.csv"
    link.symlink_to(os.path.relpath(target, tmp_path))
    check_writable(link)
    atomic_write_text(link, "new")
    assert link.is_symlink() and target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results", "table.csv"]
    dangling = tmp_path / "later.json"
    dangling.symlink_to(tmp_path / "results" / "later.json")
    atomic_write_text(dangling, "{}")
    assert dangling.is_symlink() and (tmp_path / "results" / "later.json").read_text() == "{}"


@pytest.mark.parametrize("kind", ["fifo", "link to a device"])
def test_devices_and_fifos_are_refused_not_replaced(tmp_path, kind):
    # Never /dev itself: were the refusal broken, a test run as root would replace a system file.
    if kind == "fifo":
        path = tmp_path / "pipe"
        os.mkfifo(path)
    else:
        path = tmp_path / "stdout"
        path.symlink_to("/dev/null")
    with pytest.raises(OutputError, match="not a regular file") as info:
        check_writable(path)
    assert "\n" not in str(info.value)
    with pytest.raises(OutputError, match="not a regular file"):
        atomic_write_text(path, "data")
    assert not stat.S_ISREG(os.stat(path).st_mode) and path.is_symlink() == (kind == "link to a device")


@pytest.mark.parametrize("folder", [True, False])
def test_a_file_where_a_folder_should_be_is_named(tmp_path, folder):
    (tmp_path / "afile").write_text("not a folder")
    destination = tmp_path / "afile" / "deeper" / ("out" if folder else "x.json")
    with pytest.raises(OutputError) as caught:
        check_writable(destination, folder=folder)
    assert str(caught.value) == f"{destination}: cannot write there ({tmp_path / 'afile'} is a file, not a folder)"


@pytest.mark.parametrize("folder", [True, False])
def test_the_check_leaves_no_folder_it_made(tmp_path, folder):
    (tmp_path / "kept").mkdir()
    destination = tmp_path / "kept" / "new" / "deeper" / ("out" if folder else "x.json")
    check_writable(destination, folder=folder)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["kept"]
    atomic_write_text(tmp_path / "kept" / "new" / "deeper" / "y.json", "{}")  # a write makes them again
    assert (tmp_path / "kept" / "new" / "deeper" / "y.json").read_text() == "{}"


def test_the_check_keeps_a_folder_that_was_there(tmp_path):
    check_writable(tmp_path / "there", folder=True)
    (tmp_path / "there").mkdir()
    check_writable(tmp_path / "there", folder=True)
    assert (tmp_path / "there").is_dir()


def test_a_folder_another_run_removed_meanwhile_is_made_again(tmp_path, monkeypatch):
    """Two runs starting at once into one new -o: one removed the empty folder it had made while the other probed."""
    import tempfile

    real, calls = tempfile.mkstemp, []

    def removed_once(*args, **kwargs):
        calls.append(kwargs["dir"])
        if len(calls) == 1:
            os.rmdir(kwargs["dir"])  # the other run's clean-up, between this one's mkdir and its probe
            raise FileNotFoundError(2, "No such file or directory")
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", removed_once)
    check_writable(tmp_path / "out", folder=True)
    assert len(calls) == 2 and not (tmp_path / "out").exists()
