"""Finding and reading the text files people give by name or path (tracks, configs), with one-line errors.

`find_file("sbends", TRACKS_DIR, ".json", "track", TrackError)` returns the path of a file the user
named, or of a shipped one ("sbends" -> cars/tracks/sbends.json, case-insensitive); anything else
raises `error` with one line naming what was asked for and listing the shipped names.
"""

from __future__ import annotations

import os
from pathlib import Path


def shipped_names(folder: Path, suffix: str) -> list[str]:
    return sorted(p.stem for p in folder.glob(f"*{suffix}"))


def looks_like_path(text: str, suffix: str) -> bool:
    return text.lower().endswith(suffix) or os.sep in text or (os.altsep or os.sep) in text


def find_file(name_or_path: str | os.PathLike, folder: Path, suffix: str, what: str,
              error: type[Exception]) -> Path:
    """The file `name_or_path` (a path to an existing file, else a shipped name in `folder`)."""
    text = os.fspath(name_or_path)
    path = Path(text)
    if not text.strip():
        raise error(f"{what} name is empty (shipped: {', '.join(shipped_names(folder, suffix))})")
    if path.is_file():
        return path
    if looks_like_path(text, suffix) or path.exists():
        if path.is_dir():
            raise error(f"{text}: is a folder, not a {what} file")
        if path.exists():  # a FIFO would block the read, a device never ends
            raise error(f"{text}: not a regular file (a FIFO, device or socket), not a {what} file")
        raise error(f"{text}: {what} file not found")
    shipped = folder / f"{text.strip().lower()}{suffix}"
    if shipped.is_file():
        return shipped
    raise error(f"{text}: no such {what} file or shipped {what} (shipped: {', '.join(shipped_names(folder, suffix))})")


MAX_TEXT_BYTES = 16 << 20  # a track of MAX_POINTS points is well under 1 MB; a config a few KB


def read_text(path: Path, error: type[Exception]) -> str:
    """The UTF-8 text of `path` (at most MAX_TEXT_BYTES), or `error` with one line naming it."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_TEXT_BYTES + 1)
        if len(data) > MAX_TEXT_BYTES:
            raise error(f"{path}: larger than {MAX_TEXT_BYTES >> 20} MB, too large to be a track or config file")
        return data.decode("utf-8")
    except FileNotFoundError:
        raise error(f"{path}: file not found") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not a file") from None
    except UnicodeDecodeError:
        raise error(f"{path}: not a text (UTF-8) file") from None
    except OSError as e:
        raise error(f"{path}: cannot read ({e.strerror or e})") from None
