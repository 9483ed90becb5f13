"""PPO and REINFORCE on the engine: the loss gradients against central differences, GAE against a slow
reference, the observation normaliser, the champion's folded normaliser, learning on an easy track, and
an exact resume."""

from __future__ import annotations

import json

import numpy as np
import pytest

import engine
from engine.gradcheck import relative_error
from cars.learn.config import config_from_dict
from cars.learn.algorithms.policy import ActorCritic, RunningNorm, log_prob
from cars.learn.policy_run import PolicyRun
from cars.learn.algorithms.ppo import ppo_loss
from cars.learn.algorithms.reinforce import REINFORCE
from cars.learn.algorithms.rollout import Rollout, discounted_returns, gae
from cars_helpers import circle_track


def float64_agent(algorithm: str = "ppo", seed: int = 0) -> ActorCritic:
    config = config_from_dict({"algorithm": {"name": algorithm}, "brain": {"hidden": [5, 4]}})
    agent = ActorCritic(config, 8, np.random.default_rng(seed))
    for p in agent.params:
        p.data = p.data.astype(np.float64)
        p.grad = np.zeros_like(p.data)
    agent.log_std.data[...] = [-0.3, 0.2]
    for layer in agent.mean_net:  # a last layer of ordinary size, so the tanh output moves
        if isinstance(layer, engine.Dense):
            layer.weight.data *= 30 if layer.out_features == 2 else 1
    return agent


def numeric_gradient(loss, param: engine.Parameter, eps: float = 1e-6) -> np.ndarray:
    grad = np.zeros_like(param.data)
    flat, out = param.data.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        keep = flat[i]
        flat[i] = keep + eps
        plus = loss()
        flat[i] = keep - eps
        minus = loss()
        flat[i] = keep
        out[i] = (plus - minus) / (2 * eps)
    return grad


def test_ppo_loss_gradient_matches_central_differences():
    agent = float64_agent()
    rng = np.random.default_rng(1)
    b = 24
    x = rng.normal(size=(b, 8))
    mean = agent.mean_net.forward(x)
    actions = mean + np.exp(agent.log_std.data) * rng.normal(size=(b, 2))
    # old log-probabilities chosen so that ratios fall inside and well outside the clip range
    shift = rng.choice([-0.6, -0.05, 0.0, 0.05, 0.6], size=b)
    batch = {"inputs": x, "actions": actions, "log_probs": log_prob(actions, mean, agent.log_std.data) + shift,
             "advantages": rng.normal(size=b), "targets": rng.normal(size=b) * 3}
    coefs = dict(clip_range=0.2, value_coef=0.7, entropy_coef=0.03)
    for p in agent.params:
        p.grad[...] = 0
    parts = ppo_loss(agent, batch, **coefs)
    assert 0 < parts["clip_fraction"] < 1  # both branches of the min are exercised
    analytic = [p.grad.copy() for p in agent.params]

    def loss() -> float:
        saved = [p.grad.copy() for p in agent.params]
        value = ppo_loss(agent, batch, **coefs)["loss"]
        for p, g in zip(agent.params, saved):
            p.grad[...] = g
        return value

    for p, grad in zip(agent.params, analytic):
        assert relative_error(grad, numeric_gradient(loss, p), floor=1e-6) < 1e-5
    assert parts["loss"] == pytest.approx(loss())


def test_reinforce_gradient_matches_central_differences():
    agent = float64_agent("reinforce")
    config = config_from_dict({"algorithm": {"name": "reinforce"}, "reinforce": {"entropy_coef": 0.05,
                                                                                 "max_grad_norm": 1e6,
                                                                                 "learning_rate": 1e-9}})
    rollout = Rollout(6, 3, 8)
    rng = np.random.default_rng(2)
    for t in range(6):
        x = rng.normal(size=(3, 8)).astype(np.float32)
        rollout.add(x, rng.normal(size=(3, 2)), np.zeros(3), np.zeros(3), rng.normal(size=3),
                    np.array([t == 3, False, False]), np.array([False, t == 4, False]), np.array([True, True, t < 5]))
    rollout.finish(np.zeros(3))
    for part in ("inputs", "actions"):
        setattr(rollout, part, getattr(rollout, part).astype(np.float64))
    learner = REINFORCE(agent, rng)
    learner.agent.optimizer.step = lambda: None  # keep the parameters: only the gradient is checked
    learner.update(rollout, config)
    analytic = [p.grad.copy() for p in agent.params]
    valid = rollout.valid[:rollout.t]
    x, a = rollout.flat("inputs"), rollout.flat("actions")
    returns = discounted_returns(rollout, config.reinforce.gamma)[valid]

    value0 = agent.value_net.forward(x)[:, 0]
    advantage = returns - value0
    advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)  # a constant of the policy loss

    def loss() -> float:
        mean, value = agent.mean_net.forward(x), agent.value_net.forward(x)[:, 0]
        log_std = agent.log_std.data
        entropy = np.sum(log_std) + (1 + np.log(2 * np.pi))
        return float(-np.mean(log_prob(a, mean, log_std) * advantage) + 0.5 * 0.5 * np.mean((value - returns) ** 2)
                     - 0.05 * entropy)

    for p, grad in zip(agent.params, analytic):
        assert relative_error(grad, numeric_gradient(loss, p), floor=1e-6) < 1e-5


def test_gae_matches_a_slow_reference():
    rng = np.random.default_rng(3)
    t_max, n, gamma, lam = 12, 4, 0.9, 0.8
    rollout = Rollout(t_max, n, 2)
    for t in range(t_max):
        term = rng.random(n) < 0.15
        trunc = ~term & (rng.random(n) < 0.1)
        rollout.add(np.zeros((n, 2)), np.zeros((n, 2)), np.zeros(n), rng.normal(size=n), rng.normal(size=n), term,
                    trunc, np.ones(n, bool))
    rollout.finish(rng.normal(size=n))
    advantages, targets = gae(rollout, gamma, lam)
    v, r = rollout.values.astype(np.float64), rollout.rewards
    for k in range(n):
        for t in range(t_max):  # sum of discounted TD errors until the episode ends
            total, weight = 0.0, 1.0
            for u in range(t, t_max):
                total += weight * (r[u, k] + gamma * (not rollout.terminated[u, k]) * v[u + 1, k] - v[u, k])
                if rollout.ended[u, k]:
                    break
                weight *= gamma * lam
            assert advantages[t, k] == pytest.approx(total)
    np.testing.assert_allclose(targets, advantages + v[:t_max])
    returns = discounted_returns(rollout, 1.0)
    ended = rollout.ended[:, 0]
    last = np.flatnonzero(ended)
    if len(last):
        assert returns[last[0], 0] == pytest.approx(r[last[0], 0])


def test_running_norm_is_exact_and_folds_into_the_champion():
    rng = np.random.default_rng(4)
    data = rng.uniform(0, 1, size=(300, 8)) * np.array([1, 2, 3, 4, 1, 1, 0.1, 5])
    norm = RunningNorm(8)
    for chunk in np.array_split(data, 7):
        norm.update(chunk)
    np.testing.assert_allclose(norm.mean, data.mean(axis=0))
    np.testing.assert_allclose(norm.var, data.var(axis=0))
    config = config_from_dict({"algorithm": {"name": "ppo"}, "brain": {"hidden": [16, 16]}})
    agent = ActorCritic(config, 8, rng)
    agent.norm = norm
    for layer in agent.mean_net:
        if isinstance(layer, engine.Dense):
            layer.weight.data *= 10
    raw = data[:50].astype(np.float32)
    driver = agent.driver()
    np.testing.assert_allclose(driver.forward(raw), agent.mean_net.forward(agent.inputs(raw)), atol=2e-5)
    assert [type(layer).__name__ for layer in driver] == ["Dense", "Tanh", "Dense", "Tanh", "Dense", "Tanh"]


def tiny_config(algorithm: str = "ppo", **section):
    table = {"ppo": dict(envs=16, rollout_steps=64, epochs=4, minibatches=4, learning_rate=3e-3, updates=20),
             "reinforce": dict(envs=16, learning_rate=3e-3, updates=12)}[algorithm]
    table.update(section)
    return config_from_dict({"seed": 3, "algorithm": {"name": algorithm}, "track": {"names": ["oval"]},
                             "brain": {"hidden": [16]}, "simulation": {"max_steps": 300}, algorithm: table})


def test_ppo_improves_the_mean_return_on_an_easy_track(tmp_path):
    run = PolicyRun(tiny_config(), tmp_path / "run", log=None)
    while not run.finished:
        run.run_generation()
    run.close()
    returns = [r["mean_return"] for r in run.history if r["mean_return"] is not None]
    assert len(run.history) == 20 and run.total_car_steps == sum(r["car_steps"] for r in run.history)
    assert np.mean(returns[-3:]) > np.mean(returns[:3]) + 20
    assert run.best is not None and run.best["fitness"] > 0.05
    for name in ("config.toml", "history.csv", "checkpoint.npz", "champion.npz"):
        assert (tmp_path / "run" / name).is_file()
    header = (tmp_path / "run" / "history.csv").read_text().splitlines()[0].split(",")
    for column in ("total_car_steps", "mean_return", "best_fitness", "laps", "policy_std", "policy_loss",
                   "value_loss", "entropy", "seconds", "learning_rate", "entropy_coef"):
        assert column in header


def test_reinforce_runs_whole_episodes(tmp_path):
    run = PolicyRun(tiny_config("reinforce", updates=3), tmp_path / "run", log=None)
    rows = [run.run_generation() for _ in range(3)]
    run.close()
    for row in rows:
        assert row["episodes"] == 16  # one whole episode per car, every update
    assert all(row["car_steps"] >= 16 for row in rows)


@pytest.mark.parametrize("algorithm", ["ppo", "reinforce"])
def test_resume_continues_bit_for_bit(tmp_path, algorithm):
    updates = 4
    config = tiny_config(algorithm, updates=updates, random_start=True, envs=6,
                         **({"rollout_steps": 40} if algorithm == "ppo" else {}))
    straight = PolicyRun(config, tmp_path / "a", log=None)
    while not straight.finished:
        straight.run_generation()
    straight.close()

    first = PolicyRun(config, tmp_path / "b", log=None)
    first.run_generation()
    first.run_generation()
    first.step(7)  # part of an update: lost on interrupt, redone after the resume
    first.save()
    first.close()
    from cars.learn.run_files import load_run_config
    second = PolicyRun(load_run_config(tmp_path / "b"), tmp_path / "b", resume=True, log=None)
    while not second.finished:
        second.run_generation()
    second.close()

    def without_time(rows):
        return [{k: v for k, v in r.items() if k not in ("seconds", "car_steps_per_second")} for r in rows]

    assert json.dumps(without_time(second.history)) == json.dumps(without_time(straight.history))
    for name in ("champion.npz",):
        a, b = engine.load(tmp_path / "a" / name), engine.load(tmp_path / "b" / name)
        np.testing.assert_array_equal(engine.get_genome(a), engine.get_genome(b))
    sa, sb = np.load(tmp_path / "a" / "checkpoint.npz"), np.load(tmp_path / "b" / "checkpoint.npz")
    assert set(sa.files) == set(sb.files)
    for key in sa.files:
        if key != "state":
            np.testing.assert_array_equal(sa[key], sb[key], err_msg=key)


def test_live_tweaks_apply_from_the_next_update(tmp_path):
    run = PolicyRun(tiny_config(updates=3), tmp_path / "run", log=None)
    run.set_setting("ppo.learning_rate", 0.002)
    assert run.config.ppo.learning_rate == 3e-3 and run.next_config.ppo.learning_rate == 0.002
    row = run.run_generation()
    assert row["learning_rate"] == 0.002 and run.agent.optimizer.lr == 0.002
    with pytest.raises(ValueError, match="cannot change"):
        run.set_setting("ppo.epochs", 3)
    with pytest.raises(ValueError):
        run.set_setting("ppo.learning_rate", float("nan"))
    run.close()


def test_the_champion_drives_like_the_evaluation(tmp_path):
    """champion.npz is an ordinary brain: replayed by cars drive on the run's track it scores exactly the
    fitness the run recorded for it."""
    from cars.learn.drive import drive, drive_simulation

    run = PolicyRun(tiny_config(updates=6), tmp_path / "run", log=None)
    while not run.finished:
        run.run_generation()
    run.close()
    champion = tmp_path / "run" / "champion.npz"
    sim = drive_simulation(champion, run.env.tracks[0], laps=run.config.simulation.max_laps,
                           max_steps=run.config.simulation.max_steps)
    sim.run()
    assert float(sim.fitness()[0]) == pytest.approx(run.best["fitness"], abs=1e-9)
    assert drive(champion, circle_track(), laps=1)["steps"] > 0  # and it drives any other track
