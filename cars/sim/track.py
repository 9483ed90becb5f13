"""Tracks: a closed centerline and a road width, loaded from JSON, validated, with precomputed geometry.

File format (world units are about pixels, y grows downward)::

    {"name": "Oval", "width": 85, "centerline": [[x, y], [x, y], ...], "smooth": false}

The centerline is a closed loop in driving order (the last point joins the first; a repeated first
point at the end is dropped). `name` defaults to the file name; `smooth: true` marks the points as
sparse control points, replaced by a closed centripetal Catmull-Rom spline with a point every
~12 units. The road is the band of `width` around the centerline; cars start at centerline[0]
heading towards centerline[1].
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from cars.sim import geometry
from cars.sim.files import find_file, read_text, shipped_names
from engine.atomic import write_text_atomic

TRACKS_DIR = Path(__file__).resolve().parent.parent / "tracks"
DEFAULT_TRACK = "oval"
CHECKPOINT_SPACING = 50.0  # world units of centerline between checkpoints
SMOOTH_SPACING = 12.0  # world units between points of a smoothed centerline
MITER_LIMIT = 2.0  # walls at a sharp corner sit at most this many half-widths from the centerline
MAX_POINTS = 5_000  # of the centerline as driven (after smoothing): the ray and road tables grow with it
MAX_COORDINATE = 1e6
MAX_NAME = 100
CANDIDATE_CHUNK = 256  # centerline vertices per block when building candidate tables
KNOWN_FIELDS = ("name", "width", "centerline", "smooth")


class TrackError(ValueError):
    """A track that cannot be used; the message is one line, '<file>: <problem>'."""


class Track:
    """A validated closed track and the arrays the simulation needs (all float64, read-only).

    Contract attributes:
      name: str; width: float (road width); centerline: (K, 2)
      left_wall, right_wall: (K, 2) closed polylines; left is left of the driving direction on screen.
        Wall vertex i is centerline[i] moved sideways along the mitred vertex normal, so wall
        segment i stays width / 2 from centerline segment i.
      wall_segments: (S, 4) rows x1, y1, x2, y2, S = 2K: rows 0..K-1 are the left wall (row i joins
        left_wall[i] to left_wall[i+1 mod K]), rows K..2K-1 the right wall in the same order.
      length: float, centerline length of one lap.
      checkpoints: (C, 2, 2) segments from the left wall to the right wall, at equal arc-length steps
        of about CHECKPOINT_SPACING in driving order; checkpoints[0] is the start/finish line.
      start_position: (2,) = centerline[0]; start_heading: radians, atan2(dy, dx) towards centerline[1].

    Extra precomputed geometry (for a vectorised simulation):
      arc: (K + 1,) centerline distance from the start to vertex i; arc[0] = 0, arc[K] = length.
      segment_lengths: (K,) length of centerline segment i (vertex i -> vertex i+1 mod K).
      directions: (K, 2) unit direction of centerline segment i.
      checkpoint_arc: (C,) arc position of each checkpoint.
      candidate_segments(radius), candidate_radius(reach), project(points), position_at(s), heading_at(s).
    """

    def __init__(
        self,
        name: str,
        width: float,
        centerline: np.ndarray,
        *,
        source: str = "<track>",
        checkpoint_spacing: float = CHECKPOINT_SPACING,
    ) -> None:
        self.source = source
        self.name = name
        self.width = float(width)
        points = np.array(centerline, dtype=np.float64).reshape(-1, 2)
        if len(points) > 1 and np.array_equal(points[0], points[-1]):
            points = points[:-1]
        check_points(points, self.width, source)
        self.centerline = points

        gaps = np.roll(points, -1, axis=0) - points
        self.segment_lengths = np.hypot(gaps[:, 0], gaps[:, 1])
        self.directions = gaps / self.segment_lengths[:, None]
        self.arc = np.concatenate([[0.0], np.cumsum(self.segment_lengths)])
        self.length = float(self.arc[-1])

        half = self.width / 2.0
        self.left_wall = geometry.offset_closed(points, half, MITER_LIMIT)
        self.right_wall = geometry.offset_closed(points, -half, MITER_LIMIT)
        check_walls(self.left_wall, self.right_wall, self.directions, self.width, source)
        self.wall_segments = np.concatenate(
            [geometry.closed_segments(self.left_wall), geometry.closed_segments(self.right_wall)]
        )

        count = max(4, int(round(self.length / checkpoint_spacing)))
        self.checkpoint_arc = np.arange(count) * (self.length / count)
        ends = [self._wall_point_at(wall, self.checkpoint_arc) for wall in (self.left_wall, self.right_wall)]
        self.checkpoints = np.stack(ends, axis=1)

        self.start_position = points[0].copy()
        self.start_heading = float(math.atan2(self.directions[0, 1], self.directions[0, 0]))
        for array in (self.centerline, self.left_wall, self.right_wall, self.wall_segments, self.checkpoints,
                      self.checkpoint_arc, self.arc, self.segment_lengths, self.directions, self.start_position):
            array.flags.writeable = False
        self._candidates: dict[float, np.ndarray] = {}

    def __repr__(self) -> str:
        return (f"Track({self.name!r}, width={self.width:g}, points={len(self.centerline)}, "
                f"length={self.length:.0f})")

    # ---- serialisation -------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, d: Any, source: str = "<track>") -> Track:
        """Build and validate a track from parsed JSON; every problem raises TrackError('<source>: ...')."""
        if not isinstance(d, dict):
            raise TrackError(f"{source}: expected a JSON object with width and centerline, got {type(d).__name__}")
        unknown = sorted(set(d) - set(KNOWN_FIELDS))
        if unknown:
            raise TrackError(f"{source}: unknown field {unknown[0]!r} (known: {', '.join(KNOWN_FIELDS)})")
        for field in ("width", "centerline"):
            if field not in d:
                raise TrackError(f"{source}: missing field {field!r}")
        name = d.get("name", Path(source).stem if source.endswith(".json") else "track")
        if not isinstance(name, str) or not name.strip():
            raise TrackError(f"{source}: 'name' must be a non-empty string")
        if len(name.strip()) > MAX_NAME:
            raise TrackError(f"{source}: 'name' must be at most {MAX_NAME} characters, got {len(name.strip())}")
        width = d["width"]
        if not is_number(width):
            raise TrackError(f"{source}: 'width' must be a number, got {json.dumps(width)[:60]}")
        width = float(width) if abs(width) < MAX_COORDINATE else math.inf
        if not math.isfinite(width) or width <= 0:
            raise TrackError(f"{source}: 'width' must be a positive finite number, got {width}")
        smooth = d.get("smooth", False)
        if not isinstance(smooth, bool):
            raise TrackError(f"{source}: 'smooth' must be true or false, got {json.dumps(smooth)}")
        points = parse_points(d["centerline"], source)
        if smooth:
            if len(points) > 1 and np.array_equal(points[0], points[-1]):
                points = points[:-1]
            check_points(points, float(width), source)  # clear messages before the spline sees them
            points = smooth_points(points, source)
        return cls(name.strip(), float(width), points, source=source)

    def to_dict(self) -> dict:
        """JSON-able dict {"name", "width", "centerline"} (the dense centerline, no repeated end point)."""
        width = int(self.width) if self.width.is_integer() else self.width
        return {"name": self.name, "width": width, "centerline": self.centerline.tolist()}

    # ---- geometry helpers --------------------------------------------------------------------

    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of both walls: everything drawn of the road lies inside."""
        walls = np.concatenate([self.left_wall, self.right_wall])
        (xmin, ymin), (xmax, ymax) = walls.min(axis=0), walls.max(axis=0)
        return float(xmin), float(ymin), float(xmax), float(ymax)

    def candidate_radius(self, reach: float) -> float:
        """Radius for candidate_segments so row i holds every wall within `reach` of any point on the
        road along centerline segment i (or i - 1).

        Such a point is at most segment_length (along) + width / 2 * MITER_LIMIT (across) from
        vertex i, so radius = reach + max(segment_lengths) + width / 2 * MITER_LIMIT.
        """
        return float(reach + self.segment_lengths.max() + self.width / 2.0 * MITER_LIMIT)

    def candidate_segments(self, radius: float) -> np.ndarray:
        """For each centerline vertex i, the wall_segments rows within `radius` of it. -> (K, M) int64.

        Row i lists the indices of every wall segment whose distance to centerline[i] is <= radius,
        ascending, then is padded to the common width M by repeating the segment nearest to vertex i
        (a real wall, so padding never changes a nearest-hit or any-hit result). Cached per radius.
        Typical use: rays of length L from a car on segment i test wall_segments[table[i]] with
        table = candidate_segments(candidate_radius(L)).
        """
        key = float(radius)
        if key not in self._candidates:
            table = self._build_candidates(key)
            table.flags.writeable = False
            self._candidates[key] = table
        return self._candidates[key]

    def _build_candidates(self, radius: float) -> np.ndarray:
        chunks = []
        for start in range(0, len(self.centerline), CANDIDATE_CHUNK):  # bounds memory to CHUNK x S
            dist = geometry.point_segment_distances(self.centerline[start:start + CANDIDATE_CHUNK], self.wall_segments)
            within = dist <= radius
            order = np.argsort(~within, axis=1, kind="stable")[:, :max(1, int(within.sum(axis=1).max()))]
            chunks.append((order, np.take_along_axis(within, order, axis=1), np.argmin(dist, axis=1)))
        width = max(order.shape[1] for order, _, _ in chunks)
        rows = []
        for order, filled, nearest in chunks:
            pad = ((0, 0), (0, width - order.shape[1]))
            rows.append(np.where(np.pad(filled, pad), np.pad(order, pad), nearest[:, None]))
        return np.concatenate(rows).astype(np.int64)

    def project(
        self, points: np.ndarray, segments: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Nearest centerline segment of each point, its arc position and its signed offset.

        points: (N, 2); segments: optional (N, M) centerline segment indices to search (e.g. a few
        around each car's last segment), default all K. Returns index (N,) int64, s (N,) in
        [0, length) and offset (N,): the distance to the centerline, > 0 left of the driving
        direction. With a, d the segment's start and unit direction: t = clip((p - a) . d, 0, len),
        s = arc[i] + t, offset = +-|p - a - t d|.
        """
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if segments is None:
            segments = np.broadcast_to(np.arange(len(self.centerline)), (len(p), len(self.centerline)))
        a, d, seg_len = self.centerline[segments], self.directions[segments], self.segment_lengths[segments]
        rel = p[:, None, :] - a
        t = np.clip(np.sum(rel * d, axis=-1), 0.0, seg_len)
        gap = rel - t[..., None] * d
        best = np.argmin(np.hypot(gap[..., 0], gap[..., 1]), axis=1)
        rows = np.arange(len(p))
        index = np.asarray(segments)[rows, best].astype(np.int64)
        s = np.mod(self.arc[index] + t[rows, best], self.length)
        side = np.where(geometry.cross2(d[rows, best], rel[rows, best]) > 0, -1.0, 1.0)
        offset = side * np.hypot(gap[rows, best, 0], gap[rows, best, 1])
        return index, s, offset

    def position_at(self, s: np.ndarray | float) -> np.ndarray:
        """Centerline point at arc position(s) s (wrapped into one lap). (N,) -> (N, 2)."""
        return self._wall_point_at(self.centerline, s)

    def heading_at(self, s: np.ndarray | float) -> np.ndarray:
        """Driving direction (radians) of the centerline segment containing arc position(s) s. (N,) -> (N,)."""
        i = self._segment_at(s)
        return np.arctan2(self.directions[i, 1], self.directions[i, 0])

    def _segment_at(self, s: np.ndarray | float) -> np.ndarray:
        s = np.mod(np.atleast_1d(np.asarray(s, dtype=np.float64)), self.length)
        return np.clip(np.searchsorted(self.arc, s, side="right") - 1, 0, len(self.centerline) - 1)

    def _wall_point_at(self, polyline: np.ndarray, s: np.ndarray | float) -> np.ndarray:
        """Point of a polyline with one vertex per centerline vertex, interpolated at arc position s."""
        s = np.mod(np.atleast_1d(np.asarray(s, dtype=np.float64)), self.length)
        i = self._segment_at(s)
        t = ((s - self.arc[i]) / self.segment_lengths[i])[:, None]
        nxt = (i + 1) % len(polyline)
        return polyline[i] * (1.0 - t) + polyline[nxt] * t


# ---- validation ---------------------------------------------------------------------------------

def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_points(raw: Any, source: str) -> np.ndarray:
    """JSON centerline -> (K, 2) float64, or TrackError naming the first bad point."""
    if not isinstance(raw, list):
        raise TrackError(f"{source}: 'centerline' must be a list of [x, y] points, got {type(raw).__name__}")
    if len(raw) > MAX_POINTS:
        raise TrackError(f"{source}: 'centerline' has {len(raw)} points, more than the limit of {MAX_POINTS}")
    for i, p in enumerate(raw):
        if not (isinstance(p, (list, tuple)) and len(p) == 2 and is_number(p[0]) and is_number(p[1])):
            raise TrackError(f"{source}: centerline point {i} must be [x, y] with two numbers, got {json.dumps(p)[:60]}")
    try:
        return np.array(raw, dtype=np.float64).reshape(-1, 2)
    except OverflowError:  # integers beyond float range
        raise TrackError(f"{source}: a centerline coordinate is too large to be a number") from None


def smooth_points(control: np.ndarray, source: str) -> np.ndarray:
    """The dense centerline of a smooth track, refused (before it is made) when it would exceed MAX_POINTS.

    The spline through K control points is sampled 24 times per span (bounded by K <= MAX_POINTS), then
    resampled every SMOOTH_SPACING units: that count grows with the curve's length, so it is checked first."""
    curve = geometry.catmull_rom_closed(control)
    length = float(np.sum(geometry.segment_lengths(curve)))
    count = int(round(length / SMOOTH_SPACING))
    if count > MAX_POINTS:
        raise TrackError(f"{source}: smoothing gives a centerline of {count:,} points (one every {SMOOTH_SPACING:g} "
                         f"units along {length:,.0f}), more than the limit of {MAX_POINTS}; place the control points "
                         f"closer together or set \"smooth\": false")
    return geometry.resample_closed(curve, SMOOTH_SPACING)


def check_points(points: np.ndarray, width: float, source: str) -> None:
    """Count, finiteness, range and distinct consecutive points of a closed centerline (K, 2)."""
    if not math.isfinite(width) or width <= 0:
        raise TrackError(f"{source}: 'width' must be a positive finite number, got {width}")
    if len(points) < 4:
        raise TrackError(f"{source}: the centerline needs at least 4 distinct points, got {len(points)}")
    if len(points) > MAX_POINTS:
        raise TrackError(f"{source}: the centerline has {len(points):,} points, more than the limit of {MAX_POINTS}")
    bad = ~np.isfinite(points).all(axis=1)
    if bad.any():
        raise TrackError(f"{source}: centerline point {int(np.argmax(bad))} is not a finite number")
    far = (np.abs(points) > MAX_COORDINATE).any(axis=1)
    if far.any():
        raise TrackError(f"{source}: centerline point {int(np.argmax(far))} is beyond +-{MAX_COORDINATE:g}")
    same = geometry.segment_lengths(points) < 1e-6
    if same.any():
        i = int(np.argmax(same))
        raise TrackError(f"{source}: centerline points {i} and {(i + 1) % len(points)} are the same point")


def check_walls(left: np.ndarray, right: np.ndarray, directions: np.ndarray, width: float, source: str) -> None:
    """The road must not fold back on itself and no wall may touch or cross itself or the other wall."""
    k = len(left)
    for side, wall in (("left", left), ("right", right)):
        step = np.roll(wall, -1, axis=0) - wall
        folded = np.sum(step * directions, axis=1) <= 0
        if folded.any():
            i = int(np.argmax(folded))
            raise TrackError(f"{source}: the {side} wall folds back near centerline point {i}: "
                             f"the bend is tighter than half the road width ({width / 2:g})")
    left_segments, right_segments = geometry.closed_segments(left), geometry.closed_segments(right)
    for side, segments in (("left", left_segments), ("right", right_segments)):
        hit = geometry.first_crossing(segments, segments, same=True)
        if hit:
            raise TrackError(f"{source}: the {side} wall crosses itself near centerline points {hit[0]} and {hit[1]}")
    hit = geometry.first_crossing(left_segments, right_segments, same=False)
    if hit:
        raise TrackError(f"{source}: the left and right walls cross near centerline points {hit[0]} and {hit[1] % k}")


# ---- files ----------------------------------------------------------------------------------------

def shipped_track_names() -> list[str]:
    """Names of the tracks shipped in cars/tracks, sorted (e.g. 'oval'); pass one to load_track."""
    return shipped_names(TRACKS_DIR, ".json")


def find_track_file(path_or_name: str | os.PathLike) -> Path:
    """The file of a track given by path or by shipped name (case-insensitive). Raises TrackError."""
    return find_file(path_or_name, TRACKS_DIR, ".json", "track", TrackError)


def load_track(path_or_name: str | os.PathLike) -> Track:
    """Load a track from a .json path or by shipped name (case-insensitive). Raises TrackError."""
    path = find_track_file(path_or_name)
    raw = read_text(path, TrackError)
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise TrackError(f"{path}: not valid JSON (line {e.lineno} column {e.colno}: {e.msg})") from None
    except RecursionError:
        raise TrackError(f"{path}: not valid JSON (nested too deeply)") from None
    return Track.from_dict(data, source=str(path))


def track_json(track: Track, decimals: int | None = None) -> str:
    """The track as JSON text, one centerline point per line; `decimals` rounds the coordinates."""
    d = track.to_dict()
    points = track.centerline if decimals is None else np.round(track.centerline, decimals)
    lines = ",\n    ".join(json.dumps([float(x), float(y)]) for x, y in points.tolist())
    return (f'{{\n  "name": {json.dumps(d["name"])},\n  "width": {json.dumps(d["width"])},\n'
            f'  "centerline": [\n    {lines}\n  ]\n}}\n')


def save_track(track: Track, path: str | os.PathLike) -> None:
    """Write the track as JSON atomically (a temporary file in the same folder, then os.replace)."""
    write_text_atomic(path, track_json(track))
