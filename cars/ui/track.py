"""Draw a track (road, walls, start/finish line, faint checkpoints) into a cached layer.

The static track is rendered once per (track, scale) into a Surface covering the track bounds
and blitted every frame at the camera's offset, so the per-frame cost is a single blit, both in
the fitted view and when the camera follows a car.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pygame

from cars.ui import theme as theme
from cars.ui.camera import Camera

LAYER_PAD = 40.0  # world units drawn around the track bounds


def polygon_area(points: np.ndarray) -> float:
    """Signed shoelace area of a closed polygon, points: (K, 2)."""
    x, y = points[:, 0], points[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def checker_quads(a: np.ndarray, b: np.ndarray, thickness: float, square: float) -> list[np.ndarray]:
    """Quads (each (4, 2)) of a two-row chequered band along the segment a -> b."""
    along = b - a
    length = float(np.hypot(*along))
    if length < 1e-9:
        return []
    u = along / length
    n = np.array([-u[1], u[0]])
    count = max(2, int(round(length / square)))
    step = length / count
    quads = []
    for row in range(2):
        for i in range(count):
            if (i + row) % 2:
                continue
            p = a + u * (i * step) + n * ((row - 1) * thickness / 2)
            quads.append(np.array([p, p + u * step, p + u * step + n * thickness / 2, p + n * thickness / 2]))
    return quads


def draw_polyline(surface: pygame.Surface, colour, points: np.ndarray, width: int, closed: bool = True) -> None:
    """A polyline about `width` pixels wide: anti-aliased up to 2 px, round joints when thicker."""
    if len(points) < 2:
        return
    if width <= 2:
        pygame.draw.aalines(surface, colour, closed, points.tolist())
        if width == 2:  # a second anti-aliased line half a pixel off reads as a smooth 1.5-2 px line
            pygame.draw.aalines(surface, colour, closed, (points + 0.6).tolist())
        return
    pts = points.tolist()
    pygame.draw.lines(surface, colour, closed, pts, width)
    radius = max(1, width // 2 - 1)
    if len(pts) <= 600:  # round joints hide the notches of thick polylines
        for p in pts:
            pygame.draw.circle(surface, colour, p, radius)


class TrackLayer:
    """Cache of one track drawn at one scale. `draw(surface, camera)` blits it into place."""

    MAX_SIDE = 3072  # pixels; the camera never zooms the layer beyond this

    def __init__(self, track, ground: Callable[[pygame.Surface, float, np.ndarray], None] | None = None) -> None:
        """ground(layer, scale, offset): optional painter of the ground under the road (e.g. the
        editor's grid), with layer pixel = world * scale + offset."""
        self.track = track
        self.ground = ground
        xmin, ymin, xmax, ymax = (float(v) for v in track.bounds())
        self.origin = np.array([xmin - LAYER_PAD, ymin - LAYER_PAD])
        self.extent = np.array([xmax - xmin + 2 * LAYER_PAD, ymax - ymin + 2 * LAYER_PAD])
        self._scale: float | None = None
        self._surface: pygame.Surface | None = None

    def max_scale(self) -> float:
        return self.MAX_SIDE / float(self.extent.max())

    def surface_for(self, scale: float) -> pygame.Surface:
        if self._surface is None or self._scale != scale:
            self._surface = self._render(scale)
            self._scale = scale
        return self._surface

    def draw(self, surface: pygame.Surface, camera: Camera) -> None:
        layer = self.surface_for(camera.scale)
        topleft = camera.world_to_screen(self.origin)
        surface.blit(layer, (int(round(topleft[0])), int(round(topleft[1]))))

    def _render(self, scale: float) -> pygame.Surface:
        track = self.track
        size = np.maximum(np.ceil(self.extent * scale).astype(int), 1)
        layer = pygame.Surface((int(size[0]), int(size[1])))
        layer.fill(theme.BACKGROUND)
        if self.ground is not None:
            self.ground(layer, scale, -self.origin * scale)
        key = (255, 0, 255)

        def px(points: np.ndarray) -> np.ndarray:
            return (np.asarray(points, dtype=np.float64) - self.origin) * scale

        left, right = px(track.left_wall), px(track.right_wall)
        outer, inner = (left, right) if abs(polygon_area(left)) >= abs(polygon_area(right)) else (right, left)
        # The road is the outer wall's polygon minus the inner one's: paint both, key out the hole.
        road = pygame.Surface(layer.get_size())
        road.fill(key)
        pygame.draw.polygon(road, theme.ROAD, outer.tolist())
        pygame.draw.polygon(road, key, inner.tolist())
        road.set_colorkey(key)
        layer.blit(road, (0, 0))

        for a, b in px(track.checkpoints.reshape(-1, 2)).reshape(-1, 2, 2)[1:]:
            pygame.draw.aaline(layer, theme.CHECKPOINT, a.tolist(), b.tolist())

        start = np.asarray(track.checkpoints[0], dtype=np.float64)
        square = max(4.0, track.width / 8.0)
        for quad in checker_quads(start[0], start[1], square * 2, square):
            pygame.draw.polygon(layer, theme.START_LIGHT, px(quad).tolist())

        wall_px = max(2, int(round(2.0 * scale)))
        draw_polyline(layer, theme.WALL, left, wall_px)
        draw_polyline(layer, theme.WALL, right, wall_px)
        return matched_to_display(layer)


def matched_to_display(surface: pygame.Surface) -> pygame.Surface:
    """`surface` in the display's pixel format (fast blits), converting only when they differ."""
    display = pygame.display.get_surface() if pygame.display.get_init() else None
    if display is not None and (surface.get_bitsize(), surface.get_masks()) != (display.get_bitsize(),
                                                                                display.get_masks()):
        return surface.convert()
    return surface
