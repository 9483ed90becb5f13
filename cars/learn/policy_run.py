"""PolicyRun: the update loop of the policy-gradient learners (PPO, REINFORCE) behind the same run interface
as EvolutionRun, so `cars train`, its window and its run folder work unchanged.

    run = PolicyRun(load_config("ppo"), "runs/ppo")
    while not run.finished:
        for row in run.step(1000):       # environment steps (every car moves once); finished updates
            print(row["generation"], row["mean_return"])
    run.close()

An update: the N cars of a CarTrackVectorEnv (cars.sim.env) drive with the current stochastic policy
(PPO: rollout_steps steps, episodes carry on across updates; REINFORCE: until every car's fresh
episode has ended), the learner trains on the rollout, the deterministic policy (mean action) drives
the run's tracks alone (a Simulation, not counted as car-steps) and becomes the champion if it scores
the best fitness so far; then the history row is written and the run folder saved.

Car-steps count the transitions learned from: a car's step in its episode (not the step that only
respawns it, nor the evaluation drives). first_lap_car_steps is the count when some learning car first
completes a full lap. Every random choice flows from config.seed (weights, action noise, minibatches,
generated tracks, random starts); the checkpoint holds the networks, Adam's moments, the observation
statistics, every car's state and both random generators at an update boundary, so --resume repeats
exactly what an uninterrupted run does.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

import engine
from engine import blas_threads
from cars.learn.config import Config, live_settings
from cars.learn.algorithms.policy import ActorCritic
from cars.learn.algorithms.ppo import PPO
from cars.learn.algorithms.reinforce import REINFORCE
from cars.learn.algorithms.rollout import Rollout
from cars.learn.run_files import RunError
from cars.learn.run_folder import GENERATED_SEEDS, RunFolder
from cars.sim.env import CarTrackVectorEnv
from cars.sim.simulation import Simulation
from cars.sim.track import Track

POLICY_LEARNERS: dict[str, type] = {"ppo": PPO, "reinforce": REINFORCE}
EPISODE_COLUMNS = ("generation", "total_car_steps", "mean_return", "episodes", "best_fitness", "mean_fitness",
                   "median_fitness", "eval_fitness", "laps", "best_lap_seconds", "policy_std")
TIMING_COLUMNS = ("seconds", "car_steps", "car_steps_per_second")


class PolicyRun(RunFolder):
    """One policy-gradient run folder; see the module docstring. The window drives it with step()."""

    unit = "update"
    champion_notes = {"policy": "deterministic (the Gaussian policy's mean action); the observation normaliser is "
                                "folded into the first layer, so it reads raw observations"}

    def __init__(self, config: Config, save_dir: str | os.PathLike, *, resume: bool = False,
                 log: Callable[[str], None] | None = print) -> None:
        self.env: CarTrackVectorEnv | None = None
        self.env_tracks: list[str] = []  # names / paths, and "generated:<seed>" for generated tracks
        self.sim: FleetView | None = None
        self._driver: tuple[int, engine.Module] | None = None
        super().__init__(config, save_dir, resume=resume, log=log)

    # ---- setup ------------------------------------------------------------------------------------------

    @property
    def section(self) -> Any:
        return getattr(self.config, self.config.algorithm.name)

    def _setup(self, config: Config) -> None:
        self.config = self.next_config = config
        self.inputs = config.sensors.rays + 1
        self.rng = np.random.default_rng(config.seed)
        self.agent = ActorCritic(config, self.inputs, self.rng)
        self.learner = POLICY_LEARNERS[config.algorithm.name](self.agent, self.rng)
        self.genome_size = engine.genome_size(self.agent.mean_net)
        self.live = live_settings(config)
        self.columns = (*EPISODE_COLUMNS, *self.learner.stats, *TIMING_COLUMNS,
                        *[name.partition(".")[2] for name in self.live], "tracks")

    # ---- the update loop --------------------------------------------------------------------------------

    @property
    def total_generations(self) -> int:
        return int(self.section.updates)

    elites = 0  # no car is carried over unchanged (the window draws none gold)
    gold_label = "elite"

    @property
    def tracks(self) -> list[Track]:
        return self.env.tracks if self.env is not None else [self._track(n) for n in self.track_names]

    @property
    def track(self) -> Track:
        return self.tracks[0]

    def _wanted_tracks(self) -> list[str]:
        generated = self.config.track.generated
        seeds = self.rng.integers(0, GENERATED_SEEDS, size=generated) if generated else []
        return list(self.track_names) + [f"generated:{int(s)}" for s in seeds]

    def _begin(self) -> None:
        """New tracks if due (generated ones every update), fresh episodes for an episodic learner, an empty
        rollout."""
        if self.finished:
            self.sim = None
            return
        wanted = self._wanted_tracks() if (self.env is None or self.config.track.generated
                                           or self.env_tracks[:len(self.track_names)] != self.track_names) \
            else self.env_tracks
        if self.env is None:
            self.env = CarTrackVectorEnv(self.section.envs, [self._track(t) for t in wanted], settings=self.config,
                                         reward=self.section)
            self.env.reset(seed=int(self.rng.integers(0, 2 ** 63)))
        elif wanted != self.env_tracks:
            self.env.reset(options={"tracks": [self._track(t) for t in wanted]})
        elif self.learner.episodic:
            self.env.reset()
        self.env_tracks = wanted
        self.obs = self.env.observations
        self.rollout = Rollout(self.learner.rollout_steps(self.config), self.env.num_envs, self.inputs)
        self._episode_over = np.zeros(self.env.num_envs, dtype=bool)  # episodic: the car's episode has ended
        self._episodes: list[dict[str, np.ndarray]] = []
        self._car_steps = 0
        self._started = time.perf_counter()
        if self.sim is None or self.sim.fleet is not self.env.fleets[0]:
            self.sim = FleetView(self.env.fleets[0], self)

    def step(self, n: int = 1) -> list[dict[str, Any]]:
        """Advance up to n environment steps; returns the history rows of updates finished meanwhile."""
        rows = []
        with blas_threads(1):  # small products: a second BLAS thread only competes for the 2 cores (8x slower)
            for _ in range(max(0, int(n))):
                if self.finished:
                    break
                self._env_step()
                if self._rollout_done():
                    rows.append(self._finish_update())
        return rows

    def _rollout_done(self) -> bool:
        return self.rollout.full or (self.learner.episodic and bool(self._episode_over.all()))

    def _env_step(self) -> None:
        agent, env = self.agent, self.env
        valid = ~env.autoresetting & ~self._episode_over
        if agent.normalise_inputs:
            agent.norm.update(self.obs[valid])
        x = agent.inputs(self.obs)
        actions, log_probs, values = agent.act(x, self.rng)
        self.obs, rewards, terminated, truncated, infos = env.step(actions)
        self.rollout.add(x, actions, log_probs, values, rewards, terminated, truncated, valid)
        self._car_steps += int(np.count_nonzero(valid))
        if "lap" in infos and self.first_lap_car_steps is None and np.any(infos["lap"] & valid):
            self.first_lap_car_steps = self.total_car_steps + self._car_steps
            self.first_lap_generation = self.generation
        if "episode" in infos:
            ended = infos["_episode"] & valid
            if ended.any():
                self._episodes.append({k: v[ended] for k, v in infos["episode"].items()})
        if self.learner.episodic:
            self._episode_over |= terminated | truncated

    def run_generation(self) -> dict[str, Any] | None:
        """Step until the current update is done; its history row (None if the run is finished)."""
        with blas_threads(1):
            while not self.finished:
                self._env_step()
                if self._rollout_done():
                    return self._finish_update()
        return None

    def end_generation_now(self) -> dict[str, Any] | None:
        """Learn from the rollout collected so far, now."""
        if self.finished or self.rollout.t == 0:
            return None
        with blas_threads(1):
            return self._finish_update()

    def _finish_update(self) -> dict[str, Any]:
        self.rollout.finish(self.agent.value(self.agent.inputs(self.obs)))
        self.config = self.next_config  # live tweaks come into force for this update's learning
        stats = self.learner.update(self.rollout, self.config)
        if not all(np.isfinite(v) for v in stats.values()) or not np.all(np.isfinite(self.agent.log_std.data)):
            raise RunError(f"{self.save_dir}: update {self.generation + 1} made the networks non-finite (is the "
                           f"learning rate far too large?)")
        self._driver = None
        evaluation = self._evaluate() if (self.generation + 1) % self.section.eval_every == 0 else None
        row = self._history_row(stats, evaluation)
        return self._close_round(row)

    def _evaluate(self) -> float:
        """The deterministic policy alone on each of the update's tracks: the GA's fitness, aggregated like the
        GA's; a new best makes it the champion."""
        driver = self.driver()
        genome = engine.get_genome(driver)[None]
        scores = []
        for track in self.env.tracks:
            sim = Simulation(track, self.config, genome, model=driver)
            sim.run()
            scores.append(float(sim.fitness()[0]))
        fitness = min(scores) if self.config.fitness.aggregate == "worst" else float(np.mean(scores))
        self._keep_champion(genome[0], fitness, self.env.tracks)
        return fitness

    def _history_row(self, stats: dict[str, float], evaluation: float | None) -> dict[str, Any]:
        seconds = time.perf_counter() - self._started
        episodes = {k: np.concatenate([e[k] for e in self._episodes]) for k in ("r", "fitness", "laps")} \
            if self._episodes else None
        laps = [e["laps"] for e in self._episodes]
        lap_steps = np.concatenate([f.best_lap_steps[f.best_lap_steps > 0] for f in self.env.fleets])
        row = {
            "generation": self.generation,
            "total_car_steps": self.total_car_steps + self._car_steps,
            "mean_return": float(np.mean(episodes["r"])) if episodes else None,
            "episodes": len(episodes["r"]) if episodes else 0,
            "best_fitness": float(np.max(episodes["fitness"])) if episodes else None,
            "mean_fitness": float(np.mean(episodes["fitness"])) if episodes else None,
            "median_fitness": float(np.median(episodes["fitness"])) if episodes else None,
            "eval_fitness": evaluation,
            "laps": int(max(np.max(np.concatenate(laps)) if laps else 0, max(int(f.laps.max()) for f in self.env.fleets))),
            "best_lap_seconds": float(lap_steps.min() * self.config.simulation.dt) if len(lap_steps) else None,
            "policy_std": " ".join(f"{s:.3f}" for s in self.agent.std),
            **stats,
            "seconds": seconds,
            "car_steps": self._car_steps,
            "car_steps_per_second": self._car_steps / max(seconds, 1e-9),
            **self._live_values(self.config),
            "tracks": ";".join(t.name for t in self.env.tracks),
        }
        return row

    def _log_row(self, row: dict[str, Any]) -> None:
        total, done = self.total_generations, row["generation"] + 1
        ret = f"{row['mean_return']:8.2f}" if row["mean_return"] is not None else "       -"
        best = f"{row['best_fitness']:.3f}" if row["best_fitness"] is not None else "  -  "
        ev = f"{row['eval_fitness']:.3f}" if row["eval_fitness"] is not None else "  -  "
        self.log(f"update {done:>4}/{total}  car-steps {row['total_car_steps']:>10,}  return {ret}  best {best}  "
                 f"eval {ev}  laps {row['laps']}  std {row['policy_std']}  entropy {row['entropy']:5.2f}  "
                 f"{row['car_steps_per_second'] / 1000:5.0f}k car-steps/s  {row['seconds']:5.1f}s  "
                 f"ETA {self._eta(done)}")

    # ---- live settings, tracks, brains ------------------------------------------------------------------

    def driver(self) -> engine.Module:
        """The current deterministic policy as a brain on raw observations (cached until the next update)."""
        if self._driver is None or self._driver[0] != self.generation:
            self._driver = (self.generation, self.agent.driver())
        return self._driver[1]

    def brain_for(self, car_index: int) -> engine.Module:
        """Every car is driven by the one policy: its mean network, normaliser folded in."""
        return self.driver()

    def hud_rows(self) -> list[tuple[str, str]]:
        last = self.history[-1] if self.history else {}
        ret = last.get("mean_return")
        std = " / ".join(f"{s:.2f}" for s in self.agent.std)
        return [("update", f"{min(self.generation + 1, self.total_generations)} / {self.total_generations}"),
                ("car-steps", f"{self.total_car_steps + getattr(self, '_car_steps', 0):,}"),
                ("mean return", "-" if ret is None else f"{ret:.2f}"),
                ("policy std", f"{std}  (steer / gas)"),
                ("entropy", f"{self.agent.entropy():.3f}")]

    def plot_history(self) -> Path:
        """history.png: returns and fitness per update (cars.learn.policy_plot)."""
        from cars.learn.policy_plot import plot_policy_history

        title = f"cars {self.config.algorithm.name}: {self.history[-1]['tracks'].replace(';', ', ')}"
        return plot_policy_history(self.history, self.save_dir / "history.png", title)

    def report_fields(self) -> dict[str, Any]:
        """The --json fields of a policy-gradient run besides the common ones."""
        return {"updates": len(self.history)}

    # ---- checkpoint -----------------------------------------------------------------------------------

    def _learner_state(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
        """The networks, Adam and the normaliser (finite), and the environment's cars at this boundary."""
        agent = {f"agent.{k}": v for k, v in self.agent.state().items()}
        env, env_state = {}, None
        if self.env is not None:
            env_arrays, env_state = self.env.get_state()
            env = {f"env.{k}": np.array(v, copy=True) for k, v in env_arrays.items()}
        return agent, env, {"env": env_state, "env_tracks": list(self.env_tracks)}

    def _restore(self, arrays: dict[str, np.ndarray], state: dict[str, Any], path: Path) -> None:
        self.agent.restore({k[len("agent."):]: v for k, v in arrays.items() if k.startswith("agent.")})
        self.env_tracks = list(state.get("env_tracks", []))
        if state.get("env") is not None:
            self.env = CarTrackVectorEnv(self.section.envs, [self._track(t) for t in self.env_tracks],
                                         settings=self.config, reward=self.section)
            self.env.reset(seed=0)
            self.env.set_state({k[len("env."):]: v for k, v in arrays.items() if k.startswith("env.")}, state["env"])

    def _champion_model(self) -> engine.Module:
        return self.agent.driver()


class FleetView:
    """The cars the window draws: the first track's fleet of the run's environment, with the rollout's step
    as `steps` (of `max_steps`, the rollout's length)."""

    def __init__(self, fleet: Any, run: PolicyRun) -> None:
        self.fleet, self.run = fleet, run

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fleet, name)

    @property
    def steps(self) -> int:
        return self.run.rollout.t

    @property
    def max_steps(self) -> int:
        return self.run.rollout.steps
