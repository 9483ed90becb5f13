"""The MNIST cache: verified on every load, a corrupt or truncated one reported and fetched again."""

import gzip
import re
from pathlib import Path

import numpy as np
import pytest

from vision.data import (CACHE_FILE, DATA_DIR_ENV, MNIST_SPEC, ArraySpec, LocalIdxSource, array_sha256,
                         as_float_images, default_data_dir, load_mnist, read_cache, write_cache)
from vision.errors import DataError
from vision.idx import encode_idx


def _arrays(seed=0):
    rng = np.random.default_rng(seed)
    return {"x_train": rng.integers(0, 256, (40, 28, 28), dtype=np.uint8),
            "y_train": rng.integers(0, 10, 40, dtype=np.uint8),
            "x_test": rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
            "y_test": rng.integers(0, 10, 10, dtype=np.uint8)}


def _spec(arrays):
    return {name: ArraySpec(a.shape, array_sha256(a)) for name, a in arrays.items()}


class _FakeSource:
    """Hands out fixed arrays and counts how often it was asked."""
    name = "fake source"

    def __init__(self, arrays):
        self.arrays, self.calls = arrays, 0

    def fetch(self, workdir, log):
        self.calls += 1
        return {k: v.copy() for k, v in self.arrays.items()}


class _FailingSource:
    name = "broken mirror"

    def fetch(self, workdir, log):
        raise DataError("https://example.invalid/x: unreachable")


def test_the_real_mnist_digests_are_pinned():
    assert MNIST_SPEC["x_train"] == ArraySpec((60000, 28, 28),
                                              "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757")
    assert MNIST_SPEC["y_test"].shape == (10000,)


def test_a_good_cache_is_used_without_fetching(tmp_path):
    arrays = _arrays()
    write_cache(tmp_path / CACHE_FILE, arrays)
    source = _FakeSource(arrays)
    data = load_mnist(tmp_path, spec=_spec(arrays), sources=[source], log=pytest.fail)
    assert source.calls == 0 and data.source == "cache"
    np.testing.assert_array_equal(data.x_test, arrays["x_test"])


def _corrupt_pixel(path: Path, arrays):
    changed = dict(arrays, x_train=arrays["x_train"].copy())
    changed["x_train"][3, 4, 5] ^= 1
    write_cache(path, changed)


def _truncate(path: Path, arrays):
    write_cache(path, arrays)
    path.write_bytes(path.read_bytes()[:5000])


def _wrong_shape(path: Path, arrays):
    write_cache(path, dict(arrays, y_test=arrays["y_test"][:-1]))


def _garbage(path: Path, arrays):
    path.write_bytes(b"not a zip file at all")


@pytest.mark.parametrize("damage, reason", [(_corrupt_pixel, "x_train does not match the known MNIST digest"),
                                            (_truncate, "unreadable or truncated cache"),
                                            (_wrong_shape, r"y_test is uint8 \(9,\), expected uint8 \(10,\)"),
                                            (_garbage, "unreadable or truncated cache")])
def test_a_damaged_cache_is_reported_in_one_line_and_fetched_again(tmp_path, damage, reason):
    arrays = _arrays()
    cache = tmp_path / CACHE_FILE
    damage(cache, arrays)
    messages = []
    source = _FakeSource(arrays)
    data = load_mnist(tmp_path, spec=_spec(arrays), sources=[_FailingSource(), source], log=messages.append)
    assert source.calls == 1 and data.source == "fake source"
    assert any(str(cache) in m and "fetching MNIST again" in m for m in messages)
    assert re.search(reason, messages[0]) and "\n" not in messages[0]
    assert read_cache(cache, _spec(arrays))["x_train"].shape == (40, 28, 28)  # repaired
    assert sorted(p.name for p in tmp_path.iterdir()) == [CACHE_FILE]


def test_a_source_returning_wrong_data_is_skipped(tmp_path):
    good = _arrays(0)
    wrong = _FakeSource(_arrays(1))
    wrong.name = "wrong data"
    data = load_mnist(tmp_path, spec=_spec(good), sources=[wrong, _FakeSource(good)], log=lambda m: None)
    assert wrong.calls == 1 and data.source == "fake source"


def test_when_every_source_fails_one_error_says_where_to_put_the_files(tmp_path):
    with pytest.raises(DataError) as info:
        load_mnist(tmp_path / "data", spec=_spec(_arrays()), sources=[_FailingSource()], log=lambda m: None)
    message = str(info.value)
    assert "\n" not in message and "broken mirror" in message
    assert "train-images-idx3-ubyte.gz" in message and str(tmp_path / "data") in message


def test_idx_files_placed_by_hand_are_read_and_verified(tmp_path):
    arrays = _arrays()
    names = {"x_train": "train-images-idx3-ubyte.gz", "y_train": "train-labels-idx1-ubyte.gz",
             "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte.gz"}  # one left uncompressed
    for name, file in names.items():
        raw = encode_idx(arrays[name])
        (tmp_path / file).write_bytes(gzip.compress(raw) if file.endswith(".gz") else raw)
    data = load_mnist(tmp_path, spec=_spec(arrays), sources=[LocalIdxSource(tmp_path)], log=lambda m: None)
    np.testing.assert_array_equal(data.y_train, arrays["y_train"])
    (tmp_path / CACHE_FILE).unlink()
    (tmp_path / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(DataError, match="IDX files incomplete, missing t10k-images-idx3-ubyte.gz"):
        load_mnist(tmp_path, spec=_spec(arrays), sources=[LocalIdxSource(tmp_path)], log=lambda m: None)


def test_data_dir_default_and_overrides(monkeypatch, tmp_path):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "neuro-sandbox"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_data_dir() == Path.home() / ".cache" / "neuro-sandbox"
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "mine"))
    assert default_data_dir() == tmp_path / "mine"


def test_float_images_are_float32_nchw_in_unit_range():
    pixels = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    images = as_float_images(pixels)
    assert images.dtype == np.float32 and images.shape == (1, 1, 2, 2)
    np.testing.assert_allclose(images[0, 0], [[0, 1], [0.2, 0.4]], rtol=1e-6)
