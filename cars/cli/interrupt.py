"""Ctrl-C for every `cars` command, handled here and nowhere else.

    with loading():                 # the CLI's heavy imports: Ctrl-C here -> one line, exit 130
        import numpy ...
    with handling():                # main(): the command runs inside
        try:
            work()                  # the first Ctrl-C raises KeyboardInterrupt here
        except KeyboardInterrupt:
            pass
        with deferred():            # saving and reporting: a Ctrl-C now is only remembered
            save(); report()
        status = EXIT_INTERRUPTED if pressed() else 0

Why this shape: a Ctrl-C is wanted to stop the work at once, but never to cut the saving short that
follows it (every file is written atomically, so it would stay valid anyway, but the report and the
--json summary would be lost, and a second press would print a traceback). So only the first press
raises, and only outside `deferred()` blocks; every later press is counted and ignored. A
KeyboardInterrupt that reaches main becomes one line and exit status 130 (`report`).
"""

from __future__ import annotations

import signal
import sys
from contextlib import contextmanager
from typing import Any, Iterator

EXIT_INTERRUPTED = 130


class _State:
    installed = False
    presses = 0  # Ctrl-C presses seen since handling() began
    raised = False  # whether a press has already been turned into KeyboardInterrupt
    defer_depth = 0


_state = _State()


def _on_sigint(signum: int, frame: Any) -> None:
    _state.presses += 1
    if not _state.raised and _state.defer_depth == 0:
        _state.raised = True
        raise KeyboardInterrupt


def pressed() -> bool:
    """Whether Ctrl-C was pressed since the command started (raised or remembered)."""
    return _state.presses > 0


@contextmanager
def handling() -> Iterator[None]:
    """Install the handler for the duration of a command (restored after, so in-process callers such
    as tests keep their own Ctrl-C). Outside the main thread signals cannot be handled: no-op."""
    try:
        previous = signal.signal(signal.SIGINT, _on_sigint)
    except ValueError:  # not the main thread
        yield
        return
    saved = (_state.installed, _state.presses, _state.raised, _state.defer_depth)
    _state.installed, _state.presses, _state.raised, _state.defer_depth = True, 0, False, 0
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _state.installed, _state.presses, _state.raised, _state.defer_depth = saved


@contextmanager
def deferred() -> Iterator[None]:
    """A block that Ctrl-C does not interrupt (saving, reporting): presses are only counted; check
    `pressed()` afterwards."""
    _state.defer_depth += 1
    try:
        yield
    finally:
        _state.defer_depth -= 1


@contextmanager
def loading() -> Iterator[None]:
    """Around the command line's imports: Ctrl-C while Python loads numpy and the project's modules
    exits with one line and status 130 (nothing has been written yet)."""
    try:
        yield
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second press must not cut this line short
        report("cars: interrupted while starting; nothing was written")
        raise SystemExit(EXIT_INTERRUPTED) from None


def report(message: str) -> int:
    """Say `message` on stderr in one line; the exit status for an interrupted command."""
    print(message, file=sys.stderr)
    return EXIT_INTERRUPTED
