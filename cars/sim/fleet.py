"""A fleet: m cars on one track, each living its own episodes, stepped together as arrays.

This is the core of the reinforcement-learning environments (cars.sim.env). Unlike a Simulation (one
drive per generation, stopped cars leave the batch), every car of a fleet is always in the batch: when
its episode ends it is respawned and starts the next one, while the others drive on. Each step, for
all m cars at once (no Python loop over cars):

  1. physics moves every car with the controls it is given (cars.sim.physics);
  2. the centre and the four body corners are located on the road, and progress, laps, crashes,
     finishing and driving backwards advance exactly as in a Simulation (cars.sim.progress.Progress);
  3. each car's reward is its gain in *best* progress along the centerline this step, in laps times
     reward_per_lap, minus crash_penalty on the step it touches a wall;
  4. the episode rules: a crash or max_laps laps end it (terminated); the time limit (max_steps steps),
     a stall (best progress grew by less than stall_distance in stall_seconds, measured from the
     car's own episode start) or driving backwards end it (truncated);
  5. cars asked to respawn are put back at the start (or a random point of the centerline) with a
     fresh progress record, and every car casts its rays (cars.sim.sensors).

Why best progress: the sum of a car's rewards over an episode is its best progress (minus the crash
penalty), the very number the genetic algorithm's fitness counts, so driving backwards, rocking over
the start line or cutting a corner (leaving the road is a crash) can never pay.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cars.sim.physics import CarPhysics
from cars.sim.progress import BACKWARDS, CRASHED, FINISHED, RUNNING, STALLED, STATUS_NAMES, TIMEOUT, Progress
from cars.sim.settings import SimSettings, setting
from cars.sim.simulation import course_for
from cars.sim.track import Track

NEVER = 1 << 62  # stall_steps handed to Progress: the fleet applies the stall rule per car itself


@dataclass(frozen=True)
class RewardConfig:
    """The environment's reward and starts (the reinforcement learners' sections inherit these settings)."""

    reward_per_lap: float = setting(100.0, "reward for one lap of new best progress along the centerline (a "
                                           "step's reward is its gain in best progress, in laps, times this)",
                                    low=0, high=1e6, low_open=True)
    crash_penalty: float = setting(10.0, "subtracted from the reward on the step a car touches a wall (its "
                                         "episode ends)", low=0, high=1e6)
    random_start: bool = setting(False, "episodes start at a random vertex of the centerline, facing along it, "
                                        "instead of on the start line")


class Fleet:
    """m cars on `track`; car arrays are (m,) and the fleet is Simulation-like for drawing (x, y, heading,
    speed, alive, status, progress, laps, sensors, controls, fitness(), leader(), ...).

    step(controls, respawn) -> (reward (m,) float64, terminated (m,) bool, truncated (m,) bool).
    Also per car: episode_steps, episode_return; the lap events of the last step in `lapped` (m,) bool.
    """

    def __init__(self, track: Track, settings: SimSettings, reward: RewardConfig, count: int) -> None:
        self.track, self.config, self.reward = track, settings, reward
        sim = settings.simulation
        self.n = m = int(count)
        self.dt, self.max_steps, self.max_laps = sim.dt, int(sim.max_steps), int(sim.max_laps)
        self.stall_steps = max(1, int(round(sim.stall_seconds / sim.dt)))
        self.stall_distance = float(sim.stall_distance)
        self.physics = CarPhysics(settings.car, sim.dt)
        self.road, self.caster = course_for(track, settings)
        self.ray_angles = self.caster.angles
        self.genome_index = np.arange(m)
        self._lap_reward = reward.reward_per_lap / track.length  # reward per world unit of best progress
        self._inv_max_speed = np.float32(1.0 / settings.car.max_speed)
        self.state = np.zeros((4, m), dtype=np.float32)  # x, y, heading, speed
        self.progress_record = Progress(self.road, m, max_laps=self.max_laps, stall_steps=NEVER,
                                        stall_distance=sim.stall_distance,
                                        backward_tolerance=sim.backward_tolerance)
        self.clock = 0  # steps taken by the fleet (Progress counts lap times on this clock)
        self.episode_steps = np.zeros(m, dtype=np.int64)
        self.episode_return = np.zeros(m, dtype=np.float64)
        self.anchor = np.zeros(m, dtype=np.float64)  # best progress at the car's last stall check
        self.status = np.zeros(m, dtype=np.int8)
        self.controls = np.zeros((m, 2), dtype=np.float32)
        self._rays = np.ones((len(self.ray_angles), m), dtype=np.float32)  # (R, m) as the caster writes them
        self.lapped = np.zeros(m, dtype=bool)
        self._respawn(np.ones(m, dtype=bool), None)
        self._cast()

    # ---- stepping -------------------------------------------------------------------------------

    def reset(self, mask: np.ndarray | None = None, rng: np.random.Generator | None = None) -> None:
        """Respawn the cars in `mask` (all by default) and cast their rays."""
        self._respawn(np.ones(self.n, dtype=bool) if mask is None else np.asarray(mask, dtype=bool), rng)
        self._cast()

    def step(self, controls: np.ndarray, respawn: np.ndarray | None = None,
             rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Advance every car one time step with controls (m, 2) in [-1, 1] (steering, throttle); then
        respawn the cars in `respawn` (their step's results are discarded: reward 0, not ended)."""
        self.clock += 1
        np.maximum(np.minimum(controls, 1.0, out=self.controls), -1.0, out=self.controls)
        cs, record = self.state, self.progress_record
        cos_sin = self.physics.advance(cs[0], cs[1], cs[2], cs[3], self.controls[:, 0], self.controls[:, 1])
        best_before, laps_before = record.best.copy(), record.laps.copy()
        ended = record.advance(self.physics.body(cs[:2], cos_sin), self.clock)
        record.lap_events.clear()  # laps are read from the counters below
        np.greater(record.laps, laps_before, out=self.lapped)
        self.episode_steps += 1
        reward = (record.best - best_before) * self._lap_reward
        status = np.zeros(self.n, dtype=np.int8)
        if ended is not None:
            stop, reason = ended
            status[stop] = reason[stop]
        check = self.episode_steps % self.stall_steps == 0
        if np.logical_or.reduce(check):  # each car's stall rule, every stall_steps steps of its own episode
            stalled = check & (record.best < self.anchor + self.stall_distance) & (status == RUNNING)
            status[stalled] = STALLED
            np.copyto(self.anchor, record.best, where=check)
        timeout = self.episode_steps >= self.max_steps
        if np.logical_or.reduce(timeout):
            status[timeout & (status == RUNNING)] = TIMEOUT
        crashed = status == CRASHED
        reward -= self.reward.crash_penalty * crashed
        terminated = crashed | (status == FINISHED)
        truncated = (status != RUNNING) & ~terminated  # stalled, backwards or out of time
        self.status = status
        if respawn is not None and np.logical_or.reduce(respawn):
            reward[respawn] = 0.0
            terminated[respawn] = truncated[respawn] = self.lapped[respawn] = False
            self._respawn(respawn, rng)
            cos_sin[:, respawn] = np.cos(cs[2, respawn]), np.sin(cs[2, respawn])
        self.episode_return += reward
        self._cast(cos_sin)
        return reward, terminated, truncated

    def _respawn(self, mask: np.ndarray, rng: np.random.Generator | None) -> None:
        """Put the cars in `mask` at their start with speed 0 and a fresh episode (rays not cast)."""
        count = int(np.count_nonzero(mask))
        if not count:
            return
        track, record = self.track, self.progress_record
        if self.reward.random_start and rng is not None:  # (a fleet is built on the start line)
            vertex = rng.integers(0, len(track.centerline), size=count)
            position = track.centerline[vertex].T
            heading = np.arctan2(track.directions[vertex, 1], track.directions[vertex, 0])
            arc = track.arc[vertex]
        else:
            vertex, arc = 0, 0.0
            position, heading = np.asarray(track.start_position)[:, None], track.start_heading
        self.state[0, mask], self.state[1, mask] = position
        self.state[2, mask], self.state[3, mask] = heading, 0.0
        record.f[:, mask] = np.array([[0.0], [0.0], [0.0], [0.0], [track.length]])
        record.f[0, mask] = arc  # s: the arc position within the lap
        record.i[0, mask] = vertex  # the quad of the centre
        record.i[1:4, mask] = np.array([[0], [self.clock], [0]])  # laps, last lap step, best lap
        self.episode_steps[mask] = 0
        self.episode_return[mask] = 0.0
        self.anchor[mask] = 0.0
        self.status[mask] = RUNNING
        self.controls[mask] = 0.0

    def _cast(self, cos_sin: np.ndarray | None = None) -> None:
        """Every car's rays from its current pose (cos_sin (2, m): the headings' cosines and sines, if known)."""
        if cos_sin is None:
            cos_sin = np.stack([np.cos(self.state[2]), np.sin(self.state[2])])
        self._rays = self.caster.cast_from(self.state[:2], cos_sin, self.progress_record.seg, self._rays)

    def observe(self, out: np.ndarray) -> np.ndarray:
        """The observations (m, R + 1) float32 into `out`: ray distances and speed / max_speed, in [0, 1]."""
        r = len(self._rays)
        out[:, :r] = self._rays.T
        np.multiply(self.state[3], self._inv_max_speed, out=out[:, r])
        np.minimum(out[:, r], 1.0, out=out[:, r])
        return out

    # ---- state for checkpoints ----------------------------------------------------------------------

    def get_state(self) -> dict[str, np.ndarray]:
        """Every array that decides the fleet's future (for an exact resume)."""
        r = self.progress_record
        return {"state": self.state.copy(), "progress_f": r.f.copy(), "progress_i": r.i.copy(),
                "episode_steps": self.episode_steps.copy(), "episode_return": self.episode_return.copy(),
                "anchor": self.anchor.copy(), "status": self.status.copy(), "controls": self.controls.copy(),
                "clock": np.array(self.clock, dtype=np.int64)}

    def set_state(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore get_state()'s arrays (ValueError if they do not fit this fleet)."""
        for name, value in arrays.items():
            mine = self.get_state()[name]
            if np.shape(value) != mine.shape:
                raise ValueError(f"fleet {name} has shape {np.shape(value)}, expected {mine.shape}")
        r = self.progress_record
        self.state[...], r.f[...], r.i[...] = arrays["state"], arrays["progress_f"], arrays["progress_i"]
        self.episode_steps[...], self.episode_return[...] = arrays["episode_steps"], arrays["episode_return"]
        self.anchor[...], self.status[...], self.controls[...] = arrays["anchor"], arrays["status"], arrays["controls"]
        self.clock = int(arrays["clock"])
        self._cast()

    # ---- Simulation-like views (for drawing and inspecting) -----------------------------------------

    x = property(lambda self: self.state[0])
    y = property(lambda self: self.state[1])
    heading = property(lambda self: self.state[2])
    speed = property(lambda self: self.state[3])
    laps = property(lambda self: self.progress_record.laps)
    best_lap_steps = property(lambda self: self.progress_record.best_lap)
    alive = property(lambda self: self.status == RUNNING)
    crashed = property(lambda self: self.status == CRASHED)
    steps = property(lambda self: self.clock)
    sensors = property(lambda self: self._rays.T)  # (m, R) ray distances

    @property
    def progress(self) -> np.ndarray:
        """Signed progress of each car's episode, in laps."""
        return self.progress_record.units / self.track.length

    @property
    def best_progress(self) -> np.ndarray:
        return self.progress_record.best / self.track.length

    def status_names(self) -> list[str]:
        return [STATUS_NAMES[s] for s in self.status]

    def fitness(self) -> np.ndarray:
        """The genetic algorithm's fitness of each car's episode so far (see Simulation.fitness)."""
        best = np.minimum(self.best_progress, self.max_laps)
        lap = self.best_lap_steps
        bonus = np.where(lap > 0, 1.0 - lap / self.max_steps, 0.0)
        return best + self.config.fitness.lap_time_weight * np.clip(bonus, 0.0, 1.0)

    def leader(self) -> int:
        """The car with the best fitness, preferring cars still driving."""
        f = self.fitness()
        alive = self.alive
        if alive.any():
            f = np.where(alive, f, -np.inf)
        return int(np.argmax(f))
