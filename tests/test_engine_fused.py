"""The fused Conv2D -> MaxPool2D(2) -> ReLU step (engine/kernels/fused.py) and its Winograd form
(engine/kernels/winograd.py) against the loop reference and against the same layers run one by one, over many
shapes, with ties."""

import copy

import numpy as np
import pytest

from engine import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential, Tanh
from engine import reference as ref
from engine.kernels import winograd
from engine.kernels.fused import ConvPoolReLU, plan
from engine.kernels.winograd import WinogradConvPoolReLU


def block(order, cin, cout, kernel, padding, rng, dtype=np.float64):
    conv = Conv2D(cin, cout, kernel, padding=padding, rng=rng, dtype=dtype)
    layers = {"conv-pool-relu": [conv, MaxPool2D(2), ReLU()], "conv-relu-pool": [conv, ReLU(), MaxPool2D(2)],
              "conv-pool": [conv, MaxPool2D(2)]}[order]
    return Sequential(*layers)


def reference_block(order, x, weight, bias, padding, g):
    """Forward value and (dx, dW, db) of the block by the loop reference, layer by layer."""
    y = ref.conv2d(x, weight, bias, 1, padding)
    stages = [("conv", y)]
    for name in order.split("-")[1:]:
        y = ref.maxpool2d(y, 2, 2) if name == "pool" else ref.relu(y)
        stages.append((name, y))
    for (name, _), (_, before) in zip(reversed(stages[1:]), reversed(stages[:-1])):
        g = ref.maxpool2d_backward(before, 2, 2, g) if name == "pool" else ref.relu_backward(before, g)
    dx, dw, db = ref.conv2d_backward(x, weight, 1, padding, g)
    return stages[-1][1], dx, dw, db


def random_cases(count, seed=3):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        kernel = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
        padding, h, w = int(rng.integers(0, 3)), int(rng.integers(2, 10)), int(rng.integers(2, 10))
        if h + 2 * padding - kernel[0] + 1 >= 2 and w + 2 * padding - kernel[1] + 1 >= 2:
            cases.append((int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 4)), kernel, padding,
                          h, w))
    return cases


CASES = [(2, 1, 4, 3, 1, 8, 8), (3, 2, 3, 3, 1, 7, 9), (1, 3, 2, 3, 0, 9, 6), (2, 2, 2, 2, 0, 6, 7),
         (2, 1, 3, 5, 2, 6, 5), (1, 2, 2, 1, 0, 5, 4), (2, 2, 3, (3, 2), 1, 6, 9)] + random_cases(12)


def check_block_against_loops(order, batch, cin, cout, kernel, padding, h, w, step_type):
    rng = np.random.default_rng(batch * 1000 + h * 10 + w)
    model = block(order, cin, cout, kernel, padding, rng)
    conv = model[0]
    assert type(model._steps()[0]) is step_type
    # halves and small integers: every product and sum is exact, so equal conv outputs tie exactly and the
    # gradient must go to the first maximum, as in the reference
    conv.weight.data[...] = rng.integers(-2, 3, conv.weight.data.shape)
    conv.bias.data[...] = rng.integers(-1, 2, cout) * 0.5
    x = rng.integers(-2, 3, (batch, cin, h, w)) * 0.5
    y = model.forward(x)
    g = rng.standard_normal(y.shape)
    dx = model.backward(g)
    want_y, want_dx, want_dw, want_db = reference_block(order, x, conv.weight.data, conv.bias.data, padding, g)
    np.testing.assert_allclose(y, want_y, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(conv.weight.grad, want_dw, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(conv.bias.grad, want_db, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("order", ["conv-pool-relu", "conv-relu-pool", "conv-pool"])
@pytest.mark.parametrize("batch,cin,cout,kernel,padding,h,w", CASES, ids=str)
def test_fused_block_matches_loops(order, batch, cin, cout, kernel, padding, h, w):
    check_block_against_loops(order, batch, cin, cout, kernel, padding, h, w, ConvPoolReLU)


# 3x3 kernels: odd and even sizes, every padding that fits, one and many channels, a pooled size of 1
WINOGRAD_CASES = [(2, 1, 4, 3, 1, 8, 8), (3, 2, 3, 3, 1, 7, 9), (1, 3, 2, 3, 0, 9, 6), (2, 5, 3, 3, 2, 5, 4),
                  (1, 4, 1, 3, 0, 4, 4), (2, 6, 5, 3, 1, 2, 3), (3, 2, 2, 3, 2, 11, 6), (1, 8, 8, 3, 1, 6, 10)]


@pytest.mark.parametrize("order", ["conv-pool-relu", "conv-relu-pool", "conv-pool"])
@pytest.mark.parametrize("batch,cin,cout,kernel,padding,h,w", WINOGRAD_CASES, ids=str)
def test_winograd_block_matches_loops(order, batch, cin, cout, kernel, padding, h, w, monkeypatch):
    # with halves and small integers Winograd's transforms (entries 0, +-1/2, +-1) are exact too, so ties stay ties
    monkeypatch.setattr(winograd, "MIN_CHANNELS", 1)
    check_block_against_loops(order, batch, cin, cout, kernel, padding, h, w, WinogradConvPoolReLU)


def test_winograd_is_planned_for_wide_3x3_layers_only():
    def kinds(*layers):
        return [type(s).__name__ for s in plan(list(layers))]
    wide = winograd.MIN_CHANNELS
    assert kinds(Conv2D(wide, 2, 3, padding=1), MaxPool2D(2), ReLU()) == ["WinogradConvPoolReLU"]
    assert kinds(Conv2D(wide - 1, 2, 3, padding=1), MaxPool2D(2), ReLU()) == ["ConvPoolReLU"]
    assert kinds(Conv2D(wide, 2, 5, padding=2), MaxPool2D(2)) == ["ConvPoolReLU"]
    assert kinds(Conv2D(wide, 2, (3, 2)), MaxPool2D(2)) == ["ConvPoolReLU"]


@pytest.mark.parametrize("input_grad", [True, False])
def test_winograd_float32_model_equals_layer_by_layer(input_grad):
    """At the width where it is used, in float32: rounding differs from the direct sums only in the last digits."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((6, winograd.MIN_CHANNELS, 10, 9)).astype(np.float32)
    g = rng.standard_normal((6, 7)).astype(np.float32)
    results = []
    for fuse in (True, False):
        layers = np.random.default_rng(12)
        model = Sequential(Conv2D(winograd.MIN_CHANNELS, 24, 3, padding=1, rng=layers), MaxPool2D(2), ReLU(),
                           Flatten(), Dense(24 * 5 * 4, 7, rng=layers))
        model.fuse = fuse
        for _ in range(2):  # twice: reused buffers must not leak state between calls
            model.zero_grad()
            y = model.forward(x)
            dx = model.backward(g, input_grad=input_grad)
        results.append((y, dx, [p.grad for p in model.parameters()], type(model._steps()[0])))
    (y1, dx1, g1, kind), (y2, dx2, g2, _) = results
    assert kind is WinogradConvPoolReLU
    np.testing.assert_allclose(y1, y2, rtol=1e-5, atol=1e-5)
    if input_grad:
        np.testing.assert_allclose(dx1, dx2, rtol=1e-5, atol=1e-5)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def cnn(seed, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return Sequential(Conv2D(1, 4, 3, padding=1, rng=rng, dtype=dtype), MaxPool2D(2), ReLU(),
                      Conv2D(4, 6, 3, padding=1, rng=rng, dtype=dtype), ReLU(), MaxPool2D(2),
                      Flatten(), Dense(6 * 3 * 3, 5, rng=rng, dtype=dtype))


@pytest.mark.parametrize("input_grad", [True, False])
def test_fused_model_equals_layer_by_layer(input_grad):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 1, 13, 12)).astype(np.float32)
    g = rng.standard_normal((5, 5)).astype(np.float32)
    results = []
    for fuse in (True, False):
        model = cnn(1)
        model.fuse = fuse
        for _ in range(2):  # twice: reused buffers must not leak state between calls
            model.zero_grad()
            y = model.forward(x)
            dx = model.backward(g, input_grad=input_grad)
        results.append((y, dx, [p.grad for p in model.parameters()]))
    (y1, dx1, g1), (y2, dx2, g2) = results
    assert [type(s).__name__ for s in cnn(1)._steps()] == ["ConvPoolReLU", "ConvPoolReLU", "Flatten", "Dense"]
    np.testing.assert_allclose(y1, y2, rtol=1e-5, atol=1e-6)
    assert (dx1 is None) == (dx2 is None) == (not input_grad)
    if input_grad:
        np.testing.assert_allclose(dx1, dx2, rtol=1e-5, atol=1e-6)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_only_fusable_runs_are_fused():
    def kinds(*layers):
        return [type(s).__name__ for s in plan(list(layers))]
    assert kinds(Conv2D(1, 2, 3, stride=2), MaxPool2D(2), ReLU()) == ["Conv2D", "MaxPool2D", "ReLU"]
    assert kinds(Conv2D(1, 2, 3), MaxPool2D(3), ReLU()) == ["Conv2D", "MaxPool2D", "ReLU"]
    assert kinds(Conv2D(1, 2, 3), MaxPool2D(2, 1)) == ["Conv2D", "MaxPool2D"]
    assert kinds(Conv2D(1, 2, 3), Tanh(), MaxPool2D(2)) == ["Conv2D", "Tanh", "MaxPool2D"]
    assert kinds(Conv2D(1, 2, 3), ReLU(), Flatten()) == ["Conv2D", "ReLU", "Flatten"]
    assert kinds(Conv2D(1, 2, 3), MaxPool2D(2), Tanh()) == ["ConvPoolReLU", "Tanh"]
    assert kinds(Conv2D(1, 2, 3)) == ["Conv2D"]


def test_outputs_of_successive_calls_and_batch_sizes_stay_apart():
    model = cnn(2)
    rng = np.random.default_rng(2)
    x1, x2 = rng.standard_normal((3, 1, 12, 12)), rng.standard_normal((7, 1, 12, 12))
    y1 = model.forward(x1.astype(np.float32))
    kept = y1.copy()
    model.forward(x2.astype(np.float32))
    np.testing.assert_array_equal(y1, kept)
    model.fuse = False
    np.testing.assert_allclose(model.forward(x1.astype(np.float32)), kept, rtol=1e-5, atol=1e-6)


def test_copies_of_a_model_plan_their_own_steps():
    model = cnn(3)
    x = np.random.default_rng(3).standard_normal((2, 1, 12, 12)).astype(np.float32)
    model.forward(x)
    twin = copy.deepcopy(model)
    assert twin._steps()[0].conv is twin[0] and model._steps()[0].conv is model[0]
    np.testing.assert_array_equal(twin.forward(x), model.forward(x))


def test_fused_step_reports_bad_input_like_the_layers():
    model = cnn(4)
    with pytest.raises(ValueError, match=r"Conv2D expects input \(N, 1, H, W\)"):
        model.forward(np.zeros((2, 3, 8, 8), np.float32))
    with pytest.raises(ValueError, match="does not fit"):
        Sequential(Conv2D(1, 1, 3), MaxPool2D(2)).forward(np.zeros((1, 1, 3, 3), np.float32))


def test_flatten_of_a_batch_innermost_view_keeps_the_values_and_their_order():
    memory = np.arange(3 * 4 * 5 * 6, dtype=np.float32).reshape(3, 4, 5, 6)  # (C, H, W, N), as the fused step keeps it
    x = memory.transpose(3, 0, 1, 2)                                          # seen as (N, C, H, W)
    flatten = Flatten()
    flat = flatten.forward(x)
    np.testing.assert_array_equal(flat, x.reshape(6, -1))
    assert flat.flags.f_contiguous  # the transposed view of a (C*H*W, N) array, not a gathered copy
    g = np.random.default_rng(0).standard_normal(flat.shape).astype(np.float32)
    np.testing.assert_array_equal(flatten.backward(g), g.reshape(6, 3, 4, 5))


def test_winograd_matrices_give_a_3x3_correlation_of_a_4x4_tile():
    rng = np.random.default_rng(5)
    d, w = rng.standard_normal((4, 4)), rng.standard_normal((3, 3))
    y = winograd.A_T @ ((winograd.G @ w @ winograd.G.T) * (winograd.B_T @ d @ winograd.B_T.T)) @ winograd.A_T.T
    want = [[np.sum(d[i:i + 3, j:j + 3] * w) for j in range(2)] for i in range(2)]
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
