"""Drive window: replays a champion like the headless drive, shows the track, keys work."""

import numpy as np
import pygame
import pytest

from cars.ui import theme as theme
from cars.learn.config import load_config
from cars.learn.drive import drive
from cars.learn.run import EvolutionRun
from cars.sim.track import load_track
from cars.ui.drive_window import DriveWindow, run_drive_window

SIZE = (1000, 700)
RESULT_KEYS = {"completed_laps", "progress_laps", "crashed", "steps", "lap_steps"}


@pytest.fixture(scope="module")
def champion(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    config = load_config("default", {"evolution.population": "16", "simulation.max_steps": "150"})
    run = EvolutionRun(config, folder, log=None)
    while run.generation < 2:
        run.step(1)
    return folder / "champion.npz"


def test_window_result_equals_headless_drive(champion, display):
    track = load_track("oval")
    win = DriveWindow(champion, track, laps=1, size=SIZE)
    for _ in range(8):
        win.handle_event(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_UP, mod=0, unicode="", scancode=0))
    assert win.speed == 64
    surface = pygame.Surface(SIZE)
    frames = 0
    while win.result is None:
        win.update()
        win.draw(surface)
        frames += 1
        assert frames < 2000
    headless = drive(champion, track, laps=1)
    assert RESULT_KEYS <= set(win.result)
    assert {k: win.result[k] for k in RESULT_KEYS} == {k: headless[k] for k in RESULT_KEYS}


def test_pause_restart_and_follow(champion, display):
    win = DriveWindow(champion, load_track("oval"), laps=1, size=SIZE)
    win.update()
    assert win.sim.steps == 1
    win.toggle_pause()
    win.update()
    assert win.sim.steps == 1
    win.single_step()
    assert win.sim.steps == 2
    win.restart()
    assert win.sim.steps == 0 and win.result is None
    win.toggle_follow()
    surface = pygame.Surface(SIZE)
    win.draw(surface)
    car = np.round(win.camera.world_to_screen(np.array([win.sim.x[0], win.sim.y[0]]))).astype(int)
    view = win.layout["view"]
    assert abs(car[0] - view.centerx) <= 2 and abs(car[1] - view.centery) <= 2  # the camera follows the car


def test_run_drive_window_screenshot_shows_the_track(champion, tmp_path):
    track = load_track("hairpins")
    shot = tmp_path / "drive.png"
    result = run_drive_window(champion, track, laps=1, screenshot=shot, frames=5)
    assert RESULT_KEYS <= set(result) and result["steps"] == 5
    image = pygame.surfarray.array3d(pygame.image.load(str(shot))).astype(int)
    assert image.std() > 10
    assert np.mean(np.all(image == theme.ROAD, axis=-1)) > 0.03
    wall = np.mean(np.abs(image - np.array(theme.WALL)).sum(axis=-1) < 30)
    assert wall > 0.002  # the walls are drawn
