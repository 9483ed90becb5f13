"""Key bindings as data, and the help overlay that lists them.

Each window dispatches its keys through a table of `Binding`s, and the help overlay draws the same
table, so the help can never disagree with what the keys do.
"""

from __future__ import annotations

from dataclasses import dataclass

import pygame

from cars.ui import theme as theme


@dataclass(frozen=True)
class Binding:
    """keys: pygame key codes; label: how the help shows them; action: method name on the window."""

    label: str
    description: str
    keys: tuple[int, ...] = ()
    action: str = ""
    args: tuple = ()
    ctrl: bool = False  # only with Ctrl held (and plain presses of `keys` do not trigger it)


SPEEDS = (1, 2, 4, 8, 16, 32, 64)  # simulation steps per frame the playback windows offer


def playback_bindings() -> list[Binding]:
    """The keys every simulation window shares: pause, single step and speed."""
    k = pygame
    return [
        Binding("Space  P", "pause / resume", (k.K_SPACE, k.K_p), "toggle_pause"),
        Binding(".", "one simulation step (while paused)", (k.K_PERIOD,), "single_step"),
        Binding("Up  Down  (+ -)", "simulation steps per frame x2 / /2 (1x ... 64x)",
                (k.K_UP, k.K_EQUALS, k.K_PLUS, k.K_KP_PLUS), "change_speed", (1,)),
        Binding("", "", (k.K_DOWN, k.K_MINUS, k.K_KP_MINUS), "change_speed", (-1,)),
    ]


class PlaybackActions:
    """The actions every simulation window shares (bound by playback_bindings): pause, single step,
    speed, follow-camera zoom, help, quit. The window provides `_advance(steps)`, `camera` and `help`."""

    paused = False
    speed_index = 0
    running = True

    @property
    def speed(self) -> int:
        return SPEEDS[self.speed_index]

    def toggle_pause(self) -> None:
        self.paused = not self.paused

    def single_step(self) -> None:
        if self.paused:
            self._advance(1)

    def change_speed(self, direction: int) -> None:
        self.speed_index = min(max(self.speed_index + direction, 0), len(SPEEDS) - 1)

    def zoom(self, steps: int) -> None:
        self.camera.change_zoom(steps)

    def toggle_help(self) -> None:
        self.help.toggle()

    def quit(self) -> None:
        self.running = False

    def handle_common_event(self, event: pygame.event.Event, bindings: list[Binding]) -> bool:
        """Closing, keys (through `bindings`), the zoom wheel and resizing; False for any other event."""
        if event.type == pygame.QUIT:
            self.quit()
        elif event.type == pygame.KEYDOWN:
            dispatch_key(self, bindings, event)
        elif event.type == pygame.MOUSEWHEEL:
            if event.y:
                self.zoom(1 if event.y > 0 else -1)
        elif event.type in (pygame.VIDEORESIZE, pygame.WINDOWSIZECHANGED):
            surface = pygame.display.get_surface()
            if surface is not None:
                self.resize(surface.get_size())
        else:
            return False
        return True


def find_binding(bindings: list[Binding], event: pygame.event.Event) -> Binding | None:
    """The binding a KEYDOWN event triggers, honouring Ctrl-only bindings first."""
    ctrl = bool(event.mod & pygame.KMOD_CTRL)
    for b in bindings:
        if event.key in b.keys and b.ctrl and ctrl:
            return b
    for b in bindings:
        if event.key in b.keys and not b.ctrl and b.action:
            return b
    return None


def dispatch_key(window, bindings: list[Binding], event: pygame.event.Event) -> bool:
    """Call the action bound to a KEYDOWN event on `window`; True if one was found."""
    b = find_binding(bindings, event)
    if b is None:
        return False
    getattr(window, b.action)(*b.args)
    return True


class HelpOverlay:
    """A centred panel listing every binding; the rendered panel is cached per window size."""

    def __init__(self, title: str, bindings: list[Binding]) -> None:
        self.title = title
        self.bindings = bindings
        self.visible = False
        self._cache: tuple[tuple[int, int], pygame.Surface] | None = None

    def toggle(self) -> None:
        self.visible = not self.visible

    def draw(self, surface: pygame.Surface) -> None:
        if not self.visible:
            return
        size = surface.get_size()
        if self._cache is None or self._cache[0] != size:
            self._cache = (size, self._render(size))
        layer = self._cache[1]
        surface.blit(layer, layer.get_rect(center=(size[0] // 2, size[1] // 2)))

    def _render(self, size: tuple[int, int]) -> pygame.Surface:
        rows = [b for b in self.bindings if b.description]
        line = 24 if size[1] >= 640 else 19
        fsize = 22 if line == 24 else 18
        key_w = max(theme.text(b.label, fsize, theme.ACCENT, True).get_width() for b in rows) + 24
        desc_w = max(theme.text(b.description, fsize).get_width() for b in rows)
        width = min(size[0] - 20, key_w + desc_w + 48)
        height = min(size[1] - 20, 74 + line * len(rows) + 30)
        layer = pygame.Surface((max(width, 40), max(height, 40)), pygame.SRCALPHA)
        rect = layer.get_rect()
        theme.panel(layer, rect, alpha=242)
        layer.blit(theme.text(self.title, 30, theme.TEXT, True), (24, 18))
        pygame.draw.line(layer, theme.PANEL_BORDER, (24, 52), (rect.width - 24, 52))
        y = 64
        for b in rows:
            if y + line > rect.height - 28:
                break
            layer.blit(theme.text(b.label, fsize, theme.ACCENT, True), (24, y))
            layer.blit(theme.text(b.description, fsize, theme.TEXT), (24 + key_w, y))
            y += line
        hint = theme.text("press H or F1 to close", 18, theme.TEXT_DIM)
        layer.blit(hint, (rect.width - hint.get_width() - 24, rect.height - 24))
        return layer


def bindings_markdown(bindings: list[Binding]) -> str:
    """The bindings as a markdown table (for the README)."""
    lines = ["| Key | Action |", "| --- | --- |"]
    lines += [f"| {b.label} | {b.description} |" for b in bindings if b.description]
    return "\n".join(lines)
