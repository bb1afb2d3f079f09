"""Shared fixtures: tiny models and small images made by the tests themselves."""

import signal

import numpy as np
import pytest
import torch

from cevr_cli.cli.common import state
from cevr_cli.model import CEVRNet, ModelPair, get_config

_FRESH_STATE = dict(state)  # as imported, before any test ran a command


def randomised(model: CEVRNet, seed: int) -> CEVRNet:
    """A tiny model with random intensity-map heads (new models start as the identity transform)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for block in (model.decoder3, model.decoder4, model):
            for conv in (block.conv_mul, block.conv_rgb):
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * 0.05)
    return model.eval()


@pytest.fixture(autouse=True)
def ctrl_c_raises_keyboard_interrupt():
    """SIGINT handled as in a terminal, by Python's KeyboardInterrupt, also where the suite runs as a background job
    of a non-interactive shell, which POSIX starts with SIGINT ignored (Python then keeps it ignored). Processes a
    test starts inherit the default too: exec resets a handled signal to it, where an ignored one stays ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(autouse=True)
def fresh_command_line_state():
    """Each test's commands start from the command line's state as a process starts with it: cli.main resets it, but
    CliRunner runs the app without cli.main, so what a test left there (a SIGTERM seen, stdout written) changed the
    next one's ending (a Ctrl-C told as a SIGTERM, exit 143 for 130, where test_main ran before test_commands)."""
    state.update(_FRESH_STATE)


@pytest.fixture(autouse=True)
def no_installed_profiles(tmp_path_factory, monkeypatch):
    """`--response auto` looks for installed camera profiles in the user's config folder: tests see an empty one."""
    monkeypatch.setenv("CEVR_CONFIG_DIR", str(tmp_path_factory.mktemp("config")))


@pytest.fixture(scope="session")
def tiny_pair() -> ModelPair:
    torch.manual_seed(0)
    config = get_config("cevr-tiny")
    pair = ModelPair(randomised(CEVRNet(config), 1), randomised(CEVRNet(config), 2), config, weights_id="tiny-test")
    return pair


@pytest.fixture(scope="session")
def tiny_residual_pair() -> ModelPair:
    """A tiny residual-role pair (``--model cevr``): the darkening model's maps are random, so the network's fill
    is really computed where a photo clipped; the brightening model is the identity (physics only)."""
    torch.manual_seed(0)
    config = get_config("cevr-residual-tiny")
    return ModelPair(CEVRNet(config).eval(), randomised(CEVRNet(config), 3), config, weights_id="tiny-residual")


@pytest.fixture()
def gradient_image() -> np.ndarray:
    """A smooth colour image with some structure, float32 in [0, 1]."""
    h, w = 40, 56
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack([x / w, y / h, 0.5 + 0.4 * np.sin(x / 5.0) * np.cos(y / 7.0)], axis=-1)
    return np.clip(rgb, 0, 1).astype(np.float32)

# Benchmarks are scripts run by hand (they compare against a baseline in the same run), not tests.
collect_ignore = ["benchmarks"]


def refuse_to_list(monkeypatch, folder) -> None:
    """``folder`` as ``chmod 000`` leaves it, also where the tests run as root: it stats, but it cannot be listed
    and nothing in it can be stat'ed (os.listdir, os.scandir, os.stat: what pathlib and os.path use)."""
    import errno
    import os
    from pathlib import Path

    folder = Path(folder).resolve()

    def refuse(real, inside):
        def call(path=".", *args, **kwargs):
            if not isinstance(path, int):
                target = Path(os.path.abspath(os.fsdecode(path)))
                if (target.parent if inside else target) == folder:
                    raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(path))
            return real(path, *args, **kwargs)
        return call

    monkeypatch.setattr(os, "scandir", refuse(os.scandir, False))
    monkeypatch.setattr(os, "listdir", refuse(os.listdir, False))
    monkeypatch.setattr(os, "stat", refuse(os.stat, True))
