"""Run configuration: one TOML file holds every parameter of a cars run, validated field by field.

    config = load_config("default")                                  # a shipped config (cars/configs/*.toml)
    config = load_config("my.toml", {"evolution.mutation_rate": "0.1"})  # a file plus overrides

Shipped configs are complete; a user's file may leave fields out: they keep the defaults below,
which equal configs/default.toml.
Unknown keys and invalid values raise ConfigError with one line naming the file, the key and the
problem. Overrides are strings parsed as TOML values ("0.1", "[16, 8]", "tanh" or '"tanh"').
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

CONFIGS_DIR = Path(__file__).resolve().parent / "configs"

SELECTIONS = ("tournament", "truncation", "rank", "roulette")
CROSSOVERS = ("uniform", "one_point", "arithmetic", "blend", "none")
ACTIVATIONS = ("tanh", "relu", "leaky_relu", "sigmoid")
INITS = ("he", "glorot")
AGGREGATES = ("mean", "worst")


class ConfigError(ValueError):
    """An unusable configuration; the message is one line, '<source>: <key>: <problem>'."""


@dataclass
class TrackConfig:
    names: list[str] = field(default_factory=lambda: ["sbends"])
    generated: int = 0


@dataclass
class CarConfig:
    length: float = 24.0
    width: float = 12.0
    max_speed: float = 300.0
    acceleration: float = 300.0
    brake: float = 600.0
    drag: float = 0.3
    rolling: float = 20.0
    turn_rate: float = 3.5
    turn_speed: float = 80.0


@dataclass
class SensorConfig:
    rays: int = 7
    angle_deg: float = 180.0
    length: float = 160.0


@dataclass
class BrainConfig:
    hidden: list[int] = field(default_factory=lambda: [8])
    activation: str = "tanh"
    init: str = "he"


@dataclass
class EvolutionConfig:
    generations: int = 30
    population: int = 100
    elitism: int = 4
    selection: str = "tournament"
    tournament_size: int = 5
    truncation: float = 0.2
    crossover: str = "uniform"
    crossover_rate: float = 0.5
    blend_alpha: float = 0.5
    mutation_rate: float = 0.1
    mutation_sigma: float = 0.3
    mutation_decay: float = 1.0
    mutation_sigma_min: float = 0.0


@dataclass
class SimulationConfig:
    dt: float = 1.0 / 30.0
    max_steps: int = 1800
    max_laps: int = 2
    stall_seconds: float = 2.0
    stall_distance: float = 20.0
    backward_tolerance: float = 40.0


@dataclass
class FitnessConfig:
    lap_time_weight: float = 0.5
    aggregate: str = "mean"


@dataclass
class Config:
    seed: int = 1
    track: TrackConfig = field(default_factory=TrackConfig)
    car: CarConfig = field(default_factory=CarConfig)
    sensors: SensorConfig = field(default_factory=SensorConfig)
    brain: BrainConfig = field(default_factory=BrainConfig)
    evolution: EvolutionConfig = field(default_factory=EvolutionConfig)
    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    fitness: FitnessConfig = field(default_factory=FitnessConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        """The whole configuration as TOML text that load_config reads back to an equal Config."""
        lines = [f"seed = {toml_value(self.seed)}"]
        for name, section in self.to_dict().items():
            if isinstance(section, dict):
                lines += ["", f"[{name}]"] + [f"{key} = {toml_value(value)}" for key, value in section.items()]
        return "\n".join(lines) + "\n"


SECTIONS: dict[str, type] = {name: hint for name, hint in get_type_hints(Config).items() if name != "seed"}


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


# ---- reading ----------------------------------------------------------------------------------------

def shipped_config_names() -> list[str]:
    return sorted(p.stem for p in CONFIGS_DIR.glob("*.toml"))


def resolve_config_path(name_or_path: str | os.PathLike) -> Path:
    text = os.fspath(name_or_path)
    path = Path(text)
    if path.is_file():
        return path
    if not text.lower().endswith(".toml") and os.sep not in text and "/" not in text:
        shipped = CONFIGS_DIR / f"{text.strip().lower()}.toml"
        if shipped.is_file():
            return shipped
        raise ConfigError(f"{text}: no such config file or shipped config "
                          f"(shipped: {', '.join(shipped_config_names())})")
    raise ConfigError(f"{text}: config file not found")


def load_config(name_or_path: str | os.PathLike = "default", overrides: dict[str, str] | None = None) -> Config:
    """Read a shipped config by name or a TOML file, apply `overrides` ({"section.key": "value"}), validate."""
    path = resolve_config_path(name_or_path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text (UTF-8) file") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror or e})") from None
    config = config_from_dict(data, str(path))
    if overrides:
        config = apply_overrides(config, overrides)
    return config


def config_from_dict(data: dict[str, Any], source: str = "<config>") -> Config:
    """Build and validate a Config from parsed TOML (missing fields keep their defaults)."""
    config = Config()
    for key, value in data.items():
        if key == "seed":
            config.seed = coerce(value, int, "seed", source)
            continue
        if key not in SECTIONS:
            raise ConfigError(f"{source}: unknown key {key!r} (known: seed, {', '.join(SECTIONS)})")
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {key!r} must be a table [{key}]")
        section = getattr(config, key)
        hints = get_type_hints(type(section))
        for name, raw in value.items():
            if name not in hints:
                raise ConfigError(f"{source}: unknown key '{key}.{name}' (known in [{key}]: {', '.join(hints)})")
            setattr(section, name, coerce(raw, hints[name], f"{key}.{name}", source))
    validate(config, source)
    return config


def parse_override(text: str) -> Any:
    """A command-line value: a TOML literal if it parses as one, else the bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text.strip()


def apply_overrides(config: Config, overrides: dict[str, str], source: str = "command line") -> Config:
    """A copy of `config` with each "section.key" (or "seed") set from its string value, validated."""
    config = dataclasses.replace(config, **{name: dataclasses.replace(getattr(config, name)) for name in SECTIONS})
    for dotted, text in overrides.items():
        if dotted == "seed":
            config.seed = coerce(parse_override(text), int, "seed", source)
            continue
        section_name, _, name = dotted.partition(".")
        if section_name not in SECTIONS or not name:
            raise ConfigError(f"{source}: unknown key {dotted!r} (use section.key, sections: {', '.join(SECTIONS)}, or seed)")
        section = getattr(config, section_name)
        hints = get_type_hints(type(section))
        if name not in hints:
            raise ConfigError(f"{source}: unknown key {dotted!r} (known in [{section_name}]: {', '.join(hints)})")
        value = parse_override(text)
        if hints[name] in (list[str], list[int]) and isinstance(value, (str, int)) and not isinstance(value, bool):
            value = [parse_override(v) for v in str(value).split(",") if v.strip()]  # "oval,hairpins" or "16,8"
        setattr(section, name, coerce(value, hints[name], dotted, source))
    validate(config, source)
    return config


def coerce(value: Any, kind: Any, key: str, source: str) -> Any:
    """Check a parsed value against the field's type; ints are accepted where floats are expected."""
    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{source}: {key} must be {expected}, got {value!r}")

    if kind is int:
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
    if kind == list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad("a list of strings")
        return list(value)
    if kind == list[int]:
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise bad("a list of integers")
        return list(value)
    raise TypeError(f"unsupported field type {kind}")  # pragma: no cover


# ---- validation -------------------------------------------------------------------------------------

def validate(config: Config, source: str = "<config>") -> None:
    """Raise ConfigError for the first invalid value (ranges and choices)."""
    def need(ok: bool, key: str, rule: str, value: Any) -> None:
        if not ok:
            raise ConfigError(f"{source}: {key} must be {rule}, got {value!r}")

    def choice(key: str, value: str, options: tuple[str, ...]) -> None:
        need(value in options, key, "one of " + ", ".join(options), value)

    t, c, s, b, e, m, f = (config.track, config.car, config.sensors, config.brain, config.evolution,
                           config.simulation, config.fitness)
    need(0 <= config.seed < 2**63, "seed", "an integer >= 0", config.seed)
    need(len(t.names) + t.generated >= 1, "track.names", "non-empty (or track.generated >= 1)", t.names)
    need(all(n.strip() for n in t.names), "track.names", "a list of track names or paths", t.names)
    need(0 <= t.generated <= 100, "track.generated", "between 0 and 100", t.generated)
    for key in ("length", "width", "max_speed", "acceleration", "brake", "turn_rate", "turn_speed"):
        need(getattr(c, key) > 0, f"car.{key}", "> 0", getattr(c, key))
    for key in ("drag", "rolling"):
        need(getattr(c, key) >= 0, f"car.{key}", ">= 0", getattr(c, key))
    need(1 <= s.rays <= 64, "sensors.rays", "an integer between 1 and 64", s.rays)
    need(0 <= s.angle_deg <= 360, "sensors.angle_deg", "between 0 and 360", s.angle_deg)
    need(s.length > 0, "sensors.length", "> 0", s.length)
    need(len(b.hidden) <= 8 and all(1 <= h <= 1024 for h in b.hidden), "brain.hidden",
         "a list of up to 8 layer sizes between 1 and 1024", b.hidden)
    choice("brain.activation", b.activation, ACTIVATIONS)
    choice("brain.init", b.init, INITS)
    need(e.generations >= 1, "evolution.generations", "an integer >= 1", e.generations)
    need(2 <= e.population <= 100_000, "evolution.population", "an integer between 2 and 100000", e.population)
    need(0 <= e.elitism < e.population, "evolution.elitism", f"between 0 and population - 1 ({e.population - 1})",
         e.elitism)
    choice("evolution.selection", e.selection, SELECTIONS)
    need(1 <= e.tournament_size <= e.population, "evolution.tournament_size", "between 1 and the population",
         e.tournament_size)
    need(0 < e.truncation <= 1, "evolution.truncation", "in (0, 1]", e.truncation)
    choice("evolution.crossover", e.crossover, CROSSOVERS)
    need(0 <= e.crossover_rate <= 1, "evolution.crossover_rate", "in [0, 1]", e.crossover_rate)
    need(0 <= e.blend_alpha <= 2, "evolution.blend_alpha", "in [0, 2]", e.blend_alpha)
    need(0 <= e.mutation_rate <= 1, "evolution.mutation_rate", "in [0, 1]", e.mutation_rate)
    need(e.mutation_sigma >= 0, "evolution.mutation_sigma", ">= 0", e.mutation_sigma)
    need(0 < e.mutation_decay <= 1, "evolution.mutation_decay", "in (0, 1] (1 = no decay)", e.mutation_decay)
    need(e.mutation_sigma_min >= 0, "evolution.mutation_sigma_min", ">= 0", e.mutation_sigma_min)
    need(0 < m.dt <= 0.2, "simulation.dt", "in (0, 0.2] seconds", m.dt)
    need(c.max_speed * m.dt <= 40, "car.max_speed", f"at most {40 / m.dt:g} (40 units per step at dt {m.dt:g})",
         c.max_speed)
    need(m.max_steps >= 1, "simulation.max_steps", "an integer >= 1", m.max_steps)
    need(m.max_laps >= 1, "simulation.max_laps", "an integer >= 1", m.max_laps)
    need(m.stall_seconds > 0, "simulation.stall_seconds", "> 0", m.stall_seconds)
    need(m.stall_distance >= 0, "simulation.stall_distance", ">= 0", m.stall_distance)
    need(m.backward_tolerance >= 0, "simulation.backward_tolerance", ">= 0", m.backward_tolerance)
    need(f.lap_time_weight >= 0, "fitness.lap_time_weight", ">= 0", f.lap_time_weight)
    choice("fitness.aggregate", f.aggregate, AGGREGATES)
