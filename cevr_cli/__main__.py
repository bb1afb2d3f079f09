"""``python -m cevr_cli`` runs the `cevr` command line."""

from .cli import main

if __name__ == "__main__":  # not when a spawned worker process imports this module as its parent's main
    main()
