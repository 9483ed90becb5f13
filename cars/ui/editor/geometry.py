"""Geometry of the track editor on a closed centerline polyline (numpy only, no pygame).

points: (K, 2) world coordinates in driving order; segment i joins point i to point (i + 1) % K.
"""

from __future__ import annotations

import numpy as np


def nearest_point(points: np.ndarray, p: np.ndarray) -> tuple[int, float]:
    """Index of the point closest to p and its distance."""
    d = np.hypot(points[:, 0] - p[0], points[:, 1] - p[1])
    i = int(np.argmin(d))
    return i, float(d[i])


def nearest_segment(points: np.ndarray, p: np.ndarray) -> tuple[int, float]:
    """Segment i (from point i to point i+1, cyclic) closest to p, and the distance to it.

    With a = points[i], b = points[i+1]: t = clip(((p - a) . (b - a)) / |b - a|^2, 0, 1),
    distance = |a + t (b - a) - p|.
    """
    a = points
    b = np.roll(points, -1, axis=0)
    ab = b - a
    denom = np.maximum(np.einsum("ij,ij->i", ab, ab), 1e-12)
    t = np.clip(np.einsum("ij,ij->i", np.asarray(p)[None, :] - a, ab) / denom, 0.0, 1.0)
    closest = a + t[:, None] * ab
    d = np.hypot(closest[:, 0] - p[0], closest[:, 1] - p[1])
    i = int(np.argmin(d))
    return i, float(d[i])


def insert_point(points: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, int]:
    """Insert p into its nearest segment; returns the new points and the new point's index."""
    i, _ = nearest_segment(points, p)
    new = np.insert(points, i + 1, np.asarray(p, dtype=points.dtype), axis=0)
    return new, i + 1


def delete_point(points: np.ndarray, index: int) -> np.ndarray:
    return np.delete(points, index, axis=0)


def arc_distances(points: np.ndarray, index: int) -> np.ndarray:
    """Distance along the closed polyline from point `index` to every point, the shorter way round."""
    seg = np.hypot(*(np.roll(points, -1, axis=0) - points).T)
    s = np.concatenate([[0.0], np.cumsum(seg)[:-1]])
    total = float(seg.sum())
    d = np.abs(s - s[index])
    return np.minimum(d, total - d)


def falloff_weights(points: np.ndarray, index: int, radius: float) -> np.ndarray:
    """How much each point follows a drag of point `index`: 1 at it, a raised cosine down to 0 at
    `radius` (measured along the curve), so dense centerlines bend smoothly instead of spiking."""
    if radius <= 0:
        w = np.zeros(len(points))
    else:
        d = arc_distances(points, index)
        w = np.where(d < radius, 0.5 * (1.0 + np.cos(np.pi * np.minimum(d / radius, 1.0))), 0.0)
    w[index] = 1.0
    return w


def rotate_start(points: np.ndarray, index: int) -> np.ndarray:
    """Make point `index` the first point (the start line) keeping the driving order."""
    return np.roll(points, -index, axis=0)


def reverse_direction(points: np.ndarray) -> np.ndarray:
    """Drive the other way round, keeping the same start point."""
    return np.concatenate([points[:1], points[:0:-1]], axis=0)
