"""Data augmentation by random shifts, vectorised over the batch."""

from __future__ import annotations

import numpy as np


def random_shift(images: np.ndarray, rng: np.random.Generator, max_shift: int = 2) -> np.ndarray:
    """Shift each image by its own random offset in ``[-max_shift, max_shift]`` pixels, filling with zeros.

    images: (N, C, H, W) -> (N, C, H, W). Pads by ``max_shift`` then gathers one H x W window per
    image with a single fancy index (rows (N, H, 1), cols (N, 1, W)), so there is no per-image loop.
    """
    if max_shift <= 0:
        return images
    n, _, h, w = images.shape
    padded = np.pad(images, ((0, 0), (0, 0), (max_shift, max_shift), (max_shift, max_shift)))
    dy, dx = rng.integers(0, 2 * max_shift + 1, size=(2, n))
    rows = (dy[:, None] + np.arange(h))[:, :, None]
    cols = (dx[:, None] + np.arange(w))[:, None, :]
    # Move channels last so the advanced indices (N, H, W) broadcast against the batch index.
    shifted = padded.transpose(0, 2, 3, 1)[np.arange(n)[:, None, None], rows, cols]
    return np.ascontiguousarray(shifted.transpose(0, 3, 1, 2))
