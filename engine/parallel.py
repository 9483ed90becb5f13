"""Data-parallel training on the CPU's cores: one batch, several slices, one set of weights.

A batch of N samples is cut into ``shards`` slices. Each slice runs forward and backward on its own
replica of the model. The replicas share the model's weights (no copies: every optimiser step is seen
by all of them) but keep their own gradients and layer state (masks, im2col buffers). The slices'
gradients, each weighted by its share of the batch, add up to the gradient of the mean loss over the
whole batch:

    L = sum_k (n_k / N) L_k,    dL/dw = sum_k (n_k / N) dL_k/dw,     L_k: mean loss over slice k (n_k samples)

Why: numpy runs element-wise work (im2col, pooling, ReLU, their backwards) on one core, and that is
about half of a CNN step. The slices run side by side, each with one BLAS thread (see ``engine.blas``),
so every core stays busy the whole step: a CNN step at batch 128 on 2 cores drops from ~16 ms to ~10 ms.
They run in worker processes by default (``engine.workers``: shared-memory weights, ~10% faster than
threads, which wait for the GIL between numpy calls) or in threads (``processes=False``).

How a batch is cut depends only on ``shards``, never on the number of cores, threads or processes, and
the slices' gradients are added in slice order, so one seed and one config give the same numbers, bit
for bit, on any machine; with fewer cores, or a BLAS whose threads cannot be limited, the slices simply
run one after another.
"""

from __future__ import annotations

import copy
import os
import warnings
import weakref
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from multiprocessing.shared_memory import SharedMemory
from typing import Callable, Iterator

import numpy as np

from .blas import blas_threads
from .losses import Loss
from .module import Module
from .workers import WorkerProcess, layout, release, run_replica_slice, run_slice, views


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
    """Forward and backward of each batch over ``shards`` slices, on up to ``workers`` cores.

    Use it as a context manager around a training loop (it limits BLAS threads and shares the weights with
    the worker processes while active; it may be entered again, and ``close`` stops the workers)::

        with DataParallel(model, SoftmaxCrossEntropy, shards=2) as parallel:
            for xb, yb in batches:
                optimizer.zero_grad()
                loss, logits = parallel.forward_backward(xb, yb)
                optimizer.step()

    ``shards=1`` runs the model itself, exactly like ``loss.forward(model(x), y)`` then
    ``model.param_backward(loss.backward())``. Slice k runs on core ``k % workers``: core 0 is this
    thread, the others are worker processes (or threads, with ``processes=False``).
    """

    def __init__(self, model: Module, loss: Callable[[], Loss], shards: int = 2, workers: int | None = None,
                 processes: bool = True) -> None:
        if int(shards) < 1:
            raise ValueError(f"shards must be >= 1, got {shards}")
        self.model, self.shards = model, int(shards)
        self.workers = max(1, min(self.shards, available_cores() if workers is None else int(workers)))
        self.processes = bool(processes)
        self.replicas = [model] if self.shards == 1 else [_replicate(model) for _ in range(self.shards)]
        self.losses = [loss() for _ in self.replicas]
        self._pool: ThreadPoolExecutor | None = None
        self._stack: ExitStack | None = None
        self._processes: list[WorkerProcess] = []  # started on the first entry, kept until close()
        self._weights: SharedMemory | None = None
        self._spots: list = []
        self._shared: list[np.ndarray] = []        # the parameters' data while entered (views into _weights)
        self._close = weakref.finalize(self, _stop, self._processes, [])

    def __enter__(self) -> "DataParallel":
        self._stack = stack = ExitStack()
        try:
            if self.workers > 1 and stack.enter_context(blas_threads(1)):
                if self.processes and self._workers_ready():
                    stack.callback(self._unshare_weights)
                    self._share_weights()
                else:
                    self._pool = stack.enter_context(ThreadPoolExecutor(self.workers - 1))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._pool = None
        if self._stack is not None:
            self._stack.close()
            self._stack = None

    def close(self) -> None:
        """Stop the worker processes and free the shared memory (also done when this object is collected)."""
        self._close()

    def forward_backward(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """Add dL/dw of the batch's mean loss to every parameter's ``.grad``; return (mean loss, predictions).

        x: (N, ...) inputs, y: (N, ...) targets; predictions: (N, K), the model's outputs in batch order.
        """
        if self.shards == 1:
            return run_slice(self.model, self.losses[0], x, y, 1.0)
        n = len(x)
        bounds = [n * k // self.shards for k in range(self.shards + 1)]
        jobs = [(k, x[a:b], y[a:b], (b - a) / n) for k, (a, b) in enumerate(zip(bounds, bounds[1:])) if b > a]
        params = self.model.parameters()
        workers = self._processes if self._shared else []  # outside the block every slice runs here
        self._keep_weights_shared(params)
        for process in workers:  # the workers start on their slices ...
            process.submit([job for job in jobs if job[0] in process.shards], self.model.training)
        remote = {k for process in workers for k in process.shards}
        local = [job for job in jobs if job[0] not in remote]
        results, grads = {}, {}
        for (k, *_), result in zip(local, self._run_local(local)):  # ... while this process runs its own
            results[k], grads[k] = result, [p.grad for p in self.replicas[k].parameters()]
        for process in workers:
            for k, loss, predictions in process.results():
                results[k], grads[k] = (loss, predictions), process.grads_of[k]
        for k, *_ in jobs:  # in slice order, wherever they ran: the same sums on any machine
            for shared, own in zip(params, grads[k]):
                shared.grad += own
        loss = sum(results[k][0] for k, *_ in jobs)
        return loss, np.concatenate([results[k][1] for k, *_ in jobs])

    def _run_local(self, jobs: list) -> list[tuple[float, np.ndarray]]:
        """Run the slices this process holds: here, or in the thread pool (``processes=False``)."""
        if self._pool is None or not jobs:
            return [self._run(*job) for job in jobs]
        futures = [self._pool.submit(self._run, *job) for job in jobs[1:]]
        return [self._run(*jobs[0])] + [future.result() for future in futures]

    def _run(self, k: int, x: np.ndarray, y: np.ndarray, weight: float) -> tuple[float, np.ndarray]:
        """Slice k on replica k: (weighted loss, predictions)."""
        replica = self.replicas[k]
        for own, shared in zip(replica.parameters(), self.model.parameters()):
            own.data = shared.data  # re-linked every step in case someone rebound the model's arrays
        return run_replica_slice(replica, self.losses[k], x, y, weight, self.model.training)

    def _workers_ready(self) -> bool:
        """Make the shared weights block and start the worker processes (on the first entry). Where the system
        cannot (no shared memory, no new processes), warn and run the slices in threads from then on."""
        if self._weights is not None:
            return True
        spots, size = layout([p.data for p in self.model.parameters()])
        try:
            self._weights, self._spots = SharedMemory(create=True, size=size), spots
            self._close.detach()
            self._close = weakref.finalize(self, _stop, self._processes, [self._weights])
            owners = {k: k % self.workers for k in range(self.shards)}
            for worker in range(1, self.workers):
                mine = {k: self.replicas[k] for k, owner in owners.items() if owner == worker}
                losses = {k: self.losses[k] for k in mine}
                self._processes.append(WorkerProcess(mine, losses, self._weights, spots, size))
        except OSError as error:
            self._close()  # stops the workers that started and frees the block
            self._weights, self.processes = None, False
            warnings.warn(f"DataParallel: no worker processes here ({error}); the slices run in threads",
                          RuntimeWarning, stacklevel=3)
            return False
        return True

    def _share_weights(self) -> None:
        """Move the parameters' data into the shared block, which the workers view."""
        params = self.model.parameters()
        spots, _ = layout([p.data for p in params])
        if spots != self._spots:
            raise ValueError("the model's parameters changed shape since its DataParallel was made")
        self._shared = views(self._weights, spots)
        for p, shared in zip(params, self._shared):
            shared[...] = p.data
            p.data = shared

    def _keep_weights_shared(self, params: list) -> None:
        """If someone rebound a parameter's data while entered, copy it into the shared block and use that."""
        for p, shared in zip(params, self._shared):
            if p.data is not shared:
                shared[...] = p.data
                p.data = shared

    def _unshare_weights(self) -> None:
        """Give the parameters private copies again (the shared block may go away with this object)."""
        for process in self._processes:
            process.drain()
        for p, shared in zip(self.model.parameters(), self._shared):
            if p.data is shared:
                p.data = shared.copy()
        self._shared = []


def _stop(processes: list[WorkerProcess], blocks: list[SharedMemory]) -> None:
    for process in processes:
        process.close()
    processes.clear()
    for block in blocks:
        release(block)
