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


def test_permissions_follow_a_strict_umask_too(tmp_path):
    previous = os.umask(0o077)
    try:
        atomic_write_text(tmp_path / "private.json", "{}")
    finally:
        os.umask(previous)
    assert _mode(tmp_path / "private.json") == 0o600


def test_the_bytes_reach_the_disk_before_the_rename(tmp_path, monkeypatch):
    """A rename the disk gets before the data leaves an empty file under the final name after a power cut: fsync
    must see the temporary whole while the final name does not exist yet."""
    real_fsync, seen = os.fsync, []

    def watching_fsync(fd):
        seen.append((os.fstat(fd).st_size, (tmp_path / "a.bin").exists()))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", watching_fsync)
    from cevr_cli.io.atomic import atomic_write_bytes

    atomic_write_bytes(tmp_path / "a.bin", b"12345")
    assert seen == [(5, False)]


def test_ctrl_c_while_writing_leaves_no_temporary(tmp_path):
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "a.txt") as tmp:
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_the_temporary_keeps_the_destinations_suffix(tmp_path):
    """Writers that pick a format by extension (OpenCV, imageio) are given the temporary's name."""
    with atomic_path(tmp_path / "frame.png") as tmp:
        assert tmp.suffix == ".png" and tmp.name.startswith(".frame.") and tmp.parent == tmp_path
        tmp.write_bytes(b"x")


def test_only_abandoned_temporary_files_are_removed(tmp_path):
    """mkstemp's random part may hold '_'; a folder or a symbolic link of the pattern is not a temporary this module
    left (a link's target lies elsewhere), so both stay; a missing folder has nothing to remove."""
    target = tmp_path / "out.json"
    (tmp_path / ".out.ab_d1234.part.json").write_bytes(b"half")
    (tmp_path / ".out.folder12.part.json").mkdir()
    elsewhere = tmp_path / "keep.txt"
    elsewhere.write_text("kept")
    (tmp_path / ".out.linkto12.part.json").symlink_to(elsewhere)
    remove_abandoned_temporaries(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.folder12.part.json", ".out.linkto12.part.json",
                                                          "keep.txt"]
    remove_abandoned_temporaries(tmp_path / "missing" / "out.json")


def test_a_write_failure_says_what_and_why_in_one_line(tmp_path, monkeypatch):
    """The system's reason without the temporary's name (an errno prefix and '.a.x1y2z3q4.part.json' said nothing);
    a file where a folder must be is named; text is written as UTF-8."""
    import errno

    from cevr_cli.io.atomic import atomic_write_bytes

    atomic_write_text(tmp_path / "é.txt", "café")
    assert (tmp_path / "é.txt").read_bytes() == "café".encode()
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError) as caught:
        atomic_write_bytes(tmp_path / "file" / "a.json", b"{}", "the manifest")
    blocked = tmp_path / "file"
    assert str(caught.value) == f"{blocked / 'a.json'}: cannot write the manifest ({blocked} is a file, not a folder)"
    with pytest.raises(OutputError, match=r"a\.json: cannot write it \(Is a directory\)$"):
        (tmp_path / "a.json").mkdir()
        atomic_write_bytes(tmp_path / "a.json", b"{}")

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device", str(args[0]))

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OutputError) as caught:
        atomic_write_text(tmp_path / "b.json", "{}", "the summary")
    assert str(caught.value) == f"{tmp_path / 'b.json'}: cannot write the summary (No space left on device)"


def test_the_check_refuses_a_folder_for_a_file_and_a_file_for_a_folder(tmp_path):
    (tmp_path / "dir").mkdir()
    with pytest.raises(OutputError, match=r"dir: is a folder; give a file name$"):
        check_writable(tmp_path / "dir")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match=rf"cannot write there \({tmp_path / 'file'} is a file, not a folder\)$"):
        check_writable(tmp_path / "file", folder=True)


def test_the_check_gives_up_after_its_attempts_with_the_systems_reason(tmp_path, monkeypatch):
    """A folder removed under every probe fails after the retries (it passed silently); the reason is the system's
    words, without an errno prefix or the probe's name."""
    import tempfile

    def gone(*args, **kwargs):
        raise FileNotFoundError(2, "No such file or directory", str(kwargs["dir"]) + "/.cevr-probe.x")

    monkeypatch.setattr(tempfile, "mkstemp", gone)
    with pytest.raises(OutputError) as caught:
        check_writable(tmp_path / "out", folder=True)
    assert str(caught.value) == f"{tmp_path / 'out'}: cannot write there (No such file or directory)"


def test_a_long_name_is_cut_by_characters_to_the_byte_limit_with_its_hash():
    """200 'é' are 400 bytes: cut to 123 of them (246 bytes) so that '~' and 8 hex digits of the name's SHA-1 fit
    255; a name of exactly 255 bytes stays as it is."""
    import hashlib

    from cevr_cli.io.atomic import shortened_name

    name = "é" * 200
    expected = "é" * 123 + "~" + hashlib.sha1(name.encode()).hexdigest()[:8]
    assert shortened_name(name, 255) == expected and len(expected.encode()) == 255
    assert shortened_name("a" * 255, 255) == "a" * 255
    assert shortened_name("a" * 256, 255) == "a" * 246 + "~" + hashlib.sha1(b"a" * 256).hexdigest()[:8]
