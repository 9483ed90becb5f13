"""The cars' brains: an engine MLP from sensor readings to controls, and random initial genomes.

Inputs (R + 1): the R normalised ray distances and the speed / max_speed.
Outputs (2): steering and throttle, squashed into [-1, 1] by a final Tanh.
"""

from __future__ import annotations

import numpy as np

from engine import Dense, LeakyReLU, Module, ReLU, Sequential, Sigmoid, Tanh

from cars.config import BrainConfig

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
    from N(0, 2 / in) ("he") or N(0, 2 / (in + out)) ("glorot"), biases 0 (mutation moves them)."""
    scales = []
    for p in model.parameters():
        if p.data.ndim == 2:
            n_in, n_out = p.data.shape
            std = np.sqrt(2.0 / n_in) if init == "he" else np.sqrt(2.0 / (n_in + n_out))
            scales.append(np.full(p.data.size, std))
        else:
            scales.append(np.zeros(p.data.size))
    scale = np.concatenate(scales)
    return (rng.standard_normal((population, len(scale))) * scale).astype(np.float32)
