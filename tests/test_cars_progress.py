"""Progress along the centerline, laps and the exploits they must resist: driving backwards over the
start line, rocking across it, and cutting across the infield."""

import numpy as np

from cars.learn.config import Config, replace_setting
from cars.sim.progress import BACKWARDS, CRASHED, FINISHED, STALLED, Progress, Road, checkpoints_passed
from cars.sim.simulation import Simulation
from cars_helpers import circle_track, hairpin_track


def tracker(track, m=1, max_laps=5, backward_tolerance=40.0, stall_steps=10_000):
    road = Road(track, reach=30.0)
    return Progress(road, m, max_laps=max_laps, stall_steps=stall_steps, stall_distance=20.0,
                    backward_tolerance=backward_tolerance)


def drive_path(progress, track, arc_positions, start_step=1):
    """Move a car's centre along the centerline through the given arc positions, one per step."""
    results = []
    for k, s in enumerate(arc_positions):
        p = track.position_at(s)
        results.append(progress.advance(p.T[:, None].astype(np.float32), start_step + k))
    return results


def test_forward_laps_are_counted_once_each_with_their_lap_time():
    track = circle_track()
    prog = tracker(track)
    length = track.length
    path = np.arange(1, 251) * (length / 100)  # 2.5 laps in 250 steps: one lap every 100 steps
    results = drive_path(prog, track, path)
    assert all(r is None for r in results)
    assert prog.laps[0] == 2
    np.testing.assert_allclose(prog.units[0] / length, 2.5, atol=1e-6)
    assert prog.best_lap[0] == 100
    events = np.concatenate(prog.lap_events)
    np.testing.assert_array_equal(events[:, 1:], [[1, 100, 100], [2, 100, 200]])


def test_driving_backwards_over_the_start_line_earns_nothing_and_stops():
    track = circle_track()
    prog = tracker(track, backward_tolerance=40.0)
    results = drive_path(prog, track, -np.arange(1, 20) * 5.0)  # 5 units back per step
    assert prog.laps[0] == 0 and prog.best[0] == 0.0
    stop = [r for r in results if r is not None][0]
    assert stop[1][0] == BACKWARDS
    assert prog.units[0] < -40


def test_a_whole_lap_in_reverse_is_minus_one_lap_not_a_lap():
    track = circle_track()
    prog = tracker(track, backward_tolerance=1e9)
    drive_path(prog, track, -np.arange(1, 121) * (track.length / 100))  # 1.2 laps the wrong way
    assert prog.laps[0] == 0
    np.testing.assert_allclose(prog.units[0] / track.length, -1.2, atol=1e-6)
    assert checkpoints_passed(prog.best, track.checkpoint_arc, track.length)[0] == 0


def test_backing_up_then_crossing_the_start_line_forward_is_not_a_lap():
    track = circle_track()
    prog = tracker(track)
    drive_path(prog, track, [-10.0, -20.0, -30.0, -20.0, -10.0, 0.0, 10.0, 20.0])
    assert prog.laps[0] == 0
    np.testing.assert_allclose(prog.units[0], 20.0, atol=1e-4)


def test_rocking_across_the_finish_line_counts_one_lap():
    track = circle_track()
    prog = tracker(track)
    length = track.length
    forward = np.arange(1, 100) * (length / 100)
    rock = length + np.array([5.0, -5.0, 5.0, -5.0, 5.0, 10.0])
    drive_path(prog, track, np.concatenate([forward, rock]))
    assert prog.laps[0] == 1 and prog.best_lap[0] == 100
    assert len(np.concatenate(prog.lap_events)) == 1


def test_cutting_across_the_infield_crashes_and_never_earns_a_lap():
    track = hairpin_track()  # top leg y = 300 heading +x, bottom leg y = 460 heading -x, 160 apart
    prog = tracker(track)
    # Along the top leg to x = 500, then straight down towards the bottom leg, 10 units per step.
    xs = np.concatenate([np.arange(310.0, 501.0, 10.0), np.full(16, 500.0)])
    ys = np.concatenate([np.full(20, 300.0), 300.0 + np.arange(1, 17) * 10.0])
    stops = [prog.advance(np.float32([[[x]], [[y]]]), k + 1) for k, (x, y) in enumerate(zip(xs, ys))]
    first = next(k for k, r in enumerate(stops) if r is not None)
    assert stops[first][1][0] == CRASHED
    assert ys[first] == 340  # it left the road at the inner wall of the top leg (y = 330)
    assert prog.laps[0] == 0 and prog.best[0] < 0.2 * track.length


def body(centre, heading, length=20.0, width=10.0):
    """xs, ys (5, 1): the centre and the corners of a car body, in order around it."""
    d, n = np.array([np.cos(heading), np.sin(heading)]), np.array([-np.sin(heading), np.cos(heading)])
    points = [centre] + [centre + a * length / 2 * d + b * width / 2 * n for a, b in ((1, 1), (1, -1), (-1, -1),
                                                                                    (-1, 1))]
    points = np.array(points, dtype=np.float32)
    return points[:, :1], points[:, 1:]


def test_a_wall_corner_poking_into_the_side_of_a_car_is_a_crash():
    """A 12-gon track: the inner wall's vertices bulge into the road. A car lying along the road with its
    side over one of them has its centre and all four corners on the road, yet touches the wall."""
    track = circle_track(points=12)
    centre_of_track = np.array([600.0, 450.0])
    walls = [np.asarray(track.left_wall), np.asarray(track.right_wall)]
    inner = min(walls, key=lambda w: np.linalg.norm(w - centre_of_track, axis=1).mean())
    vertex = inner[3]
    outward = (vertex - centre_of_track) / np.linalg.norm(vertex - centre_of_track)
    heading = np.arctan2(outward[0], -outward[1])  # along the road, perpendicular to the outward direction
    results = {}
    for poke in (1.0, -1.0):  # the vertex 1 unit inside the car's side, then 1 unit clear of it
        prog = tracker(track)
        prog.i[0] = 3  # the car was in this quad at the last step
        xs, ys = body(vertex + outward * (5.0 - poke), heading)
        corners_on_road = prog.road.locate_points(np.stack([xs, ys]), prog.seg.copy())[1][0]
        assert corners_on_road  # the old corner test alone would miss it
        results[poke] = prog.advance(np.stack([xs, ys]), 1)
    assert results[1.0] is not None and results[1.0][1][0] == CRASHED
    assert results[-1.0] is None


def test_teleporting_far_along_the_track_is_a_crash_not_progress():
    track = circle_track()
    prog = tracker(track)
    far = track.position_at(0.9 * track.length)
    result = prog.advance(far.T[:, None].astype(np.float32), 1)
    assert result is not None and result[1][0] == CRASHED
    assert prog.best[0] < 30 and prog.laps[0] == 0


def test_stall_rule_and_finish_rule():
    track = circle_track()
    prog = tracker(track, max_laps=1, stall_steps=10)
    results = drive_path(prog, track, np.full(10, 1.0))  # never moves 20 units in 10 steps
    assert results[-1] is not None and results[-1][1][0] == STALLED
    prog = tracker(track, max_laps=1, stall_steps=10)
    results = drive_path(prog, track, np.arange(1, 101) * (track.length / 100))
    assert all(r is None for r in results[:-1])
    assert results[-1][1][0] == FINISHED and prog.laps[0] == 1


def test_checkpoints_are_counted_in_order_across_laps():
    arc = np.array([0.0, 100.0, 250.0, 400.0])
    best = np.array([0.0, 99.0, 100.0, 260.0, 499.0, 500.0, 1100.0, -50.0])
    np.testing.assert_array_equal(checkpoints_passed(best, arc, 500.0), [0, 0, 1, 2, 3, 4, 9, 0])


def test_simulation_laps_and_next_checkpoint_with_a_steering_controller():
    track = circle_track(radius=250, width=90)
    config = replace_setting(Config(), "simulation.max_laps", 2)

    def follow(inputs, cars):  # steer towards the side with more room, moderate throttle
        rays = inputs[:, :-1]
        half = rays.shape[1] // 2
        steer = np.clip(4 * (rays[:, half + 1:].mean(1) - rays[:, :half].mean(1)), -1, 1)
        throttle = np.where(inputs[:, -1] < 0.5, 1.0, 0.0)
        return np.stack([steer, throttle], axis=1)

    sim = Simulation(track, config, controller=follow, genome_index=np.arange(3))
    checkpoints = []
    while not sim.done:
        sim.step()
        checkpoints.append(int(sim.next_checkpoint[0]))
    assert sim.status_names() == ["finished"] * 3
    assert np.all(sim.laps == 2) and np.all(sim.best_lap_steps > 0)
    np.testing.assert_allclose(sim.fitness(), 2 + config.fitness.lap_time_weight * (1 - sim.best_lap_steps / sim.max_steps))
    # next_checkpoint walks 1, 2, ..., C - 1, 0, 1, ... without skipping
    jumps = np.diff(checkpoints) % len(track.checkpoint_arc)
    assert set(jumps.tolist()) <= {0, 1}
    log = sim.lap_log
    assert len(log) == 6 and set(log[:, 1].tolist()) == {1, 2}
