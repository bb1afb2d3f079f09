"""``python -m cevr_cli`` and the ``cevr`` console script run the `cevr` command line."""

import json
import sys


def main() -> None:
    """The `cevr` command. A Ctrl-C while the command line's modules load (typer, rich, the commands: the first
    0.2-0.5 s of every run) ended in a KeyboardInterrupt traceback, killed by SIGINT: it is said in one line, exit
    130 (with ``--json`` also an object on stdout), as :func:`cevr_cli.cli.main` says a stop before a command's own
    handler took over. The modules are imported here, not at this module's top, which a spawned worker process
    imports as its parent's main."""
    try:
        from .cli import main as command_line
    except KeyboardInterrupt:
        print("interrupted: stopped before any work", file=sys.stderr)
        if json_in_line():
            print(json.dumps({"exit_code": 130, "interrupted": True}))
        sys.exit(130)
    command_line()


def json_in_line() -> bool:
    """Whether the command line holds ``--json`` before any ``--`` (after it, an argument): read from the line itself
    where no parser has read it yet (here, and for the refusals :func:`cevr_cli.cli.main` meets first)."""
    args = sys.argv[1:]
    return "--json" in (args[:args.index("--")] if "--" in args else args)


if __name__ == "__main__":  # not when a spawned worker process imports this module as its parent's main
    main()
