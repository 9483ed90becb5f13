"""The frame loop shared by every window: events -> update -> draw -> flip, screenshots, FPS.

A window "app" is any object with `handle_event(event)`, `update()`, `draw(surface)`, a `running`
flag, an `fps` attribute the loop keeps current, and `close()` (called exactly once on the way
out, also after Ctrl-C, so the app can save its work).
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


class WindowError(ValueError):
    """No window could be opened (no display); the message is one line and suggests a way out."""


INVISIBLE_DRIVERS = ("offscreen", "dummy")  # SDL video drivers that draw into memory only
NO_DISPLAY_HINT = ("without a display, use --headless where the command has it, or render frames with "
                   "SDL_VIDEODRIVER=dummy and --screenshot PATH --frames N")


def ensure_display(must_be_visible: bool = False) -> None:
    """Initialise pygame's display, or raise a one-line WindowError.

    With ``must_be_visible``, refuse SDL's fallback to a memory-only driver (what it picks on a
    machine with no display): an interactive window nobody can see would run forever unseen.
    Asking for such a driver by name (SDL_VIDEODRIVER=dummy, as tests and screenshots do) is allowed.
    Commands call it before creating anything on disk, so a missing display leaves nothing behind.
    """
    if (must_be_visible and sys.platform.startswith("linux") and not os.environ.get("SDL_VIDEODRIVER")
            and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")):
        # Said before SDL starts, so SDL's own complaints about the missing display are not printed too.
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


def open_window(title: str, size: tuple[int, int] = DEFAULT_SIZE, *, must_be_visible: bool = False) -> pygame.Surface:
    """Initialise only what we need (display, fonts: no audio) and open a resizable window."""
    ensure_display(must_be_visible)
    try:
        pygame.font.init()
        pygame.display.set_caption(title)
        pygame.key.set_repeat(300, 40)
        return pygame.display.set_mode(size, pygame.RESIZABLE)
    except pygame.error as exc:
        pygame.display.quit()
        raise WindowError(f"cannot open a window ({exc}); {NO_DISPLAY_HINT}") from None


def save_screenshot(surface: pygame.Surface, path: str | os.PathLike) -> Path:
    """Write `surface` as PNG to `path` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    try:
        with atomic_open(path, "wb") as f:
            pygame.image.save(surface, f, "png")
    except (pygame.error, OSError) as exc:
        raise OSError(errno.EIO, f"cannot write the screenshot ({exc})", str(path)) from None
    return path


def run_loop(app, title: str, *, screenshot: str | os.PathLike | None = None, frames: int | None = None,
             size: tuple[int, int] = DEFAULT_SIZE) -> None:
    """Run `app` in a window until it stops, or for `frames` frames; then save `screenshot` if given.

    With a screenshot or a frame count the loop does not wait for the 60 FPS clock (frames are
    identical either way; only wall time differs), so documentation renders run fast.
    """
    if frames is not None and frames < 1:
        raise WindowError(f"--frames must be at least 1, got {frames}")
    capped = screenshot is None and frames is None  # interactive: someone must be able to see it
    screen = open_window(title, size, must_be_visible=capped)
    clock = pygame.time.Clock()
    count = 0
    try:
        while app.running:
            for event in pygame.event.get():
                app.handle_event(event)
            screen = pygame.display.get_surface()
            app.update()
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
        try:
            app.close()
        finally:
            pygame.display.quit()
