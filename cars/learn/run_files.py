"""The files of a cars run folder: config.toml, history.csv, checkpoint.npz, the champion's metadata, the lock.

Reading and writing only; what goes into them is the run's business. Every file is written
atomically, and every unreadable one gives a one-line RunError or ConfigError naming it.

    config.toml     the resolved configuration the run started with (every setting)
    seed.txt        the seed
    history.csv     one row per generation (or update)
    champion.npz    the best brain of the whole run (engine model file + metadata: config, fitness, generation)
    checkpoint.npz  the learner's state, the random generator's state and the history at the start of the
                    current generation: what --resume continues from
    .lock           held (flock) by the one process writing the folder
"""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from engine.atomic import write_bytes_atomic
from cars.learn.config import Config, ConfigError, config_from_dict, load_config, require_complete

CHECKPOINT_FORMAT = "cars-checkpoint/2"
OLD_CHECKPOINT_FORMATS = ("cars-checkpoint/1",)
CHAMPION_KIND = "cars-champion/1"
RESULT_COLUMNS = ("generation", "best_fitness", "mean_fitness", "median_fitness", "laps", "best_lap_seconds")
TIMING_COLUMNS = ("seconds", "car_steps", "car_steps_per_second", "alive")
STATE_KEYS = ("generation", "rng", "history", "track_names", "genome_size")


class RunError(ValueError):
    """A run folder that cannot be used (one line naming the folder or file and the problem)."""


def history_columns(stats: Iterable[str], live: Iterable[str]) -> tuple[str, ...]:
    """history.csv's columns: results, the learner's statistics, timings, the live settings, the tracks."""
    return (*RESULT_COLUMNS, *stats, *TIMING_COLUMNS, *live, "tracks")


def write_history(path: Path, history: list[dict[str, Any]], columns: tuple[str, ...]) -> Path:
    """history.csv: one row per generation, the given columns (missing values are empty cells)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in history:
        writer.writerow({k: format_cell(row.get(k)) for k in columns})
    write_bytes_atomic(path, buf.getvalue().encode())
    return path


def format_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


# ---- checkpoint -------------------------------------------------------------------------------------

def write_checkpoint(path: Path, arrays: Mapping[str, np.ndarray], state: dict[str, Any]) -> Path:
    """checkpoint.npz: named arrays plus the JSON state (format CHECKPOINT_FORMAT)."""
    buf = io.BytesIO()
    np.savez(buf, state=np.array(json.dumps({"format": CHECKPOINT_FORMAT, **state})), **arrays)
    write_bytes_atomic(path, buf.getvalue())
    return path


def read_checkpoint(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(arrays, state) of a checkpoint, validated: a readable zip of finite arrays, a known format, the
    keys every checkpoint has. A format-1 checkpoint (before learners) comes back as format 2."""
    if not path.is_file():
        raise RunError(f"{path.parent}: no checkpoint.npz to resume from")
    if not is_zip(path):
        raise RunError(f"{path}: not a readable checkpoint (not a zip archive: overwritten or not a checkpoint)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile) as e:
        raise RunError(f"{path}: not a readable checkpoint ({first_line(e)})") from None
    try:
        state = json.loads(str(arrays.pop("state")))
    except (KeyError, ValueError):
        raise RunError(f"{path}: not a cars checkpoint (no readable state)") from None
    found = state.get("format") if isinstance(state, dict) else None
    if found in OLD_CHECKPOINT_FORMATS:
        arrays, state = _upgrade_format_1(arrays, state, path)
    elif found != CHECKPOINT_FORMAT:
        raise RunError(f"{path}: not a cars checkpoint (format {found!r})")
    missing = [key for key in STATE_KEYS if key not in state]
    if missing:
        raise RunError(f"{path}: damaged checkpoint (its state lacks {', '.join(missing)})")
    for name, array in arrays.items():
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise RunError(f"{path}: damaged checkpoint ({name} holds non-finite numbers)")
    from cars.learn.checkpoint_state import check_state  # (it imports RunError from here)

    check_state(state, path)
    return arrays, state


def _upgrade_format_1(arrays: dict[str, np.ndarray], state: dict[str, Any], path: Path) -> tuple[dict, dict]:
    """Format 1 (GA only): genomes + champion arrays; params (next generation) / gen_params (now) dicts."""
    if "genomes" not in arrays:
        raise RunError(f"{path}: damaged checkpoint (no genomes)")
    arrays = {"learner.genomes": arrays["genomes"], **({"champion": arrays["champion"]} if "champion" in arrays
                                                       else {})}
    live = {key: f"evolution.{key}" for key in ("mutation_rate", "mutation_sigma", "elitism", "population")}
    state = dict(state)
    state["live_now"] = {live[k]: v for k, v in (state.pop("gen_params", None) or {}).items() if k in live}
    state["live_next"] = {live[k]: v for k, v in (state.pop("params", None) or {}).items() if k in live}
    state["learner"] = {"elites": state["live_now"].get("evolution.elitism", 0) if state.get("generation") else 0}
    best = state.get("best_fitness")
    state["best"] = None if best is None else {"fitness": best, "generation": len(state.get("history", [])) - 1,
                                               "tracks": state.get("champion_tracks", [])}
    return arrays, state


def is_zip(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(2) == b"PK"
    except OSError as e:
        raise RunError(f"{path}: cannot read ({e.strerror or e})") from None


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


# ---- configs ------------------------------------------------------------------------------------------

def load_run_config(save_dir: str | os.PathLike) -> Config:
    """The resolved config.toml of a run folder; it must list every setting (never a silent default)."""
    path = Path(save_dir) / "config.toml"
    if Path(save_dir).exists() and not Path(save_dir).is_dir():
        raise RunError(f"{save_dir}: is a file, not a run folder")
    if not Path(save_dir).is_dir():
        raise RunError(f"{save_dir}: no such run folder")
    if not path.is_file():
        raise RunError(f"{save_dir}: not a run folder (no config.toml)")
    return load_config(path, complete=True)


def champion_config(metadata: Any, source: str) -> Config:
    """The Config stored in a champion file's metadata (complete, like a run folder's)."""
    if not isinstance(metadata, dict) or metadata.get("kind", CHAMPION_KIND) != CHAMPION_KIND:
        raise ConfigError(f"{source}: not a cars champion (its metadata is not a champion's)")
    data = metadata.get("config")
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: not a cars champion (its metadata has no config table)")
    require_complete(data, source)
    return config_from_dict(data, source)


# ---- one writer per run folder ------------------------------------------------------------------------

class RunLock:
    """An exclusive lock on a run folder for as long as a run writes it.

    The lock is an flock on `.lock` in the folder: the operating system releases it when the process
    ends, however it ends, so a stale lock of a dead process never blocks a new run. The file holds the
    holder's process id, for the message.
    """

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / ".lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock, as before
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunError(f"{self.path.parent}: in use by process {holder} (one run writes a folder at a time)") \
                from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    __del__ = release  # a run object that is dropped without close() frees its folder too
