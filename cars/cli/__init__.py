"""The `cars` command line (also `python -m cars`).

    cars train --algo ga [--config NAME|FILE] [--track T ...] [--generations N] [--population N] [--seed S]
               [--car-steps N] [--save-dir DIR | --resume DIR] [--headless] [--json PATH]
               [--set KEY=VALUE ...] [--section.key VALUE ...] [--screenshot PATH --frames N]
    cars evolve ...      the same as `cars train --algo ga`  (--backend ray [--address A]: generations in shards)
    cars sweep --set KEY=V1,V2,... [--seeds N] [--out DIR] [--backend local|ray [--address A]] [--workers N] ...
    cars drive --champion FILE --track T [--laps N] [--headless] [--json PATH] [--screenshot PATH --frames N]
    cars tracks [--generate SEED --out FILE]
    cars edit [FILE] [--screenshot PATH --frames N]

Every error prints one line and exits with status 2; Ctrl-C anywhere prints one line and exits with 130,
after saving what a run or a drive has done (cars.cli.interrupt handles every Ctrl-C).
"""

from __future__ import annotations

from cars.cli import interrupt
from cars.cli.interrupt import EXIT_INTERRUPTED

with interrupt.loading():  # Ctrl-C while numpy and the project load: one line, exit 130
    import argparse
    import json
    import sys
    import time
    from pathlib import Path
    from typing import Any, Sequence

    from engine import ModelFileError

    from cars.learn.config import LEARNER_SECTIONS, SECTIONS, ConfigError, load_config
    from cars.sim.track import TrackError, load_track, save_track, shipped_track_names

EXIT_ERROR = 2


class UsageError(Exception):
    """Bad command-line usage; reported as one line."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + message
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> Parser:
    parser = Parser(prog="cars", description="Cars that learn to drive: small neural networks trained by a "
                                             "genetic algorithm (and more learners) on 2D tracks.")
    sub = parser.add_subparsers(dest="command", parser_class=Parser, metavar="{train,evolve,sweep,drive,tracks,edit}")
    sub.required = True

    tr = sub.add_parser("train", help="train drivers with a learner (--algo)",
                        description="Train drivers. Any setting can be changed with --set section.key=value or "
                                    "--section.key value (e.g. --evolution.mutation_rate 0.05).")
    tr.add_argument("--algo", choices=sorted(LEARNER_SECTIONS), default=None,
                    help="the learner (default: the config's, else ga)")
    add_run_flags(tr)
    ev = sub.add_parser("evolve", help="evolve drivers with the genetic algorithm (cars train --algo ga)",
                        description="Evolve drivers with the genetic algorithm. Any setting can be changed with "
                                    "--set section.key=value or --section.key value.")
    add_run_flags(ev)
    from cars.cli.sweep import add_backend_flags, add_sweep_parser  # cars sweep; --backend ray for train/evolve
    for run_parser in (tr, ev):
        add_backend_flags(run_parser, sweep=False)
    add_sweep_parser(sub)

    dr = sub.add_parser("drive", help="drive one champion alone on a track")
    dr.add_argument("--champion", required=True, metavar="FILE", help="champion.npz written by a run")
    dr.add_argument("--track", required=True, metavar="PATH_OR_NAME")
    dr.add_argument("--laps", type=int, default=1, metavar="N")
    dr.add_argument("--headless", action="store_true", help="no window: drive and print the result")
    dr.add_argument("--json", metavar="PATH", help="write the result as JSON here")
    add_window_flags(dr)

    tk = sub.add_parser("tracks", help="list the shipped tracks, or write a procedurally generated one")
    tk.add_argument("--generate", type=int, metavar="SEED", help="generate a track from this seed")
    tk.add_argument("--out", metavar="FILE", help="where --generate writes the track JSON")

    ed = sub.add_parser("edit", help="open the track editor")
    ed.add_argument("file", nargs="?", help="track JSON to edit (new track if omitted)")
    add_window_flags(ed)
    return parser


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None, metavar="NAME|FILE",
                        help="shipped config name (default, generalist, ...) or a TOML file (default: the "
                             "learner's shipped config)")
    parser.add_argument("--track", action="append", metavar="PATH_OR_NAME",
                        help="train on this track (repeat for several; replaces track.names)")
    parser.add_argument("--generations", type=int, metavar="N", help="generations (or updates) to run")
    parser.add_argument("--population", type=int, metavar="N")
    parser.add_argument("--seed", type=int, metavar="S")
    parser.add_argument("--car-steps", type=int, metavar="N", help="stop after this many car-steps")
    parser.add_argument("--save-dir", metavar="DIR", help="run folder (default: runs/cars-<date>-<time>)")
    parser.add_argument("--resume", metavar="DIR", help="continue the run in DIR where it stopped")
    parser.add_argument("--headless", action="store_true", help="no window: print one line per generation")
    parser.add_argument("--json", metavar="PATH", help="write a JSON summary of the run here")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="change a setting")
    add_window_flags(parser)


def add_window_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--screenshot", metavar="PATH", help="save a PNG of the window before closing")
    parser.add_argument("--frames", type=int, metavar="N", help="close the window after N frames")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    with interrupt.handling():
        try:
            return run_command(argv)
        except KeyboardInterrupt:
            return interrupt.report(f"cars {argv[0]}: interrupted" if argv else "cars: interrupted")
        except MemoryError as e:  # what the memory estimate did not foresee
            return fail(f"out of memory ({str(e).strip() or 'an allocation failed'}); try a smaller population, "
                        f"brain or track")


def run_command(argv: list[str]) -> int:
    try:
        if not argv:
            raise UsageError("cars: a command is required: train, evolve, sweep, drive, tracks or edit (see cars --help)")
        args, extra = build_parser().parse_known_args(argv)
        if extra and args.command not in ("train", "evolve", "sweep"):
            raise UsageError(f"cars {args.command}: unrecognized arguments: {' '.join(extra)}")
        if args.command in ("train", "evolve"):
            from cars.cli.train import cmd_train
            return cmd_train(args, setting_overrides(args, extra))
        if args.command == "sweep":
            from cars.cli.sweep import cmd_sweep
            return cmd_sweep(args, extra)
        if args.command == "drive":
            from cars.cli.drive import cmd_drive
            return cmd_drive(args)
        if args.command == "tracks":
            return cmd_tracks(args)
        return cmd_edit(args)
    except (UsageError, ConfigError, TrackError, ModelFileError) as e:
        return fail(str(e))
    except OSError as e:
        return fail(f"{getattr(e, 'filename', None) or 'file'}: {e.strerror or e}")
    except ValueError as e:  # RunError, WindowError and other bad input
        return fail(str(e))


def fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_ERROR


def setting_overrides(args: argparse.Namespace, extra: list[str]) -> dict[str, Any]:
    """Every setting the command line changes, as {"section.key": value}: typed values from the typed
    flags, strings (parsed as TOML values by the config) from --set and --section.key."""
    overrides: dict[str, Any] = {}
    for item in args.set:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise UsageError(f"cars {args.command}: --set needs KEY=VALUE, got {item!r}")
        overrides[key.strip()] = value
    overrides.update(field_flags(extra, args.command))
    if args.track:
        overrides["track.names"] = list(args.track)
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.car_steps is not None:
        overrides["algorithm.car_steps"] = args.car_steps
    algo = "ga" if args.command == "evolve" else args.algo
    if algo is not None:
        overrides["algorithm.name"] = algo
    return overrides


def field_flags(extra: list[str], command: str) -> dict[str, str]:
    """--section.key VALUE / --section.key=VALUE arguments -> {"section.key": "VALUE"}."""
    out: dict[str, str] = {}
    i = 0
    while i < len(extra):
        arg = extra[i]
        if not arg.startswith("--") or len(arg) < 3:
            raise UsageError(f"cars {command}: unrecognized argument {arg!r} (see cars {command} --help)")
        key, eq, value = arg[2:].partition("=")
        if not eq:
            if i + 1 >= len(extra):
                raise UsageError(f"cars {command}: {arg} needs a value")
            value, i = extra[i + 1], i + 1
        if key.partition(".")[0] not in SECTIONS and key != "seed":
            raise UsageError(f"cars {command}: unrecognized argument {arg!r} (settings look like --section.key)")
        out[key.replace("-", "_")] = value
        i += 1
    return out


def write_json(path: str, data: dict[str, Any]) -> None:
    from engine.atomic import write_bytes_atomic

    write_bytes_atomic(Path(path), (json.dumps(data, indent=2) + "\n").encode())


def check_json_path(path: str | None, flag: str = "--json") -> None:
    """Fail before the work starts if an output file (--json, --out) could not be written afterwards:
    a folder, FIFO or device in its place, a missing or unwritable folder (engine.atomic.ensure_writable)."""
    from engine.atomic import ensure_writable

    if path is None:
        return
    if not path.strip():
        raise UsageError(f"{flag} needs a file name, got an empty one")
    if not Path(path).parent.is_dir():
        raise UsageError(f"{path}: folder {Path(path).parent} does not exist ({flag})")
    ensure_writable(path)


def window_function(module: str, function: str, command: str) -> Any:
    """A window entry point of cars.ui, imported only when a window is wanted (the core never needs pygame)."""
    import importlib

    try:
        return getattr(importlib.import_module(module), function)
    except ImportError as e:
        raise UsageError(f"{command}: the window cannot start ({e}); install pygame-ce or use --headless") from None


# ---- drive / tracks / edit ------------------------------------------------------------------------

def cmd_tracks(args: argparse.Namespace) -> int:
    if args.generate is None:
        if args.out is not None:
            raise UsageError("cars tracks: --out needs --generate SEED")
        for name in shipped_track_names():
            t = load_track(name)
            print(f"{name:<12} {t.name:<14} width {t.width:5.0f}  length {t.length:6.0f}  points {len(t.centerline)}")
        return 0
    if args.out is None:
        raise UsageError("cars tracks: --generate needs --out FILE")
    if args.generate < 0:
        raise UsageError(f"cars tracks: --generate needs a seed >= 0, got {args.generate}")
    from cars.sim.trackgen import generate_track

    out = Path(args.out)
    check_json_path(args.out, "--out")  # before generating: a folder, FIFO or device is refused, never replaced
    track = generate_track(args.generate)
    save_track(track, out)
    print(f"wrote {out}: {track.name}, width {track.width:g}, length {track.length:.0f}")
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    if args.file is not None:
        check_edit_target(args.file)
    editor = window_function("cars.ui.editor.window", "run_editor", "cars edit")
    editor(args.file, screenshot=args.screenshot, frames=args.frames)
    return 0


def check_edit_target(path: str) -> None:
    """The file `cars edit` opens and saves to must be a track file or a new path in a folder."""
    from engine.atomic import target_file

    if not path.strip():
        raise UsageError("cars edit: the track file name is empty")
    if Path(path).is_dir():
        raise UsageError(f"{path}: is a folder, not a track file (cars edit FILE.json)")
    if Path(path).exists() or path.lower().endswith(".json"):
        target_file(path)  # a FIFO or a device is refused before the window opens
