"""CMA-ES (cars.learn.algorithms.cmaes): Hansen's strategy parameters, the distribution learning the shape of analytic
functions, numerical safeguards, and the learner in runs that resume bit for bit."""

import numpy as np
import pytest

from cars import cli
from cars.learn.brain import build_brain
from cars.learn.algorithms.cmaes import CMAES, MAX_CONDITION, CMAState, cma_parameters
from cars.learn.config import ConfigError, load_config, replace_setting
from cars.learn.run import EvolutionRun
from cars_helpers import finish, strip


def small_config(**extra):
    overrides = {"cmaes.population": 10, "cmaes.generations": 3, "simulation.max_steps": 200,
                 "track.names": ["kidney"], "seed": 4, **extra}
    return load_config("cmaes", overrides)


def test_strategy_parameters_are_hansens_defaults():
    p = cma_parameters(10, 10)  # the tutorial's default population for n = 10 is 4 + floor(3 ln 10) = 10
    assert p.mu == 5 and p.weights.sum() == pytest.approx(1.0) and np.all(np.diff(p.weights) < 0)
    assert p.mu_eff == pytest.approx(3.1672, abs=1e-4)
    assert p.c_sigma == pytest.approx(0.2844, abs=1e-4) and p.d_sigma == pytest.approx(1.2844, abs=1e-4)
    assert p.c_c == pytest.approx(0.2950, abs=1e-4)
    assert p.c_1 == pytest.approx(0.01528, abs=1e-5) and p.c_mu == pytest.approx(0.02015, abs=1e-5)
    assert p.chi_n == pytest.approx(3.0847, abs=1e-4)
    big = cma_parameters(90, 100, 30)
    assert big.mu == 30 and big.c_1 + big.c_mu < 1 and 1 <= big.mu_eff <= 30


def minimise(f, n, lam, sigma, generations, seed=0):
    """Run CMAState on f (minimised: fitness = -f) from x = 1; returns the state and f of the mean."""
    rng = np.random.default_rng(seed)
    cma = CMAState(np.ones(n), sigma, cma_parameters(n, lam))
    for _ in range(generations):
        y = cma.sample(rng)
        cma.update(y, -f(cma.mean + cma.sigma * y))
    return cma, float(f(cma.mean[None])[0])


def test_the_sphere_converges_with_a_shrinking_step_size():
    cma, value = minimise(lambda x: np.sum(x ** 2, axis=1), n=8, lam=10, sigma=0.5, generations=250)
    assert value < 1e-12 and cma.sigma < 1e-5
    assert cma.axis_ratio < 5  # a round function keeps a round distribution


def test_the_covariance_learns_a_rotated_ill_conditioned_ellipsoid():
    n = 8
    rotation = np.linalg.qr(np.random.default_rng(7).normal(size=(n, n)))[0]
    scales = 10.0 ** (3 * np.arange(n) / (n - 1))  # axis lengths 1 .. 1000: condition 1e6

    def ellipsoid(x):
        return np.sum((x @ rotation * scales) ** 2, axis=1)

    cma, value = minimise(ellipsoid, n=n, lam=10, sigma=0.5, generations=900)
    assert value < 1e-10
    assert 300 < cma.axis_ratio < 3000  # C's axes stretch by ~1000, the inverse of the function's scales
    longest = cma.B[:, np.argmax(cma.D)]
    assert abs(longest @ rotation[:, 0]) > 0.95  # along the function's flattest direction
    np.testing.assert_array_equal(cma.C, cma.C.T)
    np.testing.assert_allclose((cma.B * cma.D ** 2) @ cma.B.T, cma.C, rtol=1e-6, atol=1e-12 * cma.C.max())


def test_the_condition_number_is_bounded_and_sigma_grows_at_most_e_fold():
    cma = CMAState(np.zeros(3), 1.0, cma_parameters(3, 6))
    cma.C = np.diag([1.0, 1e-30, 0.5])
    cma.decompose()
    assert (cma.D.max() / cma.D.min()) ** 2 == pytest.approx(MAX_CONDITION, rel=1e-6)
    assert np.all(np.linalg.eigvalsh(cma.C) > 0)
    y = np.tile([[1e6, 0.0, 0.0]], (6, 1))  # an absurdly long step in every sample
    cma.update(y, np.arange(6.0))
    assert cma.sigma <= np.e + 1e-12 and np.all(np.isfinite(cma.C))


def test_the_learner_asks_the_mean_first_and_a_live_sigma_replaces_the_adapted_one():
    config = small_config()
    model = build_brain(config.brain, config.sensors.rays + 1)
    cma = CMAES(config, model, np.random.default_rng(1))
    genomes = cma.ask()
    assert genomes.shape == (11, 90) and cma.elites == 1
    np.testing.assert_array_equal(cma.ask(), genomes)
    np.testing.assert_array_equal(genomes[0], cma.cma.mean.astype(np.float32))
    stats = cma.tell(np.arange(11.0), config)
    assert stats["step_size"] == 0.5 and cma.cma.sigma != 0.5 and set(stats) == set(CMAES.stats)
    assert cma.scheduled_changes(config) == {}
    cma.ask()
    cma.tell(np.arange(11.0), replace_setting(config, "cmaes.sigma", 0.2))
    assert cma.cma.sigma == 0.2
    steps = cma.ask()[1:] - cma.ask()[0]
    assert np.std(steps) == pytest.approx(0.2, rel=0.2)


def test_runs_repeat_and_resume_bit_for_bit(tmp_path):
    config = small_config(**{"track.generated": 1})
    whole = finish(EvolutionRun(config, tmp_path / "whole", log=None))
    again = finish(EvolutionRun(config, tmp_path / "again", log=None))
    assert strip(whole.history) == strip(again.history)

    part = EvolutionRun(config, tmp_path / "part", log=None)
    part.run_generation()
    part.step(30)  # interrupted in the middle of generation 2
    part.save()
    del part
    resumed = finish(EvolutionRun(config, tmp_path / "part", resume=True, log=None))
    assert strip(resumed.history) == strip(whole.history)
    np.testing.assert_array_equal(resumed.genomes, whole.genomes)
    for name in CMAState.ARRAYS:
        np.testing.assert_array_equal(getattr(resumed.learner.cma, name), getattr(whole.learner.cma, name))
    assert resumed.learner.cma.sigma == whole.learner.cma.sigma
    np.testing.assert_array_equal(resumed.champion_genome, whole.champion_genome)
    assert {"theta_fitness", "step_size", "axis_ratio", "sigma"} <= set(whole.columns)
    assert "step size σ" in dict(whole.hud_rows())


@pytest.mark.parametrize("argv, words", [
    (["--population", "3"], ["cmaes.population", "[4,"]),
    (["--cmaes.sigma", "0"], ["cmaes.sigma"]),
    (["--cmaes.parents", "200"], ["cmaes.parents"]),
    (["--set", "es.sigma=0.1"], ["[es]", "cmaes"]),
])
def test_bad_cmaes_settings_print_one_line_and_exit_2(argv, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = cli.main(["train", "--algo", "cmaes", "--headless", *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ")
    for word in words:
        assert word in err[0]
    assert not (tmp_path / "runs").exists()
    with pytest.raises(ConfigError):
        small_config(**{"cmaes.population": 3})


def test_cli_trains_cmaes_in_the_window_and_drives_the_champion(tmp_path, capsys, display):
    run_dir, shot = tmp_path / "run", tmp_path / "cmaes.png"
    code = cli.main(["train", "--algo", "cmaes", "--headless", "--save-dir", str(run_dir), "--track", "kidney",
                     "--population", "8", "--generations", "1", "--set", "simulation.max_steps=150"])
    assert code == 0 and (run_dir / "champion.npz").is_file()
    code = cli.main(["train", "--algo", "cmaes", "--resume", str(run_dir), "--generations", "2", "--screenshot",
                     str(shot), "--frames", "40"])  # the window continues the run
    assert code == 0 and shot.is_file()
    image = display.surfarray.array3d(display.image.load(str(shot))).astype(int)
    assert image.std() > 10
    code = cli.main(["drive", "--champion", str(run_dir / "champion.npz"), "--track", "oval", "--headless"])
    assert code == 0 and "Oval" in capsys.readouterr().out
