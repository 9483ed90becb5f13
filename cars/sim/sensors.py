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
The arrays are indexed (R rays, C candidates, m cars). For many cars they are laid out that way, so
the products of a ray's and a candidate's numbers broadcast the candidate's along the outermost axis
(long loops); for a few cars the candidates go last in memory (RayCaster._work says why).
"""

from __future__ import annotations

from types import SimpleNamespace

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
    quads = _RoadQuads(track)
    ahead, behind = quads.reach(length, direction=1), quads.reach(length, direction=-1)
    k = quads.k
    span = np.arange(-int(behind.max()), int(ahead.max()) + 1)
    quad_of = (np.arange(k)[:, None] + span[None, :]) % k  # (K, W)
    usable = (span[None, :] >= -behind[:, None]) & (span[None, :] <= ahead[:, None])
    if np.any(behind + ahead + 1 >= k):  # the whole ring is reachable from some quad: avoid duplicates
        quad_of, usable = np.broadcast_to(np.arange(k), (k, k)), np.ones((k, k), dtype=bool)
    cand = np.concatenate([quad_of, quad_of + k], axis=1)  # left wall segment j, right wall segment k + j
    usable = np.concatenate([usable, usable], axis=1)
    usable &= quads.distance_to(quads.walls[cand]) <= length + 1e-6
    width = max(1, int(usable.sum(axis=1).max()))
    order = np.argsort(~usable, axis=1, kind="stable")[:, :width]
    table = np.where(np.take_along_axis(usable, order, axis=1), np.take_along_axis(cand, order, axis=1),
                     len(quads.walls))
    return table, quads.walls


class _RoadQuads:
    """The road's K quads for candidate_table: quad k is bounded by wall segment k of each wall and by
    cross-sections k and k + 1 (section j joins left_wall[j] to right_wall[j]), all float64."""

    def __init__(self, track: Track) -> None:
        left, right = np.asarray(track.left_wall, np.float64), np.asarray(track.right_wall, np.float64)
        self.k = k = len(left)
        nxt = (np.arange(k) + 1) % k
        self.sections = np.concatenate([left, right], axis=1)  # (K, 4)
        self.walls = np.concatenate([np.concatenate([left, left[nxt]], axis=1),
                                     np.concatenate([right, right[nxt]], axis=1)])  # (2K, 4)
        # quad k's four edges (K, 4, 4) and its corners (K, 4, 2)
        self.edges = np.stack([self.walls[:k], self.walls[k:], self.sections, self.sections[nxt]], axis=1)
        self.corners = np.stack([left, left[nxt], right[nxt], right], axis=1)
        self.along = np.asarray(track.directions, np.float64)

    def distance_to(self, segments: np.ndarray) -> np.ndarray:
        """Distance from quad k to segments[k, ...] for every k: (K, M, 4) -> (K, M)."""
        return _segment_distance(self.edges[:, None, :, :], segments[:, :, None, :]).min(axis=-1)

    def reach(self, length: float, direction: int) -> np.ndarray:
        """(K,) int: how many quads beyond quad k (forward for direction 1, backward for -1) a straight ray
        of `length` from inside quad k can get to. It gets past cross-section k + o + 1 (forward) or
        k + 1 - o (backward) only if that section lies within `length` of quad k and some direction
        points from quad k through every section crossed so far."""
        k, first = self.k, (2 if direction == 1 else 0)
        quads = np.arange(k)
        ref = self.along * direction  # angles are measured from the driving direction (reversed backward)
        count = np.full(k, 1 if direction == 1 else 0)
        open_ = np.ones(k, dtype=bool)
        lo, hi = np.full(k, -np.pi), np.full(k, np.pi)
        for o in range(1, k):
            section = self.sections[(quads + direction * (o + first - 1)) % k]
            gap = self.distance_to(section[:, None, :])[:, 0]
            open_ &= gap <= length
            # The ray's direction must point from quad k to every section it crosses: intersect the
            # angular ranges of (section point - quad point) over the sections crossed so far.
            v = (section.reshape(k, 1, 2, 2) - self.corners[:, :, None, :]).reshape(k, 8, 2)
            angle = np.arctan2(ref[:, None, 0] * v[..., 1] - ref[:, None, 1] * v[..., 0],
                               np.sum(ref[:, None] * v, axis=-1))
            a_lo, a_hi = angle.min(axis=1), angle.max(axis=1)
            whole = (a_hi - a_lo > np.pi) | (gap <= 1e-9)
            lo = np.where(whole, lo, np.maximum(lo, a_lo))
            hi = np.where(whole, hi, np.minimum(hi, a_hi))
            open_ &= lo <= hi + 1e-9
            if not open_.any() or 2 * o + 1 >= k:
                break
            count += open_
        return np.minimum(count, k - 1)


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
        # One row per quad (K, 4, C): a_x, a_y, e_x, e_y of its candidates (a step gathers the rows of its cars)
        self.rows = np.ascontiguousarray(data[:, table].transpose(1, 0, 2).astype(np.float32))
        ca, sa = np.cos(self.angles), np.sin(self.angles)
        # Ray r's direction from the heading's (cos, sin): the heading rotated by angle_r,
        #   dx_r = cos a_r cos - sin a_r sin,   dy_r = sin a_r cos + cos a_r sin.
        # Written as element-wise products, not a matrix product: BLAS rounds a product of one column
        # differently from one of many, and a car's readings must not depend on the batch it is in.
        self._cos_a, self._sin_a = ca.astype(np.float32)[:, None], sa.astype(np.float32)[:, None]  # (R, 1)
        # 0-d float32 arrays: cheaper ufunc arguments than Python floats, same values (see cars.sim.physics)
        self._zero = np.zeros((), dtype=np.float32)
        self._length, self._inv_length = np.array(self.length, np.float32), np.array(1.0 / self.length, np.float32)
        self._scratch = Scratch()
        self._works: dict[int, SimpleNamespace] = {}

    SMALL_BATCH = 16  # below this many cars the candidates go last in memory (measured crossover)

    def _work(self, m: int) -> SimpleNamespace:
        """Scratch arrays of cast for m cars (the same arrays while m stays put): a, b, dx, dy (R, C, m)
        float32, hit (R, C, m) bool, w (2, C, m), tn, tn_y (C, m), `rows`, the gather's (m, 4, C) buffer,
        the gathered segments (4, C, m) (for a few cars a view of `rows`) and, for many cars,
        `by_candidate`, (C, R, m) memory for the reduction.

        Their memory order depends on m. numpy runs a ufunc as loops over the last axis in memory, and
        when an operand is broadcast (a candidate's wall for every ray) one loop cannot span more than
        that axis: so cars go last in memory when there are many of them, candidates when there are few
        (a loop over 5 cars costs about as much as one over 75 candidates); the arrays are then
        transposed views."""
        work = self._works.get(m)
        if work is None:
            get, c, r = self._scratch.get, self.candidates, len(self.angles)
            if m >= self.SMALL_BATCH:
                def block(name: str, dtype: type = np.float32) -> np.ndarray:
                    return get(name, (r, c, m), dtype)

                work = SimpleNamespace(w=get("w", (2, c, m)), tn=get("tn", (c, m)), tn_y=get("tn_y", (c, m)),
                                       segments=get("segments", (4, c, m)), rows=get("rows", (m, 4, c)),
                                       by_candidate=get("by_candidate", (c, r, m)))
            else:  # memory (R, m, C) and (m, C), seen as (R, C, m) and (C, m)
                def block(name: str, dtype: type = np.float32) -> np.ndarray:
                    return get(name, (r, m, c), dtype).transpose(0, 2, 1)

                rows = get("rows", (m, 4, c))
                work = SimpleNamespace(w=get("w", (2, m, c)).transpose(0, 2, 1), tn=get("tn", (m, c)).T,
                                       tn_y=get("tn_y", (m, c)).T, segments=rows.transpose(1, 2, 0), rows=rows,
                                       by_candidate=None)
            work.a, work.b, work.dx, work.dy, work.hit = (block("a"), block("b"), block("dx"), block("dy"),
                                                          block("hit", np.bool_))
            if len(self._works) > 4:  # (the batch sizes of one run come and go; a few are reused)
                self._works.clear()
            self._works[m] = work
        return work

    MAX_BATCH = 256  # more cars are cast in parts of at most this many: larger arrays outgrow the cache

    def cast_from(self, xy: np.ndarray, cs: np.ndarray, quad: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Normalised distances (R, m) for m cars at xy (2, m) with heading cosines and sines cs (2, m),
        whose centres lie in road quads `quad` (m,); written into `out` (R, m) float32 if given."""
        m = xy.shape[1]
        if m <= self.MAX_BATCH:
            return self._cast(xy, cs, quad, out)
        out = np.empty((len(self.angles), m), dtype=np.float32) if out is None else out
        bounds = np.linspace(0, m, -(-m // self.MAX_BATCH) + 1).astype(np.int64)  # near-equal parts
        for start, stop in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            self._cast(xy[:, start:stop], cs[:, start:stop], quad[start:stop], out[:, start:stop])
        return out

    def _cast(self, xy: np.ndarray, cs: np.ndarray, quad: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        """cast_from for one part of the batch.

        The arrays are (R rays, C candidates, m cars). A product of a ray's number and a candidate's, each
        broadcast along the other's axis, would run as R * C loops of m numbers; so the rays' directions
        are first copied out to whole (R, C, m) blocks, and each product broadcasts only the candidate's
        operand, along the outermost axis, which numpy runs as a few long loops (for 100 cars, 5 us a
        product instead of 15). The ufuncs get their outputs positionally and constants as 0-d arrays (see
        cars.sim.physics), and the memory order of the arrays follows the batch size (_work). Layouts and
        parts change no value: every reading is the same operations on the same numbers (the sensor
        tests compare the bits).
        """
        work = self._work(xy.shape[1])
        a, b, dx, dy, hit, tn = work.a, work.b, work.dx, work.dy, work.hit, work.tn
        self.rows.take(quad, 0, work.rows)  # (m, 4, C): a whole row per car (a take along the last axis is slower)
        if work.by_candidate is not None:
            np.copyto(work.segments, work.rows.transpose(1, 2, 0))  # cars last in memory
        ax, ay, ex, ey = work.segments  # (C, m) each
        wx = np.subtract(ax, xy[0], work.w[0])
        wy = np.subtract(ay, xy[1], work.w[1])
        np.multiply(wx, ey, tn)
        np.subtract(tn, np.multiply(wy, ex, work.tn_y), tn)  # tn = w x e, (C, m)
        c, s = cs[0], cs[1]
        np.copyto(dx, np.subtract(self._cos_a * c, self._sin_a * s)[:, None])  # absolute ray directions
        np.copyto(dy, np.add(self._sin_a * c, self._cos_a * s)[:, None])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            np.multiply(dx, ey, a)
            np.multiply(dy, ex, b)
            np.subtract(a, b, a)  # den = d x e
            np.multiply(wx, dy, b)
            np.multiply(wy, dx, dy)  # (dy is free now)
            np.subtract(b, dy, b)  # un = w x d, so u = un / den
            t = dx  # (and so is dx)
            np.subtract(a, b, t)
            np.multiply(t, b, t)  # un (den - un) = den^2 u (1 - u) >= 0  <=>  0 <= u <= 1 (no division)
            np.greater_equal(t, self._zero, hit)
            np.divide(a, tn, t)  # den / tn = 1 / t
            np.multiply(t, hit, t)  # 1 / t on hit segments, 0 (or nan: ignored below) elsewhere
            # 1 / the nearest hit ahead: the nan-ignoring largest over candidates, (R, m)
            if work.by_candidate is None:
                inv = np.fmax.reduce(t, 1)  # (candidates are last in memory)
            else:  # over the middle axis it would run R * C loops of m numbers: candidates go first (a copy)
                np.copyto(work.by_candidate, t.transpose(1, 0, 2))
                inv = np.fmax.reduce(work.by_candidate, 0)
            np.fmax(inv, self._inv_length, inv)  # nothing within L (or only behind): read L
            np.multiply(inv, self._length, inv)
            return np.reciprocal(inv, inv if out is None else out)
