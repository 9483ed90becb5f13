"""Element-wise activations. Each keeps exactly what its backward needs (a mask or its output).

x: any shape -> y: same shape and dtype. Reference (one element at a time): ``engine.reference``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .kernels.elementwise import ZeroRow
from .module import Module


class ReLU(Module):
    """``y = max(x, 0)``;  ``dL/dx = g * [x > 0]`` (mask saved in forward).

    The maximum runs in ``engine.kernels.elementwise.ZeroRow`` (same values, faster loop, keeps x's layout).
    """

    def __init__(self) -> None:
        self.training = True
        self._mask: np.ndarray | None = None
        self.fast = ZeroRow()

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._mask = x > 0
        return self.fast.relu(x)  # max(x, 0)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out * self._mask


class LeakyReLU(Module):
    """``y = x`` if x > 0 else ``slope * x``;  ``dL/dx = g`` if x > 0 else ``slope * g``."""

    def __init__(self, slope: float = 0.01) -> None:
        self.slope = float(slope)
        self.training = True
        self._mask: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._mask = x > 0
        y = x * self.slope
        np.copyto(y, x, where=self._mask)  # exact on both branches (no 1-ulp blend of the two)
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        dx = grad_out * self.slope
        np.copyto(dx, grad_out, where=self._mask)
        return dx

    def config(self) -> dict[str, Any]:
        return {"type": "LeakyReLU", "slope": self.slope}


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Overflow-free logistic ``1 / (1 + exp(-x)) = exp(-log(1 + exp(-x)))``; ``np.logaddexp(0, -x)``
    evaluates ``log(1 + exp(-x))`` without overflow and stays accurate for large ``|x|`` of either sign."""
    return np.exp(-np.logaddexp(0, -x))


class Sigmoid(Module):
    """``y = 1 / (1 + exp(-x))``;  ``dL/dx = g * y * (1 - y)``."""

    def __init__(self) -> None:
        self.training = True
        self._y: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._y = sigmoid(x)
        return self._y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out * self._y * (1 - self._y)


class Tanh(Module):
    """``y = tanh(x)``;  ``dL/dx = g * (1 - y^2)``."""

    def __init__(self) -> None:
        self.training = True
        self._y: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._y = np.tanh(x)
        return self._y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out * (1 - self._y * self._y)
