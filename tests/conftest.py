"""Shared fixtures: every window test runs pygame headless (SDL's dummy drivers), with a display
initialised for the test and closed after it."""

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402


@pytest.fixture
def display():
    """pygame's display and fonts, initialised for one test (windows draw into dummy surfaces)."""
    pygame = pytest.importorskip("pygame")
    pygame.display.init()
    pygame.font.init()
    yield pygame
    pygame.display.quit()


def key_event(key: int, mod: int = 0):
    """A KEYDOWN event as pygame posts it for `key`."""
    import pygame

    return pygame.event.Event(pygame.KEYDOWN, key=key, mod=mod, unicode="", scancode=0)
