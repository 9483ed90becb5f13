"""Regenerate the README screenshots (docs/screenshots/*.png) with the dummy video driver.

    python scripts/window_screenshots.py [--out docs/screenshots]

evolve.png: population 100 on the 'kidney' track, a few generations in (learned headless, then
watched); drive.png: that run's champion replayed; editor.png: a shipped track being reshaped.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import numpy as np  # noqa: E402
import pygame  # noqa: E402

from cars.learn.config import load_config  # noqa: E402
from cars.ui.editor.window import Editor  # noqa: E402
from cars.ui.editor.files import load_for_editing  # noqa: E402
from cars.learn.run import EvolutionRun  # noqa: E402
from cars.sim.track import load_track  # noqa: E402
from cars.ui.window import open_window, save_screenshot  # noqa: E402
from cars.ui.drive_window import DriveWindow  # noqa: E402
from cars.ui.evolve_window import EvolveWindow  # noqa: E402


def render(window, frames: int, path: Path) -> None:
    """`frames` frames at the window's real 60 FPS cap (so the HUD shows a true frame rate)."""
    screen = open_window("screenshot")
    clock = pygame.time.Clock()
    for _ in range(frames):
        window.update()
        window.draw(screen)
        pygame.display.flip()
        clock.tick(60)
        window.fps = clock.get_fps()
    save_screenshot(screen, path)
    pygame.display.quit()


def evolve_and_drive(out: Path, folder: Path, track: str, generations: int, frames: int) -> None:
    config = load_config("default", {"track.names": track})
    run = EvolutionRun(config, folder, log=None)
    while run.generation < generations:
        run.step(1)  # one step at a time: stop right at the start of the generation
    window = EvolveWindow(run)
    render(window, frames, out / "evolve.png")
    print(f"wrote {out / 'evolve.png'} (generation {run.generation}, step {run.sim.steps})")
    drive = DriveWindow(folder / "champion.npz", load_track(track), laps=1)
    render(drive, frames * 2, out / "drive.png")
    print(f"wrote {out / 'drive.png'}")


def editor(out: Path, track: str) -> None:
    data, _, _ = load_for_editing(track)
    ed = Editor(data, Path(f"{track}.json"))
    screen = open_window("screenshot")
    ed.draw(screen)
    grab = ed.points[len(ed.points) * 3 // 5]
    start = tuple(int(v) for v in np.round(ed.camera.world_to_screen(grab)))
    ed.radius = 140.0
    events = [pygame.event.Event(pygame.MOUSEMOTION, pos=start, rel=(0, 0), buttons=(0, 0, 0)),
              pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=start, button=1)]
    events += [pygame.event.Event(pygame.MOUSEMOTION, pos=(start[0] + k * 3, start[1] - k * 4), rel=(3, -4),
                                  buttons=(1, 0, 0)) for k in range(1, 16)]
    for event in events:
        ed.handle_event(event)
        ed.update()
    ed.validate()  # the preview the next frame shows (dragging rebuilds it at most 30 times a second)
    ed.draw(screen)
    save_screenshot(screen, out / "editor.png")
    pygame.display.quit()
    print(f"wrote {out / 'editor.png'} ({'valid' if ed.track else ed.error})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/screenshots")
    parser.add_argument("--track", default="kidney")
    parser.add_argument("--generations", type=int, default=6)
    parser.add_argument("--frames", type=int, default=110)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        evolve_and_drive(out, Path(folder), args.track, args.generations, args.frames)
    editor(out, "sbends")


if __name__ == "__main__":
    main()
