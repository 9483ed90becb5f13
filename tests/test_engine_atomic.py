"""engine.atomic: whole files or nothing, errors that name the user's file, and only regular files replaced."""

import errno
import os
import stat
import tempfile

import pytest

import engine.atomic
from engine.atomic import atomic_open, ensure_writable, write_bytes_atomic, write_text_atomic


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_writes_and_replaces_whole_files_with_ordinary_permissions(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    write_text_atomic(target, "one")
    write_text_atomic(target, "two")
    assert target.read_text() == "two" and leftovers(target.parent) == []
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_an_error_in_the_block_keeps_the_old_file(tmp_path):
    target = tmp_path / "keep.bin"
    write_bytes_atomic(target, b"old")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as f:
            f.write(b"half")
            raise RuntimeError("stop")
    assert target.read_bytes() == b"old" and leftovers(tmp_path) == []


def test_onto_a_folder_is_refused_naming_it(tmp_path):
    folder = tmp_path / "history.csv"
    folder.mkdir()
    with pytest.raises(IsADirectoryError) as info:
        write_text_atomic(folder, "x")
    assert info.value.filename == str(folder) and ".part" not in str(info.value)
    assert "folder" in info.value.strerror and folder.is_dir() and leftovers(tmp_path) == []


@pytest.mark.parametrize("where", ["write", "fsync", "replace"])
def test_disk_full_names_the_file_not_the_temp(tmp_path, monkeypatch, where):
    target = tmp_path / "champion.npz"
    full = OSError(errno.ENOSPC, "No space left on device")
    if where == "fsync":
        monkeypatch.setattr(engine.atomic.os, "fsync", lambda fd: (_ for _ in ()).throw(full))
    if where == "replace":  # os.replace names both files; the message must name only the target
        def replace(src, dst):
            raise OSError(errno.ENOSPC, "No space left on device", str(src), None, str(dst))
        monkeypatch.setattr(engine.atomic.os, "replace", replace)
    with pytest.raises(OSError) as info:
        with atomic_open(target) as f:
            f.write(b"data")
            if where == "write":  # what a buffered write raises when the disk fills: no file name
                raise full
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    assert info.value.filename2 is None and ".part" not in str(info.value)
    assert not target.exists() and leftovers(tmp_path) == []


def test_other_files_errors_in_the_block_are_left_alone(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        with atomic_open(tmp_path / "out.txt", "w") as f:
            f.write(open(tmp_path / "missing.txt").read())
    assert info.value.filename == str(tmp_path / "missing.txt")


@pytest.mark.parametrize("name", ["a" * 251 + ".csv", "é" * 127, "x" * 255])
def test_temp_names_fit_the_name_limit_for_any_legal_name(tmp_path, monkeypatch, name):
    seen = []
    original = tempfile.mkstemp

    def spy(*args, **kwargs):
        fd, temp = original(*args, **kwargs)
        seen.append(os.path.basename(temp))
        return fd, temp
    monkeypatch.setattr(engine.atomic.tempfile, "mkstemp", spy)
    write_text_atomic(tmp_path / name, "ok")
    assert (tmp_path / name).read_text() == "ok"
    assert seen and all(len(os.fsencode(temp)) <= 255 for temp in seen)
    assert seen[0].startswith(".") and seen[0].endswith(".part")
    seen[0].encode("utf-8").decode("utf-8")  # shortened by whole characters


def test_a_fifo_is_refused_and_kept(tmp_path):
    fifo = tmp_path / "out.json"
    os.mkfifo(fifo)
    for attempt in (lambda: write_text_atomic(fifo, "{}"), lambda: ensure_writable(fifo)):
        with pytest.raises(OSError) as info:
            attempt()
        assert info.value.filename == str(fifo) and "FIFO" in info.value.strerror
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and leftovers(tmp_path) == []


def test_a_device_is_refused(tmp_path):
    device = tmp_path / "null"
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a private /dev/null node
    except (PermissionError, OSError):
        pytest.skip("cannot create a device node here")
    with pytest.raises(OSError, match="character device") as info:
        write_bytes_atomic(device, b"x")
    assert info.value.filename == str(device) and stat.S_ISCHR(os.lstat(device).st_mode)


def test_symlinks_are_written_through(tmp_path):
    real = tmp_path / "real.toml"
    real.write_text("old")
    link = tmp_path / "link.toml"
    link.symlink_to(real)
    write_text_atomic(link, "new")
    assert link.is_symlink() and real.read_text() == "new" and leftovers(tmp_path) == []
    dangling = tmp_path / "new-link.toml"
    dangling.symlink_to(tmp_path / "created.toml")
    write_text_atomic(dangling, "made")
    assert dangling.is_symlink() and (tmp_path / "created.toml").read_text() == "made"


def test_symlinks_to_folders_or_missing_folders_are_refused(tmp_path):
    to_folder = tmp_path / "to-folder"
    to_folder.symlink_to(tmp_path)
    nowhere = tmp_path / "nowhere"
    nowhere.symlink_to(tmp_path / "missing" / "file.txt")
    for link in (to_folder, nowhere):
        for attempt in (write_text_atomic, lambda p, _: ensure_writable(p)):
            with pytest.raises(OSError) as info:
                attempt(link, "x")
            assert info.value.filename == str(link)
    assert not (tmp_path / "missing").exists()


def test_ensure_writable_accepts_what_can_be_written_and_leaves_nothing(tmp_path):
    ensure_writable(tmp_path / "new.json")
    ensure_writable(tmp_path / "a" / "b" / "new.json")  # folders that can be created
    (tmp_path / "old.json").write_text("{}")
    ensure_writable(tmp_path / "old.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.json"]


def test_ensure_writable_refuses_with_one_line_naming_the_path(tmp_path):
    (tmp_path / "file").write_text("")
    (tmp_path / "folder").mkdir()
    cases = {tmp_path / "file" / "out.json": "is not a folder", tmp_path / "folder": "is a folder",
             tmp_path / ("n" * 256): "too long", "": "empty path", f"{tmp_path}/new/": "ends with a slash"}
    for path, message in cases.items():
        with pytest.raises(OSError) as info:
            ensure_writable(path)
        assert info.value.filename == str(path) and message in info.value.strerror
        assert "\n" not in str(info.value)
    with pytest.raises(OSError, match="cannot create its folder") as info:
        write_text_atomic(tmp_path / "file" / "out.json", "x")
    assert info.value.filename == str(tmp_path / "file" / "out.json")


def test_ensure_writable_reports_an_unwritable_folder(tmp_path, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / ".out.csv.abcdefgh.part"))
    monkeypatch.setattr(engine.atomic.tempfile, "mkstemp", denied)  # what a non-root user meets
    with pytest.raises(PermissionError) as info:
        ensure_writable(tmp_path / "out.csv")
    assert info.value.filename == str(tmp_path / "out.csv") and ".part" not in str(info.value)
    assert "Permission denied" in info.value.strerror


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write anywhere")
def test_ensure_writable_on_a_read_only_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(PermissionError):
            ensure_writable(locked / "out.csv")
        with pytest.raises(PermissionError):
            ensure_writable(locked / "sub" / "out.csv")
    finally:
        locked.chmod(0o700)
