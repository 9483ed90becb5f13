"""Loss functions. ``forward`` returns the mean loss as a Python float; ``backward()`` returns its
gradient with respect to the prediction (same shape and dtype)."""

from __future__ import annotations

import numpy as np


class Loss:
    """Base class: ``forward(prediction, target) -> float``, ``backward() -> d(loss)/d(prediction)``."""

    def forward(self, prediction: np.ndarray, target: np.ndarray) -> float:
        raise NotImplementedError

    def backward(self) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, prediction: np.ndarray, target: np.ndarray) -> float:
        return self.forward(prediction, target)


class SoftmaxCrossEntropy(Loss):
    """Softmax followed by negative log-likelihood, fused so it never takes ``log(0)`` or overflows.

    logits z: (N, K), labels y: (N,) ints in [0, K).

        log p[n, k] = z[n, k] - m[n] - log sum_j exp(z[n, j] - m[n]),    m[n] = max_j z[n, j]
        L = -(1/N) sum_n log p[n, y[n]]
        dL/dz = (softmax(z) - onehot(y)) / N
    """

    def __init__(self) -> None:
        self._probs: np.ndarray | None = None
        self._labels: np.ndarray | None = None

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        labels = np.asarray(labels)
        if logits.ndim != 2 or labels.shape != (logits.shape[0],):
            raise ValueError(f"SoftmaxCrossEntropy expects logits (N, K) and labels (N,), got {logits.shape} "
                             f"and {labels.shape}")
        if not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"SoftmaxCrossEntropy labels must be integers, got {labels.dtype}")
        n, k = logits.shape
        if n and (labels.min() < 0 or labels.max() >= k):
            raise ValueError(f"SoftmaxCrossEntropy labels must lie in [0, {k}), got range "
                             f"[{labels.min()}, {labels.max()}]")
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        total = exp.sum(axis=1, keepdims=True)
        rows = np.arange(n)
        loss = float(np.mean(np.log(total[:, 0]) - shifted[rows, labels]))
        exp /= total
        self._probs, self._labels = exp, labels
        return loss

    def backward(self) -> np.ndarray:
        grad = self._probs.copy()
        n = grad.shape[0]
        grad[np.arange(n), self._labels] -= 1
        grad *= 1.0 / n
        return grad


class MSELoss(Loss):
    """Mean squared error over every element: ``L = mean((p - t)^2)``;  ``dL/dp = 2 (p - t) / p.size``."""

    def __init__(self) -> None:
        self._diff: np.ndarray | None = None

    def forward(self, prediction: np.ndarray, target: np.ndarray) -> float:
        target = np.asarray(target)
        if prediction.shape != target.shape:
            raise ValueError(f"MSELoss shapes differ: prediction {prediction.shape}, target {target.shape}")
        self._diff = prediction - target.astype(prediction.dtype, copy=False)
        return float(np.mean(self._diff * self._diff))

    def backward(self) -> np.ndarray:
        return self._diff * (2.0 / self._diff.size)
