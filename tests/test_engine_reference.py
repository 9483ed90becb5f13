"""The fast layers (and their kernels) against the slow loop versions in engine/reference.py, over many shapes."""

import numpy as np
import pytest

import engine.kernels.conv
from engine import (AvgPool2D, Conv2D, Dense, LeakyReLU, MaxPool2D, MSELoss, ReLU, Sigmoid, SoftmaxCrossEntropy,
                    Tanh, col2im, im2col)
from engine import reference as ref
from engine.kernels import MaxPool2x2
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
    (3, 1, 2, (2, 3), 1, 1, 5, 4),
    (2, 2, 1, (3, 1), 2, 0, 6, 3),
]


def random_conv_cases(count: int, seed: int = 0) -> list[tuple]:
    """More shapes, drawn at random (fixed seed): kernel up to 4, stride up to 3, padding up to 2."""
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        kernel = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
        stride, padding = int(rng.integers(1, 4)), int(rng.integers(0, 3))
        h, w = int(rng.integers(1, 9)), int(rng.integers(1, 9))
        if h + 2 * padding >= kernel[0] and w + 2 * padding >= kernel[1]:
            cases.append((int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 4)), kernel, stride,
                          padding, h, w))
    return cases


def check_conv(batch, cin, cout, kernel, stride, padding, h, w, dtype=np.float64, tol=1e-10):
    rng = np.random.default_rng(batch * 100 + h * 10 + w)
    layer = Conv2D(cin, cout, kernel, stride=stride, padding=padding, rng=rng, dtype=dtype)
    layer.bias.data[:] = rng.standard_normal(cout)
    x = rng.standard_normal((batch, cin, h, w)).astype(dtype)
    y = layer.forward(x)
    np.testing.assert_allclose(y, ref.conv2d(x, layer.weight.data, layer.bias.data, stride, padding),
                               rtol=tol, atol=tol)
    g = rng.standard_normal(y.shape).astype(dtype)
    dx = layer.backward(g)
    want_dx, want_dw, want_db = ref.conv2d_backward(x, layer.weight.data, stride, padding, g)
    np.testing.assert_allclose(dx, want_dx, rtol=tol, atol=tol)
    np.testing.assert_allclose(layer.weight.grad, want_dw, rtol=tol, atol=tol)
    np.testing.assert_allclose(layer.bias.grad, want_db, rtol=tol, atol=tol)
    assert y.dtype == dx.dtype == dtype


@pytest.mark.parametrize("chunked", [False, True], ids=["one-chunk", "per-sample-chunks"])
@pytest.mark.parametrize("batch,cin,cout,kernel,stride,padding,h,w", CASES)
def test_conv2d_matches_loops(batch, cin, cout, kernel, stride, padding, h, w, chunked, monkeypatch):
    if chunked:  # the backward folds dcols back, and sums the weight gradient, a slice of samples at a time;
        monkeypatch.setattr(engine.kernels.conv, "_CHUNK_BYTES", 1)  # force one sample per slice for both
        monkeypatch.setattr(engine.kernels.conv, "_BLOCK_COLUMNS", 1)
    check_conv(batch, cin, cout, kernel, stride, padding, h, w)


@pytest.mark.parametrize("case", random_conv_cases(24), ids=str)
def test_conv2d_matches_loops_on_random_shapes(case):
    check_conv(*case)


def test_conv2d_float32_matches_loops_at_float32_precision():
    check_conv(4, 3, 5, 3, 1, 1, 9, 8, dtype=np.float32, tol=2e-5)


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


def test_conv2d_workspace_refuses_foreign_columns():
    layer = Conv2D(1, 2, 3)
    layer.forward(np.zeros((1, 1, 4, 4), np.float32))
    with pytest.raises(ValueError, match="returned by this workspace's im2col"):
        layer.fast.matmul_bias(layer.weight.data.reshape(2, -1), layer.bias.data, np.zeros((9, 8), np.float32))


def channel_major(x: np.ndarray) -> np.ndarray:
    """The same (N, C, H, W) values stored channel by channel, as Conv2D returns them."""
    return np.ascontiguousarray(x.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)


POOL_CASES = [(2, 2, (2, 3, 8, 6)), (2, 2, (1, 2, 7, 5)), (3, 2, (2, 2, 9, 7)), (3, 1, (1, 2, 5, 6)),
              (2, 3, (2, 1, 8, 8)), (1, 1, (1, 1, 3, 4)), ((2, 3), (1, 2), (2, 2, 6, 7)), (2, 2, (3, 2, 2, 2)),
              (2, 2, (2, 3, 5, 9))]


@pytest.mark.parametrize("layout", ["batch-major", "channel-major"])
@pytest.mark.parametrize("kernel,stride,shape", POOL_CASES)
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


@pytest.mark.parametrize("seed", range(6))
def test_maxpool_2x2_kernel_agrees_with_the_general_path(seed):
    """The 2x2 fast path and the general offset-by-offset path give identical values and gradients."""
    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in rng.integers(1, 4, 2)) + tuple(int(v) for v in rng.integers(2, 10, 2))
    x = np.maximum(np.round(rng.standard_normal(shape), 1), 0).astype(np.float32)
    fast, general = MaxPool2x2(), MaxPool2D((2, 2), (2, 2))
    general._fast = None  # force the general path
    y = fast.forward(x)
    np.testing.assert_array_equal(y, general.forward(x))
    g = rng.standard_normal(y.shape).astype(np.float32)
    np.testing.assert_array_equal(fast.backward(g), general.backward(g))


@pytest.mark.parametrize("shape,perm", [((3, 4, 5, 6), (1, 0, 2, 3)), ((3, 4, 5, 6), (0, 1, 2, 3)),
                                        ((4, 7), (1, 0)), ((5,), (0,)), ((2, 1, 3), (2, 0, 1))])
def test_relu_on_any_layout_matches_and_keeps_it(shape, perm):
    rng = np.random.default_rng(len(shape))
    stored = rng.standard_normal([shape[axis] for axis in perm]).astype(np.float32)
    x = stored.transpose(inverse(perm))  # shape `shape`, memory in `perm` order
    relu = ReLU()
    y = relu.forward(x)
    np.testing.assert_array_equal(y, ref.relu(x))
    assert y.shape == x.shape and y.dtype == np.float32
    assert memory_order(y) == memory_order(x) or x.ndim == 1
    g = rng.standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(relu.backward(g), ref.relu_backward(x, g))


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (2, 3, 4), (2, 1, 3, 5), (7,)])
def test_activations_match_loops(shape):
    rng = np.random.default_rng(sum(shape))
    x, g = rng.standard_normal(shape) * 4, rng.standard_normal(shape)
    for layer, forward, backward in [(LeakyReLU(0.1), lambda v: ref.leaky_relu(v, 0.1),
                                      lambda v, d: ref.leaky_relu_backward(v, 0.1, d)),
                                     (Sigmoid(), ref.sigmoid, ref.sigmoid_backward),
                                     (Tanh(), ref.tanh, ref.tanh_backward)]:
        np.testing.assert_allclose(layer.forward(x), forward(x), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(layer.backward(g), backward(x, g), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("batch,n_in,n_out", [(1, 1, 1), (4, 5, 3), (3, 7, 2), (2, 9, 6), (5, 2, 8)])
def test_dense_matches_loops(batch, n_in, n_out):
    rng = np.random.default_rng(batch * n_in)
    layer = Dense(n_in, n_out, rng=rng, dtype=np.float64)
    layer.bias.data[:] = rng.standard_normal(n_out)
    x, g = rng.standard_normal((batch, n_in)), rng.standard_normal((batch, n_out))
    np.testing.assert_allclose(layer.forward(x), ref.dense(x, layer.weight.data, layer.bias.data), rtol=1e-12)
    dx = layer.backward(g)
    want_dx, want_dw, want_db = ref.dense_backward(x, layer.weight.data, g)
    for got, want in [(dx, want_dx), (layer.weight.grad, want_dw), (layer.bias.grad, want_db)]:
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("n,k,scale", [(1, 2, 1.0), (6, 4, 5.0), (3, 10, 30.0)])
def test_losses_match_loops(n, k, scale):
    rng = np.random.default_rng(n * k)
    logits, labels = rng.standard_normal((n, k)) * scale, rng.integers(0, k, n)
    loss = SoftmaxCrossEntropy()
    assert loss.forward(logits, labels) == pytest.approx(ref.softmax_cross_entropy(logits, labels), rel=1e-12)
    np.testing.assert_allclose(loss.backward(), ref.softmax_cross_entropy_backward(logits, labels), rtol=1e-10,
                               atol=1e-15)
    target = rng.standard_normal((n, k))
    mse = MSELoss()
    assert mse.forward(logits, target) == pytest.approx(ref.mse(logits, target), rel=1e-12)
    np.testing.assert_allclose(mse.backward(), ref.mse_backward(logits, target), rtol=1e-12)


def test_memory_order_and_inverse():
    x = np.zeros((2, 3, 4, 5)).transpose(2, 0, 3, 1)
    order = memory_order(x)
    assert x.transpose(order).flags.c_contiguous
    assert x.transpose(order).transpose(inverse(order)).shape == x.shape
    view, undo = in_memory_order(x)
    assert view.flags.c_contiguous and view.transpose(undo).shape == x.shape


@pytest.mark.parametrize("kernel,stride,padding", [(3, 1, 1), (3, 2, 0), (2, 2, 1), (5, 3, 2), ((2, 3), 1, 1)])
def test_im2col_matches_loops_and_col2im_is_its_adjoint(kernel, stride, padding):
    """cols as the loop version builds them, and <im2col(x), c> == <x, col2im(c)>: the defining property."""
    rng = np.random.default_rng(stride * 10 + padding)
    x = rng.standard_normal((2, 3, 7, 8))
    cols = im2col(x, kernel, stride, padding)
    np.testing.assert_array_equal(cols, ref.im2col(x, kernel, stride, padding))
    c = rng.standard_normal(cols.shape)
    assert np.isclose(np.sum(cols * c), np.sum(x * col2im(c, x.shape, kernel, stride, padding)), rtol=1e-12)
