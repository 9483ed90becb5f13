"""`cars train --algo ppo|reinforce` end to end: the run folder, --json, Ctrl-C and --resume, the champion
through `cars drive`, and bad input as one line with exit status 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

import engine
from cars import cli
from cars.learn.policy_run import PolicyRun

FAST = ["--track", "oval", "--set", "ppo.envs=8", "--set", "ppo.rollout_steps=32", "--set", "ppo.epochs=2",
        "--set", "simulation.max_steps=200", "--brain.hidden", "[16]"]


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(code, err):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def test_train_ppo_headless_then_drive_the_champion(tmp_path, capsys):
    run_dir, summary = tmp_path / "run", tmp_path / "summary.json"
    code, out, _ = run_cli(capsys, "train", "--algo", "ppo", "--headless", "--save-dir", run_dir, "--json", summary,
                           "--generations", 3, "--seed", 2, *FAST)
    assert code == 0, out
    lines = [line for line in out.splitlines() if line.startswith("update ")]
    assert len(lines) == 3 and all(w in lines[0] for w in ("car-steps", "return", "std", "entropy", "ETA"))
    assert "done: 3 updates" in out
    for name in ("config.toml", "seed.txt", "history.csv", "history.png", "checkpoint.npz", "champion.npz"):
        assert (run_dir / name).is_file(), name
    data = json.loads(summary.read_text())
    assert data["algo"] == "ppo" and data["updates"] == 3
    assert 3 * 8 * 32 * 0.9 < data["car_steps"] <= 3 * 8 * 32  # the steps that only respawn a car do not count
    assert set(data) >= {"first_lap_car_steps", "best_fitness", "car_steps_per_second", "champion"}
    assert "[ppo]" in (run_dir / "config.toml").read_text() and "updates = 3" in (run_dir / "config.toml").read_text()

    result = tmp_path / "drive.json"
    code, out, _ = run_cli(capsys, "drive", "--champion", run_dir / "champion.npz", "--track", "kidney", "--headless",
                           "--json", result)
    assert code == 0 and "Kidney" in out
    assert json.loads(result.read_text())["steps"] > 0


def test_reinforce_from_the_command_line(tmp_path, capsys):
    code, out, _ = run_cli(capsys, "train", "--algo", "reinforce", "--headless", "--save-dir", tmp_path / "r",
                           "--generations", 2, "--population", 6, "--track", "oval",
                           "--set", "simulation.max_steps=100")
    assert code == 0 and "done: 2 updates" in out
    assert "envs = 6" in (tmp_path / "r" / "config.toml").read_text()


def test_ctrl_c_saves_and_resume_continues(tmp_path, capsys, monkeypatch):
    run_dir = tmp_path / "run"
    calls = {"n": 0}
    real = PolicyRun.run_generation

    def interrupted(self):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self)

    monkeypatch.setattr(PolicyRun, "run_generation", interrupted)
    code, out, _ = run_cli(capsys, "train", "--algo", "ppo", "--headless", "--save-dir", run_dir, "--generations", 4,
                           *FAST)
    assert code == 130 and "interrupted" in out and "update 3" in out
    monkeypatch.setattr(PolicyRun, "run_generation", real)
    code, out, _ = run_cli(capsys, "train", "--resume", run_dir, "--headless")
    assert code == 0 and "resumed" in out and "done: 4 updates" in out
    assert len((run_dir / "history.csv").read_text().strip().splitlines()) == 1 + 4


@pytest.mark.parametrize("argv, words", [
    (["train", "--algo", "dqn", "--headless"], "invalid choice"),
    (["train", "--algo", "ga", "--headless", "--set", "ppo.learning_rate=0.1"], "[ppo] holds settings of algorithm"),
    (["train", "--algo", "ppo", "--headless", "--set", "evolution.mutation_rate=0.1"], "[evolution] holds settings"),
    (["train", "--algo", "ppo", "--headless", "--set", "ppo.learning_rate=nan"], "ppo.learning_rate must be"),
    (["train", "--algo", "ppo", "--headless", "--set", "ppo.minibatches=5000", "--set", "ppo.envs=2"],
     "ppo.minibatches must be at most"),
    (["train", "--algo", "reinforce", "--headless", "--set", "ppo.clip_range=0.1"], "[ppo] holds settings"),
])
def test_bad_settings_get_one_line(argv, words, capsys, tmp_path):
    code, _, err = run_cli(capsys, *argv, "--save-dir", tmp_path / "x")
    assert words in one_error_line(code, err)
    assert not (tmp_path / "x" / "checkpoint.npz").exists()


def test_a_ppo_run_resumed_as_a_ga_run_is_refused(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert run_cli(capsys, "train", "--algo", "ppo", "--headless", "--save-dir", run_dir, "--generations", 1,
                   *FAST)[0] == 0
    before = (run_dir / "checkpoint.npz").read_bytes()
    for argv in (["evolve", "--resume", run_dir], ["train", "--algo", "ga", "--resume", run_dir]):
        code, _, err = run_cli(capsys, *argv, "--headless")
        assert "algorithm ppo" in one_error_line(code, err)
    assert (run_dir / "checkpoint.npz").read_bytes() == before


def test_a_champion_of_another_observation_size_is_refused(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert run_cli(capsys, "train", "--algo", "ppo", "--headless", "--save-dir", run_dir, "--generations", 1,
                   *FAST)[0] == 0
    model, meta = engine.load_with_metadata(run_dir / "champion.npz")
    meta["config"]["sensors"]["rays"] = 9  # the file now claims 10 inputs; its first layer takes 8
    engine.save(model, tmp_path / "odd.npz", metadata=meta)
    code, _, err = run_cli(capsys, "drive", "--champion", tmp_path / "odd.npz", "--track", "oval", "--headless")
    assert "10 inputs" in one_error_line(code, err)
    assert np.isfinite(engine.get_genome(model)).all()
