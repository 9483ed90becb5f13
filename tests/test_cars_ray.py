"""cars on a real local Ray instance (2 CPUs, one for the whole module): sweep cells as Ray tasks give the
local pool's results byte for byte, also when a worker is killed mid-cell; sharded generations on Ray actors
give the local run's result (`cars evolve --backend ray`)."""

from __future__ import annotations

import logging
import os
import signal

import numpy as np
import pytest
import ray

from cars.cli import main
from cars.scale.backends import LocalPool, RayCells, RayConnection
from cars.learn.config import load_config
from cars.learn.run import open_run
from cars.learn.run_files import load_run_config, read_checkpoint
from cars.scale.sweep import SweepDefinition, cell_folder
from cars.scale.driver import run_sweep


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield
    ray.shutdown()


def result_columns(csv_path) -> list[str]:
    """sweep.csv without its last column (seconds: the only timing)."""
    return [line.rsplit(",", 1)[0] for line in csv_path.read_text().splitlines()]


def test_ray_cells_equal_the_local_pool_even_when_a_worker_is_killed_mid_cell(tmp_path):
    base = load_config("default", {"evolution.population": 10, "simulation.max_steps": 120})
    sweep = SweepDefinition.build(base, {"evolution.generations": [25, 2]}, seeds=[1, 2])
    local = run_sweep(sweep, tmp_path / "local", LocalPool(2), log=lambda line: None, plots=False)

    events: list[dict] = []

    def kill_the_worker_of_cell_0(event: dict) -> None:
        events.append(event)
        if event["type"] == "start" and event["cell"] == 0:  # after its first of 25 generations
            os.kill(event["pid"], signal.SIGKILL)

    remote = run_sweep(sweep, tmp_path / "ray", RayCells(RayConnection()), log=lambda line: None, plots=False,
                       watch=kill_the_worker_of_cell_0)
    assert [e["cell"] for e in events if e["type"] == "retry"] == [0]  # Ray ran it again elsewhere
    assert local.complete and remote.complete and not remote.failed
    assert result_columns(tmp_path / "ray" / "sweep.csv") == result_columns(tmp_path / "local" / "sweep.csv")
    strip = {i: {k: v for k, v in r.items() if k != "seconds"} for i, r in local.results.items()}
    assert {i: {k: v for k, v in r.items() if k != "seconds"} for i, r in remote.results.items()} == strip
    cell = cell_folder(tmp_path / "ray", sweep.cells()[0])  # written by the driver from what the task streamed
    assert load_run_config(cell).evolution.generations == 25
    a, _ = read_checkpoint(cell / "checkpoint.npz")
    b, _ = read_checkpoint(cell_folder(tmp_path / "local", sweep.cells()[0]) / "checkpoint.npz")
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_cars_evolve_backend_ray_shards_generations_with_the_local_result(tmp_path, capsys):
    config = load_config("default", {"evolution.generations": 2, "evolution.population": 150, "seed": 3})
    run = open_run(config, tmp_path / "local", log=None)
    while not run.finished:
        run.run_generation()
    run.close()
    assert main(["evolve", "--backend", "ray", "--workers", "2", "--headless", "--generations", "2",
                 "--population", "150", "--seed", "3", "--save-dir", str(tmp_path / "ray")]) == 0
    assert "2 shard actors" in capsys.readouterr().out
    assert ray.is_initialized()  # the module's instance is used, not shut down

    def results(folder) -> list[list[str]]:  # history.csv up to its timing columns
        return [line.split(",")[:7] for line in (folder / "history.csv").read_text().splitlines()]

    assert results(tmp_path / "ray") == results(tmp_path / "local")
    a, state_a = read_checkpoint(tmp_path / "ray" / "checkpoint.npz")
    b, state_b = read_checkpoint(tmp_path / "local" / "checkpoint.npz")
    assert all(np.array_equal(a[k], b[k]) for k in a) and state_a["rng"] == state_b["rng"]
    assert state_a["first_lap_car_steps"] == state_b["first_lap_car_steps"] is not None
