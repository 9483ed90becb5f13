"""The Gymnasium environments: spaces, the NEXT_STEP autoreset contract (against Gymnasium's own
SyncVectorEnv), seeding, termination versus truncation, and a reward that adds up to progress."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from cars.learn.config import config_from_dict
from cars.sim.env import ENV_ID, CarTrackEnv, CarTrackVectorEnv
from cars.sim.fleet import RewardConfig
from cars.sim.progress import BACKWARDS, CRASHED, FINISHED, STALLED, TIMEOUT
from cars_helpers import circle_track, square_track


def lane_keeper(obs: np.ndarray, throttle: float = 0.5) -> np.ndarray:
    """A scripted driver: steer towards the side with more room (rays -90..+90 degrees, 7 of them)."""
    steer = np.clip(2.0 * (obs[:, 5] + obs[:, 6] - obs[:, 0] - obs[:, 1]), -1, 1)
    return np.stack([steer, np.full(len(obs), throttle)], axis=1).astype(np.float32)


def settings(**simulation):
    return config_from_dict({"simulation": simulation}) if simulation else config_from_dict({})


def test_spaces_and_dtypes():
    env = CarTrackVectorEnv(5, [circle_track()])
    assert env.single_observation_space == gymnasium.spaces.Box(0, 1, (8,), np.float32)
    assert env.single_action_space == gymnasium.spaces.Box(-1, 1, (2,), np.float32)
    assert env.observation_space.shape == (5, 8) and env.action_space.shape == (5, 2)
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    obs, info = env.reset(seed=3)
    assert obs.dtype == np.float32 and obs.shape == (5, 8) and env.observation_space.contains(obs)
    obs, rewards, terminated, truncated, infos = env.step(env.action_space.sample())
    assert env.observation_space.contains(obs)
    assert rewards.dtype == np.float64 and rewards.shape == (5,)
    assert terminated.dtype == np.bool_ and truncated.dtype == np.bool_ and isinstance(infos, dict)


def test_single_car_env_passes_gymnasiums_checker():
    env = gymnasium.make(ENV_ID, track="oval")
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=1)
    assert obs.shape == (8,) and env.observation_space.contains(obs)
    with pytest.raises(ValueError):
        CarTrackEnv("oval", render_mode="human")


def test_make_vec_builds_the_array_env():
    envs = gymnasium.make_vec(ENV_ID, 4, vectorization_mode="vector_entry_point", track="oval")
    assert isinstance(envs, CarTrackVectorEnv) and envs.reset(seed=0)[0].shape == (4, 8)


def test_next_step_autoreset_matches_gymnasiums_sync_vector_env():
    """N cars stepped as arrays behave exactly like N single-car envs in Gymnasium's reference vector env:
    the step that ends an episode returns its final observation, the next one ignores the action and
    returns the first observation of the next episode with reward 0 and neither flag set."""
    config = settings(max_steps=120, stall_seconds=1.0)
    track = square_track(80)
    n = 6
    ours = CarTrackVectorEnv(n, [track], settings=config)
    reference = SyncVectorEnv([lambda: CarTrackEnv(track, settings=config) for _ in range(n)],
                              autoreset_mode=AutoresetMode.NEXT_STEP)
    a, _ = ours.reset(seed=0)
    b, _ = reference.reset(seed=0)
    np.testing.assert_array_equal(a, b)
    rng = np.random.default_rng(0)
    throttles = np.array([0.7, 0.5, 0.0, 1.0, 0.3, -0.2])  # crashes, laps, stalls, time limits
    ended_seen, reset_steps = set(), 0
    previous_end = np.zeros(n, dtype=bool)
    for _ in range(400):
        actions = lane_keeper(a)
        actions[:, 1] = throttles
        actions[:, 0] += rng.normal(0, 0.3, n).astype(np.float32)
        a, ra, ta, ua, _ = ours.step(actions)
        b, rb, tb, ub, _ = reference.step(actions)
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)  # rays: a 1-ulp matrix product difference at most
        np.testing.assert_array_equal(ra, rb)
        np.testing.assert_array_equal(ta, tb)
        np.testing.assert_array_equal(ua, ub)
        assert np.all(ra[previous_end] == 0) and not np.any((ta | ua)[previous_end])
        reset_steps += int(previous_end.sum())
        previous_end = ta | ua
        ended_seen |= {s for f in ours.fleets for s in f.status[previous_end[:f.n]].tolist()}
    assert reset_steps > 5
    assert {CRASHED, STALLED} <= ended_seen


def test_termination_versus_truncation():
    config = settings(max_steps=50, stall_seconds=1.0, max_laps=1)
    track = circle_track()
    env = CarTrackVectorEnv(4, [track], settings=config, reward=RewardConfig(crash_penalty=7.0))
    obs, _ = env.reset(seed=0)
    # car 0 steers into the wall, car 1 stands still, car 2 drives well but slowly (time limit)
    ended = np.zeros(4, dtype=bool)
    result: dict[int, tuple] = {}
    for step in range(60):
        actions = lane_keeper(obs, throttle=0.3)
        actions[0] = (1.0, 1.0)
        actions[1] = (0.0, -1.0)
        obs, rewards, terminated, truncated, infos = env.step(actions)
        for k in np.flatnonzero((terminated | truncated) & ~ended):
            result[int(k)] = (bool(terminated[k]), bool(truncated[k]), float(rewards[k]),
                              int(infos["episode"]["status"][k]), step + 1)
        ended |= terminated | truncated
    crash, stall, timeout = result[0], result[1], result[2]
    assert crash[:2] == (True, False) and crash[3] == CRASHED and crash[2] < -6.0
    assert stall[:2] == (False, True) and stall[3] == STALLED and stall[4] == 30  # 1 s of 1/30 s steps
    assert timeout[:2] == (False, True) and timeout[3] == TIMEOUT and timeout[4] == 50


def test_finishing_terminates_and_rewards_add_up_to_progress():
    """Over an episode the rewards sum to reward_per_lap x best progress (what the GA's fitness counts)."""
    track = circle_track()
    env = CarTrackEnv(track, settings=settings(max_laps=2), reward_per_lap=50.0)
    obs, _ = env.reset(seed=0)
    total, steps = 0.0, 0
    while True:
        obs, reward, terminated, truncated, info = env.step(lane_keeper(obs[None])[0])
        assert reward >= 0
        total, steps = total + reward, steps + 1
        if terminated or truncated:
            break
    assert terminated and not truncated and info["status"] == "finished" and info["laps"] == 2
    assert env.fleet.status[0] == FINISHED
    assert total == pytest.approx(50.0 * env.fleet.best_progress[0], rel=1e-9)
    assert total == pytest.approx(100.0, abs=2.0)


def test_driving_backwards_never_pays():
    """A car that turns round earns nothing while it drives against the track (best progress does not grow),
    and is stopped as driving backwards (truncated)."""
    env = CarTrackEnv(circle_track(radius=250, width=160), settings=settings(backward_tolerance=150.0))
    fleet = env.fleet
    obs, _ = env.reset(seed=0)
    total, backwards = 0.0, []
    for _ in range(30):  # up to speed along the road
        obs, reward, *_ = env.step(lane_keeper(obs[None], 0.5)[0])
        total += reward
    while fleet.speed[0] > 60:  # slow down
        obs, reward, *_ = env.step(lane_keeper(obs[None], -0.3)[0])
        total += reward
    heading = float(fleet.heading[0])
    while np.cos(fleet.heading[0] - heading) > -0.9:  # a U-turn at full lock
        obs, reward, *_ = env.step(np.array([-1.0, 0.3], np.float32))
        total += reward
    gained = fleet.best_progress[0]
    for _ in range(300):  # then on, keeping in lane, against the driving direction
        obs, reward, terminated, truncated, _ = env.step(lane_keeper(obs[None], 0.4)[0])
        backwards.append(reward)
        if terminated or truncated:
            break
    assert fleet.status[0] == BACKWARDS and truncated and not terminated
    assert sum(backwards) == 0.0 and fleet.best_progress[0] == gained
    assert fleet.progress[0] < gained - 0.05
    assert total == pytest.approx(100.0 * gained, rel=1e-9)


def test_seeding_makes_random_starts_reproducible():
    def first_obs(seed):
        env = CarTrackVectorEnv(8, ["oval"], reward=RewardConfig(random_start=True))
        obs, _ = env.reset(seed=seed)
        for _ in range(3):
            obs, *_ = env.step(np.tile([0.0, 0.5], (8, 1)))
        return obs, env.fleets[0].x.copy()

    a, xa = first_obs(5)
    b, xb = first_obs(5)
    c, xc = first_obs(6)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(xa, xb)
    assert not np.array_equal(xa, xc)
    assert len(np.unique(np.round(xa))) > 4  # the cars start at different places


def test_several_tracks_in_blocks_and_swapped_by_reset():
    env = CarTrackVectorEnv(6, ["oval", "kidney", "sbends"])
    assert [b.stop - b.start for b in env.blocks] == [2, 2, 2]
    obs, _ = env.reset(seed=0)
    for fleet, block in zip(env.fleets, env.blocks):
        assert np.allclose(fleet.x, fleet.track.start_position[0])
    env.step(np.tile([0.0, 1.0], (6, 1)))
    obs, _ = env.reset(options={"tracks": ["city"]})
    assert len(env.fleets) == 1 and env.fleets[0].track.name == "City" and env.fleets[0].n == 6


def test_state_round_trip_continues_identically():
    env = CarTrackVectorEnv(5, ["oval"], reward=RewardConfig(random_start=True))
    obs, _ = env.reset(seed=1)
    rng = np.random.default_rng(0)
    for _ in range(30):
        obs, *_ = env.step(lane_keeper(obs) + rng.normal(0, 0.5, (5, 2)).astype(np.float32))
    arrays, state = env.get_state()
    copy = CarTrackVectorEnv(5, ["oval"], reward=RewardConfig(random_start=True))
    copy.reset(seed=99)
    copy.set_state(arrays, state)
    np.testing.assert_array_equal(copy.observations, obs)
    for _ in range(80):
        actions = lane_keeper(obs) + rng.normal(0, 0.5, (5, 2)).astype(np.float32)
        first = env.step(actions)
        second = copy.step(actions)
        for x, y in zip(first[:4], second[:4]):
            np.testing.assert_array_equal(x, y)
        obs = first[0]


def test_bad_actions_are_refused():
    env = CarTrackVectorEnv(3, ["oval"])
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"\(3, 2\)"):
        env.step(np.zeros((2, 2)))
    with pytest.raises(ValueError):
        CarTrackVectorEnv(0, ["oval"])
