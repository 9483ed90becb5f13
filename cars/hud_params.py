"""The live-tweakable evolution parameters as the window presents them: the ladders of values the
keys step through, and their labels and formatting (no pygame)."""

from __future__ import annotations

import numpy as np

# The values the parameter keys step through (a ladder reads better than +-10%).
LADDERS = {
    "mutation_rate": (0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 1.0),
    "mutation_sigma": (0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0, 1.5, 2.0),
    "population": (2, 5, 10, 20, 30, 40, 50, 60, 80, 100, 120, 150, 200, 250, 300, 400, 500, 750, 1000,
                   1500, 2000, 3000, 5000),
}
PARAM_LABELS = {"mutation_rate": "mutation rate", "mutation_sigma": "mutation sigma", "elitism": "elitism",
                "population": "population"}


def ladder_step(name: str, current: float, direction: int, population: int) -> float:
    """The next value of parameter `name` above (direction 1) or below (-1) `current`."""
    if name == "elitism":
        return int(np.clip(int(current) + direction, 0, max(population - 1, 0)))
    ladder = LADDERS[name]
    if direction > 0:
        above = [v for v in ladder if v > current * (1 + 1e-9)]
        return above[0] if above else current
    below = [v for v in ladder if v < current * (1 - 1e-9)]
    return below[-1] if below else current


def fmt_param(name: str, value) -> str:
    return str(int(value)) if name in ("elitism", "population") else f"{float(value):g}"
