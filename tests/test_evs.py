"""parse_evs: the EV lists `--evs` accepts, each checked against a list written out independently."""

import math
import re

import pytest

from cevr_cli.errors import UsageError
from cevr_cli.evs import CONTINUOUS_EVS, CONTINUOUS_STACK, MAX_EVS, PREDEFINED_STACK, check_ev_values, parse_evs


def test_the_papers_continuous_stack_is_13_half_stops():
    assert parse_evs(CONTINUOUS_STACK) == [n / 2 for n in range(-6, 7)]
    assert len(CONTINUOUS_EVS) == 13 and list(CONTINUOUS_EVS) == [n / 2 for n in range(-6, 7)]
    assert parse_evs(PREDEFINED_STACK) == [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0]


def test_the_stop_is_included_despite_float_steps_and_values_are_rounded():
    assert 3 * 0.1 != 0.3  # the float error the range must absorb
    assert parse_evs("0:0.3:0.1") == [0.0, 0.1, 0.2, 0.3]
    assert parse_evs("-1:1:0.1")[-1] == 1.0 and len(parse_evs("-1:1:0.1")) == 21
    assert parse_evs("1,1.0000001,1.0000004") == [1.0]  # rounded to 1e-6, duplicates merged
    assert parse_evs("0.1234567") == [0.123457]
    assert parse_evs("1:1.25:0.5") == [1.0]  # a step past the stop is not taken


def test_comma_lists_are_sorted_and_negative_zero_is_zero():
    assert parse_evs("2,-1,1,-2") == [-2.0, -1.0, 1.0, 2.0]
    (zero,) = parse_evs("-0")
    assert zero == 0.0 and math.copysign(1.0, zero) == 1.0


def test_spaces_around_numbers_are_allowed():
    assert parse_evs(" -2 , 1 ") == [-2.0, 1.0]
    assert parse_evs(" -3 : 3 : 1 ") == parse_evs("-3:3:1")


def test_six_stops_either_way_is_the_limit():
    assert parse_evs("-6:6:1") == [float(n) for n in range(-6, 7)]
    for spec in ("6.5", "-6.000001", "-7:0:1", "0,7"):
        with pytest.raises(UsageError, match=r"beyond \+-6 EV"):
            parse_evs(spec)


def test_at_most_121_images_per_photo():
    assert MAX_EVS == 121
    assert parse_evs("-3:3:0.05") == [round(-3 + n * 0.05, 6) + 0.0 for n in range(121)]
    with pytest.raises(UsageError, match="122 images per photo; at most 121"):
        parse_evs("-3:3.05:0.05")
    with pytest.raises(UsageError, match="122 images per photo"):
        parse_evs(",".join(str(n / 100) for n in range(122)))


@pytest.mark.parametrize(("spec", "count"), [("-3:3:1e-8", "6e\\+08"), ("0:1e300:1e-300", "endless"),
                                           ("-3:3:1e-300", "6e\\+300")])  # the count was printed in 300 digits
def test_a_huge_range_is_refused_before_its_list_is_built(spec, count):
    import tracemalloc

    tracemalloc.start()
    with pytest.raises(UsageError, match=f"asks for {count} images per photo; at most 121"):
        parse_evs(spec)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1 << 20  # a 600-million-entry list would take gigabytes


@pytest.mark.parametrize(("spec", "message"), [
    ("", "empty EV list"), ("   ", "empty EV list"), (",", "holds no numbers"),
    ("a,b", "cannot read EV list"), ("1:2", "cannot read EV list"), ("1:2:3:4", "cannot read EV list"),
    ("3:1:1", "need start <= stop and a positive step"), ("0:1:0", "positive step"), ("0:1:-1", "positive step"),
    ("nan", "non-finite"), ("1,inf", "non-finite"), ("0:inf:1", "non-finite"), ("nan:1:1", "non-finite"),
    ("1,0.999999", "0.999999 and 1 are one EV to 0.01 stop"),
    ("0:0.02:0.005", "0.005 and 0.01 are one EV to 0.01 stop"),
    ("-0.004,0.004", "-0.004 and 0.004 are one EV to 0.01 stop"),  # were labelled ev-0.00 and ev+0.00
    ("1_0", "cannot read EV list '1_0'"),  # Python's float reads 10
])
def test_bad_lists_are_refused_with_a_reason(spec, message):
    with pytest.raises(UsageError, match=message):
        parse_evs(spec)


@pytest.mark.parametrize("spec", ["1,,2", "1,2,", ",1,2", "1, ,2", "1,,"])
def test_an_empty_item_in_a_comma_list_is_a_typo_not_skipped(spec):
    """``1,,2`` was read as ``1,2`` and ``1,2,`` as ``1,2``: a number left out by mistake went unnoticed, where a
    range (``1:2``) is strict. One line naming the list."""
    with pytest.raises(UsageError, match=f"^EV list {re.escape(repr(spec))}: an empty item") as info:
        parse_evs(spec)
    assert "\n" not in str(info.value)


def test_a_long_list_is_not_echoed_whole():
    spec = ",".join(["1"] * 60_000)
    with pytest.raises(UsageError) as info:
        parse_evs(spec)
    assert len(str(info.value)) < 300 and "(119999 characters)" in str(info.value)


def test_labels_are_hundredths_of_a_stop_and_zero_has_one_sign():
    from cevr_cli.evs import ev_label
    from cevr_cli.stackdir import ev_filename

    assert [ev_label(v) for v in (-3, -0.004, 0.0, 0.004, 0.5, 2.999)] == [
        "-3.00", "+0.00", "+0.00", "+0.00", "+0.50", "+3.00"]
    assert ev_filename(0, -0.004, ".png", 13) == "00_ev+0.00.png"


def test_a_library_ev_list_may_be_empty_unless_one_ev_is_needed():
    assert check_ev_values([]) == [] and check_ev_values((2, -1.5)) == [2.0, -1.5]  # in their order
    with pytest.raises(UsageError, match=r"^EV list \[\]: give at least one EV"):
        check_ev_values(iter(()), at_least_one=True)


def test_a_range_whose_start_is_its_stop_is_that_one_ev():
    assert parse_evs("1:1:1") == [1.0]
    assert parse_evs("-2.5:-2.5:0.5") == [-2.5]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -math.inf, 6.01])
def test_a_library_ev_that_is_not_a_finite_step_within_six_stops_is_refused(bad):
    with pytest.raises(UsageError, match=r"is not a finite step within \+-6"):
        check_ev_values([0.5, bad])


def test_ev_steps_are_sorted_and_each_made_once():
    from cevr_cli.evs import ev_steps

    assert ev_steps([1, -1.0, 1.0, 0, -1]) == [-1.0, 0.0, 1.0]


def test_a_stop_just_short_of_a_step_does_not_take_it():
    """The float allowance is 1e-9 of a step, not a rounding: 0:0.9995:0.5 has 1.999 steps, so 1.0 (past the
    stop) is not made."""
    assert parse_evs("0:0.9995:0.5") == [0.0, 0.5]
    assert parse_evs("-1:0.999:1") == [-1.0, 0.0]


def test_six_stops_either_way_is_within_a_library_ev_list():
    assert check_ev_values([6.0, -6.0]) == [6.0, -6.0]


@pytest.mark.parametrize("bad", ["12", b"12", ["a"], [None]])
def test_a_library_ev_list_of_text_or_non_numbers_is_refused(bad):
    """A string was iterated character by character: ``"12"`` became steps 1 and 2."""
    with pytest.raises(UsageError, match="give numbers"):
        check_ev_values(bad)
