"""``python -m cevr_cli`` runs the `cevr` command line."""

from .cli import main

main()
