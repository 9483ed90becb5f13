"""Parameter sweeps: one ordinary run per combination of settings x seed, and what the runs found.

    sweep = SweepDefinition.build(load_config("default"), {"evolution.mutation_rate": [0.05, 0.1]}, seeds=[1, 2])
    open_sweep_folder("runs/sweep", sweep)             # writes sweep.json, or checks it is the same sweep
    for cell in sweep.cells():                         # every combination x seed, in one fixed order
        result = run_cell(cell.config, cell_folder("runs/sweep", cell), sweep.unseen)

A sweep folder:

    sweep.json          the sweep's definition: the base config (every setting), the swept settings with
                        their values, the seeds, the unseen-track count. A later command on the folder must
                        define the same sweep (else SweepError), and then continues it.
    cells/<name>/       one ordinary run folder per cell (config.toml, history.csv, champion.npz,
                        checkpoint.npz: replay with `cars drive`, continue with `cars train --resume`), plus
                        result.json once the cell's run finished
    sweep.csv, summary.md, fitness.png, first_lap.png      what the cells found (cars.scale.report)

A cell's result depends only on its config (its seed included): never on which worker ran it, when, or
whether it was interrupted and resumed from its checkpoint (resume is bit-exact).

Values on the command line (`--set section.key=v1,v2,...`): values are separated by commas; a
list-valued value is a bracketed list, whose commas do not separate values:
    --set evolution.mutation_rate=0.02,0.05,0.1      three values
    --set brain.hidden=[8],[16],[8,8]                three brains
    --set track.names=[sbends,city],[oval]           two track lists (or TOML: '["sbends","city"],["oval"]')
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from engine.atomic import write_bytes_atomic
from cars.learn.config import (Config, ConfigError, apply_overrides, get_setting, learner_section,
                               parse_override)
from cars.learn.run import open_run
from cars.learn.run_folder import GENERATED_SEEDS, with_absolute_track_paths
from cars.learn.run_files import RunError, load_run_config

SWEEP_KIND = "cars-sweep/1"
RESULT_FILE = "result.json"
# result.json / sweep.csv: what a cell found (identical however the sweep ran) and how long it took
RESULT_KEYS = ("generations", "first_lap_generation", "first_lap_car_steps", "best_fitness", "best_generation",
               "final_best_fitness", "laps", "car_steps")
UNSEEN_KEYS = ("unseen_lapped", "unseen_tracks")
TIMING_KEYS = ("seconds",)
UNSEEN_DEFAULT = 5  # unseen generated tracks each champion drives when the config trains on generated tracks


class SweepError(ValueError):
    """An unusable sweep (one line naming the setting, value or folder and the problem)."""


# ---- values on the command line ------------------------------------------------------------------------

def split_values(text: str) -> list[str]:
    """'0.1,[8,8],"a,b"' -> ['0.1', '[8,8]', '"a,b"']: split at commas outside brackets and quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def parse_values(key: str, text: str) -> list[Any]:
    """The values of one `--set key=v1,v2,...` (TOML literals or bare words; see the module docstring)."""
    if not text.strip():
        raise SweepError(f"--set {key}: no values (give one value to fix the setting, several to sweep it)")
    values = []
    for piece in split_values(text):
        if not piece:
            raise SweepError(f"--set {key}={text}: an empty value (values are separated by single commas)")
        value = parse_override(piece)
        if isinstance(value, str) and piece.startswith("[") and piece.endswith("]"):  # [sbends,city]: bare words
            value = [parse_override(item) for item in split_values(piece[1:-1]) if item]
        values.append(value)
    return values


# ---- the sweep's definition ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    """One run of the sweep: a combination of swept values and a seed."""

    index: int
    name: str                 # its run folder's name under cells/
    values: dict[str, Any]    # swept setting -> value (as the config holds it)
    seed: int
    config: Config


@dataclass(frozen=True)
class SweepDefinition:
    base: Config                                   # every setting that is not swept (seed: the first seed)
    axes: tuple[tuple[str, tuple[Any, ...]], ...]  # (dotted setting, its values), in command-line order
    seeds: tuple[int, ...]
    unseen: int = 0                                # unseen generated tracks each champion drives at the end

    @classmethod
    def build(cls, base: Config, axes: Mapping[str, Sequence[Any]], seeds: Sequence[int],
              unseen: int | None = None) -> SweepDefinition:
        """A validated sweep: every cell's config is built now, so a bad value fails before any run."""
        if not seeds:
            raise SweepError("--seeds: at least one seed is needed")
        if len(set(seeds)) != len(seeds):
            raise SweepError(f"--seeds: the seeds must differ, got {list(seeds)}")
        if "seed" in axes:
            raise SweepError("--set seed: sweep seeds with --seeds N (and --seed FIRST), not --set")
        base = with_absolute_track_paths(base)
        typed: list[tuple[str, tuple[Any, ...]]] = []
        for key, values in axes.items():
            if not values:
                raise SweepError(f"--set {key}: no values")
            checked = []
            for value in values:
                try:
                    config = with_absolute_track_paths(apply_overrides(base, {key: value}, f"--set {key}"))
                except ConfigError as e:
                    raise SweepError(str(e)) from None
                checked.append(plain(get_setting(config, key)))
            if len({json.dumps(v) for v in checked}) != len(checked):
                raise SweepError(f"--set {key}: a value is repeated ({', '.join(map(value_text, checked))})")
            typed.append((key, tuple(checked)))
        if unseen is None:
            unseen = UNSEEN_DEFAULT if base.track.generated > 0 else 0
        if unseen < 0:
            raise SweepError(f"--unseen must be >= 0, got {unseen}")
        sweep = cls(base, tuple(typed), tuple(int(s) for s in seeds), int(unseen))
        for _ in sweep.cells():  # every combination is checked as a whole (e.g. elitism < population)
            pass
        return sweep

    @property
    def names(self) -> list[str]:
        return [key for key, _ in self.axes]

    def combinations(self) -> list[dict[str, Any]]:
        return [dict(zip(self.names, combo)) for combo in itertools.product(*(values for _, values in self.axes))]

    def cells(self) -> list[Cell]:
        combos = self.combinations()
        width = len(str(max(len(combos) * len(self.seeds) - 1, 9)))
        cells = []
        for values, seed in itertools.product(combos, self.seeds):
            try:
                config = apply_overrides(self.base, {**values, "seed": seed}, "sweep cell " + cell_label(values, seed))
            except ConfigError as e:
                raise SweepError(str(e)) from None
            index = len(cells)
            cells.append(Cell(index, folder_name(index, width, values, seed), values, seed, config))
        return cells

    def to_dict(self) -> dict[str, Any]:
        """What sweep.json holds (plain JSON data)."""
        return json.loads(json.dumps({
            "kind": SWEEP_KIND,
            "config": self.base.to_dict(),
            "axes": [{"setting": key, "values": list(values)} for key, values in self.axes],
            "seeds": list(self.seeds),
            "unseen": self.unseen,
        }))


def plain(value: Any) -> Any:
    """A setting's value as JSON data (tuples become lists)."""
    return [plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def value_text(value: Any) -> str:
    """A swept value as people read it: 0.05, tanh, [8, 8]."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    return repr(value) if isinstance(value, float) else str(value)


def short_name(key: str) -> str:
    return key.partition(".")[2] or key


def cell_label(values: Mapping[str, Any], seed: int) -> str:
    """'mutation_rate=0.05 seed=3': a cell as the progress lines name it."""
    return " ".join([f"{short_name(k)}={value_text(v)}" for k, v in values.items()] + [f"seed={seed}"])


def folder_name(index: int, width: int, values: Mapping[str, Any], seed: int) -> str:
    """'03-mutation_rate=0.05-seed=3': the index keeps names unique and sorted; the rest says what it is."""
    def text(value: Any) -> str:
        if isinstance(value, (list, tuple)):
            return "+".join(text(v) for v in value)
        return Path(str(value)).stem if isinstance(value, str) and "/" in value else value_text(value)

    parts = [f"{index:0{width}d}"] + [f"{short_name(k)}={text(v)}" for k, v in values.items()] + [f"seed={seed}"]
    return re.sub(r"[^A-Za-z0-9._=+-]", "_", "-".join(parts))[:120]


# ---- the sweep folder ----------------------------------------------------------------------------------

def check_sweep_folder(folder: str | Path, sweep: SweepDefinition) -> bool:
    """SweepError unless `folder` can hold this sweep: new or empty (False), or holding this same sweep (True)."""
    folder = Path(folder)
    path = folder / "sweep.json"
    if folder.exists() and not folder.is_dir():
        raise SweepError(f"{folder}: not a folder")
    if path.is_file():
        stored = read_sweep_json(path)
        if stored != sweep.to_dict():
            raise SweepError(f"{folder}: holds a different sweep ({difference(stored, sweep.to_dict())}); run the "
                             f"same command as before to continue it, or choose another --out")
        return True
    if folder.is_dir() and any(p for p in folder.iterdir() if p.name != ".lock"):
        raise SweepError(f"{folder}: not empty and not a sweep folder (no sweep.json); choose another --out")
    return False


def open_sweep_folder(folder: str | Path, sweep: SweepDefinition) -> Path:
    """Create the sweep folder with its sweep.json, or check that an existing one holds this same sweep."""
    folder = Path(folder)
    if not check_sweep_folder(folder, sweep):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise SweepError(f"{folder}: cannot create the sweep folder ({e.strerror or e})") from None
        write_bytes_atomic(folder / "sweep.json", (json.dumps(sweep.to_dict(), indent=2) + "\n").encode())
    return folder


def read_sweep_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise SweepError(f"{path}: not a readable sweep definition ({e})") from None
    if not isinstance(data, dict) or data.get("kind") != SWEEP_KIND:
        raise SweepError(f"{path}: not a cars sweep definition (kind {data.get('kind') if isinstance(data, dict) else None!r})")
    return data


def difference(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> str:
    """The first thing that differs between two sweep definitions, as a reader would say it."""
    if stored.get("axes") != wanted.get("axes"):
        def axes(d: Mapping[str, Any]) -> str:
            return "; ".join(f"{a['setting']}={','.join(map(value_text, a['values']))}" for a in d.get("axes", [])) \
                or "none"
        return f"swept settings: {axes(stored)} there, {axes(wanted)} now"
    if stored.get("seeds") != wanted.get("seeds"):
        return f"seeds {stored.get('seeds')} there, {wanted.get('seeds')} now"
    for section in sorted(set(stored.get("config", {})) | set(wanted.get("config", {}))):
        a, b = stored.get("config", {}).get(section), wanted.get("config", {}).get(section)
        if a != b:
            if isinstance(a, dict) and isinstance(b, dict):
                key = next(k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))
                return f"{section}.{key} = {a.get(key)!r} there, {b.get(key)!r} now"
            return f"{section} = {a!r} there, {b!r} now"
    return f"unseen tracks {stored.get('unseen')} there, {wanted.get('unseen')} now"


def cell_folder(sweep_folder: str | Path, cell: Cell) -> Path:
    return Path(sweep_folder) / "cells" / cell.name


def read_result(folder: Path) -> dict[str, Any] | None:
    """A finished cell's result.json, or None (not finished, or unreadable: the cell is then run again)."""
    try:
        data = json.loads((folder / RESULT_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) and all(k in data for k in RESULT_KEYS) else None


def cell_state(folder: Path) -> str:
    """'finished' (result.json), 'interrupted' (a checkpoint to resume from) or 'new'."""
    if read_result(folder) is not None:
        return "finished"
    return "interrupted" if (folder / "checkpoint.npz").is_file() else "new"


# ---- running one cell ----------------------------------------------------------------------------------

def iterate_cell(config: Config, folder: str | Path, unseen: int = 0) -> Iterator[tuple[str, Any]]:
    """Run one cell in its run folder: ("generation", n) after each generation, then ("result", result).

    The folder's checkpoint, if any, is resumed (with the run's own config.toml), so an interrupted
    cell continues exactly where it stopped; result.json is written last."""
    folder = Path(folder)
    resume = (folder / "checkpoint.npz").is_file()
    run = open_run(load_run_config(folder) if resume else config, folder, resume=resume, log=None)
    try:
        while not run.finished:
            if run.run_generation() is None:
                break
            yield "generation", run.generation
        run.save()
        result = cell_result(run, folder, unseen)
    finally:
        run.close()
    write_bytes_atomic(folder / RESULT_FILE, (json.dumps(result, indent=1) + "\n").encode())
    yield "result", result


def run_cell(config: Config, folder: str | Path, unseen: int = 0,
             on_generation: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Run (or finish) one cell; its result (also in folder/result.json)."""
    for kind, value in iterate_cell(config, folder, unseen):
        if kind == "result":
            return value
        if on_generation is not None:
            on_generation(value)
    raise RunError(f"{folder}: the run ended without a result")  # pragma: no cover - iterate_cell always yields one


def cell_result(run: Any, folder: Path, unseen: int) -> dict[str, Any]:
    """What a finished cell found: the numbers of sweep.csv, and the best-fitness curve for the plots. Works on
    any run object (cars.learn.run's interface); a number the run never measured (e.g. no episode of a
    gradient learner ended yet) is None."""
    history = run.history
    first, best = run.first_lap_generation, run.best
    result: dict[str, Any] = {
        "generations": len(history),
        "first_lap_generation": None if first is None else first + 1,
        "first_lap_car_steps": run.first_lap_car_steps if first is not None else None,
        "best_fitness": None if best is None else float(best["fitness"]),
        "best_generation": None if best is None else int(best["generation"]) + 1,
        "final_best_fitness": number(history[-1].get("best_fitness")) if history else None,
        "laps": max((float(r.get("laps") or 0) for r in history), default=0.0),
        "car_steps": int(run.total_car_steps),
        "curve": [number(r.get("best_fitness")) for r in history],
        "seconds": round(float(sum(r.get("seconds") or 0 for r in history)), 3),
    }
    if unseen:
        result["unseen_lapped"] = unseen_laps(folder / "champion.npz", unseen) if best is not None else 0
        result["unseen_tracks"] = unseen
    return result


def number(value: Any) -> float | None:
    return None if value is None else float(value)


def unseen_laps(champion: Path, count: int) -> int:
    """How many of `count` generated tracks no run trains on (seeds above GENERATED_SEEDS) the champion laps."""
    from cars.learn.drive import drive
    from cars.sim.trackgen import generate_track

    return sum(drive(champion, generate_track(GENERATED_SEEDS + 1 + i))["completed_laps"] >= 1 for i in range(count))


def total_generations(config: Config) -> int:
    return int(learner_section(config).generations)


def format_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(max(seconds, 0)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
