"""Data-parallel slices (engine.parallel) against the plain single-model step, and the BLAS thread control."""

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


def parallel_step(model: Sequential, x: np.ndarray, y: np.ndarray, shards: int, workers: int | None = None):
    for p in model.parameters():
        p.grad.fill(0)
    with DataParallel(model, SoftmaxCrossEntropy, shards=shards, workers=workers) as parallel:
        loss, logits = parallel.forward_backward(x, y)
    return loss, logits, [p.grad.copy() for p in model.parameters()]


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
    def run(shards: int) -> list[float]:
        model = small_cnn(3)
        optimizer = Adam(model.parameters(), lr=0.01)
        losses = []
        with DataParallel(model, SoftmaxCrossEntropy, shards=shards) as parallel:
            for step in range(5):
                x, y = batch(12, seed=step)
                optimizer.zero_grad()
                losses.append(parallel.forward_backward(x, y)[0])
                optimizer.step()
        return losses

    single, sliced = run(1), run(2)
    np.testing.assert_allclose(sliced, single, rtol=1e-4)  # stale shared weights would drift from step 2 on
    assert single[-1] < single[0]
    assert run(2) == sliced


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
