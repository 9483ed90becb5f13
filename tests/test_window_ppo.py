"""The evolve window on a PPO run (dummy SDL driver): the rollout's cars, the update HUD, the policy's
network, live tweaks of the learning rate and the entropy coefficient, saving on the way out."""

import numpy as np
import pygame

from cars.learn.config import config_from_dict
from cars.learn.policy_run import PolicyRun
from cars.ui import theme as theme
from cars.ui.evolve_window import EvolveWindow, run_evolve_window
from conftest import key_event

SIZE = (1100, 720)


def ppo_run(path):
    config = config_from_dict({"algorithm": {"name": "ppo"}, "track": {"names": ["oval"]},
                               "brain": {"hidden": [16]},
                               "ppo": {"envs": 8, "rollout_steps": 16, "epochs": 2, "updates": 50}})
    return PolicyRun(config, path, log=None)


def test_window_draws_a_ppo_run_and_tweaks_it(tmp_path, display):
    run = ppo_run(tmp_path / "run")
    window = EvolveWindow(run, size=SIZE)
    surface = pygame.Surface(SIZE)
    for _ in range(40):  # 40 steps: two updates of 16 steps
        window.update()
    window.draw(surface)
    assert run.generation == 2 and len(run.history) == 2
    rows = {r.label: r.text for r in window.hud.rows(window, run.sim, run.sim.fitness(), run.sim.leader())}
    assert rows["update"] == "3 / 50" and "steer / gas" in rows["policy std"] and "mean return" in rows
    sim = run.sim
    centres = np.round(window.camera.world_to_screen(np.stack([sim.x, sim.y], axis=1))).astype(int)
    drawn = [tuple(surface.get_at(tuple(c))[:3]) not in (theme.ROAD, theme.BACKGROUND) for c in centres.tolist()]
    assert np.mean(drawn) > 0.8  # the rollout's cars are drawn where they are
    side = pygame.surfarray.array3d(surface)[window.layout["net"].left + 5:, window.layout["net"].top + 5:]
    assert side.std() > 10  # the policy's network diagram

    window.handle_event(key_event(pygame.K_2))  # learning rate up (from the next update)
    window.handle_event(key_event(pygame.K_4))  # entropy coefficient up
    assert run.next_config.ppo.learning_rate > run.config.ppo.learning_rate
    assert run.next_config.ppo.entropy_coef > run.config.ppo.entropy_coef == 0
    while run.generation < 3:
        window.update()
    assert run.history[-1]["learning_rate"] == run.next_config.ppo.learning_rate
    window.close()
    run.close()
    assert (tmp_path / "run" / "checkpoint.npz").is_file() and (tmp_path / "run" / "history.csv").is_file()


def test_run_evolve_window_with_a_screenshot(tmp_path, display):
    run = ppo_run(tmp_path / "run")
    run_evolve_window(run, screenshot=tmp_path / "shot.png", frames=20)
    run.close()
    assert (tmp_path / "shot.png").stat().st_size > 10_000
