"""A restricted unpickler for downloaded pickles of numpy arrays.

``pickle.load`` on downloaded bytes can run arbitrary code: the pickle names any importable callable
(``os.system`` ...) and calls it. This unpickler resolves only the globals that pickles of plain
numpy arrays refer to, and refuses every other one:
``numpy.ndarray``, ``numpy.dtype``, ``multiarray._reconstruct`` (array reconstruction, all protocols),
``numeric._frombuffer`` (protocol 5) and ``_codecs.encode`` (how Python 3 writes bytes at protocol 2).
"""

from __future__ import annotations

import codecs
import importlib
import pickle
from typing import IO, Any

import numpy as np

# numpy >= 2 writes numpy._core.*, older numpy numpy.core.*; both spellings are accepted.
_PRIVATE = {"_reconstruct": ("numpy._core.multiarray", "numpy.core.multiarray"),
            "_frombuffer": ("numpy._core.numeric", "numpy.core.numeric")}
ALLOWED_GLOBALS = frozenset({("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}
                            | {(module, name) for name, modules in _PRIVATE.items() for module in modules})


def _numpy_private(name: str) -> Any:
    # Import whichever spelling this numpy has, avoiding numpy 2's deprecation warning for numpy.core.
    for module in _PRIVATE[name]:
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    raise pickle.UnpicklingError(f"this numpy has no {name}")


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that admits only the globals in ``ALLOWED_GLOBALS``."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name} (only numpy arrays are allowed)")
        if name in _PRIVATE:
            return _numpy_private(name)
        if module == "_codecs":
            return codecs.encode
        return getattr(np, name)


def safe_load(file: IO[bytes]) -> Any:
    """Unpickle numpy arrays from a binary file object (latin1 decodes Python 2 byte strings, as numpy expects)."""
    return RestrictedUnpickler(file, encoding="latin1").load()
