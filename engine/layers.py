"""Fully connected, reshaping and regularising layers: ``Dense``, ``Flatten``, ``Dropout``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .init import default_rng, init_weight
from .layout import memory_order
from .module import Module, Parameter


class Dense(Module):
    """Affine map ``y = x W + b``.

    x: (N, in_features) -> y: (N, out_features); weight W: (in_features, out_features), bias b: (out_features,).

    Backward, given g = dL/dy (N, out):
        dL/dW = x^T g        (in, out)
        dL/db = sum_n g[n]   (out,)
        dL/dx = g W^T        (N, in)

    The products are written ``np.matmul(a, b)`` (the same as ``a @ b``) so that
    ``scripts/bench_engine.py`` can time every matrix product of a training step.
    Reference: ``engine.reference.dense`` and ``dense_backward``.
    """

    def __init__(self, in_features: int, out_features: int, *, init: str = "he",
                 rng: np.random.Generator | None = None, dtype: Any = np.float32) -> None:
        self.in_features, self.out_features, self.init = int(in_features), int(out_features), init
        self.weight = Parameter(init_weight(init, (self.in_features, self.out_features), self.in_features,
                                            self.out_features, rng, dtype))
        self.bias = Parameter(np.zeros(self.out_features, dtype=dtype))
        self.training = True
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"Dense({self.in_features}, {self.out_features}) expects input (N, {self.in_features}), "
                             f"got {x.shape}")
        self._x = x
        y = np.matmul(x, self.weight.data)                          # x W  (np.matmul is "@"; see below)
        y += self.bias.data
        return y

    def param_backward(self, grad_out: np.ndarray) -> None:
        self.weight.grad += np.matmul(self._x.T, grad_out)          # x^T g
        self.bias.grad += grad_out.sum(axis=0)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        self.param_backward(grad_out)
        return np.matmul(grad_out, self.weight.data.T)              # g W^T

    def config(self) -> dict[str, Any]:
        return {"type": "Dense", "in_features": self.in_features, "out_features": self.out_features,
                "init": self.init, "dtype": np.dtype(self.weight.data.dtype).name}


class Flatten(Module):
    """Collapse all but the batch axis. x: (N, d1, d2, ...) -> (N, d1*d2*...); backward reshapes back.

    If x keeps its batch innermost in memory (a fused conv step's output, ``kernels.fused``), the result
    is the transposed view of a (d1*d2*..., N) array: the same values, without a copy that gathers each
    sample from N-strided memory (the dense layer after it multiplies the view as it is).
    """

    def __init__(self) -> None:
        self.training = True
        self._shape: tuple[int, ...] = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._shape = x.shape
        batch_last = (*range(1, x.ndim), 0)
        if x.ndim > 2 and memory_order(x) == batch_last:
            return np.ascontiguousarray(x.transpose(batch_last)).reshape(-1, x.shape[0]).T
        return x.reshape(x.shape[0], -1)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out.reshape(self._shape)


class Dropout(Module):
    """Inverted dropout: in training ``y = x * m / (1 - p)`` with ``m ~ Bernoulli(1 - p)``; identity in eval.

    Scaling at training time keeps ``E[y] = x`` so evaluation needs no rescaling. x: any shape.
    Backward: ``dL/dx = g * m / (1 - p)`` with the same mask.
    """

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator | None = None) -> None:
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout probability must be in [0, 1), got {p}")
        self.p = float(p)
        self.rng = default_rng(rng)
        self.training = True
        self._mask: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not self.training or self.p == 0.0:
            self._mask = None
            return x
        keep = self.rng.random(x.shape, dtype=np.float32) >= self.p
        self._mask = keep.astype(x.dtype)
        self._mask *= 1.0 / (1.0 - self.p)
        return x * self._mask

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out if self._mask is None else grad_out * self._mask

    def config(self) -> dict[str, Any]:
        return {"type": "Dropout", "p": self.p}
