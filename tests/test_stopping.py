"""cevr_cli.stopping: which signals a section (a training step, a batch summary, ray.init) holds until it ends."""

import os
import signal

import pytest

from cevr_cli.stopping import StopRequests


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


def test_hold_every_holds_a_second_stop_and_a_callers_own_handler_and_lets_each_act_on_leaving():
    """ray.init cut by a second Ctrl-C, or by a caller's SIGTERM handler run at once, left Ray's agents running."""
    seen = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))  # carries on: SIGINT next
    try:
        stops = StopRequests(hold_every=True)
        with pytest.raises(KeyboardInterrupt), stops:
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C: held too
            assert seen == [] and not stops.delivering
        assert seen == [signal.SIGTERM] and stops.delivering
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_stop_held_from_elsewhere_acts_as_the_handler_before_and_none_after_a_failure():
    """Ray's own SIGTERM handler ends ray.init by sys.exit(15): held, it acts as the caller's handler would."""

    class Terminated(KeyboardInterrupt):
        pass

    def on_sigterm(signum, frame):
        raise Terminated

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        with pytest.raises(Terminated), StopRequests(hold_every=True) as stops:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # as Ray puts in its own: replaced on leaving
            stops.hold(signal.SIGTERM)
        assert signal.getsignal(signal.SIGTERM) is on_sigterm
        with pytest.raises(ValueError), StopRequests(hold_every=True) as stops:  # the section failed: that is told
            os.kill(os.getpid(), signal.SIGINT)
            raise ValueError
        assert not stops.delivering
    finally:
        signal.signal(signal.SIGTERM, previous)
