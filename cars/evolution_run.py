"""EvolutionRun: the generation loop shared by the headless command line and the window.

    run = EvolutionRun(load_config("default"), "runs/demo")
    while not run.finished:
        for row in run.step(1000):       # simulation steps; finished generations come back as rows
            print(row["generation"], row["best_fitness"])

A generation: every genome drives each of the generation's tracks (the config's tracks plus
`track.generated` fresh procedural ones), one Simulation per track run in turn; the per-track
fitnesses are combined (mean or worst); the history row is recorded; the next population is bred
(cars.evolution) and everything is saved atomically in the run folder (cars.run_files reads and writes them):

    config.toml     the resolved configuration          seed.txt      the seed
    history.csv     one row per generation              champion.npz  best brain (engine format + metadata)
    checkpoint.npz  population + random state + history at the start of the current generation

Every random choice comes from one numpy Generator seeded by config.seed, and the checkpoint holds
its state at the start of a generation, so a resumed run repeats exactly what an uninterrupted one does.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

import engine
from engine.atomic import write_bytes_atomic
from cars.brain import build_brain, initial_genomes
from cars.config import Config, ConfigError
from cars.evolution import Operators, diversity, next_generation
from cars.progress import CRASHED, STALLED, BACKWARDS
from cars.run_files import (CHAMPION_KIND, CHECKPOINT_FORMAT, RunError, read_checkpoint, write_checkpoint,
                            write_history)
from cars.simulation import Simulation
from cars.track import Track, load_track, shipped_track_names

LIVE_PARAMS = ("mutation_rate", "mutation_sigma", "elitism", "population")
GENERATED_SEEDS = 1_000_000  # training tracks use seeds below this; benchmarks test on seeds above it


class EvolutionRun:
    """The evolution of one run folder. See the module docstring; the window drives it with step()."""

    def __init__(self, config: Config, save_dir: str | os.PathLike, *, resume: bool = False,
                 log: Callable[[str], None] | None = print) -> None:
        self.config = config
        self.save_dir = Path(save_dir)
        self.log = log or (lambda line: None)
        self.model = build_brain(config.brain, config.sensors.rays + 1)
        self.genome_size = engine.genome_size(self.model)
        self._track_cache: dict[str, Track] = {}
        self.history: list[dict[str, Any]] = []
        self.best_fitness = float("-inf")
        self.champion_genome: np.ndarray | None = None
        self.first_lap_generation: int | None = None
        self.sim: Simulation | None = None
        self._started = time.perf_counter()
        if resume:
            self._load_checkpoint()
        else:
            self._start_fresh()
        self._begin_generation()

    # ---- setup ------------------------------------------------------------------------------------

    def _start_fresh(self) -> None:
        checkpoint = self.save_dir / "checkpoint.npz"
        if checkpoint.exists():
            raise RunError(f"{self.save_dir}: already holds a run (checkpoint.npz); continue it with "
                           f"--resume {self.save_dir} or choose another --save-dir")
        c = self.config
        self.track_names = list(c.track.names)
        for name in self.track_names:
            self._track(name)  # fail now, with the track's own message, rather than mid-run
        try:
            self.save_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RunError(f"{self.save_dir}: cannot create the run folder ({e.strerror or e})") from None
        self.rng = np.random.default_rng(c.seed)
        self.genomes = initial_genomes(self.model, c.evolution.population, self.rng, c.brain.init)
        self.generation = 0
        self.params = {"mutation_rate": c.evolution.mutation_rate, "mutation_sigma": c.evolution.mutation_sigma,
                       "elitism": c.evolution.elitism, "population": c.evolution.population}
        self.gen_params = dict(self.params)
        write_bytes_atomic(self.save_dir / "config.toml", c.to_toml().encode())
        write_bytes_atomic(self.save_dir / "seed.txt", f"{c.seed}\n".encode())
        self._snapshot()
        self._write_checkpoint()

    def _track(self, name: str) -> Track:
        if name not in self._track_cache:
            self._track_cache[name] = load_track(name)
        return self._track_cache[name]

    # ---- the generation loop ----------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.generation >= self.config.evolution.generations

    def _begin_generation(self) -> None:
        """Pick this generation's tracks and start the first simulation."""
        self.tracks: list[Track] = [self._track(name) for name in self.track_names]
        if self.config.track.generated and not self.finished:
            from cars.trackgen import generate_track
            seeds = self.rng.integers(0, GENERATED_SEEDS, size=self.config.track.generated)
            self.tracks += [generate_track(int(s)) for s in seeds]
        p = len(self.genomes)
        self._fitness = np.full((len(self.tracks), p), np.nan)
        self._laps = np.zeros((len(self.tracks), p), dtype=np.int64)
        self._lap_seconds = np.full(len(self.tracks), np.nan)
        self._survivors = np.zeros(len(self.tracks), dtype=np.int64)
        self._track_index = 0
        self._car_steps = 0
        self._gen_started = time.perf_counter()
        if not self.finished:
            self._new_sim()

    def _new_sim(self) -> None:
        self.sim = Simulation(self.tracks[self._track_index], self.config, self.genomes, model=self.model)

    @property
    def track(self) -> Track:
        """The track being driven now."""
        return self.tracks[min(self._track_index, len(self.tracks) - 1)]

    def step(self, n: int = 1) -> list[dict[str, Any]]:
        """Advance up to n simulation steps; returns the history rows of generations finished meanwhile."""
        rows = []
        for _ in range(max(0, int(n))):
            if self.finished:
                break
            sim = self.sim
            self._car_steps += sim.alive_count
            sim.step()
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

    def _finish_generation(self) -> dict[str, Any]:
        done = ~np.isnan(self._fitness[:, 0])
        per_track, laps = self._fitness[done], self._laps[done]
        worst = self.config.fitness.aggregate == "worst"
        fitness = per_track.min(axis=0) if worst else per_track.mean(axis=0)
        genome_laps = laps.min(axis=0) if worst else laps.mean(axis=0)
        seconds = time.perf_counter() - self._gen_started
        best = int(np.argmax(fitness))
        lap_seconds = self._lap_seconds[done]
        row = {
            "generation": self.generation,
            "best_fitness": float(fitness[best]),
            "mean_fitness": float(fitness.mean()),
            "median_fitness": float(np.median(fitness)),
            "laps": float(genome_laps.max()),
            "best_lap_seconds": float(np.nanmin(lap_seconds)) if np.any(~np.isnan(lap_seconds)) else None,
            "diversity": diversity(self.genomes),
            "seconds": seconds,
            "car_steps": int(self._car_steps),
            "car_steps_per_second": self._car_steps / max(seconds, 1e-9),
            "alive": int(self._survivors[done].min()),
            **{key: self.gen_params[key] for key in LIVE_PARAMS},
            "tracks": ";".join(t.name for t in self.tracks),
        }
        self.history.append(row)
        self.champion_genome = self.genomes[best].copy()
        self.best_fitness = row["best_fitness"]
        self.champion_tracks = [t.name for t in self.tracks]
        if self.first_lap_generation is None and laps.max() >= 1:
            self.first_lap_generation = self.generation

        e = self.config.evolution
        ops = Operators(population=self.params["population"], elitism=self.params["elitism"],
                        selection=e.selection, tournament_size=e.tournament_size, truncation=e.truncation,
                        crossover=e.crossover, crossover_rate=e.crossover_rate, blend_alpha=e.blend_alpha,
                        mutation_rate=self.params["mutation_rate"], mutation_sigma=self.params["mutation_sigma"])
        self.genomes = next_generation(self.genomes, fitness, ops, self.rng)
        self.gen_params = dict(self.params)
        self.params["mutation_sigma"] = max(self.params["mutation_sigma"] * e.mutation_decay, e.mutation_sigma_min)
        self.generation += 1
        self._snapshot()
        self.save()
        self._log_row(row)
        self._begin_generation()
        return row

    def _log_row(self, row: dict[str, Any]) -> None:
        total = self.config.evolution.generations
        done = row["generation"] + 1
        spent = sum(r["seconds"] for r in self.history)
        eta = spent / max(len(self.history), 1) * (total - done)
        lap = f"{row['best_lap_seconds']:.2f}s" if row["best_lap_seconds"] is not None else "-"
        self.log(f"gen {done:>4}/{total}  best {row['best_fitness']:6.3f}  mean {row['mean_fitness']:6.3f}  "
                 f"laps {row['laps']:g}  best lap {lap}  alive {row['alive']:>4}/{row['population']}  "
                 f"{row['car_steps_per_second'] / 1000:6.0f}k car-steps/s  {row['seconds']:5.1f}s  "
                 f"ETA {format_seconds(eta)}")

    # ---- live parameters ----------------------------------------------------------------------------

    def set_param(self, name: str, value: float | int) -> None:
        """Change mutation_rate, mutation_sigma, elitism or population from the next generation on.
        Raises ConfigError for an unknown name or an invalid value."""
        if name not in LIVE_PARAMS:
            raise ConfigError(f"set_param: unknown parameter {name!r} (live: {', '.join(LIVE_PARAMS)})")
        p = dict(self.params)
        if name in ("elitism", "population"):
            if isinstance(value, bool) or not float(value).is_integer():
                raise ConfigError(f"set_param: {name} must be an integer, got {value!r}")
            p[name] = int(value)
        else:
            p[name] = float(value)
        if not 0 <= p["mutation_rate"] <= 1:
            raise ConfigError(f"set_param: mutation_rate must be in [0, 1], got {p['mutation_rate']!r}")
        if not (p["mutation_sigma"] >= 0 and np.isfinite(p["mutation_sigma"])):
            raise ConfigError(f"set_param: mutation_sigma must be >= 0, got {p['mutation_sigma']!r}")
        if not 2 <= p["population"] <= 100_000:
            raise ConfigError(f"set_param: population must be between 2 and 100000, got {p['population']!r}")
        if not 0 <= p["elitism"] < p["population"]:
            raise ConfigError(f"set_param: elitism must be between 0 and population - 1 ({p['population'] - 1}), "
                              f"got {p['elitism']!r}")
        self.params = p

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

    # ---- files --------------------------------------------------------------------------------------

    def _snapshot(self) -> None:
        """Remember the state at the start of this generation: what a checkpoint must hold."""
        self._snap = {
            "genomes": self.genomes.copy(),
            "state": {
                "format": CHECKPOINT_FORMAT, "generation": self.generation,
                "rng": self.rng.bit_generator.state, "params": dict(self.params),
                "gen_params": dict(self.gen_params), "history": [dict(r) for r in self.history],
                "track_names": list(self.track_names), "best_fitness": self.best_fitness,
                "first_lap_generation": self.first_lap_generation, "genome_size": self.genome_size,
                "champion_tracks": list(getattr(self, "champion_tracks", [])),
            },
            "champion": None if self.champion_genome is None else self.champion_genome.copy(),
        }

    def save(self) -> list[Path]:
        """Write champion.npz (once a generation is scored), history.csv and checkpoint.npz atomically.
        Returns the paths written."""
        written = []
        if self.champion_genome is not None:
            written.append(self.save_champion(self.save_dir / "champion.npz"))
        written.append(write_history(self.save_dir / "history.csv", self.history))
        written.append(self._write_checkpoint())
        return written

    def save_champion(self, path: Path) -> Path:
        model = build_brain(self.config.brain, self.config.sensors.rays + 1)
        engine.set_genome(model, self.champion_genome)
        meta = {"kind": CHAMPION_KIND, "config": self.config.to_dict(), "generation": len(self.history) - 1,
                "fitness": self.best_fitness, "tracks": getattr(self, "champion_tracks", []),
                "inputs": ["ray distances"] * self.config.sensors.rays + ["speed"], "outputs": ["steering", "throttle"]}
        engine.save(model, path, metadata=meta)
        return path

    def _write_checkpoint(self) -> Path:
        snap = self._snap
        return write_checkpoint(self.save_dir / "checkpoint.npz", snap["genomes"], snap["state"], snap["champion"])

    def _load_checkpoint(self) -> None:
        self.genomes, state, self.champion_genome = read_checkpoint(self.save_dir / "checkpoint.npz",
                                                                    self.genome_size)
        self.rng = np.random.default_rng()
        self.rng.bit_generator.state = state["rng"]
        self.generation = int(state["generation"])
        self.params, self.gen_params = state["params"], state["gen_params"]
        self.history = state["history"]
        self.track_names = state["track_names"]
        self.best_fitness = state["best_fitness"] if state["best_fitness"] is not None else float("-inf")
        self.first_lap_generation = state["first_lap_generation"]
        self.champion_tracks = state.get("champion_tracks", [])
        for name in self.track_names:
            self._track(name)
        self._snapshot()
        self.log(f"resumed {self.save_dir} at generation {self.generation} "
                 f"({len(self.history)} generations in history)")


def format_seconds(seconds: float) -> str:
    seconds = int(round(max(seconds, 0)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
