"""The prepared GPU check (tests/benchmarks/bench_gpu.py) runs end to end on the CPU in its CI-sized form, so
whoever next has a GPU only has to run it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # a subprocess importing torch, then a training step and a speed check
def test_gpu_check_runs_ci_sized_on_the_cpu(tmp_path):
    command = [sys.executable, str(ROOT / "tests" / "benchmarks" / "bench_gpu.py"), "--device", "cpu",
               "--megapixels", "0.02", "--batch-megapixels", "0.02", "--batch", "2", "--check-size", "32",
               "--out", str(tmp_path)]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    result = json.loads((tmp_path / "bench_gpu.json").read_text())
    assert result["correctness_psnr_vs_cpu"]["fp32"] > 100  # the CPU against itself
    for precision in result["precisions"]:
        stages = result[f"pipeline_{precision}"]
        assert {"decode_and_measure", "stack_13_evs", "measured_merge", "write_exr", "tonemap_png"} <= set(stages)
        assert stages["photo_to_hdr_total"] > 0
    assert result["batch"]["done"] == 2
