"""Evolve window: frames show the track and cars, keys change the run, quitting saves."""

import csv

import numpy as np
import pygame
import pytest

from cars.ui import theme as theme
from cars.learn.config import load_config
from cars.learn.run import EvolutionRun
from cars.ui.param_keys import ladder_step
from cars.ui.evolve_window import TURBO_CHUNK, EvolveWindow, run_evolve_window

SIZE = (1100, 720)


def small_config(**extra):
    overrides = {"evolution.population": "12", "evolution.elitism": "2", "evolution.generations": "50",
                 "simulation.max_steps": "80", **extra}
    return load_config("default", overrides)


@pytest.fixture
def window(tmp_path, display):
    run = EvolutionRun(small_config(), tmp_path / "run", log=None)
    return EvolveWindow(run, size=SIZE)


def finish_generations(run, count):
    """Step a run until `count` generations are done (run_generation may run past the first)."""
    while run.generation < count:
        run.step(1)


def key(win, k, mod=0):
    win.handle_event(pygame.event.Event(pygame.KEYDOWN, key=k, mod=mod, unicode="", scancode=0))


def wall_hits(surface, camera, wall):
    """Fraction of wall vertices with a pixel in the wall colour right next to them (anti-aliased lines
    spread over neighbouring pixels)."""
    image = pygame.surfarray.array3d(surface).astype(int)
    pts = np.round(camera.world_to_screen(wall)).astype(int)
    w, h = surface.get_size()
    hits = []
    for x, y in pts.tolist():
        if 1 <= x < w - 1 and 1 <= y < h - 1:
            patch = image[x - 1:x + 2, y - 1:y + 2].reshape(-1, 3)
            hits.append(patch.sum(axis=1).max() > (sum(theme.WALL) + sum(theme.ROAD)) / 2)
    return np.mean(hits) if hits else 0.0


def test_frame_shows_track_cars_and_panels(window):
    surface = pygame.Surface(SIZE)
    for _ in range(5):
        window.update()
    window.draw(surface)
    track = window.run.sim.track
    assert wall_hits(surface, window.camera, track.left_wall[::4]) > 0.8
    assert wall_hits(surface, window.camera, track.right_wall[::4]) > 0.8
    image = pygame.surfarray.array3d(surface)
    side = image[window.layout["hud"].left + 5:, :, :]
    assert side.std() > 10  # the HUD column is drawn
    # live cars are drawn at their positions (not in the background colour)
    sim = window.run.sim
    centres = np.round(window.camera.world_to_screen(np.stack([sim.x, sim.y], axis=1))).astype(int)
    drawn = [tuple(surface.get_at(tuple(c))[:3]) not in (theme.ROAD, theme.BACKGROUND) for c in centres.tolist()]
    assert np.mean(drawn) > 0.8


def test_pause_speed_and_single_step(window):
    sim = window.run.sim
    window.update()
    assert sim.steps == 1
    key(window, pygame.K_SPACE)
    assert window.paused
    window.update()
    assert sim.steps == 1
    key(window, pygame.K_PERIOD)
    assert sim.steps == 2
    key(window, pygame.K_SPACE)
    key(window, pygame.K_UP)
    key(window, pygame.K_UP)
    assert window.speed == 4
    window.update()
    assert sim.steps == 6
    for _ in range(10):
        key(window, pygame.K_UP)
    assert window.speed == 64
    key(window, pygame.K_DOWN)
    assert window.speed == 32


def test_turbo_runs_many_steps_per_frame(window):
    key(window, pygame.K_t)
    assert window.turbo
    window.update()  # one frame of turbo: a time slice of pure simulation
    assert window.steps_done >= TURBO_CHUNK  # a whole slice of chunks, not one step per frame


def test_mutation_rate_applies_next_generation_and_is_recorded(window, tmp_path):
    run = window.run
    before = run.config.evolution.mutation_rate
    key(window, pygame.K_2)  # mutation rate up one notch
    wanted = ladder_step("evolution.mutation_rate", before, 1)
    assert wanted > before and window.setting_next("evolution.mutation_rate") == wanted
    assert window.setting_now("evolution.mutation_rate") == before  # not yet: this generation keeps its rate
    key(window, pygame.K_8)  # population up one notch
    new_population = ladder_step("evolution.population", 12, 1)
    surface = pygame.Surface(SIZE)
    window.draw(surface)  # HUD shows "old -> new"
    key(window, pygame.K_e)  # end generation 0 (bred with the new parameters)
    assert run.generation == 1 and len(run.sim.x) == new_population
    assert window.setting_now("evolution.mutation_rate") == wanted
    key(window, pygame.K_e)
    rows = list(csv.DictReader(open(tmp_path / "run" / "history.csv")))
    assert float(rows[0]["mutation_rate"]) == pytest.approx(before)
    assert float(rows[1]["mutation_rate"]) == pytest.approx(wanted)
    assert int(rows[0]["population"]) == 12 and int(rows[1]["population"]) == new_population


def test_invalid_parameter_is_refused_with_a_message(window):
    for _ in range(20):
        key(window, pygame.K_6)  # elitism up: capped below the population
    assert window.setting_next("evolution.elitism") == 11
    assert window.set_setting("evolution.elitism", 50) is False
    assert "elitism" in window.toasts.latest
    assert window.setting_next("evolution.elitism") == 11


def test_click_follows_and_inspects_a_car_then_back_to_leader(window):
    for _ in range(10):
        window.update()
    surface = pygame.Surface(SIZE)
    window.draw(surface)
    sim = window.run.sim
    i = 5
    pos = tuple(int(v) for v in np.round(window.camera.world_to_screen(np.array([sim.x[i], sim.y[i]]))))
    # cars start stacked: the click picks one of the cars under the cursor
    window.handle_event(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=pos, button=1))
    assert window.selected is not None and window.camera.follow
    window.draw(surface)
    key(window, pygame.K_BACKSPACE)
    assert window.selected is None
    key(window, pygame.K_f)
    assert not window.camera.follow


def test_resize_relayouts_and_keeps_the_track_visible(window):
    small = (800, 520)
    window.resize(small)
    surface = pygame.Surface(small)
    window.draw(surface)
    assert window.layout["view"].right <= small[0]
    assert wall_hits(surface, window.camera, window.run.sim.track.left_wall[::4]) > 0.8


SAVED = ("champion.npz", "history.csv")


def forget_saved(folder):
    """Delete what the run saved so far, so a test can see that something saves it again."""
    for name in SAVED:
        (folder / name).unlink()


def is_saved(folder) -> bool:
    return all((folder / name).is_file() for name in SAVED)


def test_quit_key_stops_and_close_saves(window, tmp_path):
    window.end_generation()
    folder = tmp_path / "run"
    forget_saved(folder)
    key(window, pygame.K_ESCAPE)
    assert not window.running
    window.close()
    assert is_saved(folder)


def test_run_evolve_window_screenshot_and_saves_on_exit(tmp_path):
    run = EvolutionRun(small_config(), tmp_path / "run", log=None)
    finish_generations(run, 1)
    forget_saved(tmp_path / "run")
    shot = tmp_path / "evolve.png"
    run_evolve_window(run, screenshot=shot, frames=3)
    image = pygame.surfarray.array3d(pygame.image.load(str(shot))).astype(int)
    assert image.std() > 10
    assert np.mean(np.all(image == theme.ROAD, axis=-1)) > 0.05  # the road covers part of the frame
    assert is_saved(tmp_path / "run")


def test_watching_gives_the_same_generations_as_headless(tmp_path, display):
    headless = EvolutionRun(small_config(), tmp_path / "a", log=None)
    finish_generations(headless, 3)
    watched = EvolutionRun(small_config(), tmp_path / "b", log=None)
    win = EvolveWindow(watched, size=SIZE)
    surface = pygame.Surface(SIZE)
    while watched.generation < 3:
        key(win, pygame.K_UP)  # mixed speeds, clicks and drawing must not change the run
        win.update()
        win.draw(surface)
        win.handle_event(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(300, 300), button=1))
    assert [r["best_fitness"] for r in watched.history[:3]] == [r["best_fitness"] for r in headless.history[:3]]


def test_save_key_writes_champion_and_history_now(window, tmp_path):
    window.end_generation()
    folder = tmp_path / "run"
    forget_saved(folder)
    key(window, pygame.K_s)
    assert is_saved(folder)
    assert "champion.npz" in window.toasts.latest and window.running
