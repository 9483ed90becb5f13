"""How many threads numpy's matrix multiply (its BLAS: OpenBLAS, MKL, BLIS) may use.

Data-parallel training (``engine.parallel``) runs one slice of the batch per Python thread. Each
thread's matrix multiplies must then stay on one BLAS thread: otherwise the BLAS's own worker
threads compete with the Python threads for the same cores, and the step gets slower instead of
faster (measured on 2 cores: a CNN step 10 ms with one BLAS thread per slice, 18 ms with two).

numpy has no setting for this; ``threadpoolctl`` (the scikit-learn ecosystem's tool) finds the BLAS
libraries loaded in this process and sets their thread count. Where it finds none it can control,
``blas_threads`` changes nothing and says so, and callers run the slices one after another instead.
Either way the numbers computed depend on how a batch is cut, never on the thread count.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from typing import Iterator

import numpy as np
from threadpoolctl import ThreadpoolController


@lru_cache(maxsize=1)
def _blas() -> ThreadpoolController | None:
    """threadpoolctl's handle on the BLAS libraries loaded in this process, or None when there are none."""
    np.dot(np.ones((2, 2)), np.ones((2, 2)))  # make sure BLAS is loaded before looking for it
    controller = ThreadpoolController().select(user_api="blas")
    return controller if controller.lib_controllers else None


def blas_thread_control() -> bool:
    """Whether this process's BLAS thread count can be set."""
    return _blas() is not None


def blas_thread_count() -> int | None:
    """The BLAS thread count in effect now (the largest, if several BLAS are loaded), or None if unknown."""
    blas = _blas()
    return None if blas is None else max(lib.get_num_threads() for lib in blas.lib_controllers)


@contextmanager
def blas_threads(count: int) -> Iterator[bool]:
    """Run the block with BLAS limited to ``count`` threads, then restore the previous count.

    Yields whether the limit is in effect (False: no controllable BLAS; nothing was changed).
    The setting is process-wide, so set it only while no other thread is multiplying matrices.
    """
    blas = _blas()
    if blas is None:
        yield False
        return
    with blas.limit(limits=max(1, int(count))):
        yield True
