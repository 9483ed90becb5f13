"""The driver of a sweep: which cells are left, hand them to a backend, report each as it finishes.

    outcome = run_sweep(sweep, "runs/sweep", LocalPool(2))
    outcome.results    # cell index -> result (every finished cell, from this call or an earlier one)

Finished cells (result.json) are skipped, interrupted ones resume from their checkpoints, new ones start.
Ctrl-C stops the backend (its workers' cells keep their last checkpoint), writes the reports of the cells
finished so far and returns with `interrupted` set; the same call on the same folder continues.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from cars.scale.backends import CellJob
from cars.learn.run_files import RunLock
from cars.scale.sweep import (Cell, SweepDefinition, cell_folder, cell_label, cell_state, format_duration,
                              open_sweep_folder, read_result)
from cars.scale.report import terminal_table, write_reports


@dataclass
class SweepOutcome:
    folder: Path
    cells: list[Cell]
    results: dict[int, dict[str, Any]] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)
    skipped: int = 0
    resumed: int = 0
    interrupted: bool = False
    seconds: float = 0.0
    reports: list[Path] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return len(self.results) == len(self.cells)


class Progress:
    """A line per finished cell with the time left, estimated from the cells finished in this call."""

    def __init__(self, outcome: SweepOutcome, todo: int, log: Callable[[str], None]) -> None:
        self.outcome, self.todo, self.log = outcome, todo, log
        self.started = time.perf_counter()
        self.done_now = 0
        self.by_index = {cell.index: cell for cell in outcome.cells}

    def __call__(self, event: dict[str, Any]) -> None:
        cell = self.by_index[event["cell"]]
        kind = event["type"]
        if kind == "result":
            self.outcome.results[cell.index] = event["result"]
            self.outcome.failed.pop(cell.index, None)
            self.done_now += 1
            self.log(self._finished_line(cell, event["result"]))
        elif kind == "failed":
            self.outcome.failed[cell.index] = event["error"]
            self.done_now += 1
            self.log(f"[{self._count()}] {cell.name}: FAILED: {event['error']}")
        elif kind == "retry":
            self.log(f"        {cell.name}: {event['reason']}")

    def _count(self) -> str:
        total = len(self.outcome.cells)
        done = len(self.outcome.results) + len(self.outcome.failed)
        return f"{done:>{len(str(total))}}/{total}"

    def _finished_line(self, cell: Cell, result: dict[str, Any]) -> str:
        elapsed = time.perf_counter() - self.started
        left = self.todo - self.done_now
        eta = elapsed / self.done_now * left if self.done_now else float("nan")
        first = result["first_lap_generation"]
        lap = f"first lap gen {first:>3}" if first is not None else "no lap yet     "
        unseen = f"  unseen {result['unseen_lapped']}/{result['unseen_tracks']}" if "unseen_lapped" in result else ""
        best = "     -" if result["best_fitness"] is None else f"{result['best_fitness']:6.3f}"
        return (f"[{self._count()}] {cell_label(cell.values, cell.seed):<34} best {best}  "
                f"{lap}  laps {result['laps']:g}{unseen}  {result.get('seconds', 0):6.1f}s   "
                f"elapsed {format_duration(elapsed)}  ETA {format_duration(eta) if left else '0:00'}")


def run_sweep(sweep: SweepDefinition, folder: str | Path, backend: Any, log: Callable[[str], None] = print, *,
              plots: bool = True, watch: Callable[[dict[str, Any]], None] | None = None) -> SweepOutcome:
    """Run every unfinished cell of `sweep` in `folder` on `backend` (LocalPool or RayCells); `watch` sees
    every event of the backend too (cars.scale.backends)."""
    folder = open_sweep_folder(folder, sweep)
    lock = RunLock(folder)  # one sweep writes a folder at a time
    lock.acquire()
    try:
        outcome = SweepOutcome(folder, sweep.cells())
        jobs = []
        for cell in outcome.cells:
            path = cell_folder(folder, cell)
            state = cell_state(path)
            if state == "finished":
                outcome.results[cell.index] = read_result(path)
                outcome.skipped += 1
            else:
                outcome.resumed += state == "interrupted"
                jobs.append(CellJob(cell, path, sweep.unseen))
        log(f"sweep {folder}: {len(outcome.cells)} cells ({len(sweep.combinations())} combinations x "
            f"{len(sweep.seeds)} seed{'s' if len(sweep.seeds) > 1 else ''}, {len(jobs)} to run: {outcome.resumed} resumed from their checkpoints, "
            f"{outcome.skipped} already finished) on {backend.describe()}")
        started = time.perf_counter()
        try:
            if jobs:
                progress = Progress(outcome, len(jobs), log)
                backend.run(jobs, progress if watch is None else lambda event: (progress(event), watch(event)))
        except KeyboardInterrupt:
            outcome.interrupted = True
        outcome.seconds = time.perf_counter() - started
        outcome.reports = write_reports(folder, sweep, outcome.cells, outcome.results, plots=plots)
        if outcome.results:
            log("")
            log(terminal_table(sweep, outcome.cells, outcome.results))
        return outcome
    finally:
        lock.release()
