"""The files of a cars run folder: history.csv, checkpoint.npz, config.toml and the champion's metadata.

Reading and writing only; what goes into them is `EvolutionRun`'s business. Every file is written
atomically, and every unreadable one gives a one-line RunError or ConfigError naming it.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from engine.atomic import write_bytes_atomic
from cars.config import Config, ConfigError, config_from_dict

CHECKPOINT_FORMAT = "cars-checkpoint/1"
CHAMPION_KIND = "cars-champion/1"
HISTORY_COLUMNS = ("generation", "best_fitness", "mean_fitness", "median_fitness", "laps", "best_lap_seconds",
                   "diversity", "seconds", "car_steps", "car_steps_per_second", "alive", "mutation_rate",
                   "mutation_sigma", "elitism", "population", "tracks")


class RunError(ValueError):
    """A run folder that cannot be used (one line naming the folder and the problem)."""


def write_history(path: Path, history: list[dict[str, Any]]) -> Path:
    """history.csv: one row per generation, the columns of HISTORY_COLUMNS."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HISTORY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: format_cell(row[k]) for k in HISTORY_COLUMNS})
    write_bytes_atomic(path, buf.getvalue().encode())
    return path


def write_checkpoint(path: Path, genomes: np.ndarray, state: dict[str, Any], champion: np.ndarray | None) -> Path:
    """checkpoint.npz: the population (P, G), the JSON state and, once there is one, the champion genome."""
    arrays = {"genomes": genomes, "state": np.array(json.dumps(state))}
    if champion is not None:
        arrays["champion"] = champion
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_bytes_atomic(path, buf.getvalue())
    return path


def read_checkpoint(path: Path, genome_size: int) -> tuple[np.ndarray, dict[str, Any], np.ndarray | None]:
    """(genomes, state, champion or None) of a checkpoint whose brains have `genome_size` weights."""
    if not path.is_file():
        raise RunError(f"{path.parent}: no checkpoint.npz to resume from")
    try:
        with np.load(path, allow_pickle=False) as data:
            genomes = data["genomes"]
            state = json.loads(str(data["state"]))
            champion = data["champion"] if "champion" in data.files else None
    except (OSError, ValueError, KeyError, EOFError) as e:
        raise RunError(f"{path}: not a readable checkpoint ({e})") from None
    found = state.get("format") if isinstance(state, dict) else None
    if found != CHECKPOINT_FORMAT:
        raise RunError(f"{path}: not a cars checkpoint (format {found!r})")
    if state.get("genome_size") != genome_size or genomes.ndim != 2 or genomes.shape[1] != genome_size:
        raise RunError(f"{path}: its brains have {genomes.shape[-1]} weights but the config's brain needs "
                       f"{genome_size}; resume with the run's own config.toml")
    return genomes.astype(np.float32), state, None if champion is None else champion.astype(np.float32)


def load_run_config(save_dir: str | os.PathLike) -> Config:
    """The resolved config.toml of a run folder."""
    from cars.config import load_config

    path = Path(save_dir) / "config.toml"
    if not path.is_file():
        raise RunError(f"{save_dir}: not a run folder (no config.toml)")
    return load_config(path)


def champion_config(metadata: dict[str, Any], source: str) -> Config:
    """The Config stored in a champion file's metadata."""
    if not isinstance(metadata, dict) or "config" not in metadata:
        raise ConfigError(f"{source}: not a cars champion (its metadata has no config)")
    return config_from_dict(metadata["config"], source)


def format_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
