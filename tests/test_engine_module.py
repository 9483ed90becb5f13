"""Module mechanics: parameters, modes, dtypes, seeds, losses, shapes and error messages."""

import numpy as np
import pytest

from engine import reference as ref
from engine import (INITS, AvgPool2D, Conv2D, Dense, Dropout, Flatten, LeakyReLU, MaxPool2D, MSELoss, Parameter, ReLU,
                    Sequential, Sigmoid, SoftmaxCrossEntropy, Tanh, init_weight)


def cnn(seed):
    rng = np.random.default_rng(seed)
    return Sequential(Conv2D(1, 4, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2), Conv2D(4, 6, 3, stride=2, rng=rng),
                      LeakyReLU(), AvgPool2D(1), Flatten(), Dropout(0.5, rng=rng), Dense(6 * 3 * 3, 8, rng=rng),
                      Sigmoid(), Dense(8, 3, init="glorot", rng=rng), Tanh())


def test_parameters_names_and_counts():
    model = cnn(0)
    names = [name for name, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "3.weight", "3.bias", "8.weight", "8.bias", "10.weight", "10.bias"]
    assert model.num_parameters() == 4 * 9 + 4 + 6 * 4 * 9 + 6 + 54 * 8 + 8 + 8 * 3 + 3
    assert all(p.grad.shape == p.data.shape and p.grad.dtype == p.data.dtype for p in model.parameters())
    assert len(model) == 12 and isinstance(model[0], Conv2D) and [type(m) for m in model][-1] is Tanh


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved_forward_and_backward(dtype):
    rng = np.random.default_rng(0)
    layers = [Conv2D(1, 4, 3, padding=1, rng=rng, dtype=dtype), ReLU(), MaxPool2D(2), AvgPool2D(2), Flatten(),
              Dropout(0.2, rng=rng), Dense(4 * 2 * 2, 5, rng=rng, dtype=dtype), LeakyReLU(), Sigmoid(), Tanh()]
    x = rng.standard_normal((3, 1, 8, 8)).astype(dtype)
    for layer in layers:
        y = layer.forward(x)
        assert y.dtype == dtype, layer
        assert layer.backward(np.ones_like(y)).dtype == dtype, layer
        x = y
    loss = SoftmaxCrossEntropy()
    assert isinstance(loss.forward(x, np.array([0, 1, 2])), float)
    assert loss.backward().dtype == dtype
    mse = MSELoss()
    mse.forward(x, np.zeros(x.shape))
    assert mse.backward().dtype == dtype


def test_same_seed_same_model_different_seed_different_model():
    a, b, c = cnn(7), cnn(7), cnn(8)
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(pa.data, pb.data, err_msg=name)
    assert not np.array_equal(a[0].weight.data, c[0].weight.data)


def test_default_rng_is_seeded():
    np.testing.assert_array_equal(Dense(4, 3).weight.data, Dense(4, 3).weight.data)


def test_initialiser_scales():
    rng = np.random.default_rng(0)
    he = Dense(1000, 200, rng=rng).weight.data
    assert he.std() == pytest.approx(np.sqrt(2 / 1000), rel=0.03)
    glorot = Dense(1000, 200, init="glorot", rng=rng).weight.data
    assert np.abs(glorot).max() <= np.sqrt(6 / 1200)
    assert glorot.std() == pytest.approx(np.sqrt(2 / 1200), rel=0.03)
    with pytest.raises(ValueError, match="unknown init 'lecun'"):
        Dense(2, 2, init="lecun")


@pytest.mark.parametrize("kind", INITS)
def test_every_initialiser_has_its_documented_distribution(kind):
    fan_in, fan_out = 300, 100
    w = init_weight(kind, (40, fan_in, fan_out), fan_in, fan_out, np.random.default_rng(1), np.float64)
    assert w.shape == (40, fan_in, fan_out) and w.dtype == np.float64
    std = np.sqrt(2 / fan_in) if kind.startswith("he") else np.sqrt(2 / (fan_in + fan_out))
    assert w.std() == pytest.approx(std, rel=0.01) and abs(w.mean()) < 0.01 * std
    if kind in ("he_uniform", "glorot"):
        assert np.abs(w).max() <= np.sqrt(3) * std          # uniform on [-a, a], a = sqrt(3) * std
        assert np.abs(w).max() > 0.99 * np.sqrt(3) * std
    else:
        assert np.abs(w).max() > 4 * std                     # normal tails reach beyond any uniform bound
    # a population drawn at once: independent networks, reproducible from the seed
    assert not np.array_equal(w[0], w[1])
    np.testing.assert_array_equal(w, init_weight(kind, (40, fan_in, fan_out), fan_in, fan_out,
                                                 np.random.default_rng(1), np.float64))


def test_layers_draw_he_and_glorot_as_before():
    """Same seed, same weights as the formulas the engine has always used (saved seeds stay valid)."""
    w = Dense(30, 20, rng=np.random.default_rng(3)).weight.data
    np.testing.assert_array_equal(w, (np.random.default_rng(3).standard_normal((30, 20)) * np.sqrt(2 / 30))
                                  .astype(np.float32))
    w = Dense(30, 20, init="glorot", rng=np.random.default_rng(3)).weight.data
    limit = np.sqrt(6 / 50)
    np.testing.assert_array_equal(w, np.random.default_rng(3).uniform(-limit, limit, (30, 20)).astype(np.float32))


def test_initialiser_errors():
    with pytest.raises(ValueError, match="choose from he, he_uniform, glorot, glorot_normal"):
        init_weight("xavier", (2, 2), 2, 2, None)
    with pytest.raises(ValueError, match="fan_in and fan_out >= 1"):
        init_weight("he", (0, 2), 0, 2, None)


def test_train_eval_and_dropout():
    model = Sequential(Dropout(0.5, rng=np.random.default_rng(0)))
    x = np.ones((200, 50), dtype=np.float32)
    y = model(x)
    assert set(np.unique(y)) == {0.0, 2.0}                 # inverted dropout: kept values scaled by 1/(1-p)
    assert abs((y == 0).mean() - 0.5) < 0.02
    np.testing.assert_array_equal(model.backward(np.ones_like(x)), y)
    model.eval()
    assert not model.training and not model[0].training
    np.testing.assert_array_equal(model(x), x)
    model.train()
    assert model[0].training


def test_zero_grad_and_accumulation():
    layer = Dense(3, 2, rng=np.random.default_rng(0))
    x, g = np.ones((4, 3), np.float32), np.ones((4, 2), np.float32)
    layer.forward(x)
    layer.backward(g)
    layer.backward(g)
    np.testing.assert_allclose(layer.weight.grad, 2 * x.T @ g)
    Sequential(layer).zero_grad()
    assert not layer.weight.grad.any() and not layer.bias.grad.any()


def test_backward_without_input_gradient():
    model = cnn(0)
    model.eval()
    x = np.random.default_rng(1).standard_normal((2, 1, 14, 14)).astype(np.float32)
    g = np.ones((2, 3), np.float32)
    model.forward(x)
    dx = model.backward(g)
    full = [p.grad.copy() for p in model.parameters()]
    model.zero_grad()
    model.forward(x)
    assert dx.shape == x.shape
    assert model.backward(g, input_grad=False) is None
    for p, expected in zip(model.parameters(), full):
        np.testing.assert_allclose(p.grad, expected, rtol=1e-5, atol=1e-7)
    # layers before the first parameterised one are skipped
    mlp = Sequential(Flatten(), Dense(4, 2))
    mlp.input_grad = False
    mlp.forward(np.ones((1, 2, 2), np.float32))
    assert mlp.backward(np.ones((1, 2), np.float32)) is None
    np.testing.assert_allclose(mlp[1].weight.grad, np.ones((4, 2)))


def test_softmax_cross_entropy_values():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((6, 4)) * 5
    labels = rng.integers(0, 4, 6)
    assert SoftmaxCrossEntropy().forward(logits, labels) == pytest.approx(ref.softmax_cross_entropy(logits, labels))
    huge = np.array([[1000.0, -1000.0], [-1e4, 1e4]], dtype=np.float32)
    loss = SoftmaxCrossEntropy()
    assert loss.forward(huge, np.array([0, 0])) == pytest.approx(1e4)   # stable: no overflow, no log(0)
    assert np.isfinite(loss.backward()).all()


def test_loss_input_errors():
    loss = SoftmaxCrossEntropy()
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        loss.forward(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="labels must be integers"):
        loss.forward(np.zeros((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"logits \(N, K\) and labels \(N,\)"):
        loss.forward(np.zeros((2, 3)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="MSELoss shapes differ"):
        MSELoss().forward(np.zeros((2, 3)), np.zeros((3, 2)))
    mse = MSELoss()
    assert mse.forward(np.array([1.0, 3.0]), np.array([0.0, 0.0])) == pytest.approx(5.0)
    np.testing.assert_allclose(mse.backward(), [1.0, 3.0])


def test_layer_shape_errors():
    with pytest.raises(ValueError, match=r"Dense\(4, 2\) expects input \(N, 4\), got \(3, 5\)"):
        Dense(4, 2).forward(np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"Conv2D expects input \(N, 3, H, W\), got \(1, 2, 5, 5\)"):
        Conv2D(3, 1, 3).forward(np.zeros((1, 2, 5, 5)))
    with pytest.raises(ValueError, match="does not fit input"):
        Conv2D(1, 1, 5).forward(np.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="MaxPool2D expects input"):
        MaxPool2D().forward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="Dropout probability"):
        Dropout(1.0)
    with pytest.raises(TypeError, match="Sequential takes Modules"):
        Sequential(Dense(1, 1), "relu")


def test_parameter_and_repr():
    p = Parameter(np.ones((2, 3), np.float32))
    assert p.grad.shape == (2, 3) and p.shape == (2, 3) and not p.grad.any()
    assert "Conv2D(in_channels=1" in repr(cnn(0))
    assert Conv2D(2, 3, 3, stride=2, padding=1).config() == {
        "type": "Conv2D", "in_channels": 2, "out_channels": 3, "kernel_size": [3, 3], "stride": 2, "padding": 1,
        "init": "he", "dtype": "float32"}


def test_activation_values():
    x = np.array([-2.0, -0.5, 0.0, 0.3, 7.0], dtype=np.float32)
    np.testing.assert_array_equal(ReLU().forward(x), np.float32([0, 0, 0, 0.3, 7.0]))
    assert not np.signbit(ReLU().forward(x)).any()                   # no -0.0 for negative inputs
    leaky = LeakyReLU(0.1)
    y = leaky.forward(x)
    np.testing.assert_array_equal(y[3:], x[3:])                       # exactly the identity for x > 0
    np.testing.assert_array_equal(y[:3], x[:3] * np.float32(0.1))
    np.testing.assert_array_equal(leaky.backward(np.ones_like(x)), np.float32([0.1, 0.1, 0.1, 1, 1]))
    big = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0], dtype=np.float32)
    s = Sigmoid().forward(big)
    assert np.isfinite(s).all() and s[2] == 0.5 and s[0] == 0.0 and s[-1] == 1.0
    assert s[1] == pytest.approx(1 / (1 + np.exp(30.0)), rel=1e-5)   # tiny values keep their precision
    np.testing.assert_allclose(Tanh().forward(x), np.tanh(x), rtol=1e-6)
