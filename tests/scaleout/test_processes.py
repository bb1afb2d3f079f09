"""`--workers`: a batch dealt to local worker processes keeps every rule of a serial batch."""

import json
import os
import re

import pytest

from cevr_cli.batch import BatchPolicy, Scale, plan_outputs, run_batch
from cevr_cli.errors import UsageError, WorkerError
from cevr_cli.scaleout import local_workers
from cevr_cli.scaleout.processes import redeliver_interrupts, worker_environment
from tests.scaleout_jobs import MARKER, BrokenJob, CopyJob, DecodeJob, WarningJob, write_inputs

pytestmark = pytest.mark.slow  # spawns Python processes


def test_two_workers_share_the_batch_and_write_what_a_serial_run_writes(tmp_path):
    sources = write_inputs(tmp_path, [f"p{i}.txt" for i in range(6)])
    plan = plan_outputs(sources, tmp_path / "out", roots=sources)
    events = []
    report = run_batch(plan, CopyJob(delay=0.3), BatchPolicy(), marker=MARKER,
                       on_event=lambda kind, payload: events.append((kind, payload)), scale=Scale(2))
    assert report.counts() == {"done": 6} and [item.source for item in report.items] == sources
    makers = {json.loads((plan[s] / MARKER).read_text())["pid"] for s in sources}
    assert len(makers) == 2 and os.getpid() not in makers  # dealt to both workers, none ran here
    assert all((plan[s] / "data.txt").read_text() == s.read_text() for s in sources)
    warnings = [payload for kind, payload in events if kind == "warning"]
    assert sorted(w.split(":")[0] for w in warnings) == sorted(s.name for s in sources)  # events reach the driver
    assert [kind for kind, _ in events].count("start") == 6
    rerun = run_batch(plan, CopyJob(), BatchPolicy(), marker=MARKER, scale=Scale(2))
    assert rerun.counts() == {"skipped": 6}  # the same completion rules


def test_more_cpu_workers_than_cores_are_warned_about(tmp_path, monkeypatch):
    """--workers 64 on 2 cores ran 7.5x slower than one worker: said once, before the batch."""
    import cevr_cli.machine

    monkeypatch.setattr(cevr_cli.machine.os, "cpu_count", lambda: 1)
    monkeypatch.setattr(cevr_cli.machine.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    sources = write_inputs(tmp_path, [f"p{i}.txt" for i in range(3)])
    events = []
    report = run_batch(plan_outputs(sources, tmp_path / "out", roots=sources), CopyJob(), BatchPolicy(),
                       marker=MARKER, on_event=lambda kind, payload: events.append((kind, payload)), scale=Scale(2))
    assert report.counts() == {"done": 3}
    assert [p for k, p in events if k == "warning" and p.startswith("--workers")] == [
        "--workers 2 on 1 CPU cores this process may use: the workers share them, so the batch runs slower than "
        "with fewer (on the CPU, one process already uses every core: --workers 1)"]


def test_a_ctrl_c_while_a_worker_starts_stops_the_batch(tmp_path, monkeypatch):
    """The driver ignored SIGINT while it started a worker (1-30 ms each, so that the worker is born ignoring it): a
    Ctrl-C then was lost, and the batch ran to its end, exit 0 or 1. It is held back instead, and stops the batch as
    soon as the worker has started."""
    import multiprocessing.context
    import signal

    start = multiprocessing.context.SpawnProcess.start

    def ctrl_c_then_start(self):
        os.kill(os.getpid(), signal.SIGINT)
        start(self)

    monkeypatch.setattr(multiprocessing.context.SpawnProcess, "start", ctrl_c_then_start)
    sources = write_inputs(tmp_path, [f"p{i}.txt" for i in range(4)])
    plan = plan_outputs(sources, tmp_path / "out", roots=sources)
    with pytest.raises(KeyboardInterrupt):
        run_batch(plan, CopyJob(delay=0.3), BatchPolicy(), marker=MARKER, scale=Scale(2))
    assert not any((plan[s] / "data.txt").exists() for s in sources)


def test_a_worker_that_dies_fails_its_input_alone_and_is_replaced(tmp_path):
    sources = write_inputs(tmp_path, ["a.txt", "crash.txt", "b.txt", "c.txt", "d.txt"])
    out = tmp_path / "out"
    plan = plan_outputs(sources, out, roots=sources)
    report = run_batch(plan, CopyJob(), BatchPolicy(), marker=MARKER, scale=Scale(2))
    statuses = {item.source.name: (item.status, item.message) for item in report.items}
    status, message = statuses.pop("crash.txt")
    assert status == "failed"
    assert re.fullmatch(rf"{re.escape(str(sources[1]))}: worker process [01] was stopped by signal SIGKILL while "
                        "making it", message)
    assert {status for status, _ in statuses.values()} == {"done"} and report.exit_code == 1
    assert sorted(p.name for p in out.iterdir()) == ["a", "b", "c", "d"]  # its partial folder and lock cleaned


def test_a_worker_ended_by_a_signal_without_a_name_fails_its_input_alone(tmp_path):
    """signal.Signals(40) raised ValueError in the driver: a traceback ended the whole batch."""
    import signal

    sources = write_inputs(tmp_path, ["a.txt", "rtcrash.txt", "b.txt"])
    report = run_batch(plan_outputs(sources, tmp_path / "out", roots=sources), CopyJob(), BatchPolicy(),
                       marker=MARKER, scale=Scale(2))
    assert [item.status for item in report.items] == ["done", "failed", "done"]
    assert re.fullmatch(rf"{re.escape(str(sources[1]))}: worker process [01] was stopped by signal "
                        rf"{int(signal.SIGRTMIN) + 6} while making it", report.items[1].message)


def test_a_worker_sigtermed_by_someone_else_fails_its_input_naming_the_signal(tmp_path):
    """`kill <worker pid>` during a batch: the worker's SIGTERM handler cleaned up and the worker returned, exit
    code 0, so its photo failed as "its worker process died (exit code 0)", naming no signal."""
    sources = write_inputs(tmp_path, ["a.txt", "term.txt", "b.txt", "c.txt"])
    out = tmp_path / "out"
    report = run_batch(plan_outputs(sources, out, roots=sources), CopyJob(), BatchPolicy(), marker=MARKER,
                       scale=Scale(2))
    assert [item.status for item in report.items] == ["done", "failed", "done", "done"] and report.exit_code == 1
    assert re.fullmatch(rf"{re.escape(str(sources[1]))}: worker process [01] was stopped by signal SIGTERM while "
                        "making it", report.items[1].message)
    assert sorted(p.name for p in out.iterdir()) == ["a", "b", "c"]  # its partial folder and lock cleaned


def test_a_worker_killed_while_idle_loses_no_input_and_is_replaced(tmp_path):
    """Between the batch's rounds (inputs another run was writing go again) a worker is idle; one killed then (the
    OOM killer, a kill) made the driver's next send raise BrokenPipeError, which ended the whole batch."""
    import signal
    import time

    from cevr_cli.batch import Task
    from cevr_cli.scaleout.processes import ProcessPool

    sources = write_inputs(tmp_path, ["a.txt", "b.txt", "c.txt", "d.txt"])
    plan = plan_outputs(sources, tmp_path / "out", roots=sources)
    tasks = [Task(source, plan[source], MARKER, None, redo_complete=False, wait=False) for source in sources]
    pool = ProcessPool(CopyJob(), 2, len(tasks), lambda kind, payload: None)
    try:
        assert [result.status for _, result in pool.run(tasks[:2])] == ["done", "done"]
        idle = pool._workers[0].process
        os.kill(idle.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while idle.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        later = sorted((task.source.name, result.status) for task, result in pool.run(tasks[2:]))
    finally:
        pool.close()
    assert later == [("c.txt", "done"), ("d.txt", "done")]
    assert all((plan[source] / "data.txt").read_text() == source.read_text() for source in sources)


def test_a_worker_that_cannot_open_its_job_stops_the_batch_with_one_line(tmp_path):
    sources = write_inputs(tmp_path, ["a.txt", "b.txt"])
    out = tmp_path / "out"
    with pytest.raises(WorkerError, match=r"^worker process \d stopped: RuntimeError: CUDA out of memory"):
        run_batch(plan_outputs(sources, out, roots=sources), BrokenJob(), BatchPolicy(), marker=MARKER,
                  scale=Scale(2))
    assert not out.exists() or not any(out.iterdir())


def test_a_workers_library_warnings_reach_the_driver_as_warning_events(tmp_path):
    sources = write_inputs(tmp_path, ["a.txt"])
    warnings = []
    report = run_batch(plan_outputs(sources, tmp_path / "out", roots=sources), WarningJob(), BatchPolicy(),
                       marker=MARKER, scale=Scale(2),
                       on_event=lambda kind, payload: warnings.append(payload) if kind == "warning" else None)
    assert report.counts() == {"done": 1}
    assert warnings == ["odd chunk in a.txt", "tifffile: a.txt: odd tag"]


def test_a_decoders_warning_in_a_worker_names_the_photo_as_in_a_serial_run(tmp_path):
    """Pillow's "Corrupt EXIF data" from a worker: the serial run's line (the photo named, one space between words),
    where the worker sent the bare message."""
    from tests.raw_containers import jpeg_with_exif

    photo = tmp_path / "exif.jpg"
    photo.write_bytes(jpeg_with_exif(b"MM\x00*\x00\x00\x00\x08\x00\x05\x01\x0f\x00\x02\x00\x00"))  # cut off
    warnings = []
    report = run_batch(plan_outputs([photo], tmp_path / "out", roots=[photo]), DecodeJob(), BatchPolicy(),
                       marker=MARKER, scale=Scale(2),
                       on_event=lambda kind, payload: warnings.append(payload) if kind == "warning" else None)
    assert report.counts() == {"done": 1}
    assert warnings == [f"{photo}: Corrupt EXIF data. Expecting to read 12 bytes but only got 6."]


def test_workers_need_a_picklable_job_factory(tmp_path):
    sources = write_inputs(tmp_path, ["a.txt"])
    plan = plan_outputs(sources, tmp_path / "out", roots=sources)
    with pytest.raises(UsageError, match="JobFactory"):
        run_batch(plan, lambda source, folder: None, BatchPolicy(), marker=MARKER, scale=Scale(2))


@pytest.mark.parametrize("workers", [0, -1, "two", "", True, 1.5])
def test_a_bad_worker_count_is_a_usage_error(workers):
    with pytest.raises(UsageError, match="--workers"):
        Scale(workers)


@pytest.mark.parametrize("address", ["", "nonsense", "host:", ":6379", "ray://host:port", "host:99999", "host:0"])
def test_a_bad_ray_address_is_a_usage_error(address):
    with pytest.raises(UsageError, match="--ray"):
        Scale(ray=address)


@pytest.mark.parametrize("address", ["auto", "local", "10.0.0.5:6379"])
def test_ray_not_installed_is_one_usage_error_before_anything_is_planned(monkeypatch, address):
    """Without Ray, --ray is refused when the request is read: it was a ModuleNotFoundError traceback (exit 1)
    once the batch was planned and its output folder made."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(UsageError, match=r"^--ray needs Ray: pip install 'cevr\[ray\]'$"):
        Scale(ray=address)


def test_worker_counts_and_environment(monkeypatch):
    assert Scale("3").workers == 3 and Scale("auto").workers == "auto" and Scale().runs_here("cpu")
    assert not Scale(2).runs_here("cpu") and not Scale(ray="local").runs_here("cpu")
    assert Scale("auto").runs_here("cpu")  # one process already uses every core
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")
    assert local_workers("auto", "cuda") == 2  # one per GPU the user left visible
    assert local_workers("auto", "cpu") == 1 and local_workers(3, "cpu") == 3
    env = worker_environment(1, 2, "cuda", ["4", "6"])
    assert env["CUDA_VISIBLE_DEVICES"] == "6"  # worker 1 on the second of them
    assert env["OMP_NUM_THREADS"] == str(max(1, (os.cpu_count() or 1) // 2))  # the cores split
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5}, raising=False)
    three = worker_environment(0, 2, "cpu", [])  # taskset -c 0-5 on a 64-core machine: 6 cores to split
    assert three["OMP_NUM_THREADS"] == three["CEVR_WORKER_THREADS"] == "3"
    assert "CUDA_VISIBLE_DEVICES" not in worker_environment(0, 2, "cpu", [])


STOP_INSIDE_A_CALLBACK = """
import signal, sys, time, weakref
from cevr_cli.scaleout.processes import _interrupt, redeliver_interrupts
signal.signal(signal.SIGTERM, _interrupt)
sys.unraisablehook = redeliver_interrupts
class Module: pass
def callback(ref):  # as the import system's module-lock callback when the driver's stop lands in it
    raise KeyboardInterrupt
try:
    held = Module()
    ref = weakref.ref(held, callback)
    del held
    time.sleep(5)
    print("not stopped")
except KeyboardInterrupt:
    print("stopped")
"""


def test_a_stop_that_lands_in_a_callback_is_redelivered_not_printed():
    """The driver's stop raised inside a weakref callback (where Python prints "Exception ignored" and a traceback,
    and drops it) stops the worker in its own code instead, with nothing on stderr."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", STOP_INSIDE_A_CALLBACK], capture_output=True, text=True, timeout=60,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert done.stdout.strip() == "stopped", (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr


def test_other_unraisable_errors_go_to_pythons_own_hook(monkeypatch):
    import sys
    from types import SimpleNamespace

    seen = []
    monkeypatch.setattr(sys, "__unraisablehook__", seen.append)
    error = SimpleNamespace(exc_type=ValueError, exc_value=ValueError("x"), exc_traceback=None, err_msg=None,
                            object=None)
    redeliver_interrupts(error)
    assert seen == [error]


FIRST_WORKER_START = """
import multiprocessing
from cevr_cli.scaleout.processes import _sigint_ignored
from tests.scaleout_jobs import print_blocked_signals
if __name__ == "__main__":
    process = multiprocessing.get_context("spawn").Process(target=print_blocked_signals)
    with _sigint_ignored():
        process.start()
    process.join()
"""


@pytest.mark.skipif(not hasattr(__import__("signal"), "pthread_sigmask"), reason="signals cannot be blocked here")
def test_the_first_worker_of_a_process_is_born_holding_ctrl_c_back():
    """A fresh process's first spawn launches multiprocessing's resource tracker, after which CPython unblocks SIGINT
    (bpo-33613): the first worker was born taking Ctrl-C, and one that came while it imported its modules printed a
    KeyboardInterrupt traceback (1 run in 12 of the Ctrl-C test on a loaded machine)."""
    import signal
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", FIRST_WORKER_START], capture_output=True, text=True, timeout=60,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert done.returncode == 0, done.stderr
    assert int(signal.SIGINT) in json.loads(done.stdout), done.stdout
