"""``python -m vision.draw``: the draw window (see ``vision.draw.cli``)."""

import sys

from vision.draw.cli import main

if __name__ == "__main__":
    sys.exit(main())
