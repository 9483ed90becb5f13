"""HUD building blocks: a titled panel of label/value rows, progress bars, badges and toasts.

Every string goes through `ui_theme.text`, which caches renderings, so rows whose text did not
change cost a blit, not a font render.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pygame

from cars.ui import theme as theme

LINE = 20
TITLE_H = 36


@dataclass
class Row:
    """One HUD line. kind: "row" (label: value), "section" (a small heading), "bar" (value is a
    fraction in [0, 1] drawn as a bar, `text` drawn over it), "gap" (vertical space)."""

    label: str = ""
    text: str = ""
    colour: tuple[int, int, int] = theme.TEXT
    kind: str = "row"
    fraction: float = 0.0


def section(title: str) -> Row:
    return Row(label=title, kind="section")


def bar(label: str, fraction: float, text: str, colour: tuple[int, int, int] = theme.ACCENT) -> Row:
    return Row(label=label, text=text, colour=colour, kind="bar", fraction=fraction)


def rows_height(rows: list[Row]) -> int:
    h = TITLE_H + 18
    for r in rows:
        h += {"section": LINE + 6, "gap": LINE // 2}.get(r.kind, LINE)
    return h


def draw_info_panel(surface: pygame.Surface, rect: pygame.Rect, title: str, rows: list[Row],
                    title_colour: tuple[int, int, int] = theme.TEXT, badge: tuple[str, tuple] | None = None) -> None:
    """A panel with a large title and rows of `label  value`; stops at the bottom of rect."""
    theme.panel(surface, rect)
    surface.blit(theme.text(title, 30, title_colour, True), (rect.left + 14, rect.top + 10))
    if badge is not None:
        draw_badge(surface, badge[0], badge[1], (rect.right - 12, rect.top + 12), anchor="topright")
    label_x = rect.left + 14
    value_x = rect.left + int(rect.width * 0.46)
    y = rect.top + TITLE_H + 8
    for r in rows:
        step = {"section": LINE + 6, "gap": LINE // 2}.get(r.kind, LINE)
        if y + step > rect.bottom - 4:
            break
        if r.kind == "section":
            y += 6
            surface.blit(theme.text(r.label.upper(), 16, theme.TEXT_FAINT, True), (label_x, y + 3))
            pygame.draw.line(surface, theme.PANEL_BORDER, (label_x + 4 + theme.text(r.label.upper(), 16,
                             theme.TEXT_FAINT, True).get_width(), y + 9), (rect.right - 14, y + 9))
        elif r.kind == "bar":
            surface.blit(theme.text(r.label, 19, theme.TEXT_DIM), (label_x, y + 2))
            t = theme.text(r.text, 18, theme.TEXT)
            text_w = max(t.get_width(), 90)  # a steady bar length while the numbers change
            bar_rect = pygame.Rect(value_x, y + 6, max(rect.right - 22 - value_x - text_w, 10), LINE - 10)
            pygame.draw.rect(surface, theme.GRID, bar_rect, border_radius=3)
            filled = bar_rect.copy()
            filled.width = int(round(bar_rect.width * min(max(r.fraction, 0.0), 1.0)))
            if filled.width > 0:
                pygame.draw.rect(surface, r.colour, filled, border_radius=3)
            surface.blit(t, (rect.right - 14 - t.get_width(), y + 2))
        elif r.kind == "row":
            surface.blit(theme.text(r.label, 19, theme.TEXT_DIM), (label_x, y + 2))
            surface.blit(theme.text(r.text, 19, r.colour), (value_x, y + 2))
        y += step


def draw_badge(surface: pygame.Surface, label: str, colour: tuple[int, int, int], pos: tuple[int, int],
               anchor: str = "topleft") -> pygame.Rect:
    """A small rounded label, e.g. PAUSED or TURBO."""
    t = theme.text(label, 18, theme.BACKGROUND, True)
    rect = t.get_rect().inflate(14, 8)
    setattr(rect, anchor, pos)
    pygame.draw.rect(surface, colour, rect, border_radius=5)
    surface.blit(t, t.get_rect(center=rect.center))
    return rect


class Toasts:
    """Short messages shown at the bottom of a rectangle for a few seconds (newest at the bottom)."""

    def __init__(self, seconds: float = 3.0, limit: int = 4) -> None:
        self.seconds = seconds
        self.limit = limit
        self.items: list[tuple[float, str, tuple[int, int, int]]] = []

    def add(self, message: str, colour: tuple[int, int, int] = theme.TEXT) -> None:
        self.items.append((time.monotonic(), message, colour))
        self.items = self.items[-self.limit:]

    @property
    def latest(self) -> str | None:
        return self.items[-1][1] if self.items else None

    def draw(self, surface: pygame.Surface, rect: pygame.Rect) -> None:
        now = time.monotonic()
        self.items = [it for it in self.items if now - it[0] < self.seconds]
        y = rect.bottom - 14
        for _, message, colour in reversed(self.items):
            t = theme.text(message, 20, colour)
            box = t.get_rect().inflate(20, 10)
            box.midbottom = (rect.centerx, y)
            theme.panel(surface, box, alpha=235)
            surface.blit(t, t.get_rect(center=box.center))
            y = box.top - 6


def side_layout(size: tuple[int, int], hud_h: int, chart_h: int) -> dict[str, pygame.Rect]:
    """Window layout: the track view on the left, a column with HUD, chart and network on the right.

    When the window is too short for everything the network diagram goes first, then the chart
    shrinks; narrow windows (< 760 px) drop the column and give the whole width to the track.
    """
    w, h = size
    side_w = int(min(max(w * 0.27, 270), 360)) if w >= 760 else 0
    view = pygame.Rect(0, 0, w - side_w - (14 if side_w else 0), h)
    top, bottom = 10, h - 10
    hud = pygame.Rect(view.right, top, side_w, max(min(hud_h, bottom - top), 0))
    y = hud.bottom + 10
    space = bottom - y
    if space >= chart_h + 10 + 150:
        chart = pygame.Rect(view.right, y, side_w, chart_h)
        net = pygame.Rect(view.right, chart.bottom + 10, side_w, space - chart_h - 10)
    else:
        chart = pygame.Rect(view.right, y, side_w, max(space, 0) if chart_h else 0)
        net = pygame.Rect(view.right, y, side_w, 0 if chart_h else max(space, 0))
    return {"view": view, "hud": hud, "chart": chart, "net": net}


def draw_legend(surface: pygame.Surface, bottomleft: tuple[int, int],
                items: list[tuple[str, tuple[int, int, int], str]]) -> None:
    """A one-line key of marker colours: items are (label, colour, "fill" or "ring")."""
    x, y = bottomleft
    y -= 10
    for label, colour, style in items:
        if style == "ring":
            pygame.draw.circle(surface, colour, (x + 5, y), 6, 1)
        else:
            pygame.draw.rect(surface, colour, pygame.Rect(x, y - 4, 12, 8), border_radius=2)
        t = theme.text(label, 17, theme.TEXT_DIM)
        surface.blit(t, (x + 17, y - t.get_height() // 2))
        x += 17 + t.get_width() + 16
