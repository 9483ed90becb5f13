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
    """Fixed-step dynamics for one car design; all methods work in place on float32 arrays of shape (m,)."""

    def __init__(self, car: CarConfig, dt: float) -> None:
        f = np.float32
        self.dt = f(dt)
        self.accel_dt, self.brake_dt = f(car.acceleration * dt), f(car.brake * dt)
        self.drag_dt, self.rolling_dt = f(car.drag * dt), f(car.rolling * dt)
        self.max_speed = f(car.max_speed)
        self.turn_dt = f(car.turn_rate * dt)
        self.inv_turn_speed = f(1.0 / car.turn_speed)
        self.half_length, self.half_width = f(car.length / 2), f(car.width / 2)
        hl, hw = car.length / 2, car.width / 2
        self._along = np.array([0, hl, hl, -hl, -hl], dtype=np.float32)[:, None]
        self._left = np.array([0, hw, -hw, -hw, hw], dtype=np.float32)[:, None]

    def advance(self, x: np.ndarray, y: np.ndarray, heading: np.ndarray, speed: np.ndarray,
                steer: np.ndarray, throttle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One time step for m cars: updates x, y, heading, speed (m,) in place from controls (m,) in [-1, 1].

        Returns cos and sin of the new headings (m,), which the body and the rays need next."""
        dv = throttle * np.where(throttle > 0, self.accel_dt, self.brake_dt)
        dv -= speed * self.drag_dt
        dv -= self.rolling_dt
        speed += dv
        np.minimum(speed, self.max_speed, out=speed)
        np.maximum(speed, 0, out=speed)
        grip = np.minimum(speed * self.inv_turn_speed, 1)
        grip *= steer
        grip *= self.turn_dt
        heading += grip
        c, s = np.cos(heading), np.sin(heading)
        step = speed * self.dt
        x += step * c
        y += step * s
        return c, s

    def body_points(self, x: np.ndarray, y: np.ndarray, c: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centre and body-rectangle corners of m cars at (x, y) with heading cosines/sines c, s (m,).

        Returns xs, ys (5, m): row 0 the centre, rows 1-4 the corners front-left, front-right,
        rear-right, rear-left. A point a along the heading and b to its left (90 degrees anticlockwise
        on screen) is at (x + a c + b s, y + a s - b c).
        """
        xs = self._along * c
        xs += self._left * s
        xs += x
        ys = self._along * s
        ys -= self._left * c
        ys += y
        return xs, ys
