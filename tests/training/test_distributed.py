"""Training in several processes: gloo on the CPU, two ranks. Gradients are averaged, the ranks draw different
samples and end with the same weights, a resumed run continues exactly, and a failing or interrupted run stops
every worker at once.

The workers are spawned interpreters: what they run is a module-level function of this file, and what they
find is written to files for the test to compare with its own computation.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from radiance_maps import radiance_map
from typer.testing import CliRunner

from cevr_cli.cli import app
from cevr_cli.errors import CevrError, InputError, UsageError
from cevr_cli.io.hdrfile import write_radiance_hdr
from cevr_cli.model import CEVRNet, get_config
from cevr_cli.training import loop
from cevr_cli.training.config import TrainConfig
from cevr_cli.training.distributed import check_processes, process_group, run_ranks
from cevr_cli.training.loop import run_training, train_step, training_loss
from cevr_cli.training.pairs import SyntheticPairs, make_validation
from tests.conftest import randomised

pytestmark = pytest.mark.slow
HERE = Path(__file__).resolve().parent
LR = 0.5


def _tiny_model() -> CEVRNet:
    """A tiny model whose intensity maps are not the identity, so that every layer gets a gradient."""
    torch.manual_seed(0)
    return randomised(CEVRNet(get_config("cevr-tiny")), seed=4).train()


def _batch(rank: int) -> dict[str, torch.Tensor]:
    data = SyntheticPairs([radiance_map(rank)], "inc", crop=32, samples_per_epoch=2, seed=rank, jpeg_probability=0)
    return next(iter(torch.utils.data.DataLoader(data, batch_size=2)))


def _one_sgd_step(on_event, out: str) -> None:
    """Rank r: one DDP step of SGD on its own batch; saves its gradients and weights."""
    torch.set_num_threads(1)  # two ranks on 2 cores: more threads each only fight over them
    with process_group("cpu") as rank:
        net = rank.wrap(_tiny_model())
        optimizer = torch.optim.SGD(net.parameters(), lr=LR)
        generator = torch.Generator().manual_seed(10 + rank.rank)
        train_step(net, optimizer, _batch(rank.rank), TrainConfig(), generator, torch.float32)
        torch.save({"grads": {n: p.grad for n, p in net.module.named_parameters()},
                    "weights": dict(net.module.named_parameters())}, Path(out) / f"rank{rank.rank}.pt")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_ranks_average_their_gradients_in_one_step(tmp_path):
    """Each rank's gradient after the DDP step is the mean of the two ranks' gradients computed here, one batch
    at a time in a lone process, and the SGD step moved both ranks' weights by it."""
    run_ranks(2, _one_sgd_step, (str(tmp_path),))
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    own = []
    for r in range(2):
        model = _tiny_model()
        batch = _batch(r)
        # as train_step with the default config: channels_last inputs, the cycle loss with a random split
        loss, _ = training_loss(model, batch["input"].contiguous(memory_format=torch.channels_last),
                                batch["target"].contiguous(memory_format=torch.channels_last), batch["s"], cycle=True,
                                generator=torch.Generator().manual_seed(10 + r))
        loss.backward()
        own.append({n: p.grad.clone() for n, p in model.named_parameters()})
    initial = dict(_tiny_model().named_parameters())
    differ = 0
    for name, start in initial.items():
        mean = (own[0][name] + own[1][name]) / 2
        differ += not torch.allclose(own[0][name], own[1][name], rtol=1e-2, atol=1e-6)
        for rank in ranks:
            torch.testing.assert_close(rank["grads"][name], mean, rtol=1e-4, atol=1e-6)
            torch.testing.assert_close(rank["weights"][name], start - LR * mean, rtol=1e-4, atol=1e-6)
        assert torch.equal(ranks[0]["weights"][name], ranks[1]["weights"][name])
    assert differ > 0.9 * len(initial)  # the two batches' gradients differ: the mean is neither of them


def _train_and_record(on_event, cfg: TrainConfig, maps: list[np.ndarray]) -> None:
    """Rank r trains one epoch of the increase model, recording the inputs of every batch it trains on."""
    torch.set_num_threads(cfg.threads)
    seen = []

    def recording_step(model, optimizer, batch, *args):
        seen.append(batch["input"])
        return train_step(model, optimizer, batch, *args)

    loop.train_step = recording_step
    with process_group("cpu") as rank:
        val = make_validation(["v"], [radiance_map(9)], [1.0], size=16) if rank.is_main else None
        model, _ = loop.train_direction(cfg, "inc", maps, val, rank=rank)
        torch.save({"inputs": torch.cat(seen), "weights": dict(model.named_parameters())},
                   Path(cfg.out) / f"rank{rank.rank}.pt")


def test_ranks_draw_different_samples_and_end_with_the_same_weights(tmp_path):
    maps = [radiance_map(i) for i in range(3)]
    cfg = TrainConfig(out=str(tmp_path), variant="cevr-tiny", epochs=1, samples_per_epoch=8, batch_size=2, crop=32,
                      lr=1e-3, device="cpu", threads=1)
    run_ranks(2, _train_and_record, (cfg, maps))
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    assert [len(r["inputs"]) for r in ranks] == [4, 4]  # 2 steps of 2 samples each
    epoch = SyntheticPairs(maps, "inc", crop=32, samples_per_epoch=8, seed=cfg.seed)
    # Rank r trained on the lone process's samples r, r + 2, ...: together, exactly one epoch of it.
    for r, rank in enumerate(ranks):
        expected = torch.stack([epoch[i]["input"] for i in range(r, 8, 2)])
        assert torch.equal(rank["inputs"], expected)
    assert not any(torch.equal(a, b) for a in ranks[0]["inputs"] for b in ranks[1]["inputs"])
    for name, weight in ranks[0]["weights"].items():
        assert torch.equal(weight, ranks[1]["weights"][name]), name
    assert not torch.equal(ranks[0]["weights"]["conv_mul.weight"], _tiny_model().conv_mul.weight)  # it trained


def test_nproc_2_from_the_command_line_splits_each_epoch_and_writes_the_weights(tmp_path, scene_folder):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "train", "--data", str(scene_folder), "--nproc", "2", "--epochs", "1", "--crop", "32",
        "--samples-per-epoch", "4", "--batch-size", "1", "--val-cameras", "1", "--val-size", "32",
        "--variant", "cevr-tiny", "--device", "cpu", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert (out / "cevr-pair.safetensors").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["processes"] == 2
    # 4 samples, 2 per rank, batch 1 per rank: 2 steps (alone it would take 4)
    assert summary["results"]["inc"]["iterations"] == 2 and summary["results"]["dec"]["iterations"] == 2
    assert [h["epoch"] for h in summary["history"]] == [0, 0]  # rank 0's log only


def test_torchrun_starts_the_ranks_and_rank_0_alone_reports(tmp_path, scene_folder):
    """`torchrun -m cevr_cli train`: the processes join torchrun's group (here with the residual role's model,
    whose pass decodes onto the physics frame), and only rank 0 prints its result."""
    out = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "cevr_cli", "train", "--data", str(scene_folder), "-o", str(out), "--device", "cpu",
               "--variant", "cevr-residual-tiny", "--direction", "dec", "--epochs", "1", "--crop", "32",
               "--samples-per-epoch", "4", "--batch-size", "1", "--val-cameras", "1", "--val-size", "32", "--json"]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout)["iterations"] == {"dec": 2}  # one JSON result: rank 0's
    summary = json.loads((out / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["config"]["nproc"] == 1


def test_a_resumed_two_process_run_continues_exactly(tmp_path, scene_folder):
    """Two epochs in one go, and one epoch then --resume for the second, end with the same checkpoint: every
    rank took up the model, Adam's moments, the schedule and its own cycle-split generator from rank 0's file."""
    cfg = TrainConfig(data=str(scene_folder), out=str(tmp_path / "once"), direction="inc", variant="cevr-tiny",
                      epochs=2, samples_per_epoch=8, batch_size=2, crop=32, lr=1e-3, val_size=32, val_cameras=1,
                      device="cpu", nproc=2, checkpoint_every=1)
    run_training(cfg)
    split = replace(cfg, out=str(tmp_path / "split"))
    run_training(replace(split, epochs=1))
    resumed = run_training(replace(split, resume=True))
    assert resumed.epochs == {"inc": 2} and resumed.iterations == {"inc": 4}
    once, twice = (torch.load(tmp_path / name / "inc-last.pt", weights_only=False) for name in ("once", "split"))
    assert len(once["generators"]) == 2 and not torch.equal(once["generators"][0], once["generators"][1])
    for name, value in once["model"].items():
        torch.testing.assert_close(twice["model"][name], value, rtol=1e-5, atol=1e-7)
    assert [h.epoch for h in resumed.history] == [0, 1]


def test_two_processes_stopped_mid_epoch_resume_to_the_same_weights_and_log(tmp_path, scene_folder):
    """5 samples on 2 ranks pad the last step with the epoch's first sample; the resumed epoch padded with its
    rest's first (other weights), and rank 1's losses before the stop were lost from the epoch's log."""
    cfg = TrainConfig(data=str(scene_folder), out=str(tmp_path / "once"), direction="inc", variant="cevr-tiny",
                      epochs=2, samples_per_epoch=5, batch_size=2, crop=32, lr=1e-3, val_size=32, val_cameras=1,
                      device="cpu", nproc=2)
    whole = run_training(cfg)
    chunks = replace(cfg, out=str(tmp_path / "chunks"), max_minutes=1e-6)  # stops after every step
    result, runs = run_training(chunks), 1
    while result.iterations["inc"] < whole.iterations["inc"] and runs < 8:
        result, runs = run_training(replace(chunks, resume=True)), runs + 1
    assert result.iterations == whole.iterations == {"inc": 4} and runs == 4  # 3 samples a rank: 2 steps an epoch
    once, split = (torch.load(tmp_path / name / "inc-last.pt", weights_only=False) for name in ("once", "chunks"))
    for name, value in once["model"].items():
        torch.testing.assert_close(split["model"][name], value, rtol=1e-5, atol=1e-7, msg=name)
    assert [(h.epoch, round(h.loss, 6)) for h in result.history] == [
        (h.epoch, round(h.loss, 6)) for h in whole.history]


def _fail_on_rank_1(on_event, kind: str, out: str) -> None:
    """Rank 0 notes its process id and waits far longer than any test; rank 1 fails once rank 0 is running."""
    rank = int(os.environ["RANK"])
    pid = Path(out) / "rank0.pid"
    if rank == 1:
        while not pid.exists():
            time.sleep(0.1)
        if kind == "library":
            raise InputError("scene.hdr", "truncated file")
        if kind == "crash":
            raise ValueError("boom")
        os._exit(3)
    pid.with_suffix(".part").write_text(str(os.getpid()))
    pid.with_suffix(".part").rename(pid)
    time.sleep(600)


@pytest.mark.parametrize(("kind", "error", "message"), [
    ("library", InputError, "scene.hdr: truncated file"), ("crash", CevrError, "process 1 failed: ValueError: boom"),
    ("exit", CevrError, "process 1 terminated with exit code 3")])
def test_a_failing_rank_stops_the_other_at_once(tmp_path, kind, error, message):
    started = time.monotonic()
    with pytest.raises(error, match=message) as caught:
        run_ranks(2, _fail_on_rank_1, (kind, str(tmp_path)))
    assert time.monotonic() - started < 60  # not rank 0's 600 s sleep, nor the group's 30 min timeout
    if kind == "library":
        assert caught.value.path == "scene.hdr" and caught.value.reason == "truncated file"  # the error itself
    with pytest.raises(ProcessLookupError):  # rank 0 is gone (and was reaped)
        os.kill(int((tmp_path / "rank0.pid").read_text()), 0)


def _wait_forever(on_event, out: str) -> None:
    (Path(out) / f"rank{os.environ['RANK']}.pid").write_text(str(os.getpid()))
    time.sleep(600)


def test_interrupting_the_launcher_stops_its_workers(tmp_path):
    """Ctrl-C (SIGINT) to the launching process alone: it stops both workers and exits, instead of waiting."""
    script = (f"import sys; sys.path.insert(0, {str(HERE)!r}); import test_distributed as t; "
              f"t.run_ranks(2, t._wait_forever, ({str(tmp_path)!r},))")
    launcher = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE)
    pids = [tmp_path / f"rank{r}.pid" for r in range(2)]
    deadline = time.monotonic() + 120
    while not all(p.exists() and p.read_text() for p in pids):
        assert time.monotonic() < deadline and launcher.poll() is None, launcher.stderr.read()
        time.sleep(0.2)
    launcher.send_signal(signal.SIGINT)
    launcher.wait(timeout=30)
    assert b"KeyboardInterrupt" in launcher.stderr.read()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid.read_text()), 0)


@pytest.mark.parametrize(("nproc", "device", "gpus", "message"), [
    (0, "cpu", 0, "--nproc 0: must be at least 1"),
    (2, "cuda", 0, "no CUDA GPU"),
    (3, "cuda", 2, "--nproc 3: only 2 CUDA GPU"),
    (2, "cuda:1", 2, "give --device cuda"),
    (2, "mps", 0, "use cuda .NCCL. or cpu .gloo."),
])
def test_impossible_process_counts_are_refused(monkeypatch, nproc, device, gpus, message):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    monkeypatch.setattr(torch.distributed, "is_nccl_available", lambda: True)
    with pytest.raises(UsageError, match=message):
        check_processes(nproc, device)


def test_torchruns_environment_is_checked(monkeypatch):
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "2")
    with pytest.raises(UsageError, match="torchrun already started 4 processes"):
        check_processes(2, "cpu")
    check_processes(1, "cpu")  # --nproc left out: torchrun's 4 processes on the CPU are fine
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.distributed, "is_nccl_available", lambda: True)
    with pytest.raises(UsageError, match="LOCAL_RANK 2: only 2 CUDA GPU"):
        check_processes(1, "cuda")
    monkeypatch.setenv("WORLD_SIZE", "four")
    with pytest.raises(UsageError, match="WORLD_SIZE"):
        check_processes(1, "cpu")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(CevrError, match="rank 2 could not join the process group.*MASTER_ADDR"):
        with process_group("cpu"):
            pass


def test_bad_nproc_on_the_command_line_is_one_line(tmp_path):
    write_radiance_hdr(tmp_path / "a.hdr", radiance_map(0))
    result = CliRunner().invoke(app, ["train", "--data", str(tmp_path), "-o", str(tmp_path / "run"),
                                      "--nproc", "0", "--device", "cpu"])
    assert result.exit_code == 2 and "--nproc" in result.output
