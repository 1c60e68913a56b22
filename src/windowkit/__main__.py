"""``python -m windowkit demo``: the same as the ``windowkit`` console script."""

import sys

from ._demo import main

if __name__ == "__main__":
    sys.exit(main())
