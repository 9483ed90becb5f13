"""Atomic file writes: a temp file in the target's folder, renamed over the target only when complete.

A reader (or a crash, or Ctrl-C) never sees a half-written file: either the old file or the new one.
Every part of the project writes its files through here.

Rules, so that a failed write is always one clear line about the file the user named:
- Every error is an ``OSError`` whose ``filename`` is the path the caller gave (never the hidden temp
  file) and whose ``strerror`` says what went wrong ("Is a directory", "No space left on device", ...);
  the project's CLIs print it as ``path: strerror``.
- Only a regular file, or a path where nothing exists yet, is replaced. A folder, FIFO, device or
  socket is refused (a FIFO would block, and replacing ``/dev/full`` with a file would break the system).
- A symlink is written *through*, deliberately: its target file gets the new content and the link
  stays (a user who links a config or a run folder file elsewhere keeps the link). The target must
  itself be a regular file or a new path in an existing folder.
- Temp names are ``.<name>.<random>.part``, with ``<name>`` shortened when needed so the whole name
  stays within the file system's name limit (255 bytes) for any legal target name.
- Missing parent folders are created. ``ensure_writable`` checks all of this *before* long work starts.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator, NoReturn


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_current_umask()
_TEMP_SUFFIX = ".part"
_RANDOM_CHARS = 8  # what tempfile.mkstemp puts between prefix and suffix


def _fail(code: int, message: str, path: str | os.PathLike) -> NoReturn:
    # OSError(errno, ...) picks the subclass (IsADirectoryError, PermissionError, ...); "from None": the
    # low-level error it replaces would only name the temp file again.
    raise OSError(code, message, os.fspath(path)) from None


def _name_limit(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def _kind(mode: int) -> str:
    kinds = [(stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")]
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def target_file(path: str | os.PathLike) -> Path:
    """The file that writing ``path`` replaces: ``path`` itself, or a symlink's target. Refuses anything
    that exists and is not a regular file, with an ``OSError`` naming ``path``."""
    given = os.fspath(path)
    if not given:
        _fail(errno.ENOENT, "an empty path is not a file name", given)
    if given.endswith(os.sep) or (os.altsep and given.endswith(os.altsep)):  # Path() would drop the slash
        _fail(errno.EISDIR, "ends with a slash: that names a folder, not a file", given)
    target = Path(given)
    if target.is_symlink():
        target = Path(os.path.realpath(target))
        if not target.parent.is_dir():
            _fail(errno.ENOENT, f"is a symlink to {target}, whose folder does not exist", given)
    try:
        mode = os.stat(target).st_mode
    except (FileNotFoundError, NotADirectoryError):  # a new path (a parent that is a file fails later, named)
        return target
    except OSError as exc:
        _fail(exc.errno or errno.EIO, exc.strerror or str(exc), given)
    if stat.S_ISDIR(mode):
        _fail(errno.EISDIR, "is a folder, not a file", given)
    if not stat.S_ISREG(mode):
        _fail(errno.EINVAL, f"is {_kind(mode)}, not a regular file; refusing to replace it", given)
    return target


def make_temp(path: str | os.PathLike) -> tuple[int, Path]:
    """A hidden temp file beside ``path`` with ordinary permissions (mkstemp alone gives 0600).

    Its name fits the folder's name limit whatever the length of ``path``'s name; errors name ``path``.
    """
    path = Path(path)
    room = _name_limit(path.parent) - len(".." + _TEMP_SUFFIX) - _RANDOM_CHARS
    name = path.name
    while len(os.fsencode(name)) > room:  # shorten by characters, so a multi-byte character stays whole
        name = name[:-1]
    try:
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{name}.", suffix=_TEMP_SUFFIX)
    except OSError as exc:
        _fail(exc.errno or errno.EIO, f"cannot create a file in {path.parent} ({exc.strerror or exc})", path)
    os.chmod(temp, _FILE_MODE)
    return fd, Path(temp)


def _about_the_target(exc: OSError, temp: Path | None) -> bool:
    """Whether ``exc`` is about our temp file (so should name the target): no file name, or the temp's."""
    return exc.filename is None or (temp is not None and os.fspath(exc.filename) == os.fspath(temp))


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temp file for writing; on clean exit it is synced and replaces ``path``, on error removed.

    The parent folder is created if missing. Errors are ``OSError`` naming ``path`` (see the module doc).
    """
    given = os.fspath(path)
    target = target_file(given)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _fail(exc.errno or errno.EIO, f"cannot create its folder ({exc.strerror or exc})", given)
    fd, temp = make_temp(target)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, target)
    except OSError as exc:
        if not _about_the_target(exc, temp):
            raise
        _fail(exc.errno or errno.EIO, exc.strerror or str(exc), given)
    finally:
        temp.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w") as f:
        f.write(text)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def ensure_writable(path: str | os.PathLike) -> None:
    """Check, before long work starts, that ``atomic_open(path)`` will be able to write ``path``.

    Raises one ``OSError`` naming ``path`` when it could not: a folder, FIFO or device in its place, a
    name too long, a parent that is a file, or a folder where files cannot be created (no permission,
    read-only file system). Missing folders are fine when they can be created. Writes nothing that stays.
    """
    given = os.fspath(path)
    target = target_file(given)
    if len(os.fsencode(target.name)) > 255:
        _fail(errno.ENAMETOOLONG, "file name too long", given)
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        _fail(errno.ENOTDIR, f"{folder} is not a folder", given)
    if folder == target.parent:
        fd, temp = make_temp(target)  # the only sure test: permissions, ACLs, read-only mounts, root
        os.close(fd)
        temp.unlink(missing_ok=True)
    elif not os.access(folder, os.W_OK | os.X_OK):
        _fail(errno.EACCES, f"cannot create folders in {folder} (Permission denied)", given)
