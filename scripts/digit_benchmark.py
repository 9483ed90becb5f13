#!/usr/bin/env python3
"""The digit benchmark: MLP vs CNN on the real MNIST (see ``vision.benchmark``; ``--help`` for flags).

Runs from a checkout without installation: the repository root is put on ``sys.path``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vision.benchmark import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
