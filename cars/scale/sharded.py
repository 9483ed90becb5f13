"""Sharded evaluation of one generation: for populations too big for one process (tens of thousands of
genomes, many tracks per generation).

The generation's genomes (P, G) are cut into contiguous shards; each shard drives every track of the
generation in its own process, and only the numbers the run records come back (per car: fitness, laps,
best lap; per track: survivors, and how many cars were driving before each step). On Ray the shards go to
actors (one CPU each) that keep the tracks they were sent and their road and ray-caster tables warm, so a
generation sends only the genomes and the settings (tracks travel once, through Ray's object store).

    run = open_run(config, "runs/big", evaluator=RayShardedEvaluator(RayConnection(), shards=2))

The result is the run's own, bit for bit: cars never interact (each car's step depends only on its own
state and genome), and the simulation is batch-invariant (no product whose rounding depends on the batch:
tests/test_cars_batch_invariance.py), so a shard's cars drive exactly as in the whole population. The
per-car numbers are concatenated in genome order; the generation's car-steps are the sum of every shard's
"cars driving before step k" counts, and the car-steps until the first lap are those counts summed up to
the first step at which any shard's car completed a lap:

    car_steps_to_first_lap = steps of the earlier tracks + sum_shards sum_{k <= k*} driving_shard[k],
    k* = min over shards of the shard's first lap step (on the first track where any car lapped).
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from engine import Module
from engine.blas import blas_threads
from cars.learn.brain import build_brain
from cars.learn.config import Config
from cars.sim.progress import BACKWARDS, CRASHED, STALLED
from cars.sim.simulation import Simulation
from cars.sim.track import Track


@dataclass
class ShardScores:
    """One shard of n genomes driven on T tracks."""

    fitness: np.ndarray              # (T, n) float64
    laps: np.ndarray                 # (T, n) int64 completed laps
    best_lap_steps: np.ndarray       # (T, n) int64, 0 = no lap
    survivors: np.ndarray            # (T,) cars not crashed, stalled or turned back
    driving: list[np.ndarray]        # per track: (steps,) cars still driving before each step
    first_lap_step: list[int | None]  # per track: the step after which some car had completed a lap


@dataclass
class GenerationScores:
    """What the run records of a generation (see EvolutionRun._evaluate_generation)."""

    fitness: np.ndarray        # (T, P)
    laps: np.ndarray           # (T, P)
    lap_seconds: np.ndarray    # (T,) the best lap on each track, NaN if none
    survivors: np.ndarray      # (T,)
    car_steps: int
    first_lap_car_steps: int | None  # car-steps of this generation until its first lap, None if no lap


def score_shard(tracks: Sequence[Track], config: Config, model: Module, genomes: np.ndarray) -> ShardScores:
    """Drive `genomes` on each track, exactly as the run's own loop steps its Simulation."""
    t, n = len(tracks), len(genomes)
    scores = ShardScores(np.zeros((t, n)), np.zeros((t, n), np.int64), np.zeros((t, n), np.int64),
                         np.zeros(t, np.int64), [], [])
    for i, track in enumerate(tracks):
        sim = Simulation(track, config, genomes, model=model)
        driving, first = [], None
        while not sim.done:
            driving.append(sim.alive_count)
            sim.step()
            if first is None and sim.any_lap:
                first = sim.steps
        scores.fitness[i], scores.laps[i], scores.best_lap_steps[i] = sim.fitness(), sim.laps, sim.best_lap_steps
        scores.survivors[i] = int(np.sum(~np.isin(sim.status, (CRASHED, STALLED, BACKWARDS))))
        scores.driving.append(np.asarray(driving, dtype=np.int64))
        scores.first_lap_step.append(first)
    return scores


def combine(shards: Sequence[ShardScores], dt: float) -> GenerationScores:
    """The whole population's scores from its shards (in genome order)."""
    best_lap = np.concatenate([s.best_lap_steps for s in shards], axis=1)
    lap_seconds = np.array([row[row > 0].min() * dt if np.any(row > 0) else np.nan for row in best_lap])
    first_lap, before = None, 0
    for t in range(len(best_lap)):
        firsts = [s.first_lap_step[t] for s in shards if s.first_lap_step[t] is not None]
        if firsts:
            first_lap = before + sum(int(s.driving[t][:min(firsts)].sum()) for s in shards)
            break
        before += sum(int(s.driving[t].sum()) for s in shards)
    return GenerationScores(
        fitness=np.concatenate([s.fitness for s in shards], axis=1),
        laps=np.concatenate([s.laps for s in shards], axis=1),
        lap_seconds=lap_seconds,
        survivors=np.sum([s.survivors for s in shards], axis=0),
        car_steps=sum(int(d.sum()) for s in shards for d in s.driving),
        first_lap_car_steps=first_lap)


def shard_bounds(population: int, shards: int) -> list[tuple[int, int]]:
    """Contiguous [start, stop) rows of `shards` nearly equal shards (none empty)."""
    edges = np.linspace(0, population, min(max(1, shards), population) + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


class InProcessShards:
    """The shards one after another in this process: the plain reference the Ray evaluator must equal."""

    def __init__(self, shards: int = 2) -> None:
        self.shards = shards

    def describe(self) -> str:
        return f"{self.shards} shards in this process"

    def evaluate(self, tracks: Sequence[Track], genomes: np.ndarray, config: Config) -> GenerationScores:
        model = build_brain(config.brain, config.sensors.rays + 1)
        parts = [score_shard(tracks, config, model, genomes[a:b]) for a, b in shard_bounds(len(genomes), self.shards)]
        return combine(parts, config.simulation.dt)

    def close(self) -> None:
        pass


class ShardWorker:
    """A Ray actor's state: the tracks it was sent (kept by key) and one brain template per brain layout.
    The simulation's road and ray-caster tables are cached per track object (cars.sim.simulation), so
    keeping the same Track objects keeps them warm across generations."""

    TRACKS_KEPT = 32

    def __init__(self) -> None:
        self.tracks: OrderedDict[str, Track] = OrderedDict()
        self.models: dict[tuple, Module] = {}
        self._one_thread = blas_threads(1)  # one core per actor: the shards, not BLAS, spread the work
        self._one_thread.__enter__()

    def evaluate(self, config: Config, tracks: list[tuple[str, Any]], genomes: np.ndarray) -> ShardScores:
        key = (config.brain, config.sensors.rays)
        if key not in self.models:
            self.models[key] = build_brain(config.brain, config.sensors.rays + 1)
        return score_shard([self._track(k, ref) for k, ref in tracks], config, self.models[key], genomes)

    def pid(self) -> int:
        """The actor's process id (to watch its CPU time, or find it on its machine)."""
        import os

        return os.getpid()

    def _track(self, key: str, ref: Any) -> Track:
        if key not in self.tracks:
            import ray

            self.tracks[key] = ray.get(ref)
            while len(self.tracks) > self.TRACKS_KEPT:
                self.tracks.popitem(last=False)
        self.tracks.move_to_end(key)
        return self.tracks[key]


class RayShardedEvaluator:
    """Each generation's shards on Ray actors (one per CPU of the cluster unless `shards` says otherwise).
    An actor that dies is restarted by Ray and its call retried (it fetches its tracks again)."""

    def __init__(self, connection: Any, shards: int | None = None) -> None:
        import ray

        self.connection = connection
        self.shards = max(1, int(shards or connection.cpus))
        actor = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=-1)(ShardWorker)
        self.actors = [actor.options(name=None).remote() for _ in range(self.shards)]
        self._refs: dict[int, tuple[Track, str, Any]] = {}  # id(track) -> (track, key, object ref)
        self._keys = itertools.count()

    def describe(self) -> str:
        return f"{self.shards} shard actors on {self.connection.describe()}"

    def _track_refs(self, tracks: Sequence[Track]) -> list[tuple[str, Any]]:
        import ray

        for track in tracks:
            if id(track) not in self._refs:
                self._refs[id(track)] = (track, f"{track.name}#{next(self._keys)}", ray.put(track))
        wanted = {id(t) for t in tracks}
        self._refs = {k: v for k, v in self._refs.items() if k in wanted}  # generated tracks come and go
        return [self._refs[id(t)][1:] for t in tracks]

    def evaluate(self, tracks: Sequence[Track], genomes: np.ndarray, config: Config) -> GenerationScores:
        import ray

        refs = self._track_refs(tracks)
        bounds = shard_bounds(len(genomes), self.shards)
        calls = [actor.evaluate.remote(config, refs, genomes[a:b]) for actor, (a, b) in zip(self.actors, bounds)]
        return combine(ray.get(calls), config.simulation.dt)

    def close(self) -> None:
        import ray

        for actor in self.actors:
            try:
                ray.kill(actor)
            except Exception:  # the cluster is already gone
                pass
        self.actors = []
        self.connection.close()
