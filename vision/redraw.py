"""Re-draw MNIST digits onto a large canvas the way a person might draw them in the window (numpy only).

Used to check that ``vision.preprocess.to_mnist`` makes the networks robust to how people draw: each digit is
drawn at its own size (``scale`` times a nominal size of half the canvas side for the 20 x 20 box), at its own
place (anywhere that keeps the digit on the canvas) and with its own stroke thickness, as solid ink (a pen has
no grey levels).

Drawing is a linear map followed by a threshold: the digit is enlarged by bilinear interpolation,
``up = A_rows @ digit @ A_cols.T`` with ``A[y, k] = max(0, 1 - |u(y) - k|)`` where ``u(y)`` is canvas row
``y``'s position in digit pixels, and then every canvas pixel brighter than the digit's threshold ``t`` is ink.
A low threshold keeps the faint edges of MNIST's strokes (a thick pen), a high one only their cores (a thin
pen). No loop runs over pixels or digits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine import blas_threads

NOMINAL_BOX = 0.5  # at scale 1 the digit's 20 x 20 box spans half the canvas side


@dataclass(frozen=True)
class DrawStyle:
    """The ranges each digit's drawing is sampled from (uniformly)."""
    canvas: int = 280                              # canvas side in pixels
    scale: tuple[float, float] = (0.6, 1.6)        # digit size relative to the nominal size
    threshold: tuple[float, float] = (0.1, 0.75)   # ink threshold: low = thick strokes, high = thin


def _bilinear_matrix(offset: np.ndarray, zoom: np.ndarray, n_out: int, n_in: int = 28) -> np.ndarray:
    """(N, n_out, n_in) bilinear weights: canvas pixel y samples the digit at u = (y + 0.5 - offset) / zoom - 0.5."""
    u = (np.arange(n_out)[None, :, None] + 0.5 - offset[:, None, None]) / zoom[:, None, None] - 0.5
    return np.clip(1.0 - np.abs(u - np.arange(n_in)[None, None, :]), 0.0, None).astype(np.float32)


def _ink_extent(digits: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    along = (digits > 0).any(axis=axis)
    first = along.argmax(axis=1)
    last = along.shape[1] - along[:, ::-1].argmax(axis=1)
    return first, last


def redraw(digits: np.ndarray, rng: np.random.Generator, style: DrawStyle = DrawStyle()) -> np.ndarray:
    """(N, 28, 28) digits in [0, 1] -> (N, canvas, canvas) float32 canvases of solid ink (0 or 1).

    Each digit gets its own scale, position and threshold from ``rng`` (three draws per digit, in that order).
    """
    digits = np.asarray(digits, dtype=np.float32)
    n, side = len(digits), style.canvas
    scale = rng.uniform(*style.scale, size=n)
    place = rng.uniform(0.0, 1.0, size=(n, 2))
    threshold = rng.uniform(*style.threshold, size=n).astype(np.float32)
    extents = [_ink_extent(digits, axis) for axis in (2, 1)]          # rows inked, columns inked
    longest = np.maximum(*[last - first for first, last in extents])
    zoom = np.minimum(scale * NOMINAL_BOX * side / 20, side / np.maximum(longest, 1))  # canvas px per digit px
    # Put the inked part's leading edge anywhere in [0, side - size]; offset = where digit pixel 0 lands.
    offsets = [place[:, k] * (side - (last - first) * zoom) - first * zoom for k, (first, last) in enumerate(extents)]
    rows = _bilinear_matrix(offsets[0], zoom, side)
    cols = _bilinear_matrix(offsets[1], zoom, side)
    with blas_threads(1):  # many small products: one BLAS thread is faster (see vision.preprocess)
        enlarged = rows @ digits @ cols.transpose(0, 2, 1)
    return (enlarged > threshold[:, None, None]).astype(np.float32)


def redraw_in_chunks(digits: np.ndarray, rng: np.random.Generator, style: DrawStyle = DrawStyle(),
                     chunk: int = 250):
    """Yield ``redraw`` of consecutive chunks (bounded memory for the whole test set); same draws as one call
    only chunk by chunk, so results depend on ``chunk``."""
    for start in range(0, len(digits), chunk):
        yield redraw(digits[start:start + chunk], rng, style)


def place(digit: np.ndarray, side: int, box: float = 0.6) -> np.ndarray:
    """One (28, 28) digit enlarged onto a (side, side) canvas, centred, its 20 x 20 box spanning ``box`` of the
    side; grey levels kept (bilinear), so it can be edited with the pen and read back faithfully."""
    zoom = np.array([box * side / 20])
    offset = side / 2 - 14 * zoom
    enlarge = _bilinear_matrix(offset, zoom, side)[0]
    return np.clip(enlarge @ np.asarray(digit, np.float32) @ enlarge.T, 0.0, 1.0)
