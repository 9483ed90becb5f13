"""`cars train` / `cars evolve` with a window: watch the population learn, tweak the learner while it runs.

The window only drives the shared run (run.step, set_setting, end_generation_now, next_track, save),
so a watched run produces the same generations as a headless one with the same seed and settings.
Keys 1-8 step the learner's live settings (run.live, up to four), which take effect from the next
generation. `EvolveWindow` is the testable core: `handle_event`, `update`, `draw`.
"""

from __future__ import annotations

import os

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # no pygame banner in the command's output

import time  # noqa: E402

import numpy as np  # noqa: E402
import pygame  # noqa: E402

from cars.ui import theme as theme  # noqa: E402
from cars.ui.evolve_hud import EvolveHud  # noqa: E402
from cars.ui.inspector import INSPECTOR_SIZE, draw_inspector  # noqa: E402
from cars.ui.panel import Toasts, draw_badge, draw_info_panel, draw_legend, rows_height, side_layout  # noqa: E402
from cars.learn.config import get_setting  # noqa: E402
from cars.ui.param_keys import fmt_value, label, ladder_step  # noqa: E402
from cars.ui.cars import CarRenderer, pick_car  # noqa: E402
from cars.ui.track import TrackLayer  # noqa: E402
from cars.sim.sensors import ray_angles  # noqa: E402
from cars.ui.help import Binding, HelpOverlay, PlaybackActions, playback_bindings  # noqa: E402
from cars.ui.camera import Camera  # noqa: E402
from cars.ui.chart import FitnessChart  # noqa: E402
from cars.ui.network import NetworkDiagram, brain_inputs, ray_labels  # noqa: E402
from cars.ui.window import DEFAULT_SIZE, run_loop  # noqa: E402

TURBO_SLICE = 0.2  # seconds of pure simulation between two drawn frames in turbo mode
TURBO_CHUNK = 32  # steps per run.step call in turbo mode

K = pygame
SETTING_KEYS = ((K.K_1, K.K_2), (K.K_3, K.K_4), (K.K_5, K.K_6), (K.K_7, K.K_8))


def evolve_bindings(live: list[str]) -> list[Binding]:
    """The window's keys: playback, camera, and a down/up pair of number keys per live setting."""
    settings = []
    for i, (name, (down, up)) in enumerate(zip(live, SETTING_KEYS)):
        settings += [Binding(f"{2 * i + 1}  {2 * i + 2}", f"{label(name)} down / up (from the next generation)",
                             (down,), "step_setting", (name, -1)),
                     Binding("", "", (up,), "step_setting", (name, 1))]
    return playback_bindings() + [
        Binding("T", "turbo: learn at headless speed, draw a few frames a second", (K.K_t,), "toggle_turbo"),
        Binding("E", "end this generation now", (K.K_e,), "end_generation"),
        Binding("F", "camera: whole track / follow the leader", (K.K_f,), "toggle_follow"),
        Binding("Z  X  (wheel)", "follow camera zoom out / in", (K.K_z,), "zoom", (-1,)),
        Binding("", "", (K.K_x,), "zoom", (1,)),
        Binding("Click a car", "follow and inspect it (right click or Backspace: back to the leader)",
                (K.K_BACKSPACE,), "clear_selection"),
        Binding("R", "leader's sensor rays on / off", (K.K_r,), "toggle_rays"),
        *settings,
        Binding("N", "next track (from the next generation)", (K.K_n,), "next_track"),
        Binding("S", "save the champion and history now", (K.K_s,), "save"),
        Binding("H  F1", "show / hide this help", (K.K_h, K.K_F1, K.K_QUESTION), "toggle_help"),
        Binding("Esc  Q", "save the champion and history, and quit", (K.K_ESCAPE, K.K_q), "quit"),
    ]


def legend(gold: str) -> list[tuple]:
    """The map legend; `gold` names the cars drawn gold (the GA's elites, ES's mean brain, ...)."""
    return [("driving (colour = progress)", theme.CAR_GRADIENT[2], "fill"), (gold, theme.GOLD, "fill"),
            ("stopped", theme.CAR_CRASHED, "fill"), ("leader", theme.CAR_LEADER_EDGE, "ring"),
            ("selected", theme.ACCENT, "ring")]


class EvolveWindow(PlaybackActions):
    """The evolve window's state and behaviour, independent of the frame loop."""

    def __init__(self, run, size: tuple[int, int] = DEFAULT_SIZE) -> None:
        self.run = run
        self.config = run.config
        self.unit = run.unit  # what one learning round is called: PPO counts updates
        self.size = size
        self.fps = 0.0
        self.turbo = False
        self.show_rays = True
        self.selected: int | None = None
        self.toasts = Toasts()
        self.bindings = evolve_bindings(run.live)
        self.help = HelpOverlay("Watching cars learn - keys", self.bindings)
        self.chart = FitnessChart(f"FITNESS (laps) per {self.unit}")
        self.legend = legend(run.gold_label)
        sim = run.sim  # None only for a resumed run that had already finished
        angles = np.degrees(sim.ray_angles if sim is not None
                            else ray_angles(self.config.sensors.rays, self.config.sensors.angle_deg))
        self.network = NetworkDiagram(ray_labels(angles) + ["speed"], ["steer", "gas"])
        car = self.config.car
        self.cars = CarRenderer(car.length, car.width, self.config.sensors.length)
        self._layers: dict[int, TrackLayer] = {}
        self._brain_cache: tuple[tuple, object] | None = None
        self._finished_told = False
        self.hud = EvolveHud()
        self._generation = run.generation
        self._sim = run.sim
        self.steps_done = 0  # simulation steps this window advanced (for steps/s in the HUD)
        self.layout = self._layout(size)
        track = self.current_track()
        self.camera = Camera(track.bounds(), self.layout["view"])
        self.camera.max_scale = self._layer(track).max_scale()

    # --- layout ---------------------------------------------------------------------------------
    def _layout(self, size: tuple[int, int]) -> dict[str, pygame.Rect]:
        chart_h = int(np.clip((size[1] - 20) * 0.27, 150, 230))
        return side_layout(size, rows_height(self.hud.rows(self)), chart_h)

    def resize(self, size: tuple[int, int]) -> None:
        self.size = size
        self.layout = self._layout(size)
        self.camera.set_viewport(tuple(self.layout["view"]))

    def current_track(self):
        sim = self.run.sim
        return sim.track if sim is not None else self.run.track

    def _layer(self, track) -> TrackLayer:
        layer = self._layers.get(id(track))
        if layer is None or layer.track is not track:
            if len(self._layers) > 4:
                self._layers.clear()
            layer = self._layers[id(track)] = TrackLayer(track)
        return layer

    # --- actions (bound to keys) --------------------------------------------------------------------
    def _advance(self, steps: int) -> None:
        if not self.run.finished:
            self._after_step(self.run.step(steps), steps)

    def change_speed(self, direction: int) -> None:
        super().change_speed(direction)
        self.turbo = False

    def toggle_turbo(self) -> None:
        self.turbo = not self.turbo
        self.toasts.add("turbo: learning at full speed" if self.turbo else f"turbo off: {self.speed}x",
                        theme.ACCENT)

    def end_generation(self) -> None:
        if not self.run.finished:
            result = self.run.end_generation_now()
            self._after_step(result if isinstance(result, list) else [result] if result else [])

    def toggle_follow(self) -> None:
        self.camera.toggle_follow()
        self._snap_camera()

    def clear_selection(self) -> None:
        self.selected = None

    def toggle_rays(self) -> None:
        self.show_rays = not self.show_rays

    def setting_next(self, name: str):
        """The value live setting `name` will have from the next generation on."""
        return get_setting(self.run.next_config, name)

    def setting_now(self, name: str):
        """The value live setting `name` has in the generation being driven."""
        return get_setting(self.run.config, name)

    def step_setting(self, name: str, direction: int) -> None:
        current = self.setting_next(name)
        value = ladder_step(name, current, direction)
        if value != current:
            self.set_setting(name, value)

    def set_setting(self, name: str, value) -> bool:
        """Ask the run to use `value` from the next generation; errors become a red message."""
        try:
            self.run.set_setting(name, value)
        except ValueError as exc:  # ConfigError is a ValueError
            self.toasts.add(str(exc), theme.BAD)
            return False
        self.toasts.add(f"{label(name)} {fmt_value(value)} from {self.unit} {self.run.generation + 2}", theme.WARN)
        return True

    def next_track(self) -> None:
        try:
            name = self.run.next_track()
        except ValueError as exc:
            self.toasts.add(str(exc), theme.BAD)
            return
        self.toasts.add(f"next track{f' {name}' if isinstance(name, str) else ''} from the next generation",
                        theme.WARN)

    def save(self) -> None:
        try:
            written = self.run.save()
        except OSError as exc:
            self.toasts.add(f"not saved: {exc}", theme.BAD)
            return
        folder = self.run.save_dir
        names = ", ".join(os.path.basename(os.fspath(p)) for p in written) if isinstance(written, list) else ""
        self.toasts.add(f"saved {names or 'champion and history'} in {folder}", theme.GOOD)

    # --- events ---------------------------------------------------------------------------------
    def handle_event(self, event: pygame.event.Event) -> None:
        if self.handle_common_event(event, self.bindings):
            return
        if event.type == pygame.MOUSEBUTTONDOWN and self.camera.contains(event.pos) and self.run.sim is not None:
            if event.button == 1:
                index = pick_car(self.run.sim, self.camera, event.pos)
                self.selected = index
                if index is not None and not self.camera.follow:
                    self.camera.toggle_follow()
                    self._snap_camera()
            elif event.button == 3:
                self.selected = None

    # --- simulation -----------------------------------------------------------------------------
    def update(self) -> None:
        if self.run.finished:
            if not self._finished_told:
                self._finished_told = True
                self.toasts.add("run finished: Esc saves and quits", theme.GOOD)
            return
        if self.paused:
            return
        if self.turbo:
            deadline = time.perf_counter() + TURBO_SLICE
            while time.perf_counter() < deadline and not self.run.finished:
                self._after_step(self.run.step(TURBO_CHUNK), TURBO_CHUNK)
        else:
            self._after_step(self.run.step(self.speed), self.speed)

    def _after_step(self, rows: list[dict], steps: int = 1) -> None:
        self.steps_done += steps
        if self.run.sim is not self._sim or self.run.generation != self._generation:
            self._sim = self.run.sim
            self._generation = self.run.generation
            self.selected = None
            track = self.current_track()
            if tuple(self.camera.bounds) != tuple(float(v) for v in track.bounds()):
                self.camera.set_bounds(track.bounds())
                self.camera.max_scale = self._layer(track).max_scale()
            self._snap_camera()
        for row in rows:
            best = row.get("best_fitness", row.get("best"))
            if best is not None and not self.turbo:
                number = int(row.get("generation", self.run.generation - 1)) + 1
                self.toasts.add(f"{self.unit} {number}: best {float(best):.3f} laps", theme.TEXT_DIM)

    def _target(self) -> int | None:
        sim = self.run.sim
        if sim is None or not len(sim.x):
            return None
        if self.selected is not None and self.selected < len(sim.x):
            return self.selected
        return sim.leader()

    def _snap_camera(self) -> None:
        i = self._target()
        if i is not None:
            sim = self.run.sim
            self.camera.update((float(sim.x[i]), float(sim.y[i])), snap=True)

    # --- drawing --------------------------------------------------------------------------------
    def draw(self, surface: pygame.Surface) -> None:
        if surface.get_size() != self.size:
            self.resize(surface.get_size())
        sim = self.run.sim
        target = self._target()
        leader = sim.leader() if target is not None else None
        if target is not None:
            self.camera.update((float(sim.x[target]), float(sim.y[target])))
        view = self.layout["view"]
        surface.fill(theme.BACKGROUND)
        surface.set_clip(view)
        self._layer(self.current_track()).draw(surface, self.camera)
        if target is not None:
            self.cars.draw(surface, self.camera, sim, elitism=self.run.elites, leader=leader, selected=self.selected,
                           show_rays=self.show_rays)
        surface.set_clip(None)
        self._draw_overlay(surface, view)
        fitness = sim.fitness() if target is not None else np.zeros(0)
        if target is not None and self.selected is not None and self.selected < len(sim.x):
            w, h = INSPECTOR_SIZE
            rect = pygame.Rect(view.left + 12, view.bottom - h - 12, min(w, view.width - 24), h)
            draw_inspector(surface, rect, sim, self.selected, title=f"CAR {self.selected}",
                           fitness=float(fitness[self.selected]), dt=getattr(sim, "dt", None),
                           max_speed=self.config.car.max_speed)
        else:
            draw_legend(surface, (view.left + 14, view.bottom - 6), self.legend)
        self._draw_side(surface, sim, fitness, leader)
        self.toasts.draw(surface, pygame.Rect(view.left, view.top, view.width, view.height - 28))
        self.help.draw(surface)

    def _draw_overlay(self, surface: pygame.Surface, view: pygame.Rect) -> None:
        x = view.left + 12
        if self.run.finished:
            x = draw_badge(surface, "FINISHED", theme.GOOD, (x, 12)).right + 8
        elif self.paused:
            x = draw_badge(surface, "PAUSED", theme.WARN, (x, 12)).right + 8
        if self.turbo:
            x = draw_badge(surface, "TURBO", theme.ACCENT, (x, 12)).right + 8
        label = "follow camera" if self.camera.follow else "whole track"
        title = f"{self.current_track().name}  -  {label}  -  H for help"
        surface.blit(theme.text(title, 18, theme.TEXT_DIM), (x + 4, 15))

    def _draw_side(self, surface: pygame.Surface, sim, fitness: np.ndarray, leader: int | None) -> None:
        hud, chart, net = self.layout["hud"], self.layout["chart"], self.layout["net"]
        if hud.width <= 0:
            return
        rows = self.hud.rows(self, sim, fitness, leader)
        # generations are numbered from 1, as in the headless command's output
        total = self.run.total_generations
        draw_info_panel(surface, hud, f"{self.unit.upper()} {min(self.run.generation + 1, total)} / {total}", rows)
        if chart.height >= 60:
            live = float(np.max(fitness)) if len(fitness) else None
            self.chart.draw(surface, chart, self.run.history, live_best=live)
        if net.height >= 100 and leader is not None:
            index = self.selected if self.selected is not None and self.selected < len(sim.x) else leader
            brain = self._brain(sim, index)
            inputs = brain_inputs(sim, index, self.config.car.max_speed)
            title = f"CAR {index}'S NETWORK" if index == self.selected else "LEADER'S NETWORK"
            self.network.draw(surface, net, brain, inputs, key=self._brain_cache[0], title=title)

    def _brain(self, sim, index: int):
        key = (id(sim), self.run.generation, int(np.asarray(sim.genome_index)[index]))
        if self._brain_cache is None or self._brain_cache[0] != key:
            self._brain_cache = (key, self.run.brain_for(index))
        return self._brain_cache[1]

    def close(self) -> None:
        """Save the champion and history on the way out (window closed, Esc, Ctrl-C)."""
        self.run.save()


def run_evolve_window(run, *, screenshot: str | os.PathLike | None = None, frames: int | None = None) -> None:
    """Open the evolve window on `run` (an EvolutionRun) until it is closed, or for `frames` frames."""
    run_loop(EvolveWindow(run), f"cars evolve - {run.save_dir}", screenshot=screenshot,
             frames=frames)
