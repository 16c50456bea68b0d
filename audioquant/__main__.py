"""``python -m audioquant`` runs the command line."""

import sys

try:
    from audioquant.cli import run
except KeyboardInterrupt:     # Ctrl-C while the command line itself loads
    sys.stderr.write("error: interrupted\n")
    sys.exit(130)

run()
