"""Fault injection for `cars evolve` / `cars train`: corrupt and partial run files, Ctrl-C at several
moments, two writers on one folder, unwritable outputs, non-finite values and runs that cannot fit.

Every case must end in one line (exit 2, or 130 for Ctrl-C) with every file of the run folder still
valid, and nothing half-made left behind. Each test (each parametrised case) is one hostile case.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from faults_helpers import (FAST, interrupt_after_marker, no_nan_champion, one_line, press_ctrl_c_when, read_json,
                            run_cli, run_files_are_valid, start_cli, wait_for_marker)

import cars.cli.train as train_cli
import cars.learn.history_plot as history_plot
import cars.learn.run_folder as run_module
from cars.learn import run_files
from cars.learn.algorithms.ga import GeneticAlgorithm
from cars.sim.simulation import Simulation


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A small finished run (2 generations, champion and checkpoint) to copy and damage."""
    run_dir = tmp_path_factory.mktemp("base") / "run"
    from cars import cli
    assert cli.main(["evolve", *FAST, "--save-dir", str(run_dir)]) == 0
    return run_dir


def copy_run(finished_run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(finished_run, target, ignore=shutil.ignore_patterns(".lock"))
    return target


def rewrite_checkpoint(path: Path, change) -> None:
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    state = json.loads(str(arrays.pop("state")))
    state = change(arrays, state)
    buf = io.BytesIO()
    np.savez(buf, state=np.array(json.dumps(state)), **arrays)
    path.write_bytes(buf.getvalue())


def set_key(key, value):
    def change(arrays, state):
        state[key] = value
        return state
    return change


def drop_key(key):
    def change(arrays, state):
        state.pop(key)
        return state
    return change


def array_change(name, fn):
    def change(arrays, state):
        if fn is None:
            arrays.pop(name)
        else:
            arrays[name] = fn(arrays[name])
        return state
    return change


def nested(key, inner, value):
    def change(arrays, state):
        state[key][inner] = value
        return state
    return change


CHECKPOINT_DAMAGE = {
    "state lacks rng": drop_key("rng"),
    "state lacks history": drop_key("history"),
    "rng is a string": set_key("rng", "x"),
    "rng of another generator": set_key("rng", {"bit_generator": "MT19937", "state": {}}),
    "rng state emptied": nested("rng", "state", {}),
    "history is a string": set_key("history", "x"),
    "history rows are numbers": set_key("history", [1, 2]),
    "history row without timings": set_key("history", [{"generation": 0}, {"generation": 1}]),
    "more history than generations": set_key("generation", 0),
    "generation is text": set_key("generation", "2"),
    "generation is negative": set_key("generation", -5),
    "generation is true": set_key("generation", True),
    "track names is a number": set_key("track_names", 5),
    "track names hold an empty name": set_key("track_names", [""]),
    "genome size is text": set_key("genome_size", "a"),
    "genome size of another brain": set_key("genome_size", 7),
    "best is a number": set_key("best", 5),
    "best fitness is text": set_key("best", {"fitness": "a", "generation": 0, "tracks": []}),
    "best without a champion": array_change("champion", None),
    "learner state is a number": set_key("learner", 3),
    "learner elites are text": set_key("learner", {"elites": "x"}),
    "live settings are a number": set_key("live_now", 5),
    "live setting out of range": set_key("live_now", {"evolution.mutation_rate": 7}),
    "live setting unknown": set_key("live_next", {"evolution.colour": 1}),
    "total car-steps text": set_key("total_car_steps", "x"),
    "first lap generation text": set_key("first_lap_generation", "x"),
    "another format": set_key("format", "cars-checkpoint/9"),
    "state is a list": lambda arrays, state: [1],
    "fewer genomes than the population": array_change("learner.genomes", lambda a: a[:3]),
    "genomes of another brain": array_change("learner.genomes", lambda a: a[:, :5]),
    "genomes as integers": array_change("learner.genomes", lambda a: a.astype(np.int64)),
    "genomes as text": array_change("learner.genomes", lambda a: np.array("abc")),
    "genomes missing": array_change("learner.genomes", None),
    "NaN genomes": array_change("learner.genomes", lambda a: np.where(a > 0, np.nan, a)),
    "infinite champion": array_change("champion", lambda a: np.full_like(a, np.inf)),
    "champion of another brain": array_change("champion", lambda a: a[:4]),
}


@pytest.mark.parametrize("damage", list(CHECKPOINT_DAMAGE))
def test_damaged_checkpoint_is_one_line_and_kept(damage, finished_run, tmp_path, capsys):
    run_dir = copy_run(finished_run, tmp_path)
    checkpoint = run_dir / "checkpoint.npz"
    rewrite_checkpoint(checkpoint, CHECKPOINT_DAMAGE[damage])
    before = checkpoint.read_bytes()
    line = one_line(*run_cli(capsys, "evolve", "--headless", "--resume", run_dir, "--generations", "3")[::2])
    assert "checkpoint.npz" in line
    assert checkpoint.read_bytes() == before  # a refused resume writes nothing


@pytest.mark.parametrize("content", [b"", b"hello", b"PK\x03\x04 truncated", "cut"])
def test_truncated_or_foreign_checkpoint(content, finished_run, tmp_path, capsys):
    run_dir = copy_run(finished_run, tmp_path)
    checkpoint = run_dir / "checkpoint.npz"
    checkpoint.write_bytes(checkpoint.read_bytes()[:300] if content == "cut" else content)
    line = one_line(*run_cli(capsys, "evolve", "--headless", "--resume", run_dir)[::2])
    assert "checkpoint.npz" in line and "not a readable checkpoint" in line


@pytest.mark.parametrize("config_text", ["", "seed = 1\n", "seed = 1\n[car]\nlength = 'long'\n", b"\xff\xfe\x00",
                                         "[car\n", "seed = 1\ncar = 5\n"])
def test_damaged_run_config_is_one_line(config_text, finished_run, tmp_path, capsys):
    run_dir = copy_run(finished_run, tmp_path)
    path = run_dir / "config.toml"
    path.write_bytes(config_text if isinstance(config_text, bytes) else config_text.encode())
    line = one_line(*run_cli(capsys, "evolve", "--headless", "--resume", run_dir)[::2])
    assert "config.toml" in line


@pytest.mark.parametrize("kind", ["folder", "fifo", "missing"])
def test_run_files_that_are_not_files(kind, finished_run, tmp_path, capsys):
    run_dir = copy_run(finished_run, tmp_path)
    for name in ("checkpoint.npz",):
        (run_dir / name).unlink()
        if kind == "folder":
            (run_dir / name).mkdir()
        elif kind == "fifo":
            os.mkfifo(run_dir / name)
    line = one_line(*run_cli(capsys, "evolve", "--headless", "--resume", run_dir)[::2])
    assert str(run_dir) in line


@pytest.mark.parametrize("argv, words", [
    (["--resume", ""], ["--resume", "empty"]),
    (["--save-dir", ""], ["--save-dir", "empty"]),
    (["--json", ""], ["--json", "empty"]),
])
def test_empty_names_are_refused(argv, words, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = one_line(*run_cli(capsys, "evolve", *FAST, *argv)[::2])
    assert all(w in line for w in words)
    assert not (tmp_path / "runs").exists()


def test_resume_of_a_file_says_so(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    line = one_line(*run_cli(capsys, "evolve", "--headless", "--resume", tmp_path / "afile")[::2])
    assert "is a file, not a run folder" in line


# ---- unwritable outputs: refused before the work starts, nothing made ------------------------------

def output_targets(tmp_path: Path) -> dict[str, str]:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "folder").mkdir()
    (tmp_path / "afile").write_text("x")
    os.symlink("/dev/null", tmp_path / "to_null")
    return {"folder": str(tmp_path / "folder"), "fifo": str(tmp_path / "fifo"), "device": "/dev/full",
            "symlink to a device": str(tmp_path / "to_null"), "trailing slash": str(tmp_path / "new") + "/",
            "missing folder": str(tmp_path / "nowhere" / "x.json"), "under a file": str(tmp_path / "afile" / "x"),
            "read-only file system": "/proc/cars-x.json"}


@pytest.mark.parametrize("kind", ["folder", "fifo", "device", "symlink to a device", "trailing slash",
                                  "missing folder", "under a file", "read-only file system"])
def test_json_target_checked_before_the_run(kind, tmp_path, capsys):
    if kind == "read-only file system" and not sys.platform.startswith("linux"):
        pytest.skip("/proc is Linux's")
    target = output_targets(tmp_path)[kind]
    code, out, err = run_cli(capsys, "evolve", *FAST, "--json", target, "--save-dir", tmp_path / "run")
    line = one_line(code, err)
    assert target.rstrip("/") in line or str(Path(target).parent) in line
    assert "gen " not in out and not (tmp_path / "run").exists()  # refused before any work
    assert Path("/dev/full").is_char_device() and (tmp_path / "fifo").is_fifo()


@pytest.mark.parametrize("kind", ["a file", "a device", "under a file", "read-only file system"])
def test_save_dir_checked_before_the_run(kind, tmp_path, capsys):
    if kind == "read-only file system" and not sys.platform.startswith("linux"):
        pytest.skip("/proc is Linux's")
    (tmp_path / "afile").write_text("x")
    target = {"a file": tmp_path / "afile", "a device": "/dev/null", "under a file": tmp_path / "afile" / "run",
              "read-only file system": "/proc/cars-run"}[kind]
    code, out, err = run_cli(capsys, "evolve", *FAST, "--save-dir", target)
    line = one_line(code, err)
    assert str(target) in line and "gen " not in out
    assert (tmp_path / "afile").read_text() == "x"


def test_disk_full_while_saving_names_the_file_and_keeps_the_last_save(tmp_path, capsys, monkeypatch):
    import engine.atomic as atomic

    calls = {"n": 0}
    real_fsync = os.fsync

    def full_disk(fd):
        calls["n"] += 1
        if calls["n"] > 4:  # the start's files and the first save go through; then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", full_disk)
    run_dir = tmp_path / "run"
    code, out, err = run_cli(capsys, "evolve", *FAST, "--save-dir", run_dir)
    line = one_line(code, err)
    assert "No space left on device" in line and str(run_dir) in line and ".part" not in line
    run_files_are_valid(run_dir)


# ---- values that pass validation but cannot run ------------------------------------------------------

@pytest.mark.parametrize("setting, words", [
    ("evolution.mutation_sigma=1e300", ["mutation_sigma"]),
    ("car.length=1e300", ["car.length"]),
    ("car.turn_rate=1e300", ["car.turn_rate"]),
    ("sensors.length=1e300", ["sensors.length"]),
    ("simulation.dt=1e-300", ["simulation.dt"]),
    ("car.turn_speed=1e-300", ["car.turn_speed"]),
    ("car.max_speed=1e-300", ["car.max_speed"]),
    ("car.width=99", ["car.width", "does not fit"]),
    ("seed=-1", ["seed"]),
    ("evolution.mutation_rate=nan", ["mutation_rate"]),
])
def test_settings_that_cannot_run_are_refused(setting, words, tmp_path, capsys):
    code, out, err = run_cli(capsys, "evolve", *FAST, "--set", setting, "--save-dir", tmp_path / "run")
    line = one_line(code, err)
    assert all(w in line for w in words), line
    assert not (tmp_path / "run").exists()


def test_a_bad_command_line_value_is_blamed_on_the_command_line_not_the_config_file(tmp_path, capsys):
    code, out, err = run_cli(capsys, "evolve", *FAST, "--set", "evolution.mutation_rate=7",
                             "--save-dir", tmp_path / "run")
    line = one_line(code, err)
    assert line.startswith("error: command line (over default.toml): evolution.mutation_rate"), line
    bad_file = tmp_path / "bad.toml"
    bad_file.write_text("[evolution]\nmutation_rate = 7\n")
    code, out, err = run_cli(capsys, "evolve", *FAST, "--config", bad_file, "--save-dir", tmp_path / "run")
    assert one_line(code, err).startswith(f"error: {bad_file}: evolution.mutation_rate")


def test_a_run_too_big_for_memory_is_refused_with_the_estimate(tmp_path, capsys):
    run_dir = tmp_path / "deep" / "run"
    code, out, err = run_cli(capsys, "evolve", *FAST, "--population", "100000", "--set",
                             "brain.hidden=[1024,1024,1024,1024]", "--save-dir", run_dir)
    line = one_line(code, err)
    assert "TiB of memory" in line and "100,000 brains" in line and "available" in line
    assert not (tmp_path / "deep").exists()  # no empty run folder (or parent) left behind


def test_an_allocation_that_fails_anyway_is_one_line_and_leaves_no_folder(tmp_path, capsys, monkeypatch):
    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 5.00 TiB for an array")

    monkeypatch.setattr(GeneticAlgorithm, "__init__", no_memory)
    line = one_line(*run_cli(capsys, "evolve", *FAST, "--save-dir", tmp_path / "a" / "run")[::2])
    assert "out of memory" in line and "5.00 TiB" in line
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize("aggregate", ["mean", "worst"])
def test_non_finite_fitness_stops_with_the_last_finite_state(aggregate, tmp_path, capsys, monkeypatch):
    original = Simulation.fitness
    calls = {"n": 0}

    def diverging(self):
        calls["n"] += 1
        f = original(self)
        return f * np.nan if calls["n"] >= 3 else f  # generation 2 diverges (2 tracks a generation)

    monkeypatch.setattr(Simulation, "fitness", diverging)
    run_dir = tmp_path / "run"
    line = one_line(*run_cli(capsys, "evolve", *FAST, "--generations", "3", "--track", "oval", "--track", "sbends",
                             "--set", f"fitness.aggregate={aggregate}", "--save-dir", run_dir)[::2])
    assert "non-finite" in line and "generation 2" in line
    state = run_files_are_valid(run_dir)
    assert state["generation"] == 1 and np.isfinite(state["best"]["fitness"])
    no_nan_champion(run_dir / "champion.npz")


def test_non_finite_genomes_are_never_saved(tmp_path, capsys, monkeypatch):
    original = GeneticAlgorithm.tell

    def diverging(self, fitness, config):
        stats = original(self, fitness, config)
        self.genomes = np.full_like(self.genomes, np.inf)  # a learner that blew up
        return stats

    monkeypatch.setattr(GeneticAlgorithm, "tell", diverging)
    run_dir = tmp_path / "run"
    line = one_line(*run_cli(capsys, "evolve", *FAST, "--save-dir", run_dir)[::2])
    assert "non-finite" in line and "last finite state" in line
    state = run_files_are_valid(run_dir)
    assert state["generation"] == 0  # the checkpoint written at the start: the last finite state


# ---- Ctrl-C ----------------------------------------------------------------------------------------

def test_ctrl_c_mid_generation_saves_reports_and_resumes(tmp_path, capsys, monkeypatch):
    press_ctrl_c_when(monkeypatch, Simulation, "step", after_calls=60)  # inside generation 2
    run_dir, summary = tmp_path / "run", tmp_path / "s.json"
    code, out, err = run_cli(capsys, "evolve", *FAST, "--save-dir", run_dir, "--json", summary)
    assert code == 130 and "Traceback" not in err
    assert "interrupted during generation 2" in out and "--resume" in out
    assert read_json(summary)["interrupted"] is True and read_json(summary)["generations"] == 1
    assert run_files_are_valid(run_dir)["generation"] == 1
    monkeypatch.undo()
    assert run_cli(capsys, "evolve", "--headless", "--resume", run_dir)[0] == 0


@pytest.mark.parametrize("moment", ["saving", "plotting", "reporting"])
def test_ctrl_c_pressed_several_times_while_wrapping_up(moment, tmp_path, capsys, monkeypatch):
    """The run has finished; Ctrl-C lands (three times) while the files, the plot or the report are being
    written: they are all still written, the command says it was interrupted in one line, exit 130."""
    owner, name = {"saving": (run_module, "write_history"), "plotting": (history_plot, "plot_history"),
                   "reporting": (train_cli, "write_json")}[moment]
    calls_before = {"saving": 2, "plotting": 0, "reporting": 0}[moment]  # the final save, after 2 generations
    press_ctrl_c_when(monkeypatch, owner, name, times=3, after_calls=calls_before)
    run_dir, summary = tmp_path / "run", tmp_path / "s.json"
    code, out, err = run_cli(capsys, "evolve", *FAST, "--save-dir", run_dir, "--json", summary)
    assert code == 130 and "Traceback" not in err
    run_files_are_valid(run_dir)
    report = read_json(summary)
    assert (run_dir / "history.png").is_file() and report["finished"] is True and report["generations"] == 2
    assert report["interrupted"] is (moment != "reporting")  # (the report was complete when Ctrl-C came)


@pytest.mark.parametrize("learner", [["evolve", *FAST],
                                     ["train", "--algo", "ppo", "--headless", "--set", "ppo.envs=4",
                                      "--set", "ppo.rollout_steps=8", "--generations", "1"]], ids=["ga", "ppo"])
def test_ctrl_c_during_the_start_leaves_no_folder(tmp_path, capsys, monkeypatch, learner):
    press_ctrl_c_when(monkeypatch, run_module, "write_checkpoint")  # the start's first checkpoint
    run_dir = tmp_path / "new" / "run"
    line = one_line(*run_cli(capsys, *learner, "--save-dir", run_dir)[::2], expected=130)
    assert "interrupted" in line
    assert not (tmp_path / "new").exists()


def test_ctrl_c_while_loading_the_modules_subprocess():
    """SIGINT while `cars.cli` imports numpy and the project: one line, exit 130 (the import hook sends
    it at the moment the engine package starts loading)."""
    prelude = ("import importlib.abc, os, signal, sys\n"
               "class Hook(importlib.abc.MetaPathFinder):\n"
               "    def find_spec(self, name, path=None, target=None):\n"
               "        if name == 'engine':\n"
               "            os.kill(os.getpid(), signal.SIGINT)\n"
               "        return None\n"
               "sys.meta_path.insert(0, Hook())\n")
    proc = start_cli("tracks", prelude=prelude)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and "interrupted" in err


def test_ctrl_c_twice_in_a_real_run_and_a_second_writer_refused(tmp_path, capsys):
    """A real `cars evolve` in a child process: while it runs, a second writer on its folder is refused
    naming the holder; then two Ctrl-C presses after its first generation line: exit 130, valid files,
    and the folder is free again."""
    run_dir = tmp_path / "run"
    proc = start_cli("evolve", "--headless", "--population", "6", "--generations", "1000", "--set",
                     "simulation.max_steps=40", "--set", "evolution.elitism=1", "--set",
                     "evolution.tournament_size=2", "--save-dir", run_dir)
    seen = wait_for_marker(proc, "gen    1/")
    line = one_line(*run_cli(capsys, "evolve", "--headless", "--resume", run_dir)[::2])
    assert f"in use by process {proc.pid}" in line
    code, out, err = interrupt_after_marker(proc, "gen ", presses=2)
    assert code == 130 and "Traceback" not in err, err
    assert "interrupted during generation" in seen + out
    state = run_files_are_valid(run_dir)
    assert state["generation"] >= 1
    assert run_cli(capsys, "evolve", "--headless", "--resume", run_dir, "--generations",
                   str(state["generation"] + 1))[0] == 0


def test_a_second_writer_in_the_same_process_is_refused(tmp_path, capsys):
    run_dir = tmp_path / "run"
    lock = run_files.RunLock(run_dir)
    run_dir.mkdir()
    lock.acquire()
    try:
        line = one_line(*run_cli(capsys, "evolve", *FAST, "--save-dir", run_dir)[::2])
        assert "in use by process" in line and str(os.getpid()) in line
        assert sorted(p.name for p in run_dir.iterdir()) == [".lock"]  # nothing of the refused run
    finally:
        lock.release()


def test_the_window_mode_says_only_what_it_saved(tmp_path, capsys):
    pytest.importorskip("pygame")
    run_dir = tmp_path / "run"
    code, out, err = run_cli(capsys, "evolve", "--population", "6", "--set", "evolution.elitism=1", "--set",
                             "evolution.tournament_size=2", "--save-dir", run_dir, "--screenshot",
                             tmp_path / "shot.png", "--frames", "3")
    assert code == 0, err
    assert "saved history.csv and checkpoint.npz" in out and "champion" not in out
    assert not (run_dir / "champion.npz").exists()

