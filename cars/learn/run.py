"""EvolutionRun: the generation loop shared by the headless command line and the window, for every
population learner (cars.learn.learner: the genetic algorithm, evolution strategies).

    run = EvolutionRun(load_config("default"), "runs/demo")
    while not run.finished:
        for row in run.step(1000):       # simulation steps; finished generations come back as rows
            print(row["generation"], row["best_fitness"])
    run.close()

A generation: the learner's genomes (`ask`) each drive every one of the generation's tracks (the
config's tracks plus `track.generated` fresh procedural ones), one Simulation per track run in turn;
the per-track fitnesses are combined (mean or worst); the history row is recorded; the learner learns
from the fitness (`tell`) and everything is saved atomically in the run folder (cars.learn.run_files).

Settings: `config` holds the settings in force for the generation being driven and `next_config` those
of the next generation. A live tweak (`set_setting`) changes `next_config` (validated like a file);
when a generation ends, `next_config` comes into force. Both are saved in the checkpoint.

The champion is the best genome of the whole run (its fitness and generation are kept with it), so a
later, worse generation never replaces it. Every random choice comes from one numpy Generator seeded
by config.seed, and the checkpoint holds its state at the start of a generation, so a resumed run
repeats exactly what an uninterrupted one does.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

import engine
from engine.atomic import write_bytes_atomic
from cars.learn.brain import build_brain
from cars.learn.config import (Config, ConfigError, apply_overrides, get_setting, learner_section, live_settings,
                               replace_setting)
from cars.learn.learner import make_learner
from cars.learn.preflight import check_run_fits
from cars.learn.run_files import (CHAMPION_KIND, RunError, RunLock, history_columns, read_checkpoint,
                                  write_checkpoint, write_history)
from cars.learn.run_guard import check_learner_arrays, check_run_folder, require_finite, start_or_undo
from cars.sim.progress import BACKWARDS, CRASHED, STALLED
from cars.sim.simulation import Simulation
from cars.sim.track import Track, find_track_file, load_track, shipped_track_names

GENERATED_SEEDS = 1_000_000  # training tracks use seeds below this; benchmarks test on seeds above it


class EvolutionRun:
    """The evolution of one run folder. See the module docstring; the window drives it with step()."""

    def __init__(self, config: Config, save_dir: str | os.PathLike, *, resume: bool = False,
                 log: Callable[[str], None] | None = print, evaluator: Any = None) -> None:
        self.save_dir = Path(save_dir)
        # evaluator.evaluate(tracks, genomes, config) -> cars.learn.sharded.GenerationScores: scores whole
        # generations elsewhere (e.g. shards on Ray actors) instead of stepping a Simulation here
        self.evaluator = evaluator
        self.log = log or (lambda line: None)
        self.lock = RunLock(self.save_dir)
        self._track_cache: dict[str, Track] = {}
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None  # fitness, generation, tracks of the champion
        self.champion_genome: np.ndarray | None = None
        self.first_lap_generation: int | None = None
        self.first_lap_car_steps: int | None = None
        self.total_car_steps = 0
        self.sim: Simulation | None = None
        if resume:
            self._resume(config)
        else:
            self._start_fresh(with_absolute_track_paths(config))
        self._begin_generation()

    # ---- setup ------------------------------------------------------------------------------------

    def _setup(self, config: Config) -> None:
        self.config = self.next_config = config
        self.model = build_brain(config.brain, config.sensors.rays + 1)
        self.genome_size = engine.genome_size(self.model)
        self.rng = np.random.default_rng(config.seed)
        self.learner = make_learner(config, self.model, self.rng)
        self.live = live_settings(config)
        self.columns = history_columns(self.learner.stats, [name.partition(".")[2] for name in self.live])

    def _start_fresh(self, config: Config) -> None:
        if (self.save_dir / "checkpoint.npz").exists():
            raise RunError(f"{self.save_dir}: already holds a run (checkpoint.npz); continue it with "
                           f"--resume {self.save_dir} or choose another --save-dir")
        self.track_names = list(config.track.names)
        for name in self.track_names:
            self._track(name)  # fail now, with the track's own message, rather than mid-run
        with start_or_undo(self.save_dir, self.lock):  # a start that fails (or Ctrl-C) leaves no folder behind
            self._create(config)

    def _create(self, config: Config) -> None:
        check_run_folder(self.save_dir)
        try:
            self.save_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RunError(f"{self.save_dir}: cannot create the run folder ({e.strerror or e})") from None
        self.lock.acquire()
        if (self.save_dir / "checkpoint.npz").exists():  # another process started here before we locked
            self.lock.release()
            raise RunError(f"{self.save_dir}: already holds a run (checkpoint.npz); continue it with "
                           f"--resume {self.save_dir} or choose another --save-dir")
        self._setup(config)
        self.generation = 0
        write_bytes_atomic(self.save_dir / "config.toml", config.to_toml(comments=True).encode())
        write_bytes_atomic(self.save_dir / "seed.txt", f"{config.seed}\n".encode())
        self._snapshot()
        self._write_checkpoint()

    def _track(self, name: str) -> Track:
        if name not in self._track_cache:
            self._track_cache[name] = load_track(name)
        return self._track_cache[name]

    # ---- the generation loop ----------------------------------------------------------------------

    @property
    def total_generations(self) -> int:
        return int(learner_section(self.config).generations)

    @property
    def finished(self) -> bool:
        budget = self.config.algorithm.car_steps
        return self.generation >= self.total_generations or (budget > 0 and self.total_car_steps >= budget)

    @property
    def elites(self) -> int:
        """Cars of the current generation whose genome was carried over unchanged (drawn gold)."""
        return self.learner.elites

    def _begin_generation(self) -> None:
        """Pick this generation's tracks and start the first simulation."""
        self.tracks: list[Track] = [self._track(name) for name in self.track_names]
        if self.config.track.generated and not self.finished:
            from cars.sim.trackgen import generate_track
            seeds = self.rng.integers(0, GENERATED_SEEDS, size=self.config.track.generated)
            self.tracks += [generate_track(int(s)) for s in seeds]
        self.genomes = self.learner.ask()
        p = len(self.genomes)
        self._fitness = np.full((len(self.tracks), p), np.nan)
        self._laps = np.zeros((len(self.tracks), p), dtype=np.int64)
        self._lap_seconds = np.full(len(self.tracks), np.nan)
        self._survivors = np.zeros(len(self.tracks), dtype=np.int64)
        self._track_index = 0
        self._car_steps = 0
        self._gen_started = time.perf_counter()
        if not self.finished and self.evaluator is None:
            self._new_sim()

    def _new_sim(self) -> None:
        self.sim = Simulation(self.tracks[self._track_index], self.config, self.genomes, model=self.model)

    @property
    def track(self) -> Track:
        """The track being driven now."""
        return self.tracks[min(self._track_index, len(self.tracks) - 1)]

    def step(self, n: int = 1) -> list[dict[str, Any]]:
        """Advance up to n simulation steps; returns the history rows of generations finished meanwhile."""
        if self.evaluator is not None:  # a whole generation at a time
            return [self._evaluate_generation()] if n > 0 and not self.finished else []
        rows = []
        for _ in range(max(0, int(n))):
            if self.finished:
                break
            sim = self.sim
            self._car_steps += sim.alive_count
            sim.step()
            if self.first_lap_car_steps is None and self.first_lap_generation is None and sim.any_lap:
                self.first_lap_car_steps = self.total_car_steps + self._car_steps
            if sim.done:
                row = self._finish_track()
                if row is not None:
                    rows.append(row)
        return rows

    def run_generation(self) -> dict[str, Any] | None:
        """Step until the current generation ends; its history row (None if the run is finished)."""
        while not self.finished:
            rows = self.step(1)
            if rows:
                return rows[0]
        return None

    def end_generation_now(self) -> dict[str, Any] | None:
        """Stop every car now and score the generation on the tracks driven so far."""
        if self.finished:
            return None
        self.sim.stop_all()
        self._record_track()
        return self._finish_generation()

    def _record_track(self) -> None:
        sim, t = self.sim, self._track_index
        self._fitness[t] = sim.fitness()
        self._laps[t] = sim.laps
        laps = sim.best_lap_steps[sim.best_lap_steps > 0]
        self._lap_seconds[t] = laps.min() * sim.dt if len(laps) else np.nan
        self._survivors[t] = int(np.sum(~np.isin(sim.status, (CRASHED, STALLED, BACKWARDS))))

    def _finish_track(self) -> dict[str, Any] | None:
        self._record_track()
        if self._track_index + 1 < len(self.tracks):
            self._track_index += 1
            self._new_sim()
            return None
        return self._finish_generation()

    def _evaluate_generation(self) -> dict[str, Any]:
        """Score the generation with the evaluator: it returns what stepping the simulations here would have
        recorded (see cars.learn.sharded), so the run, its files and its resume are the same."""
        scores = self.evaluator.evaluate(self.tracks, self.genomes, self.config)
        self._fitness[:], self._laps[:] = scores.fitness, scores.laps
        self._lap_seconds[:], self._survivors[:] = scores.lap_seconds, scores.survivors
        if self.first_lap_car_steps is None and self.first_lap_generation is None \
                and scores.first_lap_car_steps is not None:
            self.first_lap_car_steps = self.total_car_steps + scores.first_lap_car_steps
        self._car_steps = scores.car_steps
        self._track_index = len(self.tracks) - 1
        return self._finish_generation()

    def _finish_generation(self) -> dict[str, Any]:
        done = np.arange(len(self.tracks)) <= self._track_index  # (not ~isnan: a diverged track is NaN but driven)
        per_track, laps = self._fitness[done], self._laps[done]
        worst = self.config.fitness.aggregate == "worst"
        fitness = per_track.min(axis=0) if worst else per_track.mean(axis=0)
        if not np.all(np.isfinite(fitness)):
            raise RunError(f"{self.save_dir}: generation {self.generation + 1} scored non-finite fitness; the brains "
                           f"diverged (is a setting such as the mutation sigma far too large?)")
        self._keep_champion(fitness)
        if self.first_lap_generation is None and laps.max() >= 1:
            self.first_lap_generation = self.generation
        row = self._history_row(fitness, laps.min(axis=0) if worst else laps.mean(axis=0), done)
        self.config = self.next_config  # the next generation's settings come into force
        row.update(self.learner.tell(fitness, self.config))
        self.next_config = self._with_changes(self.config, self.learner.scheduled_changes(self.config))
        self.history.append(row)
        self.total_car_steps += self._car_steps
        self.generation += 1
        self._snapshot()
        self.save()
        self._log_row(row)
        self._begin_generation()
        return row

    def _keep_champion(self, fitness: np.ndarray) -> None:
        best = int(np.argmax(fitness))
        if self.best is None or fitness[best] > self.best["fitness"]:
            self.champion_genome = self.genomes[best].copy()
            self.best = {"fitness": float(fitness[best]), "generation": self.generation,
                         "tracks": [t.name for t in self.tracks]}

    def _history_row(self, fitness: np.ndarray, genome_laps: np.ndarray, done: np.ndarray) -> dict[str, Any]:
        seconds = time.perf_counter() - self._gen_started
        lap_seconds = self._lap_seconds[done]
        return {
            "generation": self.generation,
            "best_fitness": float(fitness.max()),
            "mean_fitness": float(fitness.mean()),
            "median_fitness": float(np.median(fitness)),
            "laps": float(genome_laps.max()),
            "best_lap_seconds": float(np.nanmin(lap_seconds)) if np.any(~np.isnan(lap_seconds)) else None,
            "seconds": seconds,
            "car_steps": int(self._car_steps),
            "car_steps_per_second": self._car_steps / max(seconds, 1e-9),
            "alive": int(self._survivors[done].min()),
            **{name.partition(".")[2]: get_setting(self.config, name) for name in self.live},
            "tracks": ";".join(t.name for t in self.tracks),
        }

    @property
    def best_fitness(self) -> float:
        return self.best["fitness"] if self.best is not None else float("-inf")

    def _log_row(self, row: dict[str, Any]) -> None:
        total = self.total_generations
        done = row["generation"] + 1
        spent = sum(r["seconds"] for r in self.history)
        eta = spent / max(len(self.history), 1) * (total - done)
        lap = f"{row['best_lap_seconds']:.2f}s" if row["best_lap_seconds"] is not None else "-"
        size = len(self._fitness[0])
        self.log(f"gen {done:>4}/{total}  best {row['best_fitness']:6.3f}  mean {row['mean_fitness']:6.3f}  "
                 f"laps {row['laps']:g}  best lap {lap}  alive {row['alive']:>4}/{size}  "
                 f"{row['car_steps_per_second'] / 1000:6.0f}k car-steps/s  {row['seconds']:5.1f}s  "
                 f"ETA {format_seconds(eta)}")

    # ---- live settings ------------------------------------------------------------------------------

    def set_setting(self, name: str, value: Any) -> None:
        """Change a live setting of the learner (e.g. "evolution.mutation_rate") from the next generation on.
        Raises ConfigError for a setting that is not live or an invalid value."""
        if name not in self.live:
            raise ConfigError(f"live tweak: {name!r} cannot change during a run (live: {', '.join(self.live)})")
        self.next_config = replace_setting(self.next_config, name, value)

    @staticmethod
    def _with_changes(config: Config, changes: dict[str, Any]) -> Config:
        return apply_overrides(config, changes, "schedule") if changes else config

    def next_track(self) -> str:
        """Train on the next shipped track (alphabetical, wrapping) instead of the first configured
        track, from the next generation on. Returns its name."""
        names = shipped_track_names()
        current = Path(self.track_names[0]).stem.lower() if self.track_names else ""
        following = names[(names.index(current) + 1) % len(names)] if current in names else names[0]
        self.track_names = [following] + self.track_names[1:]
        self._track(following)
        return following

    def brain_for(self, car_index: int) -> engine.Module:
        """A standalone engine model with the genome that drives car `car_index` of the current sim."""
        model = build_brain(self.config.brain, self.config.sensors.rays + 1)
        engine.set_genome(model, self.genomes[int(self.sim.genome_index[car_index])])
        return model

    def hud_rows(self) -> list[tuple[str, str]]:
        return self.learner.hud_rows(self.config)

    # ---- files --------------------------------------------------------------------------------------

    def _snapshot(self) -> None:
        """Remember the state at the start of this generation: what a checkpoint must hold."""
        arrays, learner_state = self.learner.state()
        snap_arrays = {f"learner.{name}": np.array(a, copy=True) for name, a in arrays.items()}
        if self.champion_genome is not None:
            snap_arrays["champion"] = self.champion_genome.copy()
        require_finite(snap_arrays, self.save_dir, self.generation)  # the last finite checkpoint stays
        self._snap_arrays = snap_arrays
        self._snap_state = {
            "algorithm": self.config.algorithm.name, "generation": self.generation,
            "rng": self.rng.bit_generator.state, "learner": learner_state,
            "live_now": {name: get_setting(self.config, name) for name in self.live},
            "live_next": {name: get_setting(self.next_config, name) for name in self.live},
            "history": [dict(r) for r in self.history], "track_names": list(self.track_names),
            "best": None if self.best is None else dict(self.best),
            "first_lap_generation": self.first_lap_generation, "first_lap_car_steps": self.first_lap_car_steps,
            "total_car_steps": self.total_car_steps, "genome_size": self.genome_size,
        }

    def save(self) -> list[Path]:
        """Write champion.npz (once a generation is scored), history.csv and checkpoint.npz atomically.
        Returns the paths written."""
        written = []
        if self.champion_genome is not None:
            written.append(self.save_champion(self.save_dir / "champion.npz"))
        written.append(write_history(self.save_dir / "history.csv", self.history, self.columns))
        written.append(self._write_checkpoint())
        return written

    def save_champion(self, path: Path) -> Path:
        require_finite({"champion": self.champion_genome}, self.save_dir, self.generation)
        model = build_brain(self.config.brain, self.config.sensors.rays + 1)
        engine.set_genome(model, self.champion_genome)
        meta = {"kind": CHAMPION_KIND, "config": self.config.to_dict(), "algorithm": self.config.algorithm.name,
                "generation": self.best["generation"], "fitness": self.best["fitness"],
                "tracks": self.best["tracks"], "inputs": ["ray distances"] * self.config.sensors.rays + ["speed"],
                "outputs": ["steering", "throttle"]}
        engine.save(model, path, metadata=meta)
        return path

    def _write_checkpoint(self) -> Path:
        return write_checkpoint(self.save_dir / "checkpoint.npz", self._snap_arrays, self._snap_state)

    def _resume(self, config: Config) -> None:
        """Continue from checkpoint.npz; `config` is the run's own config.toml (with at most the
        generations or the car-step budget changed)."""
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
        except ConfigError as e:
            raise RunError(f"{path}: damaged checkpoint ({e})") from None
        self._setup(now)  # the learner as it is now (e.g. a live-tweaked population): the arrays must match it
        if state["genome_size"] != self.genome_size:
            raise RunError(f"{path}: its brains have {state['genome_size']} weights but the config's brain needs "
                           f"{self.genome_size}; resume with the run's own config.toml")
        check_learner_arrays(arrays, self.learner.state()[0], self.genome_size, path)
        try:
            self.config = now
            self.next_config = self._with_changes(config, state.get("live_next", {}))
            self.rng.bit_generator.state = state["rng"]
            self.learner.restore({k.partition(".")[2]: v for k, v in arrays.items() if k.startswith("learner.")},
                                 state.get("learner", {}))
        except (ConfigError, KeyError, TypeError, ValueError) as e:
            raise RunError(f"{path}: damaged checkpoint ({f'no {e}' if isinstance(e, KeyError) else e})") from None
        self.generation = int(state["generation"])
        self.history = state["history"]
        self.track_names = state["track_names"]
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
        self.log(f"resumed {self.save_dir} at generation {self.generation} "
                 f"({len(self.history)} generations in history)")

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


def open_run(config: Config, save_dir: str | os.PathLike, *, resume: bool = False,
             log: Callable[[str], None] | None = print, evaluator: Any = None) -> EvolutionRun:
    """The run of the config's learner in `save_dir` (new, or resumed from its checkpoint); `evaluator`
    scores a population learner's generations elsewhere (cars.learn.sharded), with the same result."""
    check_run_fits(config, [load_track(name) for name in config.track.names], str(save_dir))
    from cars.learn.policy_run import POLICY_LEARNERS, PolicyRun  # the gradient learners' update loop

    if config.algorithm.name in POLICY_LEARNERS:
        if evaluator is not None:
            raise RunError(f"{save_dir}: algorithm {config.algorithm.name} learns from gradients, not generations "
                           f"of genomes; it cannot evaluate on shards (run it without --backend ray)")
        return PolicyRun(config, save_dir, resume=resume, log=log)
    return EvolutionRun(config, save_dir, resume=resume, log=log, evaluator=evaluator)
