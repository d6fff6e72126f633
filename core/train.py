"""`python -m core.train`: the old spelling of `python -m core.training`, kept for bookmarks and scripts."""

import sys

from core.training.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
