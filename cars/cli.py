"""The `cars` command line (also `python -m cars`).

    cars evolve [--config NAME|FILE] [--track T ...] [--generations N] [--population N] [--seed S]
                [--save-dir DIR | --resume DIR] [--headless] [--json PATH] [--set KEY=VALUE ...]
                [--section.key VALUE ...] [--screenshot PATH --frames N]
    cars drive --champion FILE --track T [--laps N] [--headless] [--json PATH] [--screenshot PATH --frames N]
    cars tracks [--generate SEED --out FILE]
    cars edit [FILE] [--screenshot PATH --frames N]

Every error prints one line and exits with status 2; Ctrl-C during evolve saves and exits with 130.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from engine import ModelFileError

from cars.config import ConfigError, load_config
from cars.track import TrackError, load_track, save_track, shipped_track_names

EXIT_ERROR, EXIT_INTERRUPTED = 2, 130


class UsageError(Exception):
    """Bad command-line usage; reported as one line."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + message
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> Parser:
    parser = Parser(prog="cars", description="Cars that learn to drive: a population of small neural networks "
                                             "evolved by a genetic algorithm.")
    sub = parser.add_subparsers(dest="command", parser_class=Parser, metavar="{evolve,drive,tracks,edit}")
    sub.required = True

    ev = sub.add_parser("evolve", help="evolve a population of drivers",
                        description="Evolve drivers. Any config field can be set with --set section.key=value "
                                    "or --section.key value (e.g. --evolution.mutation_rate 0.05).")
    ev.add_argument("--config", default="default", metavar="NAME|FILE",
                    help="shipped config name (default, generalist) or a TOML file (default: default)")
    ev.add_argument("--track", action="append", metavar="PATH_OR_NAME",
                    help="train on this track (repeat for several; replaces track.names)")
    ev.add_argument("--generations", type=int, metavar="N")
    ev.add_argument("--population", type=int, metavar="N")
    ev.add_argument("--seed", type=int, metavar="S")
    ev.add_argument("--save-dir", metavar="DIR", help="run folder (default: runs/cars-<date>-<time>)")
    ev.add_argument("--resume", metavar="DIR", help="continue the run in DIR where it stopped")
    ev.add_argument("--headless", action="store_true", help="no window: print one line per generation")
    ev.add_argument("--json", metavar="PATH", help="write a JSON summary of the run here")
    ev.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    add_window_flags(ev)

    dr = sub.add_parser("drive", help="drive one champion alone on a track")
    dr.add_argument("--champion", required=True, metavar="FILE", help="champion.npz written by cars evolve")
    dr.add_argument("--track", required=True, metavar="PATH_OR_NAME")
    dr.add_argument("--laps", type=int, default=1, metavar="N")
    dr.add_argument("--headless", action="store_true", help="no window: drive and print the result")
    dr.add_argument("--json", metavar="PATH", help="write the result as JSON here")
    add_window_flags(dr)

    tr = sub.add_parser("tracks", help="list the shipped tracks, or write a procedurally generated one")
    tr.add_argument("--generate", type=int, metavar="SEED", help="generate a track from this seed")
    tr.add_argument("--out", metavar="FILE", help="where --generate writes the track JSON")

    ed = sub.add_parser("edit", help="open the track editor")
    ed.add_argument("file", nargs="?", help="track JSON to edit (new track if omitted)")
    add_window_flags(ed)
    return parser


def add_window_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--screenshot", metavar="PATH", help="save a PNG of the window before closing")
    parser.add_argument("--frames", type=int, metavar="N", help="close the window after N frames")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if not argv:
            raise UsageError("cars: a command is required: evolve, drive, tracks or edit (see cars --help)")
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        if extra and args.command != "evolve":
            raise UsageError(f"cars {args.command}: unrecognized arguments: {' '.join(extra)}")
        if args.command == "evolve":
            return cmd_evolve(args, field_overrides(extra))
        if args.command == "drive":
            return cmd_drive(args)
        if args.command == "tracks":
            return cmd_tracks(args)
        return cmd_edit(args)
    except (UsageError, ConfigError, TrackError, ModelFileError, WindowMissing) as e:
        return fail(str(e))
    except OSError as e:
        return fail(f"{getattr(e, 'filename', None) or 'file'}: {e.strerror or e}")
    except ValueError as e:  # RunError and other bad input
        return fail(str(e))


def fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_ERROR


def field_overrides(extra: list[str]) -> dict[str, str]:
    """--section.key VALUE / --section.key=VALUE arguments -> {"section.key": "VALUE"}."""
    out: dict[str, str] = {}
    i = 0
    while i < len(extra):
        arg = extra[i]
        if not arg.startswith("--") or len(arg) < 3:
            raise UsageError(f"cars evolve: unrecognized argument {arg!r} (see cars evolve --help)")
        key, eq, value = arg[2:].partition("=")
        if not eq:
            if i + 1 >= len(extra):
                raise UsageError(f"cars evolve: {arg} needs a value")
            value, i = extra[i + 1], i + 1
        if "." not in key and key != "seed":
            raise UsageError(f"cars evolve: unrecognized argument {arg!r} (config fields look like --section.key)")
        out[key.replace("-", "_")] = value
        i += 1
    return out


# ---- evolve ---------------------------------------------------------------------------------------

def check_json_path(path: str | None) -> None:
    """Fail before the work starts if the --json file could not be written afterwards."""
    if path and not Path(path).resolve().parent.is_dir():
        raise UsageError(f"{path}: folder {Path(path).parent} does not exist")


def cmd_evolve(args: argparse.Namespace, extra: dict[str, str]) -> int:
    from cars.evolution_run import EvolutionRun
    from cars.run_files import load_run_config

    check_json_path(args.json)

    overrides: dict[str, str] = {}
    for item in args.set:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise UsageError(f"cars evolve: --set needs KEY=VALUE, got {item!r}")
        overrides[key.strip()] = value
    overrides.update(extra)
    if args.track:
        overrides["track.names"] = json.dumps(args.track)
    for flag, key in (("population", "evolution.population"), ("seed", "seed")):
        if getattr(args, flag) is not None:
            overrides[key] = str(getattr(args, flag))
    if args.generations is not None:
        overrides["evolution.generations"] = str(args.generations)

    if args.resume:
        changed = sorted(set(overrides) - {"evolution.generations"})
        if changed or args.config != "default" or args.save_dir:
            raise UsageError("cars evolve: --resume continues a run with its own config.toml; only --generations "
                             f"may change (got {', '.join(changed) or '--config/--save-dir'})")
        config = load_run_config(args.resume)
        if overrides:
            from cars.config import apply_overrides
            config = apply_overrides(config, overrides)
        save_dir = Path(args.resume)
    else:
        config = load_config(args.config, overrides)
        save_dir = Path(args.save_dir or time.strftime("runs/cars-%Y%m%d-%H%M%S"))

    window = None if args.headless else window_entry("cars.window_evolve", "run_evolve_window", "cars evolve")
    if window is not None:  # before the run folder is made: no display must leave nothing behind
        window_entry("cars.window_common", "ensure_display", "cars evolve")(
            must_be_visible=args.screenshot is None and args.frames is None)
    run = EvolutionRun(config, save_dir, resume=bool(args.resume), log=print)
    if not args.resume:
        print(f"run folder {save_dir}: config.toml, seed {config.seed}; population {config.evolution.population}, "
              f"tracks {', '.join(t.name for t in run.tracks)}")
    started = time.perf_counter()
    try:
        if window is not None:
            window(run, screenshot=args.screenshot, frames=args.frames)
        else:
            while not run.finished:
                run.run_generation()
    except KeyboardInterrupt:
        run.save()
        print(f"\ninterrupted: saved champion, history.csv ({len(run.history)} generations) and the checkpoint "
              f"of generation {run.generation} in {save_dir}; continue with: cars evolve --resume {save_dir}")
        write_plot(run)
        return EXIT_INTERRUPTED
    run.save()
    write_plot(run)
    if not run.finished:
        print(f"stopped during generation {run.generation + 1}: saved history.csv ({len(run.history)} generations), "
              f"the champion and the checkpoint in {save_dir}; continue with: cars evolve --resume {save_dir}")
    return report_run(run, save_dir, time.perf_counter() - started, args.json)


def report_run(run: Any, save_dir: Path, seconds: float, json_path: str | None) -> int:
    history = run.history
    steps = sum(r["car_steps"] for r in history)
    busy = sum(r["seconds"] for r in history)
    best = max(history, key=lambda r: r["best_fitness"]) if history else None
    first = run.first_lap_generation
    champion = save_dir / "champion.npz"
    if best is not None:
        lap = f"first full lap in generation {first + 1}" if first is not None else "no full lap yet"
        print(f"done: {len(history)} generations in {seconds:.1f}s, best fitness {best['best_fitness']:.3f} "
              f"(generation {best['generation'] + 1}), {lap}, {steps / max(busy, 1e-9):,.0f} car-steps/s; "
              f"champion {champion}")
    if json_path:
        summary = {
            "generations": len(history),
            "first_lap_generation": None if first is None else first + 1,
            "best_fitness": run.best_fitness if history else None,
            "car_steps_per_second": steps / max(busy, 1e-9),
            "champion": str(champion) if history else None,
            "save_dir": str(save_dir),
        }
        write_json(json_path, summary)
    return 0


def write_plot(run: Any) -> None:
    """history.png next to history.csv (best/mean/median fitness per generation); best effort."""
    if not run.history:
        return
    try:
        from cars.history_plot import plot_history
        plot_history(run.history, run.save_dir / "history.png")
    except Exception as e:  # a plot must never lose a finished run
        print(f"note: history.png not written ({e})")


def write_json(path: str, data: dict[str, Any]) -> None:
    from engine.atomic import write_bytes_atomic as atomic_write

    check_json_path(path)
    atomic_write(Path(path), (json.dumps(data, indent=2) + "\n").encode())


# ---- drive / tracks / edit ------------------------------------------------------------------------

def cmd_drive(args: argparse.Namespace) -> int:
    from cars.drive import drive, load_champion

    if args.laps < 1:
        raise UsageError(f"cars drive: --laps must be >= 1, got {args.laps}")
    check_json_path(args.json)
    track = load_track(args.track)
    load_champion(args.champion)  # fail early with the file's own message
    if args.headless:
        result = drive(args.champion, track, laps=args.laps)
        laps = ", ".join(str(k) for k in result["lap_steps"]) or "none"
        print(f"{result['track']}: {result['completed_laps']}/{args.laps} laps, progress "
              f"{result['progress_laps']:.3f} laps, {result['status']} after {result['steps']} steps "
              f"({result['seconds']:.1f}s); lap steps: {laps}")
    else:
        window = window_entry("cars.window_drive", "run_drive_window", "cars drive")
        result = window(args.champion, track, laps=args.laps, screenshot=args.screenshot, frames=args.frames)
    if args.json:
        write_json(args.json, result if isinstance(result, dict) else {"result": result})
    return 0


def cmd_tracks(args: argparse.Namespace) -> int:
    if args.generate is None:
        if args.out:
            raise UsageError("cars tracks: --out needs --generate SEED")
        for name in shipped_track_names():
            t = load_track(name)
            print(f"{name:<12} {t.name:<14} width {t.width:5.0f}  length {t.length:6.0f}  points {len(t.centerline)}")
        return 0
    if not args.out:
        raise UsageError("cars tracks: --generate needs --out FILE")
    from cars.trackgen import generate_track

    out = Path(args.out)
    if not out.parent.exists():
        raise UsageError(f"{out}: folder {out.parent} does not exist")
    track = generate_track(args.generate)
    save_track(track, out)
    print(f"wrote {out}: {track.name}, width {track.width:g}, length {track.length:.0f}")
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    editor = window_entry("cars.editor", "run_editor", "cars edit")
    editor(args.file, screenshot=args.screenshot, frames=args.frames)
    return 0


class WindowMissing(Exception):
    pass


def window_entry(module: str, function: str, command: str) -> Any:
    """The window function, imported only when a window is wanted (the core never needs pygame)."""
    if importlib.util.find_spec(module) is None:
        raise WindowMissing(f"{command}: the window is not built yet ({module} is missing); use --headless")
    try:
        entry = getattr(importlib.import_module(module), function, None)
    except ImportError as e:
        raise WindowMissing(f"{command}: the window cannot start ({e}); install pygame-ce or use --headless") from None
    if entry is None:
        raise WindowMissing(f"{command}: the window is not built yet ({module}.{function} is missing); use --headless")
    return entry
