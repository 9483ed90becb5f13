"""REINFORCE with a baseline (Williams 1992): the simplest policy gradient, on one screen.

Every update each of the N cars drives one whole episode with the current Gaussian policy
(cars.learn.algorithms.policy). From its rewards come the returns G_t = r_t + gamma * G_{t+1}, and one Adam step
on all the episodes' steps together (B of them) follows

    L = -1/B sum_b log pi(a_b | x_b) * A_b  +  c_v / (2B) sum_b (V(x_b) - G_b)^2  -  c_e * H,
    A_b = G_b - V(x_b)   (the value network is the baseline: it lowers the variance, not the mean)

Gradients with respect to the networks' outputs, passed to the engine's backward:

    dL/dmu_bj       = -A_b / B * (a_bj - mu_bj) / sigma_j^2
    dL/dlog sigma_j = -1/B sum_b A_b ((a_bj - mu_bj)^2 / sigma_j^2 - 1) - c_e
    dL/dV_b         = c_v (V_b - G_b) / B

PPO (cars.learn.algorithms.ppo) is this plus three ideas: advantages from GAE instead of whole returns, several
minibatch epochs per rollout, and the clipped ratio that keeps those epochs from moving too far.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cars.learn.algorithms.policy import ActorCritic, clip_grad_norm, gaussian_entropy
from cars.learn.algorithms.rollout import Rollout, discounted_returns


class REINFORCE:
    """The REINFORCE learner: update(rollout, config) takes one gradient step on N whole episodes."""

    name = "reinforce"
    episodic = True  # every update starts fresh episodes and waits until each car's episode has ended
    stats = ("policy_loss", "value_loss", "entropy", "grad_norm")

    def __init__(self, agent: ActorCritic, rng: np.random.Generator) -> None:
        self.agent, self.rng = agent, rng

    @staticmethod
    def rollout_steps(config: Any) -> int:
        return config.simulation.max_steps + 1

    def update(self, rollout: Rollout, config: Any) -> dict[str, float]:
        p, agent = config.reinforce, self.agent
        valid = rollout.valid[:rollout.t]
        x, a = rollout.flat("inputs"), rollout.flat("actions")
        returns = discounted_returns(rollout, p.gamma)[valid]
        b = len(x)
        agent.optimizer.lr = p.learning_rate
        agent.optimizer.zero_grad()
        log_std = agent.log_std.data
        mean = agent.mean_net.forward(x)
        value = agent.value_net.forward(x)[:, 0]
        advantage = returns - value
        if p.normalize_advantages and b > 1:
            advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
        z = (a - mean) * np.exp(-log_std)
        log_prob = -0.5 * np.sum(z * z, axis=1) - np.sum(log_std) - np.log(2 * np.pi)

        d_log_prob = -advantage / b
        agent.mean_net.backward((d_log_prob[:, None] * z * np.exp(-log_std)).astype(np.float32), input_grad=False)
        agent.log_std.grad += (np.sum(d_log_prob[:, None] * (z * z - 1), axis=0) - p.entropy_coef).astype(np.float32)
        agent.value_net.backward((p.value_coef * (value - returns) / b)[:, None].astype(np.float32), input_grad=False)
        grad_norm = clip_grad_norm(agent.params, p.max_grad_norm)
        agent.optimizer.step()
        return {"policy_loss": float(-np.mean(log_prob * advantage)), "value_loss": float(0.5 * np.mean((value - returns) ** 2)),
                "entropy": gaussian_entropy(log_std), "grad_norm": grad_norm}
