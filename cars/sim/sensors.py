"""Distance sensors: rays from each car's centre to the nearest wall, for a whole batch at once.

A ray from p in direction d (unit) meets the wall segment a -> a + e where
    p + t d = a + u e,   t >= 0,   0 <= u <= 1,
and with w = a - p and the 2D cross product x × y = x_x y_y - x_y y_x:
    t = (w × e) / (d × e),   u = (w × d) / (d × e).
The test 0 <= u <= 1 needs no division: it holds iff (w × d)((d × e) - (w × d)) >= 0. The sensor
reads min(t over the segments hit, L) / L, so 1 means no wall within the ray length L; the code
keeps 1 / t = (d × e) / (w × e) and takes the largest.

Culling: a car's centre lies in some quad of the road (cars.sim.progress.Road). A ray travels from quad
to quad through their shared cross-sections and stops at the first wall of the quad it is in, so
each quad gets a precomputed list of candidate wall segments (see candidate_table): walls of the
quads a straight ray of length L can get to, within distance L. Lists are padded to a common width
with a zero-length segment that is never hit.
The arrays are laid out (C candidates, R rays, m cars) so every operation is a long contiguous loop
and the reduction over candidates is an element-wise minimum of rows.
"""

from __future__ import annotations

import numpy as np

from cars.sim.scratch import Scratch
from cars.sim.track import Track


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
            gap = quad_distance(sec[:, None, :])[:, 0]
            open_ &= gap <= length
            # The ray's direction must point from quad k to every section it crosses: intersect the
            # angular ranges of (section point - quad point) over the sections crossed so far.
            v = (sec.reshape(k, 1, 2, 2) - corners[:, :, None, :]).reshape(k, 8, 2)
            ang = np.arctan2(ref[:, None, 0] * v[..., 1] - ref[:, None, 1] * v[..., 0], np.sum(ref[:, None] * v, axis=-1))
            a_lo, a_hi = ang.min(axis=1), ang.max(axis=1)
            whole = (a_hi - a_lo > np.pi) | (gap <= 1e-9)
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
    """R rays of one length on one track.

    angles: (R,) radians relative to the heading; length: world units.
    """

    def __init__(self, track: Track, angles: np.ndarray, length: float) -> None:
        self.angles = np.asarray(angles, dtype=np.float32)
        self.length = float(length)
        table, walls = candidate_table(track, self.length)
        data = np.zeros((4, len(walls) + 1))  # a, e of each segment; the extra one has e = 0: never hit
        data[:, :-1] = walls[:, 0], walls[:, 1], walls[:, 2] - walls[:, 0], walls[:, 3] - walls[:, 1]
        self.candidates = table.shape[1]
        self.segments = np.ascontiguousarray(data[:, table.T].astype(np.float32))  # (4, C, K)
        ca, sa = np.cos(self.angles), np.sin(self.angles)
        # Ray r's direction from the heading's (cos, sin): [dx_r; dy_r] = rotate(angle_r) [cos; sin].
        self.rotation = np.concatenate([np.stack([ca, -sa], axis=1), np.stack([sa, ca], axis=1)]).astype(np.float32)
        self._scratch = Scratch()
        self._work_m: int | None = None

    def _work(self, m: int) -> tuple[np.ndarray, ...]:
        """Scratch arrays of cast for m cars (the same arrays while m stays put)."""
        if self._work_m != m:
            get, c, r = self._scratch.get, self.candidates, len(self.angles)
            self._work_arrays = (get("a", (c, r, m)), get("b", (c, r, m)), get("t", (c, r, m)),
                                 get("hit", (c, r, m), np.bool_), get("segments", (4, c, m)), get("wx", (c, m)),
                                 get("wy", (c, m)), get("tn", (c, 1, m)), get("tn_y", (c, 1, m)), get("cs", (2, m)))
            self._work_m = m
        return self._work_arrays

    def cast(self, x: np.ndarray, y: np.ndarray, cos_h: np.ndarray, sin_h: np.ndarray, quad: np.ndarray) -> np.ndarray:
        """Normalised distances (R, m) for m cars at x, y (m,) with heading cosines/sines, whose centres
        lie in road quads `quad` (m,)."""
        m = len(x)
        a, b, t, hit, segments, wx, wy, tn, tn_y, cs = self._work(m)
        ax, ay, ex, ey = self.segments.take(quad, axis=2, out=segments)  # (C, m) each
        wx = np.subtract(ax, x, out=wx)[:, None, :]
        wy = np.subtract(ay, y, out=wy)[:, None, :]
        np.multiply(wx, ey[:, None, :], out=tn)
        tn -= np.multiply(wy, ex[:, None, :], out=tn_y)
        cs[0], cs[1] = cos_h, sin_h
        dx, dy = (self.rotation @ cs).reshape(2, 1, len(self.angles), m)  # (1, R, m) absolute ray directions
        ex, ey = ex[:, None, :], ey[:, None, :]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            np.multiply(dx, ey, out=a)
            np.multiply(dy, ex, out=b)
            np.subtract(a, b, out=a)  # den = d x e
            np.multiply(wx, dy, out=b)
            np.multiply(wy, dx, out=t)
            np.subtract(b, t, out=b)  # un = w x d, so u = un / den
            np.subtract(a, b, out=t)
            np.multiply(t, b, out=t)  # un (den - un) = den^2 u (1 - u) >= 0  <=>  0 <= u <= 1 (no division)
            np.greater_equal(t, 0, out=hit)
            np.divide(a, tn, out=t)  # den / tn = 1 / t
            np.multiply(t, hit, out=t)  # 1 / t on hit segments, 0 (or nan: ignored below) elsewhere
            inv = np.fmax.reduce(t, axis=0)  # 1 / nearest hit ahead (nan-ignoring max), (R, m)
            np.fmax(inv, 1.0 / self.length, out=inv)  # nothing within L (or only behind): read L
            inv *= self.length
            return np.reciprocal(inv, out=inv)

