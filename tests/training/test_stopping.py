"""cevr_cli.training.stopping: which signals a training run holds until its step ends."""

import os
import signal

import pytest

from cevr_cli.training.stopping import StopRequests


def test_ctrl_c_is_held_until_delivered_and_the_handlers_come_back():
    with StopRequests() as stop:
        os.kill(os.getpid(), signal.SIGINT)  # no KeyboardInterrupt in the middle of a step
        assert stop.requested and stop.signum == signal.SIGINT
        with pytest.raises(KeyboardInterrupt):
            stop.deliver()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_callers_own_handler_runs_at_once_and_the_run_goes_on():
    """deliver() reset SIGTERM to the default and killed the process after such a handler had returned."""
    seen = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        with StopRequests() as stop:
            os.kill(os.getpid(), signal.SIGTERM)
            assert seen == [signal.SIGTERM] and not stop.requested
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_stop_after_the_loops_last_look_is_delivered_on_leaving():
    with pytest.raises(KeyboardInterrupt), StopRequests():
        os.kill(os.getpid(), signal.SIGINT)  # e.g. during the final checkpoint's write
