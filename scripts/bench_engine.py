#!/usr/bin/env python3
"""Speed of the engine's hot paths at the digit benchmark's shapes (batch 128, float32).

Prints, for each case, the median time per call and the achieved GFLOP/s, next to numpy's own
float32 matrix-multiply GFLOP/s on this machine for scale, then the full MLP and CNN training
steps (forward + backward + Adam) with the projected seconds per 60,000-image epoch, and the share
of each step spent inside matrix products (every product of the engine goes through ``np.matmul``,
which is timed for that; with data-parallel slices in worker processes the clock sees this process,
so the share is that of core 0, whose slice is the same work as the worker's). Last, the data-parallel
CNN step with its slices in worker processes against threads, the two alternating step by step.

    python scripts/bench_engine.py [--repeat 30] [--batch 128]

For BLAS-kernel comparisons run it with and without ``OPENBLAS_CORETYPE`` / ``OPENBLAS_L2_SIZE``
(``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python scripts/bench_engine.py``).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import threading
import time
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import (Adam, Conv2D, DataParallel, Dense, MaxPool2D, Module, ReLU, Sequential,  # noqa: E402
                    SoftmaxCrossEntropy, keep_freed_memory)
from vision.models import cnn, mlp  # noqa: E402

EPOCH_IMAGES = 60_000


class Timing:
    """Median and best wall time per call; the best is what an otherwise idle machine approaches."""

    def __init__(self, times: list[float]) -> None:
        self.median, self.best = statistics.median(times), min(times)


def time_call(fn: Callable[[], object], repeat: int, warmup: int = 3) -> Timing:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return Timing(times)


def row(name: str, timing: Timing, flops: float | None = None, extra: str = "") -> None:
    rate = f"{flops / timing.median / 1e9:8.1f} {flops / timing.best / 1e9:8.1f}" if flops else " " * 17
    print(f"  {name:<50s} {timing.median * 1e3:8.3f} {timing.best * 1e3:8.3f} {rate}  {extra}")


HEADER = f"{'ms median':>9s} {'ms best':>8s} {'GFLOP/s':>8s} {'(best)':>8s}"


def bench_matmul(repeat: int) -> None:
    print(f"{'numpy float32 matmul (for scale)':<52s} {HEADER}")
    rng = np.random.default_rng(0)
    for m, k, n in [(1024, 1024, 1024), (128, 784, 256), (128, 1568, 128), (32, 144, 128 * 14 * 16)]:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        row(f"({m} x {k}) @ ({k} x {n})", time_call(lambda: a @ b, repeat), 2.0 * m * k * n)


def bench_layer(name: str, layer: Module, x: np.ndarray, flops_forward: float, repeat: int) -> None:
    y = layer.forward(x)
    g = np.ones_like(y)
    row(f"{name} forward", time_call(lambda: layer.forward(x), repeat), flops_forward)

    def both() -> None:
        layer.forward(x)
        layer.backward(g)
    row(f"{name} forward+backward", time_call(both, repeat), 3 * flops_forward)


def bench_layers(batch: int, repeat: int) -> None:
    print(f"\n{'layers (forward+backward includes dL/dx)':<52s} {HEADER}")
    rng = np.random.default_rng(0)
    for n_in, n_out in [(784, 256), (256, 128), (1568, 128)]:
        x = rng.standard_normal((batch, n_in), dtype=np.float32)
        bench_layer(f"Dense {n_in}->{n_out}", Dense(n_in, n_out, rng=rng), x, 2.0 * batch * n_in * n_out, repeat)
    for c, o, size in [(1, 16, 28), (16, 32, 14)]:
        x = rng.standard_normal((batch, c, size, size), dtype=np.float32)
        flops = 2.0 * batch * o * size * size * c * 9
        bench_layer(f"Conv2D {c}->{o} 3x3 pad 1 on {size}x{size}", Conv2D(c, o, 3, padding=1, rng=rng), x, flops,
                    repeat)
    x = np.maximum(rng.standard_normal((batch, 16, 28, 28), dtype=np.float32), 0)
    pool = MaxPool2D(2)
    y = pool.forward(x)
    row("MaxPool2D 2x2 on 16x28x28 forward", time_call(lambda: pool.forward(x), repeat))
    row("MaxPool2D 2x2 on 16x28x28 backward", time_call(lambda: pool.backward(y), repeat))
    for c, o, size in [(1, 16, 28), (16, 32, 14)]:  # the CNN's blocks: one fused step (engine.kernels.fused)
        x = rng.standard_normal((batch, c, size, size), dtype=np.float32)
        block = Sequential(Conv2D(c, o, 3, padding=1, rng=rng), MaxPool2D(2), ReLU())
        flops = 2.0 * batch * o * size * size * c * 9
        bench_layer(f"Conv{c}->{o}+MaxPool+ReLU fused on {size}x{size}", block, x, flops, repeat)


def model_flops(model: Sequential, x: np.ndarray) -> float:
    """Multiply-add FLOPs of one training step: forward, dW and dx (none for the first layer)."""
    total, first = 0.0, True
    for layer in model:
        y = layer.forward(x)
        if isinstance(layer, Dense):
            fwd = 2.0 * x.shape[0] * layer.in_features * layer.out_features
        elif isinstance(layer, Conv2D):
            fwd = 2.0 * y.size * layer.in_channels * layer.kernel_size[0] * layer.kernel_size[1]
        else:
            fwd = 0.0
        if fwd:
            total += fwd * (2 if first else 3)
            first = False
        x = y
    return total


class MatmulClock:
    """While active, adds up the wall time spent inside ``np.matmul`` (by all threads) in ``total``."""

    def __init__(self) -> None:
        self.total, self._lock, self._real = 0.0, threading.Lock(), np.matmul

    def _timed(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self._real(*args, **kwargs)
        finally:
            with self._lock:
                self.total += time.perf_counter() - start

    def __enter__(self) -> "MatmulClock":
        np.matmul = self._timed
        return self

    def __exit__(self, *exc_info: object) -> None:
        np.matmul = self._real


def matmul_share(step: Callable[[], object], repeat: int) -> float:
    """Median over calls of (time inside np.matmul in this process) / (wall time of the call)."""
    shares = []
    with MatmulClock() as clock:
        for i in range(repeat + 3):
            clock.total = 0.0
            start = time.perf_counter()
            step()
            wall = time.perf_counter() - start
            if i >= 3:
                shares.append(clock.total / wall)
    return statistics.median(shares)


def parallel_step(parallel: DataParallel, optimizer: Adam, x: np.ndarray, y: np.ndarray) -> None:
    """One training step through DataParallel: zero the gradients, forward and backward, Adam."""
    optimizer.zero_grad()
    parallel.forward_backward(x, y)
    optimizer.step()


def bench_steps(batch: int, repeat: int) -> None:
    print(f"\n{f'train step, batch {batch}, fwd+bwd+Adam':<52s} {HEADER}  60k-epoch s (median / best)  "
          f"in matmul")
    rng = np.random.default_rng(0)
    x = rng.random((batch, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, batch)
    steps_per_epoch = math.ceil(EPOCH_IMAGES / batch)
    cases = [("MLP 784-256-128-10", mlp, False, 1, True), ("CNN conv16-pool-conv32-pool-128-10", cnn, False, 1, True),
             ("CNN, 2 data-parallel slices (as trained)", cnn, False, 2, True),
             ("CNN, 2 slices, layers one by one (fuse=False)", cnn, False, 2, False),
             ("MLP, also computing dL/dx of the input", mlp, True, 1, True),
             ("CNN, also computing dL/dx of the input", cnn, True, 1, True)]
    for name, build, input_grad, shards, fuse in cases:
        model = build(np.random.default_rng(0))
        model.input_grad = input_grad  # False: the input is data, its gradient is not needed
        model.fuse = fuse
        loss_fn, opt = SoftmaxCrossEntropy(), Adam(model.parameters())

        def step() -> None:
            opt.zero_grad()
            loss_fn.forward(model(x), y)
            model.backward(loss_fn.backward())
            opt.step()
        parallel = DataParallel(model, SoftmaxCrossEntropy, shards=shards)
        with parallel:
            run = step if shards == 1 else partial(parallel_step, parallel, opt, x, y)
            timing = time_call(run, repeat)
            share = matmul_share(run, repeat)  # this process's clock: core 0's share (see the docstring)
        parallel.close()
        row(name, timing, model_flops(model, x),
            f"{timing.median * steps_per_epoch:6.2f} / {timing.best * steps_per_epoch:5.2f}  {share:10.0%}")
        if not input_grad and shards == 1:
            row("  of which Adam.step()", time_call(opt.step, repeat))


def bench_processes_against_threads(batch: int, repeat: int) -> None:
    """The CNN's data-parallel step (2 slices) in worker processes and in threads, alternating step by step so that
    the machine's drifting load hits both alike: the ratio is the figure to read."""
    rng = np.random.default_rng(0)
    x, y = rng.random((batch, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, batch)
    runs = []
    for processes in (True, False):
        model = cnn(np.random.default_rng(0))
        runs.append((DataParallel(model, SoftmaxCrossEntropy, shards=2, processes=processes), Adam(model.parameters())))
    times: list[list[float]] = [[], []]
    with runs[0][0], runs[1][0]:
        for i in range(repeat + 3):
            for (parallel, opt), kept in zip(runs, times):
                start = time.perf_counter()
                parallel_step(parallel, opt, x, y)
                if i >= 3:
                    kept.append(time.perf_counter() - start)
    for parallel, _ in runs:
        parallel.close()
    in_processes, in_threads = statistics.median(times[0]), statistics.median(times[1])
    print(f"\nCNN step, 2 slices, alternating: worker processes {in_processes * 1e3:.3f} ms, threads "
          f"{in_threads * 1e3:.3f} ms, processes / threads {in_processes / in_threads:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30, help="timed calls per case (median reported)")
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args(argv)
    keep_freed_memory()  # as the digit benchmark's trainer does
    blas_env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                                           "OMP_NUM_THREADS") if k in os.environ}
    print(f"numpy {np.__version__}, python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"BLAS env {blas_env or 'unset'}\n")
    bench_matmul(args.repeat)
    bench_layers(args.batch, args.repeat)
    bench_steps(args.batch, args.repeat)
    bench_processes_against_threads(args.batch, 2 * args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
