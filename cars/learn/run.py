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
from the fitness (`tell`) and everything is saved atomically in the run folder (cars.learn.run_folder,
the life cycle every run shares: start, live settings, champion, checkpoint, resume).

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
from cars.learn.brain import build_brain
from cars.learn.config import Config, learner_section, live_settings
from cars.learn.learner import make_learner
from cars.learn.preflight import check_run_fits
from cars.learn.run_files import RunError, history_columns
from cars.learn.run_folder import GENERATED_SEEDS, RunFolder
from cars.learn.run_guard import check_learner_arrays
from cars.sim.progress import BACKWARDS, CRASHED, STALLED
from cars.sim.simulation import Simulation
from cars.sim.track import Track, load_track

class EvolutionRun(RunFolder):
    """The evolution of one run folder. See the module docstring; the window drives it with step()."""

    def __init__(self, config: Config, save_dir: str | os.PathLike, *, resume: bool = False,
                 log: Callable[[str], None] | None = print, evaluator: Any = None) -> None:
        # evaluator.evaluate(tracks, genomes, config) -> cars.scale.sharded.GenerationScores: scores whole
        # generations elsewhere (e.g. shards on Ray actors) instead of stepping a Simulation here
        self.evaluator = evaluator
        self.sim: Simulation | None = None
        super().__init__(config, save_dir, resume=resume, log=log)

    # ---- setup ------------------------------------------------------------------------------------

    def _setup(self, config: Config) -> None:
        self.config = self.next_config = config
        self.model = build_brain(config.brain, config.sensors.rays + 1)
        self.genome_size = engine.genome_size(self.model)
        self.rng = np.random.default_rng(config.seed)
        self.learner = make_learner(config, self.model, self.rng)
        self.live = live_settings(config)
        self.columns = history_columns(self.learner.stats, [name.partition(".")[2] for name in self.live])

    # ---- the generation loop ----------------------------------------------------------------------

    @property
    def total_generations(self) -> int:
        return int(learner_section(self.config).generations)

    @property
    def gold_label(self) -> str:
        """What the window calls the cars drawn gold."""
        return self.learner.gold_label

    @property
    def elites(self) -> int:
        """Cars of the current generation whose genome was carried over unchanged (drawn gold)."""
        return self.learner.elites

    def _begin(self) -> None:
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
        recorded (see cars.scale.sharded), so the run, its files and its resume are the same."""
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
        best = int(np.argmax(fitness))
        self._keep_champion(self.genomes[best], fitness[best], self.tracks)
        if self.first_lap_generation is None and laps.max() >= 1:
            self.first_lap_generation = self.generation
        row = self._history_row(fitness, laps.min(axis=0) if worst else laps.mean(axis=0), done)
        self.config = self.next_config  # the next generation's settings come into force
        row.update(self.learner.tell(fitness, self.config))
        self.next_config = self._with_changes(self.config, self.learner.scheduled_changes(self.config))
        return self._close_round(row)

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
            **self._live_values(self.config),
            "tracks": ";".join(t.name for t in self.tracks),
        }

    def _log_row(self, row: dict[str, Any]) -> None:
        total, done = self.total_generations, row["generation"] + 1
        lap = f"{row['best_lap_seconds']:.2f}s" if row["best_lap_seconds"] is not None else "-"
        size = len(self._fitness[0])
        self.log(f"gen {done:>4}/{total}  best {row['best_fitness']:6.3f}  mean {row['mean_fitness']:6.3f}  "
                 f"laps {row['laps']:g}  best lap {lap}  alive {row['alive']:>4}/{size}  "
                 f"{row['car_steps_per_second'] / 1000:6.0f}k car-steps/s  {row['seconds']:5.1f}s  "
                 f"ETA {self._eta(done)}")

    # ---- brains -----------------------------------------------------------------------------------

    def brain_for(self, car_index: int) -> engine.Module:
        """A standalone engine model with the genome that drives car `car_index` of the current sim."""
        model = build_brain(self.config.brain, self.config.sensors.rays + 1)
        engine.set_genome(model, self.genomes[int(self.sim.genome_index[car_index])])
        return model

    def hud_rows(self) -> list[tuple[str, str]]:
        return self.learner.hud_rows(self.config)

    # ---- checkpoint ---------------------------------------------------------------------------------

    def _learner_state(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
        arrays, learner_state = self.learner.state()
        return {f"learner.{name}": a for name, a in arrays.items()}, {}, {"learner": learner_state}

    def _restore(self, arrays: dict[str, np.ndarray], state: dict[str, Any], path: Path) -> None:
        check_learner_arrays(arrays, self.learner.state()[0], self.genome_size, path)
        self.learner.restore({k.partition(".")[2]: v for k, v in arrays.items() if k.startswith("learner.")},
                             state.get("learner", {}))

    def _champion_model(self) -> engine.Module:
        return build_brain(self.config.brain, self.config.sensors.rays + 1)


def open_run(config: Config, save_dir: str | os.PathLike, *, resume: bool = False,
             log: Callable[[str], None] | None = print, evaluator: Any = None) -> EvolutionRun:
    """The run of the config's learner in `save_dir` (new, or resumed from its checkpoint); `evaluator`
    scores a population learner's generations elsewhere (cars.scale.sharded), with the same result."""
    check_run_fits(config, [load_track(name) for name in config.track.names], str(save_dir))
    from cars.learn.policy_run import POLICY_LEARNERS, PolicyRun  # the gradient learners' update loop

    if config.algorithm.name in POLICY_LEARNERS:
        if evaluator is not None:
            raise RunError(f"{save_dir}: algorithm {config.algorithm.name} learns from gradients, not generations "
                           f"of genomes; it cannot evaluate on shards (run it without --backend ray)")
        return PolicyRun(config, save_dir, resume=resume, log=log)
    return EvolutionRun(config, save_dir, resume=resume, log=log, evaluator=evaluator)
