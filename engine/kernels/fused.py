"""Conv2D -> MaxPool2D(2) -> ReLU run as one step: the same maths, laid out so the pooling costs no copies.

``Sequential`` (engine.module) runs every ``Conv2D`` (stride 1) followed by a 2x2 stride-2
``MaxPool2D``, with a ``ReLU`` after the pool or between the two, through ``ConvPoolReLU`` below. The
result equals running the three layers one after another (``Sequential.fuse = False``): the same
products, the same maxima, the same first-maximum routing of the gradient.

Why: separately, the conv writes its output, the pool copies the four corners of every 2x2 window out
of it (strided, slow in numpy) and writes dx back through four strided views, and the conv then copies
that gradient into its column layout again. Those passes over the largest activation of the network
cost as much as the conv's arithmetic in the first layer. Here the conv computes its output *already
sorted by window corner*:

- **Phase images.** The padded input is stored as its four 2x2 phases ``P[py, px][Y, X] = xpad[2Y+py, 2X+px]``
  (wide rows of ``Wq`` values, as in ``kernels.conv``), with the batch innermost: (Y, X, n). The input
  of kernel tap (i, j) at window corner (di, dj) of pooled pixel (y2, x2) is
  ``xpad[2*y2 + di + i, 2*x2 + dj + j]``, which lies in phase ``((di+i) % 2, (dj+j) % 2)`` at
  ``(y2 + (di+i) // 2, x2 + (dj+j) // 2)``: for all pooled pixels of all samples that is *one*
  contiguous run per channel. So im2col is ``4*kh*kw`` long slab copies, and its columns come out
  ordered (corner, y2, x2, n). Splitting the input into phases costs four strided copies (small next
  to the four-times-larger conv output the separate pool would copy).
- **Batch innermost.** Every array this step hands on or receives (its output, the gradient it gets, the
  dx it returns) is an (N, C, H, W) view of (C, H, W, N) memory, so each copy between layouts moves
  runs of N values: 4-9x faster than runs of one image row (7-14 values). ``Flatten`` keeps that order
  (``engine.layers``), and the dense layer after it multiplies the transposed view as it is.
- **Corner blocks.** ``out = [W2 b] @ [cols; 1]`` is then (O, 4, M): the four corners a, b, c, d of
  every window are four contiguous blocks, and max-pooling is three ``np.maximum`` over them, with
  the three masks of ``kernels.pool`` (``b > a``, ``d > c``, ``max(c, d) > max(a, b)``). ReLU follows
  on the pooled quarter (``max(relu(.)) = relu(max(.))`` and the masks agree; see ``engine.reference``).
- **Backward in the same order.** The pooled gradient is routed to the corners straight into an
  (O, 4, M) matrix, which *is* g in the column order of cols: ``dW2 = g @ cols^T``,
  ``dcols = W2^T @ g`` and col2im need no layout copy; dx leaves the phase layout by four strided copies.
"""

from __future__ import annotations

import numpy as np

from .conv import _CHUNK_BYTES, _blocks_of_samples

_CORNERS = ((0, 0), (0, 1), (1, 0), (1, 1))  # a b / c d: row-major order, the order ties are broken in


class _PhaseGeometry:
    """Sizes for input (N, C, H, W), a stride-1 kernel (kh, kw) with padding p, then a 2x2 max-pool.

    Phase images are stored (C, 2, 2, rows, row, N): for each phase, pixel (Y, X) of every sample side by
    side. A tap's values for all pooled pixels are then one run of ``out_h * row * N`` values per channel.
    """

    def __init__(self, x_shape: tuple[int, ...], kernel: tuple[int, int], padding: int) -> None:
        self.n, self.c, self.h, self.w = x_shape
        self.kh, self.kw = kernel
        self.p = padding
        padded_h, padded_w = self.h + 2 * padding, self.w + 2 * padding
        self.out_h, self.out_w = (padded_h - self.kh + 1) // 2, (padded_w - self.kw + 1) // 2  # pooled size
        self.row = max(-(-padded_w // 2), self.out_w + self.kw // 2)                          # Wq
        self.rows = max(-(-padded_h // 2), self.out_h + self.kh // 2) + 1  # +1: the last runs stay in bounds
        self.k = self.c * self.kh * self.kw
        self.line = self.row * self.n                                        # one phase row of every sample
        self.per_corner = self.out_h * self.line                             # M: columns per corner
        self.phases = list(self._phase_slices())  # computed once: a step reuses them in every call
        self.taps = list(self._taps())

    def key(self) -> tuple:
        return (self.n, self.c, self.h, self.w, self.kh, self.kw, self.p)

    def _phase_slices(self):
        """For each phase (py, px): (x rows, x cols, phase rows, phase cols) that hold the unpadded image."""
        for py in range(2):
            for px in range(2):
                r0, c0 = (py - self.p) % 2, (px - self.p) % 2       # first x row/col landing in this phase
                rows, cols = len(range(r0, self.h, 2)), len(range(c0, self.w, 2))
                y0, x0 = (r0 + self.p) // 2, (c0 + self.p) // 2
                yield (py, px, slice(r0, self.h, 2), slice(c0, self.w, 2), slice(y0, y0 + rows),
                       slice(x0, x0 + cols))

    def _taps(self):
        """For each (corner, kernel tap): (corner index, i, j, phase py, px, start of its run in a phase)."""
        for corner, (di, dj) in enumerate(_CORNERS):
            for i in range(self.kh):
                for j in range(self.kw):
                    yield (corner, i, j, (di + i) % 2, (dj + j) % 2,
                           ((di + i) // 2) * self.line + ((dj + j) // 2) * self.n)


class ConvPoolReLU:
    """One fused step for ``conv`` (stride 1), a 2x2 stride-2 max-pool and, if ``relu``, a ReLU.

    forward x (N, C, H, W) -> (N, O, Ho // 2, Wo // 2) (a view); backward returns dx (a view) and adds
    to ``conv``'s weight and bias gradients. Columns are ordered (corner, y2, x2, n), x2 over ``row``
    (wide) positions of which the first ``out_w`` are real.
    """

    def __init__(self, conv, relu: bool) -> None:
        self.conv, self.relu = conv, relu
        self.geo: _PhaseGeometry | None = None
        self._phases = self._cols = self._out = self._grad = self._corners_grad = self._dcols = None

    def parameters(self) -> list:
        return self.conv.parameters()

    @staticmethod
    def _reuse(buffer, shape, dtype, zero=False) -> np.ndarray:
        if buffer is None or buffer.shape != shape or buffer.dtype != dtype:
            return np.zeros(shape, dtype=dtype) if zero else np.empty(shape, dtype=dtype)
        return buffer

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.geo is None or self.geo.key() != (*x.shape, *self.conv.kernel_size, self.conv.padding):
            self.conv._geometry(x)  # validates x against the conv, with the layer's own messages
            geo = _PhaseGeometry(x.shape, self.conv.kernel_size, self.conv.padding)
            if geo.out_h < 1 or geo.out_w < 1:
                raise ValueError(f"MaxPool2D kernel (2, 2) does not fit the Conv2D output for input {x.shape}")
            self.geo, self._phases, self._grad = geo, None, None  # their zero borders belong to one geometry
        geo = self.geo
        shape = (geo.c, 2, 2, geo.rows, geo.row, geo.n)
        self._phases = phases = self._reuse(self._phases, shape, x.dtype, zero=True)
        batch_last = x.transpose(1, 2, 3, 0)                                  # (C, H, W, N)
        for py, px, xr, xc, yr, yc in geo.phases:
            phases[:, py, px, yr, yc] = batch_last[:, xr, xc]
        out = self._corner_outputs(geo, phases.reshape(geo.c, 2, 2, -1))
        a, b, c, d = out.reshape(out.shape[0], 4, -1).transpose(1, 0, 2)
        top, bottom = np.maximum(a, b), np.maximum(c, d)
        self._masks = (b > a, d > c, bottom > top)
        pooled = np.maximum(top, bottom, out=top)                               # (O, M)
        if self.relu:
            self._relu_mask = pooled > 0
            np.maximum(pooled, np.zeros(pooled.shape[1:], pooled.dtype), out=pooled)  # zero row: kernels.elementwise
        return pooled.reshape(-1, geo.out_h, geo.row, geo.n)[:, :, :geo.out_w].transpose(3, 0, 1, 2)

    def _corner_outputs(self, geo: _PhaseGeometry, flat: np.ndarray) -> np.ndarray:
        """flat phases (C, 2, 2, rows*row*N) -> the conv output (O, 4*M), columns ordered (corner, y2, x2, n)."""
        cols = self._im2col(geo, flat)
        weight_1 = np.concatenate([self.conv._w2(), self.conv.bias.data[:, None]], axis=1)
        self._out = out = self._reuse(self._out, (weight_1.shape[0], 4 * geo.per_corner),
                                      np.result_type(flat, weight_1))
        return np.matmul(weight_1, cols, out=out)                             # [W2 b] @ [cols; 1]

    def _im2col(self, geo: _PhaseGeometry, flat: np.ndarray) -> np.ndarray:
        """flat phases (C, 2, 2, rows*row*N) -> [cols; 1]: (K+1, 4*M), columns ordered (corner, y2, x2, n)."""
        self._cols = cols_1 = self._reuse(self._cols, (geo.k + 1, 4 * geo.per_corner), flat.dtype)
        cols_1[geo.k] = 1
        cols = cols_1[:geo.k].reshape(geo.c, geo.kh, geo.kw, 4, geo.per_corner)
        for corner, i, j, py, px, start in geo.taps:
            cols[:, i, j, corner] = flat[:, py, px, start:start + geo.per_corner]
        return cols_1

    def _corner_grads(self, grad_out: np.ndarray) -> np.ndarray:
        """g (N, O, Ho/2, Wo/2) -> (O, 4*M): each pooled gradient routed to its window's first maximum."""
        geo, o = self.geo, grad_out.shape[1]
        self._grad = g = self._reuse(self._grad, (o, geo.out_h, geo.row, geo.n), grad_out.dtype, zero=True)
        valid = g[:, :, :geo.out_w]                 # the extra wide columns stay zero
        grad_out = grad_out.transpose(1, 2, 3, 0)   # (O, Ho/2, Wo/2, N)
        if self.relu:
            mask = self._relu_mask.reshape(o, geo.out_h, geo.row, geo.n)[:, :, :geo.out_w]
            np.multiply(grad_out, mask, out=valid)
        else:
            valid[...] = grad_out
        g = g.reshape(o, -1)
        self._corners_grad = shares = self._reuse(self._corners_grad, (o, 4 * geo.per_corner), g.dtype)
        g_a, g_b, g_c, g_d = shares.reshape(o, 4, -1).transpose(1, 0, 2)
        b_wins, d_wins, bottom_wins = self._masks
        np.multiply(g, bottom_wins, out=g_c)        # as in kernels.pool.MaxPool2x2.backward
        np.subtract(g, g_c, out=g_a)
        np.multiply(g_a, b_wins, out=g_b)
        g_a -= g_b
        np.multiply(g_c, d_wins, out=g_d)
        g_c -= g_d
        return shares

    def _add_param_grads(self, g: np.ndarray) -> None:
        """weight.grad += g @ cols^T, bias.grad += g @ 1 (one blocked product, as in kernels.conv)."""
        geo, o = self.geo, g.shape[0]
        blocks = _blocks_of_samples(4 * geo.out_h * geo.row, geo.n)
        stacked_cols = self._cols.reshape(self._cols.shape[0], blocks, -1).transpose(1, 0, 2)
        both = np.matmul(stacked_cols, g.reshape(o, blocks, -1).transpose(1, 2, 0)).sum(axis=0).T
        self.conv.weight.grad += both[:, :-1].reshape(self.conv.weight.grad.shape)
        self.conv.bias.grad += both[:, -1]

    def param_backward(self, grad_out: np.ndarray) -> None:
        self._add_param_grads(self._corner_grads(grad_out))

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        g = self._corner_grads(grad_out)
        self._add_param_grads(g)
        return self._col2im_matmul(g)

    def _col2im_matmul(self, g: np.ndarray) -> np.ndarray:
        """dx = col2im(W2^T @ g), a few pooled rows of one corner at a time (cache-sized, as in kernels.conv)."""
        geo, o = self.geo, g.shape[0]
        weight_t, g = self.conv._w2().T, g.reshape(o, 4, geo.out_h, geo.line)
        phases = np.zeros((geo.c, 2, 2, geo.rows * geo.line), dtype=g.dtype)
        chunk = min(geo.out_h, max(1, _CHUNK_BYTES // (geo.k * geo.line * g.itemsize)))
        self._dcols = scratch = self._reuse(self._dcols, (geo.k * chunk * geo.line,), g.dtype)
        taps = geo.taps
        for corner in range(4):
            for y0 in range(0, geo.out_h, chunk):
                y1 = min(geo.out_h, y0 + chunk)
                run = (y1 - y0) * geo.line
                dcols = scratch[:geo.k * run].reshape(geo.k, run)
                np.matmul(weight_t, g[:, corner, y0:y1].reshape(o, run), out=dcols)
                dcols = dcols.reshape(geo.c, geo.kh, geo.kw, run)
                for tap_corner, i, j, py, px, start in taps:
                    if tap_corner == corner:
                        begin = start + y0 * geo.line
                        phases[:, py, px, begin:begin + run] += dcols[:, i, j]
        return self._unphase(geo, phases)

    @staticmethod
    def _unphase(geo: _PhaseGeometry, phases: np.ndarray) -> np.ndarray:
        """Phase images (C, 2, 2, rows*row*N) of the padded dx -> dx (N, C, H, W) (a view), four strided copies."""
        dx = np.empty((geo.c, geo.h, geo.w, geo.n), dtype=phases.dtype)
        grid = phases.reshape(geo.c, 2, 2, geo.rows, geo.row, geo.n)
        for py, px, xr, xc, yr, yc in geo.phases:
            dx[:, xr, xc] = grid[:, py, px, yr, yc]
        return dx.transpose(3, 0, 1, 2)


def plan(layers: list) -> list:
    """The steps that run ``layers``: each layer itself, or a ``ConvPoolReLU`` for a fusable run of layers."""
    from ..activations import ReLU
    from ..conv import Conv2D
    from ..pool import MaxPool2D
    from . import winograd

    def fused(conv, relu: bool) -> ConvPoolReLU:
        return winograd.WinogradConvPoolReLU(conv, relu) if winograd.fits(conv) else ConvPoolReLU(conv, relu)

    def is_pool(layer) -> bool:
        return isinstance(layer, MaxPool2D) and layer.kernel_size == layer.stride == (2, 2)

    steps, i = [], 0
    while i < len(layers):
        layer = layers[i]
        rest = layers[i + 1:i + 3]
        if isinstance(layer, Conv2D) and layer.stride == 1 and rest:
            kinds = [type(r) for r in rest]
            if is_pool(rest[0]):
                relu = len(rest) > 1 and kinds[1] is ReLU
                steps.append(fused(layer, relu))
                i += 3 if relu else 2
                continue
            if kinds[0] is ReLU and len(rest) > 1 and is_pool(rest[1]):
                steps.append(fused(layer, True))
                i += 3
                continue
        steps.append(layer)
        i += 1
    return steps
