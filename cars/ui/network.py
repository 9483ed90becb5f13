"""Diagram of one car's network: weights by colour (sign) and thickness (magnitude), nodes by
their live activation.

The edges only change when the network changes, so they are drawn once into a cached layer; each
frame redraws just the nodes (a few dozen circles) from one forward pass of a single input row.
"""

from __future__ import annotations

import numpy as np
import pygame

from cars.ui import theme as theme


def dense_weights(brain) -> list[np.ndarray]:
    """Weight matrices (in, out) of the brain's parameterised layers, in order."""
    out = []
    for layer in brain:
        params = layer.parameters()
        if params:
            out.append(np.asarray(params[0].data, dtype=np.float64))
    return out


def layer_activations(brain, x: np.ndarray) -> list[np.ndarray]:
    """Node values per column for one input row x (in,): the inputs, then each layer's output
    after its activation (the value just before the next weighted layer, or the final output)."""
    layers = list(brain)
    values = [np.asarray(x, dtype=np.float64).ravel()]
    h = np.asarray(x, dtype=np.float32).reshape(1, -1)
    for i, layer in enumerate(layers):
        h = layer.forward(h)
        if i + 1 == len(layers) or layers[i + 1].parameters():
            values.append(np.asarray(h, dtype=np.float64).ravel())
    return values


def brain_inputs(sim, index: int, max_speed: float) -> np.ndarray:
    """The inputs the simulation feeds car `index`'s brain: its R ray distances and speed / max_speed."""
    return np.append(np.asarray(sim.sensors, dtype=np.float64)[index], float(sim.speed[index]) / max_speed)


def node_positions(sizes: list[int], rect: pygame.Rect) -> list[np.ndarray]:
    """Centres of every node per column, (size, 2) each, spread evenly inside rect."""
    cols = len(sizes)
    xs = np.linspace(rect.left, rect.right, cols) if cols > 1 else np.array([rect.centerx])
    out = []
    for x, n in zip(xs, sizes):
        if n == 1:
            ys = np.array([rect.centery], dtype=np.float64)
        else:
            gap = min(rect.height / (n - 1), 36.0)
            ys = rect.centery + (np.arange(n) - (n - 1) / 2.0) * gap
        out.append(np.stack([np.full(n, float(x)), ys], axis=-1))
    return out


def ray_labels(degrees: np.ndarray) -> list[str]:
    """Input labels for rays at these angles (degrees, negative = left of the car)."""
    return [f"ray {d:+.0f}\u00b0" if round(d) else "ray 0\u00b0" for d in np.asarray(degrees).tolist()]


def value_colour(v: float) -> tuple[int, int, int]:
    """Positive values towards the positive-weight colour, negative towards the other, by |tanh v|."""
    t = abs(float(np.tanh(v)))
    target = theme.WEIGHT_POSITIVE if v >= 0 else theme.WEIGHT_NEGATIVE
    return theme.lerp_colour((40, 44, 56), target, t)


class NetworkDiagram:
    """`draw(surface, rect, brain, inputs, key)`; `key` identifies the network (e.g. generation and
    genome) so its edges are re-rendered only when it changes."""

    def __init__(self, input_labels: list[str], output_labels: list[str]) -> None:
        self.input_labels = input_labels
        self.output_labels = output_labels
        self._edge_key: tuple | None = None
        self._edges: pygame.Surface | None = None

    def draw(self, surface: pygame.Surface, rect: pygame.Rect, brain, inputs: np.ndarray | None,
             key: object, title: str = "LEADER'S NETWORK") -> None:
        weights = dense_weights(brain)
        sizes = [weights[0].shape[0]] + [w.shape[1] for w in weights]
        left_w, right_w = 74, 96  # room for the input labels and the output values
        inner = pygame.Rect(rect.left + left_w, rect.top + 40, rect.width - left_w - right_w, rect.height - 52)
        cache_key = (key, rect.size)
        if cache_key != self._edge_key:
            self._edges = self._render_edges(rect, inner, weights, sizes, title)
            self._edge_key = cache_key
        surface.blit(self._edges, rect.topleft)
        if inputs is None or inner.width < 10 or inner.height < 10:
            return
        values = layer_activations(brain, inputs)
        positions = node_positions(sizes, inner)
        radius = int(max(3, min(9, inner.height / max(sizes) * 0.36)))
        for column, (pos, vals) in enumerate(zip(positions, values)):
            for (x, y), v in zip(pos.tolist(), vals.tolist()):
                pygame.draw.circle(surface, value_colour(v), (x, y), radius)
                pygame.draw.circle(surface, theme.TEXT_FAINT, (x, y), radius, 1)
            if column == len(positions) - 1:
                for (x, y), v, name in zip(pos.tolist(), vals.tolist(), self.output_labels):
                    surface.blit(theme.text(f"{name} {v:+.2f}", 16, theme.TEXT), (x + radius + 5, y - 6))

    def _render_edges(self, rect: pygame.Rect, inner: pygame.Rect, weights: list[np.ndarray],
                      sizes: list[int], title: str) -> pygame.Surface:
        layer = pygame.Surface(rect.size, pygame.SRCALPHA)
        theme.panel(layer, layer.get_rect())
        layer.blit(theme.text(title, 18, theme.TEXT_DIM, True), (12, 9))
        sizes_label = theme.text(" - ".join(str(s) for s in sizes), 16, theme.TEXT_FAINT)
        layer.blit(sizes_label, (rect.width - sizes_label.get_width() - 12, 11))
        local = inner.move(-rect.left, -rect.top)
        positions = node_positions(sizes, local)
        scale = max(max(float(np.abs(w).max()) for w in weights), 1e-9)
        for w, a, b in zip(weights, positions[:-1], positions[1:]):
            mag = np.abs(w) / scale
            order = np.argsort(mag, axis=None)  # weakest first, strongest on top
            ii, jj = np.unravel_index(order, w.shape)
            for i, j in zip(ii.tolist(), jj.tolist()):
                m = float(mag[i, j])
                if m < 0.05:
                    continue
                colour = theme.WEIGHT_POSITIVE if w[i, j] >= 0 else theme.WEIGHT_NEGATIVE
                colour = theme.lerp_colour(theme.PANEL, colour, 0.2 + 0.8 * m)
                pygame.draw.line(layer, colour, a[i].tolist(), b[j].tolist(), 1 + int(m * 2.99))
        for (x, y), name in zip(positions[0].tolist(), self.input_labels):
            lab = theme.text(name, 16, theme.TEXT_DIM)
            layer.blit(lab, (x - lab.get_width() - 12, y - lab.get_height() // 2))
        return layer
