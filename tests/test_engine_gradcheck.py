"""Analytic gradients of every layer and loss against central differences, over many configurations."""

import numpy as np
import pytest

import engine
from engine import (AvgPool2D, Conv2D, Dense, Dropout, Flatten, LeakyReLU, MaxPool2D, MSELoss, ReLU, Sequential,
                    Sigmoid, SoftmaxCrossEntropy, Tanh, gradcheck)

TOL = 1e-5


def away_from_kinks(shape, seed):
    """Inputs with |x| >= 0.1 so finite differences never straddle a ReLU kink."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < 0.1, np.sign(x) * 0.1 + x, x)


def distinct(shape, seed):
    """Pooling inputs whose values differ by more than eps (no ties, no max switching under perturbation)."""
    rng = np.random.default_rng(seed)
    return rng.permutation(np.prod(shape)).reshape(shape) * 0.01


@pytest.mark.parametrize("batch,n_in,n_out,init", [(1, 1, 1, "he"), (4, 5, 3, "he"), (3, 7, 2, "glorot"),
                                                   (1, 9, 6, "glorot")])
def test_dense(batch, n_in, n_out, init):
    rng = np.random.default_rng(batch + n_in)
    layer = Dense(n_in, n_out, init=init, rng=rng)
    layer.bias.data[:] = rng.standard_normal(n_out)  # non-zero bias so its gradient path is exercised
    assert gradcheck(layer, rng.standard_normal((batch, n_in))) < TOL


CONV_CASES = [
    # (batch, in_ch, out_ch, kernel, stride, padding, H, W)
    (1, 1, 1, 1, 1, 0, 4, 4),
    (2, 3, 2, 1, 2, 0, 5, 6),
    (2, 2, 3, 3, 1, 0, 5, 5),
    (2, 2, 3, 3, 1, 1, 5, 7),
    (1, 3, 4, 3, 2, 1, 7, 6),
    (2, 1, 2, 3, 2, 2, 6, 5),
    (1, 2, 2, 5, 1, 2, 6, 7),
    (2, 1, 3, 5, 2, 0, 9, 8),
    (1, 4, 1, 5, 2, 1, 8, 9),
    (3, 2, 2, 3, 3, 1, 7, 8),
    (1, 1, 2, (3, 2), 1, 0, 5, 4),
]


@pytest.mark.parametrize("batch,cin,cout,kernel,stride,padding,h,w", CONV_CASES)
def test_conv2d(batch, cin, cout, kernel, stride, padding, h, w):
    rng = np.random.default_rng(h * w + cin)
    layer = Conv2D(cin, cout, kernel, stride=stride, padding=padding, rng=rng)
    layer.bias.data[:] = rng.standard_normal(cout)
    assert gradcheck(layer, rng.standard_normal((batch, cin, h, w))) < TOL


@pytest.mark.parametrize("cls", [MaxPool2D, AvgPool2D])
@pytest.mark.parametrize("kernel,stride,shape", [(2, None, (2, 3, 6, 4)), (2, None, (1, 1, 5, 7)),
                                                 (3, 2, (2, 2, 7, 6)), (2, 1, (1, 2, 4, 5)),
                                                 (2, 3, (1, 2, 8, 7)), (1, None, (2, 1, 3, 3))])
def test_pools(cls, kernel, stride, shape):
    assert gradcheck(cls(kernel, stride), distinct(shape, sum(shape))) < TOL


@pytest.mark.parametrize("layer", [ReLU(), LeakyReLU(0.1), LeakyReLU(0.3), Sigmoid(), Tanh(), Flatten()],
                         ids=lambda layer: repr(layer))
@pytest.mark.parametrize("shape", [(1, 5), (3, 4), (2, 3, 4, 5)])
def test_activations(layer, shape):
    assert gradcheck(layer, away_from_kinks(shape, len(shape))) < TOL


def test_dropout_in_training_mode():
    layer = Dropout(0.4, rng=np.random.default_rng(3))
    assert gradcheck(layer, away_from_kinks((4, 6), 0)) < TOL


def test_sequential_cnn_end_to_end():
    rng = np.random.default_rng(0)
    model = Sequential(Conv2D(2, 3, 3, padding=1, rng=rng), Tanh(), MaxPool2D(2), Conv2D(3, 2, 3, stride=2, rng=rng),
                       Sigmoid(), Flatten(), Dense(2 * 1 * 2, 3, rng=rng), LeakyReLU(0.2))
    assert gradcheck(model, distinct((2, 2, 6, 10), 1)) < TOL


@pytest.mark.parametrize("batch,classes", [(1, 2), (5, 3), (8, 10)])
def test_softmax_cross_entropy(batch, classes):
    rng = np.random.default_rng(batch)
    logits = rng.standard_normal((batch, classes)) * 3
    assert gradcheck(SoftmaxCrossEntropy(), logits, rng.integers(0, classes, batch)) < TOL


@pytest.mark.parametrize("shape", [(1, 1), (4, 3), (2, 3, 4)])
def test_mse(shape):
    rng = np.random.default_rng(len(shape))
    assert gradcheck(MSELoss(), rng.standard_normal(shape), rng.standard_normal(shape)) < TOL


class _WrongDense(Dense):
    """A deliberately broken backward: the checker must notice."""

    def backward(self, grad_out):
        return super().backward(grad_out) * 1.01


def test_gradcheck_detects_a_wrong_gradient():
    layer = _WrongDense(4, 3, rng=np.random.default_rng(0))
    assert gradcheck(layer, np.random.default_rng(1).standard_normal((2, 4))) > 1e-3


def test_gradcheck_restores_parameters():
    layer = Dense(3, 2, rng=np.random.default_rng(0))
    before = layer.weight.data.copy()
    gradcheck(layer, np.ones((2, 3)))
    assert layer.weight.data.dtype == np.float32
    np.testing.assert_array_equal(layer.weight.data, before)


def test_gradcheck_is_exported():
    assert engine.gradcheck is gradcheck
