"""The simulation's outcome is pinned: fixed genomes on shipped tracks must give exactly the fitness,
statuses, laps and lap log recorded in tests/data/cars_sim_pinned.json before the step was made faster.

A speed trick that changes any car's fate (a crash one step later, a lap one step slower) fails here.
The genomes are a saved champion plus seeded noise of growing size, so the cases mix finishers,
crashes, stalls and time-outs; the fixture says which commit computed them.

Bit for bit means for one BLAS: the brains' products are matrix products, and BLAS libraries round them
differently on different CPUs (OpenBLAS's AVX-512 kernels against its AVX2 ones, for example; the rest
of a step is element-wise and rounds the same everywhere). So the fixture keeps one set of outcomes per
BLAS rounding, keyed by a fingerprint: a hash of brain outputs computed here. A machine whose BLAS rounds
in a way the fixture does not know skips the comparison, saying so. To see a machine's fingerprint, and to
add its outcomes (from a commit whose simulation is known to be right), run

    python tests/test_cars_sim_pinned.py --fingerprint
    python tests/test_cars_sim_pinned.py --add-this-blas "OpenBLAS 0.3.31, AVX-512 kernels"
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from cars.learn.brain import build_brain
from cars.learn.config import load_config
from cars.sim.simulation import Simulation
from cars.sim.track import load_track
from engine import PopulationNet

FIXTURE = Path(__file__).parent / "data" / "cars_sim_pinned.json"
PINNED = json.loads(FIXTURE.read_text())


def case_genomes(case: dict) -> np.ndarray:
    rng = np.random.default_rng(case["seed"])
    sigma = np.linspace(0, case["sigma"], case["cars"], dtype=np.float32)[:, None]
    champion = np.asarray(PINNED["champion"], np.float32)
    noise = rng.standard_normal((case["cars"], len(champion))).astype(np.float32)
    return (champion[None] + sigma * noise).astype(np.float32)


def blas_fingerprint() -> str:
    """How this machine rounds the brains' products: a hash of the first case's brains driven on seeded
    sensor readings (the same stacked products a simulation step makes)."""
    case = PINNED["cases"][0]
    config = load_config("default", case["settings"])
    net = PopulationNet(build_brain(config.brain, config.sensors.rays + 1), case_genomes(case))
    inputs = np.random.default_rng(0).random((case["cars"], config.sensors.rays + 1), dtype=np.float32)
    return hashlib.sha256(net.forward(inputs).tobytes()).hexdigest()[:16]


def outcome(case: dict) -> dict:
    """What Simulation.run gives for a case, in the fixture's form."""
    config = load_config("default", case["settings"])
    sim = Simulation(load_track(case["track"]), config, case_genomes(case),
                     model=build_brain(config.brain, config.sensors.rays + 1))
    sim.run()
    return {"steps": sim.steps, "status": sim.status.tolist(), "laps": sim.laps.tolist(),
            "best_lap_steps": sim.best_lap_steps.tolist(), "lap_log": sim.lap_log.tolist(),
            "fitness": sim.fitness().tolist()}


@pytest.fixture(scope="module")
def fingerprint() -> str:
    found = blas_fingerprint()
    if found not in PINNED["blas"]:
        pytest.skip(f"this machine's BLAS rounds the brains' products in a way {FIXTURE.name} does not know "
                    f"(fingerprint {found}; it knows {', '.join(PINNED['blas'].values())}): see this module's "
                    f"docstring to add it")
    return found


@pytest.mark.parametrize("case", PINNED["cases"], ids=[c["track"] for c in PINNED["cases"]])
def test_simulation_reproduces_the_pinned_outcome(case, fingerprint):
    got, want = outcome(case), case["expected"][fingerprint]
    assert got["steps"] == want["steps"]
    for name in ("status", "laps", "best_lap_steps", "lap_log"):
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    np.testing.assert_array_equal(got["fitness"], want["fitness"])  # bit for bit


def test_pinned_cases_cover_every_kind_of_ending():
    from cars.sim.progress import CRASHED, FINISHED, STALLED, TIMEOUT
    for blas in PINNED["blas"]:
        statuses = {s for case in PINNED["cases"] for s in case["expected"][blas]["status"]}
        laps = sum(len(case["expected"][blas]["lap_log"]) for case in PINNED["cases"])
        assert {CRASHED, FINISHED, STALLED, TIMEOUT} <= statuses and laps > 12, blas


def test_the_fingerprint_sees_a_change_in_the_brains_products():
    """The fingerprint must tell roundings apart: one flipped last bit of one weight changes it."""
    before = blas_fingerprint()
    champion = np.asarray(PINNED["champion"], np.float32)
    nudged = champion.copy()
    nudged[3] = np.nextafter(nudged[3], np.float32(np.inf))
    PINNED["champion"] = nudged.tolist()
    try:
        assert blas_fingerprint() != before
    finally:
        PINNED["champion"] = champion.tolist()


def add_this_blas(label: str) -> None:
    """Record this machine's outcomes under its fingerprint (run only from a commit known to be right)."""
    found = blas_fingerprint()
    for case in PINNED["cases"]:
        case["expected"][found] = outcome(case)
    PINNED["blas"][found] = label
    FIXTURE.write_text(json.dumps(PINNED))
    print(f"{FIXTURE}: outcomes for BLAS {found} ({label}) recorded")


if __name__ == "__main__":
    if sys.argv[1:] == ["--fingerprint"]:
        found = blas_fingerprint()
        print(f"BLAS fingerprint {found}: {PINNED['blas'].get(found, 'not in ' + FIXTURE.name)}")
    elif len(sys.argv) == 3 and sys.argv[1] == "--add-this-blas":
        add_this_blas(sys.argv[2])
    else:
        sys.exit(__doc__)
