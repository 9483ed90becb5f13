"""Inspector panel for one car: fitness, progress, laps, speed, controls and its sensor readings."""

from __future__ import annotations

import numpy as np
import pygame

from cars.ui import theme as theme
from cars.ui.panel import draw_badge


def car_status(sim, index: int) -> tuple[str, tuple[int, int, int]]:
    """A word for the car's state and its colour (uses the optional `status_names()` of the core)."""
    if bool(sim.alive[index]):
        return "driving", theme.GOOD
    if bool(sim.crashed[index]):
        return "crashed", theme.BAD
    names = getattr(sim, "status_names", None)
    return (names()[index] if names is not None else "stopped"), theme.WARN


def lap_time_text(steps: int, dt: float | None) -> str:
    if steps <= 0:
        return "-"
    return f"{steps * dt:.2f} s" if dt else f"{steps} steps"


def draw_sensor_bars(surface: pygame.Surface, rect: pygame.Rect, sensors: np.ndarray, angles: np.ndarray) -> None:
    """One vertical bar per ray (left ray first): full height = nothing within range."""
    r = len(sensors)
    if r == 0 or rect.width < 4 * r:
        return
    gap = 4
    bw = (rect.width - gap * (r - 1)) / r
    order = np.argsort(np.asarray(angles))  # y grows down: negative angles point to the car's left
    for k, i in enumerate(order.tolist()):
        v = float(np.clip(sensors[i], 0.0, 1.0))
        x = rect.left + k * (bw + gap)
        back = pygame.Rect(int(x), rect.top, max(int(bw), 1), rect.height)
        pygame.draw.rect(surface, theme.GRID, back, border_radius=2)
        h = int(round(rect.height * v))
        colour = theme.lerp_colour(theme.RAY_HIT, theme.RAY, v)
        pygame.draw.rect(surface, colour, pygame.Rect(back.left, back.bottom - h, back.width, h), border_radius=2)


def draw_inspector(surface: pygame.Surface, rect: pygame.Rect, sim, index: int, *, title: str,
                   fitness: float, dt: float | None, max_speed: float | None) -> None:
    theme.panel(surface, rect)
    surface.blit(theme.text(title, 24, theme.ACCENT, True), (rect.left + 12, rect.top + 10))
    status, colour = car_status(sim, index)
    draw_badge(surface, status.upper(), colour, (rect.right - 10, rect.top + 10), anchor="topright")
    speed = float(sim.speed[index])
    steer, throttle = (float(v) for v in np.asarray(sim.controls)[index])
    rows = [
        ("fitness", f"{fitness:.3f} laps"),
        ("progress", f"{float(sim.progress[index]):.3f} laps"),
        ("laps done", f"{int(sim.laps[index])}   best {lap_time_text(int(sim.best_lap_steps[index]), dt)}"),
        ("speed", f"{speed:.0f}" + (f" / {max_speed:.0f}" if max_speed else "")),
        ("steer / gas", f"{steer:+.2f} / {throttle:+.2f}"),
    ]
    y = rect.top + 40
    for label, value in rows:
        surface.blit(theme.text(label, 18, theme.TEXT_DIM), (rect.left + 12, y))
        surface.blit(theme.text(value, 18, theme.TEXT), (rect.left + 104, y))
        y += 19
    surface.blit(theme.text("sensors", 18, theme.TEXT_DIM), (rect.left + 12, y + 4))
    bars = pygame.Rect(rect.left + 104, y + 4, rect.width - 116, rect.bottom - y - 14)
    if bars.height > 8:
        draw_sensor_bars(surface, bars, np.asarray(sim.sensors)[index], np.asarray(sim.ray_angles))


INSPECTOR_SIZE = (300, 200)
