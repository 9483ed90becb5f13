"""How many threads numpy's matrix multiply (OpenBLAS) may use.

Data-parallel training (``engine.parallel``) runs one slice of the batch per Python thread. Each
thread's matrix multiplies must then stay on one BLAS thread: otherwise OpenBLAS's own worker
threads compete with the Python threads for the same cores, and the step gets slower instead of
faster (measured on 2 cores: a CNN step 10 ms with one BLAS thread per slice, 18 ms with two).

numpy has no setting for this, so ``blas_threads`` finds the OpenBLAS library numpy loaded and
calls its ``openblas_set_num_threads``. With another BLAS (MKL, Apple Accelerate) it changes
nothing and reports that, and callers run the slices one after another instead.
"""

from __future__ import annotations

import ctypes
import glob
import os
from contextlib import contextmanager
from functools import lru_cache
from typing import Callable, Iterator

import numpy as np

# Entry points under the names the OpenBLAS builds shipped with numpy use (64-bit-integer builds carry a
# suffix, the scipy-openblas wheels a prefix), as (setter, getter).
_ENTRY_POINTS = [(f"{prefix}openblas_set_num_threads{suffix}", f"{prefix}openblas_get_num_threads{suffix}")
                 for prefix in ("scipy_", "") for suffix in ("64_", "_64", "")]


def _candidate_libraries() -> list[str]:
    """Paths of OpenBLAS libraries: those mapped into this process (Linux), then those in numpy's wheel."""
    paths = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = [line.split(None, 5)[-1].strip() for line in maps if "openblas" in line.lower()]
    except OSError:
        pass
    numpy_dir = os.path.dirname(np.__file__)
    for folder in (os.path.join(numpy_dir, os.pardir, "numpy.libs"), os.path.join(numpy_dir, ".dylibs")):
        paths += glob.glob(os.path.join(folder, "*openblas*"))
    return list(dict.fromkeys(path for path in paths if os.path.isfile(path)))


@lru_cache(maxsize=1)
def _openblas() -> tuple[Callable[[int], None], Callable[[], int]] | None:
    """(set_num_threads, get_num_threads) of numpy's OpenBLAS, or None when it cannot be found."""
    np.dot(np.ones((2, 2)), np.ones((2, 2)))  # make sure BLAS is loaded (and mapped) before looking for it
    for path in _candidate_libraries():
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for setter, getter in _ENTRY_POINTS:
            if hasattr(library, setter) and hasattr(library, getter):
                set_threads, get_threads = getattr(library, setter), getattr(library, getter)
                set_threads.argtypes, set_threads.restype = [ctypes.c_int], None
                get_threads.argtypes, get_threads.restype = [], ctypes.c_int
                return set_threads, get_threads
    return None


def blas_thread_control() -> bool:
    """Whether this process's BLAS thread count can be set (numpy uses OpenBLAS and it was found)."""
    return _openblas() is not None


@contextmanager
def blas_threads(count: int) -> Iterator[bool]:
    """Run the block with BLAS limited to ``count`` threads, then restore the previous count.

    Yields whether the limit is in effect (False: the BLAS is not OpenBLAS; nothing was changed).
    The setting is process-wide, so set it only while no other thread is multiplying matrices.
    """
    entry_points = _openblas()
    if entry_points is None:
        yield False
        return
    set_threads, get_threads = entry_points
    previous = get_threads()
    set_threads(max(1, int(count)))
    try:
        yield True
    finally:
        set_threads(previous)
