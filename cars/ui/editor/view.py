"""Drawing of the track editor: grid, live road preview (or the invalid shape in red), the
centerline with its points, start line and direction, the insertion ghost and the status bar."""

from __future__ import annotations

import math

import numpy as np
import pygame

from cars.ui.editor import geometry as geo
from cars.ui import theme as theme
from cars.ui.track import draw_polyline

GRID_STEP = 50.0
INVALID_ROAD = (92, 40, 52)
POINT = (200, 206, 222)
POINT_START = theme.GOOD
POINT_HOVER = theme.ACCENT


def draw_grid(surface: pygame.Surface, scale: float, offset: np.ndarray, rect: pygame.Rect | None = None) -> None:
    """World-aligned grid lines every 50 units (brighter every 250) where pixel = world * scale + offset."""
    rect = rect or surface.get_rect()
    lo = (np.array(rect.topleft) - offset) / scale
    hi = (np.array(rect.bottomright) - offset) / scale
    step = GRID_STEP if GRID_STEP * scale >= 12 else GRID_STEP * 5
    for axis in (0, 1):
        values = np.arange(math.floor(lo[axis] / step) * step, hi[axis] + step, step)
        screen = np.round(values * scale + offset[axis])
        for v, px in zip(values.tolist(), screen.tolist()):
            colour = theme.PANEL_BORDER if abs(v / 250.0 - round(v / 250.0)) < 1e-6 else theme.GRID
            if axis == 0:
                pygame.draw.line(surface, colour, (px, rect.top), (px, rect.bottom))
            else:
                pygame.draw.line(surface, colour, (rect.left, px), (rect.right, px))


def draw_arrow(surface: pygame.Surface, colour, tip: np.ndarray, direction: np.ndarray, size: float) -> None:
    d = direction / max(float(np.hypot(*direction)), 1e-9)
    n = np.array([-d[1], d[0]])
    pts = [tip, tip - d * size + n * size * 0.55, tip - d * size - n * size * 0.55]
    pygame.draw.polygon(surface, colour, [tuple(p) for p in np.asarray(pts).tolist()])


def draw_editor(ed, surface: pygame.Surface) -> None:
    """The whole editor frame: road, centerline, direction, points, hover hints, error banner, status bar."""
    w, h = surface.get_size()
    view = pygame.Rect(ed.camera.viewport)
    surface.fill(theme.BACKGROUND)
    surface.set_clip(view)
    draw_grid(surface, ed.camera.scale, ed.camera.offset, view)
    pts = ed.camera.world_to_screen(ed.points)
    draw_road(ed, surface, pts)
    draw_points(ed, surface, pts, view)
    surface.set_clip(None)
    if ed.error:
        draw_error(surface, ed.error, view)
    draw_status(ed, surface, pygame.Rect(0, h - (h - view.bottom), w, h - view.bottom))
    ed.toasts.draw(surface, view)
    ed.help.draw(surface)


def draw_road(ed, surface: pygame.Surface, pts: np.ndarray) -> None:
    """The road (or a red band while the shape is invalid), the centerline and direction chevrons."""
    cam = ed.camera
    if ed.layer is not None:
        ed.layer.draw(surface, cam)
    else:
        band = max(2, int(round(ed.width * cam.scale)))
        draw_polyline(surface, INVALID_ROAD, pts, band)
    draw_polyline(surface, theme.TEXT_FAINT if ed.track else theme.BAD, pts, 1)
    # direction chevrons along the centerline, about every 120 px on screen
    seg = np.roll(pts, -1, axis=0) - pts
    seg_len = np.hypot(seg[:, 0], seg[:, 1])
    s = np.cumsum(seg_len)
    marks = np.searchsorted(s, np.arange(60.0, s[-1] if len(s) else 0.0, 120.0))
    for i in marks.tolist():
        if seg_len[i] > 1e-6:
            draw_arrow(surface, theme.TEXT_FAINT, pts[i] + seg[i] * 0.5, seg[i], 7)


def draw_points(ed, surface: pygame.Surface, pts: np.ndarray, view: pygame.Rect) -> None:
    """Control points, the start marker, the dragged neighbourhood, the hovered point or the ghost insert."""
    mouse = ed.mouse
    inside = mouse is not None and view.collidepoint(mouse)
    hover = (ed.point_at(mouse) if inside else None) if ed.drag is None else ed.drag["index"]
    radius_px = ed.radius * ed.camera.scale
    if ed.drag is not None and ed.proportional:
        centre = pts[ed.drag["index"]].tolist()
        pygame.draw.circle(surface, theme.ACCENT, centre, max(2, int(radius_px)), 1)
        weights = ed.drag["weights"]
        for i in np.nonzero(weights > 0.02)[0].tolist():
            pygame.draw.circle(surface, theme.lerp_colour(POINT, theme.ACCENT, float(weights[i])), pts[i].tolist(), 4)
    seg_len = np.hypot(*(np.roll(pts, -1, axis=0) - pts).T) if len(pts) else np.zeros(0)
    spacing = float(np.median(seg_len)) if len(seg_len) else 0.0
    dot, dot_colour = (3, POINT) if spacing >= 14 else (2, theme.TEXT_DIM)  # dense lines: quieter dots
    for p in pts.tolist():
        pygame.draw.circle(surface, dot_colour, p, dot)
    if len(pts) > 1:
        pygame.draw.circle(surface, POINT_START, pts[0].tolist(), 7, 2)
        draw_arrow(surface, POINT_START, pts[0] + (pts[1] - pts[0]) * 0.6, pts[1] - pts[0], 12)
    if hover is not None and hover < len(pts):
        pygame.draw.circle(surface, POINT_HOVER, pts[hover].tolist(), 7)
        if ed.proportional and ed.drag is None and inside:
            pygame.draw.circle(surface, theme.GRID, pts[hover].tolist(), max(2, int(radius_px)), 1)
    elif ed.drag is None and ed.pan_from is None and inside and len(pts) >= 2:
        # ghost of the point a click would insert, joined to the segment it would split
        i, _ = geo.nearest_segment(ed.points, ed.world(mouse))
        for end in (pts[i].tolist(), pts[(i + 1) % len(pts)].tolist()):
            pygame.draw.aaline(surface, theme.TEXT_DIM, end, mouse)
        pygame.draw.circle(surface, theme.TEXT_DIM, mouse, 5, 1)


def draw_error(surface: pygame.Surface, error: str, view: pygame.Rect) -> None:
    """The track loader's reason why the shape is invalid, in a red banner at the top of the view."""
    msg = theme.text(error if len(error) < 140 else error[:137] + "...", 20, theme.TEXT)
    box = msg.get_rect().inflate(24, 14)
    box.midtop = (view.centerx, view.top + 12)
    pygame.draw.rect(surface, (120, 36, 48), box, border_radius=6)
    pygame.draw.rect(surface, theme.BAD, box, 1, border_radius=6)
    surface.blit(msg, msg.get_rect(center=box.center))


def draw_status(ed, surface: pygame.Surface, rect: pygame.Rect) -> None:
    pygame.draw.rect(surface, theme.PANEL, rect)
    pygame.draw.line(surface, theme.PANEL_BORDER, rect.topleft, rect.topright)
    state = ("valid", theme.GOOD) if ed.track is not None else ("invalid", theme.BAD)
    target = str(ed.path) if ed.path else "unsaved (S saves to ./custom_track.json)"
    parts = [
        (f"{ed.name}{' *' if ed.dirty else ''}", theme.TEXT),
        (state[0], state[1]),
        (f"{len(ed.points)} points", theme.TEXT_DIM),
        (f"width {ed.width:g}", theme.TEXT_DIM),
        (f"length {ed.track.length:.0f}" if ed.track is not None else "length -", theme.TEXT_DIM),
        (f"drag radius {ed.radius:.0f}" if ed.proportional else "single-point drag", theme.TEXT_DIM),
        (target, theme.TEXT_FAINT),
    ]
    x = rect.left + 14
    for text, colour in parts:
        t = theme.text(text, 19, colour, bold=(colour is theme.TEXT))
        if x + t.get_width() > rect.right - 110:
            break
        surface.blit(t, (x, rect.centery - t.get_height() // 2))
        x += t.get_width() + 22
    hint = theme.text("H: help", 19, theme.ACCENT)
    surface.blit(hint, (rect.right - hint.get_width() - 14, rect.centery - hint.get_height() // 2))
