"""The engine actually learns: XOR with an MLP, bar orientation with a CNN."""

import numpy as np

from engine import SGD, Adam, Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential, SoftmaxCrossEntropy, Tanh


def fit(model, optimizer, x, y, steps):
    loss_fn = SoftmaxCrossEntropy()
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        losses.append(loss_fn.forward(model(x), y))
        model.backward(loss_fn.backward())
        optimizer.step()
    return losses


def test_mlp_solves_xor():
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 0])
    rng = np.random.default_rng(0)
    model = Sequential(Dense(2, 8, init="glorot", rng=rng), Tanh(), Dense(8, 2, init="glorot", rng=rng))
    losses = fit(model, SGD(model.parameters(), lr=0.5, momentum=0.9), x, y, 300)
    assert losses[-1] < 0.05 < losses[0]
    assert (model(x).argmax(axis=1) == y).all()


def bars(n, size, rng):
    """Images with one horizontal (label 0) or vertical (label 1) bar at a random place, plus noise."""
    labels = rng.integers(0, 2, n)
    images = rng.normal(0, 0.2, (n, 1, size, size)).astype(np.float32)
    where = rng.integers(0, size, n)
    start = rng.integers(0, size // 2, n)
    for k in range(size // 2):  # draws every bar at once, one pixel along its length per iteration
        along = start + k
        horizontal = labels == 0
        images[horizontal, 0, where[horizontal], along[horizontal]] += 1.0
        images[~horizontal, 0, along[~horizontal], where[~horizontal]] += 1.0
    return images, labels


def test_cnn_learns_bar_orientation_to_full_train_accuracy():
    rng = np.random.default_rng(0)
    x, y = bars(128, 10, rng)
    model = Sequential(Conv2D(1, 6, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2), Flatten(), Dense(6 * 5 * 5, 2, rng=rng))
    fit(model, Adam(model.parameters(), lr=0.01), x, y, 100)
    model.eval()
    assert (model(x).argmax(axis=1) == y).mean() == 1.0
    # and it generalises to fresh bars, so it learnt orientation rather than memorising noise
    x_test, y_test = bars(200, 10, np.random.default_rng(1))
    assert (model(x_test).argmax(axis=1) == y_test).mean() > 0.9
