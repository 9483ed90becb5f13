"""The fast Conv2D and pools against the slow loop implementations in reference_impls.py."""

import numpy as np
import pytest

import reference_impls as ref
import engine.conv
from engine import AvgPool2D, Conv2D, MaxPool2D, ReLU, col2im, im2col
from engine.layout import in_memory_order, inverse, memory_order

CASES = [
    # (batch, in_ch, out_ch, kernel, stride, padding, H, W)
    (1, 1, 1, 1, 1, 0, 3, 3),
    (2, 1, 4, 3, 1, 1, 8, 8),
    (2, 3, 2, 3, 2, 1, 7, 9),
    (1, 2, 3, 5, 1, 2, 6, 5),
    (3, 2, 2, 5, 2, 0, 11, 9),
    (2, 4, 3, 3, 1, 0, 5, 6),
    (1, 3, 5, 1, 2, 1, 6, 7),
    (2, 2, 2, 3, 3, 2, 9, 7),
]


@pytest.mark.parametrize("chunked", [False, True], ids=["one-chunk", "per-sample-chunks"])
@pytest.mark.parametrize("batch,cin,cout,kernel,stride,padding,h,w", CASES)
def test_conv2d_matches_loops(batch, cin, cout, kernel, stride, padding, h, w, chunked, monkeypatch):
    if chunked:  # the backward folds dcols back, and sums the weight gradient, a slice of samples at a time;
        monkeypatch.setattr(engine.conv, "_CHUNK_BYTES", 1)  # force one sample per slice for both
        monkeypatch.setattr(engine.conv, "_BLOCK_COLUMNS", 1)
    rng = np.random.default_rng(batch * 100 + h)
    layer = Conv2D(cin, cout, kernel, stride=stride, padding=padding, rng=rng, dtype=np.float64)
    layer.bias.data[:] = rng.standard_normal(cout)
    x = rng.standard_normal((batch, cin, h, w))
    y = layer.forward(x)
    np.testing.assert_allclose(y, ref.conv2d(x, layer.weight.data, layer.bias.data, stride, padding),
                               rtol=1e-10, atol=1e-10)
    g = rng.standard_normal(y.shape)
    dx = layer.backward(g)
    want_dx, want_dw, want_db = ref.conv2d_backward(x, layer.weight.data, stride, padding, g)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(layer.weight.grad, want_dw, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(layer.bias.grad, want_db, rtol=1e-10, atol=1e-10)


def test_conv2d_gradients_accumulate_and_param_backward_matches():
    rng = np.random.default_rng(0)
    layer = Conv2D(2, 3, 3, padding=1, rng=rng, dtype=np.float64)
    x, g = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((2, 3, 5, 5))
    layer.forward(x)
    layer.backward(g)
    once = layer.weight.grad.copy()
    layer.param_backward(g)
    np.testing.assert_allclose(layer.weight.grad, 2 * once)


def test_conv2d_outputs_of_successive_calls_do_not_share_memory():
    """Outputs are views into the layer's result buffers: a second call must not overwrite the first's."""
    rng = np.random.default_rng(1)
    layer = Conv2D(2, 3, 3, padding=1, rng=rng)
    x1, x2 = rng.standard_normal((2, 2, 6, 6), dtype=np.float32), rng.standard_normal((2, 2, 6, 6), dtype=np.float32)
    y1 = layer.forward(x1)
    kept = y1.copy()
    dx1 = layer.backward(np.ones_like(y1))
    kept_dx = dx1.copy()
    layer.forward(x2)
    layer.backward(np.full_like(y1, 2.0))
    np.testing.assert_array_equal(y1, kept)
    np.testing.assert_array_equal(dx1, kept_dx)


def channel_major(x: np.ndarray) -> np.ndarray:
    """The same (N, C, H, W) values stored channel by channel, as Conv2D returns them."""
    return np.ascontiguousarray(x.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)


@pytest.mark.parametrize("layout", ["batch-major", "channel-major"])
@pytest.mark.parametrize("kernel,stride,shape", [(2, 2, (2, 3, 8, 6)), (2, 2, (1, 2, 7, 5)), (3, 2, (2, 2, 9, 7)),
                                                 (3, 1, (1, 2, 5, 6)), (2, 3, (2, 1, 8, 8)), (1, 1, (1, 1, 3, 4))])
def test_pools_match_loops(kernel, stride, shape, layout):
    rng = np.random.default_rng(sum(shape))
    x = np.round(rng.standard_normal(shape), 1)  # rounding makes ties, which must go to the first maximum
    x = np.maximum(x, 0)  # like after a ReLU: many all-zero windows
    if layout == "channel-major":
        x = channel_major(x)
    for layer, forward, backward in [(MaxPool2D(kernel, stride), ref.maxpool2d, ref.maxpool2d_backward),
                                     (AvgPool2D(kernel, stride), ref.avgpool2d, ref.avgpool2d_backward)]:
        y = layer.forward(x)
        np.testing.assert_allclose(y, forward(x, kernel, stride), rtol=1e-12, atol=1e-12)
        g = rng.standard_normal(y.shape)
        np.testing.assert_allclose(layer.backward(g), backward(x, kernel, stride, g), rtol=1e-12, atol=1e-12)
    if layout == "channel-major" and (kernel, stride) == (2, 2) and shape[0] > 1:
        pool = MaxPool2D(2)  # the fast path keeps the layout it is given, so the next layer needs no copy
        y = pool.forward(x)
        assert memory_order(y) == memory_order(pool.backward(np.ones_like(y))) == (1, 0, 2, 3)


@pytest.mark.parametrize("shape,perm", [((3, 4, 5, 6), (1, 0, 2, 3)), ((3, 4, 5, 6), (0, 1, 2, 3)),
                                        ((4, 7), (1, 0)), ((5,), (0,)), ((2, 1, 3), (2, 0, 1))])
def test_relu_on_any_layout_matches_and_keeps_it(shape, perm):
    rng = np.random.default_rng(len(shape))
    stored = rng.standard_normal([shape[axis] for axis in perm]).astype(np.float32)
    x = stored.transpose(inverse(perm))  # shape `shape`, memory in `perm` order
    relu = ReLU()
    y = relu.forward(x)
    np.testing.assert_array_equal(y, np.maximum(np.asarray(x), 0))
    assert y.shape == x.shape and y.dtype == np.float32
    assert memory_order(y) == memory_order(x) or x.ndim == 1
    g = rng.standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(relu.backward(g), g * (np.asarray(x) > 0))


def test_memory_order_and_inverse():
    x = np.zeros((2, 3, 4, 5)).transpose(2, 0, 3, 1)
    order = memory_order(x)
    assert x.transpose(order).flags.c_contiguous
    assert x.transpose(order).transpose(inverse(order)).shape == x.shape
    view, undo = in_memory_order(x)
    assert view.flags.c_contiguous and view.transpose(undo).shape == x.shape


@pytest.mark.parametrize("kernel,stride,padding", [(3, 1, 1), (3, 2, 0), (2, 2, 1), (5, 3, 2)])
def test_col2im_is_the_adjoint_of_im2col(kernel, stride, padding):
    """<im2col(x), c> == <x, col2im(c)> for all x, c: the defining property of the backward."""
    rng = np.random.default_rng(kernel)
    x = rng.standard_normal((2, 3, 7, 8))
    cols = im2col(x, kernel, stride, padding)
    c = rng.standard_normal(cols.shape)
    assert np.isclose(np.sum(cols * c), np.sum(x * col2im(c, x.shape, kernel, stride, padding)), rtol=1e-12)
    # and each column really holds the pixels under the kernel
    xpad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    assert cols[1 * kernel * kernel + 0, 1, 0, 0] == xpad[1, 1, 0, 0]
    assert cols[kernel * kernel - 1, 0, 1, 0] == xpad[0, 0, stride + kernel - 1, kernel - 1]
