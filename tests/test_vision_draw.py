"""The draw window under SDL's dummy driver: a digit drawn by posted mouse events, keys, the test-set browser,
screenshots, and the one-line errors for model files and flags."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
pygame = pytest.importorskip("pygame")

import engine  # noqa: E402
from engine import Dense, Sequential  # noqa: E402
from vision.draw.app import DrawApp, TestSet  # noqa: E402
from vision.draw.canvas import Canvas, capsule_coverage  # noqa: E402
from vision.draw.cli import main  # noqa: E402
from vision.models import build_model  # noqa: E402
from vision.reader import find_latest_run, load_pair  # noqa: E402


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run folder with (untrained) models of the benchmark's shapes: enough to read digits."""
    folder = tmp_path_factory.mktemp("runs") / "digit-benchmark-test"
    folder.mkdir()
    engine.save(build_model("mlp", 1), folder / "mlp.npz", metadata={"preset": "mlp"})
    engine.save(build_model("cnn", 1), folder / "cnn.npz", metadata={"preset": "cnn"})
    return folder


@pytest.fixture
def digit_set():
    rng = np.random.default_rng(0)
    images = (rng.random((6, 28, 28)) * 255).astype(np.uint8)
    images[:, :4] = 0
    return TestSet(images, np.arange(6) % 10)


def _post(kind, **fields):
    pygame.event.post(pygame.event.Event(kind, **fields))


def _drag(app, points, button=1):
    """Post a press at the first window point, motions through the rest, and a release."""
    _post(pygame.MOUSEBUTTONDOWN, button=button, pos=points[0])
    for point in points[1:]:
        _post(pygame.MOUSEMOTION, pos=point, rel=(0, 0), buttons=(button == 1, 0, button == 3))
    _post(pygame.MOUSEBUTTONUP, button=button, pos=points[-1])


@pytest.fixture
def window(display):
    """A 1280 x 800 window that stays open for the whole test (events can be posted between frames)."""
    return display.display.set_mode((1280, 800))


def _frames(app, n=2):
    """What run_loop does each frame: events, update, draw, flip."""
    for _ in range(n):
        for event in pygame.event.get():
            app.handle_event(event)
        app.update()
        app.draw(pygame.display.get_surface())
        pygame.display.flip()


def test_capsule_coverage_against_a_slow_reference():
    ys, xs = np.arange(20) + 0.5, np.arange(30) + 0.5
    fast = capsule_coverage(ys, xs, (4.0, 5.0), (25.0, 14.0), 3.0)
    for y in range(20):
        for x in range(30):
            p, q, c = np.array([4.0, 5.0]), np.array([25.0, 14.0]), np.array([x + 0.5, y + 0.5])
            t = min(1.0, max(0.0, float((c - p) @ (q - p) / ((q - p) @ (q - p)))))
            distance = np.linalg.norm(c - (p + t * (q - p)))
            assert fast[y, x] == pytest.approx(min(1.0, max(0.0, 3.5 - distance)))


def test_canvas_strokes_erase_clear_and_undo():
    canvas = Canvas(64)
    canvas.polyline([(10, 10), (50, 10)], radius=3)
    assert canvas.pixels[10, 30] == 1.0 and canvas.pixels[30, 30] == 0.0
    canvas.checkpoint()
    canvas.stroke((30, 10), (30, 10), radius=5, erase=True)
    assert canvas.pixels[10, 30] == 0.0 and canvas.pixels[10, 12] == 1.0
    canvas.clear()
    assert canvas.empty
    assert canvas.undo() and canvas.pixels[10, 12] == 1.0 and canvas.pixels[10, 30] == 0.0
    assert canvas.undo() and canvas.pixels[10, 30] == 1.0
    assert canvas.undo() and canvas.empty and not canvas.undo()


def test_a_digit_drawn_with_the_mouse_is_read_by_both_models(run_dir, window):
    app = DrawApp(load_pair(run_dir))
    _frames(app, 1)  # lays the window out: the canvas rectangle is known from now on
    rect = app.canvas_rect
    top, bottom = (rect.centerx, rect.y + rect.height // 4), (rect.centerx, rect.y + 3 * rect.height // 4)
    _drag(app, [top, ((top[0] + bottom[0]) // 2, (top[1] + bottom[1]) // 2), bottom])  # a "1"
    _frames(app, 3)
    pixels = app.canvas.pixels
    column = int(app.to_canvas(top)[0])
    assert pixels[int(app.to_canvas(top)[1]):int(app.to_canvas(bottom)[1]), column].min() == 1.0
    assert pixels[:, : column - 3 * int(app.pen)].max() == 0.0  # nothing but the stroke
    reading = app.reading
    assert reading is not None and app.image.shape == (28, 28)
    assert app.image[:, 14].sum() > 5 * app.image[:, 4].sum()  # a centred vertical bar
    for probs in (reading.mlp, reading.cnn):
        assert probs.shape == (10,) and probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert [f.shape for f in reading.features] == [(16, 28, 28), (32, 14, 14)]
    assert reading.saliency.shape == (28, 28) and np.abs(reading.saliency).max() > 0


def test_keys_erase_clear_undo_and_pen_size(run_dir, window):
    app = DrawApp(load_pair(run_dir))
    _frames(app, 1)
    rect = app.canvas_rect
    _drag(app, [(rect.x + 50, rect.centery), (rect.right - 50, rect.centery)])
    _frames(app, 1)
    inked = app.canvas.pixels.sum()
    _drag(app, [(rect.centerx, rect.centery)], button=3)  # right button erases
    _frames(app, 1)
    assert 0 < app.canvas.pixels.sum() < inked
    for key in (pygame.K_RIGHTBRACKET, pygame.K_c):
        _post(pygame.KEYDOWN, key=key, mod=0)
    _frames(app, 1)
    assert app.canvas.empty and app.pen > 14 and app.reading is None
    _post(pygame.KEYDOWN, key=pygame.K_z, mod=pygame.KMOD_CTRL)
    _frames(app, 1)
    assert app.canvas.pixels.sum() < inked and not app.canvas.empty and app.reading is not None


def test_browsing_the_test_set_and_copying_a_digit(run_dir, digit_set, window):
    app = DrawApp(load_pair(run_dir), digit_set)
    for key in (pygame.K_n, pygame.K_n):
        _post(pygame.KEYDOWN, key=key, mod=0)
    _frames(app, 1)
    assert app.showing_test == 1
    np.testing.assert_array_equal(app.image, digit_set.digit(1))
    _post(pygame.KEYDOWN, key=pygame.K_m, mod=0)
    _frames(app, 1)
    images = digit_set.images[:, None].astype(np.float32) / 255
    differ = np.flatnonzero(app.models.mlp(images).argmax(1) != app.models.cnn(images).argmax(1))
    np.testing.assert_array_equal(digit_set.disagreements, differ)
    assert len(differ) > 0  # untrained models on noise disagree somewhere
    expected = differ[differ > 1][0] if (differ > 1).any() else differ[0]
    assert app.showing_test == expected and app.reading.disagree
    _post(pygame.KEYDOWN, key=pygame.K_t, mod=0)
    _frames(app, 1)
    assert app.showing_test is None and not app.canvas.empty and app.reading is not None


def test_screenshot_of_a_demo_digit(run_dir, tmp_path, capsys):
    shot = tmp_path / "shot.png"
    assert main(["--run", str(run_dir), "--screenshot", str(shot), "--frames", "3"]) == 0
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    picture = pygame.image.load(str(shot))
    assert picture.get_size() == (1280, 800)
    assert f"saved {shot}" in capsys.readouterr().out


def test_without_models_the_window_says_how_to_make_them(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert find_latest_run() is None
    assert main(["--screenshot", "shot.png", "--frames", "1", "--data-dir", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "python3 scripts/digit_benchmark.py" in err and "--train-quick" in err and err.count("\n") == 1


def _write(path, model):
    path.parent.mkdir(parents=True, exist_ok=True)
    engine.save(model, path)


@pytest.mark.parametrize("case, message", [
    ("missing folder", "no such run folder"),
    ("no cnn", "no cnn.npz in this run folder"),
    ("mlp as cnn", "expected a CNN with two convolution layers, found 0"),
    ("cnn as mlp", "expected an MLP, found convolution layers"),
    ("wrong shape", "not a digit model: it does not take 28 x 28 images"),
    ("ten outputs missing", "gives (4,) outputs, expected 10 classes"),
    ("corrupt", "not an .npz model file"),
    ("truncated", "not a readable model file"),
    ("non-finite", "holds non-finite weights"),
])
def test_model_loading_errors_are_one_line_and_exit_code_2(case, message, run_dir, tmp_path, capsys):
    folder = tmp_path / "run"
    mlp, cnn = folder / "mlp.npz", folder / "cnn.npz"
    if case != "missing folder":
        _write(mlp, build_model("mlp", 0))
        _write(cnn, build_model("cnn", 0))
    if case == "no cnn":
        cnn.unlink()
    elif case == "mlp as cnn":
        _write(cnn, build_model("mlp", 0))
    elif case == "cnn as mlp":
        _write(mlp, build_model("cnn", 0))
    elif case == "wrong shape":
        _write(mlp, Sequential(Dense(7, 16), Dense(16, 3)))  # a cars brain, say
    elif case == "ten outputs missing":
        from engine import Flatten

        _write(mlp, Sequential(Flatten(), Dense(784, 4)))
    elif case == "corrupt":
        cnn.write_bytes(b"this is not a model")
    elif case == "truncated":
        cnn.write_bytes((run_dir / "cnn.npz").read_bytes()[:5000])
    elif case == "non-finite":
        model = build_model("cnn", 0)
        model.parameters()[0].data[0, 0, 0, 0] = np.nan
        _write(cnn, model)
    code = main(["--run", str(folder), "--screenshot", str(tmp_path / "s.png"), "--frames", "1"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("digit-draw: error: ") and err.count("\n") == 1, err
    assert message in err and str(folder) in err
    assert not (tmp_path / "s.png").exists()


@pytest.mark.parametrize("flags, message", [
    (["--pen", "0"], "argument --pen: expected an integer from 3 to 40, got 0"),
    (["--frames", "-1"], "argument --frames: expected an integer from 1 to 100000, got -1"),
    (["--screenshot", "missing-folder/shot.png"], "argument --screenshot: cannot write into missing-folder"),
    (["--train-quick", "--run", "x"], "argument --train-quick: not allowed with --run"),
])
def test_bad_flags(flags, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(flags) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # nothing trained, nothing written


def test_an_interactive_window_needs_a_display(monkeypatch, tmp_path, capsys, run_dir):
    for name in ("SDL_VIDEODRIVER", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    assert main(["--run", str(run_dir)]) == 2
    assert "no display to show the window on" in capsys.readouterr().err


def test_train_quick_makes_a_run_folder_and_opens_on_it(tmp_path, monkeypatch, capsys):
    from vision.data import CACHE_FILE, ArraySpec, array_sha256

    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 400), ("test", 60)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        pixels = rng.integers(0, 60, (n, 28, 28), dtype=np.uint8)
        pixels[np.arange(n)[:, None], (3 + 2 * labels)[:, None], np.arange(5, 23)] = 255
        arrays[f"x_{split}"], arrays[f"y_{split}"] = pixels, labels
    np.savez(tmp_path / CACHE_FILE, **arrays)
    spec = {name: ArraySpec(a.shape, array_sha256(a)) for name, a in arrays.items()}
    monkeypatch.chdir(tmp_path)
    code = main(["--train-quick", "--data-dir", str(tmp_path), "--no-progress", "--screenshot", "s.png",
                 "--frames", "2"], _spec=spec)
    assert code == 0
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith("digit-quick-") and find_latest_run() == Path("runs") / run.name
    report = json.loads((run / "report.json").read_text())
    assert [m["epochs"] for m in report["models"].values()] == [3, 3]
    assert "No trained models" not in capsys.readouterr().err  # it opened on the models it had just trained
    assert (tmp_path / "s.png").is_file()
