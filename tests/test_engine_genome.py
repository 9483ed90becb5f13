"""Genome vectors and the batched population forward."""

import numpy as np
import pytest

from engine import (Conv2D, Dense, LeakyReLU, PopulationNet, ReLU, Sequential, Sigmoid, Tanh, genome_size,
                    get_genome, set_genome)


def brain(seed=0):
    rng = np.random.default_rng(seed)
    return Sequential(Dense(5, 8, init="glorot", rng=rng), Tanh(), Dense(8, 6, rng=rng), LeakyReLU(0.1),
                      Dense(6, 2, init="glorot", rng=rng), Sigmoid())


def test_genome_layout_and_round_trip():
    model = brain()
    genome = get_genome(model)
    assert genome.shape == (genome_size(model),) == (5 * 8 + 8 + 8 * 6 + 6 + 6 * 2 + 2,)
    assert genome.dtype == np.float32
    np.testing.assert_array_equal(genome[:40], model[0].weight.data.ravel())
    np.testing.assert_array_equal(genome[40:48], model[0].bias.data)
    other = brain(seed=1)
    set_genome(other, genome)
    np.testing.assert_array_equal(get_genome(other), genome)
    x = np.random.default_rng(2).standard_normal((4, 5)).astype(np.float32)
    np.testing.assert_array_equal(other(x), model(x))


def test_get_genome_is_a_copy():
    model = brain()
    genome = get_genome(model)
    genome[:] = 0
    assert get_genome(model).any()


def test_set_genome_rejects_wrong_length():
    with pytest.raises(ValueError, match=r"genome has shape \(3,\), the model needs \(116,\)"):
        set_genome(brain(), np.zeros(3))


@pytest.fixture
def population():
    model = brain()
    rng = np.random.default_rng(5)
    genomes = rng.standard_normal((7, genome_size(model))).astype(np.float32)
    return model, genomes, PopulationNet(model, genomes)


def alone(model, genome, x):
    set_genome(model, genome)
    return model(x[None])[0]


def test_population_forward_equals_each_network_alone(population):
    model, genomes, net = population
    x = np.random.default_rng(6).standard_normal((7, 5)).astype(np.float32)
    y = net.forward(x)
    assert y.shape == (7, 2) and y.dtype == np.float32
    for p in range(7):
        np.testing.assert_allclose(y[p], alone(model, genomes[p], x[p]), rtol=1e-5, atol=1e-6)
    assert [a.shape for a in net.last_activations] == [(7, 8), (7, 8), (7, 6), (7, 6), (7, 2), (7, 2)]
    np.testing.assert_array_equal(net.last_activations[-1], y)


def test_population_forward_with_rows(population):
    model, genomes, net = population
    rows = np.array([3, 3, 0, 6, 1])
    x = np.random.default_rng(7).standard_normal((5, 5)).astype(np.float32)
    y = net(x, rows=rows)
    assert y.shape == (5, 2)
    for m, p in enumerate(rows):
        np.testing.assert_allclose(y[m], alone(model, genomes[p], x[m]), rtol=1e-5, atol=1e-6)
    assert net.forward(x[:0], rows=rows[:0]).shape == (0, 2)


def test_population_rejects_bad_shapes(population):
    model, genomes, net = population
    with pytest.raises(ValueError, match=r"genomes must have shape \(P, 116\)"):
        PopulationNet(model, genomes[:, :10])
    with pytest.raises(ValueError, match="expects x of shape"):
        net.forward(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="rows must lie in"):
        net.forward(np.zeros((1, 5)), rows=np.array([7]))
    with pytest.raises(ValueError, match="expects 5 inputs"):
        net.forward(np.zeros((7, 4)))
    with pytest.raises(ValueError, match="supports Dense and activation layers"):
        PopulationNet(Sequential(Conv2D(1, 1, 1)), np.zeros((2, 2)))


def test_population_does_not_alias_the_genomes(population):
    model, genomes, net = population
    x = np.ones((7, 5), dtype=np.float32)
    before = net.forward(x).copy()
    genomes[:] = 0
    np.testing.assert_array_equal(net.forward(x), before)


def test_relu_population():
    rng = np.random.default_rng(0)
    model = Sequential(Dense(3, 4, rng=rng), ReLU(), Dense(4, 1, rng=rng))
    genomes = rng.standard_normal((50, genome_size(model)))
    x = rng.standard_normal((50, 3))
    y = PopulationNet(model, genomes).forward(x)
    assert y.dtype == np.float32  # computed in the model's dtype even for float64 inputs and genomes
    expected = np.stack([alone(model, genomes[p], x[p].astype(np.float32)) for p in range(50)])
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
