"""The live settings as the window presents them: the ladders of values the keys step through, and their
labels and formatting. A setting is named by its dotted config key ("evolution.mutation_rate")."""

from __future__ import annotations

import math
from typing import Any

from cars.learn.config import setting_rules

# Ladders that read better than the generic 1-2-5 steps.
LADDERS = {
    "mutation_rate": (0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 1.0),
    "mutation_sigma": (0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0, 1.5, 2.0),
    "population": (2, 5, 10, 20, 30, 40, 50, 60, 80, 100, 120, 150, 200, 250, 300, 400, 500, 750, 1000,
                   1500, 2000, 3000, 5000),
}
STEP_BY_ONE = ("elitism",)


def leaf(name: str) -> str:
    return name.rpartition(".")[2]


def label(name: str) -> str:
    """'evolution.mutation_rate' -> 'mutation rate'."""
    return leaf(name).replace("_", " ")


def ladder(name: str) -> tuple[float, ...]:
    """The values the keys step through: a named ladder, or 1-2-5 steps within the setting's range."""
    if leaf(name) in LADDERS:
        return LADDERS[leaf(name)]
    rules = setting_rules(name)
    low = rules.get("low") or 1e-6
    high = rules.get("high") or 1e6
    values = [m * 10.0 ** e for e in range(math.floor(math.log10(max(low, 1e-9))), math.ceil(math.log10(high)) + 1)
              for m in (1, 2, 5)]
    return tuple(v for v in values if low <= v <= high)


def ladder_step(name: str, current: Any, direction: int) -> Any:
    """The next value of setting `name` above (direction 1) or below (-1) `current` (unchanged at the ends)."""
    if leaf(name) in STEP_BY_ONE:
        return max(int(current) + direction, 0)
    values = ladder(name)
    if direction > 0:
        above = [v for v in values if v > current * (1 + 1e-9)]
        return above[0] if above else current
    below = [v for v in values if v < current * (1 - 1e-9)]
    return below[-1] if below else current


def fmt_value(value: Any) -> str:
    return str(value) if isinstance(value, int) else f"{float(value):g}"
