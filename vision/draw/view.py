"""What the draw window shows, laid out for the window's current size.

    +---------------------+  what the networks see  +-- MLP ------+-- CNN ------+
    |                     |  [28 x 28]              |  guess, bars | guess, bars |
    |    canvas           |  MLP: pixels for (red) / +-------------+-------------+
    |    (you draw here)  |  against (blue) its guess  CNN layer 1: 16 maps | layer 2: 32 maps
    |                     |  CNN first-layer kernels |                            |
    +---------------------+--------------------------+----------------------------+
    keys

Pictures are rebuilt only when what they show changes (``_cached``); text and bars are redrawn each frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np
import pygame

from vision.draw.panels import (BACKGROUND, CNN_COLOUR, DIM, DISAGREE, DIVERGING, GREYS, HEAT, MLP_COLOUR, PANEL,
                                PAPER_INK, TEXT, Fonts, blit_fit, mosaic, overlay_surface, probability_bars,
                                to_surface)
from vision.reader import first_kernels

if TYPE_CHECKING:
    from vision.draw.app import DrawApp

KEYS = ("draw: left drag   erase: right drag or E   clear: C / Backspace   undo: Ctrl+Z   pen: [ ]   "
        "test digits: N / P   next disagreement: M   copy to canvas: T   quit: Esc")


@dataclass
class Layout:
    canvas: pygame.Rect
    middle: pygame.Rect
    right: pygame.Rect
    footer_y: int


def layout(size: tuple[int, int]) -> Layout:
    width, height = size
    margin, top, footer = 14, 48, 30
    avail = max(100, height - top - footer - margin)
    side = max(100, min(avail, int(width * 0.40)))
    canvas = pygame.Rect(margin, top, side, side)
    middle = pygame.Rect(canvas.right + 2 * margin, top, max(110, int(width * 0.16)), avail)
    right = pygame.Rect(middle.right + 2 * margin, top, max(200, width - middle.right - 3 * margin), avail)
    return Layout(canvas, middle, right, height - footer + 6)


def _cached(app: DrawApp, name: str, key: object, make: Callable[[], pygame.Surface]) -> pygame.Surface:
    """The picture ``name``, rebuilt by ``make`` only when ``key`` changed since it was made.

    ``key`` is a number or the very object the picture shows (compared by identity, and kept alive by the
    cache so its identity cannot be reused)."""
    entry = app.pictures.get(name)
    if entry is None or not (entry[0] is key or (isinstance(key, (int, tuple)) and entry[0] == key)):
        entry = (key, make())
        app.pictures[name] = entry
    return entry[1]


def _labelled(surface: pygame.Surface, fonts: Fonts, label: str, rect: pygame.Rect) -> pygame.Rect:
    """Write ``label`` (one line per ``\n``) at the top of ``rect``; return the space below it."""
    lines = label.split("\n")
    for k, line in enumerate(lines):
        fonts.text(surface, line, (rect.x, rect.y + 18 * k), 19, TEXT if k == 0 else DIM, max_width=rect.width)
    used = 18 * len(lines) + 4
    return pygame.Rect(rect.x, rect.y + used, rect.width, rect.height - used)


def draw_canvas(app: DrawApp, surface: pygame.Surface, fonts: Fonts, rect: pygame.Rect) -> None:
    app.canvas_rect = rect
    if app.showing_test is not None:
        digit = app.tests.digit(app.showing_test)
        picture = _cached(app, "test", app.showing_test, lambda: to_surface(digit, GREYS))
        pygame.draw.rect(surface, (0, 0, 0), rect)
        blit_fit(surface, picture, rect)
        caption = f"test digit #{app.showing_test:,}, label {app.tests.labels[app.showing_test]}   (T: edit a copy)"
        fonts.text(surface, caption, (rect.x + 8, rect.bottom - 8), 20, TEXT, anchor="bottomleft")
        return
    picture = _cached(app, "canvas", app.canvas.version, lambda: to_surface(app.canvas.pixels, PAPER_INK))
    surface.blit(pygame.transform.scale(picture, rect.size), rect)
    if app.canvas.empty:
        fonts.text(surface, "draw a digit here", rect.center, 34, (150, 150, 150), anchor="center")


def draw_status(app: DrawApp, surface: pygame.Surface, fonts: Fonts, rect: pygame.Rect) -> None:
    """Under the canvas: pen, reading speed, test set."""
    tests = (f"Test set: {len(app.tests.labels):,} digits (N / P: browse, M: the models disagree)"
             if app.tests is not None else "No MNIST test set cached (the benchmark fetches it)")
    lines = [f"{'Eraser' if app.eraser else 'Pen'}: {app.pen:.0f} px (E: eraser, [ ]: size)",
             f"Read every {app.predict_every} frames: {app.read_ms:.1f} ms (to_mnist + both models)", tests]
    for k, line in enumerate(lines):
        if rect.y + 22 * (k + 1) <= rect.bottom:
            fonts.text(surface, line, (rect.x, rect.y + 22 * k), 19, DIM, max_width=rect.width)


def draw_middle(app: DrawApp, surface: pygame.Surface, fonts: Fonts, rect: pygame.Rect) -> None:
    square = min(rect.width, (rect.height - 3 * 44 - 60) // 2)
    box = _labelled(surface, fonts, "What the networks see\n28 x 28, as MNIST was made",
                    pygame.Rect(rect.x, rect.y, rect.width, square + 40))
    image = app.image if app.image is not None else np.zeros((28, 28), np.float32)
    blit_fit(surface, _cached(app, "input", app.image, lambda: to_surface(image, GREYS)),
             pygame.Rect(box.x, box.y, square, square))
    y = box.y + square + 10
    box = _labelled(surface, fonts, "Why the MLP says so\nred: for its guess, blue: against",
                    pygame.Rect(rect.x, y, rect.width, square + 40))
    reading = app.reading
    if reading is not None:
        blit_fit(surface, _cached(app, "saliency", reading, lambda: overlay_surface(reading.image, reading.saliency)),
                 pygame.Rect(box.x, box.y, square, square))
    else:
        pygame.draw.rect(surface, PANEL, (box.x, box.y, square, square))
    y = box.y + square + 10
    if app.models is not None:
        kernels = first_kernels(app.models.cnn)
        box = _labelled(surface, fonts, f"CNN's first-layer kernels\n{len(kernels)} of "
                        f"{kernels.shape[1]} x {kernels.shape[2]}, blue < 0 < red", pygame.Rect(rect.x, y, rect.width, rect.bottom - y))
        kernels = first_kernels(app.models.cnn)
        limit = float(np.abs(kernels).max()) or 1.0
        picture = _cached(app, "kernels", app.models.cnn,
                          lambda: to_surface(mosaic(kernels, 8), DIVERGING, -limit, limit))
        blit_fit(surface, picture, pygame.Rect(box.x, box.y, square, min(box.height, square // 3)))


def draw_right(app: DrawApp, surface: pygame.Surface, fonts: Fonts, rect: pygame.Rect) -> None:
    if app.models is None:
        pygame.draw.rect(surface, PANEL, rect, border_radius=6)
        fonts.text(surface, app.hint, (rect.x + 12, rect.y + 14), 22, TEXT)
        return
    reading = app.reading
    bars_h = int(rect.height * 0.5)
    half = (rect.width - 12) // 2
    truth = int(app.tests.labels[app.showing_test]) if app.showing_test is not None else None
    if reading is None:
        pygame.draw.rect(surface, PANEL, (rect.x, rect.y, rect.width, bars_h), border_radius=6)
        fonts.text(surface, "draw a digit: both networks read it as you go", (rect.x + 12, rect.y + 14), 22, DIM)
    else:
        for k, (title, probs, colour) in enumerate((("MLP", reading.mlp, MLP_COLOUR), ("CNN", reading.cnn, CNN_COLOUR))):
            probability_bars(surface, fonts, pygame.Rect(rect.x + k * (half + 12), rect.y, half, bars_h), title, probs,
                             colour, reading.disagree, truth)
        if reading.disagree:
            fonts.text(surface, "they disagree", (rect.centerx, rect.y + bars_h + 4), 22, DISAGREE, anchor="midtop")
    y = rect.y + bars_h + 28
    maps_rect = pygame.Rect(rect.x, y, rect.width, rect.bottom - y)
    if reading is not None and reading.features:
        draw_feature_maps(app, surface, fonts, maps_rect)


def draw_feature_maps(app: DrawApp, surface: pygame.Surface, fonts: Fonts, rect: pygame.Rect) -> None:
    """The CNN's first two layers of feature maps (after ReLU), each layer on one colour scale."""
    reading = app.reading
    first, second = reading.features[:2]
    widths = (rect.width * 0.45, rect.width * 0.55)
    x = rect.x
    for k, (maps, columns, width) in enumerate(((first, 4, widths[0]), (second, 8, widths[1]))):
        label = f"CNN layer {k + 1}: what it detects\n{len(maps)} maps of {maps.shape[1]} x {maps.shape[2]}"
        box = _labelled(surface, fonts, label, pygame.Rect(x, rect.y, int(width) - 10, rect.height))
        top = float(maps.max()) or 1.0
        picture = _cached(app, f"maps{k}", reading, lambda: to_surface(mosaic(maps, columns), HEAT, 0.0, top))
        blit_fit(surface, picture, box, top=True)
        x += int(width)


def draw_window(app: DrawApp, surface: pygame.Surface) -> None:
    if app.fonts is None:
        app.fonts = Fonts()
    fonts = app.fonts
    surface.fill(BACKGROUND)
    parts = layout(surface.get_size())
    source = f"models: {app.models.source}" if app.models is not None else "no models"
    fonts.text(surface, "Draw a digit: the MLP and the CNN read it live", (14, 12), 30, TEXT)
    status = f"{source}   {app.fps:.0f} FPS" if app.fps >= 1 else source
    fonts.text(surface, status, (surface.get_width() - 14, 16), 20, DIM, anchor="topright")
    draw_canvas(app, surface, fonts, parts.canvas)
    draw_status(app, surface, fonts, pygame.Rect(parts.canvas.x, parts.canvas.bottom + 12, parts.canvas.width,
                                                 parts.footer_y - parts.canvas.bottom - 16))
    draw_middle(app, surface, fonts, parts.middle)
    draw_right(app, surface, fonts, parts.right)
    footer = app.message or KEYS
    fonts.text(surface, footer, (14, parts.footer_y), 18, DISAGREE if app.message else DIM,
               max_width=surface.get_width() - 28)
