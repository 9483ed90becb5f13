"""Tracks: validation errors, shipped tracks, file round trip, wall/checkpoint geometry, ray-culling table."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from cars.sim import geometry
from cars.sim import track as track_module
from cars.sim.track import Track, TrackError, load_track, save_track, shipped_track_names

SQUARE = [[100, 100], [500, 100], [500, 500], [100, 500]]  # clockwise on screen, sides 400


def write(tmp_path, text: str | bytes, name: str = "bad.json"):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def track_text(**fields) -> str:
    d = {"name": "T", "width": 60, "centerline": SQUARE}
    d.update(fields)
    return json.dumps({k: v for k, v in d.items() if v is not ...})


FIGURE_EIGHT = [[100, 100], [300, 300], [500, 100], [500, 300], [300, 100], [100, 300]]
TIGHT = [[0, 0], [30, 0], [30, 30], [0, 30]]  # bends of radius ~15 with a road 60 wide

MALFORMED = {
    "not json": ("{'name': 'x',", "not valid JSON"),
    "not an object": ("[1, 2, 3]", "expected a JSON object"),
    "missing width": (track_text(width=...), "missing field 'width'"),
    "missing centerline": (track_text(centerline=...), "missing field 'centerline'"),
    "unknown field": (track_text(widht=3), "unknown field 'widht'"),
    "width string": (track_text(width="wide"), "'width' must be a number"),
    "width bool": (track_text(width=True), "'width' must be a number"),
    "width zero": (track_text(width=0), "positive"),
    "width negative": (track_text(width=-5), "positive"),
    "width nan": ('{"width": NaN, "centerline": %s}' % SQUARE, "positive finite"),
    "name not string": (track_text(name=5), "'name' must be a non-empty string"),
    "smooth not bool": (track_text(smooth="yes"), "'smooth' must be true or false"),
    "centerline not list": (track_text(centerline="abc"), "must be a list"),
    "point not pair": (track_text(centerline=[[0, 0], [1, 0, 2], [1, 1], [0, 1]]), "point 1 must be [x, y]"),
    "point string": (track_text(centerline=[[0, 0], [100, 0], ["100", 100], [0, 100]]), "point 2 must be [x, y]"),
    "three points": (track_text(centerline=[[0, 0], [100, 0], [100, 100]]), "at least 4"),
    "three plus repeat": (track_text(centerline=[[0, 0], [100, 0], [100, 100], [0, 0]]), "at least 4"),
    "infinite": ('{"width": 50, "centerline": [[0, 0], [Infinity, 0], [9, 9], [0, 9]]}', "point 1 is not a finite"),
    "nan point": ('{"width": 50, "centerline": [[0, 0], [9, 0], [9, NaN], [0, 9]]}', "point 2 is not a finite"),
    "huge integer": (track_text(centerline=[[0, 0], [10**400, 0], [9, 9], [0, 9]]), "too large"),
    "duplicate points": (track_text(centerline=[[0, 0], [100, 0], [100, 0], [100, 100], [0, 100]]),
                         "points 1 and 2 are the same"),
    "figure eight": (track_text(centerline=FIGURE_EIGHT, width=20), "cross"),
    "too tight": (track_text(centerline=TIGHT, width=60), "folds back"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_track_names_file_and_problem(tmp_path, case):
    text, problem = MALFORMED[case]
    path = write(tmp_path, text)
    with pytest.raises(TrackError) as err:
        load_track(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ")
    assert problem in message
    assert "\n" not in message


def test_unreadable_inputs(tmp_path):
    with pytest.raises(TrackError, match=r"missing\.json: track file not found"):
        load_track(tmp_path / "missing.json")
    with pytest.raises(TrackError, match="not a text"):
        load_track(write(tmp_path, b"\xff\xfe\x00garbage"))
    with pytest.raises(TrackError, match=r"no such track file or shipped track \(shipped: .*oval"):
        load_track("no-such-track")
    with pytest.raises(TrackError, match="<track>: .*at least 4"):
        Track("x", 50, np.zeros((2, 2)))


def test_separate_stretches_of_road_that_overlap_are_rejected():
    # A tower rising from the bottom edge to y = 40 comes within 40 of the top edge at y = 0: with a
    # road 60 wide (no bend tighter than 100) the two stretches' walls overlap.
    tower = [[0, 0], [800, 0], [800, 400], [500, 400], [500, 40], [300, 40], [300, 400], [0, 400]]
    with pytest.raises(TrackError, match=r"^tower\.json: the right wall crosses itself near centerline points 0 and 3$"):
        Track.from_dict({"width": 60, "centerline": tower}, source="tower.json")
    Track.from_dict({"width": 60, "centerline": [[x, y + 30 * (y == 40)] for x, y in tower]})  # 70 apart is fine


def test_shipped_tracks_load_and_fit_the_world():
    names = shipped_track_names()
    assert {"oval", "hairpins", "sbends", "long"} <= set(names)
    for name in names:
        track = load_track(name)
        assert 50 <= track.width <= 100, name
        xmin, ymin, xmax, ymax = track.bounds()
        assert 0 <= xmin < xmax <= 1400 and 0 <= ymin < ymax <= 900, (name, track.bounds())
        spacing = track.segment_lengths
        assert spacing.max() < 25 and spacing.min() > 2, name  # dense polylines
        assert len(track.checkpoints) >= 20
    assert load_track("OVAL").name == load_track("oval").name == "Oval"
    assert load_track("long").length > load_track("oval").length


def test_round_trip_save_load(tmp_path):
    track = load_track("hairpins")
    path = tmp_path / "copy.json"
    save_track(track, path)
    again = load_track(path)
    assert again.name == track.name and again.width == track.width
    np.testing.assert_array_equal(again.centerline, track.centerline)
    np.testing.assert_array_equal(again.wall_segments, track.wall_segments)
    assert [p.name for p in tmp_path.iterdir()] == ["copy.json"]  # no temporary file left behind
    assert Track.from_dict(track.to_dict()).length == pytest.approx(track.length)


def test_repeated_end_point_dropped_and_name_defaults_to_file(tmp_path):
    path = write(tmp_path, json.dumps({"width": 60, "centerline": SQUARE + [SQUARE[0]]}), "loop.json")
    track = load_track(path)
    assert track.name == "loop"
    np.testing.assert_array_equal(track.centerline, np.array(SQUARE, dtype=float))
    assert track.length == pytest.approx(1600)


def test_start_pose():
    track = Track("t", 60, SQUARE[1:] + SQUARE[:1])  # starts at (500, 100) heading down the screen
    np.testing.assert_array_equal(track.start_position, [500, 100])
    assert track.start_heading == pytest.approx(math.pi / 2)


def slow_point_segment_distance(p, seg) -> float:
    (x, y), (x1, y1, x2, y2) = p, seg
    dx, dy = x2 - x1, y2 - y1
    t = max(0.0, min(1.0, ((x - x1) * dx + (y - y1) * dy) / (dx * dx + dy * dy)))
    return math.hypot(x1 + t * dx - x, y1 + t * dy - y)


def test_walls_are_half_a_width_from_the_centerline_on_the_correct_sides():
    track = Track("square", 60, SQUARE)
    k = len(track.centerline)
    for i in range(k):
        a, b = track.centerline[i], track.centerline[(i + 1) % k]
        mid = (a + b) / 2
        left, right = track.wall_segments[i], track.wall_segments[k + i]
        assert slow_point_segment_distance(mid, left) == pytest.approx(30)
        assert slow_point_segment_distance(mid, right) == pytest.approx(30)
        d = b - a
        for seg, sign in ((left, 1), (right, -1)):  # left of direction (dx, dy) on screen is (dy, -dx)
            side = (seg[0] - a[0]) * d[1] - (seg[1] - a[1]) * d[0]
            assert np.sign(side) == sign
    # on a long straight of the oval: top straight runs east at y = 190, walls at 190 -/+ 42.5
    oval = load_track("oval")
    straight = np.abs(oval.centerline[:, 1] - 190) < 1e-6
    assert straight.sum() > 20
    np.testing.assert_allclose(oval.left_wall[straight, 1], 190 - oval.width / 2, atol=1e-6)
    np.testing.assert_allclose(oval.right_wall[straight, 1], 190 + oval.width / 2, atol=1e-6)


def test_checkpoints_count_order_and_span():
    track = load_track("sbends")
    c = len(track.checkpoints)
    assert c == round(track.length / 50)
    np.testing.assert_allclose(track.checkpoints[0], [track.left_wall[0], track.right_wall[0]])
    mids = track.checkpoints.mean(axis=1)
    _, s, offset = track.project(mids)
    assert np.all(np.abs(offset) < 1e-6)
    np.testing.assert_allclose(s, np.arange(c) * track.length / c, atol=1e-6)
    spans = np.hypot(*(track.checkpoints[:, 1] - track.checkpoints[:, 0]).T)
    assert np.all(spans > 0.9 * track.width) and np.all(spans < 1.2 * track.width)
    # every checkpoint ends on the walls
    d_left = geometry.point_segment_distances(track.checkpoints[:, 0], track.wall_segments[: len(track.centerline)])
    d_right = geometry.point_segment_distances(track.checkpoints[:, 1], track.wall_segments[len(track.centerline):])
    assert d_left.min(axis=1).max() < 1e-6 and d_right.min(axis=1).max() < 1e-6


def test_arc_length_arrays():
    track = load_track("kidney")
    k = len(track.centerline)
    assert track.arc.shape == (k + 1,) and track.arc[0] == 0 and track.arc[-1] == pytest.approx(track.length)
    steps = np.roll(track.centerline, -1, axis=0) - track.centerline
    np.testing.assert_allclose(track.directions * track.segment_lengths[:, None], steps, atol=1e-9)
    np.testing.assert_allclose(np.hypot(*track.directions.T), 1.0)
    s = np.array([0.0, 10.0, track.length / 3, track.length + 5.0])
    _, back, _ = track.project(track.position_at(s))
    np.testing.assert_allclose(back, np.mod(s, track.length), atol=1e-6)


def smooth_track() -> Track:
    return Track.from_dict({"name": "s", "width": 70, "smooth": True,
                            "centerline": [[200, 200], [900, 150], [1150, 450], [700, 700], [250, 600]]})


def test_smooth_flag_makes_a_dense_curve_through_the_control_points():
    track = smooth_track()
    control = np.array([[200, 200], [900, 150], [1150, 450], [700, 700], [250, 600]], dtype=float)
    np.testing.assert_allclose(track.centerline[0], control[0])
    gaps = geometry.point_segment_distances(control, geometry.closed_segments(track.centerline)).min(axis=1)
    assert gaps.max() < 1.0
    assert 10 < track.segment_lengths.min() and track.segment_lengths.max() < 14


def test_candidate_table_matches_brute_force(monkeypatch):
    monkeypatch.setattr(track_module, "CANDIDATE_CHUNK", 50)  # several blocks of rows of different widths
    track = smooth_track()
    radius = 150.0
    table = track.candidate_segments(radius)
    assert table.shape[0] == len(track.centerline)
    assert track.candidate_segments(radius) is table  # cached
    for i, vertex in enumerate(track.centerline):
        dist = [slow_point_segment_distance(vertex, seg) for seg in track.wall_segments]
        expected = {j for j, d in enumerate(dist) if d <= radius}
        assert set(table[i].tolist()) == expected | {int(np.argmin(dist))}  # padding repeats the nearest


def test_candidate_radius_covers_everything_a_car_can_reach():
    track = load_track("hairpins")
    reach = 120.0
    table = track.candidate_segments(track.candidate_radius(reach))
    rng = np.random.default_rng(0)
    s = rng.uniform(0, track.length, 300)
    heading = track.heading_at(s)
    lateral = rng.uniform(-0.49, 0.49, 300) * track.width
    q = track.position_at(s) + lateral[:, None] * np.stack([np.sin(heading), -np.cos(heading)], axis=1)
    index, _, _ = track.project(q)
    near = geometry.point_segment_distances(q, track.wall_segments) <= reach
    for n in range(len(q)):
        assert set(np.flatnonzero(near[n])) <= set(table[index[n]].tolist())


def test_project_matches_brute_force_and_accepts_candidate_rows():
    track = load_track("long")
    rng = np.random.default_rng(1)
    q = rng.uniform([100, 100], [1300, 800], size=(50, 2))
    index, s, offset = track.project(q)
    segments = geometry.closed_segments(track.centerline)
    for n, p in enumerate(q):
        dist = [slow_point_segment_distance(p, seg) for seg in segments]
        assert dist[index[n]] == pytest.approx(min(dist))
        assert abs(offset[n]) == pytest.approx(min(dist))
    rows = (index[:, None] + np.arange(-2, 3)[None, :]) % len(track.centerline)
    index2, s2, offset2 = track.project(q, rows)
    np.testing.assert_array_equal(index2, index)
    np.testing.assert_allclose(s2, s)
    np.testing.assert_allclose(offset2, offset)
