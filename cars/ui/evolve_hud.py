"""The evolve window's HUD panel: the generation in progress, the simulation speed, the learner and its
live settings, as rows for `panel.draw_info_panel`. A setting changed with the keys shows as
`old -> new next gen` until the next generation takes it.
"""

from __future__ import annotations

import time

import numpy as np

from cars.ui import theme as theme
from cars.ui.inspector import lap_time_text
from cars.ui.panel import Row, bar, section
from cars.ui.param_keys import fmt_value, label
from cars.ui.chart import history_series


class EvolveHud:
    """Builds the HUD rows of an `EvolveWindow`; keeps the two figures that are costly or need time to
    measure (best score ever, steps per second) between frames."""

    def __init__(self) -> None:
        self._best_ever: tuple[int, str] = (-1, "-")
        self._rate = (time.perf_counter(), 0, 0.0)

    def rows(self, window, sim=None, fitness=None, leader=None) -> list[Row]:
        """The rows for `window` (an EvolveWindow); without a leader (no simulation) the live rows are empty."""
        config, run = window.config, window.run
        rows: list[Row] = []
        if leader is not None:
            n = len(sim.x)
            alive = int(np.count_nonzero(sim.alive))
            max_steps = int(getattr(sim, "max_steps", 0) or config.simulation.max_steps)
            rows.append(bar("cars alive", alive / n, f"{alive} / {n}", theme.GOOD))
            rows.append(bar("step", sim.steps / max(max_steps, 1), f"{sim.steps} / {max_steps}", theme.ACCENT))
            rows.append(Row("best this gen", f"{float(np.max(fitness)):.3f} laps", theme.CHART_BEST))
            rows.append(self._best_ever_row(run.history))
            laps = int(sim.laps[leader])
            lap_time = lap_time_text(int(sim.best_lap_steps[leader]), getattr(sim, "dt", None))
            rows.append(Row("leader", f"lap {laps}  best {lap_time}", theme.TEXT))
        else:
            rows += [bar("cars alive", 0, ""), bar("step", 0, ""), Row("best this gen"),
                     self._best_ever_row(run.history), Row("leader")]
        rows.append(Row("track", track_label(run, window.current_track()), theme.TEXT))
        speed = "turbo" if window.turbo else f"{window.speed}x"
        rows.append(Row("speed", f"{speed}   {window.fps:.0f} FPS   {self._steps_per_second(window.steps_done)}",
                        theme.TEXT))
        rows.append(section(f"{run.config.algorithm.name}  (keys 1-{2 * len(run.live[:4])})"))
        for name in run.live[:4]:
            rows.append(setting_row(name, window.setting_now(name), window.setting_next(name)))
        rows += [Row(key, text, theme.TEXT) for key, text in run.hud_rows()]
        return rows

    def _best_ever_row(self, history: list[dict]) -> Row:
        """The best generation score so far (run.best_fitness is the latest generation's best, which can
        drop when the tracks change from one generation to the next)."""
        if self._best_ever[0] != len(history):
            best = history_series(history, "best")
            self._best_ever = (len(history), f"{np.nanmax(best):.3f} laps" if np.isfinite(best).any() else "-")
        return Row("best ever", self._best_ever[1], theme.GOLD)

    def _steps_per_second(self, steps_done: int) -> str:
        """Simulation steps per second, re-measured every half second from the window's step counter."""
        t0, s0, rate = self._rate
        now = time.perf_counter()
        if now - t0 >= 0.5:
            rate = (steps_done - s0) / (now - t0)
            self._rate = (now, steps_done, rate)
        return f"{rate:,.0f} steps/s" if rate else ""


def track_label(run, track) -> str:
    """The track being driven, and which of this generation's tracks it is when there are several."""
    tracks = run.tracks or [track]
    position = next((i for i, t in enumerate(tracks) if t is track), None)
    if len(tracks) > 1 and position is not None:
        return f"{track.name}  ({position + 1} of {len(tracks)})"
    return track.name


def setting_row(name: str, now, nxt) -> Row:
    """A live setting: its value now, and the value it will have from the next generation if that differs."""
    if fmt_value(nxt) != fmt_value(now):
        return Row(label(name), f"{fmt_value(now)} -> {fmt_value(nxt)} next gen", theme.WARN)
    return Row(label(name), fmt_value(now), theme.TEXT)
