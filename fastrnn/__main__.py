"""``python -m fastrnn`` and the ``fastrnn`` console script (see :mod:`fastrnn.cli`)."""

import sys

from .cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
