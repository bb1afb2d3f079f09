"""Two real `cevr` processes writing the same output folder at once take turns and lose nothing."""

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from cevr_cli.model import save_pair

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # two processes, each importing torch


@pytest.mark.parametrize(("command", "marker", "listed"), [("stack", "stack.json", ("files", "contact_sheet")),
                                                            ("fuse", "fuse.json", ("outputs",))])
def test_two_runs_on_the_same_output_complete_every_output_once(tmp_path, tiny_residual_pair, command, marker,
                                                                listed):
    weights = tmp_path / "tiny.safetensors"
    save_pair(tiny_residual_pair, weights)
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        cv2.imwrite(str(photos / f"p{i}.png"), rng.integers(0, 256, (64, 96, 3), dtype=np.uint8))
    out = tmp_path / "out"
    args = [sys.executable, "-m", "cevr_cli", command, str(photos), "-o", str(out), "--evs", "-3:3:1",
            "--weights", str(weights), "--device", "cpu", "--json"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    runs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for _ in range(2)]
    results = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [stderr for _, stderr in results]
    summaries = [json.loads(stdout) for stdout, _ in results]
    for summary in summaries:  # each run either wrote an output or found it complete
        assert set(summary["counts"]) <= {"done", "skipped"} and sum(summary["counts"].values()) == 8
    assert sum(s["counts"].get("done", 0) for s in summaries) == 8  # every output written exactly once
    assert sorted(p.name for p in out.iterdir()) == [f"p{i}" for i in range(8)]  # no partial folders or locks
    for folder in out.iterdir():
        manifest = json.loads((folder / marker).read_text())
        files = [name for key in listed for name in np.atleast_1d(manifest[key])]
        assert sorted(p.name for p in folder.iterdir()) == sorted([*files, marker])  # no .part files
        assert all((folder / name).stat().st_size > 0 for name in files)
    if command == "stack":
        for folder in out.iterdir():
            for name in json.loads((folder / marker).read_text())["files"]:
                image = cv2.imread(str(folder / name), cv2.IMREAD_UNCHANGED)
                assert image is not None and image.shape == (64, 96, 3)
