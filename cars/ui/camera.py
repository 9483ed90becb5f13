"""World -> screen transform: fit the whole track to a viewport, or follow one car zoomed in.

screen = world * scale + offset, with `offset` rounded to whole pixels so the cached track layer
(blitted at an integer position) and the cars drawn on top of it never drift apart.
"""

from __future__ import annotations

import numpy as np

ZOOM_LEVELS = (1.5, 2.0, 2.5, 3.0, 4.0, 5.0)


class Camera:
    """Maps world coordinates (y down, like the screen) into a viewport rectangle.

    bounds: (xmin, ymin, xmax, ymax) of the world to fit; viewport: (x, y, w, h) in pixels.
    In follow mode the view is centred (smoothly) on a target point at `zoom` times the fit scale.
    """

    def __init__(self, bounds: tuple[float, float, float, float], viewport: tuple[int, int, int, int],
                 margin: int = 28, zoom_levels: tuple[float, ...] = ZOOM_LEVELS, zoom_index: int = 2) -> None:
        self.margin = margin
        self.follow = False
        self.zoom_levels = tuple(zoom_levels)
        self.zoom_index = zoom_index
        self.max_scale = float("inf")  # e.g. the largest scale a cached layer may be drawn at
        self.bounds = tuple(float(v) for v in bounds)
        self.viewport = tuple(int(v) for v in viewport)
        self.center = np.array(self._bounds_center(), dtype=np.float64)
        self.scale = 1.0
        self.offset = np.zeros(2)
        self._apply()

    @property
    def zoom(self) -> float:
        return self.zoom_levels[self.zoom_index]

    @property
    def fit_scale(self) -> float:
        xmin, ymin, xmax, ymax = self.bounds
        _, _, w, h = self.viewport
        avail_w = max(w - 2 * self.margin, 16)
        avail_h = max(h - 2 * self.margin, 16)
        return min(avail_w / max(xmax - xmin, 1e-6), avail_h / max(ymax - ymin, 1e-6))

    def _bounds_center(self) -> tuple[float, float]:
        xmin, ymin, xmax, ymax = self.bounds
        return (xmin + xmax) / 2.0, (ymin + ymax) / 2.0

    def set_viewport(self, viewport: tuple[int, int, int, int]) -> None:
        self.viewport = tuple(int(v) for v in viewport)
        self._apply()

    def set_bounds(self, bounds: tuple[float, float, float, float]) -> None:
        self.bounds = tuple(float(v) for v in bounds)
        if not self.follow:
            self.center[:] = self._bounds_center()
        self._apply()

    def toggle_follow(self) -> None:
        self.follow = not self.follow
        if not self.follow:
            self.center[:] = self._bounds_center()
        self._apply()

    def change_zoom(self, steps: int) -> None:
        self.zoom_index = int(np.clip(self.zoom_index + steps, 0, len(self.zoom_levels) - 1))
        self._apply()

    def look_at(self, point: tuple[float, float]) -> None:
        """Centre the view on a world point (used for panning in follow mode)."""
        self.center[:] = np.asarray(point, dtype=np.float64)
        self._apply()

    def update(self, target: tuple[float, float] | None, smoothing: float = 0.18, snap: bool = False) -> None:
        """Move towards `target` (world point) when following; `snap` jumps there at once."""
        if self.follow and target is not None:
            goal = np.asarray(target, dtype=np.float64)
            if snap or not np.all(np.isfinite(self.center)):
                self.center[:] = goal
            else:
                self.center += (goal - self.center) * smoothing
        elif not self.follow:
            self.center[:] = self._bounds_center()
        self._apply()

    def _apply(self) -> None:
        x, y, w, h = self.viewport
        self.scale = min(self.fit_scale * (self.zoom if self.follow else 1.0), self.max_scale)
        screen_center = np.array([x + w / 2.0, y + h / 2.0])
        self.offset = np.round(screen_center - self.center * self.scale)

    def world_to_screen(self, points: np.ndarray) -> np.ndarray:
        """points: (..., 2) world -> (..., 2) float screen pixels."""
        return np.asarray(points, dtype=np.float64) * self.scale + self.offset

    def screen_to_world(self, points: np.ndarray) -> np.ndarray:
        """points: (..., 2) screen pixels -> (..., 2) world."""
        return (np.asarray(points, dtype=np.float64) - self.offset) / self.scale

    def contains(self, pos: tuple[int, int]) -> bool:
        x, y, w, h = self.viewport
        return x <= pos[0] < x + w and y <= pos[1] < y + h
