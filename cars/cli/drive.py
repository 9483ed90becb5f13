"""`cars drive`: one champion alone on a track, headless (with progress) or in the window.

Long drives show progress: a line per completed lap, and a line every PROGRESS_SECONDS while no lap
completes. Ctrl-C stops the drive; the result so far is printed and written to --json (marked
"interrupted": true), and the command exits with status 130.
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable

from cars.cli import UsageError, check_json_path, interrupt, window_function, write_json
from cars.learn.config import setting_rules
from cars.learn.drive import drive_simulation, load_champion, summary
from cars.learn.preflight import check_drive_fits
from cars.sim.settings import check_value
from cars.sim.simulation import Simulation
from cars.sim.track import load_track

PROGRESS_SECONDS = 5.0
CHECK_EVERY = 64  # steps between looks at the lap counter and the clock


def cmd_drive(args: argparse.Namespace) -> int:
    check_laps(args.laps)
    check_json_path(args.json)
    track = load_track(args.track)
    _, config, _ = load_champion(args.champion)  # fail early with the file's own message
    check_drive_fits(config, track, str(args.champion))
    interrupted = False
    if args.headless:
        sim = drive_simulation(args.champion, track, laps=args.laps)
        try:  # from the first line on (it is the marker people and tests wait for), Ctrl-C keeps the result
            print(f"driving {args.champion} on {track.name}: up to {args.laps} laps, at most {sim.max_steps:,} "
                  f"steps", flush=True)
            drive_with_progress(sim, args.laps, print)
        except KeyboardInterrupt:
            interrupted = True
        with interrupt.deferred():
            result = summary(sim)
            print_result(result, args.laps, interrupted)
    else:
        window = window_function("cars.ui.drive_window", "run_drive_window", "cars drive")
        result = window(args.champion, track, laps=args.laps, screenshot=args.screenshot, frames=args.frames)
    with interrupt.deferred():
        if args.json:
            write_json(args.json, {**result, "interrupted": interrupted or interrupt.pressed()})
    if interrupted or interrupt.pressed():
        return interrupt.report(f"cars drive: interrupted after {result['steps']:,} steps"
                                + (f"; the result so far is in {args.json}" if args.json else ""))
    return 0


def check_laps(laps: int) -> None:
    """--laps follows the rule of simulation.max_laps (one source of truth for how many laps a car may drive)."""
    try:
        check_value(laps, setting_rules("simulation.max_laps"), "--laps", "cars drive")
    except ValueError as e:
        raise UsageError(str(e)) from None


def drive_with_progress(sim: Simulation, laps: int, say: Callable[[str], Any]) -> None:
    """Step the one-car simulation until it stops, saying each completed lap (when more than one was
    asked for) and, while no lap completes, how far it got every PROGRESS_SECONDS."""
    started = last_said = time.perf_counter()
    done_laps = 0
    while not sim.done:
        for _ in range(CHECK_EVERY):
            sim.step()
            if sim.done:
                break
        now = time.perf_counter()
        completed = int(sim.laps[0])
        if completed > done_laps and laps > 1:
            done_laps = completed
            say(f"lap {completed}/{laps} after {sim.steps:,} steps ({now - started:.1f}s)")
            last_said = now
        elif now - last_said >= PROGRESS_SECONDS:
            say(f"step {sim.steps:,}/{sim.max_steps:,}: {float(sim.progress[0]):.2f} laps of progress "
                f"({now - started:.0f}s)")
            last_said = now


def print_result(result: dict[str, Any], laps: int, interrupted: bool) -> None:
    lap_steps = ", ".join(str(k) for k in result["lap_steps"]) or "none"
    status = "interrupted" if interrupted else result["status"]
    print(f"{result['track']}: {result['completed_laps']}/{laps} laps, progress {result['progress_laps']:.3f} laps, "
          f"{status} after {result['steps']} steps ({result['seconds']:.1f}s); lap steps: {lap_steps}")
