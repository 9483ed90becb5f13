"""Proximal Policy Optimization (Schulman et al. 2017) on the engine, readable top to bottom.

One update: the N cars of the vector environment drive rollout_steps steps with the current policy
(cars.learn.policy_run collects them); advantages come from GAE (cars.learn.algorithms.rollout.gae); then, for
`epochs` passes over the rollout in `minibatches` random minibatches, one Adam step on

    L = L_clip + c_v * L_value - c_e * H

    r_b      = exp(log pi(a_b | x_b) - log pi_old(a_b | x_b))                  probability ratio
    L_clip   = -1/B sum_b min(r_b A_b, clip(r_b, 1 - eps, 1 + eps) A_b)        clipped surrogate
    L_value  = 1/(2B) sum_b (V(x_b) - target_b)^2
    H        = sum_j (log sigma_j + (1 + log 2 pi) / 2)                        entropy of the policy

with A standardised per minibatch. The gradients with respect to the networks' outputs are written out
here, and the engine's backward passes turn them into every parameter's gradient:

    dL/dlog pi_b = -A_b r_b / B   where r_b A_b is the smaller term (it is unless the ratio was clipped
                                  in the direction the advantage pushes), else 0
    dL/dmu_bj    = dL/dlog pi_b * (a_bj - mu_bj) / sigma_j^2                       -> mean_net.backward
    dL/dlog sigma_j = sum_b dL/dlog pi_b * ((a_bj - mu_bj)^2 / sigma_j^2 - 1) - c_e   (a parameter of ours)
    dL/dV_b      = c_v (V_b - target_b) / B                                      -> value_net.backward

then all gradients together are clipped to norm max_grad_norm (tests/test_cars_ppo.py checks these
gradients against central differences).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cars.learn.algorithms.policy import ActorCritic, clip_grad_norm, gaussian_entropy, log_prob
from cars.learn.algorithms.rollout import Rollout, gae


def ppo_loss(agent: ActorCritic, batch: dict[str, np.ndarray], clip_range: float, value_coef: float,
             entropy_coef: float) -> dict[str, float]:
    """Forward the minibatch, compute L, and add dL/dtheta to every parameter's .grad (no optimiser step).

    batch: inputs (B, D), actions (B, 2), log_probs (B,) of the policy that drove, advantages (B,),
    targets (B,) for the value network. Returns the loss and its parts."""
    x, a, adv = batch["inputs"], batch["actions"], batch["advantages"]
    b = len(x)
    log_std = agent.log_std.data
    mean = agent.mean_net.forward(x)
    z = (a - mean) * np.exp(-log_std)                            # (B, 2) standardised action noise
    log_ratio = log_prob(a, mean, log_std) - batch["log_probs"]
    ratio = np.exp(log_ratio)
    clipped = np.clip(ratio, 1 - clip_range, 1 + clip_range)
    unclipped_is_min = ratio * adv <= clipped * adv
    policy_loss = -np.mean(np.minimum(ratio * adv, clipped * adv))
    value = agent.value_net.forward(x)[:, 0]
    error = value - batch["targets"]
    value_loss = 0.5 * np.mean(error ** 2)
    entropy = gaussian_entropy(log_std)

    d_log_prob = np.where(unclipped_is_min, -adv * ratio / b, 0.0)  # (B,)
    d_mean = (d_log_prob[:, None] * z * np.exp(-log_std)).astype(mean.dtype)
    agent.mean_net.backward(d_mean, input_grad=False)
    agent.log_std.grad += (np.sum(d_log_prob[:, None] * (z * z - 1), axis=0) - entropy_coef).astype(np.float32)
    d_value = (value_coef * error / b)[:, None].astype(value.dtype)
    agent.value_net.backward(d_value, input_grad=False)
    return {"loss": float(policy_loss + value_coef * value_loss - entropy_coef * entropy),
            "policy_loss": float(policy_loss), "value_loss": float(value_loss), "entropy": entropy,
            "approx_kl": float(np.mean((ratio - 1) - log_ratio)),
            "clip_fraction": float(np.mean(np.abs(ratio - 1) > clip_range))}


def standardise(values: np.ndarray) -> np.ndarray:
    return (values - values.mean()) / (values.std() + 1e-8)


class PPO:
    """The PPO learner: update(rollout, config) trains the agent on one rollout and returns statistics."""

    name = "ppo"
    episodic = False  # rollouts are rollout_steps long; episodes carry on across updates
    stats = ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "grad_norm")

    def __init__(self, agent: ActorCritic, rng: np.random.Generator) -> None:
        self.agent, self.rng = agent, rng

    @staticmethod
    def rollout_steps(config: Any) -> int:
        return config.ppo.rollout_steps

    def update(self, rollout: Rollout, config: Any) -> dict[str, float]:
        p, agent = config.ppo, self.agent
        advantages, targets = gae(rollout, p.gamma, p.gae_lambda)
        valid = rollout.valid[:rollout.t]
        data = {"inputs": rollout.flat("inputs"), "actions": rollout.flat("actions"),
                "log_probs": rollout.flat("log_probs"), "advantages": advantages[valid], "targets": targets[valid]}
        count = len(data["advantages"])
        if not count:
            return {k: 0.0 for k in self.stats}
        agent.optimizer.lr = p.learning_rate
        sums: dict[str, float] = {}
        steps = 0
        for _ in range(p.epochs):
            order = self.rng.permutation(count)
            for part in np.array_split(order, min(p.minibatches, count)):
                batch = {k: v[part] for k, v in data.items()}
                if p.normalize_advantages and len(part) > 1:
                    batch["advantages"] = standardise(batch["advantages"])
                agent.optimizer.zero_grad()
                parts = ppo_loss(agent, batch, p.clip_range, p.value_coef, p.entropy_coef)
                parts["grad_norm"] = clip_grad_norm(agent.params, p.max_grad_norm)
                agent.optimizer.step()
                for k in self.stats:
                    sums[k] = sums.get(k, 0.0) + parts[k]
                steps += 1
        return {k: v / max(steps, 1) for k, v in sums.items()}
