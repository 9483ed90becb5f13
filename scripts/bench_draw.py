#!/usr/bin/env python3
"""Frames per second of the draw window while someone draws, live readings included.

A stroke is drawn by posted mouse events (a new point every frame, a new digit every 120 frames), through
the window's own event, update and draw code, uncapped, so the figure is the headroom above the 60 FPS the
window caps itself at. Also: milliseconds per reading (to_mnist + both models + feature maps + the MLP's input
gradient), which runs every ``PREDICT_EVERY`` frames while the drawing changes.

    SDL_VIDEODRIVER=dummy python3 scripts/bench_draw.py [--run DIR] [--frames 1200]

Runs under any display (for a real X server's frame cost, run it under Xvfb or on a desktop).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import pygame  # noqa: E402

from engine import blas_threads  # noqa: E402
from vision.draw.app import DrawApp  # noqa: E402
from vision.draw.frame import ensure_display, open_window  # noqa: E402
from vision.reader import find_latest_run, load_pair  # noqa: E402


def stroke_point(frame: int, rect: pygame.Rect) -> tuple[int, int]:
    """A looping scribble over the canvas: one point per frame."""
    t = (frame % 120) / 120 * 2 * math.pi
    return (int(rect.centerx + 0.3 * rect.width * math.sin(2 * t)), int(rect.centery + 0.35 * rect.height * math.sin(t)))


def run(app: DrawApp, frames: int) -> tuple[list[float], list[float]]:
    """Draw for ``frames`` frames; returns per-frame seconds and per-reading milliseconds."""
    screen = open_window("bench", (1280, 800))
    app.draw(screen)  # lays out the canvas rectangle
    frame_seconds, reading_ms = [], []
    for frame in range(frames):
        started = time.perf_counter()
        rect = app.canvas_rect
        if frame % 120 == 0:
            pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONUP, button=1, pos=stroke_point(frame, rect)))
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_c, mod=0))
            pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, button=1, pos=stroke_point(frame, rect)))
        pygame.event.post(pygame.event.Event(pygame.MOUSEMOTION, pos=stroke_point(frame, rect), buttons=(1, 0, 0),
                                             rel=(0, 0)))
        before = app.readings
        for event in pygame.event.get():
            app.handle_event(event)
        app.update()
        app.draw(pygame.display.get_surface())
        pygame.display.flip()
        frame_seconds.append(time.perf_counter() - started)
        if app.readings != before:
            reading_ms.append(app.read_ms)
    return frame_seconds, reading_ms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="run folder with mlp.npz and cnn.npz (default: newest under runs/)")
    parser.add_argument("--frames", type=int, default=1200)
    args = parser.parse_args()
    run_dir = args.run or find_latest_run()
    if run_dir is None:
        print("no run folder with mlp.npz and cnn.npz: run python3 scripts/digit_benchmark.py first", file=sys.stderr)
        return 2
    ensure_display(must_be_visible=False)
    app = DrawApp(load_pair(run_dir))
    with blas_threads(1):  # as digit-draw runs its window
        run(app, 60)  # warm-up: first readings allocate, fonts load
        app = DrawApp(app.models)
        seconds, readings = run(app, args.frames)
    pygame.display.quit()
    ordered = sorted(seconds)
    p99 = ordered[int(0.99 * (len(ordered) - 1))]
    print(f"driver {os.environ['SDL_VIDEODRIVER']}, {len(seconds)} frames while drawing, {len(readings)} readings "
          f"(one every {app.predict_every} frames)")
    print(f"frames/s (uncapped): {len(seconds) / sum(seconds):.0f}   median frame {1000 * statistics.median(seconds):.2f} ms"
          f"   99th percentile {1000 * p99:.2f} ms   (60 FPS = 16.7 ms)")
    print(f"reading: median {statistics.median(readings):.2f} ms, 99th percentile "
          f"{sorted(readings)[int(0.99 * (len(readings) - 1))]:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
