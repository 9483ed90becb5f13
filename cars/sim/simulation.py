"""One batch of cars driving one track, stepped together as arrays.

Each step, for the m columns of the batch (one per car):
  1. brains: one PopulationNet call maps inputs (m, R + 1) = [ray distances, speed / max_speed]
     to controls (m, 2) = [steering, throttle];
  2. physics moves every car (cars.sim.physics);
  3. the centre and the four body corners are located on the road; a corner off the road is a crash;
     progress, laps and the stop rules advance (cars.sim.progress);
  4. every car casts its rays (cars.sim.sensors), straight into the next step's brain inputs.
No Python loop runs over cars or rays. A car that stops keeps its column, standing still with zero
controls, until 8 + m/8 columns are stopped cars: then the batch is rebuilt from the cars still
driving. Why: rebuilding costs a dozen gathers, a new PopulationNet and new scratch arrays, and a
step of a few cars costs about a hundred numpy calls whatever their number, so for a small batch a
few idle columns cost less than rebuilding each time a car stops; in a large batch idle columns do
cost their share, hence the m/8. A last single car always gets a batch of its own (it then steps at
the cost of one car). Every per-car computation is independent of the batch (no product whose rounding
depends on the batch's size or layout: tests/test_cars_batch_invariance.py), so when cars stopped, and
which cars share a batch, never changes a car's fate. The
public per-car arrays (all n cars; stopped cars keep their last state) are written from the batch
only when read, so a headless run never pays for them.
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
        self.genomes = None if genomes is None else np.asarray(genomes)
        self.net: PopulationNet | None = None  # the batch's brains (see _build_batch_net)
        self._inv_max_speed = np.array(1.0 / config.car.max_speed, dtype=np.float32)

        r = len(self.ray_angles)
        # Public per-car arrays, n cars: the batch writes them when they are read and when a car stops.
        self._state = np.zeros((4, n), dtype=np.float32)  # x, y, heading, speed of every car
        self._state[0], self._state[1] = track.start_position
        self._state[2] = track.start_heading
        self._sensors = np.ones((n, r), dtype=np.float32)
        self._controls = np.zeros((n, 2), dtype=np.float32)
        self._status = np.zeros(n, dtype=np.int8)
        self._alive = np.ones(n, dtype=bool)
        self._units = np.zeros(n)  # signed progress, world units
        self._best = np.zeros(n)  # best progress, world units
        self._laps = np.zeros(n, dtype=np.int64)
        self._best_lap = np.zeros(n, dtype=np.int64)  # steps of the fastest lap, 0 = none yet
        self.steps = 0
        self.done = n == 0

        # The batch: one column per car of _cars; _driving marks the columns whose car still drives.
        self._cars = np.arange(n)
        self._driving = np.ones(n, dtype=bool)
        self._moving = np.ones((n, 1), dtype=np.float32)  # 1 for driving columns, 0 for stopped ones (times controls)
        self._count = n  # cars still driving
        self._cs = self._state.copy()  # x, y, heading, speed (4, m)
        self._prog = Progress(self.road, n, max_laps=self.max_laps,
                              stall_steps=int(round(sim.stall_seconds / sim.dt)),
                              stall_distance=sim.stall_distance, backward_tolerance=sim.backward_tolerance)
        self._inputs = np.empty((r + 1, n), dtype=np.float32)  # brain inputs: ray readings, speed
        self._cctrl = np.zeros((n, 2), dtype=np.float32)
        cos_sin = np.stack([np.cos(self._cs[2]), np.sin(self._cs[2])])
        self.caster.cast_from(self._cs[:2], cos_sin, self._prog.seg, out=self._inputs[:r])
        self._build_batch_net()
        self._dirty = True

    # ---- stepping -------------------------------------------------------------------------------

    def step(self) -> None:
        """Advance every driving car by one time step (no-op once done)."""
        if self.done:
            return
        self.steps += 1
        cs, inputs, r = self._cs, self._inputs, len(self.ray_angles)
        np.multiply(cs[3], self._inv_max_speed, inputs[r])
        controls = self._cctrl = self._drive(inputs)
        cos_sin = self.physics.advance(cs[0], cs[1], cs[2], cs[3], controls[:, 0], controls[:, 1])
        points = self.physics.body(cs[:2], cos_sin)
        self._dirty = True
        stopping = self._prog.advance(points, self.steps, None if self._count == len(self._cars) else self._driving)
        if stopping is not None:
            self._stop(*stopping)
        self.caster.cast_from(cs[:2], cos_sin, self._prog.seg, out=inputs[:r])
        if self.steps >= self.max_steps and self._count:
            self._stop(self._driving.copy(), np.full(len(self._cars), TIMEOUT, dtype=np.int8))
        stopped = len(self._cars) - self._count
        if stopped >= 8 + len(self._cars) // 8 or (self._count == 1 and stopped):
            self._compact()

    def _drive(self, inputs: np.ndarray) -> np.ndarray:
        """Controls (m, 2) of the batch from its inputs (R + 1, m); stopped cars' controls are 0."""
        if self.controller is None:
            controls = self.net.forward(inputs.T)
            if self._count < len(self._cars):
                np.multiply(controls, self._moving, controls)
            return controls
        driving = self._driving if self._count < len(self._cars) else slice(None)
        controls = np.zeros((len(self._cars), 2), dtype=np.float32)
        wanted = self.controller(inputs.T[driving], self._cars[driving].copy())
        controls[driving] = np.clip(np.asarray(wanted, dtype=np.float32), -1, 1)
        return controls

    def run(self, max_steps: int | None = None) -> None:
        """Step until done (or `max_steps` more steps)."""
        for _ in range(max_steps if max_steps is not None else self.max_steps + 1):
            if self.done:
                break
            self.step()

    def stop_all(self) -> None:
        """End the run now: every car still driving stops with status TIMEOUT."""
        if self._count:
            self._stop(self._driving.copy(), np.full(len(self._cars), TIMEOUT, dtype=np.int8))
        self.done = True

    def _stop(self, stop: np.ndarray, reason: np.ndarray) -> None:
        """The driving cars in `stop` (m,) bool stop with `reason` (m,) int8: their final state goes to the
        per-car arrays, and their columns stand still (speed 0, and zero controls from now on)."""
        self._sync()
        cars = self._cars[stop]
        self._status[cars] = reason[stop]
        self._alive[cars] = False
        self._driving &= ~stop
        self._moving[stop] = 0.0
        self._cs[3, stop] = 0.0
        self._count = int(np.count_nonzero(self._driving))
        if not self._count:
            self.done = True

    def _compact(self) -> None:
        """Rebuild the batch from the columns of the cars still driving."""
        if not self._count:
            return
        keep = self._driving
        # np.compress keeps (rows, m) blocks C-contiguous (a[:, mask] would be Fortran-ordered): the brain
        # reads inputs.T, and a matrix product's rounding depends on its operands' layout.
        self._cars, self._cs = self._cars[keep], np.compress(keep, self._cs, axis=1)
        self._inputs, self._cctrl = np.compress(keep, self._inputs, axis=1), self._cctrl[keep]
        self._prog.keep(keep)
        self._driving = np.ones(self._count, dtype=bool)
        self._moving = np.ones((self._count, 1), dtype=np.float32)
        self._build_batch_net()

    def _build_batch_net(self) -> None:
        """The brains of the batch's columns, in column order (so no per-step gather of weights)."""
        if self.controller is None and self.genomes is not None:
            self.net = PopulationNet(self.model, self.genomes[self.genome_index[self._cars]])

    def _sync(self) -> None:
        """Write the state of the driving cars to the per-car arrays."""
        if self._dirty:
            cols = slice(None) if self._count == len(self._cars) else self._driving
            cars, prog = self._cars[cols], self._prog
            self._state[:, cars] = self._cs[:, cols]
            self._sensors[cars] = self._inputs[:-1, cols].T
            self._controls[cars] = self._cctrl[cols]
            self._units[cars], self._best[cars] = prog.units[cols], prog.best[cols]
            self._laps[cars], self._best_lap[cars] = prog.laps[cols], prog.best_lap[cols]
            self._dirty = False

    # ---- per-car views --------------------------------------------------------------------------

    def _view(self, name: str) -> np.ndarray:
        self._sync()
        return getattr(self, name)

    x = property(lambda self: self._view("_state")[0])
    y = property(lambda self: self._view("_state")[1])
    heading = property(lambda self: self._view("_state")[2])
    speed = property(lambda self: self._view("_state")[3])
    laps = property(lambda self: self._view("_laps"))
    best_lap_steps = property(lambda self: self._view("_best_lap"))
    sensors = property(lambda self: self._view("_sensors"))
    controls = property(lambda self: self._view("_controls"))
    alive = property(lambda self: self._alive)
    status = property(lambda self: self._status)

    @property
    def crashed(self) -> np.ndarray:
        return self._status == CRASHED

    @property
    def progress(self) -> np.ndarray:
        """Signed progress along the centerline in laps (negative: behind the start line)."""
        return self._view("_units") / self.track.length

    @property
    def best_progress(self) -> np.ndarray:
        """The most progress each car has made, in laps."""
        return self._view("_best") / self.track.length

    @property
    def next_checkpoint(self) -> np.ndarray:
        """Index into track.checkpoints of the checkpoint each car must cross next."""
        passed = checkpoints_passed(self._view("_best"), self.track.checkpoint_arc, self.track.length)
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
        return self._count

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
        best = np.minimum(self._best / self.track.length, self.max_laps)
        lap = self._best_lap
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
