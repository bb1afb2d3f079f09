"""`cevr demo`: every run redoes out/sample/ itself, whatever the size asked for."""

from cevr_cli.demo import run_demo
from cevr_cli.exposure import ModelSpec


def test_each_run_redoes_the_one_sample_folder_without_calling_it_changed(tmp_path):
    physics = ModelSpec("physics", None, "cpu", "fp32")
    for size, message in ((32, ""), (32, ""), (40, "redone: its input changed after the earlier output was made")):
        report = run_demo(tmp_path, physics, long_side=size)
        assert report.counts() == {"done": 1} and report.items[0].message == message  # only a new size changed it
        assert sorted(p.name for p in tmp_path.iterdir()) == [".input", "sample"]
        assert (tmp_path / "sample" / "sample.exr").is_file()
    placed = (tmp_path / ".input" / "sample.jpg").stat().st_mtime_ns
    run_demo(tmp_path, physics, long_side=40)
    assert (tmp_path / ".input" / "sample.jpg").stat().st_mtime_ns == placed  # unchanged: not rewritten


def test_a_device_this_machine_lacks_is_refused_before_anything_is_written(tmp_path):
    import pytest
    import torch

    from cevr_cli.errors import UsageError

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    with pytest.raises(UsageError, match="--device cuda"):
        run_demo(tmp_path / "demo", ModelSpec("cevr", None, "cuda", "auto"))
    assert not (tmp_path / "demo").exists()  # the sample was copied into .input/ first
