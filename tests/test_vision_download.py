"""The HTTPS download path, against a small HTTP server on 127.0.0.1 started by the test."""

import gzip
import hashlib
import http.server
import socket
import threading

import numpy as np
import pytest

from vision.data import IDX_FILES, ArraySpec, MirrorSource, array_sha256, load_mnist
from vision.download import download
from vision.errors import DataError
from vision.idx import encode_idx

PAYLOAD = bytes(range(256)) * 1000  # 256 kB, several read chunks


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict = {}

    def do_GET(self):
        kind, _, name = self.path.strip("/").partition("/")
        body = self.files.get(name)
        if body is None or kind not in ("ok", "truncated"):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body if kind == "ok" else body[: len(body) // 3])

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Handler.files = {"payload.bin": PAYLOAD}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def _closed_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/ok/payload.bin"


def test_success_writes_the_verified_file(server, tmp_path):
    dest = tmp_path / "payload.bin"
    result = download(f"{server}/ok/payload.bin", dest, sha256=hashlib.sha256(PAYLOAD).hexdigest(),
                      size=len(PAYLOAD), progress=False)
    assert result == dest and dest.read_bytes() == PAYLOAD
    assert [p.name for p in tmp_path.iterdir()] == ["payload.bin"]


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    with pytest.raises(DataError, match="payload.bin: checksum mismatch"):
        download(f"{server}/ok/payload.bin", tmp_path / "payload.bin", sha256="0" * 64, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_truncated_transfer_leaves_nothing(server, tmp_path):
    with pytest.raises(DataError, match=r"truncated transfer \(85,333 of 256,000 bytes\)"):
        download(f"{server}/truncated/payload.bin", tmp_path / "payload.bin", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_wrong_size_http_error_and_unreachable(server, tmp_path):
    with pytest.raises(DataError, match="expected 999"):
        download(f"{server}/ok/payload.bin", tmp_path / "a", size=999, progress=False)
    with pytest.raises(DataError, match="HTTP 404"):
        download(f"{server}/ok/missing.bin", tmp_path / "b", progress=False)
    with pytest.raises(DataError, match="unreachable"):
        download(_closed_port_url(), tmp_path / "c", timeout=2, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_survives_a_failed_download(server, tmp_path):
    dest = tmp_path / "payload.bin"
    dest.write_bytes(b"previous")
    with pytest.raises(DataError):
        download(f"{server}/truncated/payload.bin", dest, progress=False)
    assert dest.read_bytes() == b"previous"


def test_mirror_source_falls_through_to_a_good_mirror_and_is_cached(server, tmp_path):
    rng = np.random.default_rng(2)
    arrays = {"x_train": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
              "y_train": rng.integers(0, 10, 20, dtype=np.uint8),
              "x_test": rng.integers(0, 256, (8, 28, 28), dtype=np.uint8),
              "y_test": rng.integers(0, 10, 8, dtype=np.uint8)}
    files, blobs = {}, {}
    for file, (name, magic, _, _) in IDX_FILES.items():
        blobs[file] = gzip.compress(encode_idx(arrays[name]))
        files[file] = (name, magic, hashlib.sha256(blobs[file]).hexdigest(), len(blobs[file]))
    _Handler.files = blobs
    spec = {name: ArraySpec(a.shape, array_sha256(a)) for name, a in arrays.items()}
    source = MirrorSource(mirrors=[f"{server}/truncated/", f"{server}/ok/"], files=files, progress=False)
    messages = []
    data = load_mnist(tmp_path, spec=spec, sources=[source], log=messages.append)
    for name, array in arrays.items():
        np.testing.assert_array_equal(getattr(data, name), array)
    assert data.source == "HTTPS mirrors"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mnist.npz"]  # scratch files gone

    # A pinned checksum that no mirror satisfies: every mirror's problem is reported, nothing is cached.
    (tmp_path / "mnist.npz").unlink()
    files["t10k-labels-idx1-ubyte.gz"] = files["t10k-labels-idx1-ubyte.gz"][:2] + ("f" * 64, None)
    with pytest.raises(DataError, match="checksum mismatch.*put mnist.npz or the four IDX files"):
        load_mnist(tmp_path, spec=spec, sources=[MirrorSource(mirrors=[f"{server}/ok/"], files=files,
                                                              progress=False)], log=messages.append)
    assert list(tmp_path.iterdir()) == []
