"""``python -m cevr_cli`` and the ``cevr`` console script run the `cevr` command line."""

import signal
import sys

# No other import here: until main() handles SIGTERM, a SIGTERM kills the process without a word (json: imported
# where it is used).


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a job scheduler, a container stopping): handled as Ctrl-C is, so that the input in the
    making removes its partial output and the run says what happened."""


def stop_label_and_code(terminated: bool) -> tuple[str, int]:
    """How a stop is told, the label of its line and the exit code, as shells report the signal: SIGTERM's
    ``terminated``, 143, Ctrl-C's ``interrupted``, 130."""
    return ("terminated", 143) if terminated else ("interrupted", 130)


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def main() -> None:
    """The `cevr` command. A Ctrl-C or SIGTERM while the command line's modules load (typer, rich, the commands: the
    first 0.2-0.5 s of every run) ended in a KeyboardInterrupt traceback, killed by SIGINT, or killed by SIGTERM with
    nothing said: it is said in one line, exit 130 or 143 (with ``--json`` also an object on stdout), as
    :func:`cevr_cli.cli.main` says a stop before a command's own handler took over. The modules are imported here,
    not at this module's top, which a spawned worker process imports as its parent's main.

    Once the command has said everything, the SIGTERM handling found at the start is put back: a SIGTERM while Python
    tears down (joins its threads, runs its atexit callbacks) met this handler, a "Terminated" traceback and exit 0.
    (Before this function runs, in the interpreter's own start, nothing of cevr can handle it.)"""
    previous = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, _terminate)  # until cli.main puts in the command line's own
        from .cli import main as command_line
    except KeyboardInterrupt as exc:
        label, code = stop_label_and_code(isinstance(exc, Terminated))
        print(f"{label}: stopped before any work", file=sys.stderr)
        if json_in_line():
            import json

            print(json.dumps({"exit_code": code, "interrupted": True}))
        sys.exit(code)
    try:
        command_line()
    finally:
        signal.signal(signal.SIGTERM, previous)


def json_in_line() -> bool:
    """Whether the command line holds ``--json`` before any ``--`` (after it, an argument): read from the line itself
    where no parser has read it yet (here, and for the refusals :func:`cevr_cli.cli.main` meets first)."""
    args = sys.argv[1:]
    return "--json" in (args[:args.index("--")] if "--" in args else args)


if __name__ == "__main__":  # not when a spawned worker process imports this module as its parent's main
    main()
