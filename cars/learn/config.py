"""Run configuration: one TOML file holds every setting of a cars run.

    config = load_config("default")                                   # a shipped config (cars/configs/*.toml)
    config = load_config("my.toml", {"evolution.mutation_rate": 0.1})  # a file plus overrides
    config = replace_setting(config, "evolution.population", 200)      # a live tweak: a new, validated Config

Each setting is defined once, as a field of a frozen dataclass below (or of the simulation's sections
in cars.sim.settings), with its default, documentation and rules (`setting`). A file may leave fields
out: they keep these defaults, which is what configs/default.toml says (it is written from them:
`python -m cars.learn.config > cars/configs/default.toml`). Unknown keys and invalid values raise
ConfigError with one line naming the file, the key and the problem. Overrides are typed values, or
strings parsed as TOML values ("0.1", "[16, 8]", "16,8", "tanh").

The learners share every section but their own: `[algorithm] name` picks one, and only that
learner's table (LEARNER_SECTIONS) may appear in the file: a setting of one learner given to another
is an error, not silently ignored.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping, get_type_hints

from cars.learn.brain import ACTIVATION_LAYERS
from cars.sim.fleet import RewardConfig
from cars.sim.files import find_file, read_text, shipped_names
from cars.sim.settings import (CarConfig, ConfigError, FitnessConfig, SensorConfig, SimulationConfig, check_section,
                               check_sim_settings, coerce, range_text, section_from_dict, setting)
from engine.init import INITS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["Config", "ConfigError", "AlgorithmConfig", "TrackConfig", "CarConfig", "SensorConfig", "BrainConfig",
           "EvolutionConfig", "ESConfig", "CMAESConfig", "SimulationConfig", "FitnessConfig", "load_config",
           "config_from_dict", "apply_overrides", "replace_setting", "get_setting", "live_settings", "learner_section",
           "shipped_config_names", "LEARNER_SECTIONS"]

CONFIGS_DIR = Path(__file__).resolve().parent.parent / "configs"

# algorithm name -> the section of the config that holds its hyperparameters
LEARNER_SECTIONS: dict[str, str] = {"ga": "evolution", "es": "es", "cmaes": "cmaes", "ppo": "ppo",
                                     "reinforce": "reinforce"}


@dataclass(frozen=True)
class AlgorithmConfig:
    name: str = setting("ga", "the learner: ga (genetic algorithm), es (OpenAI evolution strategies), cmaes (CMA-ES), "
                                "ppo (proximal policy optimization), reinforce (REINFORCE with a baseline)",
                        choices=tuple(LEARNER_SECTIONS))
    car_steps: int = setting(0, "stop once this many car-steps (one car moved one time step) were simulated; "
                                "0 = no budget", low=0, high=1_000_000_000_000)


@dataclass(frozen=True)
class TrackConfig:
    names: tuple[str, ...] = setting(("sbends",), "tracks driven every generation: shipped names (cars tracks) or "
                                                  "JSON paths")
    generated: int = setting(0, "plus this many fresh procedurally generated tracks every generation", low=0,
                             high=100)

    def check(self, source: str) -> None:
        if len(self.names) + self.generated < 1:
            raise ConfigError(f"{source}: track.names must be non-empty (or track.generated >= 1), got {self.names!r}")
        if not all(n.strip() for n in self.names):
            raise ConfigError(f"{source}: track.names must be a list of track names or paths, got {self.names!r}")


@dataclass(frozen=True)
class BrainConfig:
    hidden: tuple[int, ...] = setting((8,), "hidden layer sizes of the MLP (inputs: rays + 1; outputs: steering and "
                                            "throttle)", item_low=1, item_high=1024, max_items=8)
    activation: str = setting("tanh", "hidden activation (the output is always tanh)",
                              choices=tuple(ACTIVATION_LAYERS))
    init: str = setting("he", "initial weights: he (normal, var 2/in) or glorot (uniform, var 2/(in+out)); "
                              "biases start at 0", choices=tuple(INITS))


@dataclass(frozen=True)
class EvolutionConfig:
    """The genetic algorithm (cars.learn.algorithms.ga)."""

    generations: int = setting(30, "generations to run", low=1, high=1_000_000)
    population: int = setting(100, "genomes (cars) per generation", low=2, high=100_000, live=4)
    elitism: int = setting(4, "the best N genomes are copied unchanged (indices 0..N-1)", low=0, high=99_999,
                           live=3)
    selection: str = setting("tournament", "parent selection", choices=("tournament", "truncation", "rank",
                                                                         "roulette"))
    tournament_size: int = setting(5, "tournament: the fittest of this many random genomes (at most the population) "
                                      "becomes a parent",
                                   low=1, high=100_000)
    truncation: float = setting(0.2, "truncation: parents are drawn uniformly from this best fraction", low=0,
                                high=1, low_open=True)
    crossover: str = setting("uniform", "uniform, one_point, arithmetic (w a + (1-w) b), blend (BLX-alpha), none",
                             choices=("uniform", "one_point", "arithmetic", "blend", "none"))
    crossover_rate: float = setting(0.5, "probability that a child is a crossover of two parents (else a copy of "
                                         "one)", low=0, high=1)
    blend_alpha: float = setting(0.5, "blend: how far beyond the parents' range a gene may land (BLX-alpha)",
                                 low=0, high=2)
    mutation_rate: float = setting(0.1, "probability that each gene of a child is mutated", low=0, high=1, live=1)
    mutation_sigma: float = setting(0.3, "standard deviation of the Gaussian mutation noise", low=0, high=10,
                                    live=2)
    mutation_decay: float = setting(1.0, "mutation_sigma is multiplied by this after every generation (1 = no "
                                         "decay)", low=0, high=1, low_open=True)
    mutation_sigma_min: float = setting(0.0, "decay never takes mutation_sigma below this", low=0, high=10)

    def check(self, source: str) -> None:
        if self.elitism >= self.population:
            raise ConfigError(f"{source}: evolution.elitism must be between 0 and population - 1 "
                              f"({self.population - 1}), got {self.elitism!r}")


@dataclass(frozen=True)
class ESConfig:
    """OpenAI evolution strategies (cars.learn.algorithms.es): a mean brain theta, moved by Adam along a gradient
    estimated from Gaussian perturbations of it."""

    generations: int = setting(30, "generations to run", low=1, high=1_000_000)
    population: int = setting(100, "perturbed brains per generation (theta itself drives too, as one more car)",
                              low=2, high=100_000)
    antithetic: bool = setting(True, "perturbations in mirrored pairs theta + sigma*eps, theta - sigma*eps (the "
                                     "population must be even)")
    sigma: float = setting(0.5, "standard deviation of the perturbations (noise scale)", low=0, high=10,
                           low_open=True, live=1)
    sigma_decay: float = setting(1.0, "sigma is multiplied by this after every generation (1 = fixed sigma)",
                                 low=0, high=1, low_open=True)
    sigma_min: float = setting(0.001, "decay never takes sigma below this", low=0, high=10, low_open=True)
    learning_rate: float = setting(0.3, "Adam's step size for theta", low=0, high=10, low_open=True, live=2)
    weight_decay: float = setting(0.0, "L2 pull of theta towards 0, added to the gradient Adam sees", low=0,
                                  high=1, live=3)
    adam_beta1: float = setting(0.9, "Adam's decay of the gradient's running mean", low=0, high=1, high_open=True)
    adam_beta2: float = setting(0.999, "Adam's decay of the squared gradient's running mean", low=0, high=1,
                                high_open=True)
    fitness_shaping: str = setting("centered_rank", "what the gradient weighs each perturbation by: centered_rank "
                                                    "(rank scaled to [-0.5, 0.5]), zscore (standardised fitness), "
                                                    "raw (fitness)", choices=("centered_rank", "zscore", "raw"))

    def check(self, source: str) -> None:
        if self.antithetic and self.population % 2:
            raise ConfigError(f"{source}: es.population must be even with es.antithetic = true (mirrored pairs), "
                              f"got {self.population!r}")


@dataclass(frozen=True)
class CMAESConfig:
    """CMA-ES (cars.learn.algorithms.cmaes): a Gaussian search distribution N(m, sigma^2 C) whose mean, step size and
    covariance adapt every generation."""

    generations: int = setting(30, "generations to run", low=1, high=1_000_000)
    population: int = setting(100, "lambda: brains sampled per generation (the mean m drives too, as one more car)",
                              low=4, high=100_000)
    parents: int = setting(0, "mu: the best this many samples move the mean and shape the covariance (0 = half "
                              "the population)", low=0, high=100_000)
    sigma: float = setting(0.5, "initial step size sigma (CMA-ES adapts it every generation); changing it while "
                                "the run goes sets the step size to the new value", low=0, high=10, low_open=True,
                           live=1)

    def check(self, source: str) -> None:
        if self.parents > self.population:
            raise ConfigError(f"{source}: cmaes.parents must be between 1 and the population ({self.population}), "
                              f"or 0 for half of it, got {self.parents!r}")


@dataclass(frozen=True)
class PolicyGradientConfig(RewardConfig):
    """What every policy-gradient learner shares (cars.learn.policy_run): the environment's reward and starts
    (inherited from cars.sim.fleet.RewardConfig), the vector environment and the networks' training. The policy's
    mean is the [brain] network; the value network has the same hidden layers."""

    FLAG_FIELDS: ClassVar[dict[str, str]] = {"generations": "updates", "population": "envs"}

    updates: int = setting(100, "policy updates to run (cars train --generations)", low=1, high=1_000_000)
    envs: int = setting(32, "cars driving at once: the vector environment's size (cars train --population)", low=1,
                        high=4096)
    learning_rate: float = setting(3e-4, "Adam's step size for the policy, its log-std and the value network", low=0,
                                   high=1, low_open=True, live=1)
    entropy_coef: float = setting(0.0, "weight of the policy's entropy bonus in the loss (more = more exploration)",
                                  low=0, high=10, live=2)
    gamma: float = setting(0.99, "discount factor of future rewards", low=0, high=1)
    log_std_init: float = setting(-0.5, "initial log standard deviation of the Gaussian policy (learned, the same "
                                        "for every state)", low=-5, high=2)
    value_coef: float = setting(0.5, "weight of the value network's squared error in the loss", low=0, high=100)
    max_grad_norm: float = setting(0.5, "the gradient of all parameters together is scaled down to at most this "
                                        "norm", low=0, high=1e6, low_open=True)
    normalize_advantages: bool = setting(True, "standardise the advantages of each minibatch (mean 0, std 1)")
    normalize_observations: bool = setting(True, "standardise observations by running mean and variance (folded "
                                                  "into the champion's first layer)")
    eval_every: int = setting(1, "drive the deterministic policy (mean action) on the run's tracks every this many "
                                 "updates; the best so far is the champion", low=1, high=1_000_000)


@dataclass(frozen=True)
class PPOConfig(PolicyGradientConfig):
    """Proximal policy optimization (cars.learn.algorithms.ppo): rollouts of rollout_steps steps from envs cars,
    then epochs of minibatch Adam steps on the clipped surrogate with GAE advantages."""

    rollout_steps: int = setting(128, "steps every car drives per update (a rollout: envs x rollout_steps "
                                      "car-steps)", low=1, high=100_000)
    epochs: int = setting(10, "passes over each rollout", low=1, high=1000)
    minibatches: int = setting(4, "each pass splits the rollout into this many minibatches", low=1, high=65_536)
    gae_lambda: float = setting(0.95, "generalised advantage estimation: lambda (0 = one-step TD, 1 = Monte "
                                      "Carlo)", low=0, high=1)
    clip_range: float = setting(0.2, "the probability ratio of new to old policy is clipped to 1 +- this",
                                low=0, high=10, low_open=True)

    def check(self, source: str) -> None:
        if self.minibatches > self.envs * self.rollout_steps:
            raise ConfigError(f"{source}: ppo.minibatches must be at most envs x rollout_steps "
                              f"({self.envs * self.rollout_steps}), got {self.minibatches!r}")


@dataclass(frozen=True)
class REINFORCEConfig(PolicyGradientConfig):
    """REINFORCE with a baseline (cars.learn.algorithms.reinforce): every update, each of the envs cars drives one whole
    episode; one Adam step on the log-likelihood of its actions weighted by return minus the value baseline."""

    learning_rate: float = setting(1e-3, "Adam's step size for the policy, its log-std and the value network", low=0,
                                   high=1, low_open=True, live=1)


@dataclass(frozen=True)
class Config:
    seed: int = setting(1, "every random choice of the run comes from this seed: same seed + config = same run",
                        low=0)
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)
    track: TrackConfig = field(default_factory=TrackConfig)
    car: CarConfig = field(default_factory=CarConfig)
    sensors: SensorConfig = field(default_factory=SensorConfig)
    brain: BrainConfig = field(default_factory=BrainConfig)
    evolution: EvolutionConfig = field(default_factory=EvolutionConfig)
    es: ESConfig = field(default_factory=ESConfig)
    cmaes: CMAESConfig = field(default_factory=CMAESConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    reinforce: REINFORCEConfig = field(default_factory=REINFORCEConfig)
    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    fitness: FitnessConfig = field(default_factory=FitnessConfig)

    def check(self, source: str) -> None:
        if self.seed >= 2 ** 63:
            raise ConfigError(f"{source}: seed must be an integer in [0, 2^63), got {self.seed!r}")

    def to_dict(self, *, all_learners: bool = False) -> dict[str, Any]:
        """The settings as plain data (lists for tuples), with only this run's learner section unless
        `all_learners`."""
        data = {"seed": self.seed}
        for name in SECTIONS:
            if all_learners or name in self.sections():
                data[name] = {k: list(v) if isinstance(v, tuple) else v
                              for k, v in dataclasses.asdict(getattr(self, name)).items()}
        return data

    def sections(self) -> list[str]:
        """The sections this run uses: the shared ones and its own learner's."""
        own = LEARNER_SECTIONS[self.algorithm.name]
        return [name for name in SECTIONS if name == own or name not in LEARNER_SECTIONS.values()]

    def to_toml(self, *, comments: bool = False) -> str:
        """The configuration as TOML text that load_config reads back to an equal Config; with `comments`
        every setting carries its documentation."""
        seed = next(f for f in dataclasses.fields(Config) if f.name == "seed")
        lines = [_toml_line("seed", self.seed, seed.metadata if comments else None)]
        for name in self.sections():
            section = getattr(self, name)
            lines += ["", f"[{name}]"]
            lines += [_toml_line(f.name, getattr(section, f.name), f.metadata if comments else None)
                      for f in dataclasses.fields(section)]
        return "\n".join(lines) + "\n"


SECTIONS: dict[str, type] = {name: hint for name, hint in get_type_hints(Config).items() if name != "seed"}


def _toml_line(key: str, value: Any, rules: Mapping[str, Any] | None) -> str:
    text = f"{key} = {toml_value(value)}"
    if not rules:
        return text
    allowed = range_text(rules)
    return f"{text:<28} # {rules['doc']}" + ("" if allowed == "valid" else f" ({allowed})")


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


# ---- reading ----------------------------------------------------------------------------------------

def shipped_config_names() -> list[str]:
    return shipped_names(CONFIGS_DIR, ".toml")


def resolve_config_path(name_or_path: str | os.PathLike) -> Path:
    return find_file(name_or_path, CONFIGS_DIR, ".toml", "config", ConfigError)


def read_toml(path: Path) -> dict[str, Any]:
    """The parsed TOML file, or ConfigError naming it."""
    try:
        return tomllib.loads(read_text(path, ConfigError))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None


def load_config(name_or_path: str | os.PathLike = "default", overrides: Mapping[str, Any] | None = None, *,
                complete: bool = False) -> Config:
    """Read a shipped config by name or a TOML file, apply `overrides` ({"section.key": value}), validate.
    With `complete`, every setting must be in the file (a run folder's config.toml)."""
    path = resolve_config_path(name_or_path)
    data = read_toml(path)
    if complete:
        require_complete(data, str(path))
    if not overrides:
        return config_from_dict(data, str(path))
    merged = with_overrides(data, overrides, "command line")
    try:
        return config_from_dict(merged, str(path))  # an override may repair the file, as --algo does
    except ConfigError:
        if not _valid(data):
            raise  # the file alone is invalid too: the error stands, naming the file
    # The file alone is valid, so the problem is the command line's: raise it again, naming the command line.
    return config_from_dict(merged, f"command line (over {path.name})")


def _valid(data: Mapping[str, Any]) -> bool:
    try:
        config_from_dict(data)
    except ConfigError:
        return False
    return True


def config_from_dict(data: Mapping[str, Any], source: str = "<config>") -> Config:
    """Build and validate a Config from parsed TOML (missing fields keep their defaults)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: the config must be a table of sections, got {type(data).__name__}")
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "seed":
            values["seed"] = coerce(value, int, "seed", source)
        elif key not in SECTIONS:
            raise ConfigError(f"{source}: unknown key {key!r} (known: seed, {', '.join(SECTIONS)})")
        else:
            values[key] = section_from_dict(SECTIONS[key], value, key, source)
    config = Config(**values)
    check_section(config, "", source)
    check_sim_settings(config, source)
    own = LEARNER_SECTIONS[config.algorithm.name]
    for name, algo in ((s, a) for a, s in LEARNER_SECTIONS.items()):
        if name in data and name != own:
            raise ConfigError(f"{source}: [{name}] holds settings of algorithm {algo}, but this run's algorithm "
                              f"is {config.algorithm.name} (its settings are [{own}])")
    return config


def require_complete(data: Mapping[str, Any], source: str) -> None:
    """ConfigError naming the first setting missing from `data` (seed, every section this algorithm uses)."""
    if not isinstance(data, Mapping) or "seed" not in data:
        raise ConfigError(f"{source}: incomplete config (no seed); it must list every setting")
    algorithm = data.get("algorithm", {}).get("name", "ga") if isinstance(data.get("algorithm"), Mapping) else "ga"
    probe = config_from_dict({"algorithm": {"name": algorithm}}, source) if algorithm in LEARNER_SECTIONS else Config()
    for name in probe.sections():
        if name == "algorithm" and name not in data:
            continue  # written by versions before the algorithm table: the genetic algorithm
        table = data.get(name)
        if not isinstance(table, Mapping):
            raise ConfigError(f"{source}: incomplete config (no [{name}] table); it must list every setting")
        for f in dataclasses.fields(SECTIONS[name]):
            if f.name not in table:
                raise ConfigError(f"{source}: incomplete config ({name}.{f.name} is missing)")


def parse_override(text: str) -> Any:
    """A command-line value: a TOML literal if it parses as one, else the bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text.strip()


def with_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any], source: str) -> dict[str, Any]:
    """A copy of parsed config data with each "section.key" (or "seed") set; strings are parsed as TOML values."""
    out = {k: dict(v) if isinstance(v, Mapping) else v for k, v in data.items()}
    for dotted, value in overrides.items():
        if isinstance(value, str):
            value = parse_override(value)
        if dotted == "seed":
            out["seed"] = value
            continue
        section, _, name = dotted.partition(".")
        if section not in SECTIONS or not name:
            raise ConfigError(f"{source}: unknown key {dotted!r} (use section.key, sections: {', '.join(SECTIONS)}, "
                              f"or seed)")
        hints = get_type_hints(SECTIONS[section])
        if name not in hints:
            raise ConfigError(f"{source}: unknown key {dotted!r} (known in [{section}]: {', '.join(hints)})")
        table = out.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: {section!r} must be a table [{section}]")
        table[name] = value
    return out


def apply_overrides(config: Config, overrides: Mapping[str, Any], source: str = "command line") -> Config:
    """A new Config: `config` with each "section.key" (or "seed") set, validated as a whole."""
    return config_from_dict(with_overrides(config.to_dict(), overrides, source), source)


def replace_setting(config: Config, dotted: str, value: Any, source: str = "live tweak") -> Config:
    """`config` with one setting changed (validated like a file: a bad value raises ConfigError)."""
    return apply_overrides(config, {dotted: value}, source)


def get_setting(config: Config, dotted: str) -> Any:
    section, _, name = dotted.partition(".")
    return getattr(getattr(config, section), name) if name else getattr(config, section)


def learner_section(config: Config) -> Any:
    """The hyperparameters of the config's learner (e.g. config.evolution for the GA)."""
    return getattr(config, LEARNER_SECTIONS[config.algorithm.name])


def live_settings(config: Config) -> list[str]:
    """The dotted names of the settings of this run's learner that may change while it runs, in the order
    of their `live` slot (the window's key pairs 1-2, 3-4, ...)."""
    name = LEARNER_SECTIONS[config.algorithm.name]
    live = sorted((f.metadata["live"], f.name) for f in dataclasses.fields(SECTIONS[name]) if f.metadata.get("live"))
    return [f"{name}.{field_name}" for _, field_name in live]


def setting_rules(dotted: str) -> dict[str, Any]:
    """The documentation and rules of one setting."""
    section, _, name = dotted.partition(".")
    return dict(next(f for f in dataclasses.fields(SECTIONS[section]) if f.name == name).metadata)


DEFAULT_HEADER = """\
# cars: default configuration -- one track (S-bends); a car laps it within a few generations.
# Written from the settings' definitions (python -m cars.learn.config > cars/configs/default.toml): every
# setting is listed with its documentation. A config file of your own may leave settings out (they keep
# these values). Override any setting on the command line:  cars evolve --set evolution.mutation_rate=0.05
#                                                       or:  cars evolve --evolution.mutation_rate 0.05
"""


def default_toml() -> str:
    return DEFAULT_HEADER + "\n" + Config().to_toml(comments=True)


if __name__ == "__main__":
    sys.stdout.write(default_toml())
