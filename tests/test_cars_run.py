"""EvolutionRun: determinism, resume equals uninterrupted, live parameters, saved files."""

import csv

import numpy as np
import pytest

import engine
from cars.learn.config import ConfigError, load_config
from cars.learn.run import EvolutionRun
from cars.learn.run_files import RunError
from cars.sim.track import load_track, shipped_track_names
from cars_helpers import finish, strip


def small_config(**extra):
    overrides = {"evolution.population": "24", "evolution.elitism": "2", "evolution.generations": "3",
                 "simulation.max_steps": "240", "track.names": '["kidney"]', "seed": "5"}
    overrides.update({k: str(v) for k, v in extra.items()})
    return load_config("default", overrides)


def test_same_seed_same_history_and_different_seed_differs(tmp_path):
    a = finish(EvolutionRun(small_config(), tmp_path / "a", log=None))
    b = finish(EvolutionRun(small_config(), tmp_path / "b", log=None))
    c = finish(EvolutionRun(small_config(seed=6), tmp_path / "c", log=None))
    assert len(a.history) == 3
    assert strip(a.history) == strip(b.history)
    np.testing.assert_array_equal(a.genomes, b.genomes)
    np.testing.assert_array_equal(a.champion_genome, b.champion_genome)
    assert strip(a.history) != strip(c.history)


def test_resume_after_an_interruption_equals_an_uninterrupted_run(tmp_path):
    config = small_config(**{"track.generated": 1, "evolution.mutation_decay": 0.9})
    whole = finish(EvolutionRun(config, tmp_path / "whole", log=None))

    part = EvolutionRun(config, tmp_path / "part", log=None)
    part.run_generation()
    part.set_setting("evolution.mutation_rate", part.next_config.evolution.mutation_rate)  # a no-op tweak
    part.step(50)  # interrupted in the middle of generation 2
    part.save()
    del part
    resumed = finish(EvolutionRun(config, tmp_path / "part", resume=True, log=None))
    assert strip(resumed.history) == strip(whole.history)
    np.testing.assert_array_equal(resumed.genomes, whole.genomes)
    np.testing.assert_array_equal(resumed.champion_genome, whole.champion_genome)


def test_run_folder_files(tmp_path):
    run = finish(EvolutionRun(small_config(), tmp_path, log=None))
    for name in ("config.toml", "seed.txt", "history.csv", "champion.npz", "checkpoint.npz"):
        assert (tmp_path / name).is_file(), name
    assert load_config(tmp_path / "config.toml") == run.config
    assert (tmp_path / "seed.txt").read_text().strip() == "5"
    rows = list(csv.DictReader((tmp_path / "history.csv").open()))
    assert tuple(rows[0]) == run.columns and len(rows) == 3
    assert float(rows[-1]["best_fitness"]) == pytest.approx(run.history[-1]["best_fitness"], rel=1e-5)
    model, meta = engine.load_with_metadata(tmp_path / "champion.npz")
    np.testing.assert_array_equal(engine.get_genome(model), run.champion_genome)
    assert meta["config"]["sensors"]["rays"] == run.config.sensors.rays
    assert not list(tmp_path.glob("*.tmp"))  # atomic writes leave no temporary files
    with pytest.raises(RunError, match="already holds a run"):
        EvolutionRun(small_config(), tmp_path, log=None)


def test_elites_come_first_and_keep_their_fitness_on_a_fixed_track(tmp_path):
    run = EvolutionRun(small_config(), tmp_path, log=None)
    first = run.run_generation()
    champion = run.champion_genome.copy()
    np.testing.assert_array_equal(run.genomes[0], champion)  # index 0 is the best elite
    second = run.run_generation()
    assert second["best_fitness"] >= first["best_fitness"]


def test_live_parameters_validate_and_apply_from_the_next_generation(tmp_path):
    run = EvolutionRun(small_config(), tmp_path, log=None)
    run.set_setting("evolution.mutation_rate", 0.25)
    run.set_setting("evolution.population", 30)
    run.set_setting("evolution.elitism", 3)
    for name, value in (("mutation_rate", 1.5), ("mutation_sigma", -1), ("population", 0), ("elitism", 30),
                        ("learning_rate", 0.1), ("population", 2.5), ("crossover", "none")):
        with pytest.raises(ConfigError):
            run.set_setting(f"evolution.{name}", value)
    row0 = run.run_generation()
    assert row0["mutation_rate"] == 0.1 and row0["population"] == 24
    assert run.sim.n == 30 and len(run.genomes) == 30
    row1 = run.run_generation()
    assert row1["mutation_rate"] == 0.25 and row1["population"] == 30 and row1["elitism"] == 3


def test_brain_for_drives_like_the_population(tmp_path):
    run = EvolutionRun(small_config(), tmp_path, log=None)
    run.step(5)
    car = 3
    x = np.random.default_rng(0).random((1, run.config.sensors.rays + 1)).astype(np.float32)
    expected = run.sim.net.forward(x, rows=np.array([car]))
    np.testing.assert_allclose(run.brain_for(car).forward(x), expected, rtol=1e-5)


def test_end_generation_now_and_next_track(tmp_path):
    run = EvolutionRun(small_config(), tmp_path, log=None)
    run.step(10)
    row = run.end_generation_now()
    assert row["generation"] == 0 and run.generation == 1
    names = shipped_track_names()
    name = run.next_track()  # alphabetically after kidney among the shipped tracks
    assert name == names[(names.index("kidney") + 1) % len(names)]
    assert run.run_generation()["tracks"] == "Kidney"  # the generation already under way keeps its track
    assert run.run_generation()["tracks"] == load_track(name).name


def test_resume_checks(tmp_path):
    with pytest.raises(RunError, match="no such run folder"):
        EvolutionRun(small_config(), tmp_path / "nowhere", resume=True, log=None)
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError, match="no checkpoint"):
        EvolutionRun(small_config(), tmp_path / "empty", resume=True, log=None)
    finish(EvolutionRun(small_config(), tmp_path / "r", log=None))
    with pytest.raises(RunError, match="weights"):
        EvolutionRun(small_config(**{"brain.hidden": "[5]"}), tmp_path / "r", resume=True, log=None)
