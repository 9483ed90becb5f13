"""The draw window's state and controls: the canvas, the test-set browser, the live reading, the keys.

Drawing happens on a large canvas; every few frames (``PREDICT_EVERY``) a changed drawing is turned into an
MNIST digit by ``vision.preprocess.to_mnist`` and read by both models (``vision.reader.read_digit``). What
is shown lives in ``vision.draw.view``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pygame

from vision.draw.canvas import Canvas
from vision.draw.view import draw_window
from vision.preprocess import to_mnist
from vision.reader import ModelPair, Reading, predict_all, read_digit
from vision.redraw import place

PREDICT_EVERY = 3     # frames between two readings of a drawing that changed (20 a second at 60 FPS)
CANVAS_SIDE = 448     # canvas pixels (16 per MNIST pixel); shown scaled to the window
PEN_RADIUS = 14       # pen radius in canvas pixels: a digit drawn over ~2/3 of the canvas gets MNIST's stroke
PEN_LIMITS = (3, 40)


@dataclass
class TestSet:
    """The MNIST test digits to browse, and (computed on first use) where the two models disagree."""
    __test__ = False  # not a pytest test class, whatever its name
    images: np.ndarray   # (N, 28, 28) uint8
    labels: np.ndarray   # (N,)
    disagreements: np.ndarray | None = None

    def digit(self, index: int) -> np.ndarray:
        return self.images[index].astype(np.float32) / np.float32(255)

    def next_disagreement(self, models: ModelPair, after: int) -> int | None:
        if self.disagreements is None:
            images = self.images.astype(np.float32) / np.float32(255)
            self.disagreements = np.flatnonzero(predict_all(models.mlp, images) != predict_all(models.cnn, images))
        later = self.disagreements[self.disagreements > after]
        pool = later if len(later) else self.disagreements
        return int(pool[0]) if len(pool) else None


@dataclass
class Stroke:
    last: tuple[float, float]
    erase: bool


@dataclass
class DrawApp:
    models: ModelPair | None
    tests: TestSet | None = None
    hint: str = ""                     # one line shown where the predictions would be, when there are no models
    canvas: Canvas = field(default_factory=lambda: Canvas(CANVAS_SIDE))
    pen: float = PEN_RADIUS
    predict_every: int = PREDICT_EVERY
    eraser: bool = False
    showing_test: int | None = None    # index of the test digit on show, or None: the canvas is on show
    image: np.ndarray | None = None    # (28, 28): what the networks see now (None: nothing drawn)
    reading: Reading | None = None     # what they make of it (None: nothing drawn, or no models)
    running: bool = True
    fps: float = 0.0
    frame: int = 0
    read_ms: float = 0.0               # wall time of the last reading (to_mnist + both models)
    readings: int = 0
    message: str = ""
    canvas_rect: pygame.Rect = field(default_factory=lambda: pygame.Rect(0, 0, CANVAS_SIDE, CANVAS_SIDE))
    pictures: dict = field(default_factory=dict)  # the view's cached pictures (vision.draw.view)
    fonts: object = None
    _stroke: Stroke | None = None
    _read_version: int = -1
    _read_frame: int = -10**9

    # --- input ---------------------------------------------------------------------------------------------
    def to_canvas(self, pos: tuple[int, int]) -> tuple[float, float]:
        """Window pixel -> canvas coordinates (x, y)."""
        factor = self.canvas.side / max(1, self.canvas_rect.width)
        return ((pos[0] - self.canvas_rect.x) * factor, (pos[1] - self.canvas_rect.y) * factor)

    def handle_event(self, event: pygame.event.Event) -> None:
        if event.type == pygame.QUIT:
            self.running = False
        elif event.type == pygame.MOUSEBUTTONDOWN and event.button in (1, 3) and self.canvas_rect.collidepoint(event.pos):
            self.showing_test = None
            self.canvas.checkpoint()
            point = self.to_canvas(event.pos)
            self._stroke = Stroke(point, erase=event.button == 3 or self.eraser)
            self.canvas.stroke(point, point, self.pen, self._stroke.erase)
        elif event.type == pygame.MOUSEMOTION and self._stroke is not None:
            point = self.to_canvas(event.pos)
            self.canvas.stroke(self._stroke.last, point, self.pen, self._stroke.erase)
            self._stroke.last = point
        elif event.type == pygame.MOUSEBUTTONUP and self._stroke is not None:
            self._stroke = None
        elif event.type == pygame.KEYDOWN:
            self.handle_key(event.key, event.mod)

    def handle_key(self, key: int, mod: int = 0) -> None:
        if key in (pygame.K_ESCAPE, pygame.K_q):
            self.running = False
        elif key in (pygame.K_c, pygame.K_BACKSPACE):
            self.showing_test = None
            self.canvas.clear()
        elif key == pygame.K_z and mod & pygame.KMOD_CTRL:
            self.showing_test = None
            self.message = "" if self.canvas.undo() else "nothing to undo"
        elif key == pygame.K_e:
            self.eraser = not self.eraser
        elif key in (pygame.K_LEFTBRACKET, pygame.K_MINUS):
            self.pen = max(PEN_LIMITS[0], self.pen - 2)
        elif key in (pygame.K_RIGHTBRACKET, pygame.K_EQUALS, pygame.K_PLUS):
            self.pen = min(PEN_LIMITS[1], self.pen + 2)
        elif key in (pygame.K_n, pygame.K_p, pygame.K_m, pygame.K_t, pygame.K_RETURN):
            self.browse(key)

    def browse(self, key: int) -> None:
        """N / P: next / previous test digit; M: next one the models disagree on; T / Enter: copy it to the canvas."""
        if self.tests is None:
            self.message = "no MNIST test set here: run python3 scripts/digit_benchmark.py once to fetch it"
            return
        current = -1 if self.showing_test is None else self.showing_test
        if key == pygame.K_n:
            self.showing_test = (current + 1) % len(self.tests.labels)
        elif key == pygame.K_p:
            self.showing_test = (current - 1) % len(self.tests.labels)
        elif key == pygame.K_m:
            if self.models is None:
                self.message = "no models to compare"
                return
            found = self.tests.next_disagreement(self.models, current)
            self.message = "" if found is not None else "the two models agree on every test digit"
            self.showing_test = found if found is not None else self.showing_test
        elif self.showing_test is not None:  # T / Enter
            self.canvas.paste(place(self.tests.digit(self.showing_test), self.canvas.side))
            self.showing_test = None
        self._read_version = -1  # read the new picture at once

    # --- reading -------------------------------------------------------------------------------------------
    def current_image(self) -> np.ndarray | None:
        """The 28 x 28 image the networks see now: the test digit on show, or the canvas through to_mnist."""
        if self.showing_test is not None:
            return self.tests.digit(self.showing_test)
        return None if self.canvas.empty else to_mnist(self.canvas.pixels)

    def update(self) -> None:
        self.frame += 1
        version = (self.canvas.version, self.showing_test)
        due = self.frame - self._read_frame >= self.predict_every or self._stroke is None
        if version != self._read_version and due:
            started = time.perf_counter()
            self.image = self.current_image()
            has_models = self.image is not None and self.models is not None
            self.reading = read_digit(self.models, self.image) if has_models else None
            self.read_ms = 1000 * (time.perf_counter() - started)
            self.readings += 1
            self._read_version, self._read_frame = version, self.frame

    def draw(self, surface: pygame.Surface) -> None:
        draw_window(self, surface)
