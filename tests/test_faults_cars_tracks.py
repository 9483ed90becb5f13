"""Fault injection for `cars tracks`, `cars edit` and every track file the commands read: outputs that are
not regular files, flags out of range, track files that are huge, endless, malformed or far too large
once smoothed, and Ctrl-C while a track is generated.

Every case ends in one line (exit 2, or 130 for Ctrl-C) and leaves the target as it was. Each test (each
parametrised case) is one hostile case.
"""

from __future__ import annotations

import json
import math
import os
import stat
import sys
from pathlib import Path

import pytest

from faults_helpers import FAST, one_line, press_ctrl_c_when, run_cli

import cars.sim.trackgen as trackgen
from cars.sim.track import MAX_POINTS, TrackError, load_track


def test_generate_with_a_negative_seed_names_the_flag(tmp_path, capsys):
    line = one_line(*run_cli(capsys, "tracks", "--generate", "-1", "--out", tmp_path / "t.json")[::2])
    assert "--generate" in line and "-1" in line
    assert not (tmp_path / "t.json").exists()


@pytest.mark.parametrize("kind", ["fifo", "char device", "symlink to a device", "folder", "trailing slash",
                                  "missing folder", "under a file", "proc", "empty", "dangling symlink"])
def test_out_that_is_not_a_regular_file_is_refused_and_kept(kind, tmp_path, capsys, monkeypatch):
    if kind == "proc" and not sys.platform.startswith("linux"):
        pytest.skip("/proc is Linux's")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "folder").mkdir()
    (tmp_path / "afile").write_text("x")
    os.symlink("/dev/null", tmp_path / "to_null")
    os.symlink(tmp_path / "gone" / "t.json", tmp_path / "dangling")
    target = {"fifo": tmp_path / "fifo", "char device": "/dev/full", "symlink to a device": tmp_path / "to_null",
              "folder": tmp_path / "folder", "trailing slash": f"{tmp_path}/new/", "missing folder":
              tmp_path / "no" / "t.json", "under a file": tmp_path / "afile" / "t.json", "proc": "/proc/t.json",
              "empty": "", "dangling symlink": tmp_path / "dangling"}[kind]
    called = press_ctrl_c_when(monkeypatch, trackgen, "generate_track", times=0)  # count only
    line = one_line(*run_cli(capsys, "tracks", "--generate", "3", "--out", target)[::2])
    assert (str(target).rstrip("/") in line) or "--out" in line
    assert called["n"] == 0  # refused before the track is generated
    assert (tmp_path / "fifo").is_fifo() and Path("/dev/full").is_char_device()
    assert os.readlink(tmp_path / "to_null") == "/dev/null" and (tmp_path / "afile").read_text() == "x"


def test_out_through_a_symlink_to_a_file_writes_the_file_and_keeps_the_link(tmp_path, capsys):
    (tmp_path / "real.json").write_text("old")
    os.symlink(tmp_path / "real.json", tmp_path / "link.json")
    code, out, err = run_cli(capsys, "tracks", "--generate", "4", "--out", tmp_path / "link.json")
    assert code == 0, err
    assert (tmp_path / "link.json").is_symlink() and load_track(tmp_path / "real.json").name == "Generated 4"


def test_ctrl_c_while_generating_writes_nothing(tmp_path, capsys, monkeypatch):
    press_ctrl_c_when(monkeypatch, trackgen, "generate_track", times=2)
    line = one_line(*run_cli(capsys, "tracks", "--generate", "5", "--out", tmp_path / "t.json")[::2], expected=130)
    assert "interrupted" in line and not list(tmp_path.iterdir())


# ---- track files ------------------------------------------------------------------------------------

def square(size: float) -> list[list[float]]:
    return [[0, 0], [size, 0], [size, size], [0, size]]


def write_track(path: Path, kind: str) -> None:
    payloads = {
        "smoothed far apart": {"width": 60, "centerline": square(1e6), "smooth": True},
        "smoothed beyond the world": {"width": 60, "centerline": [[-1e6, -1e6], [1e6, -1e6], [1e6, 1e6],
                                                                   [-1e6, 1e6]], "smooth": True},
        "too many points": {"width": 60, "centerline": [[1000 * math.cos(a / 1000), 1000 * math.sin(a / 1000)]
                                                        for a in range(MAX_POINTS + 1)]},
        "name of 100,000 characters": {"width": 60, "centerline": square(400), "name": "x" * 100_000},
        "width beyond float": {"width": 1e308, "centerline": square(400)},
        "width zero": {"width": 0, "centerline": square(400)},
        "points the same": {"width": 60, "centerline": [[0, 0], [1e-9, 0], [0, 1e-9], [1e-9, 1e-9]]},
        "smooth is text": {"width": 60, "centerline": square(400), "smooth": "yes"},
        "an unknown field": {"width": 60, "centerline": square(400), "colour": "red"},
        "centerline of text": {"width": 60, "centerline": "round"},
        "a list, not an object": [1, 2, 3],
    }
    texts = {
        "nested 100,000 deep": "[" * 100_000,
        "a coordinate of 1e999": '{"width": 60, "centerline": [[0, 0], [1e999, 0], [1, 1], [0, 1]]}',
        "NaN": '{"width": 60, "centerline": [[0, 0], [NaN, 0], [1, 1], [0, 1]]}',
        "cut short": '{"width": 60, "centerline": [[0, 0], [1',
    }
    if kind in payloads:
        path.write_text(json.dumps(payloads[kind]))
    elif kind in texts:
        path.write_text(texts[kind])
    elif kind == "not UTF-8":
        path.write_bytes(b"\xff\xfe\x00{")
    elif kind == "larger than 16 MB":
        with open(path, "wb") as f:  # sparse: costs no disk
            f.truncate(17 << 20)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()


TRACK_FAULTS = ["smoothed far apart", "smoothed beyond the world", "too many points", "name of 100,000 characters",
                "width beyond float", "width zero", "points the same", "smooth is text", "an unknown field",
                "centerline of text", "a list, not an object", "nested 100,000 deep", "a coordinate of 1e999",
                "NaN", "cut short", "not UTF-8", "larger than 16 MB", "fifo", "folder"]


@pytest.mark.parametrize("kind", TRACK_FAULTS)
def test_track_file_faults_are_one_line_before_the_run(kind, tmp_path, capsys):
    path = tmp_path / "t.json"
    write_track(path, kind)
    code, out, err = run_cli(capsys, "evolve", *FAST, "--track", path, "--save-dir", tmp_path / "run")
    line = one_line(code, err)
    assert "t.json" in line and not (tmp_path / "run").exists()


def test_smoothing_limits_apply_after_smoothing():
    with pytest.raises(TrackError, match="smoothing gives a centerline of"):
        from cars.sim.track import Track
        Track.from_dict({"width": 60, "centerline": square(1e5), "smooth": True}, "far.json")


@pytest.mark.parametrize("target", ["folder", "fifo", "empty"])
def test_edit_refuses_what_is_not_a_track_file(target, tmp_path, capsys):
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "t.json")
    path = {"folder": tmp_path / "folder", "fifo": tmp_path / "t.json", "empty": ""}[target]
    line = one_line(*run_cli(capsys, "edit", path, "--screenshot", tmp_path / "s.png", "--frames", "1")[::2])
    assert str(path) in line or "empty" in line
    assert not (tmp_path / "s.png").exists() and stat.S_ISFIFO(os.stat(tmp_path / "t.json").st_mode)


def test_engine_atomic_refuses_a_name_ending_in_a_slash(tmp_path):
    from engine.atomic import ensure_writable, write_text_atomic

    for call in (ensure_writable, lambda p: write_text_atomic(p, "x")):
        with pytest.raises(IsADirectoryError, match="ends with a slash"):
            call(f"{tmp_path}/new/")
    assert not (tmp_path / "new").exists()
