"""Ray casting: hand-computed distances on a square track, and the culled vectorised caster against a
plain-Python reference over many random poses on several tracks."""

import math

import numpy as np
import pytest

from cars.sim.progress import Road
from cars.sim.sensors import RayCaster, candidate_table, ray_angles
from cars.sim.track import load_track
from cars.sim.trackgen import generate_track
from cars_helpers import cast_rays_reference, circle_track, hairpin_track, square_track


def cast_one(track, x, y, heading, angles_deg, length):
    angles = np.radians(np.asarray(angles_deg, dtype=np.float64)).astype(np.float32)
    caster = RayCaster(track, angles, length)
    road = Road(track, reach=30.0)
    seg = track.project(np.array([[x, y]]))[0]
    xs, ys = np.array([[x]], np.float32), np.array([[y]], np.float32)
    quad, on_road = road.locate_points(np.stack([xs, ys]), seg)
    assert on_road[0]
    h = np.array([heading], np.float32)
    return caster.cast_from(np.stack([xs[0], ys[0]]), np.stack([np.cos(h), np.sin(h)]), quad)[:, 0] * length


def test_ray_angles_are_spread_evenly_around_the_heading():
    np.testing.assert_allclose(np.degrees(ray_angles(7, 180)), [-90, -60, -30, 0, 30, 60, 90], atol=1e-5)
    np.testing.assert_allclose(ray_angles(1, 180), [0.0])
    full = np.degrees(ray_angles(4, 360))
    np.testing.assert_allclose(full, [-135, -45, 45, 135], atol=1e-4)  # no two rays on the same direction


def test_straight_walls_hand_computed():
    # Car on the top side of the square at (300, 100) heading +x: outer wall y = 70 (left on screen),
    # inner wall y = 130 (right), outer right wall x = 530 ahead.
    d = cast_one(square_track(), 300, 100, 0.0, [-90, -45, 0, 45, 90], 300)
    np.testing.assert_allclose(d, [30, 30 * math.sqrt(2), 230, 30 * math.sqrt(2), 30], rtol=1e-5)


def test_rays_past_a_wall_end_hit_the_next_wall_around_the_corner():
    # From (480, 100) the 45-degree ray passes beyond the inner wall's corner (470, 130) and meets the
    # outer wall x = 530 at y = 150: distance 50 * sqrt(2).
    d = cast_one(square_track(), 480, 100, 0.0, [45], 300)
    np.testing.assert_allclose(d, [50 * math.sqrt(2)], rtol=1e-5)


def test_ray_through_a_wall_vertex_hits_it():
    # (500, 100) -> corner (530, 70) of the outer wall, exactly through the shared vertex.
    d = cast_one(square_track(), 500, 100, 0.0, [-45], 300)
    np.testing.assert_allclose(d, [30 * math.sqrt(2)], rtol=1e-5)


def test_rays_that_miss_read_full_length():
    # Length 20: every wall is further than that along these rays.
    d = cast_one(square_track(), 300, 100, 0.0, [-30, 0, 30], 20)
    np.testing.assert_allclose(d, [20, 20, 20])
    # Heading down the side (+y) from the top-right corner region: the ray ahead hits the bottom wall.
    d = cast_one(square_track(), 500, 120, math.pi / 2, [0], 1000)
    np.testing.assert_allclose(d, [410], rtol=1e-5)


@pytest.mark.parametrize("make", [square_track, circle_track, hairpin_track, lambda: load_track("hairpins"),
                                  lambda: generate_track(7)])
def test_culled_caster_matches_reference_on_random_poses(make):
    track = make()
    rng = np.random.default_rng(0)
    length = 180.0
    angles = ray_angles(7, 180)
    caster, road = RayCaster(track, angles, length), Road(track, reach=30.0)
    s = rng.uniform(0, track.length, 60)
    heading = track.heading_at(s)
    normal = np.stack([-np.sin(heading), np.cos(heading)], axis=1)
    p = track.position_at(s) + normal * rng.uniform(-0.45, 0.45, (60, 1)) * track.width
    h = (heading + rng.uniform(-math.pi, math.pi, 60)).astype(np.float32)
    xs, ys = p[:, 0].astype(np.float32), p[:, 1].astype(np.float32)
    quad, on_road = road.locate_points(np.stack([xs[None], ys[None]]), track.project(p)[0])
    assert on_road.all()
    fast = caster.cast_from(np.stack([xs, ys]), np.stack([np.cos(h), np.sin(h)]), quad).T
    ref = np.array([cast_rays_reference(float(xs[i]), float(ys[i]), float(h[i]), angles, length, track.wall_segments)
                    for i in range(len(xs))])
    np.testing.assert_allclose(fast, ref, atol=2e-4)


def test_candidate_table_culls_walls_out_of_reach():
    track = load_track("oval")
    table, walls = candidate_table(track, 100.0)
    assert table.shape[1] < len(walls) / 4  # most of the track is out of reach
    real = table[table < len(walls)]
    assert real.min() >= 0 and real.max() < len(walls)
