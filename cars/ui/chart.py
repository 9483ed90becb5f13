"""Live chart of best, mean and median fitness (in laps) per generation.

The chart is redrawn only when a generation is added or the panel is resized; per frame it is one
blit plus a marker for the generation being driven right now.
"""

from __future__ import annotations

import math

import numpy as np
import pygame

from cars.ui import theme as theme

SERIES = (("best", theme.CHART_BEST), ("mean", theme.CHART_MEAN), ("median", theme.CHART_MEDIAN))


def nice_step(span: float, target_ticks: int = 4) -> float:
    """A 1/2/5 x 10^k tick spacing giving about `target_ticks` ticks over `span`."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / target_ticks
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def history_series(history: list[dict], name: str) -> np.ndarray:
    """Column `name` ('best', 'mean' or 'median') of the history rows as floats (NaN where missing).

    Accepts the column spelt `name` or `<name>_fitness`.
    """
    keys = (f"{name}_fitness", name)
    out = np.full(len(history), np.nan)
    for i, row in enumerate(history):
        for k in keys:
            if k in row and row[k] not in (None, ""):
                out[i] = float(row[k])
                break
    return out


class FitnessChart:
    """Draws the history into a rectangle; `draw(surface, rect, history, live_best)`."""

    def __init__(self, title: str = "FITNESS (laps) per generation") -> None:
        self.title = title
        self._key: tuple | None = None
        self._layer: pygame.Surface | None = None
        self._map: tuple[float, float, float, float] | None = None  # x0, dx, y_base, dy

    def draw(self, surface: pygame.Surface, rect: pygame.Rect, history: list[dict],
             live_best: float | None = None) -> None:
        key = (rect.size, len(history), id(history[-1]) if history else None)
        if key != self._key:
            self._layer = self._render(rect.size, history)
            self._key = key
        surface.blit(self._layer, rect.topleft)
        if live_best is not None and self._map is not None and math.isfinite(live_best):
            x0, dx, y_base, dy = self._map
            px = rect.left + x0 + dx * len(history)
            py = rect.top + y_base - dy * live_best
            if rect.left <= px <= rect.right and rect.top <= py <= rect.bottom:
                pygame.draw.circle(surface, theme.CHART_BEST, (px, py), 3, 1)

    def _render(self, size: tuple[int, int], history: list[dict]) -> pygame.Surface:
        w, h = size
        layer = pygame.Surface((max(w, 1), max(h, 1)), pygame.SRCALPHA)
        theme.panel(layer, layer.get_rect())
        layer.blit(theme.text(self.title, 18, theme.TEXT_DIM, True), (12, 9))
        legend_x = 12
        for name, colour in SERIES:
            label = theme.text(name, 18, colour)
            pygame.draw.line(layer, colour, (legend_x, 36), (legend_x + 14, 36), 2)
            layer.blit(label, (legend_x + 18, 29))
            legend_x += label.get_width() + 34
        left, right, top, bottom = 40, w - 12, 48, h - 24
        if right - left < 20 or bottom - top < 20:
            self._map = None
            return layer
        data = {name: history_series(history, name) for name, _ in SERIES}
        values = np.concatenate([v[np.isfinite(v)] for v in data.values()] + [np.zeros(1)])
        y_lo = min(0.0, float(values.min()))
        y_hi = max(float(values.max()) * 1.1, 0.2)
        y_step = nice_step(y_hi - y_lo)
        y_hi = math.ceil(y_hi / y_step) * y_step
        n = max(len(history), 1)
        dx = (right - left) / n
        dy = (bottom - top) / (y_hi - y_lo)
        y_base = bottom + y_lo * dy
        self._map = (left + dx * 0.5, dx, y_base, dy)

        tick = math.floor(y_lo / y_step) * y_step
        while tick <= y_hi + 1e-9:
            py = y_base - tick * dy
            if top - 1 <= py <= bottom + 1:
                pygame.draw.line(layer, theme.GRID if tick else theme.PANEL_BORDER, (left, py), (right, py))
                lab = theme.text(f"{tick:g}", 16, theme.TEXT_FAINT)
                layer.blit(lab, (left - lab.get_width() - 5, py - lab.get_height() // 2))
            tick += y_step
        x_step = max(1, int(nice_step(n, 5)))
        for g in range(x_step, n + 1, x_step):  # generation numbers from 1, as the command line prints them
            px = left + dx * (g - 0.5)
            lab = theme.text(str(g), 16, theme.TEXT_FAINT)
            layer.blit(lab, (px - lab.get_width() // 2, bottom + 5))
        if n < x_step or x_step > 1:
            lab = theme.text("1", 16, theme.TEXT_FAINT)
            layer.blit(lab, (left + dx * 0.5 - lab.get_width() // 2, bottom + 5))
        if not history:
            msg = theme.text("waiting for the first generation", 18, theme.TEXT_FAINT)
            layer.blit(msg, msg.get_rect(center=((left + right) // 2, (top + bottom) // 2)))
            return layer

        xs = left + dx * (np.arange(len(history)) + 0.5)
        for name, colour in reversed(SERIES):
            v = data[name]
            ok = np.isfinite(v)
            pts = np.stack([xs[ok], y_base - v[ok] * dy], axis=-1).tolist()
            if len(pts) >= 2:
                pygame.draw.aalines(layer, colour, False, pts)
                if name == "best":
                    pygame.draw.lines(layer, colour, False, pts, 2)
            for p in pts[-1:] if len(pts) > 1 else pts:
                pygame.draw.circle(layer, colour, p, 3)
        return layer
