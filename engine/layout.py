"""Seeing an array in the order its values sit in memory.

Layers may hand each other transposed views instead of copies: ``Conv2D`` returns its output as an
(N, C, H, W) view of channel-major (C, N, H, W) memory, because that is how its matrix multiply
produces it. Element-wise work runs fastest when it walks memory in order, so a layer that receives
such a view permutes its axes into memory order, works on contiguous rows, and permutes the result
back; the next layer then gets the same layout again and no transposing copy is ever made.
"""

from __future__ import annotations

import numpy as np


def memory_order(x: np.ndarray) -> tuple[int, ...]:
    """The axes of ``x`` from the largest stride to the smallest (axes of length 1, whose stride is
    arbitrary, go last)."""
    return tuple(sorted(range(x.ndim), key=lambda axis: -abs(x.strides[axis]) if x.shape[axis] > 1 else 0))


def inverse(perm: tuple[int, ...]) -> tuple[int, ...]:
    """The permutation that undoes ``perm``: ``x.transpose(perm).transpose(inverse(perm))`` is ``x``."""
    undo = [0] * len(perm)
    for position, axis in enumerate(perm):
        undo[axis] = position
    return tuple(undo)


def in_memory_order(x: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """``(view, undo)``: ``view = x.transpose(p)`` walks memory in order; ``view.transpose(undo)`` is ``x``."""
    perm = memory_order(x)
    return x.transpose(perm), inverse(perm)
