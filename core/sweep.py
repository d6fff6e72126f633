"""`python -m core.sweep`: the old spelling of `python -m core.sweeps`, kept for bookmarks and scripts."""

import sys

from core.sweeps.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
