"""Where cars are on the road and how far they have driven: on-road tests, centerline progress, laps.

The road is a ring of K quads: quad i lies between centerline vertices i and i + 1, bounded by wall
segment i on each side and by the cross-sections left_wall[i]-right_wall[i] and
left_wall[i+1]-right_wall[i+1]. A point is on the road iff it lies in some quad. Each car remembers
the quad its centre is in, and each step only the few quads around it are searched (a window that
covers the distance a car and its body can reach in one step), so a car can never jump to another
part of the track: its centerline position changes continuously, quad by quad.

Progress is the signed distance driven along the centerline, unwrapped across laps:
    s = arc[i] + clip((p - c_i) . d_i, 0, len_i)              (arc position of the centre in quad i)
    progress += wrap(s_new - s_old)   with wrap(x) = x - L round(x / L)   (L = lap length)
Because the position changes continuously, the checkpoints (track.checkpoint_arc) are crossed in
order; a lap is completed when the best progress reaches the next multiple of L, so driving
backwards over the start line (progress goes negative) or cutting across (leaving the quads is a
crash) never earns a lap, and rocking back and forth over the line counts it once.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from cars.sim.scratch import Scratch
from cars.sim.track import Track

RUNNING, CRASHED, STALLED, BACKWARDS, FINISHED, TIMEOUT = range(6)
STATUS_NAMES = ("running", "crashed", "stalled", "backwards", "finished", "timeout")


class Road:
    """A track's quads as half-planes for vectorised point location.

    reach: the farthest a tested point can be from where its car's centre was at the last step
    (step length + half the body diagonal); it sets the window of quads searched around each car.
    """

    MAX_WINDOW = 40

    def __init__(self, track: Track, reach: float) -> None:
        self.track = track
        self.length = float(track.length)
        c = np.asarray(track.centerline, dtype=np.float64)
        left, right = np.asarray(track.left_wall, np.float64), np.asarray(track.right_wall, np.float64)
        self.k = k = len(c)
        mid = (c + np.roll(c, -1, axis=0)) / 2

        def outward(wall: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """Unit normals of wall segment i pointing away from quad i, and offsets: inside iff n.p <= off."""
            d = np.roll(wall, -1, axis=0) - wall
            n = np.stack([d[:, 1], -d[:, 0]], axis=1) / np.hypot(d[:, 0], d[:, 1])[:, None]
            off = np.sum(n * wall, axis=1)
            flip = np.sum(n * mid, axis=1) > off  # the quad's centerline midpoint must be inside
            n[flip], off[flip] = -n[flip], -off[flip]
            return n, off

        n_left, off_left = outward(left)
        n_right, off_right = outward(right)
        across = right - left  # cross-section j; its forward normal points along the driving direction
        t = np.stack([-across[:, 1], across[:, 0]], axis=1) / np.hypot(across[:, 0], across[:, 1])[:, None]
        forward = np.asarray(track.directions, np.float64) + np.roll(track.directions, 1, axis=0)
        t[np.sum(t * forward, axis=1) < 0] *= -1
        # Three half-planes per index j, each "n . p <= off": outside of left wall segment j, outside of
        # right wall segment j, and behind cross-section j negated (so "<=" means at or past section j).
        # table[a, b, j]: a = normal x, normal y, offset; b = left wall, right wall, section. (3, 3, K) float32.
        self.table = np.array([[n_left[:, 0], n_right[:, 0], -t[:, 0]],
                               [n_left[:, 1], n_right[:, 1], -t[:, 1]],
                               [off_left, off_right, -np.sum(t * left, axis=1)]], dtype=np.float32)
        # Centerline segment i: start, unit direction, length, arc position of its start; (6, K).
        self.centre = np.stack([c[:, 0], c[:, 1], track.directions[:, 0], track.directions[:, 1],
                                track.segment_lengths, track.arc[:-1]]).astype(np.float64)

        edges = np.concatenate([track.segment_lengths, _lengths(left), _lengths(right)])
        n = min(self.MAX_WINDOW, int(math.ceil(reach / max(float(edges.min()), 1e-6))) + 1)
        n = min(n, (k - 1) // 2)
        self.window = np.arange(-n, n + 2)  # sections -n .. n+1 bound quads -n .. n
        self._window_tables(left, right)
        self._zero, self._zero32 = np.zeros(()), np.zeros((), dtype=np.float32)
        self._scratch = Scratch()
        self._work_key: tuple[int, int] | None = None

    def _window_tables(self, left: np.ndarray, right: np.ndarray) -> None:
        """Everything a step needs about the window of quad k, in column k of a table, so that one gather
        per step (table.take(seg, axis=-1): (..., m), cars last as in every array of the step) replaces
        index arithmetic on the window:
          sections[k, w]     the section numbers (k + window[w]) mod K, (K, W + 1) int64;
          quads[..., k]      window quad w (between sections w and w + 1) as four half-planes
                             "n . p <= off": [normal x, normal y, offset] of [left wall, right wall,
                             at or past section w, not past section w + 1], (3, 4, W, K) float32;
          vertices[..., k]   wall vertices [x or y, left or right wall, section], (2, 2, W + 1, K)
                             float32: the wall corners a car's side can touch.
        "Not past section w + 1" is "past" negated: -n . p <= nextafter(-off, -inf) holds exactly when
        n . p > off, since (-n) . p rounds to -(n . p) and nextafter turns "<" into "<=" between floats.
        """
        k = self.k
        self.sections = (np.arange(k)[:, None] + self.window[None, :]) % k
        past = self.table[:, 2][:, self.sections]  # (3, K, W + 1)
        not_past = np.stack([-past[0], -past[1], np.nextafter(-past[2], np.float32(-np.inf))])
        quads = np.stack([self.table[:, 0][:, self.sections[:, :-1]], self.table[:, 1][:, self.sections[:, :-1]],
                          past[:, :, :-1], not_past[:, :, 1:]], axis=2)  # (3, K, 4, W)
        self.quads = np.ascontiguousarray(quads.transpose(0, 2, 3, 1))
        wall_vertices = np.stack([left.T, right.T], axis=1).astype(np.float32)
        self.vertices = np.ascontiguousarray(wall_vertices[:, :, self.sections].transpose(0, 1, 3, 2))

    def locate_points(self, points: np.ndarray, seg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Find m cars' points on the road, searching the window of quads around each car's last quad.

        points: (2, P, m) x and y of P points of m cars, point 0 the centre; seg: (m,) int quad of each
        centre at the last step.
        Returns (quad (m,) the quad holding each centre, or `seg` if the centre left the road;
                 on_road (m,) bool, True when every one of the car's P points lies in some quad).
        """
        work = self._work(points.shape[1], len(seg))
        planes = self.quads.take(seg, -1, work.planes)  # (3, 4, W, m)
        products = np.multiply(planes[:2, None], points[:, :, None, None, :], work.products)  # (2, P, 4, W, m)
        inner = np.add(products[0], products[1], products[0])  # n . p
        mask = np.less_equal(inner, planes[2], work.mask)  # (P, 4, W, m)
        inside = np.logical_and.reduce(mask, 1, None, work.inside)  # (P, W, m): point p lies in window quad w
        found = np.logical_or.reduce(inside, 1, None, work.found)  # (P, m)
        quad = self.sections[seg, inside[0].argmax(0)]
        return np.where(found[0], quad, seg), np.logical_and.reduce(found, 0)

    FOLLOWING = np.array([1, 2, 3, 0])

    def wall_corner_inside(self, corners: np.ndarray, seg: np.ndarray) -> np.ndarray:
        """(m,) bool: a wall vertex near the car lies strictly inside its body, the quad corners (2, 4, m)
        (x and y of the corners in order around it); seg (m,): the quads `locate_points` searched around.

        Why: locate tests the body's corners only, and the wall's convex corners (the inside of a bend)
        can poke into a car's side between them. Corners on the road and no wall vertex inside the body
        together mean the body touches no wall. A point q is inside the convex quad when it is on the
        same side of all four edges: cross(c[k+1] - c[k], q - c[k]) has one sign for k = 0..3.
        """
        work = self._work(5, len(seg))
        vertices = self.vertices.take(seg, -1, work.vertices)  # (2, 2, W + 1, m)
        edges = np.subtract(corners.take(self.FOLLOWING, 1), corners)  # (2, 4, m): e_x, e_y
        to_vertex = np.subtract(vertices[:, None], corners[:, :, None, None, :], work.to_vertex)  # q - c[k]
        products = np.multiply(edges[::-1, :, None, None, :], to_vertex, to_vertex)  # e_y (q_x - c_x), e_x (q_y - c_y)
        cross = np.subtract(products[1], products[0], products[1])  # (4, 2, W + 1, m)
        positive = np.greater(cross, self._zero32, work.positive)
        negative = np.less(cross, self._zero32, work.negative)
        inside = np.logical_and.reduce(positive, 0)  # on the same strict side of all four edges, (2, W + 1, m)
        np.logical_or(inside, np.logical_and.reduce(negative, 0), inside)
        return np.logical_or.reduce(inside, (0, 1))

    def _work(self, p: int, m: int) -> SimpleNamespace:
        """Scratch arrays of locate and wall_corner_inside for P points of m cars (the same arrays while P
        and m stay put)."""
        if self._work_key != (p, m):
            get, w = self._scratch.get, self.quads.shape[2]
            self._work_arrays = SimpleNamespace(
                planes=get("planes", self.quads.shape[:-1] + (m,)), products=get("products", (2, p, 4, w, m)),
                mask=get("mask", (p, 4, w, m), np.bool_), inside=get("inside", (p, w, m), np.bool_),
                found=get("found", (p, m), np.bool_), vertices=get("vertices", self.vertices.shape[:-1] + (m,)),
                to_vertex=get("to_vertex", (2, 4, 2, w + 1, m)), positive=get("positive", (4, 2, w + 1, m), np.bool_),
                negative=get("negative", (4, 2, w + 1, m), np.bool_))
            self._work_key = (p, m)
        return self._work_arrays

    def arc_position(self, xy: np.ndarray, seg: np.ndarray) -> np.ndarray:
        """Arc position s in [0, L] of points xy (2, m) projected onto centerline segments seg (m,)."""
        centre = self.centre.take(seg, 1)  # (6, m)
        along = np.subtract(xy, centre[0:2])  # float64
        np.multiply(along, centre[2:4], along)
        along = np.add(along[0], along[1], along[0])
        np.maximum(along, self._zero, out=along)
        np.minimum(along, centre[4], out=along)  # the segment's length
        return np.add(along, centre[5], along)  # the arc position of its start


def _lengths(polyline: np.ndarray) -> np.ndarray:
    d = np.roll(polyline, -1, axis=0) - polyline
    return np.hypot(d[:, 0], d[:, 1])


class Progress:
    """Progress, laps and stop rules for m cars, as compact arrays (one column per car).

    Per car, float64 (m,): s (arc position in the lap), units (signed progress in world units), best
    (the most progress so far), anchor (best at the last stall check), next_lap (the best progress
    that completes the next lap); int64 (m,): seg (quad of the centre), laps (completed),
    last_lap_step, best_lap (steps of the fastest lap, 0 = none yet), car (an id the owner assigns).
    They are the named rows of two blocks, `f` (5, m) float64 and `i` (5, m) int64 (FLOAT_ROWS,
    INT_ROWS), so that a whole record can be saved, restored or reset in one assignment.
    Completed laps are appended to `lap_events` as arrays (k, 4) of rows (car, lap number, lap steps, step).

    Stop rules: a car stops when its body touches a wall (CRASHED), when its progress is
    more than backward_tolerance behind its best (BACKWARDS), when its best progress grew by less
    than stall_distance since the previous check, checked every stall_steps steps (STALLED), or
    after max_laps laps (FINISHED).
    """

    FLOAT_ROWS = ("s", "units", "best", "anchor", "next_lap")
    INT_ROWS = ("seg", "laps", "last_lap_step", "best_lap", "car")

    def __init__(self, road: Road, m: int, *, max_laps: int, stall_steps: int, stall_distance: float,
                 backward_tolerance: float) -> None:
        self.road = road
        self.f = np.zeros((len(self.FLOAT_ROWS), m))
        self.i = np.zeros((len(self.INT_ROWS), m), dtype=np.int64)
        self._name_rows()
        self.next_lap[:] = road.length
        self.car[:] = np.arange(m)
        self.lap_events: list[np.ndarray] = []
        self.max_laps, self.stall_steps = int(max_laps), max(1, int(stall_steps))
        self.stall_distance, self.backward_tolerance = float(stall_distance), float(backward_tolerance)
        # 0-d float64 arrays: cheaper ufunc arguments than Python floats, same values (see cars.sim.physics)
        self._length, self._inv_length = np.array(road.length), np.array(1.0 / road.length)
        self._backward_tolerance = np.array(self.backward_tolerance)

    def _name_rows(self) -> None:
        """Bind the per-car names to the rows of the blocks (views: writing one writes the block)."""
        self.s, self.units, self.best, self.anchor, self.next_lap = self.f
        self.seg, self.laps, self.last_lap_step, self.best_lap, self.car = self.i

    def keep(self, mask: np.ndarray) -> None:
        """Drop the columns of cars that stopped (mask (m,) True = keep)."""
        self.f, self.i = np.compress(mask, self.f, axis=1), np.compress(mask, self.i, axis=1)
        self._name_rows()

    def advance(self, points: np.ndarray, step: int,
                active: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """Advance m cars whose tested points moved to `points` (2, P, m) (x and y); point 0 is the car's
        centre (the point whose progress counts), the others are body corners that must stay on the road
        (with P = 5, points 1-4 are the corners in order around the body, which no wall corner may enter).

        `step` is the number of the step just taken (1 for the first). `active` (m,) bool, if given,
        marks the cars that may stop: the others already stopped and stand still (they keep their
        column so that the batch need not be rebuilt). Returns None while every active car keeps
        driving, else (stop (m,) bool, reason (m,) int8 with CRASHED/STALLED/BACKWARDS/FINISHED).
        """
        road = self.road
        quad, on_road = road.locate_points(points, self.seg)
        if points.shape[1] == 5:  # a body: the centre and its four corners
            poked = road.wall_corner_inside(points[:, 1:], self.seg)
            np.greater(on_road, poked, on_road)  # on the road and no wall corner inside (bools: a > b is a and not b)
        np.copyto(self.seg, quad)
        s = road.arc_position(points[:, 0], quad)
        ds = np.subtract(s, self.s)
        laps_jumped = np.rint(np.multiply(ds, self._inv_length))
        if np.count_nonzero(laps_jumped):  # across the start line: s jumps by a lap
            np.subtract(ds, np.multiply(laps_jumped, self._length), ds)
        np.copyto(self.s, s)
        np.add(self.units, ds, self.units)
        np.maximum(self.best, self.units, out=self.best)
        finished = stalled = None
        lap = np.greater_equal(self.best, self.next_lap)
        if np.count_nonzero(lap):
            finished = self._count_laps(lap, step)
        backwards = np.greater(np.subtract(self.best, self.units), self._backward_tolerance)
        stop = np.greater_equal(backwards, on_road)  # backwards or off the road (bools: a >= b is a or not b)
        if step % self.stall_steps == 0:
            stalled = self.best < self.anchor + self.stall_distance
            self.anchor[:] = self.best
            stop |= stalled
        if finished is not None:
            stop |= finished
        if active is not None:
            np.logical_and(stop, active, stop)
        if not np.count_nonzero(stop):
            return None
        reason = np.zeros(stop.shape, dtype=np.int8)
        if stalled is not None:
            reason[stalled] = STALLED
        reason[backwards] = BACKWARDS
        if finished is not None:
            reason[finished] = FINISHED
        reason[~on_road] = CRASHED
        return stop, reason

    def _count_laps(self, lap: np.ndarray, step: int) -> np.ndarray:
        """Record a lap for the cars in `lap` (m,) bool at `step`; returns (m,) bool: cars done with max_laps."""
        lap_steps = step - self.last_lap_step
        faster = lap & ((self.best_lap == 0) | (lap_steps < self.best_lap))
        self.best_lap[:] = np.where(faster, lap_steps, self.best_lap)
        self.last_lap_step[:] = np.where(lap, step, self.last_lap_step)
        self.laps += lap
        self.next_lap += lap * self.road.length
        self.lap_events.append(np.stack([self.car[lap], self.laps[lap], lap_steps[lap], np.full(lap.sum(), step)],
                                        axis=1))
        return self.laps >= self.max_laps

    def checkpoints_passed(self) -> np.ndarray:
        """Checkpoints passed in order so far (counting the start line once per lap), (m,) int."""
        return checkpoints_passed(self.best, self.road.track.checkpoint_arc, self.road.length)


def checkpoints_passed(best: np.ndarray, checkpoint_arc: np.ndarray, length: float) -> np.ndarray:
    """Number of checkpoint crossings reached by best progress `best` (world units) (m,) -> (m,) int.

    Checkpoint c of lap l sits at l * length + checkpoint_arc[c] (checkpoint_arc[0] = 0 is the start
    line), so the count is C * floor(best / length) + #{c : checkpoint_arc[c] <= best mod length}.
    """
    laps = np.floor(np.maximum(best, 0.0) / length)
    within = np.maximum(best, 0.0) - laps * length
    return (len(checkpoint_arc) * laps).astype(np.int64) + np.searchsorted(checkpoint_arc, within, side="right") - 1
