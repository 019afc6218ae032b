"""``python -m landscape run ...``: see :mod:`landscape.publishing.runner`."""

import sys

from .publishing.runner import main

if __name__ == "__main__":
    sys.exit(main())
