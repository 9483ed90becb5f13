"""Frame rate of the evolve window and the cost of drawing in turbo mode.

    SDL_VIDEODRIVER=dummy python scripts/bench_window.py [--population 100] [--frames 600]

Reports, for the default config at the given population: frames per second at 1x (simulation step,
drawing and flip, uncapped: the window caps at 60), the frame-time split between simulation and
drawing, and turbo-mode learning speed against the same run stepped headless.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import numpy as np  # noqa: E402
import pygame  # noqa: E402

from cars.learn.config import load_config  # noqa: E402
from cars.learn.run import EvolutionRun  # noqa: E402
from cars.ui.window import open_window  # noqa: E402
from cars.ui.evolve_window import EvolveWindow  # noqa: E402


def frame_times(population: int, frames: int, warm_generations: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame seconds of (update, draw + flip) at 1x, after some generations of learning."""
    with tempfile.TemporaryDirectory() as folder:
        config = load_config("default", {"evolution.population": str(population), "evolution.generations": "1000"})
        run = EvolutionRun(config, folder, log=None)
        while run.generation < warm_generations:  # cars that drive well live longest: the costly case
            run.step(1000)
        screen = open_window("bench")
        window = EvolveWindow(run, size=screen.get_size())
        sim_t, draw_t = [], []
        for _ in range(frames):
            for event in pygame.event.get():
                window.handle_event(event)
            t0 = time.perf_counter()
            window.update()
            t1 = time.perf_counter()
            window.draw(screen)
            pygame.display.flip()
            t2 = time.perf_counter()
            sim_t.append(t1 - t0)
            draw_t.append(t2 - t1)
        pygame.display.quit()
    return np.array(sim_t), np.array(draw_t)


def turbo_speed(population: int, generations: int, repeats: int = 2) -> tuple[float, float]:
    """Car-steps per second over `generations` generations: headless stepping vs the window in turbo
    mode (drawing included); best of `repeats`, alternating the two so both see the same machine."""
    best = {False: 0.0, True: 0.0}
    for _ in range(repeats):
        for turbo in (False, True):
            with tempfile.TemporaryDirectory() as folder:
                config = load_config("default", {"evolution.population": str(population),
                                                 "evolution.generations": str(generations)})
                run = EvolutionRun(config, folder, log=None)
                screen = open_window("bench") if turbo else None
                window = EvolveWindow(run, size=screen.get_size()) if turbo else None
                if window is not None:
                    window.toggle_turbo()
                t0 = time.perf_counter()
                while not run.finished:
                    if window is not None:
                        window.update()
                        window.draw(screen)
                        pygame.display.flip()
                    else:
                        run.step(32)
                rate = sum(r["car_steps"] for r in run.history) / (time.perf_counter() - t0)
                best[turbo] = max(best[turbo], rate)
                if screen is not None:
                    pygame.display.quit()
    return best[False], best[True]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=100)
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--warm-generations", type=int, default=5)
    parser.add_argument("--turbo-generations", type=int, default=10)
    args = parser.parse_args()
    sim_t, draw_t = frame_times(args.population, args.frames, args.warm_generations)
    total = sim_t + draw_t
    print(f"evolve window, population {args.population}, 1x, {args.frames} frames at "
          f"{pygame.display.get_driver() if pygame.display.get_init() else os.environ['SDL_VIDEODRIVER']} driver:")
    print(f"  {1 / total.mean():6.0f} FPS uncapped (mean frame {total.mean() * 1e3:.2f} ms, "
          f"95th percentile {np.percentile(total, 95) * 1e3:.2f} ms; the window caps at 60)")
    print(f"  simulation {sim_t.mean() * 1e3:.2f} ms + drawing {draw_t.mean() * 1e3:.2f} ms per frame")
    headless, turbo = turbo_speed(args.population, args.turbo_generations)
    print(f"turbo: {turbo:,.0f} car-steps/s in the window vs {headless:,.0f} headless "
          f"({turbo / max(headless, 1e-9):.0%})")


if __name__ == "__main__":
    main()
