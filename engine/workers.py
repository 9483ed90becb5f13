"""Slices of a batch in worker processes: what ``engine.parallel.DataParallel`` runs beside its own thread.

Why processes: numpy releases the GIL inside each call, but a CNN slice makes hundreds of calls, and
between them a thread must take the GIL back, often from the other slice's thread, which has to be
woken. Measured on the 2-core development machine (one CNN slice of 64 images, ~9 ms alone): two
slices in two threads take 1.2-1.4x one slice, in two processes 1.08x, and a training step is ~10%
faster. The arithmetic is the same, so the numbers are bit for bit those of threads.

How (the parent side is ``WorkerProcess``, the worker's loop ``_serve``):

- **Shared weights.** While ``DataParallel`` is entered, each parameter's ``data`` is a view into one
  shared-memory block; the worker's replicas view the same memory, so they see every optimiser step
  without a copy.
- **Gradients per slice.** Each worker replica's ``grad`` arrays are views into a second block. The
  parent adds them into the model's gradients in slice order, as it does with threads.
- **Inputs and results through a pipe.** A slice's images (~200 KB) go to the worker; its loss and
  predictions come back.
- **Lifetime.** The worker is started once (``spawn``: safe with BLAS threads and the same on every OS)
  and stopped by ``close``. It ignores Ctrl-C (the parent handles it) and exits when the pipe closes,
  so it never outlives the parent.
"""

from __future__ import annotations

import multiprocessing
import pickle
import signal
from multiprocessing.shared_memory import SharedMemory
from typing import Any, Sequence

import numpy as np

from .blas import blas_threads
from .losses import Loss
from .memory import keep_freed_memory
from .module import Module

Spot = tuple[int, tuple[int, ...], str]  # (byte offset, shape, dtype) of one array inside a shared block


def run_slice(replica: Module, loss_fn: Loss, x: np.ndarray, y: np.ndarray, weight: float) -> tuple[float, np.ndarray]:
    """Forward, loss and backward of one slice on its replica: returns (weighted loss, predictions) and adds
    ``weight * dL_slice/dw`` to the replica's gradients (``weight`` = the slice's share of the batch)."""
    predictions = replica.forward(x)
    loss = loss_fn.forward(predictions, y)
    grad = loss_fn.backward()
    if weight != 1.0:
        grad *= weight
    replica.param_backward(grad)
    return weight * loss, predictions


def run_replica_slice(replica: Module, loss_fn: Loss, x: np.ndarray, y: np.ndarray, weight: float,
                      training: bool) -> tuple[float, np.ndarray]:
    """``run_slice`` on a replica: in the model's mode, from zero gradients (the parent adds the slices' up)."""
    replica.train(training)
    for parameter in replica.parameters():
        parameter.grad.fill(0)
    return run_slice(replica, loss_fn, x, y, weight)


def layout(arrays: Sequence[np.ndarray]) -> tuple[list[Spot], int]:
    """Where each array sits when they are packed one after another (64-byte aligned), and the bytes needed."""
    spots, offset = [], 0
    for array in arrays:
        spots.append((offset, tuple(array.shape), array.dtype.str))
        offset += -(-array.nbytes // 64) * 64
    return spots, max(offset, 64)


def views(block: SharedMemory, spots: list[Spot], base: int = 0) -> list[np.ndarray]:
    """The arrays at ``spots`` inside ``block``, starting ``base`` bytes in."""
    return [np.ndarray(shape, np.dtype(dtype), buffer=block.buf, offset=base + offset)
            for offset, shape, dtype in spots]


def _serve(conn: Any, weights_name: str, grads_name: str, spots: list[Spot], stride: int) -> None:
    """The worker: receive its replicas, attach the shared weights and its gradient block, run slices until told
    to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    keep_freed_memory()
    try:
        replicas, losses = conn.recv()
    except (EOFError, OSError):
        return
    # Attaching registers the blocks with the resource tracker, which a spawned worker shares with its
    # parent: the parent's own registration stands, and its unlink() is the one that deletes them.
    weights, grads = SharedMemory(name=weights_name), SharedMemory(name=grads_name)
    shared = views(weights, spots)
    for index, (shard, replica) in enumerate(sorted(replicas.items())):
        for parameter, data, grad in zip(replica.parameters(), shared, views(grads, spots, index * stride)):
            parameter.data, parameter.grad = data, grad
    with blas_threads(1):
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):  # the parent is gone
                break
            if message is None:
                break
            jobs, training = message
            try:
                results = []
                for shard, x, y, weight in jobs:
                    results.append((shard, *run_replica_slice(replicas[shard], losses[shard], x, y, weight, training)))
                conn.send(("ok", results))
            except Exception as error:  # noqa: BLE001 - handed to the parent, which raises it
                conn.send(("error", error if _picklable(error) else RuntimeError(f"{type(error).__name__}: {error}")))
    del shared  # views of the blocks: let them go before the blocks close at exit (closing a viewed block fails)
    replicas.clear()


def _picklable(error: BaseException) -> bool:
    try:
        pickle.dumps(error)
        return True
    except Exception:  # noqa: BLE001
        return False


class WorkerProcess:
    """A worker process holding the replicas of some slices (its ``shards``), on the shared weights block."""

    def __init__(self, replicas: dict[int, Module], losses: dict[int, Loss], weights: SharedMemory,
                 spots: list[Spot], size: int) -> None:
        self.shards = sorted(replicas)
        self.grads = SharedMemory(create=True, size=size * len(self.shards))
        self.grads_of = {shard: views(self.grads, spots, index * size) for index, shard in enumerate(self.shards)}
        self._pending = False
        self._served = False  # whether a step has come back yet (if not, a stop is most likely a start-up failure)
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self.process = context.Process(target=_serve, name="engine-data-parallel", daemon=True,
                                       args=(child, weights.name, self.grads.name, spots, size))
        try:
            self.process.start()
            child.close()
            # The replicas go through the pipe, not as arguments: if the worker dies while starting, sending
            # fails at once here (a large argument would block the start for good).
            self._send((replicas, losses))
        except BaseException:
            self.close()
            raise

    def submit(self, jobs: list[tuple[int, np.ndarray, np.ndarray, float]], training: bool) -> None:
        """Start the worker on ``jobs`` (shard, x, y, weight); ``results`` collects them."""
        self.drain()
        self._send((jobs, training))
        self._pending = True

    def results(self) -> list[tuple[int, float, np.ndarray]]:
        """(shard, weighted loss, predictions) of each submitted job; its gradients are in ``grads_of[shard]``."""
        self._pending = False
        try:
            status, payload = self._conn.recv()
        except (EOFError, OSError):
            raise RuntimeError(self._stopped()) from None
        self._served = True
        if status == "error":
            raise payload
        return payload

    def drain(self, timeout: float = 30.0) -> None:
        """Collect and drop the results of a step the parent stopped waiting for (Ctrl-C during a step)."""
        if self._pending:
            self._pending = False
            if self._conn.poll(timeout):
                try:
                    self._conn.recv()
                except (EOFError, OSError):
                    pass

    def close(self) -> None:
        """Stop the worker (it finishes the slice it is on) and free its gradient block."""
        if self.process.pid is not None:
            try:
                self.drain(timeout=5.0)
                self._send(None)
            except (RuntimeError, OSError):
                pass
            self.process.join(timeout=5.0)
            if self.process.is_alive():
                self.process.terminate()
                self.process.join(timeout=5.0)
        self._conn.close()
        self.grads_of.clear()
        release(self.grads)

    def _send(self, message: object) -> None:
        try:
            self._conn.send(message)
        except (BrokenPipeError, EOFError, OSError):
            raise RuntimeError(self._stopped()) from None

    def _stopped(self) -> str:
        self.process.join(timeout=1.0)
        message = f"a data-parallel worker process stopped (exit code {self.process.exitcode})"
        if self._served:
            return message
        return (f"{message} before its first step; a script that trains with DataParallel must start its work "
                f"under 'if __name__ == \"__main__\":', because each worker process imports the script it was "
                f"started from")


def release(block: SharedMemory) -> None:
    """Unmap and delete a shared block this process created (still-living views keep their mapping)."""
    try:
        block.close()
    except BufferError:  # an array still views it: the mapping stays until that array is gone
        pass
    try:
        block.unlink()
    except FileNotFoundError:
        pass
