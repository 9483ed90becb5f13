"""The building blocks every layer shares: ``Parameter``, ``Module`` and ``Sequential``.

Backpropagation in one paragraph: a network is a chain ``y = f_L(...f_2(f_1(x)))``. Each layer's
``forward`` computes its output and remembers what it needs; its ``backward`` receives
``dL/dy`` (the gradient of the loss with respect to its output), adds ``dL/dθ`` to each of its
parameters' ``.grad`` and returns ``dL/dx``, which is the ``dL/dy`` of the layer before it
(the chain rule). ``Sequential`` simply runs the forwards left to right and the backwards right
to left.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np


class Parameter:
    """A trainable array and its gradient.

    data: any shape, float dtype; grad: same shape and dtype, accumulated by ``backward``.
    """

    __slots__ = ("data", "grad")

    def __init__(self, data: np.ndarray) -> None:
        self.data = np.ascontiguousarray(data)
        self.grad = np.zeros_like(self.data)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class: ``forward(x)``, ``backward(grad_out) -> grad_in``, parameters, modes, state.

    Subclasses store ``Parameter`` attributes (found in assignment order) and override
    ``forward``/``backward``; containers override ``children``. ``config()`` returns the JSON-able
    constructor arguments, from which ``engine.serialize`` rebuilds the architecture.
    """

    training: bool = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def param_backward(self, grad_out: np.ndarray) -> None:
        """Accumulate parameter gradients only; layers override it to skip computing ``dL/dx``."""
        self.backward(grad_out)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    # --- structure ----------------------------------------------------------------------
    def children(self) -> list[tuple[str, "Module"]]:
        return []

    def named_parameters(self, prefix: str = "") -> list[tuple[str, Parameter]]:
        """``[("0.weight", p), ...]`` in a fixed order: own parameters, then children's."""
        out = [(prefix + name, value) for name, value in vars(self).items() if isinstance(value, Parameter)]
        for name, child in self.children():
            out.extend(child.named_parameters(f"{prefix}{name}."))
        return out

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def num_parameters(self) -> int:
        return sum(p.data.size for p in self.parameters())

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad.fill(0)

    def train(self, mode: bool = True) -> "Module":
        self.training = mode
        for _, child in self.children():
            child.train(mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    # --- state --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter array, keyed like ``"0.weight"``."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy arrays into the parameters (in place, keeping dtype).

        Raises ``ValueError`` naming the layer and both shapes on a mismatch, or the missing /
        unexpected keys.
        """
        params = dict(self.named_parameters())
        missing = [k for k in params if k not in state]
        unexpected = [k for k in state if k not in params]
        if missing or unexpected:
            raise ValueError(f"state dict does not match the model: missing {missing}, unexpected {unexpected}")
        for name, p in params.items():
            value = np.asarray(state[name])
            if value.shape != p.data.shape:
                raise ValueError(f"shape mismatch for {name}: model has {p.data.shape}, "
                                 f"state dict has {value.shape}")
        for name, p in params.items():
            p.data[...] = state[name]

    def config(self) -> dict[str, Any]:
        """JSON-able description ``{"type": class name, **constructor arguments}``."""
        return {"type": type(self).__name__}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "type")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


class Sequential(Module):
    """Layers applied in order. ``forward``: x -> layer_0 -> ... -> layer_{L-1}.

    ``backward(grad_out)`` runs the layers' backwards in reverse and returns dL/dx. A ``Conv2D`` followed
    by a 2x2 ``MaxPool2D`` (and a ``ReLU``) runs as one fused step with the same result
    (``engine.kernels.fused``); ``model.fuse = False`` runs every layer on its own.
    When the input gradient is not needed (training on data), pass ``input_grad=False`` or set
    ``model.input_grad = False``: the layers before the first parameterised layer are skipped and
    that layer computes only its parameter gradients (for an MLP on MNIST this saves ~25% of the
    backward work); ``backward`` then returns ``None``.
    """

    fuse = True  # run Conv2D -> MaxPool2D(2) -> ReLU as one step (engine.kernels.fused): same maths, faster

    def __init__(self, *layers: Module) -> None:
        for layer in layers:
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential takes Modules, got {type(layer).__name__}")
        self.layers = list(layers)
        self.training = True
        self.input_grad = True
        self._plan: tuple[tuple, list] = ((), [])

    def children(self) -> list[tuple[str, Module]]:
        return [(str(i), layer) for i, layer in enumerate(self.layers)]

    def forward(self, x: np.ndarray) -> np.ndarray:
        for step in self._steps():
            x = step.forward(x)
        return x

    def backward(self, grad_out: np.ndarray, *, input_grad: bool | None = None) -> np.ndarray | None:
        if input_grad is None:
            input_grad = self.input_grad
        steps = self._steps()
        stop = 0 if input_grad else self._first_parameterised(steps)
        for i in range(len(steps) - 1, stop - 1, -1):
            if i == stop and not input_grad:
                steps[i].param_backward(grad_out)
                return None
            grad_out = steps[i].backward(grad_out)
        return grad_out if input_grad else None

    def param_backward(self, grad_out: np.ndarray) -> None:
        self.backward(grad_out, input_grad=False)

    def _steps(self) -> list:
        """The layers as run: each layer, or a fused step standing for a few of them (see ``fuse``)."""
        key = (self.fuse, *map(id, self.layers))
        if self._plan[0] != key:  # built once; again only if the layers change (or in a copy of the model)
            from .kernels.fused import plan  # here, not at the top: kernels.fused imports the layers
            self._plan = (key, plan(self.layers) if self.fuse else list(self.layers))
        return self._plan[1]

    @staticmethod
    def _first_parameterised(steps: list) -> int:
        for i, step in enumerate(steps):
            if step.parameters():
                return i
        return len(steps)

    def config(self) -> dict[str, Any]:
        return {"type": "Sequential", "layers": [layer.config() for layer in self.layers]}

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, index: int) -> Module:
        return self.layers[index]

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)

    def __repr__(self) -> str:
        inner = "\n".join(f"  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential(\n{inner}\n)"
