"""The draw window's frame loop: events -> update -> draw -> flip, screenshots, frames per second.

The same ideas as the cars windows, written small for vision (vision never imports cars): an interactive
window refuses to run where nobody can see it, ``--screenshot PATH --frames N`` renders without waiting for
the clock, and a screenshot is written atomically.

An app has ``handle_event(event)``, ``update()``, ``draw(surface)``, ``running`` and ``fps``.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

import pygame

from engine.atomic import atomic_open

DEFAULT_SIZE = (1280, 800)
TARGET_FPS = 60
INVISIBLE_DRIVERS = ("offscreen", "dummy")  # SDL drivers that draw into memory only
NO_DISPLAY_HINT = "without a display, render a picture with SDL_VIDEODRIVER=dummy and --screenshot PATH --frames N"


class WindowError(ValueError):
    """No window could be opened; the message is one line and suggests a way out."""


def ensure_display(must_be_visible: bool) -> None:
    """Initialise pygame's display or raise ``WindowError``.

    With ``must_be_visible``, refuse SDL's silent fall-back to a memory-only driver on a machine without a
    display: an interactive window nobody can see would wait forever. Asking for such a driver by name
    (``SDL_VIDEODRIVER=dummy``, as tests and screenshots do) is allowed.
    """
    if (must_be_visible and sys.platform.startswith("linux") and not os.environ.get("SDL_VIDEODRIVER")
            and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")):
        raise WindowError("no display to show the window on (neither DISPLAY nor WAYLAND_DISPLAY is set); "
                          + NO_DISPLAY_HINT)
    try:
        pygame.display.init()
    except pygame.error as exc:
        raise WindowError(f"cannot open a window ({exc}); {NO_DISPLAY_HINT}") from None
    driver = pygame.display.get_driver()
    if must_be_visible and driver in INVISIBLE_DRIVERS and os.environ.get("SDL_VIDEODRIVER", "") != driver:
        pygame.display.quit()
        raise WindowError(f"no display to show the window on (SDL fell back to its {driver!r} driver); "
                          + NO_DISPLAY_HINT)


def close_display() -> None:
    pygame.display.quit()


def open_window(title: str, size: tuple[int, int]) -> pygame.Surface:
    """A resizable window (display and fonts only: no audio). ``ensure_display`` must have run."""
    try:
        pygame.font.init()
        pygame.display.set_caption(title)
        return pygame.display.set_mode(size, pygame.RESIZABLE)
    except pygame.error as exc:
        pygame.display.quit()
        raise WindowError(f"cannot open a window ({exc}); {NO_DISPLAY_HINT}") from None


def save_screenshot(surface: pygame.Surface, path: str | os.PathLike) -> Path:
    """Write ``surface`` as a PNG at ``path`` atomically (temporary file beside it, then rename)."""
    path = Path(path)
    try:
        with atomic_open(path, "wb") as f:
            pygame.image.save(surface, f, "png")
    except (pygame.error, OSError) as exc:
        raise OSError(errno.EIO, f"cannot write the screenshot ({exc})", str(path)) from None
    return path


def run_loop(app, title: str, *, screenshot: Path | None = None, frames: int | None = None,
             size: tuple[int, int] = DEFAULT_SIZE) -> None:
    """Run ``app`` until it stops, or for ``frames`` frames; then save ``screenshot`` if given.

    Interactive runs are capped at 60 frames per second; rendering a fixed number of frames is not.
    The display is closed on the way out, also after Ctrl-C.
    """
    screen = open_window(title, size)
    clock = pygame.time.Clock()
    capped = screenshot is None and frames is None
    count = 0
    try:
        while app.running:
            for event in pygame.event.get():
                app.handle_event(event)
            app.update()
            screen = pygame.display.get_surface()
            app.draw(screen)
            pygame.display.flip()
            count += 1
            clock.tick(TARGET_FPS if capped else 0)
            app.fps = clock.get_fps()
            if frames is not None and count >= frames:
                break
        if screenshot is not None:
            save_screenshot(screen, screenshot)
    finally:
        pygame.display.quit()
