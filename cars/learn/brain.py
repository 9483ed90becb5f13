"""The cars' brains: an engine MLP from sensor readings to controls, and random initial genomes.

Inputs (R + 1): the R normalised ray distances and the speed / max_speed.
Outputs (2): steering and throttle, squashed into [-1, 1] by a final Tanh.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from engine import Dense, LeakyReLU, Module, ReLU, Sequential, Sigmoid, Tanh
from engine.init import init_weight

if TYPE_CHECKING:
    from cars.learn.config import BrainConfig

ACTIVATION_LAYERS = {"tanh": Tanh, "relu": ReLU, "leaky_relu": LeakyReLU, "sigmoid": Sigmoid}
OUTPUTS = ("steering", "throttle")


def build_brain(brain: BrainConfig, inputs: int) -> Sequential:
    """Sequential(Dense(inputs, h1), act, ..., Dense(h_last, 2), Tanh()) with the config's hidden sizes."""
    sizes = [inputs, *brain.hidden, len(OUTPUTS)]
    rng = np.random.default_rng(0)  # the template's own weights are never used: genomes replace them
    layers: list[Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Dense(n_in, n_out, init=brain.init, rng=rng))
        layers.append(ACTIVATION_LAYERS[brain.activation]() if i < len(sizes) - 2 else Tanh())
    return Sequential(*layers)


def initial_genomes(model: Module, population: int, rng: np.random.Generator, init: str = "he") -> np.ndarray:
    """Random genomes (P, G) float32 laid out like engine.get_genome: each weight matrix (in, out) drawn
    for the whole population at once with the engine's initialiser `init`, biases 0 (mutation moves them)."""
    parts = []
    for p in model.parameters():
        if p.data.ndim == 2:
            n_in, n_out = p.data.shape
            weights = init_weight(init, (population, n_in, n_out), n_in, n_out, rng, np.float32)
            parts.append(weights.reshape(population, -1))
        else:
            parts.append(np.zeros((population, p.data.size), dtype=np.float32))
    return np.concatenate(parts, axis=1)
