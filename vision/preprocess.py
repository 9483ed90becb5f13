"""Turn a drawing into a digit the way MNIST's digits were made (numpy only, no pygame).

MNIST's recipe (LeCun et al.): the digit's bounding box is scaled to fit a 20 x 20 box keeping its aspect
ratio, anti-aliased, and placed in a 28 x 28 image so that its centre of mass lies at the centre. In the real
test set the centre of mass sits at index (14.0, 14.0) (mean over the 10,000 test digits, spread 0.3 px), so
that is where ``to_mnist`` puts it.

Scaling, anti-aliasing and placing are one linear map: output pixel ``i`` is the *average* of the canvas over
its footprint, the interval ``[start + i * s, start + (i + 1) * s)`` of canvas coordinates (``s`` canvas
pixels per output pixel). Averaging over a footprint that covers fractions of canvas pixels is area-averaging
anti-aliasing. Along one axis the map is a matrix ``R (28, H)`` whose entry ``R[i, j]`` is the overlap of
the footprint with canvas pixel ``j``, divided by ``s``; the whole image is ``R_rows @ canvas @ R_cols.T``.
Everything is vectorised over a batch of canvases (``to_mnist_batch``), with no loop over pixels or samples.
"""

from __future__ import annotations

import numpy as np

from engine import blas_threads

MNIST_SIDE = 28          # output image side
BOX = 20                 # the longer side of the bounding box becomes this many output pixels
CENTRE = 14.0            # index coordinate of the centre of mass in MNIST (measured on the test set)
INK_THRESHOLD = 0.3      # ink for the bounding box: above an anti-aliased stroke's faint fringe


def footprint_matrix(start: np.ndarray, scale: np.ndarray, n_in: int, n_out: int = MNIST_SIDE) -> np.ndarray:
    """Area-averaging resampling matrices, one per sample.

    start, scale: (N,) canvas coordinate of output pixel 0's left edge, canvas pixels per output pixel.
    Returns (N, n_out, n_in) float32 with ``R[n, i, j] = |[a_i, a_i + s) ∩ [j, j + 1)| / s`` where
    ``a_i = start + i * s``: row ``i`` averages the canvas over output pixel ``i``'s footprint.
    """
    scale = np.asarray(scale, dtype=np.float64)[:, None, None]
    lo = np.asarray(start, dtype=np.float64)[:, None, None] + np.arange(n_out)[None, :, None] * scale
    j = np.arange(n_in)[None, None, :]
    overlap = np.minimum(lo + scale, j + 1) - np.maximum(lo, j)
    return (np.clip(overlap, 0, None) / scale).astype(np.float32)


def _extent(ink_along: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, L) bool -> first inked index and one past the last, per sample (0, L if none)."""
    length = ink_along.shape[1]
    first = ink_along.argmax(axis=1)
    last = length - ink_along[:, ::-1].argmax(axis=1)
    return first, last


def to_mnist_batch(canvases: np.ndarray) -> np.ndarray:
    """(N, H, W) float canvases in [0, 1] (ink = 1) -> (N, 28, 28) float32 MNIST-style digits.

    An empty canvas (no value above ``INK_THRESHOLD``) gives an all-zero image.
    """
    canvases = np.asarray(canvases, dtype=np.float32)
    if canvases.ndim != 3:
        raise ValueError(f"expected canvases of shape (N, H, W), got {canvases.shape}")
    n, height, width = canvases.shape
    ink = canvases > INK_THRESHOLD
    rows, cols = ink.any(axis=2), ink.any(axis=1)                     # (N, H), (N, W)
    empty = ~rows.any(axis=1)
    top, bottom = _extent(rows)
    left, right = _extent(cols)
    longest = np.maximum(np.maximum(bottom - top, right - left), 1)
    scale = longest / BOX                                             # canvas pixels per output pixel
    mass = canvases.sum(axis=(1, 2), dtype=np.float64)
    safe_mass = np.where(empty, 1.0, mass)
    # Centre of mass in continuous canvas coordinates (pixel j spans [j, j + 1), its centre is j + 0.5).
    com_y = canvases.sum(axis=2, dtype=np.float64) @ (np.arange(height) + 0.5) / safe_mass
    com_x = canvases.sum(axis=1, dtype=np.float64) @ (np.arange(width) + 0.5) / safe_mass
    # Output pixel CENTRE spans [CENTRE, CENTRE + 1), so its centre CENTRE + 0.5 must map onto the mass centre.
    rows_map = footprint_matrix(com_y - (CENTRE + 0.5) * scale, scale, height)   # (N, 28, H)
    cols_map = footprint_matrix(com_x - (CENTRE + 0.5) * scale, scale, width)    # (N, 28, W)
    with blas_threads(1):  # many small products: BLAS threads only wait on each other (3-7x slower on 2 cores)
        out = rows_map @ canvases @ cols_map.transpose(0, 2, 1)
    out[empty] = 0.0
    return np.clip(out, 0.0, 1.0, out=out)


def to_mnist(canvas: np.ndarray) -> np.ndarray:
    """One drawing (H, W) float in [0, 1], ink = 1 -> (28, 28) float32 as MNIST was preprocessed.

    Bounding box scaled to fit 20 x 20 keeping the aspect ratio, anti-aliased by area averaging, and placed
    so that the centre of mass is at the centre of the 28 x 28 image (see the module docstring).
    """
    canvas = np.asarray(canvas)
    if canvas.ndim != 2:
        raise ValueError(f"expected a canvas of shape (H, W), got {canvas.shape}")
    return to_mnist_batch(canvas[None])[0]
