"""Opening and naming track files for the editor (no pygame): what `cars edit [FILE]` starts from
and where S saves."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from cars.sim import track as track_module
from cars.sim.track import TrackError, load_track, shipped_track_names

DEFAULT_TRACK = "oval"


def unused_path(path: Path) -> Path:
    """`path`, or `stem_2.json`, `stem_3.json`, ... if it exists already."""
    candidate, n = path, 2
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}_{n}{path.suffix}")
        n += 1
    return candidate


def _raw_track(path: Path) -> dict | None:
    """The name/width/centerline of a track file that fails validation but can still be edited."""
    try:
        d = json.loads(path.read_text())
        points = np.asarray(d["centerline"], dtype=np.float64).reshape(-1, 2)
        width = float(d.get("width", 70.0))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if len(points) > 1 and np.array_equal(points[0], points[-1]):
        points = points[:-1]
    if len(points) < 3 or not np.all(np.isfinite(points)) or not np.isfinite(width):
        return None
    name = d.get("name")
    extra = {"smooth": True} if d.get("smooth") is True else {}
    return {**extra, "centerline": points.tolist(), "width": width,
            "name": name if isinstance(name, str) and name.strip() else path.stem}


def shipped_for_editing(name: str) -> dict:
    """A shipped track's points as written in its file (control points stay control points)."""
    track = load_track(name)
    shipped_dir = getattr(track_module, "TRACKS_DIR", None)
    raw = _raw_track(Path(shipped_dir) / f"{name}.json") if shipped_dir is not None else None
    return raw if raw is not None else track.to_dict()


def load_for_editing(path: str | os.PathLike | None) -> tuple[dict, Path | None, str | None]:
    """(track dict, save target, error shown on opening) for `cars edit [FILE]`.

    No FILE: a copy of the default track, saved later to ./custom_track.json. A FILE that does not
    exist: a copy of the default (or of the shipped track of that name) saved to that FILE. A FILE
    that is a track with an invalid shape opens with the error shown, so it can be fixed; a file
    that is not a track at all raises TrackError.
    """
    if path is None:
        d = shipped_for_editing(DEFAULT_TRACK)
        d["name"] = "custom"
        return d, None, None
    p = Path(path)
    if p.is_file():
        try:
            track = load_track(p)
        except TrackError as exc:
            raw = _raw_track(p)
            if raw is None:
                raise
            return raw, p, str(exc)
        raw = _raw_track(p)  # the points as written (e.g. spline control points), not the dense curve
        return (raw if raw is not None else track.to_dict()), p, None
    if str(path) in shipped_track_names():
        return shipped_for_editing(str(path)), unused_path(Path.cwd() / f"{path}.json"), None
    if p.suffix.lower() != ".json":
        raise TrackError(f"{path}: no such track file or shipped track (tracks are .json files)")
    d = shipped_for_editing(DEFAULT_TRACK)
    d["name"] = p.stem
    return d, p, None
