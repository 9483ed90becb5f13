"""to_mnist on synthetic shapes: centring, scaling, aspect, empty canvas; against a slow reference."""

import numpy as np
import pytest

from vision.preprocess import BOX, CENTRE, footprint_matrix, to_mnist, to_mnist_batch
from vision.redraw import DrawStyle, place, redraw


def _centre_of_mass(image):
    ys, xs = np.indices(image.shape)
    return (ys * image).sum() / image.sum(), (xs * image).sum() / image.sum()


def _disc(side, cy, cx, radius):
    ys, xs = np.indices((side, side)) + 0.5
    return (np.hypot(ys - cy, xs - cx) <= radius).astype(np.float32)


def _ring_with_tail(side, cy, cx, size):
    """An asymmetric glyph (a ring and a tail) whose drawing scales with ``size``."""
    ys, xs = np.indices((side, side)) + 0.5
    ring = np.abs(np.hypot(ys - cy, xs - cx) - 0.3 * size) < 0.07 * size
    tail = (np.abs(xs - (cx + 0.3 * size)) < 0.07 * size) & (ys > cy) & (ys < cy + 0.7 * size)
    return (ring | tail).astype(np.float32)


def _slow_footprint(start, scale, n_in, n_out=28, samples=200):
    """Overlap of each output footprint with each input pixel, by counting sub-sample points (loops)."""
    matrix = np.zeros((n_out, n_in))
    for i in range(n_out):
        for k in range(samples):
            position = start + (i + (k + 0.5) / samples) * scale
            j = int(np.floor(position))
            if 0 <= j < n_in:
                matrix[i, j] += 1 / samples
    return matrix


@pytest.mark.parametrize("start, scale, n_in", [(0.0, 1.0, 28), (-3.2, 2.7, 60), (5.5, 0.45, 20), (-40.0, 9.3, 200)])
def test_footprint_matrix_matches_a_slow_reference(start, scale, n_in):
    fast = footprint_matrix(np.array([start]), np.array([scale]), n_in)[0]
    np.testing.assert_allclose(fast, _slow_footprint(start, scale, n_in), atol=0.011)
    inside = fast.sum(axis=1)  # a footprint fully on the canvas averages weights summing to 1
    starts = start + np.arange(28) * scale
    full = (starts >= 0) & (starts + scale <= n_in)
    np.testing.assert_allclose(inside[full], 1.0, atol=1e-5)


def test_empty_canvas_gives_a_blank_digit():
    out = to_mnist(np.zeros((300, 200), np.float32))
    assert out.shape == (28, 28) and out.dtype == np.float32 and not out.any()
    batch = to_mnist_batch(np.stack([np.zeros((50, 50)), _disc(50, 20, 20, 8)]))
    assert not batch[0].any() and batch[1].any()


@pytest.mark.parametrize("cy, cx", [(60, 60), (250, 90), (100, 330)])
def test_centre_of_mass_lands_in_the_centre(cy, cx):
    out = to_mnist(_ring_with_tail(400, cy, cx, 120))
    y, x = _centre_of_mass(out)
    assert abs(y - CENTRE) < 0.05 and abs(x - CENTRE) < 0.05


@pytest.mark.parametrize("height, width", [(200, 100), (80, 240), (30, 30), (400, 12)])
def test_longer_side_becomes_20_pixels_and_the_aspect_is_kept(height, width):
    canvas = np.zeros((450, 450), np.float32)
    canvas[37:37 + height, 101:101 + width] = 1.0
    out = to_mnist(canvas)
    # Ink mass scales with the area: (h * w) canvas pixels shrink by (20 / longest)^2.
    scale = max(height, width) / BOX
    assert out.sum() == pytest.approx(height * width / scale**2, rel=1e-4)
    # A rectangle's extent along an axis is its mass over its thickest cross-section.
    rows, cols = out.sum() / out.sum(axis=1).max(), out.sum() / out.sum(axis=0).max()
    assert abs(rows - height / scale) <= 1 and abs(cols - width / scale) <= 1
    assert abs(max(rows, cols) - BOX) <= 1


def _relative_difference(a, b):
    return np.abs(a - b).sum() / b.sum()


def test_same_drawing_at_any_size_and_place_gives_the_same_digit():
    reference = to_mnist(_ring_with_tail(480, 240, 240, 300))
    for cy, cx, size in [(90, 100, 120), (300, 330, 200), (150, 330, 260)]:  # all inside the 480 x 480 canvas
        assert _relative_difference(to_mnist(_ring_with_tail(480, cy, cx, size)), reference) < 0.06
    blob = to_mnist(_disc(480, 240, 240, 150))  # a different drawing is far from it
    assert _relative_difference(blob, reference) > 0.5


def test_batch_equals_one_by_one():
    canvases = np.stack([_ring_with_tail(200, 80 + 10 * k, 100, 60 + 10 * k) for k in range(4)])
    batch = to_mnist_batch(canvases)
    for canvas, out in zip(canvases, batch):
        np.testing.assert_allclose(to_mnist(canvas), out, atol=1e-6)


def test_a_digit_placed_on_a_canvas_reads_back_as_itself():
    """Enlarging (bilinear) and shrinking back (area averaging) blurs a thin stroke a little, nothing more."""
    digit = to_mnist(_ring_with_tail(300, 150, 150, 200))  # an MNIST-style digit
    for side in (224, 448):
        again = to_mnist(place(digit, side))
        assert _relative_difference(again, digit) < 0.3
        assert np.allclose(_centre_of_mass(again), CENTRE, atol=0.05)
        assert np.corrcoef(again.ravel(), digit.ravel())[0, 1] > 0.95


def test_redraw_keeps_every_digit_on_the_canvas_with_its_own_size():
    digits = np.stack([to_mnist(_ring_with_tail(300, 150, 150, 200))] * 40)
    canvases = redraw(digits, np.random.default_rng(0), DrawStyle(canvas=140))
    assert canvases.shape == (40, 140, 140) and set(np.unique(canvases)) <= {0.0, 1.0}
    heights = np.array([np.ptp(np.flatnonzero(c.any(axis=1))) for c in canvases])
    assert heights.min() < 0.45 * heights.max()                 # sizes vary (0.6x to 1.6x)
    assert (canvases[:, 0].any(axis=1) | canvases[:, -1].any(axis=1)).mean() < 0.5  # not all cut at an edge
    again = redraw(digits, np.random.default_rng(0), DrawStyle(canvas=140))
    np.testing.assert_array_equal(canvases, again)              # seeded


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="canvas of shape"):
        to_mnist(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="canvases of shape"):
        to_mnist_batch(np.zeros((3, 4)))
