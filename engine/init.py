"""Weight initialisers: the one vocabulary of the project (engine layers and the cars' genomes alike).

Each draws from a ``numpy.random.Generator``, so a seed fixes the weights. ``fan_in`` is the number of
inputs feeding one output unit (``in_features`` for Dense, ``in_channels * kh * kw`` for Conv2D);
``fan_out`` likewise for the outputs. Biases start at zero (not drawn here).

| name              | distribution                        | scale                          | suits |
|-------------------|-------------------------------------|--------------------------------|-------|
| ``"he"``          | He / Kaiming **normal**             | ``N(0, 2 / fan_in)``           | ReLU family |
| ``"he_uniform"``  | He / Kaiming uniform                | ``U(-a, a)``, ``a = sqrt(6 / fan_in)`` | ReLU family |
| ``"glorot"``      | Glorot / Xavier **uniform**         | ``U(-a, a)``, ``a = sqrt(6 / (fan_in + fan_out))`` | tanh, sigmoid |
| ``"glorot_normal"`` | Glorot / Xavier normal            | ``N(0, 2 / (fan_in + fan_out))`` | tanh, sigmoid |

Why these scales: He keeps the activation variance constant through ReLU layers (which zero half
their inputs, hence the 2); Glorot balances the forward and the backward variance. The uniform and
normal form of one name have the same variance (``a^2 / 3`` equals the normal's variance).

``init_weight`` also draws a whole population at once: a shape with leading batch axes, e.g.
``(P, in, out)`` for P Dense weight matrices, gives P independent draws of the same distribution.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

INITS: tuple[str, ...] = ("he", "he_uniform", "glorot", "glorot_normal")


def default_rng(rng: np.random.Generator | None) -> np.random.Generator:
    """``rng`` itself, or ``np.random.default_rng(0)`` when it is None (so models are reproducible)."""
    return np.random.default_rng(0) if rng is None else rng


def init_std(kind: str, fan_in: int, fan_out: int) -> float:
    """The standard deviation of initialiser ``kind`` (the same for its uniform and normal forms)."""
    check_init(kind)
    if fan_in < 1 or fan_out < 1:
        raise ValueError(f"init {kind!r} needs fan_in and fan_out >= 1, got {fan_in} and {fan_out}")
    return math.sqrt(2.0 / fan_in) if kind.startswith("he") else math.sqrt(2.0 / (fan_in + fan_out))


def check_init(kind: str) -> str:
    """``kind`` if it names an initialiser, else ``ValueError`` listing the names."""
    if kind not in INITS:
        raise ValueError(f"unknown init {kind!r}; choose from {', '.join(INITS)}")
    return kind


def he_normal(shape: tuple[int, ...], fan_in: int, rng: np.random.Generator, dtype: Any = np.float32) -> np.ndarray:
    """``N(0, 2 / fan_in)`` samples of ``shape``."""
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


def glorot_uniform(shape: tuple[int, ...], fan_in: int, fan_out: int, rng: np.random.Generator,
                   dtype: Any = np.float32) -> np.ndarray:
    """``U(-a, a)`` samples of ``shape`` with ``a = sqrt(6 / (fan_in + fan_out))``."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape).astype(dtype)


def init_weight(kind: str, shape: tuple[int, ...], fan_in: int, fan_out: int, rng: np.random.Generator | None,
                dtype: Any = np.float32) -> np.ndarray:
    """Weights of ``shape`` drawn by initialiser ``kind`` (one of ``INITS``, see the table above).

    ``shape`` may carry leading batch axes (``(P, in, out)``): every entry is an independent draw.
    """
    std = init_std(kind, int(fan_in), int(fan_out))
    rng = default_rng(rng)
    if kind == "he":
        return he_normal(shape, fan_in, rng, dtype)
    if kind == "glorot":
        return glorot_uniform(shape, fan_in, fan_out, rng, dtype)
    if kind.endswith("_uniform"):
        limit = math.sqrt(3.0) * std
        return rng.uniform(-limit, limit, shape).astype(dtype)
    return (rng.standard_normal(shape) * std).astype(dtype)
