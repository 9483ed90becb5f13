"""``digit-draw`` (``python -m vision.draw``): a pygame window where the MLP and the CNN read your handwriting
live, and show how. The only part of ``vision`` that imports pygame (an import-linter contract checks it):
``frame`` (window, loop, screenshots), ``canvas`` (the drawing, numpy), ``panels`` and ``view`` (what is shown),
``app`` (state and keys), ``cli`` (flags, models, errors).
"""

import os

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # no pygame banner on stdout before our own output
