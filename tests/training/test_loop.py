"""Training: the loss goes down, the cycle term chains two passes, checkpoints resume."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from radiance_maps import radiance_map

from cevr_cli.model import CEVRNet, get_config, load_pair
from cevr_cli.model.device import bf16_is_native
from cevr_cli.training.camera import CameraResponse, render_ldr
from cevr_cli.training.loop import TrainConfig, run_training, training_loss
from cevr_cli.training.pairs import SyntheticPairs, make_validation


def test_synthetic_pairs_have_exact_targets(monkeypatch):
    """Each target is the input's scene, camera and exposure at s stops, without noise: rendered here
    independently (gamma-2 camera, 2^s times the exposure, clip, 8 bits) from what the sample was made of."""
    from cevr_cli.training import pairs

    monkeypatch.setattr(pairs, "sample_response", lambda rng: CameraResponse("gamma", gamma=2.0))
    calls = []

    def recording_render(patch, ev, response, **kwargs):
        calls.append((patch, ev, kwargs))
        return render_ldr(patch, ev, response, **kwargs)

    monkeypatch.setattr(pairs, "render_ldr", recording_render)
    data = SyntheticPairs([radiance_map(0)], "inc", crop=32, samples_per_epoch=8, jpeg_probability=0.0)
    steps = set()
    for index in range(8):
        calls.clear()
        sample = data[index]
        (patch, ev_in, kw_in), (same_patch, s, kw_target) = calls
        assert patch is same_patch and ev_in == 0.0 and s == float(sample["s"]) and kw_target.get("noise") is None
        scale = kw_in["exposure_scale"]
        assert kw_target["exposure_scale"] == scale
        expected = np.round(np.sqrt(np.clip(patch.astype(np.float64) * scale * 2.0**s, 0, 1)) * 255) / 255
        target = sample["target"].numpy().transpose(1, 2, 0)
        error = np.abs(target - expected)
        assert target.shape == (32, 32, 3) and error.max() <= 1 / 255 + 1e-6  # float32 vs float64 at a tie
        assert np.mean(error > 1e-6) < 0.01
        steps.add(s)
    assert steps <= {0.0, 1.0, 2.0, 3.0} and len(steps) > 1
    assert torch.equal(data[1]["input"], data[1]["input"])  # deterministic per (epoch, index)


def test_validation_photographs_each_scene_with_several_cameras():
    maps = [radiance_map(0), radiance_map(1)]
    one = make_validation(["a", "b"], maps, [1.0, 2.0], size=16)
    three = make_validation(["a", "b"], maps, [1.0, 2.0], size=16, cameras=3)
    assert len(three.inputs) == 6 and all(len(t) == 6 for t in three.truths.values())
    assert [s.name for s in three.scenes] == ["a"] * 3 + ["b"] * 3
    # Camera 0 is the single-camera set's camera; the others are different cameras.
    assert np.array_equal(three.inputs[0], one.inputs[0]) and np.array_equal(three.inputs[3], one.inputs[1])
    assert len({s.seed for s in three.scenes}) == 6
    with pytest.raises(ValueError, match="cameras"):
        make_validation(["a"], maps[:1], [1.0], size=16, cameras=0)


def test_render_is_exposure_times_two_to_the_ev():
    radiance = np.full((2, 2, 3), 0.1, np.float32)
    gamma = CameraResponse("gamma", gamma=2.0)
    assert render_ldr(radiance, 1.0, gamma, exposure_scale=1.0, bits=None)[0, 0, 0] == pytest.approx(0.2**0.5)
    assert render_ldr(radiance, 4.0, gamma, exposure_scale=1.0, bits=None)[0, 0, 0] == 1.0  # clipped


def test_cycle_loss_runs_the_model_twice_in_a_chain():
    model = CEVRNet(get_config("cevr-tiny"))
    calls = []
    model.register_forward_hook(lambda module, args, output: calls.append((args[0], output)))
    image, target = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    s = torch.tensor([2.0, 3.0])
    training_loss(model, image, target, s, cycle=True, generator=torch.Generator().manual_seed(0))
    assert len(calls) == 3
    # Calls: F(I, s), then F(I, u), then F(F(I, u), v): the third call's input is the second's output.
    assert torch.equal(calls[0][0], image) and torch.equal(calls[1][0], image)
    assert torch.equal(calls[2][0], calls[1][1])
    calls.clear()
    training_loss(model, image, target, s, cycle=False)
    assert len(calls) == 1


def test_few_steps_lower_the_loss_and_resume_round_trips(tmp_path, scene_folder):
    cfg = TrainConfig(data=str(scene_folder), out=str(tmp_path / "run"), direction="both", variant="cevr-tiny",
                      epochs=6, samples_per_epoch=8, batch_size=4, crop=32, lr=1e-3, val_size=32,
                      checkpoint_every=2, device="cpu")
    losses = []
    result = run_training(cfg, on_event=lambda kind, p: losses.append(p["loss"]) if kind == "epoch" else None)
    assert result.weights is not None and result.weights.is_file()
    assert np.mean(losses[4:6]) < np.mean(losses[0:2])  # the inc model's last epochs vs its first
    pair = load_pair(result.weights)
    assert pair.config.variant == "cevr-tiny" and "validation" in pair.info
    state = torch.load(tmp_path / "run" / "inc-last.pt", weights_only=False)
    assert state["epoch"] == 6
    resumed = run_training(TrainConfig(**{**cfg.__dict__, "epochs": 7, "resume": True, "direction": "inc"}))
    assert resumed.epochs == {"inc": 7}
    expected = [("inc", e) for e in range(6)] + [("dec", e) for e in range(6)]
    assert [(h.direction, h.epoch) for h in result.history] == expected
    assert [h.epoch for h in resumed.history] == list(range(7))  # the resumed run keeps the earlier epochs' log
    assert resumed.history[:6] == result.history[:6]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    # the dec model of the first run is still the pair's: its record stays (a run of one direction replaced it)
    assert [(h["direction"], h["epoch"]) for h in summary["history"]] == [("dec", e) for e in range(6)] + [
        ("inc", e) for e in range(7)]
    assert sorted(summary["results"]) == ["dec", "inc"] and summary["results"]["inc"]["epochs_run"] == 7
    # "auto" as it was resolved: a run's record said only "auto", not whether it trained in bf16
    assert (summary["config"]["precision"], summary["precision"]) == (
        "auto", "bf16" if bf16_is_native(torch.device("cpu")) else "fp32")
    assert torch.load(tmp_path / "run" / "inc-last.pt", weights_only=False)["iteration"] == state["iteration"] + 2
    again = run_training(TrainConfig(**{**cfg.__dict__, "epochs": 7, "resume": True, "direction": "inc"}))
    assert again.epochs == {"inc": 7}  # a finished run resumed runs no epoch: it counted 8


def test_init_fine_tunes_one_direction_and_keeps_the_other(tmp_path, scene_folder):
    from cevr_cli.model import new_pair, save_pair

    initial_path = tmp_path / "initial.safetensors"
    initial = new_pair(get_config("cevr-tiny"), seed=5)
    save_pair(initial, initial_path, half=False)
    cfg = TrainConfig(data=str(scene_folder), out=str(tmp_path / "ft"), direction="inc", variant="cevr-tiny",
                      epochs=1, samples_per_epoch=4, batch_size=4, crop=32, val_size=32, device="cpu",
                      init=str(initial_path), continuous_steps=True)
    result = run_training(cfg)
    assert result.weights is not None
    tuned = load_pair(result.weights)
    for name, value in initial.dec.state_dict().items():
        torch.testing.assert_close(tuned.dec.state_dict()[name], value, atol=2e-3, rtol=1e-3)  # stored as fp16
    changed = [n for n, v in initial.inc.state_dict().items()
               if not torch.equal(tuned.inc.state_dict()[n], v.half().float())]
    assert changed  # one Adam step moved the increase model away from its initial weights
    assert tuned.info["results"]["dec"] == {"unchanged_from": "initial.safetensors"}


@pytest.mark.parametrize("keep", ["best", "last"])
def test_the_exported_pair_holds_the_kept_checkpoint(tmp_path, scene_folder, keep):
    cfg = TrainConfig(data=str(scene_folder), out=str(tmp_path / "run"), direction="both", variant="cevr-tiny",
                      epochs=3, samples_per_epoch=4, batch_size=4, crop=32, val_size=32, val_cameras=1, lr=1e-2,
                      device="cpu", keep=keep, checkpoint_every=1)
    result = run_training(cfg)
    assert result.weights is not None
    pair = load_pair(result.weights)
    history = json.loads((tmp_path / "run" / "summary.json").read_text())["history"]
    epochs = {d: [h for h in history if h["direction"] == d] for d in ("inc", "dec")}
    best = {d: max(e, key=lambda h: np.mean(list(h["val_psnr"].values())))["epoch"] for d, e in epochs.items()}
    assert best["inc"] != 2  # this run's best and last checkpoints differ: the test tells them apart
    for direction in ("inc", "dec"):
        kept = torch.load(tmp_path / "run" / f"{direction}-{keep}.pt", map_location="cpu", weights_only=False)
        for name, value in kept["model"].items():
            expected = value.half().float() if value.is_floating_point() else value  # floats stored as fp16
            torch.testing.assert_close(getattr(pair, direction).state_dict()[name], expected)
        record = pair.info["results"][direction]
        if keep == "last":
            assert record["last"] == {"epochs": 3, "iterations": 3}
            assert record["val_psnr"] == {str(float(k)): v for k, v in epochs[direction][-1]["val_psnr"].items()}
        else:
            assert record["best_epoch"] == best[direction]


@pytest.mark.parametrize(("initial", "variant"), [
    ("cevr-tiny", "cevr"),  # other shapes
    ("cevr-residual-tiny", "cevr-tiny"),  # the shapes, but residual maps: its untrained direction was the identity
])
def test_init_with_another_variant_is_refused_before_any_output(tmp_path, scene_folder, initial, variant):
    from cevr_cli.errors import UsageError
    from cevr_cli.model import new_pair, save_pair

    initial_path = tmp_path / "initial.safetensors"
    save_pair(new_pair(get_config(initial), seed=5), initial_path)
    cfg = TrainConfig(data=str(scene_folder), out=str(tmp_path / "runs" / "ft"), direction="dec", variant=variant,
                      epochs=1, samples_per_epoch=4, crop=32, val_size=32, init=str(initial_path))
    with pytest.raises(UsageError) as refused:
        run_training(cfg)
    assert str(refused.value) == f"--init {initial_path}: its variant ({initial}) is not --variant {variant}"
    assert not (tmp_path / "runs").exists()  # was: -o made, holding split.json


def test_an_encoder_init_that_does_not_fit_is_refused_before_any_output(tmp_path, scene_folder):
    from safetensors.torch import save_file

    from cevr_cli.errors import WeightsError

    narrow = tmp_path / "narrow.safetensors"  # vgg16's numbering, 2 filters a conv: fits no variant
    save_file({f"features.{i}.{kind}": torch.zeros((2, 3, 3, 3) if kind == "weight" else (2,))
               for i in (0, 2, 5, 7, 10, 12, 14) for kind in ("weight", "bias")}, narrow)
    not_weights = tmp_path / "photo.png"
    not_weights.write_bytes(b"\x89PNG not weights")
    for path, message in ((narrow, "features.0 has shape (2, 3, 3, 3)"), (not_weights, "not a readable safetensors")):
        cfg = TrainConfig(data=str(scene_folder), out=str(tmp_path / "runs" / "enc"), variant="cevr-tiny", epochs=1,
                          samples_per_epoch=4, crop=32, val_size=32, encoder_init=str(path))
        with pytest.raises(WeightsError, match=f"^{re.escape(f'{path}: {message}')}"):
            run_training(cfg)
        assert not (tmp_path / "runs").exists()


def test_data_loading_workers_give_the_same_batches(scene_folder):
    from cevr_cli.training.scenes import find_radiance_maps, load_radiance

    maps = [load_radiance(p, 64) for p in find_radiance_maps(scene_folder)]
    data = SyntheticPairs(maps, "inc", crop=32, samples_per_epoch=8, continuous_steps=True)
    data.set_epoch(3)
    serial = list(torch.utils.data.DataLoader(data, batch_size=4))
    parallel = list(torch.utils.data.DataLoader(data, batch_size=4, num_workers=2))
    for a, b in zip(serial, parallel, strict=True):
        for key in ("input", "target", "s"):
            assert torch.equal(a[key], b[key])


def test_negative_workers_are_refused(tmp_path, scene_folder):
    from cevr_cli.errors import UsageError

    with pytest.raises(UsageError, match="workers"):
        run_training(TrainConfig(data=str(scene_folder), out=str(tmp_path / "w"), workers=-1))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_training_steps_run_on_cuda(tmp_path, scene_folder):
    cfg = TrainConfig(data=str(scene_folder), out=str(tmp_path / "gpu"), direction="inc", variant="cevr-tiny",
                      epochs=2, samples_per_epoch=8, batch_size=4, crop=32, val_size=32, device="cuda", workers=2)
    result = run_training(cfg)
    assert result.iterations == {"inc": 4} and np.isfinite(result.best_psnr["inc"])


def test_a_bf16_channels_last_step_on_the_cpu_lowers_the_loss():
    from cevr_cli.training.config import TrainConfig
    from cevr_cli.training.loop import train_step

    torch.manual_seed(0)
    data = SyntheticPairs([radiance_map(3)], "dec", crop=32, samples_per_epoch=4, jpeg_probability=0.0)
    batch = next(iter(torch.utils.data.DataLoader(data, batch_size=4)))
    cfg = TrainConfig(data="", precision="bf16", channels_last=True)
    model = CEVRNet(get_config("cevr-tiny")).train().to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    dtype = torch.bfloat16  # autocast runs on any CPU (emulated where not native); when it is chosen: test_device
    generator = torch.Generator().manual_seed(0)
    losses = [train_step(model, optimizer, batch, cfg, generator, dtype)[0] for _ in range(12)]
    assert losses[-1] < 0.8 * losses[0]
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast: weights stay fp32


@pytest.mark.parametrize(("field", "value", "message"), [
    ("cycle_split", "hlaf", "cycle-split"), ("epochs", 0, "epochs"), ("batch_size", 0, "batch-size"),
    ("precision", "fp8", "precision"), ("crop", 20, "crop")])
def test_impossible_requests_are_refused_before_any_work(tmp_path, field, value, message):
    from cevr_cli.errors import UsageError

    cfg = TrainConfig(data=str(tmp_path / "missing"), out=str(tmp_path / "run"), **{field: value})
    with pytest.raises(UsageError, match=message):
        run_training(cfg)


def test_resume_without_a_checkpoint_is_refused(tmp_path, scene_folder):
    from cevr_cli.errors import UsageError

    with pytest.raises(UsageError, match="no checkpoint"):
        run_training(TrainConfig(data=str(scene_folder), out=str(tmp_path / "run"), resume=True))


def test_resume_with_other_options_than_the_checkpoints_is_refused_naming_them(tmp_path, scene_folder):
    """The checkpoint's model, optimiser and schedule continue: another --variant (another role, the same
    tensor shapes) or --lr would load into the wrong model or be ignored, so they are refused; how long the run
    goes (--epochs) may change, as the round-trip test above does."""
    from cevr_cli.errors import UsageError

    cfg = TrainConfig(data=str(scene_folder), out=str(tmp_path / "run"), direction="inc", variant="cevr-residual-tiny",
                      epochs=1, samples_per_epoch=4, batch_size=4, crop=32, val_size=32, device="cpu")
    run_training(cfg)
    last = tmp_path / "run" / "inc-last.pt"
    before = last.read_bytes()
    other = TrainConfig(**{**cfg.__dict__, "variant": "cevr-tiny", "lr": 1e-3, "epochs": 2, "resume": True})
    with pytest.raises(UsageError) as refused:
        run_training(other)
    assert str(refused.value) == (f"--resume: {last} was trained with other options (--variant cevr-residual-tiny -> "
                                  "cevr-tiny; --lr 0.0002 -> 0.001): resume with the checkpoint's options, or start "
                                  "a new run in another -o")
    assert last.read_bytes() == before  # refused before any work
    for damaged in (before[:100], b"hi"):  # "hi" got torch's advice to re-save with _use_new_zipfile_serialization
        last.write_bytes(damaged)
        with pytest.raises(UsageError) as refused:
            run_training(TrainConfig(**{**cfg.__dict__, "epochs": 2, "resume": True}))
        assert re.match(rf"--resume: {re.escape(str(last))}: not a readable checkpoint \(damaged or not one "
                        r"torch.save wrote: \w+\); ", str(refused.value)), refused.value
        assert "torch.save(" not in str(refused.value)


def test_a_resume_asking_fewer_epochs_than_were_run_is_refused_not_silently_a_no_op(tmp_path, scene_folder):
    from cevr_cli.errors import UsageError

    cfg = TrainConfig(data=str(scene_folder), out=str(tmp_path / "run"), direction="dec", variant="cevr-tiny",
                      epochs=2, samples_per_epoch=2, batch_size=2, crop=32, val_size=32, val_cameras=1, device="cpu")
    run_training(cfg)
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}
    with pytest.raises(UsageError) as refused:
        run_training(TrainConfig(**{**cfg.__dict__, "epochs": 1, "resume": True}))
    assert str(refused.value) == (f"--resume --epochs 1: {tmp_path / 'run' / 'dec-last.pt'} has finished 2 epochs "
                                  "already; give --epochs 2 or more")
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()} == before


def test_a_resume_refuses_a_checkpoint_of_the_other_direction_or_an_unreadable_best_before_any_work(tmp_path,
                                                                                                       scene_folder):
    """A copy of dec-last.pt as inc-last.pt trained the darkening model as the brightening one; a truncated
    dec-best.pt failed in a traceback after a whole epoch, where the run reads its best back."""
    import shutil

    from cevr_cli.errors import UsageError, WeightsError

    out = tmp_path / "run"
    cfg = TrainConfig(data=str(scene_folder), out=str(out), direction="dec", variant="cevr-tiny", epochs=1,
                      samples_per_epoch=2, batch_size=2, crop=32, val_size=32, val_cameras=1, device="cpu")
    run_training(cfg)
    shutil.copy(out / "dec-last.pt", out / "inc-last.pt")
    with pytest.raises(WeightsError) as refused:
        run_training(TrainConfig(**{**cfg.__dict__, "direction": "inc", "epochs": 2, "resume": True}))
    assert str(refused.value) == (f"--resume: {out / 'inc-last.pt'}: a dec checkpoint given as the inc one: start a "
                                  "new run in another -o")
    (out / "inc-last.pt").unlink()
    best = (out / "dec-best.pt").read_bytes()
    (out / "dec-best.pt").write_bytes(best[:1000])
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    resumed = TrainConfig(**{**cfg.__dict__, "epochs": 2, "resume": True})
    with pytest.raises(UsageError, match=rf"^--resume: {out / 'dec-best.pt'}: not a readable checkpoint \("):
        run_training(resumed)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # refused before any work
    (out / "dec-best.pt").write_bytes(best)
    (out / ".dec-last.k9x_2ab7.part.pt").write_bytes(b"what a kill -9 while saving left")
    (out / ".summary.k9x_2ab7.part.json").write_bytes(b"another process's, maybe being written")
    assert run_training(resumed).epochs == {"dec": 2}
    assert sorted(p.name for p in out.glob(".*")) == [".summary.k9x_2ab7.part.json"]


def test_every_option_is_either_resumable_or_compared_on_resume():
    from dataclasses import fields

    from cevr_cli.training.config import resume_conflicts

    cfg = TrainConfig()
    compared = [f.name for f in fields(TrainConfig) if not f.metadata.get("resumable")]
    assert {"variant", "lr", "crop", "seed", "batch_size", "objective"} <= set(compared)
    assert {"epochs", "max_minutes", "device", "nproc", "out"}.isdisjoint(compared)
    for name in compared:  # each compared option, changed alone, is named alone, as it is typed
        flag, now = name.replace("_", "-"), getattr(cfg, name)
        if isinstance(now, bool):
            told = f"--no-{flag} -> --{flag}" if now else f"--{flag} -> --no-{flag}"
            assert resume_conflicts({**cfg.__dict__, name: not now}, cfg) == [told]
            continue
        assert resume_conflicts({**cfg.__dict__, name: "something else"}, cfg) == [f"--{flag} something else -> {now}"]
    assert resume_conflicts({**cfg.__dict__, "cycle": True}, TrainConfig(cycle=False)) == ["--cycle -> --no-cycle"]
    assert resume_conflicts({"epochs": 3, "device": "cuda", "unknown": 1}, cfg) == []  # an older checkpoint's record


def test_a_path_option_given_another_way_to_the_same_file_is_no_conflict(tmp_path, monkeypatch):
    """--init pair.safetensors on the first run and its absolute path on --resume (or from another folder) were
    refused as '--init pair.safetensors -> /abs/pair.safetensors'; another file still conflicts."""
    from cevr_cli.training.config import resume_conflicts

    (tmp_path / "pair.safetensors").write_bytes(b"x")
    (tmp_path / "other.safetensors").write_bytes(b"y")
    monkeypatch.chdir(tmp_path)
    saved = {**TrainConfig(init="pair.safetensors").__dict__}
    assert resume_conflicts(saved, TrainConfig(init=str(tmp_path / "pair.safetensors"))) == []
    assert resume_conflicts(saved, TrainConfig(init="./pair.safetensors")) == []
    assert resume_conflicts(saved, TrainConfig(init="other.safetensors")) == [
        "--init pair.safetensors -> other.safetensors"]
    assert resume_conflicts({**saved, "init": "cevr"}, TrainConfig(init="cevr-paper")) == ["--init cevr -> cevr-paper"]


def test_a_new_run_into_an_earlier_runs_folder_is_refused_unless_overwrite(tmp_path, scene_folder):
    """Forgetting --resume must not replace hours of checkpoints; a run of the other direction may share the folder
    (the two directions can train in separate processes, the last one writing the pair)."""
    from typer.testing import CliRunner

    from cevr_cli.cli import app

    out = tmp_path / "run"
    common = ["train", "--data", str(scene_folder), "-o", str(out), "--variant", "cevr-tiny", "--epochs", "1",
              "--samples-per-epoch", "4", "--crop", "32", "--val-size", "32", "--device", "cpu", "--quiet"]
    assert CliRunner().invoke(app, [*common, "--direction", "inc"]).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    again = CliRunner().invoke(app, [*common[:-1], "--direction", "both"])  # not quiet: the line alone, no blank
    assert again.exit_code == 2 and "Traceback" not in again.output
    assert " ".join(again.output.split()) == (
        f"error: {out} holds an earlier run's checkpoints (inc-last.pt, inc-best.pt): --resume to continue it, "
        "--overwrite to start again there, or another -o")
    assert again.output.startswith("error:") and again.output.count("\n\n") == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing touched
    assert CliRunner().invoke(app, [*common, "--direction", "dec"]).exit_code == 0  # the other direction: fine
    assert (out / "cevr-pair.safetensors").is_file()  # the second direction's process wrote the pair
    stamp = (out / "inc-last.pt").stat().st_mtime_ns
    assert CliRunner().invoke(app, [*common, "--direction", "inc", "--overwrite"]).exit_code == 0
    assert (out / "inc-last.pt").stat().st_mtime_ns != stamp


@pytest.mark.parametrize("why", ["resume without a checkpoint", "a truncated map"])
def test_a_run_refused_before_its_first_output_leaves_no_folder(scene_folder, tmp_path, why):
    from cevr_cli.errors import CevrError

    if why == "a truncated map":
        (scene_folder / "zz.hdr").write_bytes(next(scene_folder.glob("*.hdr")).read_bytes()[:100])
    out = tmp_path / "runs" / "new"
    cfg = TrainConfig(data=str(scene_folder), out=str(out), variant="cevr-tiny", epochs=1, samples_per_epoch=2,
                      batch_size=1, crop=32, val_size=32, val_cameras=1, device="cpu",
                      resume=why == "resume without a checkpoint")
    with pytest.raises(CevrError):
        run_training(cfg)
    assert not (tmp_path / "runs").exists()


def _refusal(cfg):
    from cevr_cli.errors import UsageError
    from cevr_cli.training.loop import training_scenes

    with pytest.raises(UsageError) as refused:
        training_scenes(cfg)
    return str(refused.value)


def test_a_resume_holds_to_its_runs_scenes_and_checkpoints(scene_folder, tmp_path):
    import shutil
    from dataclasses import asdict, replace

    from cevr_cli.training.loop import record_split, training_scenes

    out = tmp_path / "run"
    cfg = TrainConfig(data=str(scene_folder), out=str(out), variant="cevr-tiny", direction="inc", epochs=1,
                      samples_per_epoch=2, batch_size=1, crop=32, val_size=32, val_cameras=1, device="cpu")
    train, val = training_scenes(cfg)  # checks -o by making it
    record_split(out, train, val)
    torch.save({"config": asdict(cfg)}, out / "inc-last.pt")
    resumed = replace(cfg, resume=True)
    assert training_scenes(resumed) == (train, val)
    moved = tmp_path / "moved"
    shutil.copytree(scene_folder, moved)  # the same maps, moved: fine
    assert [p.name for p in training_scenes(replace(resumed, data=str(moved)))[0]] == [p.name for p in train]
    (moved / "extra.hdr").write_bytes((scene_folder / "scene0.hdr").read_bytes())
    assert "--data gives other training scenes than the run" in _refusal(replace(resumed, data=str(moved)))
    assert _refusal(replace(resumed, overwrite=True)).startswith("--resume and --overwrite")
    (out / "inc-last.pt").rename(out / "inc-best.pt")
    torch.save({"config": asdict(cfg)}, out / "dec-last.pt")
    assert "holds inc-best.pt but no inc-last.pt" in _refusal(replace(resumed, direction="both"))
    assert "inside the radiance maps' folder" in _refusal(replace(cfg, out=str(scene_folder / "run")))


def test_a_folder_given_twice_or_through_a_link_gives_each_scene_once(scene_folder, tmp_path):
    from cevr_cli.training.scenes import find_radiance_maps, split_scenes

    link = tmp_path / "link"
    link.symlink_to(scene_folder)
    once = split_scenes(find_radiance_maps([scene_folder]))
    for folders in ([scene_folder, link], [scene_folder, f"{scene_folder}/"]):
        train, val = split_scenes(find_radiance_maps(folders))
        assert [p.name for p in train] == [p.name for p in once[0]]
        assert [p.name for p in val] == [p.name for p in once[1]]


@pytest.mark.parametrize(("name", "shipped"), [("cevr-paper", "cevr-synthetic.safetensors"),
                                               ("cevr", "cevr-residual.safetensors")])
def test_init_by_a_model_name_starts_from_the_shipped_pair_wherever_it_is_installed(tmp_path, scene_folder, name,
                                                                                    shipped):
    from cevr_cli.assets import package_file
    from cevr_cli.errors import UsageError
    from cevr_cli.training.loop import with_shipped_init

    cfg = TrainConfig(data=str(scene_folder), out=str(tmp_path / "ft"), direction="inc", variant="cevr-tiny",
                      epochs=1, samples_per_epoch=4, crop=32, val_size=32, init=name)
    assert with_shipped_init(cfg).init == str(package_file("weights", shipped))
    with pytest.raises(UsageError, match=rf"^--init {package_file('weights', shipped)}: its variant \(cevr"):
        run_training(cfg)  # the shipped pair was read (its variant is not the tiny one asked for)
    assert with_shipped_init(TrainConfig(init="physics")).init == "physics"  # no weights: left to say so


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


def test_a_ctrl_c_mid_epoch_saves_that_iteration_and_the_resume_ends_where_an_unstopped_run_ends(tmp_path,
                                                                                                 scene_folder):
    """Only -best.pt was on disk after an early Ctrl-C (no -last.pt before --checkpoint-every), so neither
    --resume nor a new run could go on; the time limit's resume skipped the rest of the epoch."""
    common = dict(data=str(scene_folder), direction="inc", variant="cevr-tiny", epochs=2, samples_per_epoch=16,
                  batch_size=2, crop=32, val_size=32, val_cameras=1, checkpoint_every=1000, device="cpu")
    whole = run_training(TrainConfig(out=str(tmp_path / "whole"), **common))
    assert whole.iterations == {"inc": 16}

    def ctrl_c_at_iteration_11(kind, payload):
        if kind == "iteration" and payload["iteration"] == 11:  # mid-way through the second epoch
            os.kill(os.getpid(), signal.SIGINT)  # held until this step ends

    stopped = TrainConfig(out=str(tmp_path / "stopped"), **common)
    with pytest.raises(KeyboardInterrupt):
        run_training(stopped, on_event=ctrl_c_at_iteration_11)
    state = torch.load(tmp_path / "stopped" / "inc-last.pt", weights_only=False)
    assert (state["epoch"], state["samples_done"], state["iteration"]) == (1, 6, 11)  # 3 batches of 2 into epoch 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler in force again
    resumed = run_training(TrainConfig(**{**stopped.__dict__, "resume": True}))
    assert resumed.iterations == {"inc": 16} and resumed.epochs == {"inc": 2}
    for name, tensor in _weights(tmp_path / "whole" / "inc-last.pt").items():
        torch.testing.assert_close(_weights(tmp_path / "stopped" / "inc-last.pt")[name], tensor, msg=name)


def test_a_run_stopped_before_any_resumable_checkpoint_says_how_to_start_again(tmp_path, scene_folder):
    from cevr_cli.errors import UsageError

    out = tmp_path / "run"
    out.mkdir()
    torch.save({"model": {}, "epoch": 0}, out / "inc-best.pt")  # all a SIGKILLed first epoch leaves
    cfg = TrainConfig(data=str(scene_folder), out=str(out), direction="inc", variant="cevr-tiny", epochs=1,
                      samples_per_epoch=4, crop=32, val_size=32)
    with pytest.raises(UsageError, match=r"holds inc-best\.pt but no inc-last\.pt: the run stopped before its first "
                                         r"resumable checkpoint; --overwrite starts it again there$"):
        run_training(TrainConfig(**{**cfg.__dict__, "resume": True}))
    with pytest.raises(UsageError, match=r"earlier run's files \(inc-best\.pt\): --overwrite to start again"):
        run_training(cfg)  # no --resume offered: there is nothing to resume


def test_the_other_direction_may_join_a_pair_fine_tuned_into_the_same_folder(tmp_path, scene_folder):
    from cevr_cli.model import new_pair, save_pair

    initial = tmp_path / "initial.safetensors"
    save_pair(new_pair(get_config("cevr-tiny"), seed=5), initial)
    common = dict(data=str(scene_folder), out=str(tmp_path / "ft"), variant="cevr-tiny", epochs=1, samples_per_epoch=2,
                  batch_size=2, crop=32, val_size=32, val_cameras=1, device="cpu", init=str(initial))
    assert run_training(TrainConfig(direction="inc", **common)).weights is not None  # the pair, dec from --init
    assert run_training(TrainConfig(direction="dec", **common)).weights is not None  # was refused: pair there


def test_a_kept_weights_pair_is_not_replaced_without_overwrite(tmp_path, scene_folder):
    from cevr_cli.errors import UsageError

    out = tmp_path / "run"
    out.mkdir()
    (out / "cevr-pair.safetensors").write_bytes(b"the weights of a week's training")
    cfg = TrainConfig(data=str(scene_folder), out=str(out), direction="inc", variant="cevr-tiny", epochs=1,
                      samples_per_epoch=4, crop=32, val_size=32)
    with pytest.raises(UsageError, match=r"earlier run's files \(cevr-pair\.safetensors\): --overwrite"):
        run_training(cfg)
    assert (out / "cevr-pair.safetensors").read_bytes() == b"the weights of a week's training"


def test_the_other_direction_trained_into_the_same_folder_must_be_of_its_variant_and_scenes(tmp_path, scene_folder):
    from cevr_cli.errors import UsageError

    common = dict(data=str(scene_folder), out=str(tmp_path / "run"), epochs=1, samples_per_epoch=2, batch_size=2,
                  crop=32, val_size=32, val_cameras=1, device="cpu")
    run_training(TrainConfig(direction="inc", variant="cevr-tiny", **common))
    with pytest.raises(UsageError, match=r"holds the inc model of a --variant cevr-tiny run; the pair needs one "
                                         r"variant: train this direction with --variant cevr-tiny"):
        run_training(TrainConfig(direction="dec", variant="cevr-residual-tiny", **common))
    fewer = tmp_path / "fewer"
    fewer.mkdir()
    for scene in sorted(scene_folder.iterdir())[:-1]:
        (fewer / scene.name).symlink_to(scene)
    with pytest.raises(UsageError, match=r"^--data gives other (training|validation) scenes than the run in .*its "
                                         r"inc model learnt from those"):
        run_training(TrainConfig(direction="dec", variant="cevr-tiny", **{**common, "data": str(fewer)}))
    pair = run_training(TrainConfig(direction="dec", variant="cevr-tiny", **common)).weights
    assert pair is not None and load_pair(pair).config.variant == "cevr-tiny"


def test_training_in_time_limited_chunks_runs_every_iteration_asked_for(tmp_path, scene_folder):
    """Each resume after --max-minutes began the next epoch: 3 epochs of 20 iterations ran 7 in all."""
    common = dict(data=str(scene_folder), direction="inc", variant="cevr-tiny", epochs=2, samples_per_epoch=6,
                  batch_size=2, crop=32, val_size=32, val_cameras=1, device="cpu")
    whole = run_training(TrainConfig(out=str(tmp_path / "whole"), **common))
    chunks = TrainConfig(out=str(tmp_path / "chunks"), max_minutes=1e-6, **common)  # stops after each step
    result = run_training(chunks)
    runs = 1
    while result.iterations["inc"] < 6 and runs < 10:
        result = run_training(TrainConfig(**{**chunks.__dict__, "resume": True}))
        runs += 1
    assert result.iterations == whole.iterations == {"inc": 6} and runs == 6
    for kept in ("inc-last.pt", "inc-best.pt"):  # a chunk that ends mid-epoch is not validated: one best
        for name, tensor in _weights(tmp_path / "whole" / kept).items():
            torch.testing.assert_close(_weights(tmp_path / "chunks" / kept)[name], tensor, msg=f"{kept} {name}")
    assert [(h.epoch, h.iteration) for h in result.history] == [(h.epoch, h.iteration) for h in whole.history]


@pytest.mark.parametrize("when", ["the epoch's last step", "the last epoch's validation"])
def test_a_stop_at_an_epochs_end_is_saved_and_resumes(tmp_path, scene_folder, when):
    """A Ctrl-C in the last step marked the epoch done unvalidated (the resume then lacked -best.pt); one during
    the last validation was lost (the run went on to train the other direction)."""
    cfg = TrainConfig(data=str(scene_folder), out=str(tmp_path / "run"), direction="both", variant="cevr-tiny",
                      epochs=2, samples_per_epoch=4, batch_size=2, crop=32, val_size=32, val_cameras=1, device="cpu")

    def ctrl_c(kind, payload):
        if (when == "the epoch's last step" and kind == "iteration" and payload["iteration"] == 2) or (
                when != "the epoch's last step" and kind == "epoch" and payload["epoch"] == 1):
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        run_training(cfg, on_event=ctrl_c)
    assert not (tmp_path / "run" / "dec-last.pt").exists()  # stopped within inc
    state = torch.load(tmp_path / "run" / "inc-last.pt", weights_only=False)
    assert (state["epoch"], state["samples_done"]) == ((0, 4) if when == "the epoch's last step" else (2, 0))
    resumed = run_training(TrainConfig(**{**cfg.__dict__, "resume": True}))
    assert resumed.epochs == {"inc": 2, "dec": 2} and resumed.weights is not None


def test_an_epochs_samples_split_as_distributed_sampler_splits_them_and_a_resume_takes_the_rest_once():
    from torch.utils.data import DistributedSampler

    from cevr_cli.training.distributed import Rank
    from cevr_cli.training.loop import epoch_indices

    for world in (1, 2, 3):
        for rank in range(world):
            expected = list(DistributedSampler(range(10), num_replicas=world, rank=rank, shuffle=False))
            assert epoch_indices(10, 0, Rank(rank, world)) == expected
    # 6 of 16 samples trained by one process; resumed by two: each rest sample once, and as many steps each
    shares = [epoch_indices(16, 6, Rank(rank, 2)) for rank in range(2)]
    assert sorted(shares[0] + shares[1]) == list(range(6, 16)) and len(shares[0]) == len(shares[1])
    # 5 samples on 2 ranks, 4 trained: the last step as the whole epoch's, padded with its first sample
    whole = [list(DistributedSampler(range(5), num_replicas=2, rank=rank, shuffle=False))[2:] for rank in range(2)]
    assert [epoch_indices(5, 4, Rank(rank, 2)) for rank in range(2)] == whole == [[4], [0]]
    assert epoch_indices(5, 5, Rank(0, 2)) == []  # all trained, the validation left


@contextmanager
def _long_training(scene_folder: Path, out: Path, *args: str) -> Iterator[subprocess.Popen]:
    """A `cevr train` process (its own process group) of 50 long epochs, yielded once its first checkpoint is on
    disk; killed with its group if the test leaves it running, so that a failed test leaves no training behind."""
    process = subprocess.Popen(
        [sys.executable, "-m", "cevr_cli", "train", "--data", str(scene_folder), "-o", str(out), "--variant",
         "cevr-tiny", "--crop", "32", "--val-size", "32", "--val-cameras", "1", "--batch-size", "2",
         "--samples-per-epoch", "400", "--epochs", "50", "--device", "cpu", "--checkpoint-every", "1", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "inc-last.pt").is_file():
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()[1]
            time.sleep(0.1)  # training (and its data workers): a checkpoint a step
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()


@pytest.mark.slow  # a training process, stopped the way timeout(1) and job schedulers stop one
@pytest.mark.parametrize(("signum", "code", "said"), [(2, 130, "interrupted"), (15, 143, "terminated")])
def test_a_signal_to_the_whole_process_group_stops_training_with_a_checkpoint_not_a_traceback(tmp_path, scene_folder,
                                                                                            signum, code, said):
    """The data workers died of the group's SIGTERM first: a 68-line DataLoader traceback, exit 1."""
    out = tmp_path / "run"
    with _long_training(scene_folder, out, "--workers", "2", "-q") as process:
        first = torch.load(out / "inc-last.pt", weights_only=False)["iteration"]
        os.killpg(process.pid, signum)
        _, stderr = process.communicate(timeout=120)
    assert process.returncode == code, stderr
    assert stderr.strip().splitlines() == [f"{said}: finished outputs are kept; add --resume to the same command to "
                                           "continue from the last checkpoint"]
    assert torch.load(out / "inc-last.pt", weights_only=False)["iteration"] >= first


@pytest.mark.slow  # a training process
def test_an_interrupted_json_run_says_where_it_can_resume(tmp_path, scene_folder):
    out = tmp_path / "run"
    with _long_training(scene_folder, out, "--json") as process:
        os.kill(process.pid, signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert json.loads(stdout) == {"interrupted": True, "out": str(out), "resumable": ["inc-last.pt"]}


def test_a_resume_with_another_nproc_keeps_every_step_loss_of_the_epoch():
    """Checkpointed mid-epoch by 2 ranks (losses [1, 2] and [6]); the epoch's loss is the mean of all 3 steps
    however many ranks resume: 3.0, not rank 0's own 1.5, nor NaN for a rank that has taken no step."""
    from cevr_cli.training.distributed import Rank
    from cevr_cli.training.loop import _epoch_loss, _resumed_losses

    checkpointed = [[1.0, 2.0], [6.0]]
    alone = _resumed_losses(checkpointed, Rank(0, 1))
    assert alone == [1.0, 2.0, 6.0] and _epoch_loss(alone, Rank(0, 1)) == 3.0
    three = [_resumed_losses(checkpointed, Rank(r, 3)) for r in range(3)]
    assert three == [[1.0, 2.0], [6.0], []]  # what rank.gather pools on each: mean 3.0
    assert _resumed_losses(checkpointed, Rank(0, 2)) == [1.0, 2.0]


def test_a_resume_with_other_steps_an_epoch_keeps_the_schedules_restarts_on_epochs():
    """--nproc 2 for one epoch, then --resume with 1: the cosine period stayed in the old steps (T_0 2, not 4)."""
    from cevr_cli.training.loop import _rescale_schedule

    def schedule(steps_an_epoch):
        optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        return torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=1 * steps_an_epoch, T_mult=2)

    old = schedule(2)
    for _ in range(3):  # one epoch and a half of 2 steps: into the second, doubled cycle
        old.step()
    _rescale_schedule(old, 2, 4)
    fresh = schedule(4)
    for _ in range(6):  # the same point, counted in 4 steps an epoch
        fresh.step()
    assert (old.T_0, old.T_i, old.T_cur) == (fresh.T_0, fresh.T_i, fresh.T_cur) == (4, 8, 2)
    old.step()  # and the learning rate follows from the next step on
    fresh.step()
    assert old.get_last_lr() == pytest.approx(fresh.get_last_lr())


def test_a_run_whose_loss_turns_nan_stops_in_one_line_and_saves_no_nan_weights(tmp_path, scene_folder, monkeypatch):
    """--lr 1 (allowed) made the loss NaN from the first step; the run went on, validated NaN, wrote no best checkpoint
    and ended with exit 0, 'none yet (stopped within the first epoch)' and, under --json, NaN (not JSON)."""
    from cevr_cli.errors import CevrError
    from cevr_cli.training import loop

    real_step, steps = loop.train_step, []

    def diverging(*args, **kwargs):
        loss, parts = real_step(*args, **kwargs)
        steps.append(loss)
        return (float("nan") if len(steps) >= 2 else loss), parts

    monkeypatch.setattr(loop, "train_step", diverging)
    cfg = TrainConfig(data=str(scene_folder), out=str(tmp_path / "run"), direction="inc", variant="cevr-tiny",
                      epochs=3, samples_per_epoch=4, batch_size=2, crop=32, val_size=32, val_cameras=1,
                      checkpoint_every=1, device="cpu")
    with pytest.raises(CevrError, match=r"^inc training diverged at epoch 1, step 2: its loss is not a number "
                                         r"\(--lr 0\.0002 too high\? the paper's is 2e-4\); .*inc-last\.pt from "
                                         r"before it is kept$"):
        run_training(cfg)
    assert len(steps) == 2  # stopped at once
    state = torch.load(tmp_path / "run" / "inc-last.pt", weights_only=False)
    assert state["iteration"] == 1 and state["samples_done"] == 2  # the checkpoint before it, kept
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
