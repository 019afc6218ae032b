"""Console entry point ``landscape`` (same as ``python -m landscape``)."""

import sys

from .runner import main


def run() -> None:
    sys.exit(main())
