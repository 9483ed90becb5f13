"""Benchmarks of `cars sweep` and of sharded generations on Ray, measured as ratios within one run.

    python scripts/bench_sweep.py --sweep [--repeat 3]     # 4 mutation rates x 5 seeds x 30 generations:
                                                           # one after another, local pool (2), local Ray (2)
    python scripts/bench_sweep.py --csv                    # cars sweep --backend local / ray: same sweep.csv?
    python scripts/bench_sweep.py --kill                   # kill a pool worker / a Ray worker mid-cell
    python scripts/bench_sweep.py --sharded [--repeat 3]   # one generation of 20,000 genomes:
                                                           # one process vs 2 shard actors on local Ray

--sweep times the 20 cells run one after another in this process, on the local pool with 2 workers and on a
local Ray instance with 2 CPUs (its start-up counted separately). The machine may be shared with other work
whose load changes by the minute, so the three ways are interleaved seed by seed (each seed's 4 cells run
each way, in a rotating order) and their times summed: a change of load slows all three alike. --csv runs
the whole sweep through `cars sweep` on each backend and compares sweep.csv's result columns. --kill runs
the first seed's 4 cells on each backend, kills the worker of one cell after its 10th generation and
compares every result with the uninterrupted run. --sharded compares fitness (every history value and the
next generation) and car-steps/s. Repeat, and read the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cars.scale.backends import LocalPool, RayCells, RayConnection  # noqa: E402
from cars.learn.config import load_config  # noqa: E402
from cars.learn.run import open_run  # noqa: E402
from cars.scale.sweep import SweepDefinition, run_cell  # noqa: E402
from cars.scale.driver import run_sweep  # noqa: E402

RATES = [0.02, 0.05, 0.1, 0.2]


def quiet(line: str) -> None:
    pass


def result_columns(path: Path) -> list[str]:
    return [line.rsplit(",", 1)[0] for line in path.read_text().splitlines()]


def without_seconds(results: dict) -> dict:
    return {i: {k: v for k, v in r.items() if k != "seconds"} for i, r in results.items()}


def the_sweep(seeds: int, generations: int) -> SweepDefinition:
    base = load_config("default", {"evolution.generations": generations})
    return SweepDefinition.build(base, {"evolution.mutation_rate": RATES}, list(range(1, seeds + 1)))


def bench_sweep(seeds: int, generations: int, workers: int) -> dict:
    """The sweep three ways, interleaved seed by seed (the 4 cells of one seed, each way in a rotating order),
    so that other work on a shared machine slows all three alike; times are summed over the seeds."""
    sweep = the_sweep(seeds, generations)
    cells = sweep.cells()
    times = {"serial": 0.0, "local": 0.0, "ray": 0.0}
    cpu = {"serial": 0.0, "local_busiest_worker": 0.0}  # CPU seconds: what the wall time would be on idle cores
    results: dict[str, dict] = {"serial": {}, "local": {}, "ray": {}}
    started = time.perf_counter()
    connection = RayConnection(cpus=workers)
    ray_start = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for block, seed in enumerate(sweep.seeds):
            part = SweepDefinition.build(sweep.base, dict(sweep.axes), [seed], sweep.unseen)
            order = ["serial", "local", "ray"]
            order = order[block % 3:] + order[:block % 3]
            for way in order:
                started, cpu_started = time.perf_counter(), time.process_time()
                watch = WorkerCPU()
                if way == "serial":
                    found = {c.index: run_cell(c.config, tmp / "serial" / c.name) for c in part.cells()}
                    cpu["serial"] += time.process_time() - cpu_started
                else:
                    backend = LocalPool(workers) if way == "local" else RayCells(connection)
                    found = run_sweep(part, tmp / f"{way}-{seed}", backend, quiet, plots=False, watch=watch).results
                    if way == "local":
                        cpu["local_busiest_worker"] += max(watch.cpu.values())
                times[way] += time.perf_counter() - started
                by_name = {c.name: found[c.index] for c in part.cells()}
                results[way].update({c.index: by_name[part_name(c, part)] for c in cells if c.seed == seed})
            print(f"  seed {seed}: one after another {times['serial']:6.1f}s  local pool {times['local']:6.1f}s  "
                  f"local Ray {times['ray']:6.1f}s  (cumulative; load {os.getloadavg()[0]:.1f})")
    connection.close()
    same = without_seconds(results["ray"]) == without_seconds(results["local"]) == without_seconds(results["serial"])
    out = {**times, **{f"cpu_{k}": v for k, v in cpu.items()}, "ray_start": ray_start,
           "cpu_local_over_serial": cpu["local_busiest_worker"] / cpu["serial"],
           "local_over_serial": times["local"] / times["serial"],
           "ray_over_local": times["ray"] / times["local"],
           "ray_with_start_over_local": (times["ray"] + ray_start) / times["local"], "results_identical": same}
    print(f"  local pool / one after another {out['local_over_serial']:.3f};  local Ray / local pool "
          f"{out['ray_over_local']:.3f} ({out['ray_with_start_over_local']:.3f} counting Ray's start, "
          f"{ray_start:.1f}s);  every result identical: {same}")
    print(f"  CPU seconds: one after another {cpu['serial']:.1f}, the pool's busiest worker "
          f"{cpu['local_busiest_worker']:.1f}: ratio {out['cpu_local_over_serial']:.3f} (the wall-time ratio on "
          f"cores nobody else uses)")
    return out


class WorkerCPU:
    """Watches a sweep: the CPU seconds each worker process had used when it finished its last cell
    (from /proc, Linux). The busiest worker's CPU time is the pool's wall time on otherwise idle cores."""

    def __init__(self) -> None:
        self.pid_of: dict[int, int] = {}
        self.cpu: dict[int, float] = {0: 0.0}

    def __call__(self, event: dict) -> None:
        if event["type"] == "start":
            self.pid_of[event["cell"]] = event["pid"]
        elif event["type"] == "result":
            pid = self.pid_of[event["cell"]]
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                self.cpu[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            except (OSError, IndexError, ValueError):
                pass


def part_name(cell, part: SweepDefinition) -> str:
    """The name the one-seed sweep `part` gives the cell of the same values and seed."""
    return next(c.name for c in part.cells() if c.values == cell.values and c.seed == cell.seed)


def bench_csv(seeds: int, generations: int, workers: int) -> dict:
    """The whole sweep through `cars sweep` on each backend: are sweep.csv's result columns byte-identical?"""
    from cars.cli import main as cars

    with tempfile.TemporaryDirectory() as tmp:
        common = ["sweep", "--set", "evolution.mutation_rate=" + ",".join(map(str, RATES)), "--seeds", str(seeds),
                  "--generations", str(generations), "--workers", str(workers), "--no-plots"]
        for backend in ("local", "ray"):
            assert cars(common + ["--backend", backend, "--out", f"{tmp}/{backend}"]) == 0
        same = result_columns(Path(tmp, "ray", "sweep.csv")) == result_columns(Path(tmp, "local", "sweep.csv"))
    print(f"  sweep.csv result columns identical (cars sweep --backend local vs ray): {same}")
    return {"csv_identical": same}


def bench_kill(generations: int, workers: int) -> dict:
    sweep = the_sweep(1, generations)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        reference = without_seconds({c.index: run_cell(c.config, tmp / "reference" / c.name) for c in sweep.cells()})
        for name in ("local", "ray"):
            connection = RayConnection(cpus=workers) if name == "ray" else None
            backend = RayCells(connection) if connection else LocalPool(workers)
            pids, events = {}, []

            def kill_once(event: dict) -> None:
                events.append(event)
                if event["type"] == "start":
                    pids[event["cell"]] = event["pid"]
                if event["type"] == "generation" and event["cell"] == 0 and event["generation"] == 10 \
                        and "killed" not in pids:
                    os.kill(pids[0], signal.SIGKILL)
                    pids["killed"] = pids[0]
                    print(f"  {name}: killed worker pid {pids[0]} during cell 0 (after generation 10)")

            outcome = run_sweep(sweep, tmp / name, backend, quiet, plots=False, watch=kill_once)
            if connection:
                connection.close()
            retried = [e["cell"] for e in events if e["type"] == "retry"]
            equal = without_seconds(outcome.results) == reference
            print(f"  {name}: {len(outcome.results)}/{len(outcome.cells)} cells, retried cells {retried}, every "
                  f"result equal to the uninterrupted run: {equal}")
            out[name] = {"cells": len(outcome.results), "retried": retried, "equal": equal}
    return out


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_sharded(population: int, generations: int, workers: int) -> dict:
    """One process vs `workers` shard actors on a local Ray instance: wall-clock car-steps/s, and CPU seconds
    (for the actors: the busiest one's, which is the wall time on cores nobody else uses)."""
    import ray

    from cars.scale.sharded import RayShardedEvaluator

    config = load_config("default", {"evolution.population": population, "evolution.generations": generations})
    timing = ("seconds", "car_steps_per_second")
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("one process", "ray shards"):
            evaluator = RayShardedEvaluator(RayConnection(cpus=workers), shards=workers) if name != "one process" \
                else None
            run = open_run(config, Path(tmp) / name.replace(" ", "-"), log=None, evaluator=evaluator)
            pids = []
            if evaluator is not None:  # the actors' first call starts their processes: not part of the throughput
                run.evaluator.evaluate(run.tracks, run.genomes[: workers * 2], run.config)
                pids = ray.get([actor.pid.remote() for actor in evaluator.actors])
            cpu_before = [process_cpu(p) for p in pids] if pids else [time.process_time()]
            rows = []
            while not run.finished:
                rows.append(run.run_generation())
            cpu_after = [process_cpu(p) for p in pids] if pids else [time.process_time()]
            run.close()
            if evaluator is not None:
                evaluator.close()
            steps, seconds = sum(r["car_steps"] for r in rows), sum(r["seconds"] for r in rows)
            cpu = max(b - a for a, b in zip(cpu_before, cpu_after))
            runs[name] = {"rows": [{k: v for k, v in r.items() if k not in timing} for r in rows],
                          "car_steps_per_second": steps / seconds, "seconds": seconds, "cpu": cpu,
                          "genomes": run.genomes.copy()}
            print(f"  {name:<12}: {generations} generation(s) of {population:,} genomes in {seconds:6.1f}s, "
                  f"{steps / seconds:,.0f} car-steps/s; CPU seconds {cpu:.1f}"
                  + (" (the busiest actor)" if pids else ""))
    a, b = runs["one process"], runs["ray shards"]
    identical = a["rows"] == b["rows"] and bool((a["genomes"] == b["genomes"]).all())
    ratio = b["car_steps_per_second"] / a["car_steps_per_second"]
    cpu_ratio = a["cpu"] / b["cpu"]
    print(f"  fitness and next generation identical: {identical}; throughput ratio (ray / one process): {ratio:.2f} "
          f"wall-clock, {cpu_ratio:.2f} on cores nobody else uses (CPU seconds)")
    return {"identical": identical, "throughput_ratio": ratio, "cpu_throughput_ratio": cpu_ratio,
            "local_cps": a["car_steps_per_second"], "ray_cps": b["car_steps_per_second"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--csv", action="store_true", help="the sweep through cars sweep on both backends once")
    parser.add_argument("--kill", action="store_true")
    parser.add_argument("--sharded", action="store_true")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--generations", type=int, default=30)
    parser.add_argument("--population", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args()
    report: dict = {"load_average_at_start": os.getloadavg()}
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
    if args.sweep:
        reps = []
        for i in range(args.repeat):
            print(f"sweep {len(RATES)} x {args.seeds} seeds x {args.generations} generations, repetition {i + 1}:")
            reps.append(bench_sweep(args.seeds, args.generations, args.workers))
        report["sweep"] = {"repetitions": reps, **{f"median_{k}": statistics.median(r[k] for r in reps) for k in
                                                   ("local_over_serial", "ray_over_local", "ray_with_start_over_local",
                                                    "cpu_local_over_serial")}}
        print({k: round(v, 3) for k, v in report["sweep"].items() if k.startswith("median")})
    if args.csv:
        report["csv"] = bench_csv(args.seeds, args.generations, args.workers)
    if args.kill:
        print(f"kill a worker mid-sweep ({len(RATES)} cells x {args.generations} generations):")
        report["kill"] = bench_kill(args.generations, args.workers)
    if args.sharded:
        reps = []
        for i in range(args.repeat):
            print(f"sharded generations, repetition {i + 1}:")
            reps.append(bench_sharded(args.population, 1, args.workers))
        report["sharded"] = {"repetitions": reps, **{f"median_{k}": statistics.median(r[k] for r in reps)
                                                     for k in ("throughput_ratio", "cpu_throughput_ratio")}}
        print(f"median throughput ratio: {report['sharded']['median_throughput_ratio']:.2f} wall-clock, "
              f"{report['sharded']['median_cpu_throughput_ratio']:.2f} by CPU seconds")
    report["load_average_at_end"] = os.getloadavg()
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
