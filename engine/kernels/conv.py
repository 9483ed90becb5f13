"""The fast im2col convolution behind ``engine.conv.Conv2D``: the same three products, laid out for speed.

``Conv2D`` reads like its equations (``engine.conv``): pad, im2col, ``W2 @ cols + b``; backward
``g @ cols^T``, ``sum g``, ``col2im(W2^T @ g)``. ``ConvWorkspace`` performs those steps with these
tricks (each measured on the 2-core development machine, batch 64 per data-parallel slice):

- **Channel-major columns.** cols is (K, N*Ho*Wo) with the batch *inside* the column axis, so each
  product is one large BLAS call instead of N small ones. The output comes out as (O, N, Ho, Wo);
  the layer hands it on as an (N, O, Ho, Wo) *view* (no transposing copy), and the element-wise
  layers after it work in memory order (``engine.layout``).
- **Wide rows.** The padded images are stored in rows of ``Wa = s * ceil(Wp / s)`` values
  (Wp = W + 2p), and the convolution is computed at every x in [0, Wa / s), keeping only the first
  Wo columns. Then for stride 1 the values under kernel offset (i, j) are one contiguous run of each
  flattened image, starting at ``i*Wa + j``, so im2col and col2im are kh*kw long slab copies / adds
  instead of N*C*Ho short rows. The extra columns cost (Wa/s - Wo) / Wo more arithmetic (14% on
  14x14); their gradient is zero, so they add nothing to dW.
- **Bias row of ones.** The cols buffer has one more row, all ones: ``[W2 b] @ [cols; 1] = W2 @ cols + b``
  and ``g @ [cols; 1]^T = [dW2  db]``. That saves a full pass over the output in forward (the bias
  add) and one over g in backward (the bias sum).
- **Blocked weight gradient.** ``g @ cols^T`` has a very long inner axis (N*Ho*Wa), which OpenBLAS
  runs poorly (24 GFLOP/s for the first layer's (16, 107520) @ (107520, 10), 4x slower than
  blocked): the inner axis is cut into blocks of whole samples (<= ~4096 columns), multiplied as one
  stacked matmul, and the small (K+1, O) results summed.
- **Chunked dcols.** ``dcols = W2^T @ g`` is computed a few samples at a time (a ~2 MB slice, the
  size of a core's cache) and folded back by col2im at once, while it is still in cache (~15% faster
  than one big product and one big col2im).
- **Buffer reuse.** The padded image, cols and wide-g buffers are allocated once per shape and
  reused; their zero borders and zero extra columns are written once. Outputs handed to the caller
  are always new arrays (the caller may keep them).
"""

from __future__ import annotations

import numpy as np

_CHUNK_BYTES = 2 << 20  # slice of dcols that fits the (per-core) L2 cache
_BLOCK_COLUMNS = 4096   # columns per block of the weight-gradient product: small enough for one BLAS thread


def output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """``floor((size + 2 * padding - kernel) / stride) + 1``."""
    return (size + 2 * padding - kernel) // stride + 1


class ConvGeometry:
    """Sizes of one convolution call: input (N, C, H, W), the padded wide-row buffer, the output."""

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
        self.k = self.c * self.kh * self.kw             # rows of the im2col matrix
        self.columns = self.n * self.out_h * self.wide  # columns of the im2col matrix (wide)

    def key(self) -> tuple:
        return (self.n, self.c, self.h, self.w, self.kh, self.kw, self.s, self.p)

    def tap(self, flat: np.ndarray, i: int, j: int) -> np.ndarray:
        """flat: (C, n, rows * row) -> view (C, n, out_h, wide) of the values under kernel offset (i, j)."""
        start = i * self.row + j
        run = flat[:, :, start:start + self.out_h * self.s * self.row]
        return run.reshape(flat.shape[0], flat.shape[1], self.out_h, self.s * self.row)[..., :self.row:self.s]

    def interior(self, buffer: np.ndarray) -> np.ndarray:
        """buffer: (C, N, rows, row) -> view (N, C, H, W) of the unpadded image inside it."""
        p = self.p
        return buffer[:, :, p:p + self.h, p:p + self.w].transpose(1, 0, 2, 3)

    def padded(self, dtype: np.dtype) -> np.ndarray:
        """A new zero (C, N, rows, row) buffer."""
        return np.zeros((self.c, self.n, self.rows, self.row), dtype=dtype)


def gather_taps(geo: ConvGeometry, padded: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """im2col: padded (C, N, rows, row) -> cols (C, kh, kw, N, out_h, wide), kh*kw slab copies."""
    flat = padded.reshape(geo.c, geo.n, -1)
    for i in range(geo.kh):
        for j in range(geo.kw):
            cols[:, i, j] = geo.tap(flat, i, j)
    return cols


def scatter_taps(geo: ConvGeometry, dcols: np.ndarray, flat: np.ndarray) -> None:
    """col2im: add dcols (C, kh, kw, n, out_h, wide) onto the padded images flat (C, n, rows * row), kh*kw slab adds."""
    for i in range(geo.kh):
        for j in range(geo.kw):
            geo.tap(flat, i, j)[...] += dcols[:, i, j]


def _blocks_of_samples(n: int, per_sample: int) -> int:
    """How many blocks to cut n samples of per_sample columns into: a divisor of n, blocks <= ~4096 columns."""
    per_block = max(1, _BLOCK_COLUMNS // per_sample)
    return next(blocks for blocks in range(-(-n // per_block), n + 1) if n % blocks == 0)


class ConvWorkspace:
    """The buffers of one Conv2D and the fast versions of its steps (see the module docstring).

    Matrices handed between the steps are 2-D: cols (K, L), out and g (O, L), with L = N*Ho*Wa the
    wide column count. They stay valid until the next ``im2col`` / ``grad_columns`` call.
    """

    def __init__(self) -> None:
        self.geo: ConvGeometry | None = None
        self._padded: np.ndarray | None = None
        self._cols: np.ndarray | None = None      # (K + 1, L): cols and the bias row of ones
        self._grad: np.ndarray | None = None      # (O, N, Ho, Wa): g with zero extra columns
        self._dcols: np.ndarray | None = None     # one chunk of dcols

    @staticmethod
    def _reuse(buffer: np.ndarray | None, shape: tuple[int, ...], dtype: np.dtype, zero: bool) -> np.ndarray:
        if buffer is None or buffer.shape != shape or buffer.dtype != dtype:
            return np.zeros(shape, dtype=dtype) if zero else np.empty(shape, dtype=dtype)
        return buffer

    def im2col(self, geo: ConvGeometry, x: np.ndarray) -> np.ndarray:
        """Pad x (N, C, H, W) and copy it into cols (K, L); the bias row of ones sits right below."""
        self.geo = geo
        self._padded = padded = self._reuse(self._padded, (geo.c, geo.n, geo.rows, geo.row), x.dtype, zero=True)
        geo.interior(padded)[...] = x
        self._cols = cols_1 = self._reuse(self._cols, (geo.k + 1, geo.columns), x.dtype, zero=False)
        cols_1[geo.k] = 1
        gather_taps(geo, padded, cols_1[:geo.k].reshape(geo.c, geo.kh, geo.kw, geo.n, geo.out_h, geo.wide))
        return cols_1[:geo.k]

    def matmul_bias(self, w2: np.ndarray, b: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """``W2 @ cols + b`` (O, L), as one product ``[W2 b] @ [cols; 1]``; cols must come from ``im2col``."""
        cols_1 = self._own_cols(cols)
        weight_1 = np.concatenate([w2, b[:, None]], axis=1)
        out = np.empty((w2.shape[0], cols_1.shape[1]), dtype=np.result_type(cols, w2))
        return np.matmul(weight_1, cols_1, out=out)

    def images(self, out: np.ndarray) -> np.ndarray:
        """out (O, L) -> (N, O, Ho, Wo): a view of its valid columns (channel-major memory, no copy)."""
        geo = self.geo
        return out.reshape(out.shape[0], geo.n, geo.out_h, geo.wide)[..., :geo.out_w].transpose(1, 0, 2, 3)

    def grad_columns(self, grad_out: np.ndarray) -> np.ndarray:
        """g (N, O, Ho, Wo) -> (O, L), zeros in the extra wide columns (the inverse of ``images``)."""
        geo, o = self.geo, grad_out.shape[1]
        self._grad = wide = self._reuse(self._grad, (o, geo.n, geo.out_h, geo.wide), grad_out.dtype, zero=True)
        wide[..., :geo.out_w] = grad_out.transpose(1, 0, 2, 3)
        return wide.reshape(o, -1)

    def weight_bias_grad(self, g: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(g @ cols^T, sum_L g)``: (O, K) and (O,), as one blocked product ``g @ [cols; 1]^T``."""
        cols_1 = self._own_cols(cols)
        geo, o = self.geo, g.shape[0]
        blocks = _blocks_of_samples(geo.n, geo.out_h * geo.wide)
        stacked_cols = cols_1.reshape(cols_1.shape[0], blocks, -1).transpose(1, 0, 2)      # (B, K+1, L/B)
        stacked_g = g.reshape(o, blocks, -1).transpose(1, 2, 0)                            # (B, L/B, O)
        both = np.matmul(stacked_cols, stacked_g).sum(axis=0).T                            # (O, K+1)
        return both[:, :-1], both[:, -1]

    def col2im_matmul(self, w2: np.ndarray, g: np.ndarray) -> np.ndarray:
        """``col2im(W2^T @ g)`` -> dx (N, C, H, W), in cache-sized chunks of samples (a channel-major view)."""
        geo, o = self.geo, g.shape[0]
        per_sample = geo.out_h * geo.wide
        weight_t, g = w2.T, g.reshape(o, geo.n, per_sample)
        padded = geo.padded(g.dtype)  # new each call: the result is a view into it
        flat = padded.reshape(geo.c, geo.n, -1)
        chunk = max(1, _CHUNK_BYTES // (geo.k * per_sample * g.itemsize))
        self._dcols = scratch = self._reuse(self._dcols, (geo.k * per_sample * min(chunk, geo.n),), g.dtype,
                                            zero=False)
        for n0 in range(0, geo.n, chunk):
            n1 = min(geo.n, n0 + chunk)
            dcols = scratch[:geo.k * (n1 - n0) * per_sample].reshape(geo.k, -1)
            np.matmul(weight_t, g[:, n0:n1].reshape(o, -1), out=dcols)
            scatter_taps(geo, dcols.reshape(geo.c, geo.kh, geo.kw, n1 - n0, geo.out_h, geo.wide), flat[:, n0:n1])
        return geo.interior(padded)

    def _own_cols(self, cols: np.ndarray) -> np.ndarray:
        """The (K + 1, L) buffer whose first K rows are ``cols``."""
        if self._cols is None or cols.base is not self._cols:
            raise ValueError("cols must be the matrix returned by this workspace's im2col")
        return self._cols


def im2col(x: np.ndarray, kernel: tuple[int, int], stride: int = 1, padding: int = 0) -> np.ndarray:
    """x: (N, C, H, W) -> cols (C*kh*kw, N, Ho, Wo), ``cols[(c,i,j), n, y, x] = xpad[n, c, s*y+i, s*x+j]``."""
    geo = ConvGeometry(x.shape, kernel, stride, padding)
    padded = geo.padded(x.dtype)
    geo.interior(padded)[...] = x
    cols = gather_taps(geo, padded, np.empty((geo.c, geo.kh, geo.kw, geo.n, geo.out_h, geo.wide), dtype=x.dtype))
    return cols.reshape(-1, geo.n, geo.out_h, geo.wide)[..., :geo.out_w]


def col2im(cols: np.ndarray, x_shape: tuple[int, int, int, int], kernel: tuple[int, int], stride: int = 1,
           padding: int = 0) -> np.ndarray:
    """Adjoint of ``im2col``: cols (C*kh*kw, N, Ho, Wo) -> (N, C, H, W), summing overlapping entries."""
    geo = ConvGeometry(x_shape, kernel, stride, padding)
    wide = np.zeros((geo.c, geo.kh, geo.kw, geo.n, geo.out_h, geo.wide), dtype=cols.dtype)
    wide.reshape(-1, geo.n, geo.out_h, geo.wide)[..., :geo.out_w] = cols
    padded = geo.padded(cols.dtype)
    scatter_taps(geo, wide, padded.reshape(geo.c, geo.n, -1))
    return np.ascontiguousarray(geo.interior(padded))
