"""HTTPS download of one file: byte progress bar, checksum, temp file then rename.

Either the complete, verified file appears at ``dest`` or nothing does: bytes go to a hidden
temp file in the destination folder, which is renamed over ``dest`` only after the length and the
SHA-256 check out, and removed on any failure (including Ctrl-C).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import urllib.error
import urllib.request
from pathlib import Path

from engine.atomic import make_temp
from vision.errors import DataError
from vision.progress import ProgressBar

CHUNK = 1 << 16
USER_AGENT = "neuro-sandbox-digit-benchmark/0.1"


def download(url: str, dest: str | Path, *, sha256: str | None = None, size: int | None = None,
             timeout: float = 10.0, progress: bool = True) -> Path:
    """Fetch ``url`` into ``dest`` and return ``dest``.

    ``sha256`` / ``size``, when given, must match the received bytes. ``timeout`` bounds the
    connection and every read, so an unreachable mirror fails within seconds.
    Raises ``DataError`` naming the URL and the problem.
    """
    dest = Path(dest)
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        fd, tmp = make_temp(dest)
    except OSError as exc:
        raise DataError(f"{dest.parent}: cannot write there ({exc.strerror or exc})") from None
    try:
        digest = hashlib.sha256()
        received = 0
        with os.fdopen(fd, "wb") as out:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                announced = response.headers.get("Content-Length")
                announced = int(announced) if announced and announced.isdigit() else None
                total = size or announced
                with ProgressBar(total, f"  {dest.name}", byte_units=True, enabled=progress) as bar:
                    while chunk := response.read(CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
        if announced is not None and received != announced:
            raise DataError(f"{url}: truncated transfer ({received:,} of {announced:,} bytes)")
        if size is not None and received != size:
            raise DataError(f"{url}: got {received:,} bytes, expected {size:,}")
        if sha256 is not None and digest.hexdigest() != sha256:
            raise DataError(f"{url}: checksum mismatch (sha256 {digest.hexdigest()}, expected {sha256})")
        os.replace(tmp, dest)
        return dest
    except urllib.error.HTTPError as exc:
        raise DataError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise DataError(f"{url}: unreachable ({exc.reason})") from None
    except (socket.timeout, TimeoutError):
        raise DataError(f"{url}: timed out after {timeout:g} s") from None
    except (OSError, http.client.HTTPException) as exc:
        # Connection resets are OSErrors; a response cut short can surface as http.client.IncompleteRead.
        raise DataError(f"{url}: download failed ({exc})") from None
    finally:
        tmp.unlink(missing_ok=True)
