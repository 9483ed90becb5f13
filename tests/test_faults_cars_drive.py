"""Fault injection for `cars drive`: damaged champions, bad tracks, --laps out of range, unwritable --json,
Ctrl-C during a drive (in process and in a real child process), progress of long drives.

Every case ends in one line (exit 2, or 130 for Ctrl-C, with the result so far in --json). Each test (each
parametrised case) is one hostile case.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from faults_helpers import (interrupt_after_marker, make_parked_champion, one_line, press_ctrl_c_when, read_json,
                            run_cli, start_cli)

import cars.cli.drive as drive_cli
from cars.sim.simulation import Simulation


@pytest.fixture(scope="module")
def champion(tmp_path_factory) -> Path:
    return make_parked_champion(tmp_path_factory.mktemp("champ") / "parked.npz", max_steps=200)


def rewrite(champion: Path, target: Path, change) -> Path:
    with np.load(champion) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["__metadata__"]))
    meta = change(arrays, meta)
    arrays["__metadata__"] = np.array(json.dumps(meta))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    target.write_bytes(buf.getvalue())
    return target


def meta_set(path, value):
    def change(arrays, meta):
        where = meta
        for key in path[:-1]:
            where = where[key]
        where[path[-1]] = value
        return meta
    return change


def weights(fn):
    def change(arrays, meta):
        arrays["param/0.weight"] = fn(arrays["param/0.weight"])
        return meta
    return change


def architecture(layers):
    def change(arrays, meta):
        arrays["__architecture__"] = np.array(json.dumps({"type": "Sequential", "layers": layers}))
        return meta
    return change


CHAMPION_DAMAGE = {
    "config is a string": meta_set(["config"], "abc"),
    "config is empty": meta_set(["config"], {}),
    "config lacks a setting": lambda a, m: (m["config"]["car"].pop("length"), m)[1],
    "config section is a number": meta_set(["config", "car"], 5),
    "config value out of range": meta_set(["config", "car", "length"], 1e300),
    "config of another brain": meta_set(["config", "brain", "hidden"], [3]),
    "config with other sensors": meta_set(["config", "sensors", "rays"], 3),
    "metadata is a list": lambda a, m: [1],
    "another kind of model": meta_set(["kind"], "digit-classifier/1"),
    "NaN weights": weights(lambda w: w * np.nan),
    "infinite weights": weights(lambda w: w + np.inf),
    "missing weights": lambda a, m: (a.pop("param/0.weight"), m)[1],
    "a layer of a trillion units": architecture([{"type": "Dense", "in_features": 8, "out_features": 10 ** 12}]),
    "an unknown layer": architecture([{"type": "Teleporter"}]),
    "a car wider than the road": meta_set(["config", "car", "width"], 99),
}


@pytest.mark.parametrize("damage", list(CHAMPION_DAMAGE))
def test_damaged_champion_is_one_line(damage, champion, tmp_path, capsys):
    with np.errstate(invalid="ignore"):
        bad = rewrite(champion, tmp_path / "bad.npz", CHAMPION_DAMAGE[damage])
    line = one_line(*run_cli(capsys, "drive", "--champion", bad, "--track", "oval", "--headless", "--json",
                             tmp_path / "r.json")[::2])
    assert "bad.npz" in line
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("content", [b"", b"not a zip", b"PK\x03\x04 cut short", "truncated", "folder", "fifo",
                                     "checkpoint"])
def test_files_that_are_not_champions(content, champion, tmp_path, capsys):
    path = tmp_path / "x.npz"
    if content == "folder":
        path.mkdir()
    elif content == "fifo":
        os.mkfifo(path)
    elif content == "truncated":
        path.write_bytes(champion.read_bytes()[:200])
    elif content == "checkpoint":  # a run's checkpoint is a zip of arrays, not a model
        np.savez(path, state=np.array("{}"))
    else:
        path.write_bytes(content)
    line = one_line(*run_cli(capsys, "drive", "--champion", path, "--track", "oval", "--headless")[::2])
    assert "x.npz" in line


@pytest.mark.parametrize("laps", ["0", "-1", "10001", "1000000", "many"])
def test_laps_out_of_range(laps, champion, capsys):
    line = one_line(*run_cli(capsys, "drive", "--champion", champion, "--track", "oval", "--laps", laps,
                             "--headless")[::2])
    assert "--laps" in line or laps in line


@pytest.mark.parametrize("track", ["nowhere", "folder", "fifo", "bad.json"])
def test_bad_tracks(track, champion, tmp_path, capsys):
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "bad.json").write_text('{"width": 60, "centerline": [[0, 0], [1, 0]]}')
    target = track if track == "nowhere" else str(tmp_path / track)
    line = one_line(*run_cli(capsys, "drive", "--champion", champion, "--track", target, "--headless")[::2])
    assert track in line


@pytest.mark.parametrize("kind", ["folder", "fifo", "device", "trailing slash", "missing folder", "proc", "empty"])
def test_json_target_checked_before_driving(kind, champion, tmp_path, capsys):
    if kind == "proc" and not sys.platform.startswith("linux"):
        pytest.skip("/proc is Linux's")
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "fifo")
    target = {"folder": tmp_path / "folder", "fifo": tmp_path / "fifo", "device": "/dev/full",
              "trailing slash": f"{tmp_path}/new/", "missing folder": tmp_path / "no" / "r.json",
              "proc": "/proc/cars-r.json", "empty": ""}[kind]
    code, out, err = run_cli(capsys, "drive", "--champion", champion, "--track", "oval", "--headless", "--json",
                             target)
    one_line(code, err)
    assert "driving" not in out  # refused before the drive
    assert (tmp_path / "fifo").is_fifo() and Path("/dev/full").is_char_device()


def test_ctrl_c_during_a_drive_writes_the_result_so_far(champion, tmp_path, capsys, monkeypatch):
    press_ctrl_c_when(monkeypatch, Simulation, "step", after_calls=50, times=3)
    result = tmp_path / "r.json"
    code, out, err = run_cli(capsys, "drive", "--champion", champion, "--track", "oval", "--laps", "3",
                             "--headless", "--json", result)
    line = one_line(code, err, expected=130)
    assert "interrupted after 50 steps" in line and str(result) in line
    data = read_json(result)
    assert data["interrupted"] is True and data["steps"] == 50 and "interrupted" in out


def test_ctrl_c_while_writing_the_result(champion, tmp_path, capsys, monkeypatch):
    press_ctrl_c_when(monkeypatch, drive_cli, "write_json", times=2)
    result = tmp_path / "r.json"
    code, out, err = run_cli(capsys, "drive", "--champion", champion, "--track", "oval", "--headless", "--json",
                             result)
    one_line(code, err, expected=130)
    assert read_json(result)["steps"] == 200  # written whole


def test_ctrl_c_while_loading_the_champion(champion, capsys, monkeypatch):
    press_ctrl_c_when(monkeypatch, drive_cli, "load_champion")
    line = one_line(*run_cli(capsys, "drive", "--champion", champion, "--track", "oval", "--headless")[::2],
                    expected=130)
    assert "interrupted" in line


def test_ctrl_c_in_a_real_long_drive(tmp_path):
    """A child process drives a champion that would take minutes; SIGINT once it says it is driving."""
    long_champion = make_parked_champion(tmp_path / "long.npz")
    result = tmp_path / "r.json"
    proc = start_cli("drive", "--champion", long_champion, "--track", "oval", "--laps", "100", "--headless",
                     "--json", result)
    code, out, err = interrupt_after_marker(proc, "driving")
    assert code == 130 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    data = read_json(result)
    assert data["interrupted"] is True and 0 <= data["steps"] < 100 * 1_000_000  # (0: Ctrl-C before the first step)


def test_long_drives_show_progress(champion, capsys, monkeypatch):
    monkeypatch.setattr(drive_cli, "PROGRESS_SECONDS", 0.0)  # a line at every look at the clock
    code, out, _ = run_cli(capsys, "drive", "--champion", champion, "--track", "oval", "--laps", "2", "--headless")
    assert code == 0
    progress = [line for line in out.splitlines() if line.startswith("step ")]
    assert len(progress) >= 2 and "laps of progress" in progress[0]


def test_drive_memory_estimate_refuses_what_cannot_fit(champion, capsys, monkeypatch):
    from cars.learn import preflight

    monkeypatch.setattr(preflight, "available_bytes", lambda: 1 << 20)  # a machine with 1 MiB free
    line = one_line(*run_cli(capsys, "drive", "--champion", champion, "--track", "oval", "--headless")[::2])
    assert "of memory" in line and "1.0 MiB available" in line

