"""``python -m audioquant`` runs the command line."""

import sys

from audioquant.cli import main

sys.exit(main())
