"""Colours, fonts and cached text for every pygame window (one dark palette, one place).

Text surfaces are cached by (text, size, colour) because re-rendering unchanged labels every
frame is one of the largest costs of a pygame HUD.
"""

from __future__ import annotations

import pygame

# A coherent dark palette: slate background, asphalt road, pale walls, one cyan accent.
BACKGROUND = (16, 18, 26)
GRID = (24, 27, 37)
ROAD = (46, 50, 63)
ROAD_EDGE = (64, 69, 86)
WALL = (214, 220, 235)
CHECKPOINT = (64, 70, 90)
START_LIGHT = (236, 238, 244)
START_DARK = (28, 30, 38)

PANEL = (12, 14, 20)
PANEL_ALPHA = 228
PANEL_BORDER = (44, 48, 62)
TEXT = (222, 226, 236)
TEXT_DIM = (134, 142, 162)
TEXT_FAINT = (88, 95, 114)
ACCENT = (86, 196, 255)
GOOD = (118, 222, 148)
WARN = (255, 188, 84)
BAD = (255, 104, 112)
GOLD = (255, 202, 72)

CAR_CRASHED = (92, 70, 82)
CAR_CRASHED_EDGE = (120, 92, 104)
CAR_LEADER_EDGE = (255, 255, 255)
RAY = (86, 196, 255)
RAY_HIT = (255, 104, 112)

CHART_BEST = GOLD
CHART_MEAN = ACCENT
CHART_MEDIAN = (196, 140, 255)

# Network diagram: weights coloured by sign, nodes by activation.
WEIGHT_POSITIVE = (86, 196, 255)
WEIGHT_NEGATIVE = (255, 120, 96)

# Live cars are coloured along this gradient by how far they have driven relative to the leader.
CAR_GRADIENT = ((70, 110, 200), (80, 200, 220), (130, 232, 150))

_fonts: dict[tuple[int, bool], pygame.font.Font] = {}
_text_cache: dict[tuple[str, int, tuple[int, ...], bool], pygame.Surface] = {}
_TEXT_CACHE_LIMIT = 2048


def font(size: int, bold: bool = False) -> pygame.font.Font:
    """The default pygame font at `size` pixels (no font files needed), created once."""
    key = (size, bold)
    if key not in _fonts:
        if not pygame.font.get_init():
            pygame.font.init()
        f = pygame.font.Font(None, size)
        f.set_bold(bold)
        _fonts[key] = f
    return _fonts[key]


def text(s: str, size: int = 20, colour: tuple[int, ...] = TEXT, bold: bool = False) -> pygame.Surface:
    """An anti-aliased rendering of `s`, cached so unchanged labels are rendered once."""
    key = (s, size, tuple(colour), bold)
    surf = _text_cache.get(key)
    if surf is None:
        if len(_text_cache) >= _TEXT_CACHE_LIMIT:
            _text_cache.clear()  # numbers that change every frame would otherwise grow it forever
        surf = font(size, bold).render(s, True, colour)
        _text_cache[key] = surf
    return surf


def lerp_colour(a: tuple[int, ...], b: tuple[int, ...], t: float) -> tuple[int, int, int]:
    """Linear blend of two RGB colours, t in [0, 1]."""
    t = min(max(t, 0.0), 1.0)
    return tuple(int(round(a[i] + (b[i] - a[i]) * t)) for i in range(3))  # type: ignore[return-value]


_panels: dict[tuple[int, int, int], pygame.Surface] = {}


def panel(surface: pygame.Surface, rect: pygame.Rect, alpha: int = PANEL_ALPHA) -> None:
    """Blit a translucent rounded panel with a thin border (cached per size)."""
    key = (rect.width, rect.height, alpha)
    layer = _panels.get(key)
    if layer is None:
        if len(_panels) > 64:
            _panels.clear()
        layer = pygame.Surface(rect.size, pygame.SRCALPHA)
        pygame.draw.rect(layer, (*PANEL, alpha), layer.get_rect(), border_radius=8)
        pygame.draw.rect(layer, (*PANEL_BORDER, 255), layer.get_rect(), width=1, border_radius=8)
        _panels[key] = layer
    surface.blit(layer, rect.topleft)
