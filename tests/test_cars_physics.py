"""Car dynamics against a scalar reference, and crash detection of the car body against the walls."""

import math

import numpy as np

from cars.learn.config import CarConfig, Config, replace_setting
from cars.sim.physics import CarPhysics
from cars.sim.progress import CRASHED, Road
from cars.sim.simulation import Simulation
from cars.sim.track import load_track
from cars_helpers import across_road, circle_track, on_road_reference, physics_reference, square_track


def test_vectorised_physics_matches_reference_over_random_controls():
    car, dt = CarConfig(), 1 / 30
    physics = CarPhysics(car, dt)
    rng = np.random.default_rng(0)
    n = 16
    x, y = np.zeros(n, np.float32), np.zeros(n, np.float32)
    h, v = rng.uniform(-3, 3, n).astype(np.float32), rng.uniform(0, 300, n).astype(np.float32)
    ref = [(0.0, 0.0, float(h[i]), float(v[i])) for i in range(n)]
    for _ in range(60):
        steer, throttle = rng.uniform(-1, 1, (2, n)).astype(np.float32)
        physics.advance(x, y, h, v, steer, throttle)
        ref = [physics_reference(ref[i], float(steer[i]), float(throttle[i]), car, dt) for i in range(n)]
    np.testing.assert_allclose(np.stack([x, y, h, v], axis=1), np.array(ref), rtol=1e-3, atol=0.05)


def test_speed_limits_braking_and_turning_that_scales_with_speed():
    car = CarConfig(turn_rate=3.0, turn_speed=100.0)
    physics = CarPhysics(car, 0.1)
    x, y = np.zeros(3, np.float32), np.zeros(3, np.float32)
    h = np.zeros(3, np.float32)
    v = np.array([0.0, 50.0, 300.0], np.float32)
    physics.advance(x, y, h, v, np.ones(3, np.float32), np.full(3, -1.0, np.float32))
    assert v[0] == 0.0  # braking never reverses
    assert h[0] == 0.0  # a car at rest cannot turn
    # 50 -> 50 - 0.1 (600 + 0.3 * 50 + 20) = -13.5 -> 0, so the second car stopped and cannot turn either
    assert v[1] == 0.0 and h[1] == 0.0
    # fast car: 300 - 0.1 (600 + 0.3 * 300 + 20) = 229 >= turn_speed, so the full turn rate applies
    np.testing.assert_allclose(v[2], 229.0, rtol=1e-6)
    np.testing.assert_allclose(h[2], 0.3, rtol=1e-6)
    v[:] = 290
    for _ in range(50):
        physics.advance(x, y, h, v, np.zeros(3, np.float32), np.ones(3, np.float32))
    assert np.all(v <= car.max_speed) and np.all(v == car.max_speed)


def test_body_points_are_the_rotated_rectangle():
    physics = CarPhysics(CarConfig(length=24, width=12), 0.1)
    h = np.array([math.pi / 2], np.float32)  # heading +y (down on screen): left is +x
    xs, ys = physics.body(np.array([[10.0], [20.0]], np.float32), np.stack([np.cos(h), np.sin(h)]))
    np.testing.assert_allclose(np.stack([xs[:, 0], ys[:, 0]], axis=1),
                               [[10, 20], [16, 32], [4, 32], [4, 8], [16, 8]], atol=1e-5)


def test_car_crashes_the_step_its_front_touches_the_wall_ahead():
    # Full throttle straight along the square's top side (y = 100) into the outer wall x = 530.
    config = replace_setting(Config(), "simulation.max_laps", 5)
    sim = Simulation(square_track(), config, controller=lambda inputs, cars: np.array([[0.0, 1.0]] * len(cars)),
                     genome_index=np.arange(1))
    car, dt = config.car, config.simulation.dt
    state, expected = (300.0, 100.0, 0.0, 0.0), None
    for step in range(1, 200):
        state = physics_reference(state, 0.0, 1.0, car, dt)
        if state[0] + car.length / 2 > 530 + 1e-3:
            expected = step
            break
    sim.run()
    assert sim.status[0] == CRASHED and sim.crashed[0]
    assert sim.steps == expected
    assert sim.x[0] + car.length / 2 > 530 >= sim.x[0] + car.length / 2 - sim.speed[0] * dt


def test_locate_agrees_with_polygon_reference_near_the_walls():
    rng = np.random.default_rng(1)
    for track in (square_track(), circle_track(), load_track("hairpins")):
        road = Road(track, reach=30.0)
        p, _ = across_road(track, rng, 400, 0.6)
        p += rng.normal(0, 3, p.shape)
        xs, ys = p[:, 0].astype(np.float32), p[:, 1].astype(np.float32)
        _, on_road = road.locate_points(np.stack([xs[None], ys[None]]), track.project(p)[0])
        expected = np.array([on_road_reference(track, float(a), float(b)) for a, b in zip(xs, ys)])
        assert 0.1 < expected.mean() < 0.95
        np.testing.assert_array_equal(on_road, expected)


def test_cars_that_crash_leave_the_batch_and_keep_their_last_state():
    config = Config()
    # car 0 drives straight into the wall, car 1 waits at the start (and stalls after 2 s)
    ctrl = lambda inputs, cars: np.where((cars == 0)[:, None], [[0.0, 1.0]], [[0.0, 0.0]])  # noqa: E731
    sim = Simulation(square_track(), config, controller=ctrl, genome_index=np.arange(2))
    while sim.alive[0]:
        sim.step()
    crash_x = float(sim.x[0])
    assert sim.alive_count == 1 and sim.alive[1]
    for _ in range(5):
        sim.step()
    assert sim.x[0] == crash_x and not sim.alive[0]
    sim.run()
    assert sim.done and sim.status_names() == ["crashed", "stalled"]
