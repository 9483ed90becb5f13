"""Saving and loading models: one ``.npz`` holding the architecture (JSON), the weights and optional
JSON metadata, read back with ``allow_pickle=False`` so a model file can never run code.

File layout: ``__format__`` (str, "engine-model/1"), ``__architecture__`` (str, ``model.config()`` as
JSON), ``__metadata__`` (str, JSON object) and one array per parameter keyed ``param/<state-dict key>``.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_open
from .activations import LeakyReLU, ReLU, Sigmoid, Tanh
from .conv import Conv2D
from .layers import Dense, Dropout, Flatten
from .module import Module, Sequential
from .pool import AvgPool2D, MaxPool2D

FORMAT = "engine-model/1"
_PREFIX = "param/"
LAYER_TYPES: dict[str, type[Module]] = {cls.__name__: cls for cls in (
    Sequential, Dense, Conv2D, MaxPool2D, AvgPool2D, Flatten, Dropout, ReLU, LeakyReLU, Sigmoid, Tanh)}


class ModelFileError(ValueError):
    """A model file is missing, unreadable, corrupt or does not describe a valid model."""


def build_model(config: dict[str, Any]) -> Module:
    """Rebuild a freshly initialised module from ``Module.config()`` output."""
    if not isinstance(config, dict) or "type" not in config:
        raise ValueError(f"architecture entry must be an object with a 'type', got {config!r}")
    args = dict(config)
    name = args.pop("type")
    cls = LAYER_TYPES.get(name)
    if cls is None:
        raise ValueError(f"unknown layer type {name!r}")
    if cls is Sequential:
        return Sequential(*(build_model(layer) for layer in args.get("layers", [])))
    for key in ("kernel_size", "stride"):
        if isinstance(args.get(key), list):
            args[key] = tuple(args[key])
    if "dtype" in args:
        args["dtype"] = np.dtype(args["dtype"])
    try:
        return cls(**args)
    except TypeError as exc:
        raise ValueError(f"bad arguments for {name}: {exc}") from None


def _write_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with atomic_open(path, "wb") as fh:
        np.savez(fh, **arrays)


def save(model: Module, path: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Write ``model`` (architecture + weights) and optional JSON-able ``metadata`` to ``path`` atomically.

    The file is written exactly at ``path`` (no ``.npz`` suffix is added). Returns the path.
    """
    path = Path(path)
    arrays: dict[str, np.ndarray] = {
        "__format__": np.array(FORMAT),
        "__architecture__": np.array(json.dumps(model.config())),
        "__metadata__": np.array(json.dumps(metadata if metadata is not None else {})),
    }
    for key, value in model.state_dict().items():
        arrays[_PREFIX + key] = value
    _write_atomic(path, arrays)
    return path


def load_with_metadata(path: str | os.PathLike) -> tuple[Module, dict]:
    """Read a file written by ``save``; returns ``(model, metadata)``. Raises ``ModelFileError``."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if magic[:2] != b"PK":
        raise ModelFileError(f"{path}: not an .npz model file (expected a zip archive written by engine.save)")
    try:
        with np.load(path, allow_pickle=False) as data:
            contents = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        reason = str(exc) or type(exc).__name__
        raise ModelFileError(f"{path}: not a readable model file (.npz): {reason}") from None
    if not isinstance(contents, dict) or "__architecture__" not in contents:
        raise ModelFileError(f"{path}: not a model file (no architecture entry)")
    fmt = str(contents.get("__format__", ""))
    if fmt != FORMAT:
        raise ModelFileError(f"{path}: unsupported model format {fmt!r} (expected {FORMAT!r})")
    try:
        config = json.loads(str(contents["__architecture__"]))
        metadata = json.loads(str(contents.get("__metadata__", "{}")))
        model = build_model(config)
    except (ValueError, TypeError) as exc:
        raise ModelFileError(f"{path}: invalid architecture: {exc}") from None
    state = {key[len(_PREFIX):]: value for key, value in contents.items() if key.startswith(_PREFIX)}
    for key, value in state.items():
        if not np.issubdtype(value.dtype, np.floating):
            raise ModelFileError(f"{path}: weight {key} has non-float dtype {value.dtype}")
    try:
        model.load_state_dict(state)
    except ValueError as exc:
        raise ModelFileError(f"{path}: weights do not fit the architecture: {exc}") from None
    return model, metadata


def load(path: str | os.PathLike) -> Module:
    """Read a model written by ``save`` (see ``load_with_metadata``)."""
    return load_with_metadata(path)[0]
