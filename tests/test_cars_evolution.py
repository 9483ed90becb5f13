"""Statistics of each genetic-algorithm operator."""

import numpy as np
import pytest

from cars.learn.config import EvolutionConfig
from cars.learn.algorithms.ga import crossover, diversity, mutate, next_generation, ranking, select


def test_elitism_copies_the_best_unchanged_and_first():
    rng = np.random.default_rng(0)
    genomes = rng.normal(size=(30, 50)).astype(np.float32)
    fitness = rng.uniform(0, 3, 30)
    fitness[7] = fitness[19] = 5.0  # a tie: the lower index comes first
    ops = EvolutionConfig(population=30, elitism=4, mutation_rate=1.0, mutation_sigma=1.0, crossover_rate=1.0)
    nxt = next_generation(genomes, fitness, ops, rng)
    assert nxt.shape == genomes.shape and nxt.dtype == np.float32
    best = np.argsort(-fitness, kind="stable")[:4]
    assert best[0] == 7 and best[1] == 19
    np.testing.assert_array_equal(nxt[:4], genomes[best])
    # nothing else survives unchanged with mutation rate 1
    assert not any(np.array_equal(row, g) for row in nxt[4:] for g in genomes)


def test_population_can_grow_or_shrink_through_next_generation():
    rng = np.random.default_rng(1)
    genomes = rng.normal(size=(10, 5)).astype(np.float32)
    fitness = np.arange(10.0)
    assert next_generation(genomes, fitness, EvolutionConfig(population=25, elitism=2), rng).shape == (25, 5)
    assert next_generation(genomes, fitness, EvolutionConfig(population=4, elitism=3, tournament_size=4), rng).shape == (4, 5)


@pytest.mark.parametrize("rate", [0.02, 0.1, 0.5])
def test_mutation_changes_the_expected_fraction_of_genes_with_sigma(rate):
    rng = np.random.default_rng(2)
    genomes = np.zeros((400, 250), dtype=np.float32)
    out = mutate(genomes, rate, 0.3, rng)
    changed = out != 0
    n = changed.size
    assert abs(changed.mean() - rate) < 5 * np.sqrt(rate * (1 - rate) / n)
    assert abs(out[changed].std() - 0.3) < 0.01
    assert np.all(genomes == 0)  # the input is untouched


def expected_mean_rank(method, p):
    ranks = np.arange(p, dtype=np.float64)  # fitness = index, so the mean index is the mean fitness
    if method == "rank":
        w = ranks + 1
    elif method == "roulette":
        w = ranks - ranks.min()
    else:
        raise ValueError(method)
    return float(np.sum(w * ranks) / w.sum())


@pytest.mark.parametrize("method", ["tournament", "truncation", "rank", "roulette"])
def test_selection_prefers_fitter_genomes(method):
    rng = np.random.default_rng(3)
    p, draws = 50, 40_000
    fitness = np.arange(p, dtype=np.float64)
    picked = select(fitness, draws, method, rng, tournament_size=3, truncation=0.2)
    assert picked.min() >= 0 and picked.max() < p
    mean = fitness[picked].mean()
    assert mean > fitness.mean() + 5
    if method == "tournament":  # the max of 3 uniform draws from 0..49
        k = np.arange(p)
        expected = np.sum(k * (((k + 1) / p) ** 3 - (k / p) ** 3))
        assert abs(mean - expected) < 0.3
    elif method == "truncation":
        assert picked.min() >= p - 10
        assert abs(mean - (p - 10 + p - 1) / 2) < 0.2
    else:
        assert abs(mean - expected_mean_rank(method, p)) < 0.3


def test_roulette_with_equal_fitness_is_uniform():
    picked = select(np.ones(10), 20_000, "roulette", np.random.default_rng(4))
    counts = np.bincount(picked, minlength=10)
    assert counts.min() > 1800 and counts.max() < 2200


def test_uniform_and_one_point_crossover_mix_the_parents():
    rng = np.random.default_rng(5)
    a, b = np.zeros((2000, 40), np.float32), np.ones((2000, 40), np.float32)
    child = crossover(a, b, "uniform", 1.0, rng)
    assert set(np.unique(child)) == {0.0, 1.0}
    assert abs(child.mean() - 0.5) < 0.01
    child = crossover(a, b, "one_point", 1.0, rng)
    # every child is a prefix of a followed by a suffix of b, with the cut in 1..39
    assert np.all(np.diff(child, axis=1) >= 0)
    assert np.all(child[:, 0] == 0) and np.all(child[:, -1] == 1)
    cuts = (child == 0).sum(axis=1)
    assert cuts.min() == 1 and cuts.max() == 39


def test_arithmetic_blend_none_and_the_crossover_rate():
    rng = np.random.default_rng(6)
    a, b = np.zeros((5000, 10), np.float32), np.ones((5000, 10), np.float32)
    child = crossover(a, b, "arithmetic", 1.0, rng)
    assert np.all((child >= 0) & (child <= 1))
    assert np.allclose(child, child[:, :1])  # one weight per child
    assert abs(child.mean() - 0.5) < 0.02
    child = crossover(a, b, "blend", 1.0, rng, alpha=0.5)
    assert child.min() < -0.4 and child.max() > 1.4 and child.min() >= -0.5 and child.max() <= 1.5
    np.testing.assert_array_equal(crossover(a, b, "none", 1.0, rng), a)
    child = crossover(a, b, "uniform", 0.3, rng)
    crossed = np.any(child != 0, axis=1)
    assert abs(crossed.mean() - 0.3) < 0.03


def test_ranking_and_diversity():
    np.testing.assert_array_equal(ranking([1.0, 3.0, 3.0, 2.0]), [1, 2, 3, 0])
    same = np.ones((5, 3), np.float32)
    assert diversity(same) == 0.0
    spread = np.array([[0.0, 0.0], [2.0, 4.0]], np.float32)
    assert diversity(spread) == pytest.approx(1.5)


def test_operators_are_reproducible_from_the_seed():
    genomes = np.random.default_rng(7).normal(size=(20, 30)).astype(np.float32)
    fitness = np.linspace(0, 1, 20)
    ops = EvolutionConfig(population=20, elitism=2, selection="rank", crossover="blend")
    one = next_generation(genomes, fitness, ops, np.random.default_rng(42))
    two = next_generation(genomes, fitness, ops, np.random.default_rng(42))
    np.testing.assert_array_equal(one, two)
