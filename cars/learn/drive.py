"""One champion alone on a track: load a saved brain, rebuild its car and sensors, drive.

    result = drive("runs/x/champion.npz", load_track("hairpins"), laps=2)
    # {"completed_laps": 2, "progress_laps": 2.0, "crashed": False, "steps": 701, "lap_steps": [356, 345], ...}
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

import engine
from engine import ModelFileError

from cars.learn.brain import build_brain
from cars.learn.config import Config
from cars.learn.run_files import champion_config
from cars.sim.progress import CRASHED, STATUS_NAMES
from cars.sim.simulation import Simulation
from cars.sim.track import Track


def load_champion(path: str | os.PathLike) -> tuple[engine.Module, Config, dict[str, Any]]:
    """(brain, config it was evolved with, metadata) of a champion file. Raises ModelFileError/ConfigError."""
    try:
        model, meta = engine.load_with_metadata(path)
    except MemoryError:
        raise ModelFileError(f"{path}: its architecture is too large to build (not a cars champion?)") from None
    config = champion_config(meta, str(path))
    expected = config.sensors.rays + 1
    first = next(iter(model), None) if isinstance(model, engine.Sequential) else None
    if not isinstance(first, engine.Dense) or first.in_features != expected:
        raise ModelFileError(f"{path}: the brain does not take the {expected} inputs its config describes")
    if engine.genome_size(model) != engine.genome_size(build_brain(config.brain, expected)):
        raise ModelFileError(f"{path}: the brain is not the brain.hidden {list(config.brain.hidden)} its config "
                             f"describes")
    if not all(np.all(np.isfinite(p.data)) for p in model.parameters()):
        raise ModelFileError(f"{path}: the brain's weights hold non-finite numbers (NaN or infinity)")
    return model, config, meta


def drive_simulation(champion: str | os.PathLike, track: Track, *, laps: int = 1,
                     max_steps: int | None = None) -> Simulation:
    """A one-car Simulation of the champion on `track`, stopping after `laps` laps (or a crash, a
    stall, driving backwards, or max_steps: by default the config's step limit per lap)."""
    model, config, _ = load_champion(champion)
    laps = max(1, int(laps))
    steps = max_steps if max_steps is not None else config.simulation.max_steps * laps
    return Simulation(track, config, engine.get_genome(model)[None], model=model, max_laps=laps, max_steps=steps)


def summary(sim: Simulation) -> dict[str, Any]:
    """The result of a one-car drive as a JSON-able dict."""
    log = sim.lap_log
    return {
        "track": sim.track.name,
        "completed_laps": int(sim.laps[0]),
        "progress_laps": round(float(sim.progress[0]), 4),
        "crashed": bool(sim.status[0] == CRASHED),
        "status": STATUS_NAMES[int(sim.status[0])],
        "steps": int(sim.steps),
        "seconds": round(sim.steps * sim.dt, 3),
        "lap_steps": log[log[:, 0] == 0, 2].tolist(),
    }


def drive(champion: str | os.PathLike, track: Track, *, laps: int = 1, max_steps: int | None = None) -> dict[str, Any]:
    """Drive the champion headless until it stops; returns summary()."""
    sim = drive_simulation(champion, track, laps=laps, max_steps=max_steps)
    sim.run()
    return summary(sim)
