"""`cars train` and `cars evolve`: start or resume a run, headless or in the window, and report it."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from cars.cli import EXIT_INTERRUPTED, UsageError, check_json_path, interrupt, window_function, write_json
from cars.cli.sweep import generation_evaluator
from cars.learn.config import LEARNER_SECTIONS, SECTIONS, Config, apply_overrides, load_config, read_toml, resolve_config_path
from cars.learn.run import open_run
from cars.learn.run_files import load_run_config

RESUMABLE = ("algorithm.car_steps", "algorithm.name")  # what --resume may pass on besides --generations


def cmd_train(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    check_json_path(args.json)
    for flag in ("resume", "save_dir"):
        if getattr(args, flag) is not None and not getattr(args, flag).strip():
            raise UsageError(f"cars {args.command}: --{flag.replace('_', '-')} needs a folder, got an empty name")
    if args.resume:
        config, save_dir = resume_config(args, overrides), Path(args.resume)
    else:
        config = new_config(args, overrides)
        save_dir = Path(args.save_dir or time.strftime("runs/cars-%Y%m%d-%H%M%S"))
    evaluator = generation_evaluator(args)  # --backend ray: each generation in shards on Ray actors
    window = None
    if not args.headless:
        window = window_function("cars.ui.evolve_window", "run_evolve_window", f"cars {args.command}")
        ensure_display = window_function("cars.ui.window", "ensure_display", f"cars {args.command}")
        ensure_display(must_be_visible=args.screenshot is None and args.frames is None)  # before any file is made
    run = open_run(config, save_dir, resume=bool(args.resume), log=print, evaluator=evaluator)
    try:
        return drive_run(run, args, window)
    finally:
        run.close()
        if evaluator is not None:
            evaluator.close()


def learner_flags(args: argparse.Namespace, algo: str) -> dict[str, Any]:
    """--generations / --population as settings of the learner's own section."""
    section = LEARNER_SECTIONS[algo]
    names = getattr(SECTIONS[section], "FLAG_FIELDS", {})  # e.g. ppo: --generations -> ppo.updates
    return {f"{section}.{names.get(flag, flag)}": getattr(args, flag) for flag in ("generations", "population")
            if getattr(args, flag, None) is not None}


def new_config(args: argparse.Namespace, overrides: dict[str, Any]) -> Config:
    """The config a new run starts from: the --config file (default: the learner's shipped config)."""
    algo = overrides.get("algorithm.name")
    name = args.config or ("default" if algo in (None, "ga") else algo)
    if algo is None:
        table = read_toml(resolve_config_path(name)).get("algorithm", {})
        algo = table.get("name", "ga") if isinstance(table, dict) else "ga"
    if algo not in LEARNER_SECTIONS:
        return load_config(name, overrides)  # the config reports the unknown algorithm
    return load_config(name, {**overrides, **learner_flags(args, algo)})


def resume_config(args: argparse.Namespace, overrides: dict[str, Any]) -> Config:
    """The run's own config.toml; only the generations and the car-step budget may change."""
    changed = sorted(set(overrides) - set(RESUMABLE))
    if changed or args.config or args.save_dir or args.population is not None:
        raise UsageError(f"cars {args.command}: --resume continues a run with its own config.toml; only "
                         f"--generations and --car-steps may change (got "
                         f"{', '.join(changed) or '--config/--save-dir/--population'})")
    config = load_run_config(args.resume)
    algo = overrides.get("algorithm.name", config.algorithm.name)
    if algo != config.algorithm.name:
        raise UsageError(f"cars {args.command}: {args.resume} is a run of algorithm {config.algorithm.name}, not "
                         f"{algo}; resume it with cars train --algo {config.algorithm.name}")
    changes = {k: v for k, v in overrides.items() if k == "algorithm.car_steps"}
    changes.update(learner_flags(args, algo))
    return apply_overrides(config, changes) if changes else config


def drive_run(run: Any, args: argparse.Namespace, window: Any) -> int:
    """Run to the end (headless or in the window); Ctrl-C saves. Returns the exit status."""
    if not args.resume:
        print(f"run folder {run.save_dir}: config.toml, seed {run.config.seed}, algorithm "
              f"{run.config.algorithm.name}; tracks {', '.join(t.name for t in run.tracks)}")
    started = time.perf_counter()
    interrupted = False
    try:
        if window is not None:
            window(run, screenshot=args.screenshot, frames=args.frames)
        else:
            while not run.finished:
                run.run_generation()
    except KeyboardInterrupt:
        interrupted = True
    with interrupt.deferred():  # from here on Ctrl-C cannot cut the saving and the report short
        saved = saved_names(run.save())
        write_plot(run)
        interrupted = interrupted or interrupt.pressed()
        if interrupted or not run.finished:
            print(f"{'interrupted' if interrupted else 'stopped'} during {getattr(run, 'unit', 'generation')} "
                  f"{run.generation + 1}: saved "
                  f"{saved} in {run.save_dir}; continue with: cars {args.command} --resume {run.save_dir}")
        report_run(run, time.perf_counter() - started, args.json, interrupted)
    return EXIT_INTERRUPTED if interrupted or interrupt.pressed() else 0


def saved_names(paths: list[Path]) -> str:
    """'champion.npz, history.csv and checkpoint.npz': the names of what save() wrote, as said to people."""
    names = [Path(p).name for p in paths]
    return ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + names[-1] if names else "nothing"


def report_run(run: Any, seconds: float, json_path: str | None, interrupted: bool = False) -> int:
    history = run.history
    steps = sum(r["car_steps"] for r in history)
    busy = sum(r["seconds"] for r in history)
    first = run.first_lap_generation
    champion = run.save_dir / "champion.npz"
    unit = getattr(run, "unit", "generation")  # policy-gradient runs count updates
    if run.best is not None and run.finished and not interrupted:
        lap = (f"first full lap in {unit} {first + 1} after {run.first_lap_car_steps:,} car-steps"
               if first is not None else "no full lap yet")
        print(f"done: {len(history)} {unit}s in {seconds:.1f}s, best fitness {run.best['fitness']:.3f} "
              f"({unit} {run.best['generation'] + 1}), {lap}, {steps / max(busy, 1e-9):,.0f} car-steps/s; "
              f"champion {champion}")
    if json_path:
        write_json(json_path, {
            "algo": run.config.algorithm.name,
            "generations": len(history),
            "car_steps": run.total_car_steps,
            "first_lap_generation": None if first is None else first + 1,
            "first_lap_car_steps": run.first_lap_car_steps,
            "best_fitness": None if run.best is None else run.best["fitness"],
            "best_generation": None if run.best is None else run.best["generation"] + 1,
            "car_steps_per_second": steps / max(busy, 1e-9),
            "champion": str(champion) if run.best is not None else None,
            "save_dir": str(run.save_dir),
            "finished": bool(run.finished),
            "interrupted": interrupted,
            **(run.report_fields() if hasattr(run, "report_fields") else {}),
        })
    return 0


def write_plot(run: Any) -> None:
    """history.png next to history.csv (best/mean/median fitness per generation); best effort."""
    if not run.history:
        return
    try:
        from cars.learn.history_plot import plot_history
        plot = getattr(run, "plot_history", None)  # a policy-gradient run plots returns per update
        plot() if plot is not None else plot_history(run.history, run.save_dir / "history.png")
    except Exception as e:  # a plot must never lose a finished run
        print(f"note: history.png not written ({e})")
