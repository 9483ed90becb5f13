"""Robust to how people draw: digits re-drawn at their own size, place and stroke thickness, then read through
to_mnist, are classified as well as the originals (a small version of scripts/draw_robustness.py).

No MNIST here (tests never download it): ten synthetic glyph classes drawn as pen strokes with random wobble
and stroke width, made MNIST-like by to_mnist, and the benchmark's CNN trained on them for a few epochs.
"""

import numpy as np
import pytest

from vision.models import build_model
from vision.preprocess import to_mnist_batch
from vision.redraw import DrawStyle, redraw, redraw_in_chunks
from vision.train import TrainConfig, train

# Ten glyphs as polylines in the unit square (x, y), y downwards.
_ARC = [(0.5 + 0.3 * np.sin(a), 0.5 - 0.4 * np.cos(a)) for a in np.linspace(0, 2 * np.pi, 13)]
GLYPHS = [
    [_ARC],                                                                       # 0: oval
    [[(0.5, 0.1), (0.5, 0.9)]],                                                   # 1: bar
    [[(0.2, 0.25), (0.5, 0.1), (0.8, 0.3), (0.2, 0.9), (0.85, 0.9)]],             # 2
    [[(0.2, 0.1), (0.8, 0.25), (0.4, 0.5), (0.8, 0.75), (0.2, 0.9)]],             # 3
    [[(0.6, 0.1), (0.15, 0.6), (0.85, 0.6)], [(0.6, 0.35), (0.6, 0.9)]],          # 4
    [[(0.8, 0.1), (0.25, 0.1), (0.2, 0.45), (0.75, 0.55), (0.7, 0.85), (0.2, 0.9)]],  # 5
    [[(0.7, 0.1), (0.25, 0.55), (0.3, 0.9), (0.75, 0.85), (0.7, 0.55), (0.28, 0.6)]],  # 6
    [[(0.15, 0.1), (0.85, 0.1), (0.35, 0.9)]],                                    # 7
    [[(0.5, 0.5), (0.2, 0.25), (0.5, 0.1), (0.8, 0.25), (0.2, 0.75), (0.5, 0.9), (0.8, 0.75), (0.5, 0.5)]],  # 8
    [[(0.75, 0.45), (0.3, 0.4), (0.3, 0.15), (0.75, 0.15), (0.75, 0.9)]],         # 9
]


def _segment_distance(ys, xs, p, q):
    """(N, H, W) distance of pixel centres to segments p-q, p and q: (N, 2) as (x, y)."""
    d = q - p
    length2 = np.maximum((d**2).sum(axis=1), 1e-12)[:, None, None]
    rx, ry = xs[None] - p[:, 0, None, None], ys[None] - p[:, 1, None, None]
    t = np.clip((rx * d[:, 0, None, None] + ry * d[:, 1, None, None]) / length2, 0, 1)
    return np.hypot(rx - t * d[:, 0, None, None], ry - t * d[:, 1, None, None])


def synthetic_digits(n, seed, side=48):
    """(n, 28, 28) MNIST-like glyphs and their labels: wobbly pen strokes through to_mnist."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    ys, xs = np.indices((side, side)) + 0.5
    images = np.empty((n, 28, 28), np.float32)
    for digit, strokes in enumerate(GLYPHS):
        rows = np.flatnonzero(labels == digit)
        distance = np.full((len(rows), side, side), np.inf)
        for stroke in strokes:
            points = np.array(stroke)[None] + rng.normal(0, 0.04, (len(rows), len(stroke), 2))
            points = (0.1 + 0.8 * points) * side
            for k in range(len(stroke) - 1):
                distance = np.minimum(distance, _segment_distance(ys, xs, points[:, k], points[:, k + 1]))
        radius = rng.uniform(0.03, 0.06, len(rows))[:, None, None] * side
        images[rows] = to_mnist_batch(np.clip(radius + 0.5 - distance, 0, 1))
    return images, labels


@pytest.fixture(scope="module")
def trained_cnn():
    x, y = synthetic_digits(800, seed=0)
    xv, yv = synthetic_digits(200, seed=1)
    model = build_model("cnn", 0)
    train(model, x[:, None], y, xv[:, None], yv, TrainConfig(epochs=2, batch_size=64, lr=2e-3, shards=2),
          log=lambda line: None, progress=False)
    return model


def _accuracy(model, images, labels):
    return float((model(images[:, None]).argmax(axis=1) == labels).mean())


def test_redrawn_digits_read_through_to_mnist_as_well_as_the_originals(trained_cnn):
    x, y = synthetic_digits(400, seed=2)
    original = _accuracy(trained_cnn, x, y)
    style = DrawStyle(canvas=140)  # sizes 0.6-1.6x, anywhere on the canvas, strokes 0.66x-1.6x as thick
    redrawn = np.concatenate([to_mnist_batch(c) for c in redraw_in_chunks(x, np.random.default_rng(3), style)])
    assert original > 0.9
    assert abs(_accuracy(trained_cnn, redrawn, y) - original) <= 0.02


def test_without_to_mnist_the_same_drawings_are_misread(trained_cnn):
    """The control that shows the check above can fail: the canvases merely shrunk to 28 x 28 (no bounding
    box, no centring) keep each drawing's size and place, and the CNN reads far fewer of them."""
    x, y = synthetic_digits(400, seed=2)
    canvases = redraw(x, np.random.default_rng(3), DrawStyle(canvas=140))
    shrunk = canvases.reshape(len(x), 28, 5, 28, 5).mean(axis=(2, 4))
    assert _accuracy(trained_cnn, shrunk, y) < _accuracy(trained_cnn, x, y) - 0.25
