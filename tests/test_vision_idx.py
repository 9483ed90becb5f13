"""The IDX parser on files the tests write, valid and corrupt."""

import gzip

import numpy as np
import pytest

from vision.errors import DataError
from vision.idx import IMAGES_MAGIC, LABELS_MAGIC, encode_idx, parse_idx, read_idx


def _images(n=5):
    return np.random.default_rng(1).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)


def test_header_layout_is_big_endian_magic_then_sizes():
    data = encode_idx(np.arange(6, dtype=np.uint8).reshape(1, 2, 3))
    assert data[:4] == bytes([0, 0, 8, 3])
    assert data[4:16] == (1).to_bytes(4, "big") + (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
    assert data[16:] == bytes(range(6))
    assert int.from_bytes(encode_idx(_images())[:4], "big") == IMAGES_MAGIC
    assert int.from_bytes(encode_idx(np.zeros(3, np.uint8))[:4], "big") == LABELS_MAGIC


@pytest.mark.parametrize("compress", [False, True])
def test_round_trip_plain_and_gzip(tmp_path, compress):
    images, labels = _images(), np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    for name, array, magic in (("img", images, IMAGES_MAGIC), ("lbl", labels, LABELS_MAGIC)):
        raw = encode_idx(array)
        path = tmp_path / (name + (".gz" if compress else ""))
        path.write_bytes(gzip.compress(raw) if compress else raw)
        loaded = read_idx(path, magic=magic)
        assert loaded.dtype == np.uint8 and loaded.shape == array.shape
        np.testing.assert_array_equal(loaded, array)


def test_bad_magic_is_rejected_with_the_file_name(tmp_path):
    path = tmp_path / "labels.idx"
    path.write_bytes(encode_idx(np.zeros(4, np.uint8)))
    with pytest.raises(DataError, match=r"labels\.idx: bad IDX magic number 2049 \(expected 2051\)"):
        read_idx(path, magic=IMAGES_MAGIC)
    path.write_bytes(b"\x12\x34\x08\x01" + (4).to_bytes(4, "big") + bytes(4))
    with pytest.raises(DataError, match="bad IDX magic"):
        read_idx(path)


def test_unsupported_element_type(tmp_path):
    raw = bytearray(encode_idx(np.zeros(4, np.uint8)))
    raw[2] = 0x0D  # float32
    with pytest.raises(DataError, match="unsupported IDX element type"):
        parse_idx(bytes(raw), "x")


@pytest.mark.parametrize("cut", [1, 100, 28 * 28 * 5])
def test_truncated_data(cut):
    raw = encode_idx(_images())
    with pytest.raises(DataError, match="truncated IDX"):
        parse_idx(raw[:-cut], "train-images")


def test_truncated_header_and_tiny_file():
    raw = encode_idx(_images())
    with pytest.raises(DataError, match="truncated IDX header"):
        parse_idx(raw[:10], "f")
    with pytest.raises(DataError, match="not an IDX file"):
        parse_idx(b"\x00\x00", "f")


def test_sizes_that_disagree_with_the_data_are_rejected():
    raw = bytearray(encode_idx(_images(5)))
    raw[4:8] = (6).to_bytes(4, "big")  # claims 6 images, holds 5
    with pytest.raises(DataError, match=r"truncated IDX data .* shape \(6, 28, 28\)"):
        parse_idx(bytes(raw), "f")
    raw[4:8] = (4).to_bytes(4, "big")  # claims 4 images, holds 5
    with pytest.raises(DataError, match="unexpected bytes after the IDX data"):
        parse_idx(bytes(raw), "f")


def test_truncated_or_corrupt_gzip(tmp_path):
    packed = gzip.compress(encode_idx(_images()))
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz: truncated or corrupt gzip"):
        read_idx(path)
    path.write_bytes(packed[:10] + b"garbage" * 20)
    with pytest.raises(DataError, match="gzip"):
        read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        read_idx(tmp_path / "nope.gz")
