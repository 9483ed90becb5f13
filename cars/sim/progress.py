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
        # Wall vertices, [x or y, left or right wall, j] (2, 2, K) float32: the corners a car's side can touch.
        self.vertices = np.stack([left.T, right.T], axis=1).astype(np.float32)
        self._scratch = Scratch()
        self._work_key: tuple[int, int] | None = None

    def locate(self, xs: np.ndarray, ys: np.ndarray, seg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Find m cars' points on the road, searching the window of quads around each car's last quad.

        xs, ys: (P, m) points of m cars, row 0 the centre; seg: (m,) int quad of each centre at the last step.
        Returns (quad (m,) the quad holding each centre, or `seg` if the centre left the road;
                 on_road (m,) bool, True when every one of the car's P points lies in some quad).
        """
        p, m = xs.shape[0], len(seg)
        sections, planes, inner, inner_y, mask, inside, columns = self._work(p, m)
        np.add(seg[None, :], self.window[:, None], out=sections)
        sections %= self.k
        nx, ny, off = self.table.take(sections, axis=2, out=planes)  # each (3, W + 1, m): left, right, section
        np.multiply(nx, xs[:, None, None, :], out=inner)
        inner += np.multiply(ny, ys[:, None, None, :], out=inner_y)
        np.less_equal(inner, off, out=mask)  # (P, 3, W + 1, m)
        ahead = mask[:, 2]  # at or past cross-section j
        np.greater(ahead[:, :-1], ahead[:, 1:], out=inside)  # past section j but not j + 1: in quad j
        inside &= mask[:, 0, :-1]
        inside &= mask[:, 1, :-1]  # (P, W, m): point p lies in window quad w
        found = np.logical_or.reduce(inside, axis=1)
        quad = sections[inside[0].argmax(axis=0), columns]
        return np.where(found[0], quad, seg), np.logical_and.reduce(found, axis=0)

    def wall_corner_inside(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """(m,) bool: a wall vertex near the car lies strictly inside its body, the quad xs, ys (4, m) of
        corners in order around it. Call after `locate` (it searches the same window of sections).

        Why: locate tests the body's corners only, and the wall's convex corners (the inside of a bend)
        can poke into a car's side between them. Corners on the road and no wall vertex inside the body
        together mean the body touches no wall. A point q is inside the convex quad when it is on the
        same side of all four edges: cross(c[k+1] - c[k], q - c[k]) has one sign for k = 0..3.
        """
        sections = self._work_arrays[0]  # (W + 1, m), from the last locate
        vx, vy = self.vertices.take(sections, axis=2)  # each (2, W + 1, m): left and right wall
        following = [1, 2, 3, 0]
        ex, ey = xs[following] - xs, ys[following] - ys  # (4, m) edge vectors
        cx, cy = xs[:, None, None], ys[:, None, None]
        side = np.sign(ex[:, None, None] * (vy - cy) - ey[:, None, None] * (vx - cx))  # (4, 2, W + 1, m)
        inside = np.abs(side.sum(axis=0)) == 4  # the same strict side of all four edges
        return np.logical_or.reduce(inside.reshape(-1, inside.shape[-1]), axis=0)

    def _work(self, p: int, m: int) -> tuple[np.ndarray, ...]:
        """Scratch arrays of locate for P points of m cars (the same arrays while P and m stay put)."""
        if self._work_key != (p, m):
            get, w = self._scratch.get, len(self.window)
            self._work_arrays = (get("sections", (w, m), np.int64), get("planes", (3, 3, w, m)),
                                 get("inner", (p, 3, w, m)), get("inner_y", (p, 3, w, m)),
                                 get("mask", (p, 3, w, m), np.bool_), get("inside", (p, w - 1, m), np.bool_),
                                 np.arange(m))
            self._work_key = (p, m)
        return self._work_arrays

    def arc_position(self, x: np.ndarray, y: np.ndarray, seg: np.ndarray) -> np.ndarray:
        """Arc position s in [0, L] of points (m,) projected onto centerline segments seg (m,)."""
        cx, cy, dx, dy, seg_len, arc = self.centre[:, seg]
        along = (x - cx) * dx
        along += (y - cy) * dy
        np.maximum(along, 0.0, out=along)
        np.minimum(along, seg_len, out=along)
        along += arc
        return along


def _lengths(polyline: np.ndarray) -> np.ndarray:
    d = np.roll(polyline, -1, axis=0) - polyline
    return np.hypot(d[:, 0], d[:, 1])


class Progress:
    """Progress, laps and stop rules for m cars, as compact arrays (one column per car still driving).

    Float block `f` (5, m) float64: s (arc position in the lap), units (signed progress in world
    units), best (the most progress so far), anchor (best at the last stall check), next_lap (the
    best progress that completes the next lap).
    Int block `i` (5, m) int64: seg (quad of the centre), laps (completed), last_lap_step,
    best_lap (steps of the fastest lap, 0 = none yet), car (an id the owner assigns).
    Completed laps are appended to `lap_events` as arrays (k, 4) of rows (car, lap number, lap steps, step).

    Stop rules: a car stops when its body touches a wall (CRASHED), when its progress is
    more than backward_tolerance behind its best (BACKWARDS), when its best progress grew by less
    than stall_distance since the previous check, checked every stall_steps steps (STALLED), or
    after max_laps laps (FINISHED).
    """

    def __init__(self, road: Road, m: int, *, max_laps: int, stall_steps: int, stall_distance: float,
                 backward_tolerance: float) -> None:
        self.road = road
        self.f = np.zeros((5, m))
        self.f[4] = road.length
        self.i = np.zeros((5, m), dtype=np.int64)
        self.i[4] = np.arange(m)
        self.lap_events: list[np.ndarray] = []
        self.max_laps, self.stall_steps = int(max_laps), max(1, int(stall_steps))
        self.stall_distance, self.backward_tolerance = float(stall_distance), float(backward_tolerance)

    s = property(lambda self: self.f[0])
    units = property(lambda self: self.f[1])
    best = property(lambda self: self.f[2])
    seg = property(lambda self: self.i[0])
    laps = property(lambda self: self.i[1])
    best_lap = property(lambda self: self.i[3])

    def keep(self, mask: np.ndarray) -> None:
        """Drop the columns of cars that stopped (mask (m,) True = keep)."""
        self.f, self.i = self.f[:, mask], self.i[:, mask]

    def update(self, xs: np.ndarray, ys: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Advance m cars whose tested points moved to xs, ys (P, m); row 0 is the car's centre (the
        point whose progress counts), the other rows are body corners that must stay on the road
        (with P = 5, rows 1-4 are the corners in order around the body, which no wall corner may enter).

        `step` is the number of the step just taken (1 for the first). Returns None while every car
        keeps driving, else (stop (m,) bool, reason (m,) int8 with CRASHED/STALLED/BACKWARDS/FINISHED).
        """
        road, f, i = self.road, self.f, self.i
        seg, on_road = road.locate(xs, ys, i[0])
        if len(xs) == 5:  # a body: the centre and its four corners
            on_road &= ~road.wall_corner_inside(xs[1:], ys[1:])
        i[0] = seg
        s = road.arc_position(xs[0], ys[0], seg)
        ds = s - f[0]
        ds -= road.length * np.rint(ds * (1.0 / road.length))  # across the start line: s jumps by a lap
        f[0] = s
        f[1] += ds
        np.maximum(f[2], f[1], out=f[2])
        finished = stalled = None
        lap = f[2] >= f[4]
        if np.logical_or.reduce(lap):
            lap_steps = step - i[2]
            i[3] = np.where(lap & ((i[3] == 0) | (lap_steps < i[3])), lap_steps, i[3])
            i[2] = np.where(lap, step, i[2])
            i[1] += lap
            f[4] += lap * road.length
            self.lap_events.append(np.stack([i[4][lap], i[1][lap], lap_steps[lap], np.full(lap.sum(), step)], axis=1))
            finished = i[1] >= self.max_laps
        backwards = f[2] - f[1] > self.backward_tolerance
        stop = backwards | ~on_road
        if step % self.stall_steps == 0:
            stalled = f[2] < f[3] + self.stall_distance
            f[3] = f[2]
            stop |= stalled
        if finished is not None:
            stop |= finished
        if not np.logical_or.reduce(stop):
            return None
        reason = np.zeros(stop.shape, dtype=np.int8)
        if stalled is not None:
            reason[stalled] = STALLED
        reason[backwards] = BACKWARDS
        if finished is not None:
            reason[finished] = FINISHED
        reason[~on_road] = CRASHED
        return stop, reason

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
