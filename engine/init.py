"""Weight initialisers. Each draws from a ``numpy.random.Generator`` so a seed fixes the model.

``fan_in`` is the number of inputs feeding one output unit (``in_features`` for Dense,
``in_channels * kh * kw`` for Conv2D); ``fan_out`` likewise for the outputs.

- He / Kaiming normal (ReLU family): ``w ~ N(0, 2 / fan_in)`` keeps the activation variance
  constant through ReLU layers, which zero half their inputs.
- Glorot / Xavier uniform (tanh, sigmoid): ``w ~ U(-a, a)``, ``a = sqrt(6 / (fan_in + fan_out))``
  balances the forward and the backward variance.
"""

from __future__ import annotations

import numpy as np

INITS = ("he", "glorot")


def default_rng(rng: np.random.Generator | None) -> np.random.Generator:
    """``rng`` itself, or ``np.random.default_rng(0)`` when it is None (so models are reproducible)."""
    return np.random.default_rng(0) if rng is None else rng


def he_normal(shape: tuple[int, ...], fan_in: int, rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """``N(0, 2 / fan_in)`` samples of ``shape``."""
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


def glorot_uniform(shape: tuple[int, ...], fan_in: int, fan_out: int, rng: np.random.Generator,
                   dtype=np.float32) -> np.ndarray:
    """``U(-a, a)`` samples of ``shape`` with ``a = sqrt(6 / (fan_in + fan_out))``."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape).astype(dtype)


def init_weight(kind: str, shape: tuple[int, ...], fan_in: int, fan_out: int, rng: np.random.Generator | None,
                dtype=np.float32) -> np.ndarray:
    """Dispatch on ``kind`` (``"he"`` or ``"glorot"``)."""
    rng = default_rng(rng)
    if kind == "he":
        return he_normal(shape, fan_in, rng, dtype)
    if kind == "glorot":
        return glorot_uniform(shape, fan_in, fan_out, rng, dtype)
    raise ValueError(f"unknown init {kind!r}; choose from {', '.join(INITS)}")
