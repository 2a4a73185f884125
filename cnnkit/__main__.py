"""``python -m cnnkit``: the same as the ``cnnkit`` command."""

import sys

from cnnkit.cli import main

if __name__ == "__main__":
    sys.exit(main())
