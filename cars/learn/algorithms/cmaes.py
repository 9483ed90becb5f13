"""CMA-ES, the covariance matrix adaptation evolution strategy, written from Hansen's tutorial ("The CMA
Evolution Strategy: A Tutorial", 2016) for the small brains of this project (n ≈ 90 weights), as a
population learner (cars.learn.learner).

The search distribution is N(m, σ² C): a mean brain m (n,), a step size σ and a covariance C (n, n).
One generation of the (μ/μ_w, λ)-strategy:

  sample     z_k ~ N(0, I),  y_k = B D z_k ~ N(0, C),  x_k = m + σ y_k          k = 1..λ
             (C = B D² Bᵀ: B the eigenvectors, D the square roots of the eigenvalues)
  select     the μ best, y_{1:λ} .. y_{μ:λ}; weights w_i ∝ ln((λ + 1)/2) - ln i, Σ w_i = 1,
             μ_eff = 1 / Σ w_i²
  mean       y_w = Σ w_i y_{i:λ};   m ← m + σ y_w                                  (c_m = 1)
  σ path     p_σ ← (1 - c_σ) p_σ + √(c_σ (2 - c_σ) μ_eff) C^(-1/2) y_w,   C^(-1/2) = B D⁻¹ Bᵀ
  step size  σ ← σ exp((c_σ / d_σ) (‖p_σ‖ / E‖N(0, I)‖ - 1))                       (CSA)
  C path     h_σ = 1 if ‖p_σ‖ / √(1 - (1 - c_σ)^(2(g+1))) < (1.4 + 2/(n + 1)) E‖N(0, I)‖ else 0
             p_c ← (1 - c_c) p_c + h_σ √(c_c (2 - c_c) μ_eff) y_w
  covariance C ← (1 - c_1 - c_μ + (1 - h_σ) c_1 c_c (2 - c_c)) C
                 + c_1 p_c p_cᵀ                                                   (rank-one update)
                 + c_μ Σ w_i y_{i:λ} y_{i:λ}ᵀ                                       (rank-μ update)

The rank-one update learns the direction of consecutive steps (the evolution path p_c), the rank-μ
update the shape of this generation's successful steps; cumulative step-size adaptation lengthens σ
when consecutive steps point the same way (‖p_σ‖ longer than a random walk's) and shortens it when
they cancel. The constants are Hansen's defaults (cma_parameters).

Numerical care: C is kept exactly symmetric; its eigendecomposition is refreshed every
`eigen_interval` generations (Hansen's lazy update: the matrix changes slowly when c_1 + c_μ is
small); eigenvalues are floored so C's condition number stays below MAX_CONDITION; the exponent of
the σ update is capped at 1 (σ grows at most e-fold per generation).

As with OpenAI-ES (cars.learn.algorithms.es), the mean itself drives as row 0 of ask() (the gold car), so the
champion is the mean or the generation's best sample, whichever drove further; the mean's fitness
never enters the update. The run's generator draws every z, in ask(), so a checkpoint (m, σ, C, B, D,
the paths, the generator) resumes bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from engine import Module
from engine.blas import blas_threads

from cars.learn.brain import initial_genomes

if TYPE_CHECKING:
    from cars.learn.config import Config

MAX_CONDITION = 1e14  # largest ratio of C's eigenvalues (axis ratio 1e7)
MAX_LOG_SIGMA_STEP = 1.0  # σ changes by at most a factor e per generation


@dataclass(frozen=True)
class CMAParameters:
    """Hansen's default strategy parameters for dimension n, population λ and parents μ."""

    n: int
    lam: int
    mu: int
    weights: np.ndarray  # (μ,) positive, decreasing, sum 1
    mu_eff: float        # variance effective selection mass 1 / Σ w_i²
    c_sigma: float       # learning rate of the σ path
    d_sigma: float       # damping of the σ update
    c_c: float           # learning rate of the C path
    c_1: float           # learning rate of the rank-one update
    c_mu: float          # learning rate of the rank-μ update
    chi_n: float         # E‖N(0, I)‖
    eigen_interval: int  # generations between eigendecompositions


def cma_parameters(n: int, lam: int, mu: int = 0) -> CMAParameters:
    """The strategy parameters of the tutorial's Table 1 (μ = λ // 2 when mu is 0)."""
    mu = mu or lam // 2
    raw = math.log((lam + 1) / 2) - np.log(np.arange(1, mu + 1))
    weights = raw / raw.sum()
    mu_eff = float(1.0 / np.sum(weights ** 2))
    c_sigma = (mu_eff + 2) / (n + mu_eff + 5)
    d_sigma = 1 + 2 * max(0.0, math.sqrt((mu_eff - 1) / (n + 1)) - 1) + c_sigma
    c_c = (4 + mu_eff / n) / (n + 4 + 2 * mu_eff / n)
    c_1 = 2 / ((n + 1.3) ** 2 + mu_eff)
    c_mu = min(1 - c_1, 2 * (mu_eff - 2 + 1 / mu_eff) / ((n + 2) ** 2 + mu_eff))
    chi_n = math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n))
    eigen_interval = max(1, int(1 / ((c_1 + c_mu) * n * 10)))
    return CMAParameters(n, lam, mu, weights, mu_eff, c_sigma, d_sigma, c_c, c_1, c_mu, chi_n, eigen_interval)


class CMAState:
    """The search distribution N(m, σ² C) and its evolution paths; sample() and update() are one generation.
    Pure numpy (float64), no simulation: tests run it on analytic functions."""

    ARRAYS = ("mean", "C", "B", "D", "p_c", "p_sigma")

    def __init__(self, mean: np.ndarray, sigma: float, params: CMAParameters) -> None:
        n = params.n
        self.params = params
        self.mean = np.asarray(mean, dtype=np.float64).copy()
        self.sigma = float(sigma)
        self.C = np.eye(n)
        self.B = np.eye(n)    # eigenvectors of C (columns)
        self.D = np.ones(n)   # square roots of C's eigenvalues: the axis lengths
        self.p_c = np.zeros(n)
        self.p_sigma = np.zeros(n)
        self.generation = 0       # updates done (g)
        self.eigen_generation = 0  # generation of the last eigendecomposition

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """y (λ, n) ~ N(0, C): y_k = B D z_k with z_k ~ N(0, I). The samples are x_k = m + σ y_k."""
        z = rng.standard_normal((self.params.lam, self.params.n))
        return (z * self.D) @ self.B.T

    def update(self, y: np.ndarray, fitness: np.ndarray) -> None:
        """One generation's update from the steps y (λ, n) that were sampled and their fitness (λ,),
        higher is better (ties keep the lower index first)."""
        p = self.params
        best = np.argsort(-np.asarray(fitness, dtype=np.float64), kind="stable")[:p.mu]
        y_sel = y[best]                                              # (μ, n): y_{1:λ} .. y_{μ:λ}
        y_w = p.weights @ y_sel                                      # (n,)
        self.mean = self.mean + self.sigma * y_w                     # m ← m + σ y_w

        c_inv_sqrt_y_w = self.B @ ((self.B.T @ y_w) / self.D)        # C^(-1/2) y_w = B D⁻¹ Bᵀ y_w
        self.p_sigma = (1 - p.c_sigma) * self.p_sigma + math.sqrt(p.c_sigma * (2 - p.c_sigma) * p.mu_eff) \
            * c_inv_sqrt_y_w
        norm = float(np.linalg.norm(self.p_sigma))
        log_step = (p.c_sigma / p.d_sigma) * (norm / p.chi_n - 1)
        self.sigma *= math.exp(min(log_step, MAX_LOG_SIGMA_STEP))

        self.generation += 1
        h_sigma = norm / math.sqrt(1 - (1 - p.c_sigma) ** (2 * self.generation)) < (1.4 + 2 / (p.n + 1)) * p.chi_n
        self.p_c = (1 - p.c_c) * self.p_c + (math.sqrt(p.c_c * (2 - p.c_c) * p.mu_eff) * y_w if h_sigma else 0.0)
        lost = 0.0 if h_sigma else p.c_1 * p.c_c * (2 - p.c_c)  # variance p_c missed while h_σ stalled it
        rank_one = np.outer(self.p_c, self.p_c)
        rank_mu = (y_sel.T * p.weights) @ y_sel                      # Σ w_i y_i y_iᵀ
        self.C = (1 - p.c_1 - p.c_mu + lost) * self.C + p.c_1 * rank_one + p.c_mu * rank_mu
        self.C = (self.C + self.C.T) / 2  # exactly symmetric despite rounding
        if self.generation - self.eigen_generation >= p.eigen_interval:
            self.decompose()

    def decompose(self) -> None:
        """B, D from C = B D² Bᵀ, with the eigenvalues floored at max / MAX_CONDITION (then C is rebuilt
        from them so the three stay consistent)."""
        with blas_threads(1):  # for n ≈ 90, threads only cost: 0.1 s per call with two against 0.6 ms with one
            eigenvalues, vectors = np.linalg.eigh(self.C)
        floor = max(float(eigenvalues.max()), 1e-300) / MAX_CONDITION
        if eigenvalues.min() < floor:
            eigenvalues = np.maximum(eigenvalues, floor)
            self.C = (vectors * eigenvalues) @ vectors.T
            self.C = (self.C + self.C.T) / 2
        self.B, self.D = vectors, np.sqrt(eigenvalues)
        self.eigen_generation = self.generation

    @property
    def axis_ratio(self) -> float:
        """Longest over shortest axis of the distribution, √cond(C) (1 = round)."""
        return float(self.D.max() / self.D.min())

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.ARRAYS}

    def load(self, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> None:
        n = self.params.n
        for name in self.ARRAYS:
            shape = (n, n) if name in ("C", "B") else (n,)
            if arrays[name].shape != shape:
                raise ValueError(f"{name} has shape {arrays[name].shape}, expected {shape}")
            setattr(self, name, arrays[name].astype(np.float64))
        self.sigma = float(state["sigma"])
        self.generation = int(state["generation"])
        self.eigen_generation = int(state["eigen_generation"])


class CMAES:
    """CMA-ES as a population learner: ask() -> the mean and λ samples, tell(fitness, config) -> one update
    of the distribution. See the module docstring for the equations."""

    section = "cmaes"
    stats = ("theta_fitness", "step_size", "step_norm", "theta_distance", "axis_ratio")
    gold_label = "mean brain m"
    elites = 1  # row 0 of ask() is the mean itself: drawn gold

    def __init__(self, config: Config, model: Module, rng: np.random.Generator) -> None:
        c = config.cmaes
        self.rng = rng
        mean = initial_genomes(model, 1, rng, config.brain.init)[0].astype(np.float64)
        self.start = mean.copy()
        self.cma = CMAState(mean, c.sigma, cma_parameters(len(mean), c.population, c.parents))
        self.sigma_setting = c.sigma  # the cmaes.sigma setting last seen: a change of it is a live tweak
        self.steps: np.ndarray | None = None  # y of the generation being driven, drawn by ask()
        self.last = {"theta_fitness": math.nan, "step_size": c.sigma, "step_norm": 0.0, "theta_distance": 0.0,
                     "axis_ratio": 1.0}

    def ask(self) -> np.ndarray:
        """(λ + 1, n) float32: m, then m + σ y_k. The samples are drawn once per generation."""
        if self.steps is None:
            self.steps = self.cma.sample(self.rng)
        m = self.cma.mean
        return np.concatenate([m[None, :], m + self.cma.sigma * self.steps]).astype(np.float32)

    def tell(self, fitness: np.ndarray, config: Config) -> dict[str, float]:
        """Update the distribution from the fitness (λ + 1,) of ask()'s rows (row 0, the mean, is only
        recorded). A changed cmaes.sigma in `config` (a live tweak) replaces the adapted step size."""
        if self.steps is None:
            raise RuntimeError("tell() before ask()")
        fitness = np.asarray(fitness, dtype=np.float64)
        sigma_used, before = self.cma.sigma, self.cma.mean.copy()
        self.cma.update(self.steps, fitness[1:])
        if config.cmaes.sigma != self.sigma_setting:
            self.cma.sigma = self.sigma_setting = config.cmaes.sigma
        self.steps = None
        self.last = {"theta_fitness": float(fitness[0]), "step_size": sigma_used,
                     "step_norm": float(np.linalg.norm(self.cma.mean - before)),
                     "theta_distance": float(np.linalg.norm(self.cma.mean - self.start)),
                     "axis_ratio": self.cma.axis_ratio}
        return dict(self.last)

    def scheduled_changes(self, config: Config) -> dict[str, Any]:
        return {}  # σ adapts inside the learner (CSA); the setting is only its start and a live override

    def hud_rows(self, config: Config) -> list[tuple[str, str]]:
        last = self.last
        mean = "-" if math.isnan(last["theta_fitness"]) else f"{last['theta_fitness']:.3f} laps"
        return [("step size σ", f"{self.cma.sigma:.4f}  (adapted)"),
                ("mean m (gold car)", mean),
                ("step |Δm|", f"{last['step_norm']:.4f}"),
                ("m moved", f"{last['theta_distance']:.3f}  from m0"),
                ("axis ratio", f"{self.cma.axis_ratio:.2f}  (λ {self.cma.params.lam}, μ {self.cma.params.mu})")]

    # ---- checkpoint --------------------------------------------------------------------------------

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        last = {k: None if math.isnan(v) else v for k, v in self.last.items()}  # JSON has no NaN
        return ({**self.cma.arrays(), "mean0": self.start},
                {"sigma": self.cma.sigma, "generation": self.cma.generation,
                 "eigen_generation": self.cma.eigen_generation, "sigma_setting": self.sigma_setting, "last": last})

    def restore(self, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> None:
        self.cma.load(arrays, state)
        if arrays["mean0"].shape != self.start.shape:
            raise ValueError(f"mean0 has shape {arrays['mean0'].shape}, expected {self.start.shape}")
        self.start = arrays["mean0"].astype(np.float64)
        self.sigma_setting = float(state["sigma_setting"])
        self.last = {k: float(v) if v is not None else math.nan for k, v in state["last"].items()}
        self.steps = None
