"""RunFolder: what every run shares, whatever learns in it: the run folder's life cycle.

A run is a folder (cars.learn.run_files) written by one process at a time. This base class starts one
(every file written atomically; a start that fails or is interrupted leaves nothing behind), keeps the
settings in force (`config`) and those of the next round (`next_config`, changed by live tweaks),
keeps the champion (the best brain of the whole run, with its fitness and round), takes a snapshot of
the state at the start of every round, saves it as checkpoint.npz beside history.csv and champion.npz,
and resumes from it exactly. The two kinds of run add how they learn:

    EvolutionRun (cars.learn.run)        a population learner's generations (GA, ES, CMA-ES)
    PolicyRun    (cars.learn.policy_run) a policy-gradient learner's updates (PPO, REINFORCE)

A subclass sets up its learner in `_setup(config)`, starts its first round in `_begin()`, and says what
its checkpoint holds beyond the common state (`_learner_state()` / `_restore(arrays, state, path)`), how
many rounds the run has (`total_generations`), how the champion's genome becomes a brain
(`_champion_model()`) and how a finished round is logged (`_log_row(row)`); it counts a round's car-steps
in `_car_steps` and books the finished round with `_close_round(row)`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

import engine
from engine.atomic import write_bytes_atomic
from cars.learn.config import Config, ConfigError, apply_overrides, get_setting, replace_setting
from cars.learn.run_files import CHAMPION_KIND, RunError, RunLock, read_checkpoint, write_checkpoint, write_history
from cars.learn.run_guard import check_run_folder, require_finite, start_or_undo
from cars.sim.track import Track, find_track_file, load_track, shipped_track_names

GENERATED_SEEDS = 1_000_000  # training tracks use seeds below this; benchmarks test on seeds above it


class RunFolder:
    """The run-folder life cycle shared by every run; see the module docstring."""

    unit = "generation"  # what one round of learning is called (PolicyRun: "update")

    def __init__(self, config: Config, save_dir: str | os.PathLike, *, resume: bool = False,
                 log: Callable[[str], None] | None = print) -> None:
        self.save_dir = Path(save_dir)
        self.log = log or (lambda line: None)
        self.lock = RunLock(self.save_dir)
        self._track_cache: dict[str, Track] = {}
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None  # fitness, generation, tracks of the champion
        self.champion_genome: np.ndarray | None = None
        self.first_lap_generation: int | None = None
        self.first_lap_car_steps: int | None = None
        self.total_car_steps = 0
        if resume:
            self._resume(config)
        else:
            self._start_fresh(with_absolute_track_paths(config))
        self._begin()

    # ---- what a subclass provides -------------------------------------------------------------------

    def _setup(self, config: Config) -> None:
        """Build the learner for `config` (sets config, next_config, rng, live, columns, genome_size)."""
        raise NotImplementedError

    def _begin(self) -> None:
        """Start the current round (its tracks, its cars)."""
        raise NotImplementedError

    def _log_row(self, row: dict[str, Any]) -> None:
        """Report a finished round (one line to `log`)."""
        raise NotImplementedError

    @property
    def total_generations(self) -> int:
        raise NotImplementedError

    def _learner_state(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
        """(arrays that must be finite, other arrays, JSON state) the checkpoint holds for the learner."""
        raise NotImplementedError

    def _restore(self, arrays: dict[str, np.ndarray], state: dict[str, Any], path: Path) -> None:
        """Load _learner_state() back (raise ValueError/KeyError/TypeError for a damaged checkpoint)."""
        raise NotImplementedError

    def _champion_model(self) -> engine.Module:
        """An engine model the champion's genome fits (engine.set_genome)."""
        raise NotImplementedError

    champion_notes: dict[str, Any] = {}  # extra metadata of the champion file

    # ---- starting -----------------------------------------------------------------------------------

    def _refuse_a_started_run(self) -> None:
        if (self.save_dir / "checkpoint.npz").exists():
            raise RunError(f"{self.save_dir}: already holds a run (checkpoint.npz); continue it with "
                           f"--resume {self.save_dir} or choose another --save-dir")

    def _start_fresh(self, config: Config) -> None:
        self._refuse_a_started_run()
        self.track_names = list(config.track.names)
        for name in self.track_names:
            self._track(name)  # fail now, with the track's own message, rather than mid-run
        with start_or_undo(self.save_dir, self.lock):  # a start that fails (or Ctrl-C) leaves no folder behind
            check_run_folder(self.save_dir)
            try:
                self.save_dir.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise RunError(f"{self.save_dir}: cannot create the run folder ({e.strerror or e})") from None
            self.lock.acquire()
            if (self.save_dir / "checkpoint.npz").exists():  # another process started here before we locked:
                self.lock.release()  # released first, so the undo leaves that run's files alone
                self._refuse_a_started_run()
            self._setup(config)
            self.generation = 0
            write_bytes_atomic(self.save_dir / "config.toml", config.to_toml(comments=True).encode())
            write_bytes_atomic(self.save_dir / "seed.txt", f"{config.seed}\n".encode())
            self._snapshot()
            self._write_checkpoint()

    def _track(self, spec: str) -> Track:
        """A track by name or path, or "generated:<seed>" (cached: runs revisit their tracks)."""
        if spec not in self._track_cache:
            if spec.startswith("generated:"):
                from cars.sim.trackgen import generate_track
                self._track_cache[spec] = generate_track(int(spec.partition(":")[2]))
            else:
                self._track_cache[spec] = load_track(spec)
        return self._track_cache[spec]

    # ---- the rounds ---------------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        budget = self.config.algorithm.car_steps
        return self.generation >= self.total_generations or (budget > 0 and self.total_car_steps >= budget)

    @property
    def best_fitness(self) -> float:
        return self.best["fitness"] if self.best is not None else float("-inf")

    def _keep_champion(self, genome: np.ndarray, fitness: float, tracks: list[Track]) -> None:
        """`genome` becomes the champion if it scored better than every brain before it."""
        if self.best is None or fitness > self.best["fitness"]:
            self.champion_genome = np.array(genome, dtype=np.float32, copy=True)
            self.best = {"fitness": float(fitness), "generation": self.generation, "tracks": [t.name for t in tracks]}

    def _live_values(self, config: Config) -> dict[str, Any]:
        """The live settings' values in `config`, by their short names (history.csv's columns)."""
        return {name.partition(".")[2]: get_setting(config, name) for name in self.live}

    def _eta(self, done: int) -> str:
        """Time left after `done` of total_generations rounds, from the mean round so far."""
        spent = sum(r["seconds"] for r in self.history)
        return format_seconds(spent / max(len(self.history), 1) * (self.total_generations - done))

    # ---- live settings ------------------------------------------------------------------------------

    def set_setting(self, name: str, value: Any) -> None:
        """Change a live setting of the learner (e.g. "evolution.mutation_rate") from the next round on.
        Raises ConfigError for a setting that is not live or an invalid value."""
        if name not in self.live:
            raise ConfigError(f"live tweak: {name!r} cannot change during a run (live: {', '.join(self.live)})")
        self.next_config = replace_setting(self.next_config, name, value)

    @staticmethod
    def _with_changes(config: Config, changes: dict[str, Any]) -> Config:
        return apply_overrides(config, changes, "schedule") if changes else config

    def next_track(self) -> str:
        """Train on the next shipped track (alphabetical, wrapping) instead of the first configured
        track, from the next round on. Returns its name."""
        names = shipped_track_names()
        current = Path(self.track_names[0]).stem.lower() if self.track_names else ""
        following = names[(names.index(current) + 1) % len(names)] if current in names else names[0]
        self._track(following)
        self.track_names = [following] + self.track_names[1:]
        return following

    # ---- files --------------------------------------------------------------------------------------

    def _close_round(self, row: dict[str, Any]) -> dict[str, Any]:
        """Book a finished generation (or update): its history row, the counters, the files, the log line; then
        start the next round. Returns the row."""
        self.history.append(row)
        self.total_car_steps += self._car_steps
        self.generation += 1
        self._snapshot()
        self.save()
        self._log_row(row)
        self._begin()
        return row

    def _snapshot(self) -> None:
        """Remember the state at the start of this round: what a checkpoint must hold."""
        finite, other, learner_state = self._learner_state()
        arrays = {name: np.array(a, copy=True) for name, a in finite.items()}
        if self.champion_genome is not None:
            arrays["champion"] = self.champion_genome.copy()
        require_finite(arrays, self.save_dir, self.generation)  # the last finite checkpoint stays on disk
        arrays.update(other)
        self._snap_arrays = arrays
        self._snap_state = {
            "algorithm": self.config.algorithm.name, "generation": self.generation,
            "rng": self.rng.bit_generator.state, **learner_state,
            "live_now": {name: get_setting(self.config, name) for name in self.live},
            "live_next": {name: get_setting(self.next_config, name) for name in self.live},
            "history": [dict(r) for r in self.history], "track_names": list(self.track_names),
            "best": None if self.best is None else dict(self.best),
            "first_lap_generation": self.first_lap_generation, "first_lap_car_steps": self.first_lap_car_steps,
            "total_car_steps": self.total_car_steps, "genome_size": self.genome_size,
        }

    def save(self) -> list[Path]:
        """Write champion.npz (once there is one), history.csv and checkpoint.npz atomically; the paths."""
        written = []
        if self.champion_genome is not None:
            written.append(self.save_champion(self.save_dir / "champion.npz"))
        written.append(write_history(self.save_dir / "history.csv", self.history, self.columns))
        written.append(self._write_checkpoint())
        return written

    def _write_checkpoint(self) -> Path:
        return write_checkpoint(self.save_dir / "checkpoint.npz", self._snap_arrays, self._snap_state)

    def save_champion(self, path: Path) -> Path:
        """The champion as an engine model file whose metadata rebuilds its car: `cars drive` replays it."""
        require_finite({"champion": self.champion_genome}, self.save_dir, self.generation)
        model = self._champion_model()
        engine.set_genome(model, self.champion_genome)
        meta = {"kind": CHAMPION_KIND, "config": self.config.to_dict(), "algorithm": self.config.algorithm.name,
                "generation": self.best["generation"], "fitness": self.best["fitness"], "tracks": self.best["tracks"],
                "inputs": ["ray distances"] * self.config.sensors.rays + ["speed"], "outputs": ["steering", "throttle"],
                **self.champion_notes}
        engine.save(model, path, metadata=meta)
        return path

    def _resume(self, config: Config) -> None:
        """Continue from checkpoint.npz; `config` is the run's own config.toml (with at most the number of
        rounds or the car-step budget changed)."""
        if not self.save_dir.is_dir():
            raise RunError(f"{self.save_dir}: no such run folder")
        self.lock.acquire()
        path = self.save_dir / "checkpoint.npz"
        arrays, state = read_checkpoint(path)
        if state.get("algorithm", "ga") != config.algorithm.name:
            raise RunError(f"{path}: a checkpoint of algorithm {state.get('algorithm', 'ga')}, but the run's config "
                           f"says {config.algorithm.name}")
        try:
            now = self._with_changes(config, state.get("live_now", {}))
            nxt = self._with_changes(config, state.get("live_next", {}))
        except ConfigError as e:
            raise RunError(f"{path}: damaged checkpoint ({e})") from None
        self._setup(now)  # the learner as it is now (e.g. a live-tweaked population): the arrays must match it
        if state["genome_size"] != self.genome_size:
            raise RunError(f"{path}: its brains have {state['genome_size']} weights but the config's brain needs "
                           f"{self.genome_size}; resume with the run's own config.toml")
        self.next_config = nxt
        self.track_names = list(state["track_names"])
        try:
            self._restore(arrays, state, path)
            self.rng.bit_generator.state = state["rng"]
        except RunError:
            raise
        except (ConfigError, KeyError, TypeError, ValueError) as e:
            raise RunError(f"{path}: damaged checkpoint ({f'no {e}' if isinstance(e, KeyError) else e})") from None
        self.generation = int(state["generation"])
        self.history = state["history"]
        self.best = state.get("best")
        self.champion_genome = arrays.get("champion")
        if (self.best is None) != (self.champion_genome is None):
            raise RunError(f"{path}: damaged checkpoint (champion and its record disagree)")
        self.first_lap_generation = state.get("first_lap_generation")
        self.first_lap_car_steps = state.get("first_lap_car_steps")
        self.total_car_steps = int(state.get("total_car_steps", sum(r.get("car_steps", 0) for r in self.history)))
        for name in self.track_names:
            self._track(name)
        self._snapshot()
        self.log(f"resumed {self.save_dir} at {self.unit} {self.generation} "
                 f"({len(self.history)} {self.unit}s in history)")

    def close(self) -> None:
        """Release the run folder (the files stay as last saved)."""
        self.lock.release()


def with_absolute_track_paths(config: Config) -> Config:
    """Track files given by path are stored as absolute paths, so --resume works from any folder."""
    names = [name if name.lower() in shipped_track_names() and not os.path.exists(name)
             else str(find_track_file(name).resolve()) for name in config.track.names]
    return apply_overrides(config, {"track.names": names}, "track paths") if names != list(config.track.names) \
        else config


def format_seconds(seconds: float) -> str:
    seconds = int(round(max(seconds, 0)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
