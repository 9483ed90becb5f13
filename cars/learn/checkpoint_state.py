"""The checkpoint's JSON state, checked field by field, so a damaged or hand-edited checkpoint is one line
("<file>: damaged checkpoint (<field> ...)") instead of a KeyError or TypeError deep in the resume.

The rules say what the run reads back: each field's type and range, each history row's numbers.
Fields written by every format are required (run_files.STATE_KEYS); the others may be absent.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

from cars.learn.run_files import RunError

HISTORY_NUMBERS = ("generation", "seconds", "car_steps")  # every learner's rows have these
HISTORY_RESULTS = ("best_fitness", "mean_fitness", "median_fitness", "laps")  # numbers, or null before any result


def _int(value: Any, low: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _optional(rule: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or rule(value)


def _names(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)


def _best(value: Any) -> bool:
    return (isinstance(value, dict) and _number(value.get("fitness")) and _int(value.get("generation"))
            and isinstance(value.get("tracks", []), list))


def _history(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(row, dict) and all(_number(row.get(key)) for key in HISTORY_NUMBERS)
        and all(_optional(_number)(row.get(key)) for key in HISTORY_RESULTS)
        and isinstance(row.get("tracks", ""), str) for row in value)


RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "algorithm": (lambda v: isinstance(v, str), "must be a learner's name"),
    "generation": (_int, "must be a whole number >= 0"),
    "rng": (lambda v: isinstance(v, dict) and isinstance(v.get("bit_generator"), str), "is not a random "
            "generator's state"),
    "learner": (lambda v: isinstance(v, dict), "must be a table"),
    "live_now": (lambda v: isinstance(v, dict), "must be a table of settings"),
    "live_next": (lambda v: isinstance(v, dict), "must be a table of settings"),
    "history": (_history, "must be a list of rows with the numbers of each generation"),
    "track_names": (_names, "must be a list of track names"),
    "best": (_optional(_best), "must be the champion's fitness, generation and tracks"),
    "first_lap_generation": (_optional(_int), "must be a generation number or null"),
    "first_lap_car_steps": (_optional(_int), "must be a number of car-steps or null"),
    "total_car_steps": (_int, "must be a whole number >= 0"),
    "genome_size": (lambda v: _int(v, 1), "must be a whole number >= 1"),
}


def check_state(state: dict[str, Any], path: Path) -> None:
    """RunError naming the first field of `state` that the run could not use."""
    for key, (rule, problem) in RULES.items():
        if key in state and not rule(state[key]):
            raise RunError(f"{path}: damaged checkpoint (state field {key!r} {problem}, got "
                           f"{str(state[key])[:60]!r})")
    history, generation = state.get("history"), state.get("generation")
    if isinstance(history, list) and _int(generation) and len(history) > generation:
        raise RunError(f"{path}: damaged checkpoint (its history has {len(history)} rows, more than the "
                       f"{generation} generations it has run)")
