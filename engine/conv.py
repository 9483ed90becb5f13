"""2-D convolution as one matrix multiply over an im2col matrix.

For an input x: (N, C, H, W) zero-padded by ``p`` and a kernel (kh, kw) moved with stride ``s``, each
output pixel is the dot product of one weight row with the C*kh*kw input values under the kernel.
im2col copies those values into the columns of a matrix, so that a single matmul computes every
output pixel of the whole batch:

    cols[(c, i, j), (n, y, x)] = xpad[n, c, s*y + i, s*x + j]            (K, L),  K = C*kh*kw, L = N*Ho*Wo
    out = W2 @ cols + b              with W2 = weight.reshape(O, K)        (O, L)

Backward, given g = dL/dout laid out the same way (O, L):

    dL/dW2 = g @ cols^T                                                  (O, K)
    dL/db  = g summed over n, y, x                                       (O,)
    dcols  = W2^T @ g                                                    (K, L)
    dL/dx  = col2im(dcols): every entry is added back onto the pixel it was copied from.

The slow loop version of all this is ``engine.reference.conv2d`` / ``conv2d_backward``. The steps
run in ``engine.kernels.conv.ConvWorkspace``, which lays the matrices out for speed (batch inside the
columns, wide rows, a bias row of ones, blocked and chunked products) without changing the maths.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .init import init_weight
from .kernels import conv as kernels
from .kernels.conv import output_size
from .module import Module, Parameter

__all__ = ["Conv2D", "im2col", "col2im", "output_size"]


def pair(value: int | tuple[int, int]) -> tuple[int, int]:
    """``3 -> (3, 3)``; a pair stays a pair."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"expected an int or a pair, got {value!r}")
        return int(value[0]), int(value[1])
    return int(value), int(value)


_pair = pair  # the name before the kernels split


def im2col(x: np.ndarray, kernel_size: int | tuple[int, int], stride: int = 1, padding: int = 0) -> np.ndarray:
    """x: (N, C, H, W) -> cols (C*kh*kw, N, Ho, Wo), ``cols[(c,i,j), n, y, x] = xpad[n, c, s*y+i, s*x+j]``."""
    return kernels.im2col(x, pair(kernel_size), stride, padding)


def col2im(cols: np.ndarray, x_shape: tuple[int, int, int, int], kernel_size: int | tuple[int, int],
           stride: int = 1, padding: int = 0) -> np.ndarray:
    """Adjoint of ``im2col``: cols (C*kh*kw, N, Ho, Wo) -> (N, C, H, W), summing overlapping entries."""
    return kernels.col2im(cols, x_shape, pair(kernel_size), stride, padding)


class Conv2D(Module):
    """2-D cross-correlation (as in PyTorch ``Conv2d``), NCHW.

    x: (N, C, H, W) -> y: (N, O, Ho, Wo), ``Ho = floor((H + 2p - kh) / s) + 1`` (likewise Wo);
    weight: (O, C, kh, kw), bias: (O,).

        y[n, o, y, x] = b[o] + sum_{c, i, j} weight[o, c, i, j] * xpad[n, c, s*y + i, s*x + j]

    The output is an (N, O, Ho, Wo) view of channel-major memory (see ``engine.layout``).
    Reference: ``engine.reference.conv2d`` and ``conv2d_backward``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], stride: int = 1,
                 padding: int = 0, *, init: str = "he", rng: np.random.Generator | None = None,
                 dtype: Any = np.float32) -> None:
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = pair(kernel_size)
        self.stride, self.padding, self.init = int(stride), int(padding), init
        if self.stride < 1 or self.padding < 0 or min(self.kernel_size) < 1:
            raise ValueError(f"Conv2D needs kernel >= 1, stride >= 1, padding >= 0; got kernel {self.kernel_size}, "
                             f"stride {self.stride}, padding {self.padding}")
        kh, kw = self.kernel_size
        fan_in, fan_out = self.in_channels * kh * kw, self.out_channels * kh * kw
        self.weight = Parameter(init_weight(init, (self.out_channels, self.in_channels, kh, kw), fan_in, fan_out,
                                            rng, dtype))
        self.bias = Parameter(np.zeros(self.out_channels, dtype=dtype))
        self.training = True
        self.fast = kernels.ConvWorkspace()  # buffers and layout of the steps below
        self._cols: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        geometry = self._geometry(x)
        self._cols = cols = self.fast.im2col(geometry, x)           # pad, then cols (K, L)
        out = self.fast.matmul_bias(self._w2(), self.bias.data, cols)  # W2 @ cols + b: (O, L)
        return self.fast.images(out)                                  # (N, O, Ho, Wo)

    def param_backward(self, grad_out: np.ndarray) -> None:
        self._add_param_grads(self.fast.grad_columns(grad_out))

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        g = self.fast.grad_columns(grad_out)                          # (O, L)
        self._add_param_grads(g)
        return self.fast.col2im_matmul(self._w2(), g)                  # col2im(W2^T @ g): (N, C, H, W)

    def _add_param_grads(self, g: np.ndarray) -> None:
        dw2, db = self.fast.weight_bias_grad(g, self._cols)           # g @ cols^T, sum of g over n, y, x
        self.weight.grad += dw2.reshape(self.weight.grad.shape)
        self.bias.grad += db

    def _w2(self) -> np.ndarray:
        return self.weight.data.reshape(self.out_channels, -1)       # W2: (O, K)

    def _geometry(self, x: np.ndarray) -> kernels.ConvGeometry:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"Conv2D expects input (N, {self.in_channels}, H, W), got {x.shape}")
        geometry = kernels.ConvGeometry(x.shape, self.kernel_size, self.stride, self.padding)
        if geometry.out_h < 1 or geometry.out_w < 1:
            raise ValueError(f"Conv2D kernel {self.kernel_size} with padding {self.padding} does not fit input "
                             f"{x.shape}")
        return geometry

    def config(self) -> dict[str, Any]:
        return {"type": "Conv2D", "in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": self.stride, "padding": self.padding,
                "init": self.init, "dtype": np.dtype(self.weight.data.dtype).name}
