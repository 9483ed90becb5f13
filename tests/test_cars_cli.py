"""The `cars` command line end to end: evolve headless writing its files, drive the champion, tracks,
and every error path printing one line with exit status 2."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cars import cli
from cars.learn.run import EvolutionRun
from cars.sim.track import load_track

FAST = ["--population", "16", "--generations", "2", "--set", "simulation.max_steps=200", "--set", "evolution.elitism=2"]


def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(code, err):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_evolve_headless_then_drive_the_champion(tmp_path, capsys):
    run_dir, summary = tmp_path / "run", tmp_path / "summary.json"
    code, out, _ = run_cli(capsys, "evolve", "--headless", "--save-dir", str(run_dir), "--json", str(summary),
                           "--track", "kidney", "--seed", "3", *FAST)
    assert code == 0
    gen_lines = [line for line in out.splitlines() if line.startswith("gen ")]
    assert len(gen_lines) == 2
    for word in ("best", "mean", "laps", "alive", "car-steps/s", "ETA"):
        assert word in gen_lines[0]
    assert "done:" in out
    for name in ("config.toml", "seed.txt", "history.csv", "champion.npz", "checkpoint.npz", "history.png"):
        assert (run_dir / name).is_file(), name
    data = json.loads(summary.read_text())
    assert set(data) >= {"generations", "first_lap_generation", "best_fitness", "car_steps_per_second", "champion"}
    assert data["generations"] == 2 and Path(data["champion"]) == run_dir / "champion.npz"
    assert "seed = 3" in (run_dir / "config.toml").read_text()

    result = tmp_path / "drive.json"
    code, out, _ = run_cli(capsys, "drive", "--champion", str(run_dir / "champion.npz"), "--track", "oval",
                           "--laps", "2", "--headless", "--json", str(result))
    assert code == 0 and "Oval" in out
    drive = json.loads(result.read_text())
    assert set(drive) >= {"completed_laps", "progress_laps", "crashed", "steps", "lap_steps"}
    assert 0 <= drive["completed_laps"] <= 2 and len(drive["lap_steps"]) == drive["completed_laps"]
    assert drive["steps"] > 0


def test_generic_field_flags_and_resume(tmp_path, capsys):
    run_dir = tmp_path / "run"
    code, _, _ = run_cli(capsys, "evolve", "--headless", "--save-dir", str(run_dir), "--evolution.mutation_rate",
                         "0.2", "--sensors.rays=5", *FAST)
    assert code == 0
    text = (run_dir / "config.toml").read_text()
    assert "mutation_rate = 0.2" in text and "rays = 5" in text
    code, out, _ = run_cli(capsys, "evolve", "--headless", "--resume", str(run_dir), "--generations", "3")
    assert code == 0 and "resumed" in out
    assert len((run_dir / "history.csv").read_text().strip().splitlines()) == 1 + 3


def test_ctrl_c_saves_and_exits_130(tmp_path, capsys, monkeypatch):
    original = EvolutionRun.run_generation
    calls = {"n": 0}

    def interrupted(self):
        calls["n"] += 1
        if calls["n"] == 2:
            self.step(20)
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(EvolutionRun, "run_generation", interrupted)
    run_dir = tmp_path / "run"
    code, out, _ = run_cli(capsys, "evolve", "--headless", "--save-dir", str(run_dir), *FAST)
    assert code == 130
    assert "interrupted" in out and "--resume" in out
    assert (run_dir / "champion.npz").is_file() and (run_dir / "checkpoint.npz").is_file()
    assert len((run_dir / "history.csv").read_text().strip().splitlines()) == 2


def test_tracks_list_and_generate(tmp_path, capsys):
    code, out, _ = run_cli(capsys, "tracks")
    assert code == 0 and "oval" in out
    target = tmp_path / "gen.json"
    code, out, _ = run_cli(capsys, "tracks", "--generate", "11", "--out", str(target))
    assert code == 0 and load_track(target).name == "Generated 11"


@pytest.mark.parametrize("argv, words", [
    (["evolve", "--headless", "--population", "0"], ["evolution.population"]),
    (["evolve", "--headless", "--set", "evolution.mutation_rate=1.5"], ["mutation_rate"]),
    (["evolve", "--headless", "--set", "evolution.mutation_sigma=-1"], ["mutation_sigma"]),
    (["evolve", "--headless", "--set", "sensors.rays=0"], ["sensors.rays"]),
    (["evolve", "--headless", "--set", "evolution.colour=red"], ["unknown key"]),
    (["evolve", "--headless", "--set", "nonsense"], ["KEY=VALUE"]),
    (["evolve", "--headless", "--config", "nope"], ["nope"]),
    (["evolve", "--headless", "--track", "nowhere"], ["nowhere"]),
    (["evolve", "--headless", "--resume", "/nonexistent/run"], ["/nonexistent/run"]),
    (["evolve", "--headless", "--bogus"], ["--bogus"]),
    (["evolve", "--population", "ten"], ["ten"]),
    (["drive", "--champion", "/nonexistent.npz", "--track", "oval", "--headless"], ["/nonexistent.npz"]),
    (["drive", "--track", "oval"], ["--champion"]),
    (["tracks", "--generate", "3"], ["--out"]),
    (["evolve", "--headless", "--json", "/nonexistent/dir/x.json"], ["/nonexistent/dir"]),
    (["drive", "--champion", "c.npz", "--track", "oval", "--laps", "0", "--headless"], ["--laps"]),
    (["fly"], ["fly"]),
    ([], ["command"]),
])
def test_errors_print_one_line_and_exit_2(argv, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, *argv)
    line = one_error_line(code, err)
    for word in words:
        assert word in line
    assert not (tmp_path / "runs").exists()  # a failed start leaves no run folder behind


def test_drive_rejects_files_that_are_not_champions(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    line = one_error_line(*run_cli(capsys, "drive", "--champion", str(bad), "--track", "oval", "--headless")[::2])
    assert "bad.npz" in line


def test_missing_pygame_is_reported_in_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "pygame", None)  # as if pygame-ce were not installed
    for name in [m for m in sys.modules if m.startswith("cars.ui")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.chdir(tmp_path)
    line = one_error_line(*run_cli(capsys, "evolve", *FAST)[::2])
    assert "window cannot start" in line and "--headless" in line
    assert not (tmp_path / "runs").exists()  # nothing was started


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the DISPLAY check is for Linux desktops")
def test_no_display_is_reported_in_one_line_before_anything_is_written(monkeypatch, capsys, tmp_path):
    for name in ("SDL_VIDEODRIVER", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    line = one_error_line(*run_cli(capsys, "evolve", *FAST)[::2])
    assert "no display" in line and "--headless" in line
    assert not (tmp_path / "runs").exists()


def test_sdl_falling_back_to_an_invisible_driver_is_refused(monkeypatch, capsys, tmp_path):
    pygame = pytest.importorskip("pygame")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    monkeypatch.setattr(pygame.display, "get_driver", lambda: "offscreen")  # what SDL picks with no display
    monkeypatch.chdir(tmp_path)
    line = one_error_line(*run_cli(capsys, "evolve", *FAST)[::2])
    assert "'offscreen' driver" in line
    assert not (tmp_path / "runs").exists()
    # rendering frames for a screenshot needs no visible window
    code, _, err = run_cli(capsys, "evolve", *FAST, "--screenshot", str(tmp_path / "shot.png"), "--frames", "2")
    assert code == 0, err
    assert (tmp_path / "shot.png").stat().st_size > 1000


def test_python_dash_m_cars_runs():
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    proc = subprocess.run([sys.executable, "-m", "cars", "tracks"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0 and "oval" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "cars", "evolve", "--headless", "--population", "0"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
