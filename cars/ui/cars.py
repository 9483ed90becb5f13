"""Draw a population of cars: rotated bodies, elites, the leader's sensor rays and hit points.

All body outlines are computed for the whole population in one numpy expression; only the final
`pygame.draw` call is made per car.
"""

from __future__ import annotations

import numpy as np
import pygame
import pygame.gfxdraw

from cars.ui import theme as theme
from cars.ui.camera import Camera


def body_outline(length: float, width: float) -> np.ndarray:
    """Car outline in car coordinates (x forward, y right), (6, 2): a box with a tapered nose."""
    h, w = length / 2.0, width / 2.0
    return np.array([[h, -0.55 * w], [h, 0.55 * w], [0.45 * h, w], [-h, w], [-h, -w], [0.45 * h, -w]])


def car_polygons(x: np.ndarray, y: np.ndarray, heading: np.ndarray, outline: np.ndarray) -> np.ndarray:
    """World polygons of all cars: x, y, heading (n,), outline (V, 2) -> (n, V, 2).

    p_world = p_car rotated by heading + (x, y):  [c -s; s c] @ p.
    """
    c, s = np.cos(heading)[:, None], np.sin(heading)[:, None]
    px = outline[None, :, 0] * c - outline[None, :, 1] * s + x[:, None]
    py = outline[None, :, 0] * s + outline[None, :, 1] * c + y[:, None]
    return np.stack([px, py], axis=-1)


def ray_endpoints(x: float, y: float, heading: float, ray_angles: np.ndarray, distances: np.ndarray,
                  ray_length: float) -> np.ndarray:
    """Ray tips for one car: angles (R,) relative to heading, normalised distances (R,) -> (R, 2)."""
    angle = heading + np.asarray(ray_angles, dtype=np.float64)
    d = np.asarray(distances, dtype=np.float64) * ray_length
    return np.stack([x + d * np.cos(angle), y + d * np.sin(angle)], axis=-1)


def progress_colours(progress: np.ndarray) -> np.ndarray:
    """Live-car colours along the theme gradient by progress relative to the best: (n,) -> (n, 3)."""
    p = np.asarray(progress, dtype=np.float64)
    top = float(np.max(p)) if p.size else 0.0
    t = np.clip(p / top, 0.0, 1.0) if top > 1e-9 else np.zeros_like(p)
    g = np.asarray(theme.CAR_GRADIENT, dtype=np.float64)
    lo = np.where(t[:, None] < 0.5, g[0], g[1])
    hi = np.where(t[:, None] < 0.5, g[1], g[2])
    f = np.where(t < 0.5, t * 2.0, t * 2.0 - 1.0)[:, None]
    return np.round(lo + (hi - lo) * f).astype(int)


def pick_car(sim, camera: Camera, pos: tuple[int, int], radius_px: float = 14.0) -> int | None:
    """Index of the car whose centre is nearest the screen point `pos` (within a radius), else None."""
    centres = camera.world_to_screen(np.stack([np.asarray(sim.x), np.asarray(sim.y)], axis=-1))
    d = np.hypot(centres[:, 0] - pos[0], centres[:, 1] - pos[1])
    if d.size == 0:
        return None
    # prefer live cars: a crashed car under a live one should not steal the click
    d = d + np.where(np.asarray(sim.alive), 0.0, radius_px * 0.5)
    i = int(np.argmin(d))
    return i if d[i] <= radius_px else None


class CarRenderer:
    """Draws every car of a Simulation-like object (arrays x, y, heading, alive, progress, ...)."""

    def __init__(self, car_length: float, car_width: float, ray_length: float) -> None:
        self.outline = body_outline(car_length, car_width)
        self.ray_length = float(ray_length)
        self.car_length = float(car_length)

    def draw(self, surface: pygame.Surface, camera: Camera, sim, *, elitism: int = 0,
             leader: int | None = None, selected: int | None = None, show_rays: bool = True) -> None:
        n = len(sim.x)
        if n == 0:
            return
        x, y, heading = (np.asarray(a, dtype=np.float64) for a in (sim.x, sim.y, sim.heading))
        alive = np.asarray(sim.alive, dtype=bool)
        polys = np.round(camera.world_to_screen(car_polygons(x, y, heading, self.outline))).astype(int)
        genome = np.asarray(getattr(sim, "genome_index", np.arange(n)))
        elite = genome < elitism
        colours = progress_colours(np.where(alive, np.asarray(sim.progress, dtype=np.float64), 0.0))

        order = np.lexsort((elite, alive))  # dead first, then live, elites on top
        poly_list = polys.tolist()
        colour_list = colours.tolist()
        for i in order.tolist():
            pts = poly_list[i]
            if not alive[i]:
                pygame.gfxdraw.filled_polygon(surface, pts, theme.CAR_CRASHED)
                pygame.gfxdraw.aapolygon(surface, pts, theme.CAR_CRASHED_EDGE)
            elif elite[i]:
                pygame.gfxdraw.filled_polygon(surface, pts, theme.GOLD)
                pygame.gfxdraw.aapolygon(surface, pts, theme.GOLD)
            else:
                pygame.gfxdraw.filled_polygon(surface, pts, colour_list[i])
                pygame.gfxdraw.aapolygon(surface, pts, colour_list[i])

        for index, colour in ((leader, theme.CAR_LEADER_EDGE), (selected, theme.ACCENT)):
            if index is None or not 0 <= index < n:
                continue
            if show_rays:
                self.draw_rays(surface, camera, sim, index)
            pts = poly_list[index]
            pygame.draw.polygon(surface, colour, pts, 2)
            centre = camera.world_to_screen(np.array([x[index], y[index]]))
            ring = max(8, int(self.car_length * camera.scale * 0.9))
            pygame.draw.circle(surface, colour, centre.tolist(), ring, 1)

    def draw_rays(self, surface: pygame.Surface, camera: Camera, sim, index: int) -> None:
        sensors = np.asarray(sim.sensors)[index]
        tips = ray_endpoints(float(sim.x[index]), float(sim.y[index]), float(sim.heading[index]),
                             np.asarray(sim.ray_angles), sensors, self.ray_length)
        origin = camera.world_to_screen(np.array([sim.x[index], sim.y[index]])).tolist()
        tips_px = camera.world_to_screen(tips).tolist()
        for tip, dist in zip(tips_px, sensors.tolist()):
            pygame.draw.aaline(surface, theme.RAY, origin, tip)
            if dist < 0.999:  # the ray touched a wall: mark where
                pygame.draw.circle(surface, theme.RAY_HIT, tip, 3)
