"""Evaluation of a classifier: accuracy, loss, per-class precision/recall, confusion matrix, throughput."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from engine import Module, SoftmaxCrossEntropy


@dataclass
class Evaluation:
    accuracy: float             # fraction correct, 0-1
    loss: float                 # mean cross-entropy
    predictions: np.ndarray     # (N,) predicted class
    confusion: np.ndarray       # (K, K) int, confusion[true, predicted]
    seconds: float              # wall time of the forward passes
    images_per_second: float    # inference throughput

    @property
    def errors(self) -> int:
        return int(self.confusion.sum() - np.trace(self.confusion))

    @property
    def precision(self) -> np.ndarray:
        """(K,) of the digits predicted as k, the fraction that are k (NaN if none was predicted as k)."""
        predicted = self.confusion.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.diag(self.confusion) / predicted

    @property
    def recall(self) -> np.ndarray:
        """(K,) of the digits that are k, the fraction predicted as k (NaN if there are none)."""
        actual = self.confusion.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.diag(self.confusion) / actual


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int = 10) -> np.ndarray:
    """(K, K) counts, rows = true class, columns = predicted class."""
    flat = labels.astype(np.int64) * num_classes + predictions.astype(np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def evaluate(model: Module, x: np.ndarray, y: np.ndarray, *, batch_size: int = 500,
             num_classes: int = 10) -> Evaluation:
    """Run ``model`` in eval mode over x: (N, ...) in batches and score it against labels y: (N,)."""
    model.eval()
    loss_fn = SoftmaxCrossEntropy()
    predictions = np.empty(len(x), dtype=np.int64)
    loss_sum = 0.0
    seconds = 0.0
    for start in range(0, len(x), batch_size):
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        began = time.perf_counter()
        logits = model(xb)
        seconds += time.perf_counter() - began
        loss_sum += loss_fn.forward(logits, yb) * len(xb)
        predictions[start:start + len(xb)] = logits.argmax(axis=1)
    n = max(1, len(x))
    confusion = confusion_matrix(y, predictions, num_classes)
    return Evaluation(accuracy=float(np.trace(confusion) / n), loss=loss_sum / n, predictions=predictions,
                      confusion=confusion, seconds=seconds,
                      images_per_second=len(x) / seconds if seconds > 0 else 0.0)
