"""The track as a Gymnasium environment: N cars stepped as arrays (a VectorEnv), and one car (an Env).

    import gymnasium as gym
    import cars.sim.env                                       # registers the ids below
    env = gym.make("NeuroSandbox/CarTrack-v0", track="sbends")
    obs, info = env.reset(seed=0)                             # obs: 7 ray distances + speed, float32 in [0, 1]
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())  # [steering, throttle]

    envs = CarTrackVectorEnv(64, tracks=["sbends"])         # or gym.make_vec("NeuroSandbox/CarTrack-v0", 64)
    obs, infos = envs.reset(seed=0)                           # (64, 8)
    obs, rewards, terminations, truncations, infos = envs.step(actions)   # actions (64, 2)

Observation: Box(0, 1, (R + 1,), float32), the R ray distances (1 = no wall within the ray's length)
and speed / max_speed: exactly what the genetic algorithm's brains read. Action: Box(-1, 1, (2,),
float32), steering and throttle (clipped to [-1, 1]; a negative throttle brakes).

Reward (cars.sim.fleet): each step, the car's gain in *best* progress along the centerline, in laps,
times reward_per_lap; crash_penalty is subtracted on the step the car touches a wall. Over an episode
the rewards add up to reward_per_lap x the best progress, the number the GA's fitness counts, so
driving backwards, rocking over the start line or cutting across never pays.
Episodes: terminated on a crash or after max_laps laps; truncated on the time limit
(simulation.max_steps), a stall or driving backwards (the simulation's stop rules).

The vector env autoresets in Gymnasium's default NEXT_STEP mode: the step that ends a car's episode
returns its final observation; the next step ignores that car's action, respawns it and returns its
first observation with reward 0 and neither flag set. With several tracks, car k drives track
k * T // N (contiguous blocks); `reset(options={"tracks": [...]})` swaps the tracks.
Every random choice (random starts only) comes from the env's `np_random`, seeded by reset(seed=...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from cars.sim.fleet import Fleet, RewardConfig
from cars.sim.settings import CarConfig, FitnessConfig, SensorConfig, SimSettings, SimulationConfig
from cars.sim.track import Track, load_track

ENV_ID = "NeuroSandbox/CarTrack-v0"


@dataclass(frozen=True)
class DefaultSettings:
    """The simulation's default sections, for an environment made without a run's config."""

    car: CarConfig = field(default_factory=CarConfig)
    sensors: SensorConfig = field(default_factory=SensorConfig)
    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    fitness: FitnessConfig = field(default_factory=FitnessConfig)


def as_track(track: Track | str) -> Track:
    return track if isinstance(track, Track) else load_track(track)


def observation_space(settings: SimSettings) -> spaces.Box:
    return spaces.Box(0.0, 1.0, shape=(settings.sensors.rays + 1,), dtype=np.float32)


ACTION_SPACE = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)


class CarTrackVectorEnv(VectorEnv):
    """N cars on one track (or a list of tracks), stepped together; Gymnasium 1.x VectorEnv, NEXT_STEP
    autoreset. `fleets` are the per-track groups of cars (Simulation-like, for drawing)."""

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(self, num_envs: int, tracks: Sequence[Track | str] = ("sbends",), *,
                 settings: SimSettings | None = None, reward: RewardConfig | None = None,
                 render_mode: str | None = None) -> None:
        if render_mode is not None:
            raise ValueError("the car environments draw nothing themselves (watch runs with `cars train`)")
        self.num_envs = int(num_envs)
        if self.num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.settings = settings if settings is not None else DefaultSettings()
        self.reward_config = reward if reward is not None else RewardConfig()
        self.single_observation_space = observation_space(self.settings)
        self.single_action_space = ACTION_SPACE
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.render_mode = None
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._obs = np.zeros((self.num_envs, self.settings.sensors.rays + 1), dtype=np.float32)
        self.set_tracks(tracks)

    def set_tracks(self, tracks: Sequence[Track | str]) -> None:
        """Drive these tracks from now on (every car respawns): car k on track k * T // N."""
        tracks = [as_track(t) for t in tracks]
        if not tracks or len(tracks) > self.num_envs:
            raise ValueError(f"need between 1 and num_envs={self.num_envs} tracks, got {len(tracks)}")
        edges = [k * self.num_envs // len(tracks) for k in range(len(tracks) + 1)]
        self.tracks = tracks
        self.blocks = [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]
        self.fleets = [Fleet(t, self.settings, self.reward_config, b.stop - b.start)
                       for t, b in zip(tracks, self.blocks)]
        self._autoreset[:] = False

    # ---- the Gymnasium API ----------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """Respawn every car (or those in options["reset_mask"]); options["tracks"] swaps the tracks."""
        if seed is not None:
            self._np_random, self._np_random_seed = gymnasium.utils.seeding.np_random(seed)
        options = dict(options or {})
        if "tracks" in options:
            self.set_tracks(options.pop("tracks"))
        mask = options.pop("reset_mask", None)
        mask = np.ones(self.num_envs, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        if mask.shape != (self.num_envs,):
            raise ValueError(f"options['reset_mask'] must have shape ({self.num_envs},), got {mask.shape}")
        for fleet, block in zip(self.fleets, self.blocks):
            if mask[block].any():
                fleet.reset(mask[block], self.np_random)
            fleet.observe(self._obs[block])
        self._autoreset[mask] = False
        return self._obs.copy(), {}

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        actions = np.asarray(actions, dtype=np.float32)
        if actions.shape != (self.num_envs, 2):
            raise ValueError(f"actions must have shape ({self.num_envs}, 2), got {actions.shape}")
        n = self.num_envs
        if len(self.fleets) == 1:  # one track: the fleet's arrays are the env's (no block copies)
            fleet = self.fleets[0]
            respawn = self._autoreset
            rewards, terminated, truncated = fleet.step(actions, respawn if respawn.any() else None, self.np_random)
            fleet.observe(self._obs)
            return self._outcome(rewards, terminated, truncated, fleet.lapped)
        rewards = np.empty(n, dtype=np.float64)
        terminated, truncated, lapped = np.empty(n, dtype=bool), np.empty(n, dtype=bool), np.empty(n, dtype=bool)
        for fleet, block in zip(self.fleets, self.blocks):
            respawn = self._autoreset[block]
            rewards[block], terminated[block], truncated[block] = fleet.step(
                actions[block], respawn if respawn.any() else None, self.np_random)
            lapped[block] = fleet.lapped
            fleet.observe(self._obs[block])
        return self._outcome(rewards, terminated, truncated, lapped)

    def _outcome(self, rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray, lapped: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """step()'s return value; infos carry "lap" (a car completed a lap) and "episode" (return r, length l,
        laps, progress, fitness, status of the episodes that ended), each with its "_key" mask."""
        ended = terminated | truncated
        infos: dict[str, Any] = {}
        if lapped.any():
            infos["lap"], infos["_lap"] = lapped.copy(), lapped.copy()
        if ended.any():
            infos["episode"] = self._episode_info(ended)
            infos["_episode"] = ended.copy()
        self._autoreset = ended
        return self._obs.copy(), rewards, terminated, truncated, infos

    def _episode_info(self, ended: np.ndarray) -> dict[str, np.ndarray]:
        """Return r, length l, completed laps and best progress (laps) of each car (valid where `ended`)."""
        def gather(name: str) -> np.ndarray:
            return np.concatenate([np.asarray(getattr(f, name)) for f in self.fleets])

        return {"r": gather("episode_return"), "l": gather("episode_steps"), "laps": gather("laps"),
                "progress": gather("best_progress"), "fitness": np.concatenate([f.fitness() for f in self.fleets]),
                "status": np.concatenate([f.status for f in self.fleets])}

    def close_extras(self, **kwargs: Any) -> None:
        """Nothing to release: no windows, no processes."""

    # ---- state for checkpoints -------------------------------------------------------------------------

    def get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(arrays, JSON-able state) that continue the env exactly (with the same tracks)."""
        arrays = {f"fleet{k}.{name}": a for k, fleet in enumerate(self.fleets) for name, a in fleet.get_state().items()}
        arrays["autoreset"] = self._autoreset.copy()
        return arrays, {"rng": self.np_random.bit_generator.state}

    def set_state(self, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> None:
        for k, fleet in enumerate(self.fleets):
            prefix = f"fleet{k}."
            fleet.set_state({name[len(prefix):]: a for name, a in arrays.items() if name.startswith(prefix)})
        self._autoreset[...] = arrays["autoreset"]
        self.np_random.bit_generator.state = state["rng"]
        for fleet, block in zip(self.fleets, self.blocks):
            fleet.observe(self._obs[block])

    @property
    def autoresetting(self) -> np.ndarray:
        """(N,) bool: the cars whose next step only respawns them (their episode ended at the last step)."""
        return self._autoreset

    @property
    def observations(self) -> np.ndarray:
        """The latest observations (N, R + 1) (a copy)."""
        return self._obs.copy()


class CarTrackEnv(gymnasium.Env):
    """One car on one track, the Gymnasium Env registered as "NeuroSandbox/CarTrack-v0".

    track: a shipped name or a JSON path (or a Track); settings: the simulation's sections (default:
    the shipped defaults); reward: RewardConfig (or its fields as keyword arguments)."""

    metadata = {"render_modes": []}

    def __init__(self, track: Track | str = "sbends", *, settings: SimSettings | None = None,
                 reward: RewardConfig | None = None, render_mode: str | None = None, **reward_fields: Any) -> None:
        if render_mode is not None:
            raise ValueError("the car environments draw nothing themselves (watch runs with `cars train`)")
        if reward is None:
            reward = RewardConfig(**reward_fields)
        elif reward_fields:
            raise TypeError("give either reward= or its fields, not both")
        self.settings = settings if settings is not None else DefaultSettings()
        self.track = as_track(track)
        self.fleet = Fleet(self.track, self.settings, reward, 1)
        self.observation_space = observation_space(self.settings)
        self.action_space = ACTION_SPACE
        self._obs = np.zeros((1, self.settings.sensors.rays + 1), dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.fleet.reset(None, self.np_random)
        return self.fleet.observe(self._obs)[0].copy(), {"laps": 0, "progress": 0.0}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        action = np.asarray(action, dtype=np.float32).reshape(1, 2)
        reward, terminated, truncated = self.fleet.step(action)
        info = {"laps": int(self.fleet.laps[0]), "progress": float(self.fleet.best_progress[0]),
                "status": self.fleet.status_names()[0]}
        return (self.fleet.observe(self._obs)[0].copy(), float(reward[0]), bool(terminated[0]), bool(truncated[0]),
                info)


def make_vector_env(num_envs: int, track: Track | str = "sbends", **kwargs: Any) -> CarTrackVectorEnv:
    """The vector entry point of ENV_ID: gymnasium.make_vec(ENV_ID, num_envs, vectorization_mode="vector_entry_point")."""
    return CarTrackVectorEnv(num_envs, [track], **kwargs)


if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="cars.sim.env:CarTrackEnv",
                       vector_entry_point="cars.sim.env:make_vector_env")
