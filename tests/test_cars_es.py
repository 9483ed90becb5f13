"""OpenAI-ES (cars.learn.algorithms.es): fitness shaping, the gradient estimate, the learner's ask/tell, runs that
resume bit for bit, the champion rule, the command line and the window."""

import json

import numpy as np
import pytest

import engine
from cars import cli
from cars.learn.brain import build_brain
from cars.learn.config import ConfigError, load_config, replace_setting
from cars.learn.algorithms.es import OpenAIES, centered_ranks, es_gradient, sample_noise, shape_fitness
from cars.learn.run import EvolutionRun
from cars_helpers import finish, strip


def small_config(**extra):
    overrides = {"es.population": 10, "es.generations": 3, "simulation.max_steps": 200, "track.names": ["kidney"],
                 "seed": 5, **extra}
    return load_config("es", overrides)


def test_centered_ranks_span_minus_half_to_half_and_share_ties():
    u = centered_ranks(np.array([3.0, -1.0, 10.0, 3.0, 0.5]))
    assert u.tolist() == pytest.approx([0.125, -0.5, 0.5, 0.125, -0.25])
    assert u.sum() == pytest.approx(0.0)
    rng = np.random.default_rng(0)
    f = rng.normal(size=51)
    u = centered_ranks(f)
    assert np.all(np.diff(u[np.argsort(f)]) > 0) and u.min() == -0.5 and u.max() == 0.5
    np.testing.assert_array_equal(centered_ranks(f * 1000 + 7), u)  # only the order counts
    z = shape_fitness(f, "zscore")
    assert z.mean() == pytest.approx(0.0, abs=1e-12) and z.std() == pytest.approx(1.0)
    np.testing.assert_array_equal(shape_fitness(np.ones(4), "zscore"), np.zeros(4))


def test_antithetic_noise_mirrors_and_the_gradient_of_a_linear_fitness_points_uphill():
    rng = np.random.default_rng(1)
    eps = sample_noise(rng, 4000, 12, antithetic=True)
    np.testing.assert_array_equal(eps[:2000], -eps[2000:])
    slope, theta, sigma = rng.normal(size=12), rng.normal(size=12), 0.3
    fitness = (theta + sigma * eps) @ slope  # F(x) = slope . x: its gradient is `slope` everywhere
    g = es_gradient(eps, shape_fitness(fitness, "raw"), sigma)
    assert g @ slope / np.linalg.norm(g) / np.linalg.norm(slope) > 0.97
    assert np.linalg.norm(g) == pytest.approx(np.linalg.norm(slope), rel=0.1)
    ranked = es_gradient(eps, centered_ranks(fitness), sigma)
    assert ranked @ slope / np.linalg.norm(ranked) / np.linalg.norm(slope) > 0.95


def learner(config):
    model = build_brain(config.brain, config.sensors.rays + 1)
    return OpenAIES(config, model, np.random.default_rng(config.seed)), engine.genome_size(model)


def test_ask_gives_theta_first_then_mirrored_perturbations_and_tell_climbs_a_quadratic():
    config = small_config(**{"es.population": 40, "es.sigma": 0.1, "es.learning_rate": 0.05})
    es, size = learner(config)
    target = np.linspace(-1, 1, size)
    first = es.ask()
    assert first.shape == (41, size) and first.dtype == np.float32 and es.elites == 1
    np.testing.assert_array_equal(es.ask(), first)  # asking twice draws nothing new
    np.testing.assert_allclose(first[1:21] + first[21:], np.tile(2 * first[0], (20, 1)), atol=1e-5)
    np.testing.assert_allclose(np.std(first[1:] - first[0]), 0.1, rtol=0.1)
    distance = np.linalg.norm(first[0] - target)
    for _ in range(60):
        genomes = es.ask()
        stats = es.tell(-np.sum((genomes - target) ** 2, axis=1), config)
    assert np.linalg.norm(es.ask()[0] - target) < 0.25 * distance
    assert set(stats) == set(OpenAIES.stats) and stats["theta_distance"] > 0 and stats["step_norm"] > 0


def test_sigma_learning_rate_and_weight_decay_come_from_the_config_given_to_tell():
    config = small_config()
    es, _ = learner(config)
    es.ask()
    es.tell(np.arange(11.0), replace_setting(config, "es.sigma", 0.25))
    assert np.std(es.ask()[1:] - es.ask()[0]) == pytest.approx(0.25, rel=0.15)
    before = es.ask()[0].copy()
    es.tell(np.arange(11.0), replace_setting(config, "es.learning_rate", 1e-6))
    assert np.abs(es.ask()[0] - before).max() < 1e-5
    decaying = replace_setting(config, "es.sigma_decay", 0.5)
    assert es.scheduled_changes(decaying) == {"es.sigma": config.es.sigma * 0.5}
    assert es.scheduled_changes(replace_setting(decaying, "es.sigma_min", 0.5)) == {}
    assert es.scheduled_changes(config) == {}


def test_the_same_seed_gives_the_same_run_and_resume_is_bit_identical(tmp_path):
    config = small_config(**{"track.generated": 1, "es.sigma_decay": 0.9, "es.weight_decay": 0.01})
    whole = finish(EvolutionRun(config, tmp_path / "whole", log=None))
    again = finish(EvolutionRun(config, tmp_path / "again", log=None))
    assert strip(whole.history) == strip(again.history)

    part = EvolutionRun(config, tmp_path / "part", log=None)
    part.run_generation()
    part.set_setting("es.learning_rate", part.next_config.es.learning_rate)  # a no-op tweak
    part.step(40)  # interrupted in the middle of generation 2
    part.save()
    del part
    resumed = finish(EvolutionRun(config, tmp_path / "part", resume=True, log=None))
    assert strip(resumed.history) == strip(whole.history)
    np.testing.assert_array_equal(resumed.genomes, whole.genomes)
    np.testing.assert_array_equal(resumed.learner.adam._m[0], whole.learner.adam._m[0])
    np.testing.assert_array_equal(resumed.champion_genome, whole.champion_genome)
    # a scheduled change (the decayed σ) comes into force a generation after the update that makes it, as
    # the GA's decayed mutation sigma does
    assert [r["sigma"] for r in whole.history] == pytest.approx([0.5, 0.5, 0.45])
    assert {"theta_fitness", "step_norm", "theta_distance", "grad_norm", "sigma", "learning_rate"} <= set(whole.columns)


def test_live_sigma_applies_from_the_next_generation_and_the_champion_is_theta_or_the_best(tmp_path):
    run = EvolutionRun(small_config(), tmp_path, log=None)
    first_genomes = run.genomes.copy()
    run.set_setting("es.sigma", 0.05)
    with pytest.raises(ConfigError, match="es.sigma"):
        run.set_setting("es.sigma", 0)
    with pytest.raises(ConfigError, match="cannot change"):
        run.set_setting("es.population", 12)
    row = run.run_generation()
    assert row["sigma"] == 0.5 and run.config.es.sigma == 0.05
    assert np.std(run.genomes[1:] - run.genomes[0]) == pytest.approx(0.05, rel=0.15)
    # the champion is the row that drove furthest: θ itself (row 0) is a candidate like every perturbation
    assert row["theta_fitness"] <= row["best_fitness"] == run.best["fitness"]
    assert any(np.array_equal(run.champion_genome, g) for g in first_genomes)
    hud = dict(run.hud_rows())
    assert {"θ (gold car)", "step |Δθ|", "θ moved"} <= set(hud)


@pytest.mark.parametrize("argv, words", [
    (["--es.sigma", "0"], ["es.sigma", "(0, 10]"]),
    (["--es.sigma", "-0.1"], ["es.sigma"]),
    (["--population", "11"], ["es.population", "even"]),
    (["--es.learning_rate", "nan"], ["es.learning_rate", "finite"]),
    (["--es.fitness_shaping", "best"], ["es.fitness_shaping"]),
    (["--set", "evolution.mutation_rate=0.1"], ["[evolution]", "es"]),
])
def test_bad_es_settings_print_one_line_and_exit_2(argv, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = cli.main(["train", "--algo", "es", "--headless", *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ")
    for word in words:
        assert word in err[0]
    assert not (tmp_path / "runs").exists()
    assert load_config("es", {"es.antithetic": False, "es.population": 11}).es.population == 11


def test_cli_trains_es_then_drives_the_champion(tmp_path, capsys):
    run_dir, summary = tmp_path / "run", tmp_path / "summary.json"
    code = cli.main(["train", "--algo", "es", "--headless", "--save-dir", str(run_dir), "--json", str(summary),
                     "--track", "kidney", "--population", "8", "--generations", "2", "--set",
                     "simulation.max_steps=150"])
    assert code == 0 and json.loads(summary.read_text())["algo"] == "es"
    assert "[es]" in (run_dir / "config.toml").read_text()
    code = cli.main(["drive", "--champion", str(run_dir / "champion.npz"), "--track", "oval", "--headless"])
    out = capsys.readouterr().out
    assert code == 0 and "Oval" in out


def test_the_window_watches_an_es_run_and_watching_changes_nothing(tmp_path, display):
    from cars.ui.evolve_window import EvolveWindow, run_evolve_window

    run = EvolutionRun(small_config(), tmp_path / "run", log=None)
    shot = tmp_path / "es.png"
    run_evolve_window(run, screenshot=shot, frames=30)
    image = display.surfarray.array3d(display.image.load(str(shot))).astype(int)
    assert image.std() > 10
    assert (tmp_path / "run" / "checkpoint.npz").is_file()

    headless = finish(EvolutionRun(small_config(**{"es.generations": 2}), tmp_path / "headless", log=None))
    watched = EvolutionRun(small_config(**{"es.generations": 2}), tmp_path / "watched", log=None)
    window = EvolveWindow(watched, size=(1000, 700))
    surface = display.Surface((1000, 700))
    while not watched.finished:
        window.update()
        window.draw(surface)
    assert strip(watched.history) == strip(headless.history)
    np.testing.assert_array_equal(watched.champion_genome, headless.champion_genome)
