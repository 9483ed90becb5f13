"""Genetic-algorithm operators on a population of weight vectors, all vectorised over the population.

genomes: (P, G) float32; fitness: (P,) float (higher is better); rng: numpy.random.Generator.

One generation (`next_generation`):
  1. elitism: the `elitism` best genomes are copied unchanged to rows 0 .. elitism - 1;
  2. selection picks two parents for every other child (tournament, truncation, rank, roulette);
  3. crossover mixes each pair with probability crossover_rate (uniform, one_point, arithmetic,
     blend), otherwise the child copies its first parent;
  4. mutation adds N(0, sigma^2) noise to each gene of the child with probability mutation_rate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from engine import Module

from cars.learn.brain import initial_genomes

if TYPE_CHECKING:
    from cars.learn.config import Config, EvolutionConfig


def ranking(fitness: np.ndarray) -> np.ndarray:
    """Indices from best to worst; ties keep the lower index first (so elites stay in front)."""
    return np.argsort(-np.asarray(fitness, dtype=np.float64), kind="stable")


def select(fitness: np.ndarray, count: int, method: str, rng: np.random.Generator, *,
           tournament_size: int = 3, truncation: float = 0.2) -> np.ndarray:
    """Indices (count,) of parents drawn from the population by fitness (P,).

    tournament: the fittest of `tournament_size` uniformly drawn individuals (with replacement);
    truncation: uniform among the best ceil(truncation * P);
    rank: P(i) proportional to its rank (worst 1, best P);
    roulette: P(i) proportional to fitness - min(fitness) (uniform if all equal).
    """
    f = np.asarray(fitness, dtype=np.float64)
    p = len(f)
    if method == "tournament":
        entrants = rng.integers(0, p, size=(count, tournament_size))
        return entrants[np.arange(count), np.argmax(f[entrants], axis=1)]
    if method == "truncation":
        top = ranking(f)[:max(1, int(np.ceil(truncation * p)))]
        return top[rng.integers(0, len(top), size=count)]
    if method == "rank":
        ranks = np.empty(p)
        ranks[ranking(f)] = np.arange(p, 0, -1)
        return rng.choice(p, size=count, p=ranks / ranks.sum())
    if method == "roulette":
        weights = f - f.min()
        if weights.sum() <= 0:
            return rng.integers(0, p, size=count)
        return rng.choice(p, size=count, p=weights / weights.sum())
    raise ValueError(f"unknown selection {method!r}")


def crossover(a: np.ndarray, b: np.ndarray, method: str, rate: float, rng: np.random.Generator, *,
              alpha: float = 0.5) -> np.ndarray:
    """Children (N, G) of parent pairs a, b (N, G); each pair is crossed with probability `rate`.

    uniform: each gene from a or b with probability 1/2;
    one_point: genes before a random cut (1 .. G-1) from a, the rest from b;
    arithmetic: child = w a + (1 - w) b with one w ~ U(0, 1) per child;
    blend (BLX-alpha): each gene uniform in [lo - alpha d, hi + alpha d], lo/hi the parents' genes, d = hi - lo;
    none: the child is a copy of a.
    """
    n, g = a.shape
    if method == "none" or n == 0:
        return a.copy()
    if method == "uniform":
        child = np.where(rng.random((n, g)) < 0.5, a, b)
    elif method == "one_point":
        cut = rng.integers(1, max(g, 2), size=n)
        child = np.where(np.arange(g)[None, :] < cut[:, None], a, b)
    elif method == "arithmetic":
        w = rng.random((n, 1)).astype(a.dtype)
        child = w * a + (1 - w) * b
    elif method == "blend":
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        u = rng.uniform(-alpha, 1 + alpha, size=(n, g)).astype(a.dtype)
        child = lo + u * (hi - lo)
    else:
        raise ValueError(f"unknown crossover {method!r}")
    crossed = rng.random(n) < rate
    return np.where(crossed[:, None], child, a).astype(a.dtype)


def mutate(genomes: np.ndarray, rate: float, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """A copy of genomes (N, G) where each gene, with probability `rate`, gains N(0, sigma^2) noise."""
    hit = rng.random(genomes.shape) < rate
    noise = rng.standard_normal(genomes.shape).astype(genomes.dtype) * genomes.dtype.type(sigma)
    return genomes + noise * hit


def next_generation(genomes: np.ndarray, fitness: np.ndarray, ga: EvolutionConfig,
                    rng: np.random.Generator) -> np.ndarray:
    """The next population (ga.population, G): elites first (rows < ga.elitism), then offspring."""
    order = ranking(fitness)
    elites = genomes[order[:ga.elitism]]
    count = ga.population - len(elites)
    kw = dict(tournament_size=min(ga.tournament_size, len(fitness)), truncation=ga.truncation)
    mothers = select(fitness, count, ga.selection, rng, **kw)
    fathers = select(fitness, count, ga.selection, rng, **kw)
    children = crossover(genomes[mothers], genomes[fathers], ga.crossover, ga.crossover_rate, rng,
                         alpha=ga.blend_alpha)
    children = mutate(children, ga.mutation_rate, ga.mutation_sigma, rng)
    return np.concatenate([elites, children]).astype(genomes.dtype)


def diversity(genomes: np.ndarray) -> float:
    """Mean over genes of the population's standard deviation of that gene (0 = all identical)."""
    return float(np.mean(np.std(genomes, axis=0))) if len(genomes) > 1 else 0.0


class GeneticAlgorithm:
    """The GA as a population learner (see cars.learn.learner): ask() gives this generation's genomes,
    tell(fitness, config) breeds the next generation with the settings in force for it."""

    section = "evolution"
    stats = ("diversity",)
    gold_label = "elite"  # what the window calls the cars drawn gold (rows < elites)

    def __init__(self, config: Config, model: Module, rng: np.random.Generator) -> None:
        self.rng = rng
        self.genomes = initial_genomes(model, config.evolution.population, rng, config.brain.init)
        self.elites = 0  # rows of genomes copied unchanged from the last generation

    def ask(self) -> np.ndarray:
        return self.genomes

    def tell(self, fitness: np.ndarray, config: Config) -> dict[str, float]:
        stats = {"diversity": diversity(self.genomes)}
        self.genomes = next_generation(self.genomes, fitness, config.evolution, self.rng)
        self.elites = config.evolution.elitism
        return stats

    def scheduled_changes(self, config: Config) -> dict[str, Any]:
        """Settings the GA itself changes after a generation: the decayed mutation sigma."""
        e = config.evolution
        if e.mutation_decay == 1.0:
            return {}
        return {"evolution.mutation_sigma": max(e.mutation_sigma * e.mutation_decay, e.mutation_sigma_min)}

    def hud_rows(self, config: Config) -> list[tuple[str, str]]:
        e = config.evolution
        tournament = f" (k={e.tournament_size})" if e.selection == "tournament" else ""
        crossover = "none" if e.crossover == "none" else f"{e.crossover} ({e.crossover_rate:g})"
        return [("selection", f"{e.selection}{tournament}"), ("crossover", crossover)]

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {"genomes": self.genomes}, {"elites": self.elites}

    def restore(self, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> None:
        self.genomes = arrays["genomes"].astype(np.float32)
        self.elites = int(state.get("elites", 0))
