"""The agent of the policy-gradient learners: a Gaussian policy, a value network, a running observation
normaliser, and the deterministic driver (the champion) they make together.

Policy: a = mu(x_n) + sigma * eps, eps ~ N(0, I), where x_n is the normalised observation, mu the
[brain] MLP (engine layers, tanh output: the same network the genetic algorithm evolves) and
sigma = exp(log_std) a learned vector, the same for every state. Per action dimension j:

    log pi(a | x) = sum_j [ -(a_j - mu_j)^2 / (2 sigma_j^2) - log sigma_j - log(2 pi) / 2 ]
    entropy       = sum_j [ log sigma_j + (1 + log(2 pi)) / 2 ]           (independent of x)

Value: V(x_n), an MLP with the brain's hidden layers and one linear output.
Observation normaliser: x_n = (x - mean) / sqrt(var + eps), with the running mean and variance of
every observation seen so far (Chan et al.'s parallel update), so the networks see inputs of unit
scale whatever the track. The champion folds it into the first layer:
    x_n W + b = x (W / s) + (b - (mean / s) W),   s = sqrt(var + eps)   (one division per row of W)
so `cars drive` replays it as an ordinary brain on raw observations.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import engine
from engine import Adam, Dense, Parameter, Sequential
from engine.init import init_weight

from cars.learn.brain import ACTIVATION_LAYERS, build_brain

LOG_2PI = math.log(2 * math.pi)
NORM_EPS = 1e-2  # variance floor of the normaliser: a ray that never changed cannot blow up later


class RunningNorm:
    """Running mean and variance of (D,) observations; normalise() standardises a batch (B, D)."""

    def __init__(self, size: int) -> None:
        self.mean = np.zeros(size)
        self.var = np.ones(size)
        self.count = 0.0

    def update(self, x: np.ndarray) -> None:
        """Merge a batch (B, D) into the statistics (exact: mean and variance of everything seen)."""
        x = np.asarray(x, dtype=np.float64)
        n = len(x)
        if not n:
            return
        mean, var = x.mean(axis=0), x.var(axis=0)
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.var = (self.var * self.count + var * n + delta ** 2 * (self.count * n / total)) / total
        self.count = total

    def scale(self) -> np.ndarray:
        return np.sqrt(self.var + NORM_EPS)

    def normalise(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale()).astype(np.float32)

    def state(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean.copy(), "var": self.var.copy(), "count": np.array(self.count)}

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.mean, self.var = np.array(arrays["mean"], dtype=np.float64), np.array(arrays["var"], dtype=np.float64)
        self.count = float(arrays["count"])


def initialise(model: Sequential, init: str, rng: np.random.Generator, last_scale: float) -> Sequential:
    """Draw every Dense weight with the engine initialiser `init` from `rng` (biases 0); the last layer's
    weights are multiplied by `last_scale` (a small first policy: mean actions near 0 in every state)."""
    dense = [layer for layer in model if isinstance(layer, Dense)]
    for k, layer in enumerate(dense):
        w = init_weight(init, layer.weight.data.shape, layer.in_features, layer.out_features, rng)
        layer.weight.data[...] = w * (last_scale if k == len(dense) - 1 else 1.0)
        layer.bias.data[...] = 0.0
    return model


def value_network(brain: Any, inputs: int) -> Sequential:
    """Dense(inputs, h1), act, ..., Dense(h_last, 1): the brain's hidden layers with one linear output."""
    sizes = [inputs, *brain.hidden]
    layers: list[engine.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [Dense(n_in, n_out), ACTIVATION_LAYERS[brain.activation]()]
    return Sequential(*layers, Dense(sizes[-1], 1))


class ActorCritic:
    """Policy mean network, log-std, value network, observation normaliser and one Adam over all of them."""

    def __init__(self, config: Any, inputs: int, rng: np.random.Generator) -> None:
        section = getattr(config, config_section(config))
        self.mean_net = initialise(build_brain(config.brain, inputs), config.brain.init, rng, 0.01)
        self.log_std = Parameter(np.full(2, section.log_std_init, dtype=np.float32))
        self.value_net = initialise(value_network(config.brain, inputs), config.brain.init, rng, 1.0)
        self.norm = RunningNorm(inputs)
        self.normalise_inputs = section.normalize_observations
        self.policy_params = self.mean_net.parameters() + [self.log_std]
        self.params = self.policy_params + self.value_net.parameters()
        self.optimizer = Adam(self.params, lr=section.learning_rate, eps=1e-5)

    # ---- acting ---------------------------------------------------------------------------------------

    def inputs(self, obs: np.ndarray) -> np.ndarray:
        """What the networks read: observations normalised by the running statistics (if enabled)."""
        return self.norm.normalise(obs) if self.normalise_inputs else np.asarray(obs, dtype=np.float32)

    def act(self, x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sample actions for network inputs x (B, D): (actions (B, 2), log-probabilities (B,), values (B,))."""
        mean = self.mean_net.forward(x)
        std = np.exp(self.log_std.data)
        noise = rng.standard_normal(mean.shape).astype(np.float32)
        actions = mean + std * noise
        return actions, log_prob_from_noise(noise, self.log_std.data), self.value_net.forward(x)[:, 0]

    def value(self, x: np.ndarray) -> np.ndarray:
        return self.value_net.forward(x)[:, 0]

    @property
    def std(self) -> np.ndarray:
        return np.exp(self.log_std.data.astype(np.float64))

    def entropy(self) -> float:
        return gaussian_entropy(self.log_std.data)

    # ---- the champion -----------------------------------------------------------------------------------

    def driver(self) -> Sequential:
        """The deterministic policy on raw observations: the mean network with the normaliser folded into its
        first layer (an engine model of the [brain] architecture)."""
        model = engine.build_model(self.mean_net.config())
        model.load_state_dict(self.mean_net.state_dict())
        if self.normalise_inputs:
            first = model[0]
            scale = self.norm.scale()
            w = first.weight.data.astype(np.float64) / scale[:, None]
            first.bias.data[...] = first.bias.data - (self.norm.mean / scale) @ first.weight.data.astype(np.float64)
            first.weight.data[...] = w
        return model

    # ---- checkpoints ----------------------------------------------------------------------------------

    def state(self) -> dict[str, np.ndarray]:
        arrays = {f"mean_net.{k}": v for k, v in self.mean_net.state_dict().items()}
        arrays.update({f"value_net.{k}": v for k, v in self.value_net.state_dict().items()})
        arrays["log_std"] = self.log_std.data.copy()
        arrays.update({f"norm.{k}": v for k, v in self.norm.state().items()})
        arrays.update({f"adam.{k}": v for k, v in self.optimizer.state_dict().items()})
        return arrays

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        """Load state(); ValueError if the arrays do not fit these networks."""
        def part(prefix: str) -> dict[str, np.ndarray]:
            return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}

        self.mean_net.load_state_dict(part("mean_net."))
        self.value_net.load_state_dict(part("value_net."))
        if np.shape(arrays["log_std"]) != (2,):
            raise ValueError("log_std must hold 2 numbers")
        self.log_std.data[...] = arrays["log_std"]
        self.norm.restore(part("norm."))
        self.optimizer.load_state_dict(part("adam."))


def config_section(config: Any) -> str:
    from cars.learn.config import LEARNER_SECTIONS

    return LEARNER_SECTIONS[config.algorithm.name]


def log_prob(actions: np.ndarray, mean: np.ndarray, log_std: np.ndarray) -> np.ndarray:
    """log pi(a | x) of a diagonal Gaussian, (B, 2) actions and means -> (B,)."""
    z = (actions - mean) * np.exp(-log_std)
    return -0.5 * np.sum(z * z, axis=1) - np.sum(log_std) - LOG_2PI * mean.shape[1] / 2


def log_prob_from_noise(noise: np.ndarray, log_std: np.ndarray) -> np.ndarray:
    """log pi(a | x) of a = mean + sigma * noise (the same value as log_prob, without the subtraction)."""
    return -0.5 * np.sum(noise * noise, axis=1) - np.sum(log_std) - LOG_2PI * noise.shape[1] / 2


def gaussian_entropy(log_std: np.ndarray) -> float:
    return float(np.sum(log_std) + len(log_std) * (1 + LOG_2PI) / 2)


def clip_grad_norm(params: list[Parameter], max_norm: float) -> float:
    """Scale every gradient by min(1, max_norm / ||g||), ||g|| the norm of all of them together; returns ||g||."""
    norm = math.sqrt(sum(float(np.sum(p.grad.astype(np.float64) ** 2)) for p in params))
    if norm > max_norm:
        for p in params:
            p.grad *= max_norm / (norm + 1e-6)
    return norm
