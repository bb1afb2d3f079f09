"""The error types' shared wording (cevr_cli/errors.py)."""

import pytest
from typer.testing import CliRunner

from cevr_cli.cli import app
from cevr_cli.errors import WorkerError, use_one_of

TMOS = ("reinhard", "reinhard-local", "kimkautz")


@pytest.mark.parametrize(("value", "expected"), [
    ("kim-kautz", "use one of reinhard, reinhard-local, kimkautz (did you mean kimkautz?)"),  # spelled with a hyphen
    ("reinhard_local", "use one of reinhard, reinhard-local, kimkautz (did you mean reinhard-local?)"),
    ("Reinhart", "use one of reinhard, reinhard-local, kimkautz (did you mean reinhard?)"),  # case, one letter
    ("drago", "use one of reinhard, reinhard-local, kimkautz"),  # nothing close: no guess
    ("", "use one of reinhard, reinhard-local, kimkautz"),
    (3, "use one of reinhard, reinhard-local, kimkautz"),  # not a string: the list alone
])
def test_an_unknown_choice_lists_the_choices_and_the_closest_misspelling(value, expected):
    assert use_one_of(value, TMOS) == expected


def test_the_cli_suggests_the_choice_a_misspelt_value_meant(tmp_path):
    result = CliRunner().invoke(app, ["tonemap", str(tmp_path), "--tmo", "kim-kautz"])
    assert result.exit_code == 2
    assert result.output.strip() == ("error: --tmo 'kim-kautz': use one of reinhard, reinhard-local, kimkautz "
                                     "(did you mean kimkautz?)")


def test_a_batch_whose_workers_cannot_run_exits_2_not_the_1_of_failed_inputs():
    """A worker that cannot load its model (CUDA out of memory) stops the batch, with no summary: exit 1 told a script
    that some inputs failed and the rest were made, as the README's exit codes say."""
    import typer

    from cevr_cli.cli.common import errors

    with pytest.raises(typer.Exit) as stopped, errors():
        raise WorkerError("worker process 0 stopped: RuntimeError: CUDA out of memory")
    assert stopped.value.exit_code == 2
