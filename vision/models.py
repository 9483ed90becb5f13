"""The benchmark's models, built from engine layers. Inputs are NCHW float32 images ``(N, 1, 28, 28)``.

``mlp`` and ``cnn`` are the reference shapes (identical to the PyTorch reference, so their speed
compares one-to-one); the other presets are optional extras selected with ``--models``.
Each preset carries the training defaults that reach its accuracy target within the time budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from engine import Conv2D, Dense, Dropout, Flatten, MaxPool2D, Module, ReLU, Sequential


def mlp(rng: np.random.Generator) -> Module:
    """784-256-128-10 with ReLU."""
    return Sequential(Flatten(), Dense(784, 256, rng=rng), ReLU(), Dense(256, 128, rng=rng), ReLU(),
                      Dense(128, 10, rng=rng))


def cnn(rng: np.random.Generator) -> Module:
    """conv3x3(1->16, pad 1)-ReLU-maxpool2-conv3x3(16->32, pad 1)-ReLU-maxpool2-flatten(1568)-dense128-ReLU-dense10.

    Built as conv-maxpool-ReLU: ReLU is monotone, so max(relu(a), relu(b)) = relu(max(a, b)) and the
    network computes exactly the same function, but ReLU then runs on a quarter of the values.
    """
    return Sequential(Conv2D(1, 16, 3, padding=1, rng=rng), MaxPool2D(2), ReLU(),
                      Conv2D(16, 32, 3, padding=1, rng=rng), MaxPool2D(2), ReLU(),
                      Flatten(), Dense(32 * 7 * 7, 128, rng=rng), ReLU(), Dense(128, 10, rng=rng))


def mlp_wide(rng: np.random.Generator) -> Module:
    """784-512-256-10 with ReLU and dropout 0.2 after each hidden layer."""
    return Sequential(Flatten(), Dense(784, 512, rng=rng), ReLU(), Dropout(0.2, rng=rng),
                      Dense(512, 256, rng=rng), ReLU(), Dropout(0.2, rng=rng), Dense(256, 10, rng=rng))


def cnn_wide(rng: np.random.Generator) -> Module:
    """Like ``cnn`` (also pooled before the ReLU) with 32 and 64 channels and dropout 0.3 before the classifier."""
    return Sequential(Conv2D(1, 32, 3, padding=1, rng=rng), MaxPool2D(2), ReLU(),
                      Conv2D(32, 64, 3, padding=1, rng=rng), MaxPool2D(2), ReLU(),
                      Flatten(), Dropout(0.3, rng=rng), Dense(64 * 7 * 7, 128, rng=rng), ReLU(),
                      Dense(128, 10, rng=rng))


@dataclass(frozen=True)
class Preset:
    name: str
    build: Callable[[np.random.Generator], Module]
    epochs: int
    lr: float
    description: str
    # Slices each batch runs as, side by side (engine.parallel): it pays for the CNNs, whose element-wise
    # work would otherwise leave a core idle half the step; an MLP step (<1 ms) is too short to split.
    shards: int = 1


PRESETS: dict[str, Preset] = {preset.name: preset for preset in (
    Preset("mlp", mlp, 15, 2e-3, "784-256-128-10 ReLU"),
    Preset("cnn", cnn, 8, 2e-3, "conv16-pool-conv32-pool-dense128-dense10", shards=2),
    Preset("mlp-wide", mlp_wide, 20, 1e-3, "784-512-256-10 ReLU, dropout 0.2"),
    Preset("cnn-wide", cnn_wide, 10, 1.5e-3, "conv32-pool-conv64-pool-dropout-dense128-dense10",
           shards=2),
)}
DEFAULT_MODELS = ("mlp", "cnn")


def build_model(name: str, seed: int) -> Module:
    """A freshly initialised preset; all its random choices come from ``default_rng(seed)``."""
    return PRESETS[name].build(np.random.default_rng(seed))
