"""Winograd F(2x2, 3x3): the fused 3x3 conv -> 2x2 max-pool -> ReLU step with 2.25x fewer multiplies.

A 2x2 max-pool after a stride-1 3x3 convolution looks at the conv output in 2x2 tiles, one per pooled
pixel. Each such tile is a function of the 4x4 input tile ``d`` under it, and Winograd's minimal
filtering algorithm (Lavin & Gray, 2016; used by cuDNN and NNPACK) computes it with 16 multiplies per
input channel instead of 36:

    y (2x2) = A^T [ U * V ] A,     U = G w G^T (4x4, per kernel),     V = B^T d B (4x4, per tile)

with ``*`` element-wise and the constant matrices ``B_T``, ``G``, ``A_T`` below. Summed over input
channels, each of the 16 positions of ``U * V`` is one matrix product:

    M[xi] (O, tiles) = U[xi] (O, C) @ V[xi] (C, tiles),     xi = 0..15

so the step is 16 products with the 2.25x smaller inner work, plus cheap add/subtract transforms
before and after them. The gradients are those of this same function (so they equal the conv's up to
rounding): with ``Mg = A g A^T`` the output gradient of each tile taken into the 4x4 domain,

    dU[xi] = Mg[xi] @ V[xi]^T,   dw = G^T dU G,   db = sum of g,
    dV[xi] = U[xi]^T @ Mg[xi],   dd = B dV B^T, added into dx over the overlapping 4x4 tiles.

Everything else is ``kernels.fused.ConvPoolReLU``: the padded input as its four 2x2 phase images
(so the rows and columns of every 4x4 tile are contiguous runs of a phase image, and each transform
is a handful of whole-array additions), the conv output sorted by window corner (the 2x2 tile *is* a
pooling window), the same three pooling masks and the same gradient routing.

It pays when the products dominate the transforms, that is with many channels. Measured on the 2-core
development machine, a training step of two data-parallel slices: ``cnn-wide`` (its 32 -> 64 channel
layer) 8% faster; ``cnn`` (16 -> 32) no faster; a first layer (1 input channel) slower, because its 16
products are outer products that write 4x more than the im2col product. So ``plan`` uses it from
``MIN_CHANNELS`` input channels on.
"""

from __future__ import annotations

import numpy as np

from .fused import ConvPoolReLU, _PhaseGeometry

MIN_CHANNELS = 32

# The transforms run below as add/subtract passes over whole arrays; these matrices are what they compute
# (tests/test_engine_fused.py checks one tile against them).
B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)
A_T = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)
_BIAS_POSITION = 5  # xi = (1, 1): the one position that reaches all four outputs of a tile with weight +1


def fits(conv) -> bool:
    """Whether ``conv`` (followed by a 2x2 max-pool) can run as Winograd F(2x2, 3x3) here."""
    return conv.kernel_size == (3, 3) and conv.stride == 1 and conv.in_channels >= MIN_CHANNELS


class WinogradConvPoolReLU(ConvPoolReLU):
    """``ConvPoolReLU`` for a 3x3 kernel, computing the conv by Winograd F(2x2, 3x3) (see the module docstring).

    Arrays: phases (C, 2, 2, rows*line) as in ``kernels.fused``; V and dV (4, 4, C, M); M and Mg
    (4, 4, O, M), indexed [row a, column b] of the 4x4 domain; M = tiles = out_h * line (wide).
    """

    def __init__(self, conv, relu: bool) -> None:
        super().__init__(conv, relu)
        self._u = self._v = self._rows = self._m = self._pair = None
        self._grad_pair = self._mg = self._dv = self._grad_rows = None

    def _corner_outputs(self, geo: _PhaseGeometry, flat: np.ndarray) -> np.ndarray:
        """Winograd forward: V = B^T d B, M = U @ V (16 products), out = A^T M A + b, corners (O, 4*M)."""
        o, tiles = self.conv.out_channels, geo.per_corner
        dtype = np.result_type(flat, self.conv.weight.data)
        w = self.conv.weight.data
        self._u = u = np.ascontiguousarray((G @ w @ G.T).transpose(2, 3, 0, 1), dtype=dtype)  # (4, 4, O, C)
        self._v = v = self._reuse(self._v, (4, 4, geo.c, tiles), dtype)
        self._input_transform(geo, flat, v)
        self._m = m = self._reuse(self._m, (4, 4, o, tiles), dtype)
        np.matmul(u.reshape(16, o, geo.c), v.reshape(16, geo.c, tiles), out=m.reshape(16, o, tiles))
        m.reshape(16, o, tiles)[_BIAS_POSITION] += self.conv.bias.data[:, None]
        self._out = out = self._reuse(self._out, (o, 4 * tiles), dtype)
        self._output_transform(m, out.reshape(o, 2, 2, tiles))
        return out

    def _input_transform(self, geo: _PhaseGeometry, flat: np.ndarray, v: np.ndarray) -> None:
        """V = B^T d B for every tile. Row r of tile t lies in phase row r % 2 at offset (r // 2) * line + t,
        column s in phase column s % 2, one pixel (N values) further along for s >= 2: runs of M + N values
        cover both."""
        run, line, tiles, n = geo.per_corner + geo.n, geo.line, geo.per_corner, geo.n
        d0, d1 = flat[:, 0, :, :run], flat[:, 1, :, :run]                     # tile rows 0, 1: (C, 2, M+N)
        d2, d3 = flat[:, 0, :, line:line + run], flat[:, 1, :, line:line + run]   # tile rows 2, 3
        self._rows = rows = self._reuse(self._rows, (4, geo.c, 2, run), flat.dtype)  # B^T d, by phase column
        np.subtract(d0, d2, out=rows[0])
        np.add(d1, d2, out=rows[1])
        np.subtract(d2, d1, out=rows[2])
        np.subtract(d1, d3, out=rows[3])
        c0, c1 = rows[:, :, 0, :tiles], rows[:, :, 1, :tiles]                 # tile columns 0, 1: (4, C, M)
        c2, c3 = rows[:, :, 0, n:], rows[:, :, 1, n:]                         # tile columns 2, 3
        np.subtract(c0, c2, out=v[:, 0])                                      # (B^T d) B, column by column
        np.add(c1, c2, out=v[:, 1])
        np.subtract(c2, c1, out=v[:, 2])
        np.subtract(c1, c3, out=v[:, 3])

    def _output_transform(self, m: np.ndarray, corners: np.ndarray) -> None:
        """corners (O, 2, 2, M)[:, i, j] = (A^T M A)[i, j] of every tile."""
        self._pair = pair = self._reuse(self._pair, (2,) + m.shape[1:], m.dtype)   # A^T M: (2, 4, O, M)
        np.add(m[0], m[1], out=pair[0])
        pair[0] += m[2]
        np.subtract(m[1], m[2], out=pair[1])
        pair[1] -= m[3]
        by_column = corners.transpose(2, 1, 0, 3)                             # [j, i]: (2, 2, O, M)
        np.add(pair[:, 0], pair[:, 1], out=by_column[0])
        by_column[0] += pair[:, 2]
        np.subtract(pair[:, 1], pair[:, 2], out=by_column[1])
        by_column[1] -= pair[:, 3]

    def param_backward(self, grad_out: np.ndarray) -> None:
        self._add_param_grads(self._tile_grads(self._corner_grads(grad_out)))

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        mg = self._tile_grads(self._corner_grads(grad_out))
        self._add_param_grads(mg)
        return self._input_grads(mg)

    def _tile_grads(self, shares: np.ndarray) -> np.ndarray:
        """Corner gradients (O, 4*M) -> Mg = A g A^T (4, 4, O, M), the gradient of M."""
        o, tiles = shares.shape[0], self.geo.per_corner
        g = shares.reshape(o, 2, 2, tiles).transpose(1, 2, 0, 3)              # [i, j]: (2, 2, O, M)
        self._grad_pair = rows = self._reuse(self._grad_pair, (4, 2, o, tiles), shares.dtype)  # A g: (4, 2, O, M)
        rows[0] = g[0]
        np.add(g[0], g[1], out=rows[1])
        np.subtract(g[0], g[1], out=rows[2])
        np.negative(g[1], out=rows[3])
        self._mg = mg = self._reuse(self._mg, (4, 4, o, tiles), shares.dtype)  # (A g) A^T
        mg[:, 0] = rows[:, 0]
        np.add(rows[:, 0], rows[:, 1], out=mg[:, 1])
        np.subtract(rows[:, 0], rows[:, 1], out=mg[:, 2])
        np.negative(rows[:, 1], out=mg[:, 3])
        return mg

    def _add_param_grads(self, mg: np.ndarray) -> None:
        """dw += G^T (Mg @ V^T) G; db += the sum of g, which is Mg at the bias position."""
        o, c, tiles = mg.shape[2], self.geo.c, self.geo.per_corner
        du = np.matmul(mg.reshape(16, o, tiles), self._v.reshape(16, c, tiles).transpose(0, 2, 1))
        du = du.reshape(4, 4, o, c).transpose(2, 3, 0, 1)                    # (O, C, 4, 4)
        self.conv.weight.grad += G.T @ du @ G
        self.conv.bias.grad += mg.reshape(16, o, tiles)[_BIAS_POSITION].sum(axis=1)

    def _input_grads(self, mg: np.ndarray) -> np.ndarray:
        """dV = U^T @ Mg, then dd = B dV B^T added into the phase images of the padded dx, then dx."""
        geo, o, tiles, n = self.geo, mg.shape[2], self.geo.per_corner, self.geo.n
        run, line = tiles + n, geo.line
        self._dv = dv = self._reuse(self._dv, (4, 4, geo.c, tiles), mg.dtype)
        np.matmul(self._u.reshape(16, o, geo.c).transpose(0, 2, 1), mg.reshape(16, o, tiles),
                  out=dv.reshape(16, geo.c, tiles))
        # adjoint of the column stage: c0 = dV0, c2 += dV1 + dV2 - dV0, c1 = dV1 - dV2 + dV3, c3 = -dV3
        self._grad_rows = rows = self._reuse(self._grad_rows, (4, geo.c, 2, run), mg.dtype)
        c0, c1 = rows[:, :, 0, :tiles], rows[:, :, 1, :tiles]
        c2, c3 = rows[:, :, 0, n:], rows[:, :, 1, n:]
        rows[:, :, :, tiles:] = 0
        c0[...] = dv[:, 0]
        scratch = np.add(dv[:, 1], dv[:, 2], out=self._v[:, 0])  # V is not needed any more this step
        scratch -= dv[:, 0]
        c2 += scratch
        np.subtract(dv[:, 1], dv[:, 2], out=c1)
        c1 += dv[:, 3]
        c3 -= dv[:, 3]
        # adjoint of the row stage: d0 = r0, d2 += r1 + r2 - r0, d1 = r1 - r2 + r3, d3 = -r3
        phases = np.zeros((geo.c, 2, 2, geo.rows * line), dtype=mg.dtype)
        d0, d1 = phases[:, 0, :, :run], phases[:, 1, :, :run]
        d2, d3 = phases[:, 0, :, line:line + run], phases[:, 1, :, line:line + run]
        d0 += rows[0]
        d2 += rows[1]
        d2 += rows[2]
        d2 -= rows[0]
        d1 += rows[1]
        d1 -= rows[2]
        d1 += rows[3]
        d3 -= rows[3]
        return self._unphase(geo, phases)
