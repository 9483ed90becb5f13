"""Shared 2D geometry on numpy arrays (no pygame): segments, closed polylines, smoothing.

Conventions: points are `(N, 2)` arrays of x, y (y grows downward, as on screen); a segment is a row
`x1, y1, x2, y2` of an `(S, 4)` array; a closed polyline of K points has K segments, segment i
joining point i to point (i + 1) % K.
"""

from __future__ import annotations

import numpy as np


def closed_segments(points: np.ndarray) -> np.ndarray:
    """Segments of a closed polyline. points: (K, 2) -> (K, 4), row i = points[i], points[i+1 mod K]."""
    return np.concatenate([points, np.roll(points, -1, axis=0)], axis=1)


def segment_lengths(points: np.ndarray) -> np.ndarray:
    """Lengths of the K segments of a closed polyline. points: (K, 2) -> (K,)."""
    d = np.roll(points, -1, axis=0) - points
    return np.hypot(d[:, 0], d[:, 1])


def cross2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """z component of the cross product of 2D vectors, a x b = ax by - ay bx (broadcasts over leading axes)."""
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def segments_cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Which segments of `a` touch or cross which segments of `b`. a: (..., N, 4), b: (..., M, 4) -> (..., N, M) bool.

    Segments p1p2 and q1q2 meet iff q1 and q2 are not strictly on the same side of line p1p2, p1 and
    p2 are not strictly on the same side of line q1q2, and their bounding boxes overlap (the last
    condition only matters for collinear segments). Touching counts as meeting; NaN rows never meet.
    Leading axes broadcast, so a batch of blocks can be tested in one call.
    """
    p1, p2 = a[..., :, None, 0:2], a[..., :, None, 2:4]
    q1, q2 = b[..., None, :, 0:2], b[..., None, :, 2:4]
    r, s = p2 - p1, q2 - q1
    d1, d2 = cross2(r, q1 - p1), cross2(r, q2 - p1)
    d3, d4 = cross2(s, p1 - q1), cross2(s, p2 - q1)
    sides = (d1 * d2 <= 0) & (d3 * d4 <= 0)
    boxes = (
        (np.minimum(p1[..., 0], p2[..., 0]) <= np.maximum(q1[..., 0], q2[..., 0]))
        & (np.minimum(q1[..., 0], q2[..., 0]) <= np.maximum(p1[..., 0], p2[..., 0]))
        & (np.minimum(p1[..., 1], p2[..., 1]) <= np.maximum(q1[..., 1], q2[..., 1]))
        & (np.minimum(q1[..., 1], q2[..., 1]) <= np.maximum(p1[..., 1], p2[..., 1]))
    )
    return sides & boxes


def _blocks(segments: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive runs of `size` segments, NaN-padded: (B, size, 4), and each run's box (B, 4)."""
    count = -(-len(segments) // size)
    padded = np.full((count * size, 4), np.nan)
    padded[: len(segments)] = segments
    blocks = padded.reshape(count, size, 4)
    xs, ys = blocks[..., 0::2].reshape(count, -1), blocks[..., 1::2].reshape(count, -1)
    boxes = np.stack([np.nanmin(xs, 1), np.nanmin(ys, 1), np.nanmax(xs, 1), np.nanmax(ys, 1)], axis=1)
    return blocks, boxes


def first_crossing(a: np.ndarray, b: np.ndarray, same: bool, block: int = 32) -> tuple[int, int] | None:
    """A pair (i, j) of crossing segments, a[i] with b[j] (the smallest i, j of the first batch found), or None.

    a: (N, 4), b: (M, 4). With `same=True`, a and b are the same closed polyline: each segment and
    its two neighbours (which share an endpoint with it) are skipped, and each pair is tested once.
    Consecutive segments of a polyline lie close together, so both are cut into blocks of `block`
    segments and only pairs of blocks whose bounding boxes overlap are tested, in batches; dense
    tracks of thousands of points validate in milliseconds instead of testing all N x M pairs.
    """
    n = len(a)
    blocks_a, boxes_a = _blocks(a, block)
    blocks_b, boxes_b = _blocks(b, block)
    overlap = ((boxes_a[:, None, 0] <= boxes_b[None, :, 2]) & (boxes_b[None, :, 0] <= boxes_a[:, None, 2])
               & (boxes_a[:, None, 1] <= boxes_b[None, :, 3]) & (boxes_b[None, :, 1] <= boxes_a[:, None, 3]))
    if same:
        overlap &= np.triu(np.ones_like(overlap))
    pairs = np.argwhere(overlap)
    offsets = np.arange(block)
    for start in range(0, len(pairs), 256):
        bi, bj = pairs[start:start + 256, 0], pairs[start:start + 256, 1]
        hit = segments_cross(blocks_a[bi], blocks_b[bj])  # (P, block, block)
        rows = (bi[:, None] * block + offsets)[:, :, None]
        cols = (bj[:, None] * block + offsets)[:, None, :]
        if same:
            gap = (cols - rows) % n
            hit &= (cols > rows) & (gap != 1) & (gap != n - 1)
        found = np.argwhere(hit)
        if len(found):
            i, j = rows[found[:, 0], found[:, 1], 0], cols[found[:, 0], 0, found[:, 2]]
            first = np.lexsort((j, i))[0]
            return int(i[first]), int(j[first])
    return None


def point_segment_distances(points: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """Distance from each point to each segment. points: (P, 2), segments: (S, 4) -> (P, S).

    With a, b the segment ends: t = clip(((p - a) . (b - a)) / |b - a|^2, 0, 1), d = |a + t (b - a) - p|.
    """
    a, ab = segments[None, :, 0:2], segments[None, :, 2:4] - segments[None, :, 0:2]
    ap = points[:, None, :] - a
    denom = np.maximum(np.sum(ab * ab, axis=-1), 1e-12)
    t = np.clip(np.sum(ap * ab, axis=-1) / denom, 0.0, 1.0)
    gap = ap - t[..., None] * ab
    return np.hypot(gap[..., 0], gap[..., 1])


def offset_closed(points: np.ndarray, distance: float, miter_limit: float = 2.0) -> np.ndarray:
    """Offset a closed polyline sideways by `distance` along its mitred vertex normals.

    points: (K, 2) -> (K, 2). Positive distance goes to the left of the driving direction as seen on
    screen (y down): segment direction (dx, dy) has left normal (dy, -dx). At vertex i the normal is
    the bisector m of the two adjacent segment normals, scaled by 1 / (m . n) so both offset segments
    stay exactly `distance` from their centre segments; the scale is capped at `miter_limit` so very
    sharp corners are cut instead of spiking out.
    """
    d = np.roll(points, -1, axis=0) - points
    d /= np.hypot(d[:, 0], d[:, 1])[:, None]
    normal = np.stack([d[:, 1], -d[:, 0]], axis=1)  # left normal of segment i
    bisector = normal + np.roll(normal, 1, axis=0)  # segments i-1 and i meet at vertex i
    norm = np.hypot(bisector[:, 0], bisector[:, 1])
    # A 180-degree reversal has no bisector: fall back to the outgoing segment's normal.
    bisector = np.where(norm[:, None] > 1e-9, bisector / np.maximum(norm, 1e-9)[:, None], normal)
    cos_half = np.sum(bisector * normal, axis=1)
    scale = np.minimum(1.0 / np.maximum(cos_half, 1e-9), miter_limit)
    return points + bisector * (distance * scale)[:, None]


def resample_closed(points: np.ndarray, spacing: float) -> np.ndarray:
    """Points at equal arc-length steps of about `spacing` along a closed polyline, starting at points[0].

    points: (K, 2) -> (N, 2) with N = max(4, round(perimeter / spacing)); linear interpolation.
    """
    seg = segment_lengths(points)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    count = max(4, int(round(arc[-1] / spacing)))
    s = np.arange(count) * (arc[-1] / count)
    closed = np.concatenate([points, points[:1]], axis=0)
    return np.stack([np.interp(s, arc, closed[:, 0]), np.interp(s, arc, closed[:, 1])], axis=1)


def catmull_rom_closed(control: np.ndarray, samples: int = 24, alpha: float = 0.5) -> np.ndarray:
    """Dense points on the closed Catmull-Rom spline through `control`. (K, 2) -> (K * samples, 2).

    Centripetal parametrisation (alpha = 0.5) never forms cusps or self-loops inside a span. For the
    span P1 -> P2 with neighbours P0, P3 and knots t_{j+1} = t_j + |P_{j+1} - P_j|^alpha, the
    Barry-Goldman pyramid gives
    A_k = ((t_{k+1} - t) P_k + (t - t_k) P_{k+1}) / (t_{k+1} - t_k), then two more levels of the same
    blend down to C(t) for t in [t1, t2]. The curve passes through every control point.
    """
    p = np.asarray(control, dtype=np.float64)
    p0, p1, p2, p3 = (np.roll(p, k, axis=0)[:, None, :] for k in (1, 0, -1, -2))

    def knot_step(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        gap = b - a
        return np.maximum(np.hypot(gap[..., 0], gap[..., 1]) ** alpha, 1e-9)[..., None]

    t0 = np.zeros((len(p), 1, 1))
    t1 = t0 + knot_step(p0, p1)
    t2 = t1 + knot_step(p1, p2)
    t3 = t2 + knot_step(p2, p3)
    u = np.arange(samples)[None, :, None] / samples
    t = t1 + (t2 - t1) * u  # (K, samples, 1)

    def lerp(pa: np.ndarray, pb: np.ndarray, ta: np.ndarray, tb: np.ndarray) -> np.ndarray:
        return ((tb - t) * pa + (t - ta) * pb) / (tb - ta)

    a1, a2, a3 = lerp(p0, p1, t0, t1), lerp(p1, p2, t1, t2), lerp(p2, p3, t2, t3)
    b1, b2 = lerp(a1, a2, t0, t2), lerp(a2, a3, t1, t3)
    return lerp(b1, b2, t1, t2).reshape(-1, 2)


def smooth_closed(control: np.ndarray, spacing: float = 12.0) -> np.ndarray:
    """Sparse control points -> dense closed curve through them with points every ~`spacing` units.

    control: (K, 2) -> (N, 2); the first output point is control[0], so the start line stays put.
    """
    return resample_closed(catmull_rom_closed(control), spacing)
