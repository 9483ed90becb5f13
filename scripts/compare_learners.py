"""GA vs ES vs PPO: every learner trained with its shipped config under the same car-step budget, over
several seeds, on the default track and on the generalist setting; each champion then drives tracks it
has never seen.

    python scripts/compare_learners.py                       # every learner, 5 seeds, both settings
    python scripts/compare_learners.py --learners ga,es,cmaes --seeds 3 --car-steps 500000
    python scripts/compare_learners.py --quick               # oval, tiny budgets: a smoke test in ~1 minute

The learners are the ones `cars train --algo` knows (LEARNER_SECTIONS): registering a learner adds it
here. A cell (learner, setting, seed) is an ordinary headless run folder under OUT/runs/ (champion.npz
replays with `cars drive`); cells run in parallel processes (--workers, default 2), each on one BLAS
thread. Written to OUT (default runs/compare-<time>):

    comparison.json                 every cell: settings, curve (car-steps, seconds, best fitness), results
    comparison.md                   the tables and the plots, with the command that made them
    progress_car_steps.png          best fitness so far vs car-steps: median and inter-quartile band
    progress_seconds.png            the same against wall-clock seconds

Fitness is the run's own: laps of progress plus a lap-time bonus below 0.5 (FitnessConfig). "Seconds to
the first lap" is the wall time at the end of the generation (or update) in which it happened.
Ctrl-C writes the report of the cells finished so far and exits with 130.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cars.learn.config import (LEARNER_SECTIONS, SECTIONS, Config, ConfigError, config_from_dict,  # noqa: E402
                               read_toml, resolve_config_path, shipped_config_names)
from cars.learn.run_folder import GENERATED_SEEDS  # noqa: E402
from engine.atomic import write_bytes_atomic  # noqa: E402

NAMES = {"ga": "GA", "es": "OpenAI-ES", "cmaes": "CMA-ES", "ppo": "PPO", "reinforce": "REINFORCE"}
SETTINGS = ("track", "generalist")
UNSEEN_SEED0 = GENERATED_SEEDS + 1  # generated training tracks use seeds below GENERATED_SEEDS
FULL = dict(seeds=5, car_steps=300_000, generalist_car_steps=200_000, unseen=10, track=None)
QUICK = dict(seeds=2, car_steps=25_000, generalist_car_steps=25_000, unseen=3, track="oval")


# ---- the cells' configs ---------------------------------------------------------------------------------

def learner_tables(algo: str) -> dict[str, Any]:
    """What the learner's shipped config sets (cars train --algo X loads configs/X.toml; ga: the defaults)."""
    if algo != "ga" and algo in shipped_config_names():
        return read_toml(resolve_config_path(algo))
    return {"algorithm": {"name": algo}}


def merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """Tables of `top` over those of `base`, key by key."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for key, value in top.items():
        out[key] = {**out.get(key, {}), **value} if isinstance(value, dict) else value
    return out


def cell_config(algo: str, setting: str, seed: int, budget: int, track: str | None) -> Config:
    """The config of one cell: the learner's shipped config (over generalist.toml for the generalist
    setting), the seed, the car-step budget, and generations enough that only the budget stops it."""
    data = learner_tables(algo)
    if setting == "generalist":
        data = merge(read_toml(resolve_config_path("generalist")), data)
    section = LEARNER_SECTIONS[algo]
    generations = getattr(SECTIONS[section], "FLAG_FIELDS", {}).get("generations", "generations")
    data = merge(data, {"seed": seed, "algorithm": {"name": algo, "car_steps": budget},
                        section: {generations: 1_000_000}})
    if track is not None:
        data = merge(data, {"track": {"names": [track]}})
    return config_from_dict(data, f"{algo} ({setting})")


# ---- one cell, in a worker process ---------------------------------------------------------------------

def run_cell(cell: dict[str, Any]) -> dict[str, Any]:
    """Train one cell headless, then drive its champion on the lap track and the unseen tracks."""
    from engine.blas import blas_threads
    from cars.learn.drive import drive
    from cars.learn.run import open_run
    from cars.sim.track import load_track
    from cars.sim.trackgen import generate_track

    config = config_from_dict(cell["config"], cell["name"])
    curve: list[list[float]] = []
    seconds, first_lap_seconds = 0.0, None
    with blas_threads(1):
        run = open_run(config, cell["folder"], log=None)
        try:
            while not run.finished:
                started = time.perf_counter()
                if run.run_generation() is None:
                    break
                seconds += time.perf_counter() - started
                curve.append([run.total_car_steps, round(seconds, 3), run.best_fitness])
                if first_lap_seconds is None and run.first_lap_car_steps is not None:
                    first_lap_seconds = seconds
            run.save()
        finally:
            run.close()
        champion = Path(cell["folder"]) / "champion.npz"
        lap = drive(champion, load_track(cell["lap_track"]), laps=1)
        unseen = [drive(champion, generate_track(s), laps=1) for s in cell["unseen_seeds"]]
    return {**{k: cell[k] for k in ("algo", "setting", "seed", "folder")},
            "curve": curve, "car_steps": run.total_car_steps, "seconds": seconds,
            "car_steps_per_second": run.total_car_steps / max(seconds, 1e-9),
            "first_lap_car_steps": run.first_lap_car_steps, "first_lap_seconds": first_lap_seconds,
            "champion_lap_car_steps": next((x for x, _, best in curve if best >= 1.0), None),
            "best_fitness": run.best_fitness,
            "lap_seconds": lap["lap_steps"][0] * config.simulation.dt if lap["lap_steps"] else None,
            "unseen_laps": sum(d["completed_laps"] for d in unseen),
            "unseen_progress": sum(min(d["progress_laps"], 1.0) for d in unseen)}


# ---- the summary --------------------------------------------------------------------------------------

def median_worst(values: list[float | None]) -> tuple[float, float]:
    """Median and worst (largest) of values where None means never (infinitely late)."""
    finite = [float("inf") if v is None else float(v) for v in values]
    return statistics.median(finite), max(finite)


def summarise(results: list[dict[str, Any]], learners: list[str]) -> list[dict[str, Any]]:
    rows = []
    for setting in SETTINGS:
        for algo in learners:
            cells = [r for r in results if r["algo"] == algo and r["setting"] == setting]
            if not cells:
                continue
            laps = [c["lap_seconds"] for c in cells]
            rows.append({
                "setting": setting, "algo": algo, "seeds": len(cells),
                "first_lap_car_steps": median_worst([c["first_lap_car_steps"] for c in cells]),
                "first_lap_seconds": median_worst([c["first_lap_seconds"] for c in cells]),
                "lapped": sum(c["first_lap_car_steps"] is not None for c in cells),
                "champion_lap_car_steps": median_worst([c["champion_lap_car_steps"] for c in cells]),
                "lap_seconds": statistics.median(x for x in laps if x is not None) if any(laps) else None,
                "champions_lapping": sum(x is not None for x in laps),
                "unseen_laps": statistics.median(c["unseen_laps"] for c in cells),
                "unseen_progress": statistics.median(c["unseen_progress"] for c in cells),
                "best_fitness": statistics.median(c["best_fitness"] for c in cells),
                "car_steps_per_second": statistics.median(c["car_steps_per_second"] for c in cells),
                "seconds": statistics.median(c["seconds"] for c in cells),
            })
    return rows


def fmt(value: float | None, kind: str = "") -> str:
    if value is None:
        return "-"
    if value == float("inf"):
        return "never"
    if kind == "int":
        return f"{value:,.0f}"
    return f"{value:.1f}" if kind == "s" else f"{value:.2f}"


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [f"# Learners compared: {', '.join(NAMES.get(a, a) for a in meta['learners'])}", "",
             f"Made by `{meta['command']}` in {meta['seconds'] / 60:.1f} minutes on {meta['workers']} worker "
             f"processes ({meta['cpu_seconds'] / 60:.1f} CPU-minutes; load average at the end {meta['load']}). "
             f"{meta['seeds']} seeds per learner and setting; budget {meta['car_steps']:,} car-steps on the track "
             f"({meta['track']}), {meta['generalist_car_steps']:,} on the generalist setting; every champion then "
             f"drives 1 lap of {meta['unseen']} unseen generated tracks (seeds {UNSEEN_SEED0}+).", "",
             "| setting | learner | car-steps to 1st lap (median / worst) | seconds to 1st lap (median / worst) "
             "| car-steps until the champion laps | lap time of the champion, s | unseen tracks lapped (of %d) "
             "| best fitness | car-steps/s |" % meta["unseen"], "|" + " --- |" * 9]
    for r in rows:
        steps, secs = r["first_lap_car_steps"], r["first_lap_seconds"]
        lap = fmt(r["lap_seconds"], "s") + ("" if r["champions_lapping"] == r["seeds"] else
                                            f" ({r['champions_lapping']}/{r['seeds']} lap)")
        lapped = "" if r["lapped"] == r["seeds"] else f" ({r['lapped']}/{r['seeds']} lapped)"
        lines.append(f"| {r['setting']} | {NAMES.get(r['algo'], r['algo'])} | {fmt(steps[0], 'int')} / "
                     f"{fmt(steps[1], 'int')}{lapped} | {fmt(secs[0], 's')} / {fmt(secs[1], 's')} | "
                     f"{fmt(r['champion_lap_car_steps'][0], 'int')} | {lap} | "
                     f"{fmt(r['unseen_laps'], 'int')} | {fmt(r['best_fitness'])} | "
                     f"{fmt(r['car_steps_per_second'], 'int')} |")
    lines += ["", "Medians over seeds (worst = the slowest seed; never = some seed had no lap within the budget). "
              "First lap: any learning car completes a lap (the run's own count). The champion laps: the best brain "
              "so far scores fitness >= 1 (with the generalist's worst-track score: it laps every training track). "
              "Best fitness = laps of progress + lap-time bonus (< 0.5) of the champion on its training tracks. "
              "Lap time: the champion alone on the first training track. Car-steps/s: training only.", "",
              "![best fitness vs car-steps](progress_car_steps.png)", "",
              "![best fitness vs wall-clock seconds](progress_seconds.png)", ""]
    return "\n".join(lines)


def best_at(x: Any, best: Any, grid: Any) -> Any:
    """The best fitness known at each grid point: that of the last generation finished by then (0 before
    the first one), for generations finished at x (increasing) with best-so-far fitness `best`."""
    import numpy as np

    last = np.searchsorted(x, grid, side="right") - 1
    return np.where(last >= 0, np.maximum.accumulate(best)[np.maximum(last, 0)], 0.0)


def plot(results: list[dict[str, Any]], learners: list[str], axis: str, path: Path) -> None:
    """Best fitness so far against car-steps or seconds (log scale): median line and inter-quartile band per
    learner, from the end of the first generation (or update) of any seed to the end of the last."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    column = {"car_steps": 0, "seconds": 1}[axis]
    settings = [s for s in SETTINGS if any(r["setting"] == s for r in results)]
    fig, axes = plt.subplots(1, len(settings), figsize=(6.5 * len(settings), 4.5), dpi=100, squeeze=False)
    for ax, setting in zip(axes[0], settings):
        for i, algo in enumerate(learners):
            curves = [np.asarray(r["curve"], dtype=float).reshape(-1, 3) for r in results
                      if r["algo"] == algo and r["setting"] == setting]
            curves = [c for c in curves if len(c)]
            if not curves:
                continue
            start = max(min(c[0, column] for c in curves), 1e-3)
            grid = np.geomspace(start, max(c[-1, column] for c in curves), 300)
            values = np.array([best_at(c[:, column], c[:, 2], grid) for c in curves])
            low, mid, high = np.percentile(values, [25, 50, 75], axis=0)
            colour = f"C{i}"
            ax.plot(grid, mid, color=colour, label=f"{NAMES.get(algo, algo)} (median of {len(curves)})")
            ax.fill_between(grid, low, high, color=colour, alpha=0.2, linewidth=0)
        ax.axhline(1.0, color="grey", linestyle=":", linewidth=1)
        ax.set_xscale("log")  # learners differ by orders of magnitude in how much driving they need
        ax.set_xlabel("car-steps (log scale)" if axis == "car_steps" else "wall-clock seconds (log scale)")
        ax.set_ylabel("best fitness so far (laps)")
        ax.set_title("default track" if setting == "track" else "generalist setting")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and its finished workers: the wall time the work would take on
    one otherwise idle core."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def write_report(out: Path, results: list[dict[str, Any]], meta: dict[str, Any]) -> list[Path]:
    learners = [a for a in meta["learners"] if any(r["algo"] == a for r in results)]
    rows = summarise(results, learners)
    meta = {**{k: v for k, v in meta.items() if k != "started"}, "seconds": time.perf_counter() - meta["started"],
            "cpu_seconds": cpu_seconds(), "load": " ".join(f"{x:.1f}" for x in os.getloadavg())}
    write_bytes_atomic(out / "comparison.json", json.dumps({"meta": meta, "summary": rows, "cells": results},
                                                           indent=1).encode())
    paths = [out / "comparison.json"]
    if results:
        for axis in ("car_steps", "seconds"):
            plot(results, learners, axis, out / f"progress_{axis}.png")
            paths.append(out / f"progress_{axis}.png")
    write_bytes_atomic(out / "comparison.md", markdown(rows, meta).encode())
    return paths + [out / "comparison.md"]


# ---- the command line ---------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", default=",".join(LEARNER_SECTIONS),
                        help=f"comma-separated (default: all, {','.join(LEARNER_SECTIONS)})")
    parser.add_argument("--seeds", type=int, help="seeds 1..K per learner and setting (default 5; quick 2)")
    parser.add_argument("--car-steps", type=int, help="budget per run on the track (algorithm.car_steps)")
    parser.add_argument("--generalist-car-steps", type=int, help="budget per run on the generalist setting")
    parser.add_argument("--settings", default=",".join(SETTINGS), help="track, generalist or both")
    parser.add_argument("--unseen", type=int, help="unseen generated tracks each champion drives (default 10)")
    parser.add_argument("--workers", type=int, default=2, help="parallel processes (default 2)")
    parser.add_argument("--quick", action="store_true", help="oval, tiny budgets, 2 seeds, 3 unseen tracks")
    parser.add_argument("--out", help="output folder (default runs/compare-<time>)")
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else FULL
    for key, value in preset.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    return args


def plan(args: argparse.Namespace, out: Path) -> list[dict[str, Any]]:
    """Every cell, its config validated now (a bad learner or budget fails before anything runs)."""
    learners = [a.strip() for a in args.learners.split(",") if a.strip()]
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    for name, known, what in ((learners, LEARNER_SECTIONS, "learner"), (settings, SETTINGS, "setting")):
        bad = [n for n in name if n not in known]
        if bad or not name:
            raise ConfigError(f"--{what}s: unknown {what} {', '.join(bad) or '(none)'} (known: {', '.join(known)})")
    for flag in ("seeds", "unseen", "workers", "car_steps", "generalist_car_steps"):
        if getattr(args, flag) < 1:
            raise ConfigError(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
    cells = []
    for setting in settings:
        budget = args.car_steps if setting == "track" else args.generalist_car_steps
        for algo in learners:
            for seed in range(1, args.seeds + 1):
                config = cell_config(algo, setting, seed, budget, args.track if setting == "track" else None)
                name = f"{setting}-{algo}-seed{seed}"
                cells.append({"name": name, "algo": algo, "setting": setting, "seed": seed,
                              "config": config.to_dict(), "folder": str(out / "runs" / name),
                              "lap_track": config.track.names[0],
                              "unseen_seeds": list(range(UNSEEN_SEED0, UNSEEN_SEED0 + args.unseen))})
    return cells


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out or time.strftime("runs/compare-%Y%m%d-%H%M%S"))
    try:
        if (out / "comparison.json").exists() or (out / "runs").exists():
            raise ConfigError(f"{out}: already holds a comparison; choose another --out")
        cells = plan(args, out)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    meta = {"command": "python scripts/compare_learners.py " + " ".join(sys.argv[1:] if argv is None else argv),
            "learners": sorted({c["algo"] for c in cells}, key=list(LEARNER_SECTIONS).index),
            "seeds": args.seeds, "car_steps": args.car_steps, "generalist_car_steps": args.generalist_car_steps,
            "track": args.track or "default", "unseen": args.unseen, "workers": args.workers,
            "started": time.perf_counter()}
    print(f"{len(cells)} runs on {args.workers} processes -> {out}")
    results: list[dict[str, Any]] = []
    code = 0
    pool = ProcessPoolExecutor(max_workers=args.workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        pending = {pool.submit(run_cell, cell): cell for cell in cells}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                cell = pending.pop(future)
                try:
                    r = future.result()
                except Exception as e:  # a run that fails is reported, the others go on
                    print(f"{cell['name']}: failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})",
                          file=sys.stderr)
                    code = 1
                    continue
                results.append(r)
                elapsed = time.perf_counter() - meta["started"]
                lap = (f"first lap after {r['first_lap_car_steps']:,} car-steps" if r["first_lap_car_steps"]
                       is not None else "no lap")
                print(f"[{len(results)}/{len(cells)}] {cell['name']}: {lap}, unseen "
                      f"{r['unseen_laps']}/{args.unseen}, {r['car_steps_per_second']:,.0f} car-steps/s  "
                      f"({elapsed:.0f}s, ETA {elapsed / len(results) * len(pending):.0f}s)", flush=True)
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        print(f"\ninterrupted: writing the report of the {len(results)} finished runs", file=sys.stderr)
        code = 130
    finally:
        pool.shutdown(wait=code != 130)
    results.sort(key=lambda r: (SETTINGS.index(r["setting"]), meta["learners"].index(r["algo"]), r["seed"]))
    for path in write_report(out, results, meta):
        print(f"wrote {path}")
    return code


if __name__ == "__main__":
    sys.exit(main())
