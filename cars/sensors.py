"""Distance sensors: rays from each car's centre to the nearest wall, for a whole batch at once.

A ray from p in direction d (unit) meets the wall segment a -> a + e where
    p + t d = a + u e,   t >= 0,   0 <= u <= 1,
and with w = a - p and the 2D cross product x × y = x_x y_y - x_y y_x:
    t = (w × e) / (d × e),   u = (w × d) / (d × e).
The sensor reads min(t over the segments hit, L) / L, so 1 means no wall within the ray length L.

Culling: a car's centre lies in some quad of the road (cars.progress.Road), and a ray of length L
can only reach wall segments within distance L of that quad, so each quad gets a precomputed list
of candidate segments (padded to a common width with a zero-length segment that is never hit).
The arrays are laid out (C candidates, R rays, m cars) so every operation is a long contiguous loop
and the reduction over candidates is an element-wise minimum of rows.
"""

from __future__ import annotations

import numpy as np

from cars.track import Track


def ray_angles(count: int, spread_deg: float) -> np.ndarray:
    """Ray directions relative to the heading, evenly over `spread_deg` degrees (0 straight ahead,
    negative to the left on screen), (R,) float32 radians. One ray points straight ahead."""
    if count == 1:
        return np.zeros(1, dtype=np.float32)
    spread = np.radians(spread_deg)
    if spread_deg >= 360:  # a full circle: do not put two rays on the same direction
        spread = spread * (count - 1) / count
    return np.linspace(-spread / 2, spread / 2, count).astype(np.float32)


def _segment_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance between segments a, b (..., 4) that do not cross: the nearest endpoint of one to the other.

    Point p to segment q1 q2: t = clip((p - q1) . e / |e|^2, 0, 1), e = q2 - q1, d = |q1 + t e - p|.
    """
    def point_to(p: np.ndarray, q: np.ndarray) -> np.ndarray:
        e = q[..., 2:4] - q[..., 0:2]
        w = p - q[..., 0:2]
        t = np.clip(np.sum(w * e, axis=-1) / np.maximum(np.sum(e * e, axis=-1), 1e-12), 0.0, 1.0)
        gap = w - t[..., None] * e
        return np.hypot(gap[..., 0], gap[..., 1])

    return np.minimum(np.minimum(point_to(a[..., 0:2], b), point_to(a[..., 2:4], b)),
                      np.minimum(point_to(b[..., 0:2], a), point_to(b[..., 2:4], a)))


def candidate_table(track: Track, length: float) -> tuple[np.ndarray, np.ndarray]:
    """Wall segments a ray of `length` starting inside road quad k can hit.

    Returns (table (K, C) int64, segments (S, 4)): segments are the left wall's K segments then the
    right wall's (segment j of a wall joins its vertices j and j + 1); table row k lists candidate
    rows of `segments`, padded with S (one past the end, which RayCaster makes a zero-length segment).

    A ray inside the road moves from quad to quad through their shared cross-sections and first
    meets a wall segment of the quad it is in, so from quad k it can only hit walls of quads
    k - b .. k + f where every cross-section it must cross on the way lies within `length` of quad k.
    Of those walls, only segments within `length` of quad k are kept.
    """
    left, right = np.asarray(track.left_wall, np.float64), np.asarray(track.right_wall, np.float64)
    k = len(left)
    quads = np.arange(k)
    nxt = (quads + 1) % k
    sections = np.concatenate([left, right], axis=1)  # (K, 4): section j joins left[j] to right[j]
    walls = np.concatenate([np.concatenate([left, left[nxt]], axis=1), np.concatenate([right, right[nxt]], axis=1)])
    edges = np.stack([walls[:k], walls[k:], sections, sections[nxt]], axis=1)  # (K, 4, 4): quad k's edges

    def quad_distance(segments: np.ndarray) -> np.ndarray:
        """Distance from quad k to segments[k, ...] for every k: (K, M, 4) -> (K, M)."""
        return _segment_distance(edges[:, None, :, :], segments[:, :, None, :]).min(axis=-1)

    corners = np.stack([left, left[nxt], right[nxt], right], axis=1)  # (K, 4, 2)
    along = np.asarray(track.directions, np.float64)
    reach = {}
    for direction, first in ((1, 2), (-1, 0)):  # crossing section k + o + 1 forward, k + 1 - o backward
        ref = along * direction  # angles below are measured from the driving direction (reversed backward)
        count = np.full(k, 1 if direction == 1 else 0)
        open_ = np.ones(k, dtype=bool)
        lo, hi = np.full(k, -np.pi), np.full(k, np.pi)
        for o in range(1, k):
            sec = sections[(quads + direction * (o + first - 1)) % k]
            open_ &= quad_distance(sec[:, None, :])[:, 0] <= length
            # The ray's direction must point from quad k to every section it crosses: intersect the
            # angular ranges of (section point - quad point) over the sections crossed so far.
            v = (sec.reshape(k, 1, 2, 2) - corners[:, :, None, :]).reshape(k, 8, 2)
            ang = np.arctan2(ref[:, None, 0] * v[..., 1] - ref[:, None, 1] * v[..., 0], np.sum(ref[:, None] * v, axis=-1))
            a_lo, a_hi = ang.min(axis=1), ang.max(axis=1)
            whole = (a_hi - a_lo > np.pi) | (quad_distance(sec[:, None, :])[:, 0] <= 1e-9)
            lo = np.where(whole, lo, np.maximum(lo, a_lo))
            hi = np.where(whole, hi, np.minimum(hi, a_hi))
            open_ &= lo <= hi + 1e-9
            if not open_.any() or 2 * o + 1 >= k:
                break
            count += open_
        reach[direction] = count
    fwd, back = np.minimum(reach[1], k - 1), np.minimum(reach[-1], k - 1)
    span = np.arange(-int(back.max()), int(fwd.max()) + 1)
    quad_of = (quads[:, None] + span[None, :]) % k  # (K, W)
    usable = (span[None, :] >= -back[:, None]) & (span[None, :] <= fwd[:, None])
    if np.any(back + fwd + 1 >= k):  # the whole ring is reachable from some quad: avoid duplicates
        quad_of, usable = np.broadcast_to(quads, (k, k)), np.ones((k, k), dtype=bool)
    cand = np.concatenate([quad_of, quad_of + k], axis=1)  # left wall segment j, right wall segment k + j
    usable = np.concatenate([usable, usable], axis=1)
    usable &= quad_distance(walls[cand]) <= length + 1e-6
    width = max(1, int(usable.sum(axis=1).max()))
    order = np.argsort(~usable, axis=1, kind="stable")[:, :width]
    table = np.where(np.take_along_axis(usable, order, axis=1), np.take_along_axis(cand, order, axis=1), len(walls))
    return table, walls


class RayCaster:
    """R rays of one length for up to `capacity` cars on one track.

    angles: (R,) radians relative to the heading; length: world units.
    """

    def __init__(self, track: Track, angles: np.ndarray, length: float, capacity: int) -> None:
        self.angles = np.asarray(angles, dtype=np.float32)
        self.length = float(length)
        table, walls = candidate_table(track, self.length)
        data = np.zeros((4, len(walls) + 1))  # a, e of each segment; the extra one has e = 0: never hit
        data[:, :-1] = walls[:, 0], walls[:, 1], walls[:, 2] - walls[:, 0], walls[:, 3] - walls[:, 1]
        self.candidates = table.shape[1]
        self.segments = np.ascontiguousarray(data[:, table.T].astype(np.float32))  # (4, C, K)
        self.cos_a = np.cos(self.angles)[:, None]
        self.sin_a = np.sin(self.angles)[:, None]
        self._grow(max(1, capacity))

    def _grow(self, capacity: int) -> None:
        # Work buffers, reused every step: fresh arrays this large would be fresh pages each time.
        size = self.candidates * len(self.angles) * capacity
        self._buffers = [np.empty(size, dtype=np.float32) for _ in range(3)]
        self._mask = np.empty(size, dtype=bool)
        self.capacity = capacity

    def cast(self, x: np.ndarray, y: np.ndarray, cos_h: np.ndarray, sin_h: np.ndarray, quad: np.ndarray) -> np.ndarray:
        """Normalised distances (R, m) for m cars at x, y (m,) with heading cosines/sines, whose centres
        lie in road quads `quad` (m,)."""
        m = len(x)
        if m > self.capacity:
            self._grow(m)
        shape = (self.candidates, len(self.angles), m)
        size = shape[0] * shape[1] * m
        a, b, t = (buf[:size].reshape(shape) for buf in self._buffers)
        hit = self._mask[:size].reshape(shape)
        ax, ay, ex, ey = self.segments[:, :, quad]  # (C, m) each
        wx = (ax - x)[:, None, :]
        wy = (ay - y)[:, None, :]
        tn = wx * ey[:, None, :]
        tn -= wy * ex[:, None, :]
        dx = (self.cos_a * cos_h - self.sin_a * sin_h)[None]  # (1, R, m) absolute ray directions
        dy = (self.sin_a * cos_h + self.cos_a * sin_h)[None]
        ex, ey = ex[:, None, :], ey[:, None, :]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            np.multiply(dx, ey, out=a)
            np.multiply(dy, ex, out=b)
            np.subtract(a, b, out=a)
            np.reciprocal(a, out=a)  # 1 / (d x e), inf for parallel lines and the padding segment
            np.multiply(wx, dy, out=b)
            np.multiply(wy, dx, out=t)
            np.subtract(b, t, out=b)
            np.multiply(b, a, out=b)  # u
            np.subtract(b, 0.5, out=b)
            np.abs(b, out=b)
            np.less_equal(b, 0.5 + 1e-6, out=hit)  # 0 <= u <= 1, a hair wider so a ray through a vertex hits
            np.multiply(tn, a, out=t)  # t
            np.divide(hit, t, out=t)  # 1 / t on hit segments, 0 or nan elsewhere
            inv = np.fmax.reduce(t, axis=0)  # 1 / nearest hit ahead (nan-ignoring max), (R, m)
            np.fmax(inv, 1.0 / self.length, out=inv)  # nothing within L (or only behind): read L
            inv *= self.length
            return np.reciprocal(inv, out=inv)

