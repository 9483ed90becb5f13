"""Numerical gradient checking: compare a module's or loss's backward with central differences.

For a module, the scalar under test is ``f = sum(forward(x) * r)`` with a fixed random ``r`` (so
``df/dy = r`` is what ``backward`` receives). For every entry ``u`` of the input and of each parameter:

    numeric  = (f(u + eps) - f(u - eps)) / (2 eps)
    analytic = what backward returned / accumulated
    error    = |analytic - numeric| / max(|analytic| + |numeric|, floor)

Everything runs in float64 (the module's parameters are cast temporarily and restored afterwards);
``floor`` keeps gradients that are truly zero from turning rounding noise into a large relative error.
Random layers (``Dropout``) replay the same random numbers on every forward.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .losses import Loss
from .module import Module


def _modules(module: Module) -> list[Module]:
    out = [module]
    for _, child in module.children():
        out.extend(_modules(child))
    return out


def _numeric(f: Callable[[], float], array: np.ndarray, eps: float) -> np.ndarray:
    """Central differences of ``f`` with respect to every entry of ``array`` (perturbed in place)."""
    grad = np.zeros_like(array)
    flat, out = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        plus = f()
        flat[i] = original - eps
        minus = f()
        flat[i] = original
        out[i] = (plus - minus) / (2 * eps)
    return grad


def relative_error(analytic: np.ndarray, numeric: np.ndarray, floor: float = 1e-3) -> float:
    """``max |a - n| / max(|a| + |n|, floor)`` over all entries (0.0 for empty arrays)."""
    if analytic.shape != numeric.shape:
        raise ValueError(f"gradient shape {analytic.shape} differs from the input shape {numeric.shape}")
    if analytic.size == 0:
        return 0.0
    denom = np.maximum(np.abs(analytic) + np.abs(numeric), floor)
    return float(np.max(np.abs(analytic - numeric) / denom))


def gradcheck(target: Module | Loss, *inputs: np.ndarray, eps: float = 1e-6, seed: int = 0,
              floor: float = 1e-3) -> float:
    """Largest relative error between analytic and numerical gradients.

    ``gradcheck(module, x)`` checks dL/dx and every parameter gradient of ``module``;
    ``gradcheck(loss, prediction, target)`` checks dL/dprediction.
    """
    if isinstance(target, Loss):
        return _check_loss(target, *inputs, eps=eps, floor=floor)
    if not isinstance(target, Module) or len(inputs) != 1:
        raise TypeError("gradcheck takes (module, x) or (loss, prediction, target)")
    module = target
    x = np.array(inputs[0], dtype=np.float64)
    params = module.parameters()
    saved = [(p.data, p.grad) for p in params]
    generators = [m.rng for m in _modules(module) if isinstance(getattr(m, "rng", None), np.random.Generator)]
    states = [g.bit_generator.state for g in generators]

    def replay() -> None:
        for generator, state in zip(generators, states):
            generator.bit_generator.state = state

    def f() -> float:
        replay()
        return float(np.sum(module.forward(x) * r))

    try:
        for p in params:
            p.data = p.data.astype(np.float64)
            p.grad = np.zeros_like(p.data)
        replay()
        y = module.forward(x)
        r = np.random.default_rng(seed).standard_normal(y.shape)
        dx = module.backward(r)
        errors = [relative_error(np.asarray(dx), _numeric(f, x, eps), floor)]
        for p in params:
            errors.append(relative_error(p.grad, _numeric(f, p.data, eps), floor))
    finally:
        for p, (data, grad) in zip(params, saved):
            p.data, p.grad = data, grad
        replay()
    return max(errors)


def _check_loss(loss: Loss, prediction: np.ndarray, target: np.ndarray, *, eps: float, floor: float) -> float:
    pred = np.array(prediction, dtype=np.float64)
    target = np.asarray(target)
    if np.issubdtype(target.dtype, np.floating):
        target = target.astype(np.float64)
    loss.forward(pred, target)
    analytic = loss.backward()
    numeric = _numeric(lambda: loss.forward(pred, target), pred, eps)
    return relative_error(analytic, numeric, floor)
