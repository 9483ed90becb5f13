"""Learning-rate schedules. A schedule reads the optimiser's learning rate at construction as its
base rate ``lr0``, sets ``optimizer.lr = lr_at(0)``, and each ``step()`` advances one step and sets
``optimizer.lr = lr_at(step)``. Steps are optimiser updates (batches), not epochs, unless you call
``step()`` once per epoch."""

from __future__ import annotations

import math

from .optim import Optimizer


class Schedule:
    """Base class: ``lr_at(step) -> float``, ``step()``, ``steps`` (number of ``step()`` calls so far)."""

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        self.base_lr = float(optimizer.lr)
        self.steps = 0
        optimizer.lr = self.lr_at(0)

    def lr_at(self, step: int) -> float:
        raise NotImplementedError

    def step(self) -> float:
        self.steps += 1
        self.optimizer.lr = self.lr_at(self.steps)
        return self.optimizer.lr


class StepLR(Schedule):
    """``lr(t) = lr0 * gamma ** floor(t / step_size)``."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        if step_size < 1:
            raise ValueError(f"StepLR step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = int(step_size), float(gamma)
        super().__init__(optimizer)

    def lr_at(self, step: int) -> float:
        return self.base_lr * self.gamma ** (step // self.step_size)


class CosineLR(Schedule):
    """Linear warm-up then cosine decay from ``lr0`` to ``min_lr`` at ``total_steps`` (held after).

        t < w:      lr(t) = lr0 * (t + 1) / w                         (w = warmup_steps)
        t >= w:     lr(t) = min_lr + (lr0 - min_lr) * (1 + cos(pi * q)) / 2,   q = min(1, (t - w) / (T - w))
    """

    def __init__(self, optimizer: Optimizer, total_steps: int, min_lr: float = 0.0, warmup_steps: int = 0) -> None:
        if total_steps < 1 or not 0 <= warmup_steps < total_steps:
            raise ValueError(f"CosineLR needs total_steps >= 1 and 0 <= warmup_steps < total_steps, got "
                             f"{total_steps} and {warmup_steps}")
        self.total_steps, self.min_lr, self.warmup_steps = int(total_steps), float(min_lr), int(warmup_steps)
        super().__init__(optimizer)

    def lr_at(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.base_lr * (step + 1) / self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / (self.total_steps - self.warmup_steps))
        return self.min_lr + (self.base_lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))
