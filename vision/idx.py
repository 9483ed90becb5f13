"""Reader for the IDX format of the original MNIST files.

Layout (all integers big-endian): two zero bytes, a type code (0x08 = unsigned byte), the number of
dimensions ``d``, then ``d`` uint32 sizes, then ``prod(sizes)`` data bytes in C order.
So images start with the magic number 2051 (0x00000803, 3 dimensions: N, 28, 28) and labels with
2049 (0x00000801, 1 dimension: N).
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from vision.errors import DataError

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
_UBYTE = 0x08


def parse_idx(data: bytes, source: str, *, magic: int | None = None) -> np.ndarray:
    """Decode IDX bytes into a uint8 array of the stored shape.

    ``magic`` (2051 or 2049), if given, must match the file's. ``source`` names the file in errors.
    Raises ``DataError`` on a bad magic number, an unsupported type, truncation or trailing bytes.
    """
    if len(data) < 4:
        raise DataError(f"{source}: not an IDX file (only {len(data)} bytes)")
    file_magic = int.from_bytes(data[:4], "big")
    if data[0] != 0 or data[1] != 0 or not 1 <= data[3] <= 4:
        raise DataError(f"{source}: bad IDX magic number {file_magic:#010x}")
    if magic is not None and file_magic != magic:
        raise DataError(f"{source}: bad IDX magic number {file_magic} (expected {magic})")
    if data[2] != _UBYTE:
        raise DataError(f"{source}: unsupported IDX element type {data[2]:#04x} (expected unsigned byte 0x08)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{source}: truncated IDX header ({len(data)} of {header} bytes)")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(data) < expected:
        raise DataError(f"{source}: truncated IDX data ({len(data):,} of {expected:,} bytes for shape {shape})")
    if len(data) > expected:
        raise DataError(f"{source}: {len(data) - expected:,} unexpected bytes after the IDX data of shape {shape}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


def _read_limited(path: Path, max_bytes: int | None) -> bytes:
    """The file's bytes, gunzipped if it is gzip data, reading at most ``max_bytes + 1`` unpacked bytes.

    One byte past the limit is enough to know the file is too big, so a small gzip file that unpacks to
    gigabytes is never unpacked whole.
    """
    with open(path, "rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw) if compressed else raw
        data = stream.read() if max_bytes is None else stream.read(max_bytes + 1)
    if max_bytes is not None and len(data) > max_bytes:
        what = "unpacks to" if compressed else "holds"
        raise DataError(f"{path}: {what} more than the {max_bytes:,} bytes an IDX file of this data can have")
    return data


def read_idx(path: str | Path, *, magic: int | None = None, max_bytes: int | None = None) -> np.ndarray:
    """Read an IDX file, gzip-compressed or plain, into a uint8 array (see ``parse_idx``).

    ``max_bytes`` bounds the (unpacked) size: reading stops just past it, with a ``DataError``.
    """
    path = Path(path)
    try:
        raw = _read_limited(path, max_bytes)
    except OSError as exc:
        if isinstance(exc, gzip.BadGzipFile):
            raise DataError(f"{path}: corrupt gzip data ({exc})") from None
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (EOFError, zlib.error) as exc:
        raise DataError(f"{path}: truncated or corrupt gzip data ({exc or 'unexpected end of file'})") from None
    return parse_idx(raw, str(path), magic=magic)


def idx_size(shape: tuple[int, ...]) -> int:
    """Bytes of the IDX file of a uint8 array of ``shape``: header (4 + 4 per dimension) plus the data."""
    return 4 + 4 * len(shape) + int(np.prod(shape, dtype=np.int64))


def encode_idx(array: np.ndarray) -> bytes:
    """The IDX bytes of a uint8 array (the inverse of ``parse_idx``)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, _UBYTE, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.tobytes()
