"""Train the PPO generalist (cars/configs/ppo_generalist.toml) and drive its champion on generated tracks it
never saw (seeds above the training range) and on the shipped tracks.

    python scripts/ppo_generalist.py [--car-steps 2000000] [--seed 1] [--unseen 10] [--json out.json]
    python scripts/ppo_generalist.py --champion runs/x/champion.npz      # only judge a trained champion
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from cars.learn.config import load_config  # noqa: E402
from cars.learn.drive import drive  # noqa: E402
from cars.learn.run import open_run  # noqa: E402
from cars.learn.run_folder import GENERATED_SEEDS  # noqa: E402
from cars.sim.track import load_track, shipped_track_names  # noqa: E402
from cars.sim.trackgen import generate_track  # noqa: E402


def train(car_steps: int, seed: int) -> Path:
    config = load_config("ppo_generalist", {"seed": seed, "algorithm.car_steps": car_steps})
    folder = Path(tempfile.mkdtemp(prefix="ppo-generalist-"))
    run = open_run(config, folder, log=print)
    start = time.perf_counter()
    while not run.finished:
        run.run_generation()
    run.close()
    print(f"trained {run.total_car_steps:,} car-steps in {time.perf_counter() - start:.0f}s; champion fitness "
          f"{run.best_fitness:.3f} (update {run.best['generation'] + 1})")
    return folder / "champion.npz"


def judge(champion: Path, unseen: int) -> dict:
    results = {"unseen": [drive(champion, generate_track(s), laps=1) | {"seed": s}
                          for s in range(GENERATED_SEEDS + 1, GENERATED_SEEDS + 1 + unseen)],
               "shipped": [drive(champion, load_track(n), laps=1) | {"name": n} for n in shipped_track_names()]}
    lapped = sum(r["completed_laps"] >= 1 for r in results["unseen"])
    print(f"unseen generated tracks lapped: {lapped}/{unseen}  "
          + " ".join(f"{r['progress_laps']:.2f}" for r in results["unseen"]))
    for r in results["shipped"]:
        print(f"  {r['name']:<10} laps {r['completed_laps']}  progress {r['progress_laps']:.2f}  {r['status']}")
    results["unseen_lapped"] = lapped
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--car-steps", type=int, default=2_000_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--unseen", type=int, default=10)
    p.add_argument("--champion", type=Path, help="judge this champion instead of training one")
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    champion = args.champion or train(args.car_steps, args.seed)
    results = judge(champion, args.unseen)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
