"""Max and average pooling over (kh, kw) windows moved with a stride, NCHW.

x: (N, C, H, W) -> y: (N, C, Ho, Wo), ``Ho = floor((H - kh) / s) + 1`` (no padding, like PyTorch's default).
Both pools loop over the kh*kw kernel offsets (4 iterations for 2x2), each handling a strided view
of the whole batch: no window copies, no loops over pixels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .conv import _pair, _window, output_size
from .layout import memory_order
from .module import Module


class _Pool2D(Module):
    def __init__(self, kernel_size: int | tuple[int, int] = 2, stride: int | tuple[int, int] | None = None) -> None:
        self.kernel_size = _pair(kernel_size)
        self.stride = self.kernel_size if stride is None else _pair(stride)
        if min(self.kernel_size) < 1 or min(self.stride) < 1:
            raise ValueError(f"{type(self).__name__} needs kernel and stride >= 1, got {self.kernel_size}, "
                             f"{self.stride}")
        self.training = True
        self._x_shape: tuple[int, ...] = ()

    def _views(self, x: np.ndarray):
        """Yield ``(offset index, view)``: the input seen by kernel offset (i, j) at every output pixel."""
        if x.ndim != 4:
            raise ValueError(f"{type(self).__name__} expects input (N, C, H, W), got {x.shape}")
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        out_h, out_w = output_size(x.shape[2], kh, sh, 0), output_size(x.shape[3], kw, sw, 0)
        if out_h < 1 or out_w < 1:
            raise ValueError(f"{type(self).__name__} kernel {self.kernel_size} does not fit input {x.shape}")
        for i in range(kh):
            for j in range(kw):
                yield i * kw + j, x[:, :, _window(i, sh, out_h), _window(j, sw, out_w)]

    def _overlapping(self) -> bool:
        return self.stride[0] < self.kernel_size[0] or self.stride[1] < self.kernel_size[1]

    def _grad_buffer(self, dtype: np.dtype, perm: tuple[int, ...] = (0, 1, 2, 3)) -> np.ndarray:
        """dL/dx storage with axes ``perm``: uninitialised when the windows tile x exactly (every entry gets
        written once)."""
        n, c, h, w = self._x_shape
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        tiles = (sh, sw) == (kh, kw) and h % kh == 0 and w % kw == 0
        shape = tuple(self._x_shape[axis] for axis in perm)
        return np.empty(shape, dtype=dtype) if tiles else np.zeros(shape, dtype=dtype)

    def config(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "kernel_size": list(self.kernel_size), "stride": list(self.stride)}


def _batch_axes_in_memory_order(x: np.ndarray) -> tuple[int, int, int, int]:
    """(1, 0, 2, 3) if x: (N, C, H, W) is a view of channel-major memory (C, N, H, W), else (0, 1, 2, 3)."""
    return (1, 0, 2, 3) if memory_order(x)[:2] == (1, 0) and x.shape[0] > 1 else (0, 1, 2, 3)


def _corners(x: np.ndarray) -> np.ndarray:
    """x: (N, C, H, W) -> (2, 2, N, C, H // 2, W // 2) whose [i, j] is corner (i, j) of every 2x2 window.

    For reading only (a view when H and W are even, else a copy of the cropped input). Copying it
    into a contiguous array in one go and then working on contiguous quarters is ~1.4x faster than
    running the element-wise ops on the four stride-2 views directly (numpy's strided loops are slow).
    """
    n, c, h, w = x.shape
    crop = x[:, :, :h - h % 2, :w - w % 2]
    return crop.reshape(n, c, h // 2, 2, w // 2, 2).transpose(3, 5, 0, 1, 2, 4)


class MaxPool2D(_Pool2D):
    """``y[n, c, y, x] = max_{i, j} x[n, c, s*y + i, s*x + j]``.

    Backward routes each ``g[n, c, y, x]`` to the first maximum of its window in row-major order
    (as PyTorch does; ties, common after a ReLU, get the gradient once); other inputs get 0.

    General kernels: the forward keeps x and y, and the backward recovers the argmax by comparing each
    kernel offset's view with y. 2x2 windows with stride 2 (the usual case) take a faster path: the
    forward compares the four corners a b / c d pairwise and keeps three boolean masks,
    ``b > a``, ``d > c`` and ``max(c, d) > max(a, b)``, which fix the first maximum exactly.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x_shape = x.shape
        if self.kernel_size == (2, 2) and self.stride == (2, 2):
            next(self._views(x))  # validates the shape
            # Work in memory order (N and C swapped for a channel-major Conv2D output) and hand back the
            # same layout, so neither this layer nor the next makes a transposing copy.
            self._perm = _batch_axes_in_memory_order(x)
            (a, b), (c, d) = np.ascontiguousarray(_corners(x.transpose(self._perm)))
            top, bottom = np.maximum(a, b), np.maximum(c, d)
            self._masks = (b > a, d > c, bottom > top)
            self._x = self._y = None
            return np.maximum(top, bottom, out=top).transpose(self._perm)
        self._masks = None
        best = None
        for _, view in self._views(x):
            best = view.copy() if best is None else np.maximum(best, view, out=best)
        self._x, self._y = x, best
        return best

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        if self._masks is not None:
            b_wins, d_wins, bottom_wins = self._masks
            grad_out = grad_out.transpose(self._perm)  # the forward's frame (its own inverse: swaps N, C)
            shares = np.empty((2, 2) + grad_out.shape, dtype=grad_out.dtype)  # same corner layout as forward
            (g_a, g_b), (g_c, g_d) = shares
            np.multiply(grad_out, bottom_wins, out=g_c)
            np.subtract(grad_out, g_c, out=g_a)
            np.multiply(g_a, b_wins, out=g_b)
            g_a -= g_b
            np.multiply(g_c, d_wins, out=g_d)
            g_c -= g_d
            dx = self._grad_buffer(grad_out.dtype, self._perm)
            for (_, view), share in zip(self._views(dx), (g_a, g_b, g_c, g_d)):
                view[...] = share
            return dx.transpose(self._perm)
        dx = self._grad_buffer(grad_out.dtype)
        overlapping = self._overlapping()
        unclaimed = None  # windows whose maximum has not been routed yet
        for (_, view), (_, dview) in zip(self._views(self._x), self._views(dx)):
            hit = view == self._y
            if unclaimed is None:
                unclaimed = ~hit
            else:
                hit &= unclaimed
                unclaimed ^= hit
            if overlapping:
                dview += grad_out * hit
            else:
                np.multiply(grad_out, hit, out=dview)
        return dx


class AvgPool2D(_Pool2D):
    """``y[n, c, y, x] = mean_{i, j} x[n, c, s*y + i, s*x + j]``;  backward spreads ``g / (kh*kw)`` over the window."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x_shape = x.shape
        total = None
        for _, view in self._views(x):
            total = view.copy() if total is None else np.add(total, view, out=total)
        total *= 1.0 / (self.kernel_size[0] * self.kernel_size[1])
        return total

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        dx = self._grad_buffer(grad_out.dtype)
        share = grad_out * (1.0 / (self.kernel_size[0] * self.kernel_size[1]))
        overlapping = self._overlapping()
        for _, view in self._views(dx):
            if overlapping:
                view += share
            else:
                view[...] = share
        return dx
