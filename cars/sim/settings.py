"""The simulation's settings, and the one mechanism that defines, documents and validates every setting.

A setting is a dataclass field made by `setting(default, doc, ...)`: its default, its one-line
documentation, its allowed range or choices and whether it may change while a run is going are all
stated there, once. `check_section` validates a section against that metadata, `coerce` turns a
parsed TOML value into the field's type, so the config files, the command line and live tweaks all
pass through the same rules. The sections the simulation reads live here (car, sensors, step rules,
fitness); `cars.learn.config` composes them with the learners' own sections into one `Config`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Protocol, get_type_hints


class ConfigError(ValueError):
    """An unusable setting; the message is one line, '<source>: <key> <problem>'."""


def setting(default: Any, doc: str, *, low: float | None = None, high: float | None = None,
            low_open: bool = False, high_open: bool = False, choices: tuple[str, ...] | None = None,
            live: int = 0, item_low: int | None = None, item_high: int | None = None,
            max_items: int | None = None) -> Any:
    """A dataclass field with its documentation and rules.

    low/high bound a number (inclusive unless low_open/high_open); choices list a string's options;
    item_low/item_high/max_items bound a tuple of ints; live (1, 2, ...) marks a setting the window
    may change while a run goes, and its slot among the window's keys (it takes effect from the next
    generation or update)."""
    rules = dict(doc=doc, low=low, high=high, low_open=low_open, high_open=high_open, choices=choices, live=live,
                 item_low=item_low, item_high=item_high, max_items=max_items)
    return field(default=default, metadata=rules)


def rules_of(section: Any, name: str) -> dict[str, Any]:
    return dict(next(f for f in dataclasses.fields(section) if f.name == name).metadata)


def range_text(rules: dict[str, Any]) -> str:
    """'in (0, 200]', '>= 0', 'one of a, b', ...: the rule as a reader would say it."""
    if rules.get("choices"):
        return "one of " + ", ".join(rules["choices"])
    low, high = rules.get("low"), rules.get("high")
    if low is not None and high is not None:
        return (f"in {'(' if rules['low_open'] else '['}{number_text(low)}, {number_text(high)}"
                f"{')' if rules['high_open'] else ']'}")
    if low is not None:
        return f"{'>' if rules['low_open'] else '>='} {number_text(low)}"
    if high is not None:
        return f"{'<' if rules['high_open'] else '<='} {number_text(high)}"
    return "valid"


def number_text(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def coerce(value: Any, kind: Any, key: str, source: str) -> Any:
    """A parsed (TOML or Python) value as the field's type, or ConfigError. Ints are accepted for floats,
    lists for tuples; a comma-separated string is accepted for a tuple ("oval,city", "16,8")."""
    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{source}: {key} must be {expected}, got {value!r}")

    if kind is bool:
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if kind is int:
        if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 63:
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        if not math.isfinite(value):
            raise bad("a finite number")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise bad("a string")
        return value
    if kind in (tuple[str, ...], tuple[int, ...]):
        item = str if kind == tuple[str, ...] else int
        if isinstance(value, str):
            parts = [v.strip() for v in value.split(",") if v.strip()]
            value = parts if item is str else [int(v) if v.lstrip("-").isdigit() else v for v in parts]
        if isinstance(value, int) and not isinstance(value, bool) and item is int:
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise bad(f"a list of {'strings' if item is str else 'integers'}")
        return tuple(coerce(v, item, key, source) for v in value)
    raise TypeError(f"unsupported setting type {kind}")  # pragma: no cover


def check_value(value: Any, rules: dict[str, Any], key: str, source: str) -> None:
    """ConfigError unless `value` keeps the field's rules."""
    def need(ok: bool, rule: str) -> None:
        if not ok:
            raise ConfigError(f"{source}: {key} must be {rule}, got {value!r}")

    if rules.get("choices"):
        need(value in rules["choices"], range_text(rules))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low, high = rules.get("low"), rules.get("high")
        if low is not None:
            need(value > low if rules["low_open"] else value >= low, range_text(rules))
        if high is not None:
            need(value < high if rules["high_open"] else value <= high, range_text(rules))
    if isinstance(value, tuple):
        count = rules.get("max_items")
        lo, hi = rules.get("item_low"), rules.get("item_high")
        if count is not None:
            need(len(value) <= count, f"a list of at most {count} entries")
        if lo is not None and hi is not None:
            need(all(lo <= v <= hi for v in value), f"a list of values between {lo} and {hi}")


def check_section(section: Any, prefix: str, source: str) -> None:
    """Validate every field of a section dataclass against its rules (then the section's own cross-field
    `check`, if it has one)."""
    for f in dataclasses.fields(section):
        check_value(getattr(section, f.name), dict(f.metadata), f"{prefix}.{f.name}" if prefix else f.name, source)
    extra = getattr(section, "check", None)
    if extra is not None:
        extra(source)


def section_from_dict(cls: type, data: dict[str, Any], prefix: str, source: str) -> Any:
    """Build section `cls` from a parsed table: unknown keys and ill-typed values are ConfigErrors,
    missing keys keep their defaults."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {prefix!r} must be a table [{prefix}]")
    hints = get_type_hints(cls)
    values = {}
    for name, raw in data.items():
        if name not in hints:
            raise ConfigError(f"{source}: unknown key '{prefix}.{name}' (known in [{prefix}]: {', '.join(hints)})")
        values[name] = coerce(raw, hints[name], f"{prefix}.{name}", source)
    section = cls(**values)
    check_section(section, prefix, source)
    return section


# ---- the simulation's sections -----------------------------------------------------------------------

@dataclass(frozen=True)
class CarConfig:
    length: float = setting(24.0, "body length, world units (the body is the rectangle that must not touch a wall)",
                            low=1, high=200)
    width: float = setting(12.0, "body width, world units", low=1, high=100)
    # Lower bounds are physical, not just positive: a speed or a turn speed of 1e-300 passes "> 0" but
    # overflows float32 arithmetic (1 / turn_speed = inf) and every car turns into NaN.
    max_speed: float = setting(300.0, "world units per second", low=1, high=1200)
    acceleration: float = setting(300.0, "units/s^2 at full throttle (throttle > 0)", low=1, high=10_000)
    brake: float = setting(600.0, "units/s^2 at full brake (throttle < 0); there is no reverse gear", low=1,
                           high=10_000)
    drag: float = setting(0.3, "1/s: friction proportional to speed", low=0, high=10)
    rolling: float = setting(20.0, "units/s^2: constant rolling friction (a car without throttle coasts to a stop)",
                             low=0, high=1000)
    turn_rate: float = setting(3.5, "radians/s at full steering once the speed reaches turn_speed", low=0, high=20,
                               low_open=True)
    turn_speed: float = setting(80.0, "units/s: below this speed the turn rate shrinks in proportion (no turning "
                                      "on the spot)", low=1, high=1200)


@dataclass(frozen=True)
class SensorConfig:
    rays: int = setting(7, "distance rays per car; the brain's inputs are the rays plus the speed", low=1, high=64)
    angle_deg: float = setting(180.0, "spread of the rays, degrees, centred on the heading (360 = all around)",
                               low=0, high=360)
    length: float = setting(160.0, "ray length, world units; readings are distance / length, 1.0 = no wall in reach",
                            low=1, high=2000)


@dataclass(frozen=True)
class SimulationConfig:
    dt: float = setting(1.0 / 30.0, "fixed time step, seconds (1/30)", low=0.001, high=0.2)
    max_steps: int = setting(1800, "an episode (a generation's drive) ends after this many steps if cars still drive",
                             low=1, high=1_000_000)
    max_laps: int = setting(2, "a car stops (finished) after this many laps", low=1, high=10_000)
    stall_seconds: float = setting(2.0, "a car stops (stalled) when its best progress grew by less than "
                                        "stall_distance in this many seconds", low=0, high=3600, low_open=True)
    stall_distance: float = setting(20.0, "world units along the centerline a car must gain every stall_seconds to "
                                          "keep driving", low=0, high=10_000)
    backward_tolerance: float = setting(40.0, "a car stops when it has driven this far (world units) back from its "
                                              "best progress", low=0, high=10_000)


@dataclass(frozen=True)
class FitnessConfig:
    lap_time_weight: float = setting(0.5, "fitness = laps of progress (capped at max_laps) + this * (1 - best lap "
                                          "steps / max_steps) for cars that completed a lap", low=0, high=100)
    aggregate: str = setting("mean", "several tracks per generation: a genome's fitness is the mean or the worst "
                                     "of them", choices=("mean", "worst"))


class SimSettings(Protocol):
    """What a Simulation reads from a run's configuration (cars.learn.config.Config has these)."""

    car: CarConfig
    sensors: SensorConfig
    simulation: SimulationConfig
    fitness: FitnessConfig


def check_sim_settings(settings: SimSettings, source: str) -> None:
    """The rules that tie the simulation's sections together."""
    c, m = settings.car, settings.simulation
    if c.max_speed * m.dt > 40:
        raise ConfigError(f"{source}: car.max_speed must be at most {40 / m.dt:g} (40 units per step at dt "
                          f"{m.dt:g}), got {c.max_speed!r}")
