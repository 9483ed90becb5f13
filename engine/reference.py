"""The engine's readable specification: slow, obviously-correct loop versions of every layer and loss.

Each function follows the definition one output element at a time, in float64, with no layout tricks;
each backward pushes ``g`` of every output element back onto exactly the inputs and weights that
element used. The fast layers (``engine.layers``, ``engine.conv``, ``engine.pool``,
``engine.activations``, ``engine.losses``, with ``engine.kernels``) are tested against these over many
shapes (``tests/test_engine_reference.py``). Never used for training: they are far too slow for that.

Shapes as in the layers: images NCHW; ``weight`` of Conv2D (O, C, kh, kw); ``weight`` of Dense (in, out).
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np

Pair = int | tuple[int, int]


def _pair(value: Pair) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


# --- Dense -----------------------------------------------------------------------------------------
def dense(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """y[n, o] = b[o] + sum_i x[n, i] * W[i, o]."""
    n, n_in = x.shape
    y = np.zeros((n, weight.shape[1]))
    for row in range(n):
        for o in range(weight.shape[1]):
            y[row, o] = bias[o] + sum(x[row, i] * weight[i, o] for i in range(n_in))
    return y


def dense_backward(x: np.ndarray, weight: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dx, dW, db) of sum(dense(x) * g)."""
    dx, dw, db = np.zeros(x.shape), np.zeros(weight.shape), np.zeros(weight.shape[1])
    for row in range(x.shape[0]):
        for o in range(weight.shape[1]):
            db[o] += g[row, o]
            for i in range(x.shape[1]):
                dx[row, i] += weight[i, o] * g[row, o]
                dw[i, o] += x[row, i] * g[row, o]
    return dx, dw, db


# --- element-wise activations: (y, dL/dx given g) ---------------------------------------------------
def _elementwise(x: np.ndarray, fn) -> np.ndarray:
    return np.array([fn(float(v)) for v in np.ravel(x)]).reshape(np.shape(x))


def relu(x: np.ndarray) -> np.ndarray:
    return _elementwise(x, lambda v: v if v > 0 else 0.0)


def relu_backward(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    return _elementwise(x, lambda v: 1.0 if v > 0 else 0.0) * g


def leaky_relu(x: np.ndarray, slope: float) -> np.ndarray:
    return _elementwise(x, lambda v: v if v > 0 else slope * v)


def leaky_relu_backward(x: np.ndarray, slope: float, g: np.ndarray) -> np.ndarray:
    return _elementwise(x, lambda v: 1.0 if v > 0 else slope) * g


def sigmoid(x: np.ndarray) -> np.ndarray:
    return _elementwise(x, lambda v: 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v)))


def sigmoid_backward(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    y = sigmoid(x)
    return y * (1 - y) * g


def tanh(x: np.ndarray) -> np.ndarray:
    return _elementwise(x, math.tanh)


def tanh_backward(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    return _elementwise(x, lambda v: 1 - math.tanh(v) ** 2) * g


# --- Conv2D ----------------------------------------------------------------------------------------
def _pad(x: np.ndarray, padding: int) -> np.ndarray:
    n, c, h, w = x.shape
    xpad = np.zeros((n, c, h + 2 * padding, w + 2 * padding))
    xpad[:, :, padding:padding + h, padding:padding + w] = x
    return xpad


def conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int, padding: int) -> np.ndarray:
    """y[n, o, y, x] = b[o] + sum_{c,i,j} w[o, c, i, j] * xpad[n, c, s*y + i, s*x + j]."""
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    xpad = _pad(x, padding)
    out_h, out_w = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
    y = np.zeros((n, o, out_h, out_w))
    for b in range(n):
        for f in range(o):
            for r in range(out_h):
                for q in range(out_w):
                    patch = xpad[b, :, r * stride:r * stride + kh, q * stride:q * stride + kw]
                    y[b, f, r, q] = np.sum(patch * weight[f]) + bias[f]
    return y


def conv2d_backward(x: np.ndarray, weight: np.ndarray, stride: int, padding: int,
                    g: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dx, dW, db) of sum(conv2d(x) * g): each output element pushes g back onto the inputs and weights it used."""
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    xpad = _pad(x, padding)
    dxpad, dw, db = np.zeros_like(xpad), np.zeros(weight.shape), np.zeros(o)
    for b in range(n):
        for f in range(o):
            for r in range(g.shape[2]):
                for q in range(g.shape[3]):
                    rows = slice(r * stride, r * stride + kh)
                    cols = slice(q * stride, q * stride + kw)
                    dxpad[b, :, rows, cols] += weight[f] * g[b, f, r, q]
                    dw[f] += xpad[b, :, rows, cols] * g[b, f, r, q]
                    db[f] += g[b, f, r, q]
    return dxpad[:, :, padding:padding + h, padding:padding + w], dw, db


def im2col(x: np.ndarray, kernel: Pair, stride: int, padding: int) -> np.ndarray:
    """cols[(c, i, j), n, y, x] = xpad[n, c, s*y + i, s*x + j], one entry at a time: (C*kh*kw, N, Ho, Wo)."""
    (kh, kw), (n, c, h, w) = _pair(kernel), x.shape
    xpad = _pad(x, padding)
    out_h, out_w = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
    cols = np.zeros((c * kh * kw, n, out_h, out_w))
    for ch in range(c):
        for i in range(kh):
            for j in range(kw):
                for b in range(n):
                    for r in range(out_h):
                        for q in range(out_w):
                            cols[(ch * kh + i) * kw + j, b, r, q] = xpad[b, ch, stride * r + i, stride * q + j]
    return cols


# --- pooling ---------------------------------------------------------------------------------------
def _pool_windows(shape: tuple[int, ...], kernel: Pair, stride: Pair) -> Iterator[tuple[tuple, tuple]]:
    """Yield (output index, input window index) for every output element."""
    (kh, kw), (sh, sw) = _pair(kernel), _pair(stride)
    n, c, h, w = shape
    out_h, out_w = (h - kh) // sh + 1, (w - kw) // sw + 1
    for b in range(n):
        for ch in range(c):
            for r in range(out_h):
                for q in range(out_w):
                    yield (b, ch, r, q), (b, ch, slice(r * sh, r * sh + kh), slice(q * sw, q * sw + kw))


def _pool_shape(shape: tuple[int, ...], kernel: Pair, stride: Pair) -> tuple[int, int, int, int]:
    (kh, kw), (sh, sw) = _pair(kernel), _pair(stride)
    return shape[0], shape[1], (shape[2] - kh) // sh + 1, (shape[3] - kw) // sw + 1


def maxpool2d(x: np.ndarray, kernel: Pair, stride: Pair) -> np.ndarray:
    """y[n, c, y, x] = max of the window."""
    out = np.zeros(_pool_shape(x.shape, kernel, stride))
    for idx, window in _pool_windows(x.shape, kernel, stride):
        out[idx] = x[window].max()
    return out


def maxpool2d_backward(x: np.ndarray, kernel: Pair, stride: Pair, g: np.ndarray) -> np.ndarray:
    """Each g goes to its window's first maximum in row-major order."""
    dx = np.zeros(x.shape)
    for idx, (b, ch, rows, cols) in _pool_windows(x.shape, kernel, stride):
        patch = x[b, ch, rows, cols]
        i, j = np.unravel_index(np.argmax(patch), patch.shape)  # first maximum in row-major order
        dx[b, ch, rows.start + i, cols.start + j] += g[idx]
    return dx


def avgpool2d(x: np.ndarray, kernel: Pair, stride: Pair) -> np.ndarray:
    """y[n, c, y, x] = mean of the window."""
    out = np.zeros(_pool_shape(x.shape, kernel, stride))
    for idx, window in _pool_windows(x.shape, kernel, stride):
        out[idx] = x[window].mean()
    return out


def avgpool2d_backward(x: np.ndarray, kernel: Pair, stride: Pair, g: np.ndarray) -> np.ndarray:
    """Each g is shared equally by its window's kh*kw inputs."""
    (kh, kw) = _pair(kernel)
    dx = np.zeros(x.shape)
    for idx, window in _pool_windows(x.shape, kernel, stride):
        dx[window] += g[idx] / (kh * kw)
    return dx


# --- losses ----------------------------------------------------------------------------------------
def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean of -log(exp(z_y) / sum_k exp(z_k)), one row at a time."""
    total = 0.0
    for row, label in zip(logits, labels):
        m = max(row)
        total += -(row[label] - m - math.log(sum(math.exp(v - m) for v in row)))
    return total / len(labels)


def softmax_cross_entropy_backward(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """dL/dz[n, k] = (softmax(z[n])[k] - [k == y[n]]) / N."""
    grad = np.zeros(logits.shape)
    for n, (row, label) in enumerate(zip(logits, labels)):
        m = max(row)
        total = sum(math.exp(v - m) for v in row)
        for k, v in enumerate(row):
            grad[n, k] = (math.exp(v - m) / total - (1.0 if k == label else 0.0)) / len(labels)
    return grad


def mse(prediction: np.ndarray, target: np.ndarray) -> float:
    """Mean of (p - t)^2 over every element."""
    diffs = [float(p) - float(t) for p, t in zip(np.ravel(prediction), np.ravel(target))]
    return sum(d * d for d in diffs) / len(diffs)


def mse_backward(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    """dL/dp = 2 (p - t) / number of elements."""
    size = np.size(prediction)
    return _elementwise(np.asarray(prediction, dtype=np.float64) - target, lambda d: 2 * d / size)
