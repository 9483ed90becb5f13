"""Car dynamics with a fixed time step, on whole arrays of cars at once.

Each car has a position (x, y), a heading (radians; y grows downward so a positive turn is clockwise
on screen) and a speed >= 0 along its heading (no reverse gear). Controls are in [-1, 1]:

    throttle u >= 0 accelerates:   a = u * acceleration;   u < 0 brakes:   a = u * brake
    friction:                      a -= drag * v + rolling
    speed:                         v <- clip(v + a dt, 0, max_speed)
    turning scales with speed:     heading <- heading + steer * turn_rate * min(v / turn_speed, 1) * dt
    position:                      (x, y) <- (x, y) + v dt (cos heading, sin heading)

(semi-implicit Euler: the new speed and heading move the car).
"""

from __future__ import annotations

import numpy as np

from cars.sim.settings import CarConfig


class CarPhysics:
    """Fixed-step dynamics for one car design; all methods work in place on float32 arrays of shape (m,).

    The step runs for every time step of every simulation, mostly on small arrays, where calling a
    numpy function costs more than its arithmetic: so the ufuncs get their output array positionally
    (the `out=` keyword is slower to parse; np.minimum and np.maximum accept only the keyword) and the
    car's constants as 0-d float32 arrays (a Python or numpy scalar argument goes through slower
    scalar promotion). The values are the same.
    """

    def __init__(self, car: CarConfig, dt: float) -> None:
        def f(value: float) -> np.ndarray:
            return np.array(value, dtype=np.float32)

        self.dt = f(dt)
        self.accel_dt, self.brake_dt = f(car.acceleration * dt), f(car.brake * dt)
        self.drag_dt, self.rolling_dt = f(car.drag * dt), f(car.rolling * dt)
        self.max_speed = f(car.max_speed)
        self.turn_dt = f(car.turn_rate * dt)
        self.inv_turn_speed = f(1.0 / car.turn_speed)
        self.half_length, self.half_width = f(car.length / 2), f(car.width / 2)
        self._zero, self._one = f(0), f(1)
        self._per_speed = np.array([[1.0 / car.turn_speed], [dt]], dtype=np.float32)  # grip and step per unit speed
        hl, hw = car.length / 2, car.width / 2
        self._along = np.array([0, hl, hl, -hl, -hl], dtype=np.float32)[:, None]
        left = np.array([0, hw, -hw, -hw, hw], dtype=np.float32)[:, None]
        self._left_signed = np.stack([left, -left])  # (2, 5, 1): the left offset's share of x and of y

    def advance(self, x: np.ndarray, y: np.ndarray, heading: np.ndarray, speed: np.ndarray,
                steer: np.ndarray, throttle: np.ndarray) -> np.ndarray:
        """One time step for m cars: updates x, y, heading, speed (m,) in place from controls (m,) in [-1, 1].

        Returns the cosines and sines of the new headings, (2, m) (`c, s = advance(...)` unpacks them),
        which the body and the rays need next."""
        dv = np.where(np.greater(throttle, self._zero), self.accel_dt, self.brake_dt)
        np.multiply(throttle, dv, dv)  # u * acceleration or u * brake
        np.subtract(dv, np.multiply(speed, self.drag_dt), dv)
        np.subtract(dv, self.rolling_dt, dv)
        np.add(speed, dv, speed)
        np.minimum(speed, self.max_speed, out=speed)
        np.maximum(speed, self._zero, out=speed)
        per_speed = np.multiply(speed, self._per_speed)  # speed / turn_speed, speed * dt
        grip = per_speed[0]
        np.minimum(grip, self._one, out=grip)  # (minimum and maximum take out= only)
        np.multiply(grip, steer, grip)
        np.multiply(grip, self.turn_dt, grip)
        np.add(heading, grip, heading)
        cs = np.empty((2, len(heading)), dtype=heading.dtype)
        np.cos(heading, cs[0])
        np.sin(heading, cs[1])
        move = np.multiply(cs, per_speed[1])
        np.add(x, move[0], x)
        np.add(y, move[1], y)
        return cs

    def body(self, xy: np.ndarray, cs: np.ndarray) -> np.ndarray:
        """Centre and body-rectangle corners of m cars at xy (2, m) with heading cosines and sines cs (2, m).

        Returns points (2, 5, m): [x or y, point, car]; point 0 is the centre, 1-4 the corners front-left,
        front-right, rear-right, rear-left. A point a along the heading and b to its left (90 degrees
        anticlockwise on screen) is at (x + a c + b s, y + a s - b c).
        """
        points = np.multiply(self._along, cs[:, None, :])  # a c, a s
        np.add(points, np.multiply(self._left_signed, cs[::-1, None, :]), points)  # + b s, - b c
        np.add(points, xy[:, None, :], points)
        return points
