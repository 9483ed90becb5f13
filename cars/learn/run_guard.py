"""The run folder's guards: what a run checks so that nothing is lost and nothing half-made stays behind.

- `start_or_undo`: a new run that fails to start (an error, Ctrl-C, too little memory) removes what it
  made: its files, its run folder and any parent folders it created, so a retry starts clean.
- `check_run_folder`: before creating a run folder, a file in its place or an unwritable parent is one line.
- `require_finite`: nothing non-finite is ever written (a NaN champion or checkpoint would be unreadable,
  and the last finite state on disk would be replaced by it).
- `check_learner_arrays`: a checkpoint's learner arrays must match the learner the run's config builds.
"""

from __future__ import annotations

import errno
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from engine.atomic import ensure_writable
from cars.learn.run_files import RunError

RUN_FILES = ("config.toml", "seed.txt", "history.csv", "checkpoint.npz", "champion.npz", "history.png", ".lock")


def _missing_folders(folder: Path) -> list[Path]:
    """`folder` and its ancestors that do not exist yet, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


@contextmanager
def start_or_undo(save_dir: Path, lock: Any) -> Iterator[None]:
    """Around the start of a new run: on any failure (Ctrl-C too), remove the run files written meanwhile
    and the folders created for them (only if they are empty then), release the lock, re-raise."""
    created = _missing_folders(Path(save_dir))
    existed = {name for name in RUN_FILES if (Path(save_dir) / name).exists()}
    try:
        yield
    except BaseException:
        if lock.held:  # else the files belong to the process that holds the folder
            ours = [name for name in RUN_FILES if name not in existed and (name != ".lock" or created)]
            for name in ours:
                (Path(save_dir) / name).unlink(missing_ok=True)
        lock.release()
        for folder in created:
            try:
                folder.rmdir()
            except OSError:  # not empty (someone else's files) or already gone: leave it
                break
        raise


def check_run_folder(save_dir: Path) -> None:
    """One line before anything is made when the run folder cannot be made or written."""
    save_dir = Path(save_dir)
    if save_dir.exists() and not save_dir.is_dir():
        raise RunError(f"{save_dir}: exists and is not a folder (choose another --save-dir)")
    try:
        ensure_writable(save_dir / "checkpoint.npz")
    except OSError as e:
        where = e.filename if e.errno != errno.ENOTDIR else save_dir
        raise RunError(f"{save_dir}: cannot write the run folder ({os.fspath(where)}: {e.strerror or e})") from None


def require_finite(arrays: Mapping[str, np.ndarray | None], save_dir: Path, generation: int) -> None:
    """RunError if an array holds NaN or infinity: the brains diverged, and the files keep the last finite state."""
    for name, array in arrays.items():
        if array is not None and np.asarray(array).dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise RunError(f"{save_dir}: generation {generation + 1}: the learner's {name} became non-finite (the "
                           f"brains diverged; is a setting such as a mutation sigma, noise sigma or learning rate "
                           f"far too large?); the run folder keeps the last finite state")


def check_learner_arrays(arrays: Mapping[str, np.ndarray], expected: Mapping[str, np.ndarray], genome_size: int,
                         path: Path) -> None:
    """The checkpoint's `learner.*` arrays have the names, shapes and kinds of the learner's own state, and
    its champion is one genome."""
    found = {name.partition(".")[2]: a for name, a in arrays.items() if name.startswith("learner.")}
    missing = sorted(set(expected) - set(found))
    if missing:
        raise RunError(f"{path}: damaged checkpoint (no learner.{missing[0]} array)")
    for name, want in expected.items():
        have, want = found[name], np.asarray(want)
        if have.shape != want.shape:
            raise RunError(f"{path}: damaged checkpoint (learner.{name} has shape {have.shape}, the run's learner "
                           f"needs {want.shape})")
        if have.dtype.kind not in ("f", "i", "u") or (want.dtype.kind == "f") != (have.dtype.kind == "f"):
            raise RunError(f"{path}: damaged checkpoint (learner.{name} holds {have.dtype} numbers, the run's "
                           f"learner needs {want.dtype})")
    champion = arrays.get("champion")
    if champion is not None and (champion.shape != (genome_size,) or champion.dtype.kind != "f"):
        raise RunError(f"{path}: damaged checkpoint (the champion has shape {champion.shape} of {champion.dtype}, "
                       f"a brain of this run has {genome_size} weights)")
