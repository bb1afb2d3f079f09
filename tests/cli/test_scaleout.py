"""`cevr stack --workers 2` and `--ray local`: the serial run's files, its failure rules, its resume; Ctrl-C and
SIGTERM stop every worker and leave nothing partial."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from cevr_cli.cli import app
from cevr_cli.model import save_pair

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # several `cevr` processes


def _cevr(*args, **popen):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "cevr_cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **popen)


def _run(*args):
    process = _cevr(*args)
    stdout, stderr = process.communicate(timeout=600)
    return process.returncode, stdout, stderr


@pytest.fixture(scope="module")
def serial_run(tmp_path_factory, tiny_residual_pair):
    """Four photos and a truncated one, stacked by a serial run: (the stack command, its output, its result)."""
    folder = tmp_path_factory.mktemp("batch")
    weights = folder / "tiny.safetensors"
    save_pair(tiny_residual_pair, weights)
    photos = folder / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        image = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        image[:10] = 255  # clipped: the network fills it
        cv2.imwrite(str(photos / f"p{i}.jpg"), image)
    (photos / "truncated.jpg").write_bytes((photos / "p0.jpg").read_bytes()[:400])
    command = ["stack", photos, "--evs", "-1,1", "--weights", weights, "--device", "cpu"]
    serial = CliRunner().invoke(app, [*map(str, command), "-o", str(folder / "serial"), "--json"])  # in-process
    return command, folder / "serial", (serial.exit_code, serial.stdout, serial.stderr)


def _images(folder: Path) -> dict[str, np.ndarray]:
    return {str(p.relative_to(folder)): cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
            for p in sorted(folder.rglob("*.png"))}


@pytest.mark.parametrize("where", [["--workers", "2"], ["--ray", "local"]], ids=["workers", "ray"])
def test_workers_and_ray_write_the_serial_runs_files(tmp_path, serial_run, where):
    if "--ray" in where:
        pytest.importorskip("ray", reason="Ray is not installed: pip install 'cevr[ray]' (CI installs it)")
    common, serial_out, serial = serial_run
    photos = common[1]
    spread = _run(*common, "-o", tmp_path / "spread", "--json", *where)
    assert serial[0] == spread[0] == 1  # the truncated photo failed, and said so
    for _, stdout, stderr in (serial, spread):
        assert "Traceback" not in stderr
        failed = [item for item in json.loads(stdout)["items"] if item["status"] == "failed"]
        assert [item["source"] for item in failed] == [str(photos / "truncated.jpg")]
        assert failed[0]["message"].startswith(f"{photos / 'truncated.jpg'}: ")
    assert json.loads(serial[1])["counts"] == json.loads(spread[1])["counts"] == {"done": 4, "failed": 1}
    ours, theirs = _images(serial_out), _images(tmp_path / "spread")
    assert sorted(ours) == sorted(theirs) and len(ours) == 4 * 2  # two frames a photo
    assert all(np.abs(ours[k].astype(int) - theirs[k].astype(int)).max() <= 1 for k in ours)
    files = sorted(p.relative_to(serial_out) for p in serial_out.rglob("*"))
    assert files == sorted(p.relative_to(tmp_path / "spread") for p in (tmp_path / "spread").rglob("*"))
    # A rerun resumes: the done photos are skipped, and with nothing else to do no worker starts and no model loads.
    done = sorted(p for p in photos.iterdir() if p.name != "truncated.jpg")
    code, stdout, stderr = _run(*common[:1], *done, *common[2:], "-o", tmp_path / "spread", *where)
    assert code == 0 and "stack: 0 done, 4 skipped (already complete), 0 failed" in stderr, stderr


@pytest.mark.parametrize(("where", "signum", "to_group", "code", "word"), [
    (["--workers", "2"], signal.SIGINT, True, 130, "interrupted"),  # Ctrl-C: the terminal signals the whole job
    (["--workers", "2"], signal.SIGTERM, False, 143, "terminated"),  # kill, a scheduler: the driver alone
    (["--ray", "local", "--workers", "2"], signal.SIGINT, True, 130, "interrupted"),
    (["--ray", "local", "--workers", "2"], signal.SIGTERM, False, 143, "terminated"),  # Ray's own handler aborts
], ids=["ctrl-c", "sigterm", "ray-ctrl-c", "ray-sigterm"])
def test_stopping_a_worker_batch_leaves_nothing_partial(tmp_path, where, signum, to_group, code, word):
    if "--ray" in where:
        pytest.importorskip("ray", reason="Ray is not installed: pip install 'cevr[ray]' (CI installs it)")
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(1)
    for i in range(5):
        cv2.imwrite(str(photos / f"p{i}.png"), rng.integers(0, 256, (600, 900, 3), dtype=np.uint8))
    out = tmp_path / "out"
    process = _cevr("stack", photos, "-o", out, "--model", "physics", *where, start_new_session=True)
    deadline = time.monotonic() + 300
    while not (out.is_dir() and any(".partial-" in p.name for p in out.iterdir())):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    if to_group:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == code and f"{word}: finished outputs are kept" in stderr, stderr
    assert "Traceback" not in stderr
    left = sorted(p.name for p in out.iterdir())
    assert all(not name.startswith(".") for name in left), left  # no partial folders, locks or temporaries
    for name in left:  # what is there is complete
        manifest = json.loads((out / name / "stack.json").read_text())
        assert all((out / name / file).stat().st_size > 0 for file in manifest["files"])
    rerun = _run("stack", photos, "-o", out, "--model", "physics", "--workers", "2")
    assert rerun[0] == 0 and f"{5 - len(left)} done, {len(left)} skipped" in rerun[2]


def test_a_ray_address_where_nothing_answers_is_one_line_and_exit_2(tmp_path):
    photo = tmp_path / "p.png"
    cv2.imwrite(str(photo), np.zeros((8, 8, 3), np.uint8))
    started = time.monotonic()
    code, _, stderr = _run("stack", photo, "-o", tmp_path / "out", "--model", "physics", "--ray", "127.0.0.1:1")
    assert code == 2 and time.monotonic() - started < 60  # Ray alone retries for minutes
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and (lines[0].startswith("error: --ray 127.0.0.1:1: nothing answers there")
                                or "needs Ray: pip install 'cevr[ray]'" in lines[0]), stderr
    assert not (tmp_path / "out").exists()  # not even the empty output folder
