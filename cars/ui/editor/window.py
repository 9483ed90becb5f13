"""`cars edit [FILE]`: a track editor. Click to add centerline points, drag to move them, right-click
to delete, wheel or [ ] for the road width; walls preview live, invalid shapes show the error from
`cars.sim.track` before you save; S or Ctrl+S writes the track JSON atomically.

`Editor` holds the state and reacts to pygame events (`handle_event`), `update()` re-validates at
most once per frame, and `draw(surface)` renders (see `cars.ui.editor.view`).
"""

from __future__ import annotations

import os

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # no pygame banner in the command's output

import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pygame  # noqa: E402

from cars.ui.editor import geometry as geo  # noqa: E402
from cars.ui import theme as theme  # noqa: E402
from cars.ui.editor.files import load_for_editing, unused_path  # noqa: E402
from cars.ui.editor.view import draw_editor, draw_grid  # noqa: E402
from cars.ui.panel import Toasts  # noqa: E402
from cars.ui.track import TrackLayer  # noqa: E402
from cars.sim.track import Track, TrackError, save_track  # noqa: E402
from cars.ui.help import Binding, HelpOverlay, dispatch_key  # noqa: E402
from cars.ui.camera import Camera  # noqa: E402
from cars.ui.window import DEFAULT_SIZE, run_loop  # noqa: E402

PICK_RADIUS_PX = 10.0
STATUS_H = 34
ZOOMS = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0)

K = pygame
BINDINGS = [
    Binding("Left click", "add a point (inserted into the nearest segment) / drag a point"),
    Binding("Right click", "delete the point under the cursor"),
    Binding("Wheel  [  ]", "road width -/+ (hold Shift for steps of 10)", (K.K_LEFTBRACKET,), "change_width", (-2,)),
    Binding("", "", (K.K_RIGHTBRACKET,), "change_width", (2,)),
    Binding("P", "proportional drag on/off (neighbours follow smoothly)", (K.K_p,), "toggle_proportional"),
    Binding(",  .", "proportional drag radius -/+", (K.K_COMMA,), "change_radius", (1 / 1.25,)),
    Binding("", "", (K.K_PERIOD,), "change_radius", (1.25,)),
    Binding("B", "make the point under the cursor the start line", (K.K_b,), "set_start"),
    Binding("V", "reverse the driving direction", (K.K_v,), "reverse"),
    Binding("M", "smooth: treat the points as spline control points (on/off)", (K.K_m,), "toggle_smooth"),
    Binding("Ctrl+Z  Ctrl+Y", "undo / redo", (K.K_z,), "undo", (), True),
    Binding("", "", (K.K_y,), "redo", (), True),
    Binding("Ctrl+wheel  +  -", "zoom in / out", (K.K_EQUALS, K.K_PLUS, K.K_KP_PLUS), "zoom", (1,)),
    Binding("", "", (K.K_MINUS, K.K_KP_MINUS), "zoom", (-1,)),
    Binding("Middle drag, arrows", "pan the view", (K.K_LEFT,), "pan", (-1, 0)),
    Binding("", "", (K.K_RIGHT,), "pan", (1, 0)),
    Binding("", "", (K.K_UP,), "pan", (0, -1)),
    Binding("", "", (K.K_DOWN,), "pan", (0, 1)),
    Binding("F  Home", "fit the track to the window", (K.K_f, K.K_HOME), "fit_view"),
    Binding("S  Ctrl+S", "save the track (only when it is valid)", (K.K_s,), "save"),
    Binding("", "", (K.K_s,), "save", (), True),
    Binding("H  F1", "show / hide this help", (K.K_h, K.K_F1), "toggle_help"),
    Binding("Esc", "quit (twice when there are unsaved changes)", (K.K_ESCAPE, K.K_q), "request_quit"),
]


class Editor:
    """Editable closed centerline (`points` (K, 2), `width`, `name`) and its validation state."""

    def __init__(self, track_dict: dict, path: Path | None, size: tuple[int, int] = DEFAULT_SIZE,
                 error: str | None = None) -> None:
        self.extra = {k: v for k, v in track_dict.items() if k not in ("name", "width", "centerline")}
        self.name = str(track_dict.get("name", "custom"))
        self.width = float(track_dict.get("width", 70.0))
        self.points = np.asarray(track_dict["centerline"], dtype=np.float64).reshape(-1, 2)
        self.path = path
        self.size = size
        self.running = True
        self.fps = 0.0
        self.dirty = False
        self.saved_path: Path | None = None
        self.track: Track | None = None
        self.error: str | None = error
        self.layer: TrackLayer | None = None
        self._needs_validation = True
        self._validated_at = 0.0
        self.proportional = True
        self.radius = 80.0
        self.drag: dict | None = None
        self.pan_from: tuple | None = None
        self.mouse: tuple[int, int] | None = None  # None until the pointer enters the window
        self.undo_stack: list[tuple] = []
        self.redo_stack: list[tuple] = []
        self._quit_armed = False
        self.toasts = Toasts()
        self.help = HelpOverlay("Track editor - keys", BINDINGS)
        self.camera = Camera(self._content_bounds(), self._viewport(size), margin=40, zoom_levels=ZOOMS,
                             zoom_index=0)
        self.camera.follow = True
        self.fit_view()
        self.validate()

    # --- geometry helpers -----------------------------------------------------------------------
    def _viewport(self, size: tuple[int, int]) -> tuple[int, int, int, int]:
        return 0, 0, size[0], max(size[1] - STATUS_H, 40)

    def _content_bounds(self) -> tuple[float, float, float, float]:
        pad = self.width
        lo, hi = self.points.min(axis=0) - pad, self.points.max(axis=0) + pad
        return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])

    def to_dict(self) -> dict:
        return {"name": self.name, "width": self.width, "centerline": self.points.round(2).tolist(), **self.extra}

    def world(self, pos: tuple[int, int]) -> np.ndarray:
        return self.camera.screen_to_world(np.asarray(pos, dtype=np.float64))

    def point_at(self, pos: tuple[int, int]) -> int | None:
        """Index of the point drawn under the screen position, if any."""
        i, d = geo.nearest_point(self.points, self.world(pos))
        return i if d * self.camera.scale <= PICK_RADIUS_PX else None

    # --- state changes --------------------------------------------------------------------------
    def _state(self) -> tuple:
        return self.points.copy(), self.width, dict(self.extra)

    def _snapshot(self) -> None:
        self.undo_stack.append(self._state())
        self.undo_stack = self.undo_stack[-200:]
        self.redo_stack.clear()

    def _changed(self) -> None:
        self.dirty = True
        self._needs_validation = True
        self._quit_armed = False

    def validate(self) -> None:
        """Build the Track from the current shape; keep the error message if it is invalid."""
        self._needs_validation = False
        self._validated_at = time.perf_counter()
        try:
            self.track = Track.from_dict(self.to_dict(), str(self.path or "<editor>"))
            self.error = None
            self.layer = TrackLayer(self.track, ground=draw_grid)  # the grid continues under the layer
        except TrackError as exc:
            self.track, self.layer = None, None
            self.error = str(exc)

    def add_point(self, world: np.ndarray) -> int:
        self._snapshot()
        self.points, index = geo.insert_point(self.points, world)
        self._changed()
        return index

    def delete_point(self, index: int) -> None:
        if len(self.points) <= 3:
            self.toasts.add("a track needs at least 3 points", theme.WARN)
            return
        self._snapshot()
        self.points = geo.delete_point(self.points, index)
        self._changed()

    def change_width(self, delta: float) -> None:
        if pygame.key.get_mods() & pygame.KMOD_SHIFT:
            delta *= 5
        self._snapshot()
        self.width = float(max(2.0, self.width + delta))
        self._changed()

    def toggle_proportional(self) -> None:
        self.proportional = not self.proportional
        self.toasts.add(f"proportional drag {'on' if self.proportional else 'off'}")

    def change_radius(self, factor: float) -> None:
        self.radius = float(np.clip(self.radius * factor, 10.0, 1000.0))

    def set_start(self) -> None:
        if self.mouse is None:
            return
        index, _ = geo.nearest_point(self.points, self.world(self.mouse))
        self._snapshot()
        self.points = geo.rotate_start(self.points, index)
        self._changed()
        self.toasts.add("start line moved")

    def reverse(self) -> None:
        self._snapshot()
        self.points = geo.reverse_direction(self.points)
        self._changed()
        self.toasts.add("driving direction reversed")

    def toggle_smooth(self) -> None:
        self._snapshot()
        smooth = not self.extra.get("smooth", False)
        if smooth:
            self.extra["smooth"] = True
        else:
            self.extra.pop("smooth", None)
        self._changed()
        self.toasts.add("points are spline control points (saved as the smooth curve)" if smooth
                        else "points are used as given")

    def undo(self) -> None:
        self._swap(self.undo_stack, self.redo_stack, "nothing to undo")

    def redo(self) -> None:
        self._swap(self.redo_stack, self.undo_stack, "nothing to redo")

    def _swap(self, source: list, target: list, empty: str) -> None:
        if not source:
            self.toasts.add(empty, theme.TEXT_DIM)
            return
        target.append(self._state())
        self.points, self.width, self.extra = source.pop()
        self._changed()

    def zoom(self, steps: int, around: tuple[int, int] | None = None) -> None:
        anchor = self.world(around) if around is not None else None
        self.camera.change_zoom(steps)
        if anchor is not None:  # keep the world point under the cursor where it was
            moved = self.world(around)
            self.camera.look_at(self.camera.center + (anchor - moved))

    def pan(self, dx: int, dy: int) -> None:
        step = 60.0 / self.camera.scale
        self.camera.look_at(self.camera.center + np.array([dx, dy]) * step)

    def fit_view(self) -> None:
        self.camera.set_bounds(self._content_bounds())
        self.camera.zoom_index = 0
        xmin, ymin, xmax, ymax = self.camera.bounds
        self.camera.look_at(((xmin + xmax) / 2, (ymin + ymax) / 2))

    def toggle_help(self) -> None:
        self.help.toggle()

    def save(self) -> Path | None:
        if self._needs_validation:
            self.validate()
        if self.track is None:
            self.toasts.add(f"not saved: {self.error}", theme.BAD)
            return None
        target = self.path or unused_path(Path.cwd() / "custom_track.json")
        try:
            save_track(self.track, target)
        except (OSError, TrackError) as exc:
            self.toasts.add(f"not saved: {exc}", theme.BAD)
            return None
        self.path = self.saved_path = Path(target)
        self.dirty = False
        self.toasts.add(f"saved {target}", theme.GOOD)
        return self.path

    def request_quit(self) -> None:
        if self.dirty and not self._quit_armed:
            self._quit_armed = True
            self.toasts.add("unsaved changes: Esc again to quit without saving, S to save", theme.WARN)
            return
        self.running = False

    # --- events ---------------------------------------------------------------------------------
    def handle_event(self, event: pygame.event.Event) -> None:
        if event.type == pygame.QUIT:
            self.request_quit()
        elif event.type == pygame.KEYDOWN:
            dispatch_key(self, BINDINGS, event)
        elif event.type == pygame.MOUSEBUTTONDOWN:
            self.mouse = event.pos
            self._mouse_down(event.button, event.pos)
        elif event.type == pygame.MOUSEBUTTONUP:
            self.mouse = event.pos
            if event.button == 1 and self.drag is not None:
                if not self.drag["moved"] and not self.drag["inserted"]:
                    self.undo_stack.pop()  # a click without a move changed nothing
                self.drag = None
            elif event.button == 2:
                self.pan_from = None
        elif event.type == pygame.MOUSEMOTION:
            self.mouse = event.pos
            self._mouse_move(event.pos)
        elif event.type == pygame.MOUSEWHEEL:
            if pygame.key.get_mods() & pygame.KMOD_CTRL:
                self.zoom(1 if event.y > 0 else -1, self.mouse)
            elif event.y:
                self.change_width(2.0 if event.y > 0 else -2.0)
        elif event.type in (pygame.VIDEORESIZE, pygame.WINDOWSIZECHANGED):
            size = pygame.display.get_surface().get_size() if pygame.display.get_surface() else self.size
            self.resize(size)

    def resize(self, size: tuple[int, int]) -> None:
        self.size = size
        self.camera.set_viewport(self._viewport(size))

    def _mouse_down(self, button: int, pos: tuple[int, int]) -> None:
        if button == 1:
            index = self.point_at(pos)
            inserted = index is None
            if inserted:
                index = self.add_point(self.world(pos))
            else:
                self._snapshot()
            weights = (geo.falloff_weights(self.points, index, self.radius) if self.proportional
                       else geo.falloff_weights(self.points, index, 0.0))
            self.drag = {"index": index, "start": self.world(pos), "base": self.points.copy(),
                         "weights": weights, "moved": False, "inserted": inserted}
        elif button == 3:
            index = self.point_at(pos)
            if index is not None:
                self.delete_point(index)
        elif button == 2:
            self.pan_from = (np.asarray(pos, dtype=np.float64), self.camera.center.copy())

    def _mouse_move(self, pos: tuple[int, int]) -> None:
        if self.drag is not None:
            delta = self.world(pos) - self.drag["start"]
            self.points = self.drag["base"] + self.drag["weights"][:, None] * delta[None, :]
            self.drag["moved"] = True
            self._changed()
        elif self.pan_from is not None:
            start, centre = self.pan_from
            self.camera.look_at(centre - (np.asarray(pos) - start) / self.camera.scale)

    # --- frame ----------------------------------------------------------------------------------
    def update(self) -> None:
        # While dragging, rebuild the preview at most 30 times a second: validating and drawing a
        # long track costs ~15 ms, which would otherwise eat the whole frame.
        if self._needs_validation and (self.drag is None or time.perf_counter() - self._validated_at >= 1 / 30):
            self.validate()

    def draw(self, surface: pygame.Surface) -> None:
        if surface.get_size() != self.size:
            self.resize(surface.get_size())
        draw_editor(self, surface)

    def close(self) -> None:
        """Nothing is saved implicitly: the editor only writes on S (a half-edited track may be invalid)."""


def run_editor(path: str | os.PathLike | None = None, *, screenshot: str | os.PathLike | None = None,
               frames: int | None = None) -> Path | None:
    """Open the editor on FILE (see `load_for_editing`); returns the path last saved, if any."""
    track_dict, target, error = load_for_editing(path)
    editor = Editor(track_dict, target, error=error)
    title = f"cars edit - {target if target else 'new track'}"
    run_loop(editor, title, screenshot=screenshot, frames=frames)
    return editor.saved_path
