"""Max and average pooling over (kh, kw) windows moved with a stride, NCHW.

x: (N, C, H, W) -> y: (N, C, Ho, Wo), ``Ho = floor((H - kh) / s) + 1`` (no padding, like PyTorch's default).
Both pools loop over the kh*kw kernel offsets (4 iterations for 2x2), each handling a strided view
of the whole batch: no window copies, no loops over pixels. Reference (one window at a time):
``engine.reference.maxpool2d`` / ``avgpool2d`` and their ``_backward``.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from .conv import output_size, pair
from .kernels.pool import MaxPool2x2
from .module import Module


class _Pool2D(Module):
    def __init__(self, kernel_size: int | tuple[int, int] = 2, stride: int | tuple[int, int] | None = None) -> None:
        self.kernel_size = pair(kernel_size)
        self.stride = self.kernel_size if stride is None else pair(stride)
        if min(self.kernel_size) < 1 or min(self.stride) < 1:
            raise ValueError(f"{type(self).__name__} needs kernel and stride >= 1, got {self.kernel_size}, "
                             f"{self.stride}")
        self.training = True
        self._x_shape: tuple[int, ...] = ()

    def _views(self, x: np.ndarray) -> Iterator[np.ndarray]:
        """For each kernel offset (i, j): the view ``x[:, :, s*y + i, s*x + j]`` over every output pixel (y, x)."""
        if x.ndim != 4:
            raise ValueError(f"{type(self).__name__} expects input (N, C, H, W), got {x.shape}")
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        out_h, out_w = output_size(x.shape[2], kh, sh, 0), output_size(x.shape[3], kw, sw, 0)
        if out_h < 1 or out_w < 1:
            raise ValueError(f"{type(self).__name__} kernel {self.kernel_size} does not fit input {x.shape}")
        for i in range(kh):
            for j in range(kw):
                yield x[:, :, i:i + sh * (out_h - 1) + 1:sh, j:j + sw * (out_w - 1) + 1:sw]

    def _overlapping(self) -> bool:
        return self.stride[0] < self.kernel_size[0] or self.stride[1] < self.kernel_size[1]

    def _grad_buffer(self, dtype: np.dtype) -> np.ndarray:
        """dL/dx storage: zeros, except uninitialised when the windows tile x exactly (all written once)."""
        n, c, h, w = self._x_shape
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        tiles = (sh, sw) == (kh, kw) and h % kh == 0 and w % kw == 0
        return np.empty(self._x_shape, dtype=dtype) if tiles else np.zeros(self._x_shape, dtype=dtype)

    def config(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "kernel_size": list(self.kernel_size), "stride": list(self.stride)}


class MaxPool2D(_Pool2D):
    """``y[n, c, y, x] = max_{i, j} x[n, c, s*y + i, s*x + j]``.

    Backward routes each ``g[n, c, y, x]`` to the first maximum of its window in row-major order
    (as PyTorch does; ties, common after a ReLU, get the gradient once); other inputs get 0.
    The forward keeps x and y, and the backward finds each window's first maximum by comparing each
    kernel offset's view with y. 2x2 windows with stride 2 (the usual case) run the same maths in
    ``engine.kernels.pool.MaxPool2x2`` (three boolean masks instead of x and y).
    """

    def __init__(self, kernel_size: int | tuple[int, int] = 2, stride: int | tuple[int, int] | None = None) -> None:
        super().__init__(kernel_size, stride)
        self._fast = MaxPool2x2() if self.kernel_size == self.stride == (2, 2) else None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x_shape = x.shape
        views = self._views(x)
        first = next(views)  # also validates the shape
        if self._fast is not None:
            self._x = self._y = None
            return self._fast.forward(x)
        best = first.copy()
        for view in views:
            np.maximum(best, view, out=best)
        self._x, self._y = x, best
        return best

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        if self._fast is not None:
            return self._fast.backward(grad_out)
        dx = self._grad_buffer(grad_out.dtype)
        unclaimed = np.ones(self._y.shape, dtype=bool)  # windows whose maximum has not been routed yet
        for view, dview in zip(self._views(self._x), self._views(dx)):
            hit = (view == self._y) & unclaimed          # the first offset holding the maximum
            unclaimed ^= hit
            if self._overlapping():
                dview += grad_out * hit
            else:
                np.multiply(grad_out, hit, out=dview)
        return dx


class AvgPool2D(_Pool2D):
    """``y[n, c, y, x] = mean_{i, j} x[n, c, s*y + i, s*x + j]``;  backward spreads ``g / (kh*kw)`` over the window."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x_shape = x.shape
        views = self._views(x)
        total = next(views).copy()
        for view in views:
            total += view
        total *= 1.0 / (self.kernel_size[0] * self.kernel_size[1])
        return total

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        dx = self._grad_buffer(grad_out.dtype)
        share = grad_out * (1.0 / (self.kernel_size[0] * self.kernel_size[1]))
        for view in self._views(dx):
            if self._overlapping():
                view += share
            else:
                view[...] = share
        return dx
