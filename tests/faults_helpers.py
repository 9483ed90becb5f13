"""Helpers for the fault-injection tests of the `cars` command line (tests/test_faults_cars_*.py).

Each test (each parametrised case) of those modules tries one hostile input or moment, so the number
of hostile cases is the number of tests they collect.
Signals never wait for time: in-process, `press_ctrl_c_when` sends SIGINT from inside the function that
is running at the moment wanted; across processes, `interrupt_after_marker` sends it once a line of the
child's output says it got there.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from cars import cli

ROOT = Path(__file__).resolve().parent.parent
FAST = ["--headless", "--population", "6", "--generations", "2", "--set", "simulation.max_steps=40",
        "--set", "evolution.elitism=1", "--set", "evolution.tournament_size=2"]

def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(code: int, err: str, expected: int = 2) -> str:
    """The one line a failed (2) or interrupted (130) command prints on stderr; no traceback."""
    assert code == expected, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def press_ctrl_c_when(monkeypatch, owner: Any, name: str, *, times: int = 1, after_calls: int = 0,
                      before: bool = True) -> dict[str, int]:
    """Make `owner.name` press Ctrl-C (SIGINT to this process) `times` times on its call number
    `after_calls + 1`, before (or after) doing its work. Returns the call counter."""
    original = getattr(owner, name)
    calls = {"n": 0}

    def pressing(*args, **kwargs):
        calls["n"] += 1
        now = calls["n"] == after_calls + 1
        if now and before:
            for _ in range(times):
                signal.raise_signal(signal.SIGINT)
        result = original(*args, **kwargs)
        if now and not before:
            for _ in range(times):
                signal.raise_signal(signal.SIGINT)
        return result

    monkeypatch.setattr(owner, name, pressing)
    return calls


def child_env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), SDL_VIDEODRIVER="dummy", PYTHONUNBUFFERED="1")
    return env


def start_cli(*argv: str, cwd: Path | None = None, prelude: str = "") -> subprocess.Popen:
    """`python -c "<prelude>; from cars.cli import main; main()"` with the given arguments, output piped."""
    code = f"{prelude}\nimport sys\nfrom cars.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.Popen([sys.executable, "-c", code, *map(str, argv)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=child_env(), cwd=cwd)


def wait_for_marker(proc: subprocess.Popen, marker: str, timeout: float = 60) -> str:
    """Read the child's stdout until a line contains `marker`; the output so far. (The timeout only
    guards against a hang: the test never depends on how long anything takes.)"""
    seen = []
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    while True:
        if not selector.select(timeout):
            proc.kill()
            raise AssertionError(f"no {marker!r} line within {timeout}s; output: {''.join(seen)}")
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"the command ended before printing {marker!r}: {''.join(seen)} "
                                 f"{proc.stderr.read()}")
        seen.append(line)
        if marker in line:
            return "".join(seen)


def interrupt_after_marker(proc: subprocess.Popen, marker: str, presses: int = 1) -> tuple[int, str, str]:
    """Send SIGINT `presses` times once `marker` appeared; (exit status, stdout, stderr)."""
    before = wait_for_marker(proc, marker)
    for _ in range(presses):
        proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, before + out, err


def no_nan_champion(path: Path) -> dict:
    """The champion loads as a cars champion with finite weights; its metadata."""
    from cars.learn.drive import load_champion

    model, _, meta = load_champion(path)
    assert all(np.all(np.isfinite(p.data)) for p in model.parameters())
    return meta


def run_files_are_valid(run_dir: Path) -> dict:
    """Every file of the run folder reads back: checkpoint (all checks), config, champion if any,
    history.csv with one row per generation of the checkpoint. Returns the checkpoint state."""
    from cars.learn.run_files import load_run_config, read_checkpoint

    load_run_config(run_dir)
    _, state = read_checkpoint(run_dir / "checkpoint.npz")
    if (run_dir / "champion.npz").exists():
        no_nan_champion(run_dir / "champion.npz")
    if (run_dir / "history.csv").exists():
        rows = (run_dir / "history.csv").read_text().strip().splitlines()[1:]
        assert len(rows) >= len(state["history"])
    assert not [p.name for p in run_dir.iterdir() if p.name.endswith(".part")]  # no temp file left
    return state


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def make_parked_champion(path: Path, *, max_steps: int = 1_000_000) -> Path:
    """A champion that brakes at the start and never stalls (stall_distance 0): a drive of it lasts
    max_steps per lap, long enough to be interrupted at any moment."""
    import engine
    from cars.learn.brain import build_brain
    from cars.learn.config import load_config
    from cars.learn.run_files import CHAMPION_KIND

    config = load_config("default", {"simulation.stall_distance": 0, "simulation.max_steps": max_steps})
    model = build_brain(config.brain, config.sensors.rays + 1)
    for p in model.parameters():
        p.data[...] = 0
    model.parameters()[-1].data[...] = [0.0, -5.0]  # steering 0, throttle tanh(-5): full brake
    engine.save(model, path, metadata={"kind": CHAMPION_KIND, "config": config.to_dict()})
    return path
