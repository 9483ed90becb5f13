"""2-D convolution as one matrix multiply over an im2col matrix.

For an input x: (N, C, H, W) zero-padded by ``p`` and a kernel (kh, kw) moved with stride ``s``, each
output pixel is the dot product of one weight row with the C*kh*kw input values under the kernel.
im2col copies those values into the columns of a matrix so that a single matmul computes every
output pixel of the whole batch:

    cols[(c, i, j), (n, y, x)] = xpad[n, c, s*y + i, s*x + j]            (K, N*Ho*Wo),  K = C*kh*kw
    out = W2 @ cols + b              with W2 = weight.reshape(O, K)        (O, N*Ho*Wo)

Backward, given g = dL/dout laid out the same way (O, N*Ho*Wo):

    dL/dW2 = g @ cols^T                                                  (O, K)
    dL/db  = g summed over n, y, x                                       (O,)
    dcols  = W2^T @ g                                                    (K, N*Ho*Wo)
    dL/dx  = col2im(dcols): every entry is added back onto the pixel it was copied from.

Memory layout (why it is fast):
- Channel-major ("CN"): the batch sits inside the column axis, so each of the three products above
  is one large BLAS call instead of N small ones. The result (O, N, Ho, Wo) is copied once into
  NCHW order (N, O, Ho, Wo), which makes the element-wise layers after it faster.
- "Wide" rows: the padded image is stored in rows of Wa = s * ceil(Wp / s) values (Wp = W + 2p) and
  the convolution is computed at every x in [0, Wa / s), keeping only the first Wo columns. Then for
  stride 1 the values under kernel offset (i, j) are one contiguous run of the flattened image,
  starting at i*Wa + j, so im2col and col2im each do kh*kw long contiguous copies/adds instead of
  N*C*Ho short rows. The extra columns cost (Wa/s - Wo) / Wo more arithmetic (14% on 14x14).
Both loops run over the kh*kw kernel offsets only; there is no loop over pixels or samples.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .init import init_weight
from .module import Module, Parameter


def output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """``floor((size + 2 * padding - kernel) / stride) + 1``."""
    return (size + 2 * padding - kernel) // stride + 1


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"expected an int or a pair, got {value!r}")
        return int(value[0]), int(value[1])
    return int(value), int(value)


def _window(offset: int, stride: int, count: int) -> slice:
    """Indices ``offset, offset + stride, ...`` (``count`` of them): where a kernel offset lands."""
    return slice(offset, offset + stride * (count - 1) + 1, stride)


class _Geometry:
    """Sizes of one convolution call: input (N, C, H, W), padded and wide buffers, output."""

    def __init__(self, x_shape: tuple[int, ...], kernel: tuple[int, int], stride: int, padding: int) -> None:
        self.n, self.c, self.h, self.w = x_shape
        self.kh, self.kw = kernel
        self.s, self.p = stride, padding
        self.out_h = output_size(self.h, self.kh, stride, padding)
        self.out_w = output_size(self.w, self.kw, stride, padding)
        padded_w = self.w + 2 * padding
        self.wide = -(-padded_w // stride)             # output columns computed per row (>= out_w)
        self.row = stride * self.wide                   # Wa: stored row length (>= padded width)
        self.rows = self.h + 2 * padding + stride       # extra zero rows: the last offsets' runs stay in bounds
        self.columns = self.n * self.out_h * self.wide  # width of the im2col matrix

    def tap(self, flat: np.ndarray, i: int, j: int) -> np.ndarray:
        """flat: (C, n, rows * row) -> view (C, n, out_h, wide) of the values under kernel offset (i, j)."""
        start = i * self.row + j
        run = flat[:, :, start:start + self.out_h * self.s * self.row]
        return run.reshape(flat.shape[0], flat.shape[1], self.out_h, self.s * self.row)[..., :self.row:self.s]

    def interior(self, buffer: np.ndarray) -> np.ndarray:
        """buffer: (C, N, rows, row) -> view (N, C, H, W) of the unpadded image inside it."""
        p = self.p
        return buffer[:, :, p:p + self.h, p:p + self.w].transpose(1, 0, 2, 3)


def im2col(x: np.ndarray, kernel_size: int | tuple[int, int], stride: int = 1, padding: int = 0) -> np.ndarray:
    """x: (N, C, H, W) -> cols (C*kh*kw, N, Ho, Wo), ``cols[(c,i,j), n, y, x] = xpad[n, c, s*y+i, s*x+j]``.

    A standalone (allocating) version of what ``Conv2D`` does internally, for study and tests.
    """
    geo = _Geometry(x.shape, _pair(kernel_size), stride, padding)
    buffer = np.zeros((geo.c, geo.n, geo.rows, geo.row), dtype=x.dtype)
    geo.interior(buffer)[...] = x
    cols = _im2col(geo, buffer, np.empty((geo.c, geo.kh, geo.kw, geo.n, geo.out_h, geo.wide), dtype=x.dtype))
    return cols.reshape(-1, geo.n, geo.out_h, geo.wide)[..., :geo.out_w]


def col2im(cols: np.ndarray, x_shape: tuple[int, int, int, int], kernel_size: int | tuple[int, int],
           stride: int = 1, padding: int = 0) -> np.ndarray:
    """Adjoint of ``im2col``: cols (C*kh*kw, N, Ho, Wo) -> (N, C, H, W), summing overlapping entries."""
    geo = _Geometry(x_shape, _pair(kernel_size), stride, padding)
    wide = np.zeros((geo.c, geo.kh, geo.kw, geo.n, geo.out_h, geo.wide), dtype=cols.dtype)
    wide.reshape(-1, geo.n, geo.out_h, geo.wide)[..., :geo.out_w] = cols
    buffer = np.zeros((geo.c, geo.n, geo.rows, geo.row), dtype=cols.dtype)
    _col2im(geo, wide, buffer.reshape(geo.c, geo.n, -1))
    return np.ascontiguousarray(geo.interior(buffer))


def _im2col(geo: _Geometry, buffer: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """buffer (C, N, rows, row) -> cols (C, kh, kw, N, out_h, wide): kh*kw slab copies."""
    flat = buffer.reshape(geo.c, geo.n, -1)
    for i in range(geo.kh):
        for j in range(geo.kw):
            cols[:, i, j] = geo.tap(flat, i, j)
    return cols


def _col2im(geo: _Geometry, dcols: np.ndarray, flat: np.ndarray) -> None:
    """Add dcols (C, kh, kw, n, out_h, wide) onto the padded images flat (C, n, rows * row): kh*kw slab adds."""
    for i in range(geo.kh):
        for j in range(geo.kw):
            geo.tap(flat, i, j)[...] += dcols[:, i, j]


_CHUNK_BYTES = 2 << 20  # slice of dcols that fits the (per-core) L2 cache
_BLOCK_COLUMNS = 4096   # columns per block of the weight-gradient product: small enough for one BLAS thread


def _blocks_of_samples(n: int, per_sample: int) -> int:
    """How many blocks to cut n samples of per_sample columns into: a divisor of n, blocks <= ~4096 columns."""
    per_block = max(1, _BLOCK_COLUMNS // per_sample)
    return next(blocks for blocks in range(-(-n // per_block), n + 1) if n % blocks == 0)


class Conv2D(Module):
    """2-D cross-correlation (as in PyTorch ``Conv2d``), NCHW.

    x: (N, C, H, W) -> y: (N, O, Ho, Wo), ``Ho = floor((H + 2p - kh) / s) + 1`` (likewise Wo);
    weight: (O, C, kh, kw), bias: (O,).

        y[n, o, y, x] = b[o] + sum_{c, i, j} weight[o, c, i, j] * xpad[n, c, s*y + i, s*x + j]
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], stride: int = 1,
                 padding: int = 0, *, init: str = "he", rng: np.random.Generator | None = None,
                 dtype: Any = np.float32) -> None:
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = _pair(kernel_size)
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
        # Scratch buffers reused between calls; their zero borders / zero extra columns are written once.
        self._padded: np.ndarray | None = None
        self._cols: np.ndarray | None = None
        self._grad_wide: np.ndarray | None = None
        self._dcols = None
        self._geo: _Geometry | None = None

    def _buffer(self, name: str, shape: tuple[int, ...], dtype: np.dtype, zero: bool = False) -> np.ndarray:
        buf = getattr(self, name)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = np.zeros(shape, dtype=dtype) if zero else np.empty(shape, dtype=dtype)
            setattr(self, name, buf)
        return buf

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"Conv2D expects input (N, {self.in_channels}, H, W), got {x.shape}")
        geo = _Geometry(x.shape, self.kernel_size, self.stride, self.padding)
        if geo.out_h < 1 or geo.out_w < 1:
            raise ValueError(f"Conv2D kernel {self.kernel_size} with padding {self.padding} does not fit input "
                             f"{x.shape}")
        self._geo = geo
        padded = self._buffer("_padded", (geo.c, geo.n, geo.rows, geo.row), x.dtype, zero=True)
        geo.interior(padded)[...] = x
        # cols_1 = [cols; 1...1] (K+1, N*Ho*wide): the row of ones carries the bias through the matmuls,
        # [W2 b] @ cols_1 = W2 @ cols + b and g @ cols_1^T = [dL/dW2  dL/db], which saves a full pass over
        # the output in forward (bias add) and one over g in backward (bias sum).
        k = geo.c * geo.kh * geo.kw
        cols_1 = self._buffer("_cols", (k + 1, geo.columns), x.dtype)
        cols_1[k] = 1
        _im2col(geo, padded, cols_1[:k].reshape(geo.c, geo.kh, geo.kw, geo.n, geo.out_h, geo.wide))
        weight_1 = np.concatenate([self.weight.data.reshape(self.out_channels, k), self.bias.data[:, None]], axis=1)
        out = np.empty((self.out_channels, geo.columns), dtype=np.result_type(x, self.weight.data))
        np.matmul(weight_1, cols_1, out=out)
        # Returned as an (N, O, Ho, Wo) view of the channel-major result, not copied into NCHW order: the
        # layers after it (pooling, ReLU) work in memory order and keep this layout, and so does the next
        # Conv2D's padding copy, so no transposing copy is made anywhere in the stack. A new array each
        # call, since the caller may hold on to the output.
        return out.reshape(self.out_channels, geo.n, geo.out_h, geo.wide)[..., :geo.out_w].transpose(1, 0, 2, 3)

    def _wide_grad(self, grad_out: np.ndarray) -> np.ndarray:
        """g (N, O, Ho, Wo) -> (O, N*Ho*wide) with zeros in the extra columns."""
        geo = self._geo
        wide = self._buffer("_grad_wide", (self.out_channels, geo.n, geo.out_h, geo.wide), grad_out.dtype,
                            zero=True)
        wide[..., :geo.out_w] = grad_out.transpose(1, 0, 2, 3)
        return wide.reshape(self.out_channels, -1)

    def _accumulate(self, g: np.ndarray) -> None:
        """g: (O, N*Ho*wide) -> weight.grad += g @ cols^T, bias.grad += g @ 1 (one product, see forward)."""
        # One product with a very long inner axis runs poorly in BLAS (24 GFLOP/s for the first layer's
        # (16, 107520) @ (107520, 10), 4x slower than this): split that axis into blocks of whole samples,
        # multiply the blocks as one stacked matmul and sum the small (K+1, O) results.
        geo = self._geo
        blocks = _blocks_of_samples(geo.n, geo.out_h * geo.wide)
        cols = self._cols.reshape(self._cols.shape[0], blocks, -1).transpose(1, 0, 2)  # (B, K+1, L/B)
        both = np.matmul(cols, g.reshape(self.out_channels, blocks, -1).transpose(1, 2, 0)).sum(axis=0).T  # (O, K+1)
        self.weight.grad.reshape(self.out_channels, -1)[...] += both[:, :-1]
        self.bias.grad += both[:, -1]

    def param_backward(self, grad_out: np.ndarray) -> None:
        self._accumulate(self._wide_grad(grad_out))

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        g = self._wide_grad(grad_out)
        self._accumulate(g)
        geo = self._geo
        o, k, per_sample = self.out_channels, self._cols.shape[0] - 1, geo.out_h * geo.wide
        weight_t = self.weight.data.reshape(o, k).T
        g = g.reshape(o, geo.n, per_sample)
        padded = np.zeros((geo.c, geo.n, geo.rows, geo.row), dtype=g.dtype)  # new: the result is a view into it
        flat = padded.reshape(geo.c, geo.n, -1)
        # dcols = W2^T g is computed a few samples at a time and folded back at once, so each slice of
        # dcols is still in cache when col2im reads it (~15% faster than one big product).
        chunk = max(1, _CHUNK_BYTES // (k * per_sample * g.itemsize))
        scratch = self._buffer("_dcols", (k * per_sample * min(chunk, geo.n),), g.dtype)
        for n0 in range(0, geo.n, chunk):
            n1 = min(geo.n, n0 + chunk)
            dcols = scratch[:k * (n1 - n0) * per_sample].reshape(k, -1)
            np.matmul(weight_t, g[:, n0:n1].reshape(o, -1), out=dcols)
            _col2im(geo, dcols.reshape(geo.c, geo.kh, geo.kw, n1 - n0, geo.out_h, geo.wide), flat[:, n0:n1])
        return geo.interior(padded)  # channel-major, like the forward's output (see forward)

    def config(self) -> dict[str, Any]:
        return {"type": "Conv2D", "in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": self.stride, "padding": self.padding,
                "init": self.init, "dtype": np.dtype(self.weight.data.dtype).name}
