"""`--ray`: a batch on a Ray cluster's actors (a 2-CPU local cluster here) keeps every rule of a serial batch."""

import json
import os
import signal
import sys

import pytest

from cevr_cli.batch import BatchPolicy, Scale, plan_outputs, run_batch
from cevr_cli.errors import UsageError
from cevr_cli.scaleout.raycluster import actor_shape
from tests import scaleout_jobs
from tests.scaleout_jobs import MARKER, CopyJob, write_inputs

pytestmark = pytest.mark.slow  # starts a Ray cluster


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'cevr[ray]' (CI installs it)")
    ray.cloudpickle.register_pickle_by_value(scaleout_jobs)  # actors need not import the tests package
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=128 * 1024**2)
    yield ray
    ray.shutdown()


def test_actors_share_the_batch_and_a_rerun_skips_it(ray_cluster, tmp_path):
    sources = write_inputs(tmp_path, [f"p{i}.txt" for i in range(6)])
    plan = plan_outputs(sources, tmp_path / "out", roots=sources)
    events = []
    report = run_batch(plan, CopyJob(delay=0.3), BatchPolicy(), marker=MARKER,
                       on_event=lambda kind, payload: events.append((kind, payload)), scale=Scale(2, ray="auto"))
    assert report.counts() == {"done": 6} and [item.source for item in report.items] == sources
    makers = {json.loads((plan[s] / MARKER).read_text())["pid"] for s in sources}
    assert len(makers) == 2 and os.getpid() not in makers
    assert all((plan[s] / "data.txt").read_text() == s.read_text() for s in sources)
    assert sorted(p.split(":")[0] for kind, p in events if kind == "warning") == sorted(s.name for s in sources)
    assert run_batch(plan, CopyJob(), BatchPolicy(), marker=MARKER, scale=Scale(2, ray="auto")).counts() == {
        "skipped": 6}


def test_an_actor_that_dies_fails_its_input_alone(ray_cluster, tmp_path):
    sources = write_inputs(tmp_path, ["a.txt", "crash.txt", "b.txt", "c.txt"])
    out = tmp_path / "out"
    plan = plan_outputs(sources, out, roots=sources)
    report = run_batch(plan, CopyJob(), BatchPolicy(), marker=MARKER, scale=Scale(2, ray="auto"))
    statuses = {item.source.name: item for item in report.items}
    crashed = statuses.pop("crash.txt")
    assert crashed.status == "failed" and crashed.message.startswith(f"{sources[1]}: its Ray actor died")
    reason = crashed.message.removeprefix(f"{sources[1]}: ")
    assert "\n" not in reason and len(reason) <= 160, reason  # was Ray's 700-character paragraph
    assert "Worker exit detail" in crashed.detail and crashed.to_json()["detail"] == crashed.detail
    assert {item.status for item in statuses.values()} == {"done"} and report.exit_code == 1
    assert sorted(p.name for p in out.iterdir()) == ["a", "b", "c"]


def test_an_actor_killed_while_idle_loses_no_input_and_is_replaced(ray_cluster, tmp_path):
    """Between the batch's rounds an actor is idle; one killed then (the OOM killer, a kill) failed the next input
    sent to it ("its Ray actor died while making it"), which it had never begun."""
    import time

    from cevr_cli.batch import Task
    from cevr_cli.scaleout.raycluster import RayActors

    sources = write_inputs(tmp_path, ["a.txt", "b.txt", "c.txt", "d.txt", "e.txt"])
    plan = plan_outputs(sources, tmp_path / "out", roots=sources)
    tasks = [Task(source, plan[source], MARKER, None, redo_complete=False, wait=False) for source in sources]
    actors = RayActors(CopyJob(), "auto", 2, len(tasks), lambda kind, payload: None)
    try:
        assert [result.status for _, result in actors.run(tasks[:2])] == ["done", "done"]
        os.kill(json.loads((plan[sources[0]] / MARKER).read_text())["pid"], signal.SIGKILL)
        time.sleep(1)  # Ray sees the process gone
        later = sorted((task.source.name, result.status, result.message) for task, result in actors.run(tasks[2:]))
    finally:
        actors.close()
    assert later == [("c.txt", "done", ""), ("d.txt", "done", ""), ("e.txt", "done", "")]
    assert all((plan[source] / "data.txt").read_text() == source.read_text() for source in sources)


@pytest.mark.parametrize(("signum", "like_ray"), [
    (signal.SIGINT, False), (signal.SIGTERM, False), (signal.SIGTERM, "set_sigterm_handler"), (signal.SIGTERM, True)],
    ids=["ctrl-c", "sigterm", "ray-sigterm", "other-ray-sigterm"])
def test_a_stop_while_ray_starts_is_acted_on_once_it_has_started_and_ray_is_stopped(monkeypatch, signum, like_ray):
    """Ctrl-C midway through ray.init left Ray's agents running for a minute and at times a SIGSEGV for exit code;
    SIGTERM met the handler ray.init puts in first (sys.exit(15)): exit code 15, no line, Ray not stopped. Then
    that handler ended ray.init midway (its node not yet known to ray.shutdown): its dashboard and runtime-env
    agents ran on for a minute after cevr's exit 143. Ray 2.60 puts it in through set_sigterm_handler, left out
    while it starts; a Ray that puts it in otherwise ("other-ray-sigterm") is still ended midway, and stopped."""
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'cevr[ray]' (CI installs it)")
    from cevr_cli.scaleout.raycluster import connect

    class Terminated(KeyboardInterrupt):
        pass

    def on_sigterm(signum, frame):
        raise Terminated

    calls = []

    def init(**options):
        calls.append("init")
        if like_ray == "set_sigterm_handler":  # as Ray 2.60's ray.init does first
            ray._private.utils.set_sigterm_handler(lambda signum, frame: sys.exit(signum))
        elif like_ray:
            signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(signum))
        os.kill(os.getpid(), signum)  # the user's Ctrl-C, a scheduler's SIGTERM: Python acts on it at once
        calls.append("started")

    handler_setter = ray._private.utils.set_sigterm_handler
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "shutdown", lambda: calls.append("shutdown"))
    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        with pytest.raises(Terminated if signum == signal.SIGTERM else KeyboardInterrupt):
            connect("local")
        assert signal.getsignal(signal.SIGTERM) is on_sigterm
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert calls == (["init", "shutdown"] if like_ray is True else ["init", "started", "shutdown"])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert ray._private.utils.set_sigterm_handler is handler_setter  # put back for Ray


RAY_SIGKILL = ("The actor died unexpectedly before finishing this task.\n\tclass_name: BatchActor\n\tactor_id: 3f\n"
               "\tpid: 9637\nThe actor is dead because its worker process has died. Worker exit type: SYSTEM_ERROR "
               "Worker exit detail: Worker unexpectedly exits with a connection error code 2. End of file. Some common "
               "causes include: (1) the process was killed by the OOM killer due to high memory usage, (2) ray stop "
               "--force was called, or (3) the worker crashed unexpectedly due to SIGSEGV or another unexpected "
               "error. If the process was killed by the kernel OOM killer (verifiable by checking for OOM in dmesg of "
               "the OOMing node), consider enabling resource isolation via --enable-resource-isolation to prevent node "
               "deaths by resource contention and significant loss of progress by uninformed kernel OOM killing.")
RAY_SIGTERM = ("The actor died unexpectedly before finishing this task.\n\tpid: 9836\nThe actor is dead because its "
               "worker process has died. Worker exit type: SYSTEM_ERROR Worker exit detail: Worker exits "
               "unexpectedly. Worker exits with an exit code 1. The process receives a SIGTERM.")


@pytest.mark.parametrize(("text", "reason"), [
    (RAY_SIGKILL, "worker unexpectedly exits with a connection error code 2"),  # not its advice's SIGSEGV
    (RAY_SIGTERM, "the process receives a SIGTERM"),
    ("an actor's death told otherwise " * 10, ("an actor's death told otherwise " * 4)[:117].rstrip() + "..."),
], ids=["sigkill", "sigterm", "unknown"])
def test_an_actors_death_is_said_in_a_few_words_and_kept_whole_for_json(text, reason):
    """Ray 2.60's words for an actor killed by SIGKILL and by SIGTERM: the failure line quoted them whole (754
    characters, Ray's advice on the OOM killer included)."""
    from cevr_cli.scaleout.raycluster import _death, _full

    error = RuntimeError(text)
    assert _death(error) == reason and len(_death(error)) <= 120
    assert "\n" not in _full(error) and _full(error).endswith(text.splitlines()[-1].strip())


def test_the_raylets_notices_are_not_printed_while_cevrs_ray_session_lasts(capsys):
    """An actor's death: Ray's driver printed "(raylet) A worker died or was killed ..." (900 characters) on stdout,
    before --json's summary, which was then no JSON."""
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'cevr[ray]' (CI installs it)")
    from cevr_cli.scaleout.raycluster import _raylet_notices_dropped

    printing = ray._private.worker.print_to_stdstream
    restore = _raylet_notices_dropped()
    try:
        ray._private.worker.print_to_stdstream({"lines": ["A worker died or was killed 5c1d"], "pid": "raylet",
                                                "is_err": False}, ignore_prefix=False)
        ray._private.worker.print_to_stdstream({"lines": ["an actor's own print 7f3e"], "pid": 4242, "ip": "1.2.3.4",
                                                "is_err": False, "actor_name": "", "task_name": ""},
                                               ignore_prefix=False)
    finally:
        restore()
    out = capsys.readouterr().out  # may hold what an earlier test's Ray session printed late: tokens tell ours
    assert "5c1d" not in out and "an actor's own print 7f3e" in out
    assert ray._private.worker.print_to_stdstream is printing


def test_actor_shapes():
    assert actor_shape("auto", "cuda", {"CPU": 32.0, "GPU": 4.0}) == (4, 4.0, 1.0)  # one GPU each
    assert actor_shape("auto", "cpu", {"CPU": 16.0}) == (8, 2.0, 0.0)
    assert actor_shape(3, "cpu", {"CPU": 12.0}) == (3, 4.0, 0.0)  # a given count shares the CPUs
    assert actor_shape("auto", "cpu", {"CPU": 1.0}) == (1, 1.0, 0.0)
    with pytest.raises(UsageError, match="no GPUs"):
        actor_shape("auto", "cuda", {"CPU": 8.0})


@pytest.mark.parametrize("refused", [True, False])
def test_a_cluster_that_refuses_the_token_less_connection_is_told_as_such(monkeypatch, capfd, refused):
    """A cluster of `ray start --head` with token authentication (Ray 2.5x's default where a token exists), joined at
    its address: Ray printed a line a second for 20 s from C++ and cevr said "no Ray cluster answered", where one had
    and refused it (Ray enables the token for `auto` only). Ray's lines are dropped; the message says what to set."""
    import types

    from cevr_cli.scaleout import raycluster

    def init(**kwargs):
        reason = "Unauthenticated: RPC error: InvalidAuthToken" if refused else "Unavailable: failed to connect"
        for _ in range(3):
            os.write(2, f"[2026-12-07 23:13:55,010 W 1 1] gcs_client.cc:210: Failed to get cluster ID from GCS "
                        f"server: {reason}\n".encode())
        os.write(2, b"another line\n")
        raise ConnectionError("Failed to connect to Ray cluster at 10.0.0.5:6379")

    monkeypatch.setitem(sys.modules, "ray", types.SimpleNamespace(is_initialized=lambda: False, init=init))
    monkeypatch.setattr(raycluster, "_probe", lambda address: None)
    told = ("the Ray cluster there refused the connection, it uses token authentication" if refused
            else "no Ray cluster answered")
    with pytest.raises(UsageError, match=rf"^--ray 10\.0\.0\.5:6379: {told} \(Failed to connect to Ray cluster at "
                                         r"10\.0\.0\.5:6379\); "):
        raycluster.connect("10.0.0.5:6379")
    err = capfd.readouterr().err
    assert "gcs_client" not in err and "another line" in err


@pytest.mark.parametrize("reply", [None, b"HTTP/1.1 400 Bad Request\r\n\r\n", b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"])
def test_an_address_where_something_but_no_ray_cluster_listens_is_refused_in_seconds(monkeypatch, reply):
    """Something listening at --ray HOST:PORT that is no Ray cluster (a server that never answers, an HTTP/1 one):
    ray.init waited on it for more than 11 minutes, holding Ctrl-C and SIGTERM. The probe asks it HTTP/2's preface,
    which a gRPC server (Ray's GCS) answers with a SETTINGS frame (the last reply), and refuses the others."""
    import socket
    import threading

    from cevr_cli.scaleout import raycluster

    monkeypatch.setattr(raycluster, "_PROBE_SECONDS", 0.5)
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    received: list[bytes] = []

    def serve():
        connection, _ = server.accept()
        with connection:
            received.append(connection.recv(64))
            if reply is not None:
                connection.sendall(reply)
            threading.Event().wait(1.0)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        if reply is not None and reply[3] == 4:
            raycluster._probe(f"127.0.0.1:{port}")
        else:
            with pytest.raises(UsageError, match=rf"^--ray 127\.0\.0\.1:{port}: something answers there, but not "
                                                 r"as a Ray cluster does \(no gRPC reply in 0\.5 s\)"):
                raycluster._probe(f"127.0.0.1:{port}")
    finally:
        thread.join(5)
        server.close()
    assert received[0].startswith(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
