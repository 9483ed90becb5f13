"""Drawing helpers of the draw window: arrays to pictures (colour maps, mosaics), text, probability bars.

Arrays become surfaces in one numpy step each (a colour lookup table indexed by the quantised values), so
showing 48 feature maps costs two small surfaces per refresh, not 48.
"""

from __future__ import annotations

import numpy as np
import pygame

BACKGROUND = (24, 26, 32)
PANEL = (36, 39, 48)
TEXT = (226, 228, 235)
DIM = (140, 146, 160)
MLP_COLOUR = (86, 156, 245)
CNN_COLOUR = (245, 160, 70)
DISAGREE = (240, 80, 90)
AGREE = (110, 200, 120)
PAPER = (246, 244, 238)
INK = (22, 24, 40)


def _ramp(anchors: list[tuple[int, int, int]]) -> np.ndarray:
    """A (256, 3) uint8 colour table interpolated linearly through ``anchors``."""
    stops = np.linspace(0, 255, len(anchors))
    anchors_array = np.array(anchors, dtype=np.float64)
    return np.stack([np.interp(np.arange(256), stops, anchors_array[:, c]) for c in range(3)], axis=1).astype(np.uint8)


HEAT = _ramp([(0, 0, 4), (60, 15, 110), (180, 55, 120), (250, 140, 60), (252, 253, 190)])  # dark -> bright
DIVERGING = _ramp([(40, 80, 230), (235, 235, 235), (225, 45, 45)])                           # blue - white - red
GREYS = _ramp([(0, 0, 0), (255, 255, 255)])
PAPER_INK = _ramp([PAPER, INK])


_palettes: dict[int, list[tuple[int, int, int]]] = {}


def _palette(table: np.ndarray) -> list[tuple[int, int, int]]:
    """Index 0: the background; 1..255: ``table`` resampled to 255 colours (made once per table)."""
    if id(table) not in _palettes:
        picks = table[np.linspace(0, 255, 255).astype(int)]
        _palettes[id(table)] = [BACKGROUND] + [tuple(int(c) for c in colour) for colour in picks]
    return _palettes[id(table)]


def to_surface(values: np.ndarray, table: np.ndarray = GREYS, lo: float = 0.0, hi: float = 1.0) -> pygame.Surface:
    """(h, w) values mapped linearly from [lo, hi] onto ``table``; NaN shows as the window background.

    An 8-bit surface with ``table`` as its palette: only one byte per pixel is computed and copied (index 0
    is the background, 1..255 the table), which keeps a 448 x 448 canvas under a millisecond.
    """
    span = hi - lo if hi > lo else 1.0
    gaps = np.isnan(values)
    has_gaps = bool(gaps.any())
    if has_gaps:
        values = np.where(gaps, lo, values)
    index = np.empty(values.shape, np.uint8)
    np.clip((values - lo) * (254.0 / span) + 1.5, 1, 255, out=index, casting="unsafe")
    if has_gaps:
        index[gaps] = 0
    surface = pygame.Surface((values.shape[1], values.shape[0]), depth=8)
    surface.set_palette(_palette(table))
    pygame.surfarray.blit_array(surface, index.T)
    return surface


def overlay_surface(base: np.ndarray, signed: np.ndarray) -> pygame.Surface:
    """``base`` (h, w) in [0, 1] as grey, tinted red where ``signed`` > 0 and blue where < 0 (by |signed|)."""
    limit = float(np.abs(signed).max()) or 1.0
    strength = np.clip(np.abs(signed) / limit, 0.0, 1.0)[..., None]
    grey = (base[..., None] * 200.0 + 30.0) * np.ones(3)
    tint = np.where(signed[..., None] > 0, np.array([235.0, 50, 40]), np.array([50.0, 110, 245]))
    rgb = (grey * (1 - strength) + tint * strength).astype(np.uint8)
    return pygame.surfarray.make_surface(np.ascontiguousarray(rgb.transpose(1, 0, 2)))


def mosaic(maps: np.ndarray, columns: int, gap: int = 1) -> np.ndarray:
    """(K, h, w) -> one (rows*(h+gap)-gap, columns*(w+gap)-gap) array of tiles, NaN in the gaps."""
    count, h, w = maps.shape
    rows = -(-count // columns)
    padded = np.full((rows * columns, h + gap, w + gap), np.nan, dtype=np.float32)
    padded[:count, :h, :w] = maps
    tiles = padded.reshape(rows, columns, h + gap, w + gap).transpose(0, 2, 1, 3)
    return tiles.reshape(rows * (h + gap), columns * (w + gap))[:-gap or None, :-gap or None]


def blit_fit(target: pygame.Surface, picture: pygame.Surface, rect: pygame.Rect, smooth: bool = False,
             top: bool = False) -> pygame.Rect:
    """Scale ``picture`` to fit ``rect`` keeping its aspect ratio (pixelated unless ``smooth``), centred
    (horizontally only if ``top``: then it hangs from the top of ``rect``)."""
    w, h = picture.get_size()
    factor = min(rect.width / w, rect.height / h)
    size = (max(1, int(w * factor)), max(1, int(h * factor)))
    scaled = pygame.transform.smoothscale(picture, size) if smooth else pygame.transform.scale(picture, size)
    placed = scaled.get_rect(midtop=rect.midtop) if top else scaled.get_rect(center=rect.center)
    target.blit(scaled, placed)
    return placed


class Fonts:
    """pygame's default font at a few sizes, created once; rendered texts are reused (most do not change)."""

    def __init__(self) -> None:
        self._cache: dict[int, pygame.font.Font] = {}
        self._texts: dict[tuple[str, int, tuple[int, int, int]], pygame.Surface] = {}

    def get(self, size: int) -> pygame.font.Font:
        if size not in self._cache:
            self._cache[size] = pygame.font.Font(None, size)
        return self._cache[size]

    def text(self, target: pygame.Surface, text: str, pos: tuple[int, int], size: int = 22,
             colour: tuple[int, int, int] = TEXT, anchor: str = "topleft", max_width: int | None = None) -> pygame.Rect:
        """Draw ``text`` at ``pos``; with ``max_width``, in a smaller size (down to 13) if it would not fit."""
        while max_width is not None and size > 13 and self.get(size).size(text)[0] > max_width:
            size -= 1
        key = (text, size, colour)
        picture = self._texts.get(key)
        if picture is None:
            if len(self._texts) > 1000:  # changing numbers would otherwise pile up
                self._texts.clear()
            picture = self._texts[key] = self.get(size).render(text, True, colour)
        rect = picture.get_rect(**{anchor: pos})
        target.blit(picture, rect)
        return rect


def probability_bars(target: pygame.Surface, fonts: Fonts, rect: pygame.Rect, title: str, probs: np.ndarray,
                     colour: tuple[int, int, int], highlight: bool, truth: int | None = None) -> None:
    """One model's column: its name, its top guess large, and ten bars (digit, bar, percent)."""
    pygame.draw.rect(target, PANEL, rect, border_radius=6)
    guess = int(probs.argmax())
    fonts.text(target, title, (rect.x + 10, rect.y + 8), 24, colour)
    big = DISAGREE if highlight else TEXT
    if truth is not None:
        big = AGREE if guess == truth else DISAGREE
    fonts.text(target, str(guess), (rect.right - 12, rect.y + 2), 64, big, anchor="topright")
    fonts.text(target, f"{100 * probs[guess]:.1f}% sure", (rect.x + 10, rect.y + 34), 20, DIM)
    top, bottom = rect.y + 64, rect.bottom - 8
    row = (bottom - top) / 10
    bar_left, bar_right = rect.x + 30, rect.right - 62
    for digit in range(10):
        y = int(top + digit * row)
        height = max(2, int(row * 0.7))
        fonts.text(target, str(digit), (rect.x + 12, y + height // 2), 22,
                   TEXT if digit == guess else DIM, anchor="midleft")
        pygame.draw.rect(target, BACKGROUND, (bar_left, y, bar_right - bar_left, height))
        width = int((bar_right - bar_left) * float(probs[digit]))
        fill = tuple(c // 2 for c in colour) if digit != guess else big if (highlight or truth is not None) else colour
        if width:
            pygame.draw.rect(target, fill, (bar_left, y, width, height))
        fonts.text(target, f"{100 * probs[digit]:4.1f}", (rect.right - 10, y + height // 2), 18, DIM,
                   anchor="midright")
