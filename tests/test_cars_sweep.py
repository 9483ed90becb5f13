"""cars sweep on the local process pool: the grid, the value syntax, cells as ordinary run folders, results
that depend only on each cell's seed, resume, a killed worker, Ctrl-C, bad input; and sharded evaluation of a
generation (in this process) equal to the run's own loop. Tiny runs (a few generations of a few cars)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cars.cli import main
from cars.scale.backends import CellJob, LocalPool
from cars.learn.config import load_config
from cars.learn.drive import load_champion
from cars.learn.run import open_run
from cars.learn.run_files import load_run_config, read_checkpoint
from cars.scale.sharded import InProcessShards
from cars.scale.sweep import SweepDefinition, SweepError, cell_folder, open_sweep_folder, parse_values, run_cell
from cars.scale.driver import run_sweep

ROOT = Path(__file__).resolve().parent.parent
TINY = {"evolution.generations": 2, "evolution.population": 10, "simulation.max_steps": 120}


def tiny_sweep(axes=None, seeds=(1, 2), **overrides) -> SweepDefinition:
    base = load_config("default", {**TINY, **overrides})
    return SweepDefinition.build(base, axes if axes is not None else {"evolution.mutation_rate": [0.05, 0.3]},
                                 list(seeds))


def without_timing(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "seconds"}


def reference_results(sweep: SweepDefinition, folder: Path) -> dict[int, dict]:
    """Every cell run in this process, one after another, uninterrupted: what any worker must reproduce."""
    return {c.index: without_timing(run_cell(c.config, folder / c.name)) for c in sweep.cells()}


def test_values_split_at_commas_outside_brackets_and_quotes():
    assert parse_values("evolution.mutation_rate", "0.02,0.05, 0.1") == [0.02, 0.05, 0.1]
    assert parse_values("brain.hidden", "[8],[16,8]") == [[8], [16, 8]]
    assert parse_values("track.names", "[sbends,city],[oval]") == [["sbends", "city"], ["oval"]]
    assert parse_values("track.names", '["a,b.json"],["oval"]') == [["a,b.json"], ["oval"]]
    assert parse_values("brain.activation", "tanh,relu") == ["tanh", "relu"]
    for bad in ("", " ", "0.1,,0.2", "0.1,"):
        with pytest.raises(SweepError, match="evolution.mutation_rate"):
            parse_values("evolution.mutation_rate", bad)


def test_the_grid_is_every_combination_times_every_seed_in_a_fixed_order():
    sweep = tiny_sweep({"evolution.mutation_rate": [0.05, 0.3], "brain.hidden": [[4], [6, 3]]}, seeds=(7, 8))
    cells = sweep.cells()
    assert len(cells) == 8 and len({c.name for c in cells}) == 8
    assert [(c.values["evolution.mutation_rate"], c.values["brain.hidden"], c.seed) for c in cells[:3]] == \
        [(0.05, [4], 7), (0.05, [4], 8), (0.05, [6, 3], 7)]
    assert cells[3].config.brain.hidden == (6, 3) and cells[3].config.seed == 8
    assert cells[5].config.evolution.mutation_rate == 0.3 and cells[5].config.evolution.population == 10
    assert sweep.to_dict() == tiny_sweep({"evolution.mutation_rate": [0.05, 0.3],
                                          "brain.hidden": ["[4]", "6,3"]}, seeds=(7, 8)).to_dict()
    with pytest.raises(SweepError, match="repeated"):
        tiny_sweep({"evolution.mutation_rate": [0.1, 0.10]})
    with pytest.raises(SweepError, match="elitism"):  # a combination that breaks a cross-field rule
        tiny_sweep({"evolution.elitism": [2, 4], "evolution.population": [5, 4]})


def test_local_sweep_cells_are_run_folders_resumed_skipped_and_worker_independent(tmp_path):
    sweep = tiny_sweep()
    expected = reference_results(sweep, tmp_path / "reference")
    folder = open_sweep_folder(tmp_path / "sweep", sweep)
    interrupted = sweep.cells()[1]  # stopped after its first generation, as Ctrl-C or a dead worker leaves it
    run = open_run(interrupted.config, cell_folder(folder, interrupted), log=None)
    run.run_generation()
    run.close()
    lines: list[str] = []
    outcome = run_sweep(sweep, folder, LocalPool(2), lines.append)
    assert outcome.complete and not outcome.failed and outcome.resumed == 1 and outcome.skipped == 0
    assert {i: without_timing(r) for i, r in outcome.results.items()} == expected
    assert sum(line.startswith("[") and "ETA" in line for line in lines) == 4
    rows = (folder / "sweep.csv").read_text().splitlines()
    assert rows[0].startswith("cell,evolution.mutation_rate,seed,generations,first_lap_generation") and len(rows) == 5
    assert "| mutation_rate | lapped |" in (folder / "summary.md").read_text()
    for picture in ("fitness.png", "first_lap.png"):
        assert (folder / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cell = cell_folder(folder, sweep.cells()[2])
    assert load_run_config(cell).evolution.mutation_rate == 0.3  # an ordinary run folder
    assert load_champion(cell / "champion.npz")[1].seed == 1

    again = run_sweep(sweep, folder, LocalPool(2), lines.append, plots=False)
    assert again.skipped == 4 and again.results == outcome.results
    assert (folder / "sweep.csv").read_text().splitlines() == rows


def test_a_killed_pool_worker_loses_no_cell(tmp_path):
    sweep = tiny_sweep({"evolution.generations": [8, 2]}, seeds=(1,))
    expected = reference_results(sweep, tmp_path / "reference")
    events: list[dict] = []
    pids: dict[int, int] = {}

    def kill_cell_0_midway(event: dict) -> None:
        events.append(event)
        if event["type"] == "start":
            pids[event["cell"]] = event["pid"]
        if event["type"] == "generation" and event["cell"] == 0 and event["generation"] == 2 and \
                not any(e["type"] == "retry" for e in events):
            os.kill(pids[0], signal.SIGKILL)

    jobs = [CellJob(c, cell_folder(tmp_path / "sweep", c)) for c in sweep.cells()]
    LocalPool(2).run(jobs, kill_cell_0_midway)
    results = {e["cell"]: without_timing(e["result"]) for e in events if e["type"] == "result"}
    assert [e["cell"] for e in events if e["type"] == "retry"] == [0]
    assert results == expected


def test_ctrl_c_keeps_finished_cells_and_the_same_command_finishes_the_sweep(tmp_path):
    out = tmp_path / "sweep"
    command = [sys.executable, "-m", "cars", "sweep", "--set", "evolution.generations=1,8,9", "--population", "24",
               "--out", str(out), "--workers", "2", "--no-plots"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    first = ""
    deadline = time.monotonic() + 60
    while not first.startswith("[1/3]") and time.monotonic() < deadline and process.poll() is None:
        first = process.stdout.readline()
    os.kill(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stdout + stderr
    assert "interrupted" in stdout and "Traceback" not in stderr
    assert len((out / "sweep.csv").read_text().splitlines()) == 2  # the one finished cell
    finished = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert re.search(r"[12] resumed from their checkpoints, 1 already finished", finished.stdout), finished.stdout
    assert len((out / "sweep.csv").read_text().splitlines()) == 4


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    def error_of(*args: str) -> str:
        assert main(["sweep", *args]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        return err

    out = str(tmp_path / "s")
    assert "unknown key 'evolution.nope'" in error_of("--set", "evolution.nope=1,2", "--out", out)
    assert "no values" in error_of("--set", "evolution.mutation_rate=", "--out", out)
    assert "must be in [0, 1]" in error_of("--set", "evolution.mutation_rate=0.1,2", "--out", out)
    assert "no such track" in error_of("--set", "track.names=[sbends,nope],[oval]", "--out", out)
    assert "cannot reach a Ray cluster" in error_of("--set", "evolution.mutation_rate=0.1,0.2", "--backend", "ray",
                                                    "--address", "127.0.0.1:1", "--out", out)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert "pip install" in error_of("--set", "evolution.mutation_rate=0.1,0.2", "--backend", "ray", "--out", out)
    assert not Path(out).exists()  # nothing was written by any of them

    open_sweep_folder(out, tiny_sweep())
    err = error_of("--set", "evolution.mutation_rate=0.05,0.2", "--generations", "2", "--population", "10",
                   "--set", "simulation.max_steps=120", "--seeds", "2", "--out", out)
    assert "holds a different sweep" in err and "0.05,0.3 there, evolution.mutation_rate=0.05,0.2 now" in err


def test_sharded_evaluation_in_this_process_equals_the_run(tmp_path):
    first_laps = []
    for name, overrides in (("default", {"evolution.generations": 2, "evolution.population": 150, "seed": 3}),
                            ("generalist", {"evolution.generations": 1, "evolution.population": 12,
                                            "simulation.max_steps": 300})):
        config = load_config(name, overrides)
        runs = []
        for evaluator, folder in ((None, tmp_path / f"{name}-plain"), (InProcessShards(3), tmp_path / f"{name}-shards")):
            run = open_run(config, folder, log=None, evaluator=evaluator)
            while not run.finished:
                run.run_generation()
            run.close()
            runs.append(run)
        plain, sharded = runs
        timing = ("seconds", "car_steps_per_second")
        assert [{k: v for k, v in r.items() if k not in timing} for r in plain.history] == \
            [{k: v for k, v in r.items() if k not in timing} for r in sharded.history]
        assert plain.first_lap_car_steps == sharded.first_lap_car_steps
        assert plain.total_car_steps == sharded.total_car_steps
        a, _ = read_checkpoint(plain.save_dir / "checkpoint.npz")
        b, _ = read_checkpoint(sharded.save_dir / "checkpoint.npz")
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
        first_laps.append(sharded.first_lap_car_steps)
    assert first_laps[0] is not None  # a lap in generation 2: car-steps until it recombined from the shards
