"""Our PPO against Stable-Baselines3's PPO on the same single-car environment, in one run.

    python scripts/sb3_reference.py --python /path/to/python-with-sb3 [--seeds 5] [--sb3-seeds 3]
                                    [--car-steps 1000000] [--ours-car-steps 500000] [--json out.json]

Ours: `cars train --algo ppo` with the shipped ppo config (N cars of one CarTrackVectorEnv stepped as
arrays), run for --ours-car-steps car-steps per seed; reported: the car-steps until some learning car
first completes a full lap, car-steps per second, and whether the champion then drives 2 clean laps.
Reference: Stable-Baselines3 PPO on our registered single-car env "NeuroSandbox/CarTrack-v0" (same
track, same reward, envs copies in SB3's DummyVecEnv, the ppo config's hyperparameters, obs normalised
by VecNormalize), stopped at its first lap or after --car-steps. Stable-Baselines3 needs PyTorch, which
the project never depends on: the reference runs in the Python given by --python (pip install
stable-baselines3), as a subprocess of this script (`--worker`). Seeds alternate between the two so
both see the same machine load; the ratio of the medians is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ours(seed: int, car_steps: int, track: str) -> dict:
    sys.path.insert(0, str(ROOT))
    from cars.learn.config import load_config
    from cars.learn.drive import drive
    from cars.learn.run import open_run
    from cars.sim.track import load_track

    config = load_config("ppo", {"seed": seed, "algorithm.car_steps": car_steps, "ppo.updates": 1_000_000,
                                 "track.names": [track]})
    folder = Path(tempfile.mkdtemp(prefix="ppo-ref-"))
    run = open_run(config, folder, log=None)
    start = time.perf_counter()
    while not run.finished:
        run.run_generation()
    seconds = time.perf_counter() - start
    run.close()
    laps = drive(folder / "champion.npz", load_track(track), laps=2)
    return {"first_lap_car_steps": run.first_lap_car_steps, "car_steps": run.total_car_steps, "seconds": seconds,
            "car_steps_per_second": run.total_car_steps / seconds, "champion_laps": laps["completed_laps"],
            "champion_status": laps["status"], "champion_fitness": run.best_fitness, "folder": str(folder)}


def worker(seed: int, car_steps: int, track: str) -> dict:
    """Runs inside the reference Python: SB3 PPO with the ppo config's hyperparameters on our single-car env."""
    sys.path.insert(0, str(ROOT))
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    from cars.learn.config import load_config
    from cars.sim.env import CarTrackEnv

    torch.set_num_threads(1)  # like ours (one BLAS thread): the machine's cores are shared
    config = load_config("ppo", {"track.names": [track]})
    p = config.ppo

    class FirstLap(BaseCallback):
        first: int | None = None

        def _on_step(self) -> bool:
            if any(info.get("laps", 0) >= 1 for info in self.locals["infos"]):
                self.first = self.num_timesteps
                return False
            return True

    env = make_vec_env(lambda: CarTrackEnv(track, settings=config, reward=p), n_envs=p.envs, seed=seed)
    env = VecNormalize(env, norm_obs=True, norm_reward=False, clip_obs=1e6, gamma=p.gamma)
    model = PPO("MlpPolicy", env, learning_rate=p.learning_rate, n_steps=p.rollout_steps,
                batch_size=p.envs * p.rollout_steps // p.minibatches, n_epochs=p.epochs, gamma=p.gamma,
                gae_lambda=p.gae_lambda, clip_range=p.clip_range, ent_coef=p.entropy_coef, vf_coef=p.value_coef,
                max_grad_norm=p.max_grad_norm, seed=seed, device="cpu", verbose=0,
                policy_kwargs={"net_arch": {"pi": list(config.brain.hidden), "vf": list(config.brain.hidden)},
                               "activation_fn": torch.nn.Tanh, "log_std_init": p.log_std_init})
    callback = FirstLap()
    start = time.perf_counter()
    model.learn(total_timesteps=car_steps, callback=callback)
    seconds = time.perf_counter() - start
    return {"first_lap_car_steps": callback.first, "car_steps": model.num_timesteps, "seconds": seconds,
            "car_steps_per_second": model.num_timesteps / seconds}


def median(values: list, missing: float) -> float:
    return statistics.median([v if v is not None else missing for v in values])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--python", help="a Python with stable-baselines3 (and torch) installed")
    p.add_argument("--seeds", type=int, default=5, help="seeds of our PPO (1..N)")
    p.add_argument("--sb3-seeds", type=int, default=3, help="seeds of the SB3 reference (1..N)")
    p.add_argument("--car-steps", type=int, default=1_000_000, help="budget of the SB3 runs (they stop at a lap)")
    p.add_argument("--ours-car-steps", type=int, default=500_000, help="car-steps of each of our runs")
    p.add_argument("--track", default="sbends")
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.seed, args.car_steps, args.track)))
        return 0
    results: dict = {"ours": {}, "sb3": {}, "track": args.track}
    for seed in range(1, max(args.seeds, args.sb3_seeds) + 1):
        if seed <= args.seeds:
            r = results["ours"][seed] = ours(seed, args.ours_car_steps, args.track)
            print(f"ours seed {seed}: first lap after {r['first_lap_car_steps']} car-steps, "
                  f"{r['car_steps_per_second']:,.0f} car-steps/s; champion {r['champion_laps']}/2 laps "
                  f"({r['champion_status']})", flush=True)
        if seed <= args.sb3_seeds and args.python:
            out = subprocess.run([args.python, __file__, "--worker", "--seed", str(seed), "--car-steps",
                                  str(args.car_steps), "--track", args.track], capture_output=True, text=True,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)})
            if out.returncode:
                print(f"sb3 seed {seed} failed: {out.stderr.strip().splitlines()[-1:]}")
                continue
            r = results["sb3"][seed] = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"sb3  seed {seed}: first lap after {r['first_lap_car_steps']} car-steps, "
                  f"{r['car_steps_per_second']:,.0f} car-steps/s", flush=True)
    o, s = results["ours"].values(), results["sb3"].values()
    ours_first = median([r["first_lap_car_steps"] for r in o], float("inf"))
    print(f"ours: median first lap {ours_first:,.0f} car-steps over {len(o)} seeds, worst "
          f"{max((r['first_lap_car_steps'] or float('inf')) for r in o):,.0f}; median "
          f"{statistics.median(r['car_steps_per_second'] for r in o):,.0f} car-steps/s; champions lapping twice: "
          f"{sum(r['champion_laps'] >= 2 for r in o)}/{len(o)}")
    if s:
        sb3_first = median([r["first_lap_car_steps"] for r in s], float("inf"))
        print(f"sb3:  median first lap {sb3_first:,.0f} car-steps over {len(s)} seeds; median "
              f"{statistics.median(r['car_steps_per_second'] for r in s):,.0f} car-steps/s")
        print(f"ratio ours/sb3: car-steps to a first lap {ours_first / sb3_first:.2f}x, car-steps per second "
              f"{statistics.median(r['car_steps_per_second'] for r in o) / statistics.median(r['car_steps_per_second'] for r in s):.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
