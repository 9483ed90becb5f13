"""`cars sweep`: a grid of settings x seeds, each cell an ordinary run, on a local process pool or on Ray.
Also the --backend/--address/--workers flags of `cars train` / `cars evolve` (sharded generations on Ray).

    cars sweep --set evolution.mutation_rate=0.02,0.05,0.1,0.2 --seeds 5 --generations 30 --out runs/rates
    cars sweep ... --backend ray [--address HOST:PORT] [--workers N]

A --set with several values sweeps the setting, with one value fixes it; the typed flags (--generations,
--population, --track, --car-steps, --config, --algo) set the base config as for `cars train`. Running
the same command again on the same --out folder skips finished cells and resumes interrupted ones.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from cars.cli import EXIT_INTERRUPTED, UsageError, check_json_path, field_flags, write_json
from cars.learn.config import LEARNER_SECTIONS

EXIT_CELLS_FAILED = 1


def add_backend_flags(parser: argparse.ArgumentParser, *, sweep: bool) -> None:
    what = ("where the cells run: local (a process pool on this machine) or ray (a local Ray instance, or the "
            "cluster at --address)") if sweep else \
        "local (this process) or ray: each generation's genomes are evaluated in shards on Ray actors"
    parser.add_argument("--backend", choices=("local", "ray"), default="local", help=what)
    parser.add_argument("--address", metavar="ADDR",
                        help="with --backend ray: join the Ray cluster at HOST:PORT (auto: the one started on this "
                             "machine); default: RAY_ADDRESS, else a new local Ray instance")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="worker processes (local pool) or CPUs of the new local Ray instance (default: all "
                             "cores)" if sweep else "shards per generation (default: the cluster's CPUs)")


def add_sweep_parser(sub: Any) -> None:
    sw = sub.add_parser("sweep", help="run every combination of settings x seeds and compare them",
                        description="Run a grid of ordinary runs: --set section.key=v1,v2,... sweeps a setting "
                                    "(one value fixes it), --seeds N repeats every combination on N seeds. "
                                    "A list value is bracketed: --set brain.hidden=[8],[16,8]. Results: "
                                    "sweep.csv, summary.md, fitness.png and first_lap.png in --out.")
    sw.add_argument("--set", action="append", default=[], metavar="KEY=V1,V2,...",
                    help="sweep a setting over these values (one value: fix it); repeat for a grid")
    sw.add_argument("--seeds", type=int, default=1, metavar="N", help="seeds per combination (default 1)")
    sw.add_argument("--seed", type=int, metavar="S", help="the first seed: seeds S, S+1, ... (default: the config's)")
    sw.add_argument("--algo", choices=sorted(LEARNER_SECTIONS), default=None,
                    help="the learner (default: the config's, else ga)")
    sw.add_argument("--config", default=None, metavar="NAME|FILE", help="the base config (as for cars train)")
    sw.add_argument("--track", action="append", metavar="PATH_OR_NAME", help="train on this track (repeatable)")
    sw.add_argument("--generations", type=int, metavar="N", help="generations (or updates) of every cell")
    sw.add_argument("--population", type=int, metavar="N")
    sw.add_argument("--car-steps", type=int, metavar="N", help="stop every cell after this many car-steps")
    sw.add_argument("--unseen", type=int, metavar="N", help="unseen generated tracks each champion drives at the "
                                                             "end (default: 5 if the config trains on generated "
                                                             "tracks, else 0)")
    sw.add_argument("--out", metavar="DIR", help="the sweep folder (default: runs/sweep-<date>-<time>); give the "
                                                 "same folder again to continue a sweep")
    sw.add_argument("--json", metavar="PATH", help="write a JSON summary here")
    sw.add_argument("--no-plots", action="store_true", help="skip fitness.png and first_lap.png")
    add_backend_flags(sw, sweep=True)


# ---- cars sweep ------------------------------------------------------------------------------------------

def sweep_settings(args: argparse.Namespace, extra: list[str]) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """(fixed overrides for the base config, swept settings -> values) from --set, --section.key and the flags."""
    from cars.scale.sweep import parse_values

    given: dict[str, str] = {}
    for item in args.set:
        key, eq, text = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise UsageError(f"cars sweep: --set needs KEY=V1,V2,..., got {item!r}")
        if key in given:
            raise UsageError(f"cars sweep: --set {key} is given twice (list every value in one --set)")
        given[key] = text
    for key, text in field_flags(extra, "sweep").items():
        if key in given:
            raise UsageError(f"cars sweep: {key} is given twice")
        given[key] = text
    fixed: dict[str, Any] = {}
    axes: dict[str, list[Any]] = {}
    for key, text in given.items():
        values = parse_values(key, text)
        if len(values) == 1:
            fixed[key] = values[0]
        else:
            axes[key] = values
    if args.track:
        fixed["track.names"] = list(args.track)
    if args.seed is not None:
        fixed["seed"] = args.seed
    if args.car_steps is not None:
        fixed["algorithm.car_steps"] = args.car_steps
    if args.algo is not None:
        fixed["algorithm.name"] = args.algo
    return fixed, axes


def check_backend_flags(args: argparse.Namespace, command: str) -> None:
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"cars {command}: --workers must be >= 1, got {args.workers}")
    if args.address is not None and args.backend != "ray":
        raise UsageError(f"cars {command}: --address joins a Ray cluster; it needs --backend ray")
    if args.address is not None and not args.address.strip():
        raise UsageError(f"cars {command}: --address needs HOST:PORT, got an empty address")


def cmd_sweep(args: argparse.Namespace, extra: list[str]) -> int:
    from cars.cli.train import new_config
    from cars.scale.sweep import SweepDefinition, check_sweep_folder

    check_json_path(args.json)
    check_backend_flags(args, "sweep")
    if args.seeds < 1:
        raise UsageError(f"cars sweep: --seeds must be >= 1, got {args.seeds}")
    if args.out is not None and not args.out.strip():
        raise UsageError("cars sweep: --out needs a folder, got an empty name")
    fixed, axes = sweep_settings(args, extra)
    if "seed" in axes:
        raise UsageError("cars sweep: sweep seeds with --seeds N (and --seed FIRST), not --set seed=...")
    base = new_config(args, fixed)
    sweep = SweepDefinition.build(base, axes, [base.seed + i for i in range(args.seeds)], args.unseen)
    out = args.out or time.strftime("runs/sweep-%Y%m%d-%H%M%S")
    check_sweep_folder(out, sweep)  # a different sweep's folder fails before Ray starts or anything is written
    try:
        backend = make_backend(args)
        try:
            outcome = run(sweep, out, backend, args)
        finally:
            close = getattr(getattr(backend, "connection", None), "close", None)
            if close is not None:
                close()
    except KeyboardInterrupt:  # while Ray was starting: nothing was run
        print("\ninterrupted before any cell ran")
        return EXIT_INTERRUPTED
    return report(outcome, args, out)


def make_backend(args: argparse.Namespace) -> Any:
    from cars.scale.backends import LocalPool, RayCells, RayConnection

    if args.backend == "ray":
        return RayCells(RayConnection(args.address, args.workers))
    return LocalPool(args.workers)


def run(sweep: Any, out: str, backend: Any, args: argparse.Namespace) -> Any:
    from cars.scale.driver import run_sweep

    return run_sweep(sweep, out, backend, print, plots=not args.no_plots)


def report(outcome: Any, args: argparse.Namespace, out: str) -> int:
    total, done = len(outcome.cells), len(outcome.results)
    again = "" if args.out else f" --out {out}"
    print(f"\n{done}/{total} cells finished in {outcome.folder} ({outcome.seconds:.1f}s): sweep.csv, summary.md"
          + (", fitness.png, first_lap.png" if len(outcome.reports) > 2 else ""))
    for index, error in sorted(outcome.failed.items()):
        print(f"failed: {outcome.cells[index].name}: {error}")
    if args.json:
        write_json(args.json, {
            "folder": str(outcome.folder), "cells": total, "finished": done, "interrupted": outcome.interrupted,
            "failed": {outcome.cells[i].name: e for i, e in sorted(outcome.failed.items())},
            "skipped": outcome.skipped, "resumed": outcome.resumed, "seconds": outcome.seconds,
            "results": [{"cell": c.name, "values": c.values, "seed": c.seed, **outcome.results[c.index]}
                        for c in outcome.cells if c.index in outcome.results],
        })
    if outcome.interrupted:
        print(f"interrupted: the {done} finished cells are kept, unfinished ones keep their checkpoints; continue "
              f"with the same command{again}")
        return EXIT_INTERRUPTED
    if outcome.failed:
        print(f"{len(outcome.failed)} cells failed; run the same command{again} to try them again")
        return EXIT_CELLS_FAILED
    return 0


# ---- cars train / evolve --backend ray ------------------------------------------------------------------

def generation_evaluator(args: argparse.Namespace) -> Any:
    """None for --backend local; for --backend ray, the sharded Ray evaluator of each generation."""
    if not hasattr(args, "backend"):
        return None
    check_backend_flags(args, args.command)
    if args.backend != "ray":
        return None
    if not args.headless:
        raise UsageError(f"cars {args.command}: --backend ray evaluates each generation on Ray actors; it needs "
                         f"--headless (the window drives the cars in this process)")
    from cars.scale.backends import RayConnection
    from cars.scale.sharded import RayShardedEvaluator

    evaluator = RayShardedEvaluator(RayConnection(args.address, args.workers), shards=args.workers)
    print(f"generations evaluated in {evaluator.describe()}")
    return evaluator
