"""Track editor: rendering, mouse/keyboard editing, validation errors, save/load round trip."""

import json

import numpy as np
import pygame
import pytest

from cars.ui import theme as theme
from cars.ui.editor.window import Editor, run_editor
from cars.ui.editor.files import load_for_editing
from cars.ui.editor.geometry import falloff_weights, insert_point, nearest_segment, reverse_direction
from cars.sim.track import load_track

SIZE = (900, 600)


def circle_track(n=24, radius=250.0, width=70.0):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    pts = np.stack([500 + radius * np.cos(t), 400 + radius * 0.7 * np.sin(t)], axis=1)
    return {"name": "Ring", "width": width, "centerline": pts.round(2).tolist()}


@pytest.fixture
def editor(tmp_path, display):
    return Editor(circle_track(), tmp_path / "ring.json", size=SIZE)


def screen_of(ed, world):
    x, y = ed.camera.world_to_screen(np.asarray(world, dtype=float))
    return int(round(x)), int(round(y))


def click(ed, pos, button=1, drag_to=None):
    ed.handle_event(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=pos, button=button))
    if drag_to is not None:
        ed.handle_event(pygame.event.Event(pygame.MOUSEMOTION, pos=drag_to, rel=(0, 0), buttons=(1, 0, 0)))
    ed.handle_event(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=drag_to or pos, button=button))
    ed.update()


def key(ed, k, mod=0):
    ed.handle_event(pygame.event.Event(pygame.KEYDOWN, key=k, mod=mod, unicode="", scancode=0))
    ed.update()


def test_geometry_insert_into_nearest_segment_and_falloff():
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], dtype=float)
    i, d = nearest_segment(square, np.array([5.0, 12.0]))
    assert (i, d) == (2, 2.0)  # segment from (10, 10) to (0, 10)
    new, index = insert_point(square, np.array([5.0, 12.0]))
    assert index == 3 and new[3].tolist() == [5.0, 12.0] and len(new) == 5
    w = falloff_weights(square, 0, 15.0)
    assert w[0] == 1.0 and 0 < w[1] < 1 and w[1] == pytest.approx(w[3]) and w[2] == 0.0
    assert reverse_direction(square).tolist() == [[0, 0], [0, 10], [10, 10], [10, 0]]


def test_draw_shows_road_and_walls(editor):
    surface = pygame.Surface(SIZE)
    editor.draw(surface)
    track = editor.track
    assert track is not None and editor.error is None
    # wall pixels are drawn in the wall colour, the road between them in the road colour
    image = pygame.surfarray.array3d(surface).astype(int)
    near_wall = []
    for p in track.left_wall[::3]:
        x, y = screen_of(editor, p)
        patch = image[x - 1:x + 2, y - 1:y + 2].reshape(-1, 3)  # anti-aliased: look at the neighbours too
        near_wall.append(patch.sum(axis=1).max() > (sum(theme.WALL) + sum(theme.ROAD)) / 2)
    assert np.mean(near_wall) > 0.8
    a, b = track.left_wall[5], track.right_wall[5]
    road = surface.get_at(screen_of(editor, a * 0.3 + b * 0.7))[:3]
    assert tuple(road) == theme.ROAD
    assert tuple(surface.get_at(screen_of(editor, (500, 400)))[:3]) != theme.ROAD  # infield is not road


def test_click_inserts_drag_moves_right_click_deletes_and_undo(editor):
    pts0 = editor.points.copy()
    world = (pts0[3] + pts0[4]) / 2 + np.array([0.0, 6.0])
    click(editor, screen_of(editor, world))
    assert len(editor.points) == len(pts0) + 1
    assert np.allclose(editor.points[4], editor.world(screen_of(editor, world)))
    editor.proportional = False
    click(editor, screen_of(editor, editor.points[10]), drag_to=screen_of(editor, editor.points[10] + [0, 15]))
    assert editor.points[10][1] > pts0[9][1] + 10  # moved (index shifted by the insert)
    assert np.array_equal(editor.points[11], pts0[10])  # neighbours stay without proportional drag
    click(editor, screen_of(editor, editor.points[4]), button=3)
    assert len(editor.points) == len(pts0)
    key(editor, pygame.K_z, pygame.KMOD_CTRL)
    assert len(editor.points) == len(pts0) + 1
    key(editor, pygame.K_y, pygame.KMOD_CTRL)
    assert len(editor.points) == len(pts0)
    assert editor.dirty


def test_proportional_drag_moves_neighbours_smoothly(editor):
    editor.proportional, editor.radius = True, 200.0
    p = editor.points[6].copy()
    before = editor.points.copy()
    click(editor, screen_of(editor, p), drag_to=screen_of(editor, p + [0, -30]))
    moved = np.hypot(*(editor.points - before).T)
    assert moved[6] > 20 and 0 < moved[5] < moved[6] and 0 < moved[7] < moved[6]
    assert moved[18] == 0  # the far side of the ring does not move
    assert editor.track is not None


def test_wheel_and_keys_change_width(editor):
    w = editor.width
    editor.handle_event(pygame.event.Event(pygame.MOUSEWHEEL, x=0, y=1, flipped=False, precise_x=0.0,
                                           precise_y=1.0))
    key(editor, pygame.K_RIGHTBRACKET)
    editor.update()
    assert editor.width == w + 4
    assert editor.track.width == w + 4
    key(editor, pygame.K_LEFTBRACKET)
    assert editor.width == w + 2


def test_invalid_shape_shows_error_and_is_not_saved(editor, tmp_path):
    editor.proportional = False
    target = editor.path
    # drag a point across the ring to the far side: the walls cross
    click(editor, screen_of(editor, editor.points[0]), drag_to=screen_of(editor, editor.points[12] + [-60, 0]))
    assert editor.track is None and editor.error and "ring.json" in editor.error
    surface = pygame.Surface(SIZE)
    editor.draw(surface)  # draws the error banner without raising
    key(editor, pygame.K_s)
    assert not target.exists()
    editor.width = 0.0
    editor.validate()
    assert "width" in editor.error


def test_save_and_load_round_trip(editor):
    click(editor, screen_of(editor, (editor.points[2] + editor.points[3]) / 2 + [4.0, 4.0]))
    key(editor, pygame.K_s, pygame.KMOD_CTRL)
    assert not editor.dirty and editor.saved_path == editor.path
    loaded = load_track(editor.path)
    assert loaded.name == "Ring" and loaded.width == editor.width
    assert np.allclose(loaded.centerline, editor.points, atol=0.01)
    d, target, error = load_for_editing(editor.path)
    assert target == editor.path and error is None
    assert np.allclose(d["centerline"], editor.points, atol=0.01)


def test_invalid_file_opens_with_error_and_garbage_raises(tmp_path):
    bad = circle_track(width=900.0)  # far wider than the ring: walls cross
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    d, target, error = load_for_editing(path)
    assert target == path and error and "bad.json" in error
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    from cars.sim.track import TrackError
    with pytest.raises(TrackError, match="junk.json"):
        load_for_editing(junk)


def test_escape_asks_again_when_unsaved(editor):
    key(editor, pygame.K_RIGHTBRACKET)
    key(editor, pygame.K_ESCAPE)
    assert editor.running
    key(editor, pygame.K_ESCAPE)
    assert not editor.running


def test_run_editor_screenshot_without_file_copies_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shot = tmp_path / "shots" / "editor.png"
    assert run_editor(None, screenshot=shot, frames=2) is None
    image = pygame.surfarray.array3d(pygame.image.load(str(shot))).astype(int)
    assert image.std() > 10  # not blank
    road_share = np.mean(np.all(image == theme.ROAD, axis=-1))
    assert road_share > 0.05  # the default track's road fills a good part of the window
    d, target, _ = load_for_editing(None)
    assert target is None and d["name"] == "custom" and len(d["centerline"]) >= 4
    assert not list(tmp_path.glob(".*.tmp*"))


def test_spline_control_points_stay_editable_and_save_as_the_smooth_curve(tmp_path):
    pygame.display.init()
    pygame.font.init()
    sparse = circle_track(n=8)
    sparse["smooth"] = True
    path = tmp_path / "smooth.json"
    path.write_text(json.dumps(sparse))
    d, target, error = load_for_editing(path)
    assert error is None and d.get("smooth") is True and len(d["centerline"]) == 8
    ed = Editor(d, target, size=SIZE)
    assert len(ed.points) == 8 and len(ed.track.centerline) > 30  # the preview is the spline
    key(ed, pygame.K_m)  # smoothing off: the 8 points are the centerline itself
    assert len(ed.track.centerline) == 8
    key(ed, pygame.K_m)
    key(ed, pygame.K_s)
    saved = load_track(path)
    assert len(saved.centerline) == len(ed.track.centerline) > 30
    pygame.display.quit()
