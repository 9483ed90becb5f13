"""Output locations, checked before any work starts: one place for the digit benchmark and the draw window.

A flag naming a file to write (``--json``, ``--screenshot``) must be a file path in an existing writable folder;
a run folder (``--out``) is created and a file is actually written in it, so a read-only disk or a path
through a regular file fails at once, in one line, instead of after minutes of training.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path

from vision.errors import UsageError

RUNS_DIR = Path("runs")


def check_writable_file(path: Path, flag: str) -> None:
    """``UsageError`` unless ``path`` can be written as a file: not a folder, in an existing writable folder."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"argument {flag}: {path} is a folder, expected a file path")
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise UsageError(f"argument {flag}: cannot write into {parent} (missing or not writable)")
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"argument {flag}: {path} is not writable")


def remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def new_run_dir_name(prefix: str, runs: Path = RUNS_DIR) -> Path:
    """``runs/<prefix>-<timestamp>``, with ``-2``, ``-3``... appended if that folder exists."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = runs / f"{prefix}-{stamp}"
    suffix = 2
    while out.exists():
        out = runs / f"{prefix}-{stamp}-{suffix}"
        suffix += 1
    return out


def make_run_dir(out: Path, flag: str = "--out") -> bool:
    """Create (or reuse) the run folder ``out`` and prove it writable; returns whether it was created here.

    ``UsageError`` naming ``flag`` if it cannot be written (a folder created here is removed again).
    """
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        if created:
            remove_if_empty(out)
        raise UsageError(f"argument {flag}: cannot write into {out} ({exc.strerror or exc})") from None
    return created
