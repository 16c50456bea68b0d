"""``python -m audioquant`` runs the command line."""

from audioquant.cli import run

run()
