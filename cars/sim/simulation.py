"""One batch of cars driving one track, stepped together as arrays.

Each step, for the m cars still driving (and only them: stopped cars leave the batch):
  1. brains: one PopulationNet call maps inputs (m, R + 1) = [ray distances, speed / max_speed]
     to controls (m, 2) = [steering, throttle];
  2. physics moves every car (cars.sim.physics);
  3. the centre and the four body corners are located on the road; a corner off the road is a crash;
     progress, laps and the stop rules advance (cars.sim.progress);
  4. cars that stopped leave the batch; the others cast their rays (cars.sim.sensors).
No Python loop runs over cars or rays. The public per-car arrays (all n cars; stopped cars keep their
last state) are written back from the batch only when read, so a headless run never pays for them.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Callable

import numpy as np

from engine import Module, PopulationNet

from cars.sim.physics import CarPhysics
from cars.sim.progress import CRASHED, RUNNING, STATUS_NAMES, TIMEOUT, Progress, Road, checkpoints_passed
from cars.sim.sensors import RayCaster, ray_angles
from cars.sim.settings import SimSettings
from cars.sim.track import Track

Controller = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""controller(inputs (m, R + 1), cars (m,) indices) -> controls (m, 2): drives cars without a brain."""

_COURSES: OrderedDict[tuple, tuple[Track, Road, RayCaster]] = OrderedDict()


def course_for(track: Track, config: SimSettings) -> tuple[Road, RayCaster]:
    """The road and ray caster of a track for this car and sensor setup (cached: building the
    candidate table costs a few milliseconds, and runs revisit the same tracks every generation)."""
    car, sensors = config.car, config.sensors
    reach = car.max_speed * config.simulation.dt + math.hypot(car.length, car.width) / 2 + 1.0
    key = (id(track), reach, sensors.rays, sensors.angle_deg, sensors.length)
    entry = _COURSES.get(key)
    if entry is None or entry[0] is not track:
        angles = ray_angles(sensors.rays, sensors.angle_deg)
        entry = (track, Road(track, reach), RayCaster(track, angles, sensors.length))
        _COURSES[key] = entry
        while len(_COURSES) > 16:
            _COURSES.popitem(last=False)
    _COURSES.move_to_end(key)
    return entry[1], entry[2]


class Simulation:
    """n cars on one track. genomes: (P, G) brain weights (engine genome layout) for `model`
    (default: the config's brain); car i is driven by genome row genome_index[i] (default i).
    Alternatively `controller` drives the cars (scripted tests, demos).

    Per-car arrays (n,): x, y, heading, speed, alive, crashed, status (see STATUS_NAMES), progress
    (laps, signed), best_progress, laps (completed), best_lap_steps (0 = no lap yet),
    next_checkpoint; sensors (n, R); controls (n, 2); genome_index. Also ray_angles (R,), steps, done.
    """

    def __init__(self, track: Track, config: SimSettings, genomes: np.ndarray | None = None, *,
                 model: Module | None = None, controller: Controller | None = None,
                 genome_index: np.ndarray | None = None, max_steps: int | None = None,
                 max_laps: int | None = None) -> None:
        if (genomes is None or model is None) and controller is None:
            raise ValueError("Simulation needs genomes with their model, or a controller")
        self.track, self.config = track, config
        sim = config.simulation
        if genome_index is None:
            if genomes is None:
                raise ValueError("Simulation with a controller needs genome_index (one entry per car)")
            genome_index = np.arange(len(genomes))
        self.genome_index = np.asarray(genome_index, dtype=np.int64)
        self.n = n = len(self.genome_index)
        self.max_steps = int(max_steps if max_steps is not None else sim.max_steps)
        self.max_laps = int(max_laps if max_laps is not None else sim.max_laps)
        self.dt = sim.dt
        self.physics = CarPhysics(config.car, sim.dt)
        self.road, self.caster = course_for(track, config)
        self.ray_angles = self.caster.angles
        self.controller = controller
        self.model = model
        self.net = PopulationNet(self.model, genomes) if genomes is not None and controller is None else None
        self._inv_max_speed = np.float32(1.0 / config.car.max_speed)

        r = len(self.ray_angles)
        self._state = np.zeros((4, n), dtype=np.float32)  # x, y, heading, speed of every car
        self._state[0], self._state[1] = track.start_position
        self._state[2] = track.start_heading
        self._sensors = np.ones((n, r), dtype=np.float32)
        self._controls = np.zeros((n, 2), dtype=np.float32)
        self._status = np.zeros(n, dtype=np.int8)
        self._alive = np.ones(n, dtype=bool)
        self._pf = np.zeros((5, n))
        self._pi = np.zeros((5, n), dtype=np.int64)
        self.steps = 0
        self.done = n == 0

        # The batch: compact columns for the cars still driving.
        self._idx = np.arange(n)
        self._cs = self._state.copy()
        self._gi = self.genome_index.copy()
        self._prog = Progress(self.road, n, max_laps=self.max_laps,
                              stall_steps=int(round(sim.stall_seconds / sim.dt)),
                              stall_distance=sim.stall_distance, backward_tolerance=sim.backward_tolerance)
        self._cctrl = np.zeros((n, 2), dtype=np.float32)
        c, s = np.cos(self._cs[2]), np.sin(self._cs[2])
        self._csens = self.caster.cast(self._cs[0], self._cs[1], c, s, self._prog.seg)
        self._dirty = True

    # ---- stepping -------------------------------------------------------------------------------

    def step(self) -> None:
        """Advance every driving car by one time step (no-op once done)."""
        if self.done:
            return
        self.steps += 1
        m = len(self._idx)
        cs = self._cs
        inputs = np.empty((len(self.ray_angles) + 1, m), dtype=np.float32)
        inputs[:-1] = self._csens
        np.multiply(cs[3], self._inv_max_speed, out=inputs[-1])
        if self.controller is not None:
            controls = np.clip(np.asarray(self.controller(inputs.T, self._idx.copy()), dtype=np.float32), -1, 1)
        else:
            controls = self.net.forward(inputs.T, rows=self._gi)
        self._cctrl = controls
        c, s = self.physics.advance(cs[0], cs[1], cs[2], cs[3], controls[:, 0], controls[:, 1])
        xs, ys = self.physics.body_points(cs[0], cs[1], c, s)
        self._dirty = True
        result = self._prog.update(xs, ys, self.steps)
        if result is not None:
            stop, reason = result
            keep = ~stop
            self._leave(stop, reason)
            cs, c, s = self._cs, c[keep], s[keep]
        if len(self._idx):
            self._csens = self.caster.cast(cs[0], cs[1], c, s, self._prog.seg)
        if self.steps >= self.max_steps and len(self._idx):
            self._leave(np.ones(len(self._idx), dtype=bool), np.full(len(self._idx), TIMEOUT, dtype=np.int8))
        if not len(self._idx):
            self.done = True

    def run(self, max_steps: int | None = None) -> None:
        """Step until done (or `max_steps` more steps)."""
        for _ in range(max_steps if max_steps is not None else self.max_steps + 1):
            if self.done:
                break
            self.step()

    def stop_all(self) -> None:
        """End the run now: every car still driving stops with status TIMEOUT."""
        if len(self._idx):
            self._leave(np.ones(len(self._idx), dtype=bool), np.full(len(self._idx), TIMEOUT, dtype=np.int8))
        self.done = True

    def _leave(self, stop: np.ndarray, reason: np.ndarray) -> None:
        """Write the final state of the stopping batch columns to the per-car arrays and drop them."""
        self._sync()
        cars = self._idx[stop]
        self._status[cars] = reason[stop]
        self._alive[cars] = False
        keep = ~stop
        self._idx, self._cs, self._gi = self._idx[keep], self._cs[:, keep], self._gi[keep]
        self._csens, self._cctrl = self._csens[:, keep], self._cctrl[keep]
        self._prog.keep(keep)

    def _sync(self) -> None:
        if self._dirty:
            idx = self._idx
            self._state[:, idx] = self._cs
            self._sensors[idx] = self._csens.T
            self._controls[idx] = self._cctrl
            self._pf[:, idx] = self._prog.f
            self._pi[:, idx] = self._prog.i
            self._dirty = False

    # ---- per-car views --------------------------------------------------------------------------

    def _view(self, block: str, row: int) -> np.ndarray:
        self._sync()
        return getattr(self, block)[row]

    x = property(lambda self: self._view("_state", 0))
    y = property(lambda self: self._view("_state", 1))
    heading = property(lambda self: self._view("_state", 2))
    speed = property(lambda self: self._view("_state", 3))
    laps = property(lambda self: self._view("_pi", 1))
    best_lap_steps = property(lambda self: self._view("_pi", 3))
    alive = property(lambda self: self._alive)
    status = property(lambda self: self._status)

    @property
    def crashed(self) -> np.ndarray:
        return self._status == CRASHED

    @property
    def sensors(self) -> np.ndarray:
        self._sync()
        return self._sensors

    @property
    def controls(self) -> np.ndarray:
        self._sync()
        return self._controls

    @property
    def progress(self) -> np.ndarray:
        """Signed progress along the centerline in laps (negative: behind the start line)."""
        return self._view("_pf", 1) / self.track.length

    @property
    def best_progress(self) -> np.ndarray:
        """The most progress each car has made, in laps."""
        return self._view("_pf", 2) / self.track.length

    @property
    def next_checkpoint(self) -> np.ndarray:
        """Index into track.checkpoints of the checkpoint each car must cross next."""
        passed = checkpoints_passed(self._view("_pf", 2), self.track.checkpoint_arc, self.track.length)
        return (passed + 1) % len(self.track.checkpoint_arc)

    @property
    def lap_log(self) -> np.ndarray:
        """Every completed lap so far, (E, 4) int rows (car, lap number, lap steps, at step), in order."""
        events = self._prog.lap_events
        return np.concatenate(events) if events else np.zeros((0, 4), dtype=np.int64)

    @property
    def any_lap(self) -> bool:
        """Whether some car has completed a lap (cheap: no per-car arrays are read)."""
        return bool(self._prog.lap_events)

    @property
    def alive_count(self) -> int:
        return len(self._idx)

    def status_names(self) -> list[str]:
        return [STATUS_NAMES[s] for s in self._status]

    # ---- scoring ---------------------------------------------------------------------------------

    def fitness(self) -> np.ndarray:
        """Fitness of every car in laps, (n,) float64:

            min(best progress, max_laps) + lap_time_weight * (1 - best_lap_steps / max_steps)

        where the second term only counts for cars that completed a lap, so among lap finishers a
        faster lap scores more; 1.0 is one lap of progress.
        """
        self._sync()
        best = np.minimum(self._pf[2] / self.track.length, self.max_laps)
        lap = self._pi[3]
        bonus = np.where(lap > 0, 1.0 - lap / self.max_steps, 0.0)
        return best + self.config.fitness.lap_time_weight * np.clip(bonus, 0.0, 1.0)

    def leader(self) -> int:
        """Index of the best car by fitness, preferring cars still driving."""
        f = self.fitness()
        if self._alive.any():
            f = np.where(self._alive, f, -np.inf)
        return int(np.argmax(f))

    def running(self) -> np.ndarray:
        return self._status == RUNNING
