"""The learners that evolve a population of brains, behind one small interface, and the registry of them.

The generation loop (cars.learn.run.EvolutionRun) knows nothing about how a learner learns. Each
generation it asks for the genomes to evaluate, lets every genome drive, and tells the learner how
far each drove:

    genomes = learner.ask()                  # (P, G) float32: the brains to evaluate in this generation
    ...                                      # every genome drives the generation's tracks
    stats = learner.tell(fitness, config)    # fitness (P,), higher is better; config: the settings in force
                                             # for the next generation; stats: numbers for history.csv

A learner is built as `cls(config, model, rng)` (model: the brain template whose genome layout the
genomes follow; rng: the run's one random generator, which the learner must use for every draw so a
seed decides the run), and also has:

    section: str                   the config section of its hyperparameters (e.g. "evolution")
    stats: tuple[str, ...]         the keys tell() returns, in history.csv order
    elites: int                    rows of ask() carried over unchanged from the last generation (drawn gold)
    gold_label: str                what the window's legend calls those gold cars ("elite", "mean brain θ")
    scheduled_changes(config)      {"section.key": value} the learner itself changes for the next
                                   generation (e.g. a decaying mutation sigma)
    state() / restore(arrays, state)   everything needed to continue exactly (arrays + JSON-able dict)
    hud_rows(config)               [(label, text)] facts about the learner for the window's HUD
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from cars.learn.algorithms.cmaes import CMAES
from cars.learn.algorithms.es import OpenAIES
from cars.learn.algorithms.ga import GeneticAlgorithm


class PopulationLearner(Protocol):
    section: str
    stats: tuple[str, ...]
    elites: int
    gold_label: str

    def ask(self) -> np.ndarray: ...

    def tell(self, fitness: np.ndarray, config: Any) -> dict[str, float]: ...

    def scheduled_changes(self, config: Any) -> dict[str, Any]: ...

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]: ...

    def restore(self, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> None: ...

    def hud_rows(self, config: Any) -> list[tuple[str, str]]: ...


POPULATION_LEARNERS: dict[str, type] = {"ga": GeneticAlgorithm, "es": OpenAIES, "cmaes": CMAES}


def make_learner(config: Any, model: Any, rng: np.random.Generator) -> PopulationLearner:
    return POPULATION_LEARNERS[config.algorithm.name](config, model, rng)
