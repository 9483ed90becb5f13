"""Ray casting: hand-computed distances on a square track, and the culled vectorised caster against a
plain-Python reference over many random poses on several tracks."""

import math

import numpy as np
import pytest

from cars.sim.progress import Road
from cars.sim.sensors import RayCaster, candidate_table, ray_angles
from cars.sim.track import load_track
from cars.sim.trackgen import generate_track
from cars_helpers import across_road, cast_rays_reference, circle_track, hairpin_track, square_track


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


def random_poses(track, count: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """`count` cars anywhere on the road facing anywhere: xy (2, m), headings (m,) and their cos, sin (2, m),
    float32, and the cars' quads (m,)."""
    p, along = across_road(track, rng, count, 0.45)
    h = (along + rng.uniform(-math.pi, math.pi, count)).astype(np.float32)
    xy = p.T.astype(np.float32)
    quad, on_road = Road(track, reach=30.0).locate_points(xy[:, None], track.project(p)[0])
    assert on_road.all()
    return xy, h, np.stack([np.cos(h), np.sin(h)]), quad


@pytest.mark.parametrize("make", [square_track, circle_track, hairpin_track, lambda: load_track("hairpins"),
                                  lambda: generate_track(7)])
def test_culled_caster_matches_reference_on_random_poses(make):
    track = make()
    length = 180.0
    angles = ray_angles(7, 180)
    xy, heading, cs, quad = random_poses(track, 60, np.random.default_rng(0))
    fast = RayCaster(track, angles, length).cast_from(xy, cs, quad).T
    ref = np.array([cast_rays_reference(float(x), float(y), float(h), angles, length, track.wall_segments)
                    for x, y, h in zip(xy[0], xy[1], heading)])
    np.testing.assert_allclose(fast, ref, atol=2e-4)


@pytest.mark.parametrize("cars", [3, 40])
def test_memory_layouts_and_parts_read_the_same_bits(cars):
    # A few cars are cast with the candidates last in memory, more with the cars last, very many in parts:
    # a car's readings must not depend on which (the simulation's outcome must not depend on how many
    # cars still drive).
    track = load_track("sbends")
    xy, _, cs, quad = random_poses(track, cars, np.random.default_rng(cars))
    readings = []
    for small_batch, max_batch in ((0, 1000), (1000, 1000), (0, 7)):  # all "large", all "small", in parts
        caster = RayCaster(track, ray_angles(7, 180), 160.0)
        caster.SMALL_BATCH, caster.MAX_BATCH = small_batch, max_batch
        readings.append(caster.cast_from(xy, cs, quad).copy())
    for other in readings[1:]:
        assert np.array_equal(readings[0].view(np.int32), other.view(np.int32))
    assert 0 < readings[0].min() and readings[0].min() < 1  # some ray meets a wall


def test_candidate_table_culls_walls_out_of_reach():
    track = load_track("oval")
    table, walls = candidate_table(track, 100.0)
    assert table.shape[1] < len(walls) / 4  # most of the track is out of reach
    real = table[table < len(walls)]
    assert real.min() >= 0 and real.max() < len(walls)
