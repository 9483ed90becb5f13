"""The drawing canvas: a float32 (side, side) array in [0, 1] (ink = 1), a round pen, an eraser, undo.

A pen stroke from point p to point q inks every pixel within ``radius`` of the segment pq (a capsule), with
a one-pixel soft edge so strokes are anti-aliased. Only the segment's bounding box is touched, and the
distances are computed for all its pixels at once (numpy, no loop over pixels). No pygame here.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

UNDO_DEPTH = 30  # snapshots kept (0.8 MB each at 448 x 448)


def capsule_coverage(ys: np.ndarray, xs: np.ndarray, p: tuple[float, float], q: tuple[float, float],
                     radius: float) -> np.ndarray:
    """Ink coverage in [0, 1] of pixels with centres (ys[:, None], xs[None, :]) by the capsule of radius
    ``radius`` around segment p-q (points as (x, y)): 1 inside, 0 beyond radius + 0.5, linear between."""
    (px, py), (qx, qy) = p, q
    dx, dy = qx - px, qy - py
    length2 = dx * dx + dy * dy
    rx, ry = xs[None, :] - px, ys[:, None] - py
    # Parameter of the closest point on the segment, clamped to [0, 1] (a dot when p == q).
    t = np.clip((rx * dx + ry * dy) / length2, 0.0, 1.0) if length2 > 0 else np.zeros_like(rx + ry)
    distance = np.hypot(rx - t * dx, ry - t * dy)
    return np.clip(radius + 0.5 - distance, 0.0, 1.0)


class Canvas:
    """The picture being drawn, with the strokes' undo history."""

    def __init__(self, side: int = 448) -> None:
        self.side = side
        self.pixels = np.zeros((side, side), np.float32)
        self.history: list[np.ndarray] = []
        self.version = 0  # bumped on every change, so views know when to refresh

    @property
    def empty(self) -> bool:
        return not self.pixels.any()

    def checkpoint(self) -> None:
        """Remember the current picture (before a stroke, a clear or a paste) for ``undo``."""
        self.history.append(self.pixels.copy())
        del self.history[:-UNDO_DEPTH]

    def undo(self) -> bool:
        if not self.history:
            return False
        self.pixels = self.history.pop()
        self.version += 1
        return True

    def clear(self) -> None:
        if not self.empty:
            self.checkpoint()
            self.pixels = np.zeros_like(self.pixels)
            self.version += 1

    def paste(self, picture: np.ndarray) -> None:
        """Replace the picture (e.g. by a test digit to edit), undoably."""
        self.checkpoint()
        self.pixels = np.clip(np.asarray(picture, np.float32), 0.0, 1.0).reshape(self.pixels.shape).copy()
        self.version += 1

    def stroke(self, p: tuple[float, float], q: tuple[float, float], radius: float, erase: bool = False) -> None:
        """Ink (or erase) the capsule around segment p-q; points are (x, y) in canvas pixels."""
        reach = radius + 1.0
        x0, x1 = int(max(0, np.floor(min(p[0], q[0]) - reach))), int(min(self.side, np.ceil(max(p[0], q[0]) + reach)))
        y0, y1 = int(max(0, np.floor(min(p[1], q[1]) - reach))), int(min(self.side, np.ceil(max(p[1], q[1]) + reach)))
        if x0 >= x1 or y0 >= y1:
            return
        cover = capsule_coverage(np.arange(y0, y1) + 0.5, np.arange(x0, x1) + 0.5, p, q, radius).astype(np.float32)
        region = self.pixels[y0:y1, x0:x1]
        if erase:
            np.minimum(region, 1.0 - cover, out=region)
        else:
            np.maximum(region, cover, out=region)
        self.version += 1

    def polyline(self, points: Sequence[tuple[float, float]], radius: float) -> None:
        """Ink a stroke through ``points`` (one undo step), as a pen dragged through them."""
        self.checkpoint()
        points = list(points)
        for p, q in zip(points[:1] + points[:-1], points):
            self.stroke(p, q, radius)
