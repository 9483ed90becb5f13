"""Trainer, evaluation, augmentation and the progress bar, on tiny synthetic data."""

import io

import numpy as np
import pytest

import engine.blas

from vision.augment import random_shift
from vision.evaluate import confusion_matrix, evaluate
from vision.models import PRESETS, build_model
from vision.progress import ProgressBar, format_bytes, format_duration
from vision.train import TrainConfig, train


def _bars(n, seed):
    """Learnable toy digits: class c is a bright horizontal bar at row 2 + 2c, plus noise. (N, 1, 28, 28)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    images = rng.random((n, 1, 28, 28), dtype=np.float32) * np.float32(0.3)
    rows = 2 + 2 * labels
    images[np.arange(n), 0, rows, 4:24] = 1.0
    return images, labels


def test_confusion_matrix_matches_a_slow_reference():
    rng = np.random.default_rng(0)
    labels, predictions = rng.integers(0, 10, 500), rng.integers(0, 10, 500)
    expected = np.zeros((10, 10), dtype=np.int64)
    for t, p in zip(labels, predictions):
        expected[t, p] += 1
    np.testing.assert_array_equal(confusion_matrix(labels, predictions), expected)


def test_random_shift_matches_a_slow_reference():
    rng_images = np.random.default_rng(1)
    images = rng_images.random((7, 2, 6, 5), dtype=np.float32)
    shifted = random_shift(images, np.random.default_rng(9), max_shift=2)
    dy, dx = np.random.default_rng(9).integers(0, 5, size=(2, 7))  # the same draws, made the same way
    for i in range(7):
        padded = np.pad(images[i], ((0, 0), (2, 2), (2, 2)))
        np.testing.assert_array_equal(shifted[i], padded[:, dy[i]:dy[i] + 6, dx[i]:dx[i] + 5])
    assert shifted.dtype == np.float32 and shifted.shape == images.shape
    assert random_shift(images, np.random.default_rng(0), max_shift=0) is images


def test_progress_bar_off_a_terminal_prints_one_summary_line():
    stream = io.StringIO()
    with ProgressBar(4, "epoch 1/3", unit="batch", stream=stream) as bar:
        for _ in range(4):
            bar.update(1, loss=0.25)
        assert stream.getvalue() == ""
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and "epoch 1/3" in lines[0] and "100%" in lines[0] and "4/4" in lines[0]
    assert "loss 0.25" in lines[0]
    transient = io.StringIO()
    with ProgressBar(4, stream=transient, transient=True) as bar:
        bar.update(4)
    assert transient.getvalue() == ""
    assert format_duration(75.4) == "1:15" and format_duration(3725) == "1:02:05"
    assert format_bytes(1536) == "1.5 KB" and format_bytes(100) == "100 B"


def test_presets_have_the_reference_shapes():
    assert build_model("mlp", 0).num_parameters() == 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10
    cnn = build_model("cnn", 0)
    assert cnn.num_parameters() == (16 * 9 + 16) + (32 * 16 * 9 + 32) + (1568 * 128 + 128) + (128 * 10 + 10)
    x = np.zeros((3, 1, 28, 28), np.float32)
    for name in PRESETS:
        out = build_model(name, 0).eval()(x)
        assert out.shape == (3, 10) and out.dtype == np.float32


@pytest.mark.parametrize("preset,shards", [("mlp", 1), ("cnn", 2)])
def test_training_learns_and_is_reproducible(preset, shards):
    x, y = _bars(600, 0)
    xv, yv = _bars(200, 1)
    config = TrainConfig(epochs=2, batch_size=64, lr=2e-3, seed=3, shards=shards)
    runs = []
    for seed in (3, 3, 4):
        model = build_model(preset, seed)
        result = train(model, x, y, xv, yv, TrainConfig(**{**config.__dict__, "seed": seed}),
                       log=lambda m: None, progress=False)
        runs.append((result, model.state_dict()))
    (first, w1), (second, w2), (other, w3) = runs
    assert [r.train_loss for r in first.history] == [r.train_loss for r in second.history]
    for key in w1:
        np.testing.assert_array_equal(w1[key], w2[key])
    assert any(not np.array_equal(w1[k], w3[k]) for k in w1)
    assert first.history[-1].val_accuracy > 0.9
    assert first.history[-1].train_loss < first.history[0].train_loss
    assert first.history[-1].lr == pytest.approx(0.0, abs=1e-9)  # cosine decays to 0 at the end
    assert first.images_per_second > 0 and first.train_seconds > 0
    model = build_model(preset, 3)
    untrained = evaluate(model, xv, yv).accuracy
    model.load_state_dict(w1)  # the kept weights are those of the best validation epoch
    assert evaluate(model, xv, yv).accuracy == first.history[first.best_epoch - 1].val_accuracy != untrained


def test_early_stopping_keeps_the_best_epoch():
    x, y = _bars(200, 0)
    config = TrainConfig(epochs=6, batch_size=50, lr=1e-12, patience=2, schedule="constant")
    result = train(build_model("mlp", 0), x, y, x, y, config, log=lambda m: None, progress=False)
    assert result.stopped_early and len(result.history) == 3 and result.best_epoch == 1


class _InterruptAfter(np.ndarray):
    """An array whose batch gathers raise KeyboardInterrupt after ``budget`` of them (simulates Ctrl-C)."""
    budget = 0

    def __getitem__(self, index):
        if isinstance(index, np.ndarray):
            type(self).budget -= 1
            if type(self).budget < 0:
                raise KeyboardInterrupt
        return np.asarray(self).__getitem__(index)


@pytest.mark.parametrize("shards", [1, 2])
def test_ctrl_c_keeps_the_completed_epochs(shards):
    x, y = _bars(200, 0)
    _InterruptAfter.budget = 2 * 2 + 1  # two epochs of two batches, then Ctrl-C during the third epoch
    messages = []
    threads_before = _blas_threads()
    result = train(build_model("mlp", 0), x.view(_InterruptAfter), y, x, y,
                   TrainConfig(epochs=5, batch_size=100, shards=shards), log=messages.append, progress=False)
    assert result.interrupted and len(result.history) == 2
    assert any("interrupted" in m for m in messages)
    assert _blas_threads() == threads_before  # the data-parallel loop gave BLAS its threads back


def _blas_threads():
    return engine.blas.blas_thread_count()
