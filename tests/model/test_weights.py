"""Weights I/O: our safetensors format and the official CEVR checkpoints."""

import json

import pytest
import torch

from cevr_cli.errors import UsageError, WeightsError
from cevr_cli.model import CEVRNet, get_config, load_checkpoint_pair, load_official_pair, load_pair, save_pair
from cevr_cli.model.weights import FORMAT_VERSION


def official_state_dict(c1: int, c2: int, c3: int, hidden: int, seed: int) -> dict[str, torch.Tensor]:
    """A state dict laid out as the official CEVR_NormNoAffine_Maps GN model saves it.

    Key names and shapes are written out from the official layer list (torchvision vgg16_bn feature
    indices; nn.Linear MLPs; 3x3 map convs in decoders 3 and 4; 1x1 heads on [feature, s]).
    """
    g = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}

    def conv(name, cout, cin, k):
        state[f"{name}.weight"] = torch.randn(cout, cin, k, k, generator=g) * 0.1
        state[f"{name}.bias"] = torch.randn(cout, generator=g) * 0.1

    def bn(name, c):
        state[f"{name}.weight"] = torch.rand(c, generator=g) + 0.5
        state[f"{name}.bias"] = torch.randn(c, generator=g) * 0.1
        state[f"{name}.running_mean"] = torch.randn(c, generator=g) * 0.1
        state[f"{name}.running_var"] = torch.rand(c, generator=g) + 0.5
        state[f"{name}.num_batches_tracked"] = torch.tensor(100)

    def linear(name, cout, cin):
        state[f"{name}.weight"] = torch.randn(cout, cin, generator=g) * 0.1
        state[f"{name}.bias"] = torch.randn(cout, generator=g) * 0.1

    vgg = [("encoder1", 0, 3, c1), ("encoder1", 3, c1, c1), ("encoder2", 7, c1, c2), ("encoder2", 10, c2, c2),
           ("encoder3", 14, c2, c3), ("encoder3", 17, c3, c3), ("encoder3", 20, c3, c3)]
    for stage, index, cin, cout in vgg:
        conv(f"{stage}.{index}", cout, cin, 3)
        bn(f"{stage}.{index + 1}", cout)
    linear("neck.mlp.layers.0", hidden, c3 + 1)
    linear("neck.mlp.layers.1", hidden, hidden)
    linear("neck.mlp.layers.2", c3, hidden)
    for name, up, cin, cout, maps in (("decoder3", c3, c3, c3, True), ("decoder4", c3, c2, c2, True),
                                      ("decoder5", c2, c1, c1, False)):
        conv(f"{name}.conv_resize", cin, up, 3)
        linear(f"{name}.mlp1.layers.0", cout, 2 * cin + 1)
        for mlp in ("mlp3", "mlp4"):
            linear(f"{name}.{mlp}.layers.0", cout // 2, cout + 1)
            linear(f"{name}.{mlp}.layers.1", cout // 2, cout // 2)
            linear(f"{name}.{mlp}.layers.2", cout, cout // 2)
        if maps:
            conv(f"{name}.conv_rgb", 1, cout, 3)
            conv(f"{name}.conv_mul", 1, cout, 3)
    conv("conv_rgb", 1, c1 + 1, 1)
    conv("conv_mul", 1, c1 + 1, 1)
    return state


def test_official_layout_has_the_official_parameter_count():
    state = official_state_dict(64, 128, 256, 256, 0)
    params = sum(v.numel() for k, v in state.items() if not k.endswith(("running_mean", "running_var", "tracked")))
    assert params == 3_291_592


def test_official_checkpoints_load_key_for_key(tmp_path):
    inc, dec = official_state_dict(8, 16, 32, 32, 1), official_state_dict(8, 16, 32, 32, 2)
    torch.save(inc, tmp_path / "inc.pth")
    torch.save({f"module.{k}": v for k, v in dec.items()}, tmp_path / "dec.pth")  # DataParallel style
    pair = load_official_pair(tmp_path / "inc.pth", tmp_path / "dec.pth")
    assert pair.config == get_config("cevr-tiny").__class__(encoder_channels=(8, 16, 32), bottleneck_hidden=32)
    for key, value in inc.items():
        torch.testing.assert_close(pair.inc.state_dict()[key], value)
    torch.testing.assert_close(pair.dec.state_dict()["decoder4.conv_mul.weight"], dec["decoder4.conv_mul.weight"])
    # The round trip through our format keeps every tensor.
    save_pair(pair, tmp_path / "pair.safetensors", half=False)
    again = load_pair(tmp_path / "pair.safetensors")
    for key, value in inc.items():
        torch.testing.assert_close(again.inc.state_dict()[key], value)


def test_official_checkpoint_with_a_missing_tensor_is_refused(tmp_path):
    inc = official_state_dict(8, 16, 32, 32, 1)
    del inc["decoder3.conv_mul.weight"]
    torch.save(inc, tmp_path / "inc.pth")
    torch.save(official_state_dict(8, 16, 32, 32, 2), tmp_path / "dec.pth")
    with pytest.raises(WeightsError, match="missing"):
        load_official_pair(tmp_path / "inc.pth", tmp_path / "dec.pth")


def test_safetensors_round_trip_fp16(tmp_path, tiny_pair):
    file_id = save_pair(tiny_pair, tmp_path / "w.safetensors", info={"note": "test"})
    loaded = load_pair(tmp_path / "w.safetensors")
    assert loaded.weights_id == file_id and len(file_id) == 12
    assert loaded.info == {"note": "test"}
    assert loaded.config == tiny_pair.config
    for key, value in tiny_pair.inc.state_dict().items():
        torch.testing.assert_close(loaded.inc.state_dict()[key], value.to(torch.float16).to(value.dtype))


def test_the_same_pair_saved_twice_is_the_same_file_and_id(tmp_path, tiny_pair):
    """safetensors orders the metadata from a hash map; the header is written in sorted order, so two saves give
    the same bytes and id (an output made with one is not redone for the other), and safetensors still reads it."""
    import json

    from safetensors import safe_open

    ids = {save_pair(tiny_pair, tmp_path / f"w{i}.safetensors") for i in range(4)}
    assert len(ids) == 1 and len({(tmp_path / f"w{i}.safetensors").read_bytes() for i in range(4)}) == 1
    raw = (tmp_path / "w0.safetensors").read_bytes()
    length = int.from_bytes(raw[:8], "little")
    assert length % 8 == 0 and list(json.loads(raw[8:8 + length])) == sorted(json.loads(raw[8:8 + length]))
    with safe_open(tmp_path / "w0.safetensors", "pt") as f:
        assert f.metadata()["format_version"] and len(list(f.keys())) == len(tiny_pair.inc.state_dict()) * 2
    loaded = load_pair(tmp_path / "w0.safetensors")
    for name, value in tiny_pair.inc.state_dict().items():
        torch.testing.assert_close(loaded.inc.state_dict()[name], value.half().float() if value.is_floating_point()
                                   else value)


def test_wrong_format_version_is_refused(tmp_path, tiny_pair):
    from safetensors.torch import load_file, save_file

    path = tmp_path / "w.safetensors"
    save_pair(tiny_pair, path)
    metadata = {"format": "cevr-weights", "format_version": str(FORMAT_VERSION + 1),
                "config": json.dumps(tiny_pair.config.to_dict()), "info": "{}"}
    save_file(load_file(str(path)), str(path), metadata=metadata)
    with pytest.raises(WeightsError, match="upgrade cevr"):
        load_pair(path)


def test_config_mismatch_is_refused(tmp_path, tiny_pair):
    from safetensors.torch import load_file, save_file

    path = tmp_path / "w.safetensors"
    save_pair(tiny_pair, path)
    full = get_config("cevr")
    metadata = {"format": "cevr-weights", "format_version": str(FORMAT_VERSION),
                "config": json.dumps(full.to_dict()), "info": "{}"}
    save_file(load_file(str(path)), str(path), metadata=metadata)
    with pytest.raises(WeightsError, match="shape"):
        load_pair(path)


def test_weights_holding_nan_are_refused_naming_the_tensor(tmp_path, tiny_pair):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    path = tmp_path / "w.safetensors"
    save_pair(tiny_pair, path)
    with safe_open(str(path), framework="pt") as fh:
        metadata = fh.metadata()
    tensors = load_file(str(path))
    tensors["dec.decoder3.conv_mul.weight"].view(-1)[:2] = float("nan")
    save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(WeightsError, match=r"\[dec\]: decoder3.conv_mul.weight holds 2 NaN or infinite values"):
        load_pair(path)


@pytest.mark.parametrize("content", [b"", b"not a safetensors file at all"])
def test_unreadable_weights_are_refused(tmp_path, content):
    path = tmp_path / "w.safetensors"
    path.write_bytes(content)
    with pytest.raises(WeightsError):
        load_pair(path)


def test_missing_weights_file_says_what_to_do(tmp_path):
    with pytest.raises(WeightsError, match="--weights"):
        load_pair(tmp_path / "absent.safetensors")


@pytest.mark.parametrize("variant", ["cevr", "cevr-tiny"])
def test_constructor_is_silent_and_offline(capsys, monkeypatch, variant):
    """No download (torchvision's pretrained VGG, a hub) and no output: every way out to the network raises."""
    import socket
    import urllib.request

    def no_network(*args, **kwargs):
        raise AssertionError(f"network access while building the model: {args}")

    for module, name in ((socket, "socket"), (socket, "create_connection"), (socket, "getaddrinfo"),
                         (urllib.request, "urlopen")):
        monkeypatch.setattr(module, name, no_network)
    with pytest.raises(AssertionError, match="network access"):  # the block is in force
        urllib.request.urlopen("https://example.com")
    CEVRNet(get_config(variant))
    assert capsys.readouterr() == ("", "")


def _training_checkpoints(folder, variant: str, *, last: bool = False) -> dict[str, torch.Tensor]:
    """inc/dec checkpoints as cevr_cli/training/loop.py's train_direction writes them: ``<dir>-best.pt`` holds
    {"model", "epoch", "psnr"}; ``<dir>-last.pt`` also the optimizer, scheduler, generator and the run's config."""
    from dataclasses import asdict

    from cevr_cli.training.config import TrainConfig
    from cevr_cli.training.loop import _save_checkpoint

    states = {}
    for seed, direction in enumerate(("inc", "dec")):
        torch.manual_seed(seed)
        model = CEVRNet(get_config(variant))
        states[direction] = model.state_dict()
        if last:
            optimizer = torch.optim.Adam(model.parameters())
            scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=10)
            _save_checkpoint(folder / f"{direction}-last.pt", {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "generator": torch.Generator().get_state(), "epoch": 5,
                "iteration": 60, "best": {"mean_psnr": 30.0, "epoch": 4, "psnr": {1.0: 30.0}}, "history": [],
                "direction": direction, "config": asdict(TrainConfig(variant=variant))})
        else:
            _save_checkpoint(folder / f"{direction}-best.pt", {"model": model.state_dict(), "epoch": 4,
                                                               "psnr": {1.0: 31.5, 2.0: 28.25},
                                                               "direction": direction})
    return states


def test_cevr_training_checkpoints_are_told_apart_from_official_ones(tmp_path):
    _training_checkpoints(tmp_path, "cevr-residual-tiny")
    with pytest.raises(WeightsError, match="inc-best.pt: a cevr training checkpoint .*--variant") as caught:
        load_pair(tmp_path / "inc-best.pt")
    assert "official" not in str(caught.value)
    torch.save(official_state_dict(8, 16, 32, 32, 1), tmp_path / "inc.pth")
    with pytest.raises(WeightsError, match="an official CEVR checkpoint"):
        load_pair(tmp_path / "inc.pth")


def test_training_checkpoints_convert_with_the_variants_role(tmp_path):
    states = _training_checkpoints(tmp_path, "cevr-residual-tiny")
    pair = load_checkpoint_pair(tmp_path / "inc-best.pt", tmp_path / "dec-best.pt", variant="cevr-residual-tiny")
    assert pair.config == get_config("cevr-residual-tiny") and pair.config.role == "residual"
    assert pair.info["source"] == "cevr training checkpoints" and pair.info["inc_epoch"] == 4
    for direction in ("inc", "dec"):
        for key, value in states[direction].items():
            torch.testing.assert_close(getattr(pair, direction).state_dict()[key], value)
    # A -best.pt records no variant: the default "cevr" does not have these shapes, and the error says which do.
    with pytest.raises(WeightsError, match="shapes of cevr-tiny or cevr-residual-tiny, not of --variant cevr"):
        load_checkpoint_pair(tmp_path / "inc-best.pt", tmp_path / "dec-best.pt")


def test_a_last_checkpoint_records_its_variant(tmp_path):
    _training_checkpoints(tmp_path, "cevr-residual-tiny", last=True)
    pair = load_checkpoint_pair(tmp_path / "inc-last.pt", tmp_path / "dec-last.pt")
    assert pair.config.variant == "cevr-residual-tiny" and pair.config.role == "residual"


def test_checkpoints_given_in_the_wrong_order_are_refused(tmp_path):
    """The increase-EV checkpoint comes first: told by what cevr's checkpoints record, else by their path's name
    (cevr's inc-best.pt, the official layout's inc/final_model.pth)."""
    import shutil

    _training_checkpoints(tmp_path, "cevr-residual-tiny", last=True)
    with pytest.raises(WeightsError) as caught:
        load_checkpoint_pair(tmp_path / "dec-last.pt", tmp_path / "inc-last.pt")
    assert str(caught.value) == (f"{tmp_path / 'dec-last.pt'}: a dec checkpoint given as the inc one: the increase-EV "
                                 "(inc) checkpoint comes first, then the decrease-EV (dec) one")
    shutil.copy(tmp_path / "inc-last.pt", tmp_path / "b.pt")  # renamed: what it records still says
    shutil.copy(tmp_path / "dec-last.pt", tmp_path / "a.pt")
    with pytest.raises(WeightsError, match="a.pt: a dec checkpoint given as the inc one"):
        load_checkpoint_pair(tmp_path / "a.pt", tmp_path / "b.pt")
    assert load_checkpoint_pair(tmp_path / "b.pt", tmp_path / "a.pt").config.variant == "cevr-residual-tiny"
    for direction, seed in (("inc", 1), ("dec", 2)):
        (tmp_path / direction).mkdir()
        torch.save(official_state_dict(8, 16, 32, 32, seed), tmp_path / direction / "final_model.pth")
    with pytest.raises(WeightsError, match="dec/final_model.pth: a dec checkpoint given as the inc one"):
        load_official_pair(tmp_path / "dec" / "final_model.pth", tmp_path / "inc" / "final_model.pth")


def test_what_is_not_a_checkpoint_says_what_it_is_in_one_short_line(tmp_path, tiny_pair):
    garbage = tmp_path / "inc.pth"
    garbage.write_bytes(bytes(range(256)) * 4)
    pair_file = tmp_path / "pair.safetensors"
    save_pair(tiny_pair, pair_file)
    for path, message in ((garbage, "not a PyTorch checkpoint that can be read safely ("),
                          (pair_file, "already a cevr weights pair (.safetensors): use it as it is, with --weights"),
                          (tmp_path, "is a folder, not a checkpoint")):
        with pytest.raises(WeightsError) as caught:
            load_checkpoint_pair(path, path)
        text = str(caught.value)
        assert text.startswith(f"{path}: {message}") and "\n" not in text and len(text) < 200
        assert "weights_only=False" not in text


def test_another_networks_state_dict_or_a_damaged_pair_is_not_called_a_cevr_checkpoint_or_pair(tmp_path,
                                                                                                  tiny_pair):
    """A dict of tensors was "an official CEVR checkpoint" (which convert-weights then refused); a truncated
    .safetensors was "already a cevr weights pair" (which --weights then refused)."""
    foreign = tmp_path / "inc.pth"
    torch.save({"a": torch.zeros(3)}, foreign)
    for read in (load_pair, lambda path: load_checkpoint_pair(path, path)):
        with pytest.raises(WeightsError) as caught:
            read(foreign)
        assert str(caught.value) == (f"{foreign}: a PyTorch state dict of another network (no tensor "
                                     "'encoder1.0.weight'), not a CEVR checkpoint")
    pair_file = tmp_path / "pair.safetensors"
    save_pair(tiny_pair, pair_file)
    pair_file.write_bytes(pair_file.read_bytes()[: pair_file.stat().st_size // 2])
    for read in (load_pair, lambda path: load_checkpoint_pair(path, path)):
        with pytest.raises(WeightsError) as caught:
            read(pair_file)
        assert str(caught.value).startswith(f"{pair_file}: not a readable safetensors file (")
        assert str(caught.value).endswith("; use a pair that cevr train or cevr convert-weights wrote, or leave "
                                          "--weights out")


def test_a_pickle_that_is_no_checkpoint_is_refused_without_torchs_warnings(tmp_path, recwarn):
    import pickle

    foreign = tmp_path / "inc.pth"
    foreign.write_bytes(pickle.dumps({"a": 1}, protocol=4))  # torch.load warns about the protocol before refusing
    with pytest.raises(WeightsError, match="inc.pth: not a PyTorch checkpoint that can be read safely"):
        load_checkpoint_pair(foreign, foreign)
    assert not [w for w in recwarn if "pickle protocol" in str(w.message)]


def test_info_that_is_not_json_is_refused_before_anything_is_written(tmp_path, tiny_pair):
    """A value JSON has no form for (a path, a set) raised json's bare TypeError."""
    with pytest.raises(UsageError, match=r"w\.safetensors: the weights' info must be JSON data"):
        save_pair(tiny_pair, tmp_path / "w.safetensors", info={"data": {1, 2}})
    assert not list(tmp_path.iterdir())
