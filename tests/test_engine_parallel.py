"""Data-parallel slices (engine.parallel) against the plain single-model step, worker processes against threads,
and the BLAS thread control."""

import os
import signal

import numpy as np
import pytest

from engine import (Adam, Conv2D, DataParallel, Dense, Dropout, Flatten, MaxPool2D, ReLU, Sequential,
                    SoftmaxCrossEntropy, blas_thread_control, blas_threads)
from engine.blas import blas_thread_count


def small_cnn(seed: int, dropout: float = 0.0) -> Sequential:
    rng = np.random.default_rng(seed)
    return Sequential(Conv2D(1, 4, 3, padding=1, rng=rng), MaxPool2D(2), ReLU(), Flatten(),
                      Dropout(dropout, rng=rng), Dense(4 * 4 * 4, 16, rng=rng), ReLU(), Dense(16, 3, rng=rng))


def batch(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, 8, 8)).astype(np.float32), rng.integers(0, 3, n)


def plain_step(model: Sequential, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, list[np.ndarray]]:
    """The reference: one model over the whole batch."""
    loss_fn = SoftmaxCrossEntropy()
    for p in model.parameters():
        p.grad.fill(0)
    logits = model(x)
    loss = loss_fn.forward(logits, y)
    model.backward(loss_fn.backward())
    return loss, logits, [p.grad.copy() for p in model.parameters()]


def parallel_step(model: Sequential, x: np.ndarray, y: np.ndarray, shards: int, workers: int | None = None,
                  processes: bool = True):
    for p in model.parameters():
        p.grad.fill(0)
    parallel = DataParallel(model, SoftmaxCrossEntropy, shards=shards, workers=workers, processes=processes)
    with parallel:
        loss, logits = parallel.forward_backward(x, y)
    parallel.close()
    return loss, logits, [p.grad.copy() for p in model.parameters()]


def train(model: Sequential, steps: int, **options) -> list[float]:
    """A few Adam steps over fixed batches in one DataParallel; the losses."""
    optimizer = Adam(model.parameters(), lr=0.01)
    losses = []
    parallel = DataParallel(model, SoftmaxCrossEntropy, **options)
    for step in range(steps):
        with parallel:  # entered once per step here: re-entering must keep the workers and the weights in step
            x, y = batch(12, seed=step)
            optimizer.zero_grad()
            losses.append(parallel.forward_backward(x, y)[0])
            optimizer.step()
    parallel.close()
    return losses


@pytest.mark.parametrize("n,shards", [(16, 2), (7, 3), (1, 2), (5, 1), (9, 4)])
def test_slices_add_up_to_the_whole_batch_gradient(n, shards):
    x, y = batch(n)
    want_loss, want_logits, want_grads = plain_step(small_cnn(1), x, y)
    loss, logits, grads = parallel_step(small_cnn(1), x, y, shards)
    assert loss == pytest.approx(want_loss, rel=1e-5)
    np.testing.assert_allclose(logits, want_logits, rtol=1e-5, atol=1e-6)
    for got, want in zip(grads, want_grads):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_result_does_not_depend_on_the_number_of_threads():
    x, y = batch(24)
    one = parallel_step(small_cnn(2, dropout=0.3), x, y, shards=3, workers=1)
    three = parallel_step(small_cnn(2, dropout=0.3), x, y, shards=3, workers=3)
    assert one[0] == three[0]
    for a, b in zip(one[2], three[2]):
        np.testing.assert_array_equal(a, b)


def test_replicas_see_every_optimiser_step_and_training_is_reproducible():
    single, sliced = train(small_cnn(3), 5, shards=1), train(small_cnn(3), 5, shards=2)
    np.testing.assert_allclose(sliced, single, rtol=1e-4)  # stale shared weights would drift from step 2 on
    assert single[-1] < single[0]
    assert train(small_cnn(3), 5, shards=2) == sliced


def test_dropout_slices_draw_their_own_masks():
    model = small_cnn(4, dropout=0.5)
    parallel = DataParallel(model, SoftmaxCrossEntropy, shards=2, workers=1)
    x = np.ones((2, 1, 8, 8), dtype=np.float32)  # two identical samples, one per slice
    with parallel:
        parallel.forward_backward(x, np.zeros(2, dtype=np.int64))
    masks = [replica.layers[4]._mask for replica in parallel.replicas]
    assert masks[0].shape == masks[1].shape == (1, 64)
    assert not np.array_equal(masks[0], masks[1])


def test_eval_mode_reaches_the_replicas():
    model = small_cnn(5, dropout=0.5)
    x, y = batch(4)
    model.eval()
    with DataParallel(model, SoftmaxCrossEntropy, shards=2) as parallel:
        _, logits = parallel.forward_backward(x, y)
    np.testing.assert_allclose(logits, model(x), rtol=1e-5, atol=1e-6)  # no dropout applied in either


def test_rejects_zero_shards():
    with pytest.raises(ValueError, match="shards must be >= 1"):
        DataParallel(small_cnn(0), SoftmaxCrossEntropy, shards=0)


def test_blas_threads_is_restored_after_the_block():
    if not blas_thread_control():
        with blas_threads(1) as limited:
            assert limited is False
        return
    before = blas_thread_count()
    with blas_threads(1) as limited:
        assert limited and blas_thread_count() == 1
        with blas_threads(2):  # nested blocks restore what they found
            assert blas_thread_count() == 2
        assert blas_thread_count() == 1
    assert blas_thread_count() == before


@pytest.mark.skipif(os.cpu_count() == 1, reason="worker processes need a second core")
def test_worker_processes_compute_exactly_what_threads_compute():
    x, y = batch(24)
    for shards in (2, 3):
        threads = parallel_step(small_cnn(6, dropout=0.3), x, y, shards=shards, workers=2, processes=False)
        processes = parallel_step(small_cnn(6, dropout=0.3), x, y, shards=shards, workers=2, processes=True)
        assert processes[0] == threads[0]
        np.testing.assert_array_equal(processes[1], threads[1])
        for a, b in zip(processes[2], threads[2]):
            np.testing.assert_array_equal(a, b)
    # and over several optimiser steps (the workers must see every update of the shared weights)
    by_threads = train(small_cnn(7, dropout=0.3), 4, shards=2, workers=2, processes=False)
    by_processes = train(small_cnn(7, dropout=0.3), 4, shards=2, workers=2, processes=True)
    assert by_processes == by_threads and by_processes[-1] < by_processes[0]


def entered_with_a_worker(model: Sequential) -> DataParallel:
    parallel = DataParallel(model, SoftmaxCrossEntropy, shards=2, workers=2)
    parallel.__enter__()
    if not parallel._processes:
        parallel.__exit__()
        pytest.skip("no controllable BLAS or a single core: the slices run in this process")
    return parallel


def test_weights_are_shared_only_while_entered_and_rebinding_reaches_the_worker():
    model = small_cnn(8)
    x, y = batch(8)
    parallel = entered_with_a_worker(model)
    try:
        first = model.parameters()[0].data
        assert first.base is not None  # a view into the shared block
        reference = small_cnn(8)
        model.parameters()[0].data = reference.parameters()[0].data * 2  # rebound while entered
        reference.parameters()[0].data *= 2
        for p in model.parameters():
            p.grad.fill(0)
        loss, _ = parallel.forward_backward(x, y)
        assert loss == pytest.approx(plain_step(reference, x, y)[0], rel=1e-5)
    finally:
        parallel.__exit__()
    assert all(p.data.base is None for p in model.parameters())  # private copies again
    parallel.close()
    assert not parallel._processes


def test_outside_the_block_every_slice_runs_here_on_the_current_weights():
    x, y = batch(10)
    model = small_cnn(12)
    parallel = entered_with_a_worker(model)
    parallel.forward_backward(x, y)
    parallel.__exit__()
    for p in model.parameters():  # changed after the block: a worker computing now would use stale weights
        p.data *= 0.5
        p.grad.fill(0)
    loss, logits = parallel.forward_backward(x, y)
    parallel.close()
    reference = small_cnn(12)
    for p in reference.parameters():
        p.data *= 0.5
    want_loss, want_logits, want_grads = plain_step(reference, x, y)
    assert loss == pytest.approx(want_loss, rel=1e-5)
    np.testing.assert_allclose(logits, want_logits, rtol=1e-5, atol=1e-6)
    for got, want in zip([p.grad for p in model.parameters()], want_grads):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_without_shared_memory_the_slices_run_in_threads(monkeypatch):
    import engine.parallel

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "/dev/shm/psm_test")
    monkeypatch.setattr(engine.parallel, "SharedMemory", refused)
    x, y = batch(12)
    want = parallel_step(small_cnn(13, dropout=0.3), x, y, shards=2, workers=2, processes=False)
    with pytest.warns(RuntimeWarning, match="no worker processes here .*Permission denied.*slices run in threads"):
        got = parallel_step(small_cnn(13, dropout=0.3), x, y, shards=2, workers=2, processes=True)
    assert got[0] == want[0]
    for a, b in zip(got[2], want[2]):
        np.testing.assert_array_equal(a, b)


def test_an_error_in_the_worker_is_raised_here_with_its_message():
    parallel = entered_with_a_worker(small_cnn(9))
    try:
        with pytest.raises(ValueError, match=r"Conv2D expects input \(N, 1, H, W\)"):
            parallel.forward_backward(np.zeros((4, 2, 8, 8), np.float32), np.zeros(4, np.int64))
        x, y = batch(4)
        assert np.isfinite(parallel.forward_backward(x, y)[0])  # and it goes on working
    finally:
        parallel.__exit__()
        parallel.close()


def test_a_killed_worker_gives_one_clear_error():
    parallel = entered_with_a_worker(small_cnn(10))
    try:
        worker = parallel._processes[0].process
        os.kill(worker.pid, signal.SIGKILL)
        worker.join(timeout=10)
        x, y = batch(4)
        with pytest.raises(RuntimeError, match="data-parallel worker process stopped"):
            parallel.forward_backward(x, y)
    finally:
        parallel.__exit__()
        parallel.close()
