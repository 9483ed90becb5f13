"""OpenAI-ES (Salimans et al. 2017, "Evolution Strategies as a Scalable Alternative to Reinforcement
Learning") as a population learner (cars.learn.learner), on numpy.

θ (G,) is one brain's weights: the mean of the search distribution N(θ, σ² I). Instead of breeding a
population, ES estimates the gradient of the expected fitness J(θ) = E_ε[F(θ + σε)] and climbs it:

    ε_1 .. ε_n ~ N(0, I)              antithetic: ε_{k + n/2} = -ε_k, so the brains come in mirrored pairs
    x_i = θ + σ ε_i                   every x_i drives the generation's tracks as one car
    F_i = fitness(x_i)                laps of progress (higher is better)
    u_i = shape(F)_i                  centred ranks: rank(F_i) / (n - 1) - 1/2, in [-1/2, 1/2]
    g   = 1/(n σ) Σ_i u_i ε_i         ≈ ∇θ J(θ), the search gradient
    θ  ← Adam(θ, grad = -g + λ θ)     engine.optim.Adam minimises, so it is fed -g (gradient ascent on F);
                                      λ = weight decay folds an L2 pull towards 0 into the gradient

Why each piece: antithetic pairs cancel the noise of the estimate's even terms (the same direction is
tried both ways); rank shaping makes the update blind to the fitness scale and to outliers (a car that
laps does not drown out everything else); Adam gives each weight its own step size.

θ itself drives too: ask() returns n + 1 rows, row 0 is θ (the gold car, `elites` = 1) and rows 1..n
the perturbations. θ's fitness is recorded (history column theta_fitness) but never enters g. Because
the run keeps as champion the best row of any generation, the champion is θ itself or the
generation's best perturbation, whichever drove further.

σ is the live setting es.sigma (decayed by sigma_decay after each generation), the learning rate
es.learning_rate; both come into force with the next update, like the GA's mutation rate. Every draw
comes from the run's generator, in ask(), so a checkpoint taken between generations (θ, Adam's
moments and step count, σ, the generator's state) resumes bit for bit.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from engine import Module
from engine.module import Parameter
from engine.optim import Adam

from cars.learn.brain import initial_genomes

if TYPE_CHECKING:
    from cars.learn.config import Config


def centered_ranks(fitness: np.ndarray) -> np.ndarray:
    """u (n,) float64: rank(F_i) / (n - 1) - 1/2, the worst -1/2 and the best +1/2; tied fitnesses share
    their mean rank (so identical cars pull the same way and their pull cancels in antithetic pairs)."""
    f = np.asarray(fitness, dtype=np.float64)
    n = len(f)
    if n < 2:
        return np.zeros(n)
    order = np.argsort(f, kind="stable")
    _, first, counts = np.unique(f[order], return_index=True, return_counts=True)
    ranks = np.empty(n)
    ranks[order] = np.repeat(first + (counts - 1) / 2.0, counts)
    return ranks / (n - 1) - 0.5


def shape_fitness(fitness: np.ndarray, method: str) -> np.ndarray:
    """The weights u (n,) the gradient gives each perturbation: centered_rank, zscore ((F - mean) / std) or raw."""
    f = np.asarray(fitness, dtype=np.float64)
    if method == "centered_rank":
        return centered_ranks(f)
    if method == "zscore":
        std = f.std()
        return (f - f.mean()) / std if std > 0 else np.zeros_like(f)
    if method == "raw":
        return f.copy()
    raise ValueError(f"unknown fitness shaping {method!r}")


def es_gradient(noise: np.ndarray, weights: np.ndarray, sigma: float) -> np.ndarray:
    """g (G,) = 1/(n σ) Σ_i u_i ε_i for noise ε (n, G) and weights u (n,): the estimate of ∇θ E[F(θ + σε)]."""
    return weights @ noise / (len(weights) * sigma)


def sample_noise(rng: np.random.Generator, population: int, size: int, antithetic: bool) -> np.ndarray:
    """ε (population, size) float64 ~ N(0, I); antithetic: the second half is the first half negated."""
    if not antithetic:
        return rng.standard_normal((population, size))
    half = rng.standard_normal((population // 2, size))
    return np.concatenate([half, -half])


class OpenAIES:
    """OpenAI-ES as a population learner: ask() -> θ and its perturbations, tell(fitness, config) -> one
    Adam step of θ. See the module docstring for the equations."""

    section = "es"
    stats = ("theta_fitness", "step_norm", "theta_distance", "grad_norm")
    gold_label = "mean brain θ"
    elites = 1  # row 0 of ask() is θ itself: drawn gold

    def __init__(self, config: Config, model: Module, rng: np.random.Generator) -> None:
        es = config.es
        self.rng = rng
        self.theta = Parameter(initial_genomes(model, 1, rng, config.brain.init)[0])
        self.start = self.theta.data.copy()  # θ_0, for the distance θ moved
        self.adam = Adam([self.theta], lr=es.learning_rate, betas=(es.adam_beta1, es.adam_beta2),
                         weight_decay=es.weight_decay)
        self.sigma = es.sigma                # σ of the generation being driven
        self.population = es.population
        self.antithetic = es.antithetic
        self.noise: np.ndarray | None = None  # ε of the generation being driven, drawn by ask()
        self.last = {"theta_fitness": math.nan, "step_norm": 0.0, "theta_distance": 0.0, "grad_norm": 0.0}

    def ask(self) -> np.ndarray:
        """(n + 1, G) float32: θ, then θ + σ ε_i. The noise is drawn once per generation."""
        if self.noise is None:
            self.noise = sample_noise(self.rng, self.population, self.theta.data.size, self.antithetic)
        theta = self.theta.data.astype(np.float64)
        perturbed = theta + self.sigma * self.noise
        return np.concatenate([theta[None, :], perturbed]).astype(np.float32)

    def tell(self, fitness: np.ndarray, config: Config) -> dict[str, float]:
        """One update of θ from the fitness (n + 1,) of ask()'s rows; `config` holds the settings of the
        next generation (its learning rate and weight decay drive this update, its σ the next sampling)."""
        es = config.es
        if self.noise is None:
            raise RuntimeError("tell() before ask()")
        fitness = np.asarray(fitness, dtype=np.float64)
        g = es_gradient(self.noise, shape_fitness(fitness[1:], es.fitness_shaping), self.sigma)
        before = self.theta.data.copy()
        self.theta.grad[...] = -g  # Adam descends: descending -F climbs F
        self.adam.lr, self.adam.weight_decay = es.learning_rate, es.weight_decay
        self.adam.step()
        self.last = {"theta_fitness": float(fitness[0]),
                     "step_norm": float(np.linalg.norm(self.theta.data - before)),
                     "theta_distance": float(np.linalg.norm(self.theta.data - self.start)),
                     "grad_norm": float(np.linalg.norm(g))}
        self.sigma = es.sigma
        self.noise = None
        return dict(self.last)

    def scheduled_changes(self, config: Config) -> dict[str, Any]:
        """The decayed σ for the generation after next (never below sigma_min)."""
        es = config.es
        if es.sigma_decay == 1.0 or es.sigma <= es.sigma_min:
            return {}
        return {"es.sigma": max(es.sigma * es.sigma_decay, es.sigma_min)}

    def hud_rows(self, config: Config) -> list[tuple[str, str]]:
        last = self.last
        theta = "-" if math.isnan(last["theta_fitness"]) else f"{last['theta_fitness']:.3f} laps"
        return [("θ (gold car)", theta),
                ("step |Δθ|", f"{last['step_norm']:.4f}"),
                ("θ moved", f"{last['theta_distance']:.3f}  from θ0"),
                ("perturbations", f"{self.population}{' mirrored' if self.antithetic else ''}, "
                                  f"Adam t={self.adam.steps}")]

    # ---- checkpoint --------------------------------------------------------------------------------

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        adam = self.adam.state_dict()
        arrays = {"theta": self.theta.data, "theta0": self.start, "adam_m": adam["m0"], "adam_v": adam["v0"]}
        last = {k: None if math.isnan(v) else v for k, v in self.last.items()}  # JSON has no NaN
        return arrays, {"sigma": self.sigma, "adam_steps": self.adam.steps, "last": last}

    def restore(self, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> None:
        size = self.theta.data.size
        for name in ("theta", "theta0", "adam_m", "adam_v"):
            if arrays[name].shape != (size,):
                raise ValueError(f"{name} has shape {arrays[name].shape}, expected ({size},)")
        self.theta.data[...] = arrays["theta"]
        self.start = arrays["theta0"].astype(np.float32)
        self.adam.load_state_dict({"m0": arrays["adam_m"], "v0": arrays["adam_v"], "steps": state["adam_steps"]})
        self.sigma = float(state["sigma"])
        self.last = {k: float(v) if v is not None else math.nan for k, v in state["last"].items()}
        self.noise = None
