"""The simulation's outcome is pinned: fixed genomes on shipped tracks must give exactly the fitness,
statuses, laps and lap log recorded in tests/data/cars_sim_pinned.json before the step was made faster.

A speed trick that changes any car's fate (a crash one step later, a lap one step slower) fails here.
The genomes are a saved champion plus seeded noise of growing size, so the cases mix finishers,
crashes, stalls and time-outs; the fixture says which commit computed them.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from cars.learn.brain import build_brain
from cars.learn.config import load_config
from cars.sim.simulation import Simulation
from cars.sim.track import load_track

PINNED = json.loads((Path(__file__).parent / "data" / "cars_sim_pinned.json").read_text())


def case_genomes(case: dict) -> np.ndarray:
    rng = np.random.default_rng(case["seed"])
    sigma = np.linspace(0, case["sigma"], case["cars"], dtype=np.float32)[:, None]
    champion = np.asarray(PINNED["champion"], np.float32)
    noise = rng.standard_normal((case["cars"], len(champion))).astype(np.float32)
    return (champion[None] + sigma * noise).astype(np.float32)


@pytest.mark.parametrize("case", PINNED["cases"], ids=[c["track"] for c in PINNED["cases"]])
def test_simulation_reproduces_the_pinned_outcome(case):
    config = load_config("default", case["settings"])
    sim = Simulation(load_track(case["track"]), config, case_genomes(case),
                     model=build_brain(config.brain, config.sensors.rays + 1))
    sim.run()
    want = case["expected"]
    assert sim.done and sim.steps == want["steps"]
    np.testing.assert_array_equal(sim.status, want["status"])
    np.testing.assert_array_equal(sim.laps, want["laps"])
    np.testing.assert_array_equal(sim.best_lap_steps, want["best_lap_steps"])
    np.testing.assert_array_equal(sim.lap_log, np.asarray(want["lap_log"], dtype=np.int64).reshape(-1, 4))
    np.testing.assert_array_equal(sim.fitness(), want["fitness"])  # bit for bit


def test_pinned_cases_cover_every_kind_of_ending():
    statuses = {s for case in PINNED["cases"] for s in case["expected"]["status"]}
    laps = sum(len(case["expected"]["lap_log"]) for case in PINNED["cases"])
    from cars.sim.progress import CRASHED, FINISHED, STALLED, TIMEOUT
    assert {CRASHED, FINISHED, STALLED, TIMEOUT} <= statuses and laps > 50
