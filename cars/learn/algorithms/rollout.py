"""A rollout: what N cars saw, did and got for T steps of a vector environment, and the advantages computed
from it (generalised advantage estimation for PPO, Monte Carlo returns for REINFORCE).

Arrays are (T, N): time step t, car k. With Gymnasium's NEXT_STEP autoreset the step after a car's
episode ended only respawns it (its action is ignored), so that transition is not valid: `valid[t, k]`
is False there and the learners never train on it. values has T + 1 rows: values[T] is the value of
the observations after the last step, so every transition t has V(x_{t+1}) = values[t + 1] (for a car
whose episode ended at t, x_{t+1} is its final observation).
"""

from __future__ import annotations

import numpy as np


class Rollout:
    """Preallocated storage for T steps of N cars with D-dimensional (normalised) observations."""

    def __init__(self, steps: int, cars: int, inputs: int) -> None:
        self.steps, self.cars = int(steps), int(cars)
        t, n = self.steps, self.cars
        self.inputs = np.zeros((t, n, inputs), dtype=np.float32)  # what the networks read
        self.actions = np.zeros((t, n, 2), dtype=np.float32)
        self.log_probs = np.zeros((t, n), dtype=np.float32)
        self.values = np.zeros((t + 1, n), dtype=np.float32)
        self.rewards = np.zeros((t, n), dtype=np.float64)
        self.terminated = np.zeros((t, n), dtype=bool)
        self.ended = np.zeros((t, n), dtype=bool)  # terminated or truncated
        self.valid = np.zeros((t, n), dtype=bool)
        self.t = 0

    @property
    def full(self) -> bool:
        return self.t >= self.steps

    def add(self, inputs: np.ndarray, actions: np.ndarray, log_probs: np.ndarray, values: np.ndarray,
            rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray, valid: np.ndarray) -> None:
        t = self.t
        self.inputs[t], self.actions[t], self.log_probs[t], self.values[t] = inputs, actions, log_probs, values
        self.rewards[t], self.terminated[t], self.valid[t] = rewards, terminated, valid
        np.logical_or(terminated, truncated, out=self.ended[t])
        self.t += 1

    def finish(self, last_values: np.ndarray) -> None:
        """Record V of the observations after the last step (the bootstrap of unfinished episodes)."""
        self.values[self.t] = last_values

    def flat(self, name: str) -> np.ndarray:
        """Array `name` of the valid transitions of the first t steps, flattened to (M, ...)."""
        return getattr(self, name)[:self.t][self.valid[:self.t]]


def gae(rollout: Rollout, gamma: float, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Generalised advantage estimates and value targets (T, N) (Schulman et al. 2016):

        delta_t = r_t + gamma * (1 - terminated_t) * V(x_{t+1}) - V(x_t)
        A_t     = delta_t + gamma * lam * (1 - ended_t) * A_{t+1}
        target_t = A_t + V(x_t)

    A truncated episode (time limit, stall) still bootstraps from the value of its final observation; a
    terminated one (crash, finished) does not. The loop runs over time steps, every car at once.
    """
    t_max = rollout.t
    values, rewards = rollout.values.astype(np.float64), rollout.rewards
    advantages = np.zeros((t_max, rollout.cars))
    following = np.zeros(rollout.cars)
    for t in range(t_max - 1, -1, -1):
        delta = rewards[t] + gamma * (~rollout.terminated[t]) * values[t + 1] - values[t]
        following = delta + gamma * lam * (~rollout.ended[t]) * following
        advantages[t] = following
    return advantages, advantages + values[:t_max]


def discounted_returns(rollout: Rollout, gamma: float) -> np.ndarray:
    """Monte Carlo returns G_t = r_t + gamma * (1 - ended_t) * G_{t+1} (T, N) of whole episodes."""
    returns = np.zeros((rollout.t, rollout.cars))
    following = np.zeros(rollout.cars)
    for t in range(rollout.t - 1, -1, -1):
        following = rollout.rewards[t] + gamma * (~rollout.ended[t]) * following
        returns[t] = following
    return returns
