"""In which generation does a learner's first car complete a lap? One run per seed, headless, in parallel.

    python scripts/first_lap_seeds.py es                    # seeds 1-10, shipped es config, default track
    python scripts/first_lap_seeds.py cmaes --seeds 20 --max-generations 30 --set cmaes.sigma=0.3
    python scripts/first_lap_seeds.py ga --json first_lap_ga.json

Each run stops at its first lap (or after --max-generations) and keeps no files. Prints one line per seed
(first-lap generation counted from 1, car-steps until then, seconds) and the median and worst over the
seeds; a seed that never laps counts as "never" (worse than any generation). This is how the learners'
first-lap targets are measured (docs/evolution-strategies.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cars.learn.config import LEARNER_SECTIONS, ConfigError, Config, load_config, shipped_config_names  # noqa: E402
from cars.learn.run import open_run  # noqa: E402


def shipped_config(algo: str, overrides: dict[str, Any]) -> Config:
    """The learner's shipped config (ga: default) as `cars train --algo` loads it, plus overrides."""
    name = algo if algo in shipped_config_names() and algo != "ga" else "default"
    extra = {} if name == algo else {"algorithm.name": algo}
    return load_config(name, {**extra, **overrides})


def first_lap(job: tuple[str, dict[str, Any], int, int]) -> dict[str, Any]:
    """One seed: run until the first lap or max_generations; the generation (1-based) or None."""
    from engine.blas import blas_threads

    algo, overrides, seed, max_generations = job
    section = LEARNER_SECTIONS[algo]
    config = shipped_config(algo, {**overrides, "seed": seed, f"{section}.generations": max_generations})
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder, blas_threads(1):
        run = open_run(config, folder, log=None)
        try:
            while not run.finished and run.first_lap_generation is None:
                run.run_generation()
        finally:
            run.close()
    generation = run.first_lap_generation
    return {"seed": seed, "generation": None if generation is None else generation + 1,
            "car_steps": run.first_lap_car_steps, "seconds": time.perf_counter() - started}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("algo", choices=sorted(LEARNER_SECTIONS))
    parser.add_argument("--seeds", type=int, default=10, help="seeds 1..N (default 10)")
    parser.add_argument("--max-generations", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2, help="parallel processes (default 2)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    parser.add_argument("--json", metavar="PATH", help="write the results here")
    args = parser.parse_args(argv)
    overrides = dict(item.split("=", 1) for item in args.set if "=" in item)
    try:
        shipped_config(args.algo, overrides)  # bad settings fail here, in one line
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    jobs = [(args.algo, overrides, seed, args.max_generations) for seed in range(1, args.seeds + 1)]
    with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
        results = list(pool.map(first_lap, jobs))
    never = args.max_generations + 1
    gens = [r["generation"] if r["generation"] is not None else never for r in results]
    print(f"{args.algo} {' '.join(args.set)}: first full lap on {shipped_config(args.algo, overrides).track.names}")
    print("seed  generation  car-steps  seconds")
    for r in results:
        gen = r["generation"] if r["generation"] is not None else "never"
        steps = f"{r['car_steps']:,}" if r["car_steps"] is not None else "-"
        print(f"{r['seed']:>4}  {gen:>10}  {steps:>9}  {r['seconds']:7.1f}")
    median, worst = statistics.median(gens), max(gens)
    fmt = (lambda g: "never" if g >= never else f"{g:g}")
    print(f"median {fmt(median)}, worst {fmt(worst)} (generations, over {len(gens)} seeds)")
    if args.json:
        Path(args.json).write_text(json.dumps({"algo": args.algo, "overrides": overrides, "runs": results,
                                               "median": median, "worst": worst}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
