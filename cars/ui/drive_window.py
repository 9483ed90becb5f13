"""`cars drive` with a window: replay a champion on any track, with its rays and network.

The car is driven by the same one-car Simulation as the headless `cars drive` (cars.learn.drive), so the
window's result dict is the headless JSON for the same champion and track.
"""

from __future__ import annotations

import os

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # no pygame banner in the command's output

import numpy as np  # noqa: E402
import pygame  # noqa: E402

from cars.ui import theme as theme  # noqa: E402
from cars.learn.drive import drive_simulation, load_champion, summary  # noqa: E402
from cars.ui.inspector import draw_sensor_bars, lap_time_text  # noqa: E402
from cars.ui.panel import Row, Toasts, bar, draw_badge, draw_info_panel  # noqa: E402
from cars.ui.panel import rows_height, section, side_layout  # noqa: E402
from cars.ui.cars import CarRenderer  # noqa: E402
from cars.ui.track import TrackLayer  # noqa: E402
from cars.sim.track import Track  # noqa: E402
from cars.ui.help import Binding, HelpOverlay, PlaybackActions, playback_bindings  # noqa: E402
from cars.ui.camera import Camera  # noqa: E402
from cars.ui.network import NetworkDiagram, brain_inputs, ray_labels  # noqa: E402
from cars.ui.window import DEFAULT_SIZE, run_loop  # noqa: E402


K = pygame
BINDINGS = playback_bindings() + [
    Binding("F", "camera: whole track / follow the car", (K.K_f,), "toggle_follow"),
    Binding("Z  X  (wheel)", "follow camera zoom out / in", (K.K_z,), "zoom", (-1,)),
    Binding("", "", (K.K_x,), "zoom", (1,)),
    Binding("R", "restart the drive", (K.K_r,), "restart"),
    Binding("H  F1", "show / hide this help", (K.K_h, K.K_F1, K.K_QUESTION), "toggle_help"),
    Binding("Esc  Q", "quit", (K.K_ESCAPE, K.K_q), "quit"),
]


class DriveWindow(PlaybackActions):
    """One champion on one track; `result` is the summary once the drive has ended."""

    def __init__(self, champion_path: str | os.PathLike, track: Track, laps: int = 1,
                 size: tuple[int, int] = DEFAULT_SIZE) -> None:
        self.champion_path = champion_path
        self.track = track
        self.laps = laps
        self.brain, self.config, self.meta = load_champion(champion_path)
        self.sim = drive_simulation(champion_path, track, laps=laps)
        self.result: dict | None = None
        self.fps = 0.0
        self.toasts = Toasts()
        self.help = HelpOverlay("Champion replay - keys", BINDINGS)
        angles = np.degrees(np.asarray(self.sim.ray_angles))
        self.network = NetworkDiagram(ray_labels(angles) + ["speed"], ["steer", "gas"])
        self.cars = CarRenderer(self.config.car.length, self.config.car.width, self.config.sensors.length)
        self.layer = TrackLayer(track)
        self.size = size
        self.layout = side_layout(size, rows_height(self._hud_rows()), 0)
        self.camera = Camera(track.bounds(), tuple(self.layout["view"]))
        self.camera.max_scale = self.layer.max_scale()

    # --- actions --------------------------------------------------------------------------------
    def toggle_follow(self) -> None:
        self.camera.toggle_follow()
        self.camera.update((float(self.sim.x[0]), float(self.sim.y[0])), snap=True)

    def restart(self) -> None:
        self.sim = drive_simulation(self.champion_path, self.track, laps=self.laps)
        self.result = None
        self.toasts.add("restarted", theme.TEXT_DIM)

    def close(self) -> None:
        """A replay has nothing to save."""

    # --- loop -----------------------------------------------------------------------------------
    def handle_event(self, event: pygame.event.Event) -> None:
        self.handle_common_event(event, BINDINGS)

    def resize(self, size: tuple[int, int]) -> None:
        self.size = size
        self.layout = side_layout(size, rows_height(self._hud_rows()), 0)
        self.camera.set_viewport(tuple(self.layout["view"]))

    def update(self) -> None:
        if not self.paused:
            self._advance(self.speed)

    def _advance(self, steps: int) -> None:
        self.sim.run(max_steps=steps)
        if self.sim.done and self.result is None:
            self.result = summary(self.sim)
            colour = theme.GOOD if self.result["completed_laps"] >= self.laps else theme.BAD
            self.toasts.add(f"{self.result['completed_laps']} / {self.laps} laps, "
                            f"{self.result['progress_laps']:.2f} laps of progress: R to drive again", colour)

    def draw(self, surface: pygame.Surface) -> None:
        if surface.get_size() != self.size:
            self.resize(surface.get_size())
        sim = self.sim
        self.camera.update((float(sim.x[0]), float(sim.y[0])))
        view = self.layout["view"]
        surface.fill(theme.BACKGROUND)
        surface.set_clip(view)
        self.layer.draw(surface, self.camera)
        self.cars.draw(surface, self.camera, sim, leader=0)
        surface.set_clip(None)
        x = view.left + 12
        if self.result is not None:
            ok = self.result["completed_laps"] >= self.laps
            x = draw_badge(surface, "FINISHED" if ok else self.result.get("status", "stopped").upper(),
                           theme.GOOD if ok else theme.BAD, (x, 12)).right + 8
        elif self.paused:
            x = draw_badge(surface, "PAUSED", theme.WARN, (x, 12)).right + 8
        label = "follow camera" if self.camera.follow else "whole track"
        surface.blit(theme.text(f"{self.track.name}  -  {label}  -  H for help", 18, theme.TEXT_DIM), (x + 4, 15))
        hud, net = self.layout["hud"], self.layout["net"]
        if hud.width > 0:
            draw_info_panel(surface, hud, "CHAMPION", self._hud_rows(), theme.GOLD)
            sensors = pygame.Rect(hud.left + int(hud.width * 0.46), hud.bottom - 52, int(hud.width * 0.54) - 14, 40)
            draw_sensor_bars(surface, sensors, np.asarray(sim.sensors)[0], np.asarray(sim.ray_angles))
        if net.height >= 100:
            inputs = brain_inputs(sim, 0, self.config.car.max_speed)
            self.network.draw(surface, net, self.brain, inputs, key="champion", title="CHAMPION'S NETWORK")
        self.toasts.draw(surface, view)
        self.help.draw(surface)

    def _hud_rows(self) -> list[Row]:
        sim = self.sim if hasattr(self, "sim") else None
        rows: list[Row] = [Row("file", os.path.basename(os.fspath(self.champion_path)), theme.TEXT_DIM),
                           Row("track", self.track.name, theme.TEXT)]
        gen = self.meta.get("generation") if isinstance(self.meta, dict) else None
        if gen is not None:
            rows.append(Row("evolved", f"generation {int(gen) + 1}", theme.TEXT_DIM))
        if sim is not None:
            progress = float(sim.progress[0])
            rows.append(bar("laps", min(max(progress / self.laps, 0.0), 1.0),
                            f"{int(sim.laps[0])} / {self.laps}   ({progress:.2f})", theme.GOOD))
            laps = summary(sim)["lap_steps"]
            times = "  ".join(lap_time_text(int(s), sim.dt) for s in laps[-3:]) or "-"
            rows.append(Row("lap times", times, theme.GOLD))
            rows.append(Row("time", f"{sim.steps * sim.dt:.2f} s  ({sim.steps} steps)", theme.TEXT))
            steer, throttle = (float(v) for v in np.asarray(sim.controls)[0])
            rows.append(Row("speed", f"{float(sim.speed[0]):.0f} / {self.config.car.max_speed:.0f}", theme.TEXT))
            rows.append(Row("steer / gas", f"{steer:+.2f} / {throttle:+.2f}", theme.TEXT))
        rows.append(Row("sim speed", f"{self.speed}x   {self.fps:.0f} FPS", theme.TEXT))
        rows.append(section("sensors"))
        rows += [Row(), Row()]  # room for the sensor bars drawn under the rows
        return rows


def run_drive_window(champion_path: str | os.PathLike, track: Track, *, laps: int = 1,
                     screenshot: str | os.PathLike | None = None, frames: int | None = None) -> dict:
    """Replay the champion on `track` in a window; returns the drive summary (the keys of the headless
    `cars drive --json`) of the drive as far as it got when the window closed."""
    window = DriveWindow(champion_path, track, laps=laps)
    run_loop(window, f"cars drive - {os.path.basename(os.fspath(champion_path))} on {track.name}",
             screenshot=screenshot, frames=frames)
    return window.result if window.result is not None else summary(window.sim)
