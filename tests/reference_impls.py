"""Slow, obviously-correct loop implementations that the fast engine is checked against.

Straight from the definitions, one output element at a time, in float64. Never used by the engine.
"""

from __future__ import annotations

import numpy as np


def conv2d(x, weight, bias, stride, padding):
    """y[n, o, y, x] = b[o] + sum_{c,i,j} w[o, c, i, j] * xpad[n, c, s*y + i, s*x + j]."""
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    xpad = np.zeros((n, c, h + 2 * padding, w + 2 * padding))
    xpad[:, :, padding:padding + h, padding:padding + w] = x
    out_h = (h + 2 * padding - kh) // stride + 1
    out_w = (w + 2 * padding - kw) // stride + 1
    y = np.zeros((n, o, out_h, out_w))
    for b in range(n):
        for f in range(o):
            for r in range(out_h):
                for q in range(out_w):
                    patch = xpad[b, :, r * stride:r * stride + kh, q * stride:q * stride + kw]
                    y[b, f, r, q] = np.sum(patch * weight[f]) + bias[f]
    return y


def conv2d_backward(x, weight, stride, padding, g):
    """Gradients of sum(conv2d(x) * g): each output element pushes g back onto the inputs and weights it used."""
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    xpad = np.zeros((n, c, h + 2 * padding, w + 2 * padding))
    xpad[:, :, padding:padding + h, padding:padding + w] = x
    dxpad, dw = np.zeros_like(xpad), np.zeros(weight.shape)
    db = np.zeros(o)
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


def _pool_windows(shape, kernel, stride):
    n, c, h, w = shape
    out_h, out_w = (h - kernel) // stride + 1, (w - kernel) // stride + 1
    for b in range(n):
        for ch in range(c):
            for r in range(out_h):
                for q in range(out_w):
                    yield (b, ch, r, q), (b, ch, slice(r * stride, r * stride + kernel),
                                          slice(q * stride, q * stride + kernel))


def maxpool2d(x, kernel, stride):
    """Forward and the backward of sum(y * g) with g = 1 routed to each window's first maximum."""
    n, c, h, w = x.shape
    out = np.zeros((n, c, (h - kernel) // stride + 1, (w - kernel) // stride + 1))
    for idx, window in _pool_windows(x.shape, kernel, stride):
        out[idx] = x[window].max()
    return out


def maxpool2d_backward(x, kernel, stride, g):
    dx = np.zeros(x.shape)
    for idx, (b, ch, rows, cols) in _pool_windows(x.shape, kernel, stride):
        patch = x[b, ch, rows, cols]
        i, j = np.unravel_index(np.argmax(patch), patch.shape)  # first maximum in row-major order
        dx[b, ch, rows.start + i, cols.start + j] += g[idx]
    return dx


def avgpool2d(x, kernel, stride):
    n, c, h, w = x.shape
    out = np.zeros((n, c, (h - kernel) // stride + 1, (w - kernel) // stride + 1))
    for idx, window in _pool_windows(x.shape, kernel, stride):
        out[idx] = x[window].mean()
    return out


def avgpool2d_backward(x, kernel, stride, g):
    dx = np.zeros(x.shape)
    for idx, window in _pool_windows(x.shape, kernel, stride):
        dx[window] += g[idx] / (kernel * kernel)
    return dx


def softmax_cross_entropy(logits, labels):
    """Mean of -log(exp(z_y) / sum_k exp(z_k)), one row at a time."""
    total = 0.0
    for row, label in zip(logits, labels):
        m = max(row)
        total += -(row[label] - m - np.log(sum(np.exp(v - m) for v in row)))
    return total / len(labels)
