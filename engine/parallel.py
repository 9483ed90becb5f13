"""Data-parallel training on the CPU's cores: one batch, several slices, one set of weights.

A batch of N samples is cut into ``shards`` slices. Each slice runs forward and backward on its own
replica of the model. The replicas share the model's weight arrays (no copies: every optimiser step
is seen by all of them) but keep their own gradients and layer state (masks, im2col buffers). The
slices' gradients, each weighted by its share of the batch, add up to the gradient of the mean loss
over the whole batch:

    L = sum_k (n_k / N) L_k,    dL/dw = sum_k (n_k / N) dL_k/dw,     L_k: mean loss over slice k (n_k samples)

Why: numpy runs element-wise work (im2col, pooling, ReLU, their backwards) on one core, and that is
about half of a CNN step. The slices run in threads (numpy releases the GIL inside its loops and
matrix multiplies), each with one BLAS thread (see ``engine.blas``), so both cores stay busy the
whole step: a CNN step at batch 128 on 2 cores drops from ~16 ms to ~10 ms.

How a batch is cut depends only on ``shards``, never on the number of cores, so one seed and one
config give the same numbers on any machine; with fewer cores, or a BLAS whose threads cannot be
limited, the slices simply run one after another.
"""

from __future__ import annotations

import copy
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Callable, Iterator

import numpy as np

from .blas import blas_threads
from .losses import Loss
from .module import Module


def available_cores() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _walk(module: Module) -> Iterator[Module]:
    yield module
    for _, child in module.children():
        yield from _walk(child)


def _replicate(model: Module) -> Module:
    """A copy of ``model`` that shares its weight arrays and owns its gradients and layer state.

    Random layers (dropout) get a new generator spawned from the original's, so the slices draw
    independent masks, and the draws still follow from the model's seed.
    """
    replica = copy.deepcopy(model)
    for original, copied in zip(_walk(model), _walk(replica)):
        for name, value in vars(original).items():
            if isinstance(value, np.random.Generator):
                setattr(copied, name, value.spawn(1)[0])
    return replica


class DataParallel:
    """Forward and backward of each batch over ``shards`` slices, in up to ``workers`` threads.

    Use it as a context manager around a training loop (it limits BLAS threads while active)::

        with DataParallel(model, SoftmaxCrossEntropy, shards=2) as parallel:
            for xb, yb in batches:
                optimizer.zero_grad()
                loss, logits = parallel.forward_backward(xb, yb)
                optimizer.step()

    ``shards=1`` runs the model itself, exactly like ``loss.forward(model(x), y)`` then
    ``model.param_backward(loss.backward())``.
    """

    def __init__(self, model: Module, loss: Callable[[], Loss], shards: int = 2, workers: int | None = None) -> None:
        if int(shards) < 1:
            raise ValueError(f"shards must be >= 1, got {shards}")
        self.model, self.shards = model, int(shards)
        self.workers = max(1, min(self.shards, available_cores() if workers is None else int(workers)))
        self.replicas = [model] if self.shards == 1 else [_replicate(model) for _ in range(self.shards)]
        self.losses = [loss() for _ in self.replicas]
        self._pool: ThreadPoolExecutor | None = None
        self._stack: ExitStack | None = None

    def __enter__(self) -> "DataParallel":
        self._stack = ExitStack()
        if self.workers > 1 and self._stack.enter_context(blas_threads(1)):
            self._pool = self._stack.enter_context(ThreadPoolExecutor(self.workers - 1))
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._pool = None
        if self._stack is not None:
            self._stack.close()
            self._stack = None

    def forward_backward(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """Add dL/dw of the batch's mean loss to every parameter's ``.grad``; return (mean loss, predictions).

        x: (N, ...) inputs, y: (N, ...) targets; predictions: (N, K), the model's outputs in batch order.
        """
        if self.shards == 1:
            return self._run(0, x, y, 1.0)
        n = len(x)
        bounds = [n * k // self.shards for k in range(self.shards + 1)]
        slices = [(k, bounds[k], bounds[k + 1]) for k in range(self.shards) if bounds[k + 1] > bounds[k]]
        params = self.model.parameters()
        for replica in self.replicas:
            for own, shared in zip(replica.parameters(), params):
                own.data = shared.data  # re-linked every step in case someone rebound the model's arrays
                own.grad.fill(0)
            replica.train(self.model.training)
        jobs = [(k, x[start:stop], y[start:stop], (stop - start) / n) for k, start, stop in slices]
        if self._pool is None:
            results = [self._run(*job) for job in jobs]
        else:
            futures = [self._pool.submit(self._run, *job) for job in jobs[1:]]
            results = [self._run(*jobs[0])] + [future.result() for future in futures]
        for k, _, _ in slices:
            for own, shared in zip(self.replicas[k].parameters(), params):
                shared.grad += own.grad
        loss = sum(result[0] for result in results)
        return loss, np.concatenate([result[1] for result in results])

    def _run(self, k: int, x: np.ndarray, y: np.ndarray, weight: float) -> tuple[float, np.ndarray]:
        """Slice k: forward, loss, backward on replica k; returns (weighted loss, predictions)."""
        replica, loss_fn = self.replicas[k], self.losses[k]
        predictions = replica.forward(x)
        loss = loss_fn.forward(predictions, y)
        grad = loss_fn.backward()
        if weight != 1.0:
            grad *= weight
        replica.param_backward(grad)
        return weight * loss, predictions
