"""A car's fate does not depend on the batch it is simulated in: any slice of a population, down to a
single car, drives exactly as it does inside the whole population. This is what makes a run's result
independent of how many workers or shards evaluate it (cars.scale.sharded, Ray)."""

import numpy as np
import pytest

from cars.learn.brain import build_brain, initial_genomes
from cars.learn.config import load_config
from cars.sim.simulation import Simulation
from cars.sim.track import load_track


@pytest.fixture(scope="module")
def population():
    config = load_config("default", {"simulation.max_steps": 400})
    model = build_brain(config.brain, config.sensors.rays + 1)
    genomes = initial_genomes(model, 160, np.random.default_rng(11))
    return config, model, genomes


@pytest.mark.parametrize("track", ["sbends", "oval"])
def test_every_slice_drives_exactly_as_in_the_whole_population(population, track):
    config, model, genomes = population
    whole = Simulation(load_track(track), config, genomes, model=model)
    whole.run()
    for a, b in [(0, 1), (7, 8), (0, 33), (33, 90), (90, 91), (91, 160), (159, 160)]:
        part = Simulation(load_track(track), config, genomes[a:b], model=model)
        part.run()
        for name in ("x", "y", "heading", "speed", "status", "laps", "best_lap_steps"):
            np.testing.assert_array_equal(getattr(part, name), getattr(whole, name)[a:b], err_msg=f"{name} {a}:{b}")
        np.testing.assert_array_equal(part.fitness(), whole.fitness()[a:b])
