"""Ctrl-C that waits for a piece of work to finish: the one place vision handles SIGINT itself.

Inside ``deferred_interrupt()`` a Ctrl-C (SIGINT, pressed once or many times) is noted instead of raised;
when the block ends, one ``KeyboardInterrupt`` is raised. The digit benchmark evaluates and saves a trained
model, and writes its report, inside such blocks, so an interrupt can never leave a model without its
report or a report without its model.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Run the block to its end even if Ctrl-C is pressed; then raise ``KeyboardInterrupt`` if it was.

    Only the main thread can own signal handlers; elsewhere the block runs unprotected.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed: list[int] = []

    def note(signum: int, frame: object) -> None:
        pressed.append(signum)

    previous = signal.signal(signal.SIGINT, note)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pressed:
        raise KeyboardInterrupt
