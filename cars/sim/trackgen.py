"""Seeded procedural tracks: random closed loops that always validate.

A candidate is a star-shaped loop: n control points at sorted, jittered angles around a centre with
random radii (some pinched far inwards, which makes hairpin-like dents), stretched to an ellipse,
smoothed by a closed Catmull-Rom spline and scaled into the world box. Candidates whose bends are
too tight to drive (curvature radius < MIN_RADIUS_FACTOR * width) or whose separate parts of road
come too close (< MIN_GAP_FACTOR * width apart) are rejected and the same generator draws again, so
one seed always gives the same track.
"""

from __future__ import annotations

import numpy as np

from cars.sim import geometry
from cars.sim.track import SMOOTH_SPACING, Track, TrackError

WORLD_CENTRE = (700.0, 450.0)
WORLD_SIZE = (1200.0, 800.0)  # the walls of a generated track fit in this box around the centre
WIDTH_RANGE = (60.0, 90.0)
MIN_RADIUS_FACTOR = 0.75  # tightest centerline curvature radius, in road widths
MIN_GAP_FACTOR = 1.6  # closest approach of two separate stretches of centerline, in road widths
MAX_ATTEMPTS = 200


def generate_track(seed: int, *, width: float | None = None, bends: int | None = None) -> Track:
    """A random valid closed track, identical for the same arguments.

    seed: any int, fed to numpy.random.default_rng; width: road width (default random in
    WIDTH_RANGE); bends: number of control points (default random 8..14, more = twistier).
    The track is named "Generated <seed>", drives clockwise or anticlockwise and starts on one of
    its straightest stretches.
    """
    rng = np.random.default_rng(seed)
    for _ in range(MAX_ATTEMPTS):
        road = float(width) if width is not None else float(rng.uniform(*WIDTH_RANGE))
        count = int(bends) if bends is not None else int(rng.integers(8, 15))
        points = candidate_centerline(rng, road, count)
        if points is None:
            continue
        try:
            return Track(f"Generated {seed}", round(road, 1), points, source=f"generated track {seed}")
        except TrackError:
            continue
    # Practically unreachable; an ellipse of this size is always valid, so the promise holds.
    angle = np.linspace(0.0, 2 * np.pi, 240, endpoint=False)
    road = float(width) if width is not None else WIDTH_RANGE[0]
    rx, ry = (WORLD_SIZE[0] - road) / 2, (WORLD_SIZE[1] - road) / 2
    ellipse = np.stack([WORLD_CENTRE[0] + rx * np.cos(angle), WORLD_CENTRE[1] + ry * np.sin(angle)], axis=1)
    return Track(f"Generated {seed}", round(road, 1), ellipse, source=f"generated track {seed}")


def candidate_centerline(rng: np.random.Generator, width: float, count: int) -> np.ndarray | None:
    """One random dense closed centerline (N, 2) fitted to the world box, or None if undrivable."""
    step = 2 * np.pi / count
    angle = np.arange(count) * step + rng.uniform(-0.35, 0.35, count) * step
    radius = rng.uniform(0.55, 1.0, count)
    pinched = rng.random(count) < 0.3
    radius[pinched] *= rng.uniform(0.2, 0.6, int(pinched.sum()))
    control = np.stack([radius * np.cos(angle) * 1.5, radius * np.sin(angle)], axis=1)
    points = fit_to_world(geometry.catmull_rom_closed(control), width)
    points = relax_bends(geometry.resample_closed(points, SMOOTH_SPACING), width)
    points = geometry.resample_closed(fit_to_world(points, width), SMOOTH_SPACING)

    if rng.random() < 0.5:
        points = points[::-1]
    points = np.roll(points, -straight_start(points, rng), axis=0)
    if not drivable(points, width):
        return None
    return points


def fit_to_world(points: np.ndarray, width: float) -> np.ndarray:
    """Scale (uniformly) and move a loop so its walls fit WORLD_SIZE around WORLD_CENTRE."""
    low, high = points.min(axis=0), points.max(axis=0)
    room = np.array(WORLD_SIZE) - width * 1.2  # walls stick out width / 2 (a bit more at corners)
    scale = float(np.min(room / (high - low)))
    return (points - (low + high) / 2) * scale + np.array(WORLD_CENTRE)


def curvature_radius(points: np.ndarray) -> np.ndarray:
    """Radius of curvature at each vertex of a closed polyline: mean adjacent segment length / |turn|."""
    seg = geometry.segment_lengths(points)
    return (seg + np.roll(seg, 1)) / 2 / np.maximum(np.abs(turning(points)), 1e-9)


def relax_bends(points: np.ndarray, width: float, passes: int = 100) -> np.ndarray:
    """Round off bends tighter than MIN_RADIUS_FACTOR * width by local smoothing.

    Each pass replaces the vertices near a too-tight bend (within 6 vertices) by a binomial-weighted
    mean of their 9 neighbours along the loop, p <- p + m (B * p - p) with m the 0/1 mask and B the
    kernel (1, 8, 28, 56, 70, 56, 28, 8, 1) / 256, so the rest of the loop keeps its shape and dents
    become round hairpins instead of being rejected.
    """
    target = MIN_RADIUS_FACTOR * width * 1.05
    kernel = np.array([1, 8, 28, 56, 70, 56, 28, 8, 1], dtype=np.float64) / 256
    spread = np.ones(13)
    for done in range(passes):
        if done % 8 == 7:  # smoothing bunches vertices up in bends; even them out again
            points = geometry.resample_closed(points, SMOOTH_SPACING)
        tight = (curvature_radius(points) < target).astype(np.float64)
        if not tight.any():
            break
        mask = np.convolve(np.concatenate([tight[-6:], tight, tight[:6]]), spread, mode="valid") > 0
        padded = np.concatenate([points[-4:], points, points[:4]])
        mean = np.stack([np.convolve(padded[:, k], kernel, "valid") for k in (0, 1)], axis=1)
        points = np.where(mask[:, None], mean, points)
    return points


def turning(points: np.ndarray) -> np.ndarray:
    """Signed turn angle at each vertex of a closed polyline. (K, 2) -> (K,) radians."""
    d = np.roll(points, -1, axis=0) - points
    heading = np.arctan2(d[:, 1], d[:, 0])
    return np.angle(np.exp(1j * (heading - np.roll(heading, 1))))


def straight_start(points: np.ndarray, rng: np.random.Generator) -> int:
    """A random vertex among the straightest fifth of the loop (least turning over +-5 vertices)."""
    window = np.ones(11)
    bend = np.abs(turning(points))
    wrapped = np.concatenate([bend[-5:], bend, bend[:5]])
    local = np.convolve(wrapped, window, mode="valid")
    calm = np.flatnonzero(local <= np.quantile(local, 0.2))
    return int(rng.choice(calm))


def drivable(points: np.ndarray, width: float) -> bool:
    """Bends no tighter than MIN_RADIUS_FACTOR * width; separate stretches >= MIN_GAP_FACTOR * width apart.

    Curvature radius at vertex i ~ mean adjacent segment length / |turn angle|. Two vertices count as
    separate stretches when the shorter way between them along the loop is over 4 widths; with
    the curvature limit, vertices closer than that along the loop cannot meet anyway.
    """
    if curvature_radius(points).min() < MIN_RADIUS_FACTOR * width:
        return False
    seg = geometry.segment_lengths(points)
    arc = np.concatenate([[0.0], np.cumsum(seg)[:-1]])
    along = np.abs(arc[:, None] - arc[None, :])
    along = np.minimum(along, seg.sum() - along)
    gap = np.hypot(*(points[:, None, :] - points[None, :, :]).transpose(2, 0, 1))
    return bool(np.all(gap[along > 4 * width] >= MIN_GAP_FACTOR * width))
