"""``python -m keyglide``: the ``keyglide`` command."""

import sys

from keyglide.cli import main

if __name__ == "__main__":
    sys.exit(main())
