"""Shared helpers for the cars tests: tiny hand-made tracks and slow reference implementations."""

from __future__ import annotations

import math

import numpy as np

from cars.sim.track import Track


def square_track(width: float = 60.0) -> Track:
    """Square loop, clockwise on screen, starting mid-way along the top side heading +x.

    Centerline corners (500, 100), (500, 500), (100, 500), (100, 100). With width 60 the left (outer)
    wall is the square 70..530 and the right (inner) wall the square 130..470 (exact mitred corners).
    """
    points = [[300, 100], [500, 100], [500, 500], [100, 500], [100, 100]]
    return Track.from_dict({"name": "Square", "width": width, "centerline": points}, "square")


def circle_track(radius: float = 250.0, width: float = 80.0, points: int = 96) -> Track:
    """Circle around (600, 450), clockwise on screen, starting at its top."""
    a = -math.pi / 2 + np.arange(points) * 2 * math.pi / points
    centre = np.stack([600 + radius * np.cos(a), 450 + radius * np.sin(a)], axis=1)
    return Track.from_dict({"name": "Circle", "width": width, "centerline": centre.tolist()}, "circle")


def hairpin_track() -> Track:
    """A U: two parallel legs 160 apart joined by round ends (a shortcut across the infield is tempting)."""
    top = [[x, 300.0] for x in range(300, 900, 20)]
    right = [[900 + 80 * math.sin(t), 380 - 80 * math.cos(t)] for t in np.linspace(0, math.pi, 16)[:-1]]
    bottom = [[x, 460.0] for x in range(900, 300, -20)]
    left = [[300 - 80 * math.sin(t), 380 + 80 * math.cos(t)] for t in np.linspace(0, math.pi, 16)[:-1]]
    return Track.from_dict({"name": "U", "width": 60, "centerline": top + right + bottom + left}, "u")


def across_road(track: Track, rng: np.random.Generator, count: int, spread: float) -> tuple[np.ndarray, np.ndarray]:
    """`count` points at random places along the centerline, each moved sideways by up to `spread` road
    widths either way: (points (count, 2), the centerline's heading at each)."""
    s = rng.uniform(0, track.length, count)
    heading = track.heading_at(s)
    normal = np.stack([-np.sin(heading), np.cos(heading)], axis=1)
    return track.position_at(s) + normal * rng.uniform(-spread, spread, (count, 1)) * track.width, heading


def cast_rays_reference(x: float, y: float, heading: float, angles: np.ndarray, length: float,
                        segments: np.ndarray) -> np.ndarray:
    """One car, every wall segment, plain Python: the nearest t >= 0 with 0 <= u <= 1, over length."""
    out = np.ones(len(angles))
    for r, angle in enumerate(angles):
        dx, dy = math.cos(heading + angle), math.sin(heading + angle)
        for x1, y1, x2, y2 in segments:
            ex, ey, wx, wy = x2 - x1, y2 - y1, x1 - x, y1 - y
            den = dx * ey - dy * ex
            if abs(den) < 1e-12:
                continue
            t, u = (wx * ey - wy * ex) / den, (wx * dy - wy * dx) / den
            if t >= 0 and 0 <= u <= 1:
                out[r] = min(out[r], t / length)
    return out


def inside_polygon(x: float, y: float, polygon: np.ndarray) -> bool:
    """Even-odd crossing test for one point."""
    inside = False
    n = len(polygon)
    for i in range(n):
        (x1, y1), (x2, y2) = polygon[i], polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def on_road_reference(track: Track, x: float, y: float) -> bool:
    """A point is on the road when exactly one of the two walls encloses it."""
    return inside_polygon(x, y, np.asarray(track.left_wall)) != inside_polygon(x, y, np.asarray(track.right_wall))


def physics_reference(state: tuple[float, float, float, float], steer: float, throttle: float, car, dt: float):
    """One step of the documented car dynamics for one car, in float64 scalars."""
    x, y, h, v = state
    a = throttle * (car.acceleration if throttle >= 0 else car.brake) - car.drag * v - car.rolling
    v = min(max(v + a * dt, 0.0), car.max_speed)
    h += steer * car.turn_rate * min(v / car.turn_speed, 1.0) * dt
    return x + v * dt * math.cos(h), y + v * dt * math.sin(h), h, v


TIMING = {"seconds", "car_steps_per_second"}


def finish(run):
    """Run a learner's run folder to its last generation; returns it."""
    while not run.finished:
        run.run_generation()
    return run


def strip(history: list[dict]) -> list[dict]:
    """History rows without their timings (the columns that differ between identical runs)."""
    return [{k: v for k, v in row.items() if k not in TIMING} for row in history]
