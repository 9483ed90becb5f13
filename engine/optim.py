"""Optimisers. Each update is a few in-place numpy operations per parameter on preallocated state,
so a step allocates no new arrays (apart from a scratch buffer per parameter created once)."""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from .module import Parameter


class Optimizer:
    """Base class: holds the parameters and the learning rate ``lr`` (settable, e.g. by a schedule)."""

    def __init__(self, params: Iterable[Parameter], lr: float) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__} got no parameters")
        if lr < 0:
            raise ValueError(f"learning rate must be >= 0, got {lr}")
        self.lr = float(lr)
        self._scratch = [np.empty_like(p.data) for p in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad.fill(0)

    def step(self) -> None:
        raise NotImplementedError

    def _gradient(self, index: int, weight_decay: float) -> np.ndarray:
        """``grad + weight_decay * w`` (L2 penalty folded into the gradient), in the scratch buffer."""
        p = self.params[index]
        if not weight_decay:
            return p.grad
        g = np.multiply(p.data, weight_decay, out=self._scratch[index])
        g += p.grad
        return g


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay (PyTorch semantics).

        g = dL/dw + wd * w
        v = mu * v + g                            (momentum buffer; v = g on the first step)
        w -= lr * (g + mu * v)  if nesterov else  lr * v       (lr * g without momentum)
    """

    def __init__(self, params: Iterable[Parameter], lr: float, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        if nesterov and momentum <= 0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        self.momentum, self.nesterov, self.weight_decay = float(momentum), bool(nesterov), float(weight_decay)
        self._velocity = [np.zeros_like(p.data) for p in self.params] if self.momentum else []
        self._update = [np.empty_like(p.data) for p in self.params]
        self.steps = 0

    def step(self) -> None:
        mu, lr = self.momentum, self.lr
        for i, p in enumerate(self.params):
            g = self._gradient(i, self.weight_decay)
            update = self._update[i]
            if mu:
                v = self._velocity[i]
                if self.steps == 0:
                    np.copyto(v, g)
                else:
                    v *= mu
                    v += g
                if self.nesterov:
                    np.multiply(v, mu, out=update)
                    update += g
                    update *= lr
                else:
                    np.multiply(v, lr, out=update)
            else:
                np.multiply(g, lr, out=update)
            p.data -= update
        self.steps += 1


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction; ``weight_decay`` adds an L2 term to the gradient.

        g = dL/dw + wd * w
        m = b1 * m + (1 - b1) * g;        v = b2 * v + (1 - b2) * g^2
        w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    """

    decoupled = False

    def __init__(self, params: Iterable[Parameter], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        self.beta1, self.beta2 = float(betas[0]), float(betas[1])
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ValueError(f"Adam betas must lie in [0, 1), got {betas}")
        self.eps, self.weight_decay = float(eps), float(weight_decay)
        self._m = [np.zeros_like(p.data) for p in self.params]
        self._v = [np.zeros_like(p.data) for p in self.params]
        self._tmp = [np.empty_like(p.data) for p in self.params]
        self.steps = 0

    def step(self) -> None:
        self.steps += 1
        b1, b2, t = self.beta1, self.beta2, self.steps
        step_size = self.lr / (1 - b1 ** t)
        root_correction = 1.0 / math.sqrt(1 - b2 ** t)
        for i, p in enumerate(self.params):
            if self.decoupled:
                if self.weight_decay:
                    p.data *= 1 - self.lr * self.weight_decay
                g = p.grad
            else:
                g = self._gradient(i, self.weight_decay)
            m, v, tmp = self._m[i], self._v[i], self._tmp[i]
            m *= b1
            np.multiply(g, 1 - b1, out=tmp)
            m += tmp
            v *= b2
            np.multiply(g, g, out=tmp)
            tmp *= 1 - b2
            v += tmp
            np.sqrt(v, out=tmp)
            tmp *= root_correction
            tmp += self.eps
            np.divide(m, tmp, out=tmp)
            tmp *= step_size
            p.data -= tmp

    def state_dict(self) -> dict[str, np.ndarray]:
        """The optimiser's state as arrays ("m0", "v0", ... per parameter, "steps"): with the parameters'
        own values, what a checkpoint needs to continue training exactly."""
        state = {"steps": np.array(self.steps)}
        for i, (m, v) in enumerate(zip(self._m, self._v)):
            state[f"m{i}"], state[f"v{i}"] = m.copy(), v.copy()
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore state_dict(); ValueError naming the first array that is missing or of the wrong shape."""
        for i, (m, v) in enumerate(zip(self._m, self._v)):
            for name, target in ((f"m{i}", m), (f"v{i}", v)):
                if name not in state or np.shape(state[name]) != target.shape:
                    raise ValueError(f"Adam state {name}: expected shape {target.shape}, got "
                                     f"{np.shape(state[name]) if name in state else 'nothing'}")
        for i, (m, v) in enumerate(zip(self._m, self._v)):
            m[...], v[...] = state[f"m{i}"], state[f"v{i}"]
        self.steps = int(state["steps"])


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``w *= 1 - lr * wd`` before the Adam update,
    instead of adding ``wd * w`` to the gradient. Default ``weight_decay=0.01`` as in PyTorch."""

    decoupled = True

    def __init__(self, params: Iterable[Parameter], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.01) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)
