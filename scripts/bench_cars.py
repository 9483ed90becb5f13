"""Benchmarks of the cars core: simulation throughput, learning speed, generalisation.

    python scripts/bench_cars.py                      # all three (a few minutes)
    python scripts/bench_cars.py --throughput         # car-steps/s at population 100 and 1000
    python scripts/bench_cars.py --throughput --steady-genomes steady.npz   # the same genomes in every checkout
    python scripts/bench_cars.py --env                # the Gymnasium vector env vs the raw simulation, N = 64
    python scripts/bench_cars.py --learning --seeds 10 --generations 15
    python scripts/bench_cars.py --generalisation --generations 30 --unseen 10
    python scripts/bench_cars.py --all --json bench.json

Throughput counts car-steps (one car advanced one time step) per second of wall time, headless,
7 rays. "steady" runs a population of competent drivers (an evolved champion plus small mutations)
so nearly every car drives the whole time; "evolution" is the average over real generations, where
crashed cars leave the batch early.
Learning runs the default config on the default track for each seed and reports the generation in
which a car first completes a full lap. Generalisation evolves `--config generalist` and drives its
champion on procedurally generated tracks it never saw (seeds above the training range) and on the
shipped tracks.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

import engine  # noqa: E402
from cars.learn.brain import build_brain  # noqa: E402
from cars.learn.config import load_config  # noqa: E402
from cars.learn.drive import drive  # noqa: E402
from cars.learn.algorithms.ga import mutate  # noqa: E402
from cars.learn.run import EvolutionRun  # noqa: E402
from cars.learn.run_folder import GENERATED_SEEDS  # noqa: E402
from cars.sim.simulation import Simulation  # noqa: E402
from cars.sim.track import load_track, shipped_track_names  # noqa: E402
from cars.sim.trackgen import generate_track  # noqa: E402


def evolve(config, generations: int, stop_at_first_lap: bool = False) -> tuple[EvolutionRun, Path]:
    folder = Path(tempfile.mkdtemp(prefix="bench-cars-"))
    run = EvolutionRun(config, folder, log=None)
    while not run.finished:
        run.run_generation()
        if stop_at_first_lap and run.first_lap_generation is not None:
            break
    return run, folder


def steady_genomes(populations: list[int], track: str, path: str | None) -> dict[int, np.ndarray]:
    """The steady workload: an evolved champion plus small mutations, (P, G) per population. With `path`
    (.npz, one array p<P> per population) they are loaded when the file holds them, else made and saved
    there, so that two checkouts of the code can be timed on identical genomes."""
    if path and Path(path).exists():
        with np.load(path) as saved:
            if all(f"p{p}" in saved for p in populations):
                return {p: saved[f"p{p}"] for p in populations}
    base = load_config("default", {"evolution.generations": "8", "track.names": json.dumps([track])})
    trained, _ = evolve(base, 8)
    out = {}
    for p in populations:
        rng = np.random.default_rng(0)
        out[p] = mutate(np.repeat(trained.champion_genome[None], p, axis=0), 1.0, 0.003, rng)
        out[p][0] = trained.champion_genome
    if path:
        np.savez(path, **{f"p{p}": g for p, g in out.items()})
    return out


def throughput(populations: list[int], track: str, seconds: float, genomes_path: str | None = None) -> dict:
    workload = steady_genomes(populations, track, genomes_path)
    out = {}
    for p in populations:
        config = load_config("default", {"evolution.population": str(p), "evolution.generations": "10",
                                         "track.names": json.dumps([track]), "simulation.max_laps": "1000"})
        model = build_brain(config.brain, config.sensors.rays + 1)
        sim = Simulation(load_track(track), config, workload[p], model=model)
        sim.step()
        steps = car_steps = 0
        start, cpu = time.perf_counter(), time.process_time()
        while not sim.done and time.perf_counter() - start < seconds:
            car_steps += sim.alive_count
            sim.step()
            steps += 1
        steady = car_steps / (time.perf_counter() - start)
        steady_cpu = car_steps / max(time.process_time() - cpu, 1e-9)
        alive = car_steps / max(steps, 1) / p
        cpu = time.process_time()
        run, _ = evolve(config, 10)
        evo = sum(r["car_steps"] for r in run.history) / sum(r["seconds"] for r in run.history)
        evo_cpu = sum(r["car_steps"] for r in run.history) / max(time.process_time() - cpu, 1e-9)
        out[p] = {"steady_car_steps_per_second": steady, "mean_alive_fraction": alive,
                  "evolution_car_steps_per_second": evo, "evolution_to_steady": evo / steady,
                  "steady_car_steps_per_cpu_second": steady_cpu, "evolution_car_steps_per_cpu_second": evo_cpu}
        print(f"population {p:5d}: steady {steady:10,.0f} car-steps/s ({alive:.0%} of cars driving)   "
              f"evolution {evo:10,.0f} car-steps/s (10 generations from random brains)   "
              f"evolution/steady {evo / steady:.2f}   per CPU second: {steady_cpu:,.0f} and {evo_cpu:,.0f}")
    return out


def learning(seeds: list[int], generations: int) -> dict:
    firsts = []
    for seed in seeds:
        config = load_config("default", {"seed": str(seed), "evolution.generations": str(generations)})
        start = time.perf_counter()
        run, _ = evolve(config, generations, stop_at_first_lap=True)
        first = None if run.first_lap_generation is None else run.first_lap_generation + 1
        firsts.append(first)
        print(f"seed {seed:3d}: first full lap in generation {first if first else f'> {generations}'} "
              f"({time.perf_counter() - start:.1f}s)")
    done = [f for f in firsts if f is not None]
    median = statistics.median([f if f is not None else generations + 1 for f in firsts])
    print(f"learning: {len(done)}/{len(firsts)} seeds lap within {generations} generations; "
          f"median first-lap generation {median:g}")
    return {"first_lap_generation": firsts, "within": len(done), "seeds": len(firsts), "median": median}


def generalisation(generations: int, unseen: int, seed: int) -> dict:
    config = load_config("generalist", {"seed": str(seed), "evolution.generations": str(generations)})
    start = time.perf_counter()
    run, folder = evolve(config, generations)
    champion = folder / "champion.npz"
    print(f"generalist: {generations} generations in {time.perf_counter() - start:.0f}s, "
          f"best fitness {run.best_fitness:.3f}; trained on {', '.join(config.track.names)} "
          f"+ {config.track.generated} generated per generation")
    results = {"unseen": [], "shipped": []}
    for s in range(GENERATED_SEEDS + 1, GENERATED_SEEDS + 1 + unseen):
        r = drive(champion, generate_track(s), laps=1)
        results["unseen"].append({"seed": s, **r})
    for name in shipped_track_names():
        r = drive(champion, load_track(name), laps=1)
        results["shipped"].append({"name": name, "trained_on": name in config.track.names, **r})
    laps_unseen = sum(r["completed_laps"] >= 1 for r in results["unseen"])
    print(f"unseen generated tracks lapped: {laps_unseen}/{unseen}  "
          + " ".join(f"{r['progress_laps']:.2f}" for r in results["unseen"]))
    for r in results["shipped"]:
        tag = "trained" if r["trained_on"] else "unseen "
        print(f"  {tag} {r['name']:<10} laps {r['completed_laps']}  progress {r['progress_laps']:.2f}  {r['status']}")
    results["unseen_lapped"] = laps_unseen
    results["shipped_unseen_lapped"] = sum(r["completed_laps"] >= 1 for r in results["shipped"] if not r["trained_on"])
    results["shipped_unseen"] = sum(not r["trained_on"] for r in results["shipped"])
    return results


def env_throughput(track: str, cars: int, seconds: float, rounds: int = 3) -> dict:
    """Car-steps/s of the Gymnasium vector env (cars.sim.env) against the raw Simulation, same N competent
    drivers (an evolved champion), measured alternately in one run; the env's actions come from the champion
    brain reading the env's observations (as a learner's policy would)."""
    from cars.sim.env import CarTrackVectorEnv

    base = load_config("default", {"evolution.generations": "8", "track.names": json.dumps([track])})
    trained, _ = evolve(base, 8)
    config = load_config("default", {"track.names": json.dumps([track]), "simulation.max_laps": "1000",
                                     "simulation.max_steps": "1000000"})
    genomes = np.repeat(trained.champion_genome[None], cars, axis=0)
    brain = trained.model
    engine.set_genome(brain, trained.champion_genome)
    sims, envs = [], []
    for _ in range(rounds):
        sim = Simulation(load_track(track), config, genomes, model=trained.model)
        sim.step()
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            count += sim.alive_count
            sim.step()
        sims.append(count / (time.perf_counter() - start))
        env = CarTrackVectorEnv(cars, [track], settings=config)
        obs, _ = env.reset(seed=0)
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            obs, *_ = env.step(brain.forward(obs))
            count += cars
        envs.append(count / (time.perf_counter() - start))
    sim_rate, env_rate = statistics.median(sims), statistics.median(envs)
    print(f"env N={cars}: vector env {env_rate:10,.0f} car-steps/s, raw simulation {sim_rate:10,.0f} car-steps/s "
          f"(steady, median of {rounds}): ratio {env_rate / sim_rate:.2f}")
    return {"cars": cars, "env_car_steps_per_second": env_rate, "simulation_car_steps_per_second": sim_rate,
            "ratio": env_rate / sim_rate}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--throughput", action="store_true")
    p.add_argument("--learning", action="store_true")
    p.add_argument("--generalisation", action="store_true")
    p.add_argument("--env", action="store_true", help="vector env vs raw simulation car-steps/s at N=64")
    p.add_argument("--all", action="store_true")
    p.add_argument("--populations", default="100,1000", help="throughput populations (default 100,1000)")
    p.add_argument("--track", default="sbends", help="throughput track (default sbends, the default config's)")
    p.add_argument("--seconds", type=float, default=5.0, help="steady throughput measuring time per population")
    p.add_argument("--steady-genomes", metavar="NPZ", help="throughput: load the steady workload's genomes from this "
                   "file, or make and save them there (to time two checkouts on identical genomes)")
    p.add_argument("--seeds", type=int, default=10, help="learning: seeds 1..N (default 10)")
    p.add_argument("--generations", type=int, default=None,
                   help="learning: generation cap (default 15); generalisation: generations (default 30)")
    p.add_argument("--unseen", type=int, default=10, help="generalisation: unseen generated tracks (default 10)")
    p.add_argument("--seed", type=int, default=1, help="generalisation: training seed")
    p.add_argument("--json", metavar="PATH", help="write all figures as JSON")
    args = p.parse_args(argv)
    everything = args.all or not (args.throughput or args.learning or args.generalisation or args.env)
    report: dict = {"engine_numpy": np.__version__, "engine": engine.__name__}
    if everything or args.throughput:
        report["throughput"] = throughput([int(x) for x in args.populations.split(",")], args.track, args.seconds,
                                          args.steady_genomes)
    if everything or args.env:
        report["env"] = env_throughput(args.track, 64, args.seconds)
    if everything or args.learning:
        report["learning"] = learning(list(range(1, args.seeds + 1)), args.generations or 15)
    if everything or args.generalisation:
        report["generalisation"] = generalisation(args.generations or 30, args.unseen, args.seed)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=float) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
