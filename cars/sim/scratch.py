"""Reusable scratch arrays for the per-step hot paths.

A fresh array of a few hundred kilobytes is fresh memory from the operating system on every step
(page faults cost more than the arithmetic), so the large temporaries of ray casting and road
location live in buffers that are kept and reshaped: get() returns the same array while the shape
stays the same, and a view of a grown flat buffer when it changes.
"""

from __future__ import annotations

import numpy as np


class Scratch:
    def __init__(self) -> None:
        self._flat: dict[str, np.ndarray] = {}
        self._last: dict[str, tuple[tuple[int, ...], np.ndarray]] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
        """An uninitialised array of `shape` and `dtype` owned by this scratch space under `name`."""
        last = self._last.get(name)
        if last is not None and last[0] == shape and last[1].dtype == dtype:
            return last[1]
        size = int(np.prod(shape))
        flat = self._flat.get(name)
        if flat is None or flat.size < size or flat.dtype != dtype:
            flat = np.empty(max(size, 1), dtype=dtype)
            self._flat[name] = flat
        array = flat[:size].reshape(shape)
        self._last[name] = (shape, array)
        return array
