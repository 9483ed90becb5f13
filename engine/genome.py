"""Genomes for neuroevolution: a model's parameters as one flat vector, and a whole population of
same-shaped networks evaluated in one batched call.

Genome layout: the arrays of ``model.parameters()`` in order, each flattened in C order and
concatenated, so ``genome_size(model) == model.num_parameters()``. For ``Dense(in, out)`` that is the
weight (in*out values, row-major: all outputs of input 0 first) followed by the bias (out values).
"""

from __future__ import annotations

import copy

import numpy as np

from .activations import LeakyReLU, ReLU, Sigmoid, Tanh
from .layers import Dense
from .module import Module, Sequential

_ACTIVATIONS = (ReLU, LeakyReLU, Sigmoid, Tanh)


def genome_size(model: Module) -> int:
    """Number of scalars in the model's genome (= its parameter count)."""
    return model.num_parameters()


def get_genome(model: Module) -> np.ndarray:
    """All parameters flattened into one new vector ``(G,)`` of the parameters' dtype."""
    params = model.parameters()
    if not params:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate([p.data.ravel() for p in params])


def set_genome(model: Module, vector: np.ndarray) -> None:
    """Copy ``vector (G,)`` into the model's parameters (in place, keeping their dtype)."""
    vector = np.asarray(vector)
    size = genome_size(model)
    if vector.shape != (size,):
        raise ValueError(f"genome has shape {vector.shape}, the model needs ({size},)")
    offset = 0
    for p in model.parameters():
        p.data[...] = vector[offset:offset + p.data.size].reshape(p.data.shape)
        offset += p.data.size


class PopulationNet:
    """P networks with the architecture of ``model`` (a ``Sequential`` of ``Dense`` and activation layers),
    their parameters stacked on a leading population axis.

    genomes: (P, G). Dense layer l holds ``W_l: (P, in, out)`` and ``b_l: (P, out)``.

    ``forward(x)``:            x: (P, in)  -> (P, out),   y[p] = net_p(x[p])
    ``forward(x, rows=r)``:    x: (M, in), r: (M,) ints -> (M, out),  y[m] = net_{r[m]}(x[m])

    Each Dense is one batched matrix product ``h[m] = h[m] @ W[r[m]] + b[r[m]]``: no Python loop over
    networks. ``last_activations`` holds every layer's output of the last call (for drawing).
    """

    def __init__(self, model: Module, genomes: np.ndarray) -> None:
        layers = list(model) if isinstance(model, Sequential) else [model]
        for layer in layers:
            if not isinstance(layer, (Dense, *_ACTIVATIONS)):
                raise ValueError(f"PopulationNet supports Dense and activation layers, got {type(layer).__name__}")
        dtype = model.parameters()[0].data.dtype if model.parameters() else np.float32
        genomes = np.asarray(genomes)
        size = genome_size(model)
        if genomes.ndim != 2 or genomes.shape[1] != size:
            raise ValueError(f"genomes must have shape (P, {size}), got {genomes.shape}")
        self.population, self.dtype = genomes.shape[0], dtype
        self.layers: list[tuple[str, object]] = []
        offset = 0
        for layer in layers:
            if isinstance(layer, Dense):
                n_in, n_out = layer.in_features, layer.out_features
                w = genomes[:, offset:offset + n_in * n_out].reshape(-1, n_in, n_out).astype(dtype)
                offset += n_in * n_out
                b = genomes[:, offset:offset + n_out].astype(dtype)
                offset += n_out
                self.layers.append(("dense", (w, b)))
            else:
                self.layers.append(("activation", copy.deepcopy(layer)))
        dense = [weights for kind, weights in self.layers if kind == "dense"]
        self.in_features = dense[0][0].shape[1] if dense else None
        self.last_activations: list[np.ndarray] = []

    def forward(self, x: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Outputs of the population (in the model's dtype, float32 by default; x is cast to it)."""
        # C order: numpy's stacked matmul takes another (differently rounding) path for other layouts, and
        # a network's output must not depend on which batch, or which place in it, its input comes from.
        x = np.ascontiguousarray(x, dtype=self.dtype)
        if rows is None:
            if x.ndim != 2 or x.shape[0] != self.population:
                raise ValueError(f"PopulationNet expects x of shape ({self.population}, in), got {x.shape}")
        else:
            rows = np.asarray(rows)
            if rows.ndim != 1 or x.ndim != 2 or rows.shape[0] != x.shape[0]:
                raise ValueError(f"PopulationNet expects x (M, in) and rows (M,), got {x.shape} and {rows.shape}")
            if rows.size and (rows.min() < 0 or rows.max() >= self.population):
                raise ValueError(f"rows must lie in [0, {self.population}), got [{rows.min()}, {rows.max()}]")
        if self.in_features is not None and x.shape[1] != self.in_features:
            raise ValueError(f"PopulationNet expects {self.in_features} inputs, got {x.shape[1]}")
        activations = []
        h = x
        for kind, layer in self.layers:
            if kind == "dense":
                w, b = layer
                if rows is not None:
                    w, b = w[rows], b[rows]
                h = np.matmul(h[:, None, :], w)[:, 0, :]
                h += b
            else:
                h = layer.forward(h)
            activations.append(h)
        self.last_activations = activations
        return h

    __call__ = forward
