"""What a sweep found, as files: sweep.csv (a row per cell), summary.md (a row per combination, best first)
and two pictures (matplotlib, Agg): fitness.png (best fitness per generation: for each swept setting, one
median line per value with a band from the 25th to the 75th percentile over its cells) and first_lap.png
(the generation of each cell's first full lap, per value: a box over the seeds, every cell a dot; cells
that never lapped are crosses above the axis).

Rows follow the sweep's fixed cell order, so sweep.csv is the same however many workers ran the cells
and in whatever order they finished; only its `seconds` column (time spent) differs between runs.
"""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from engine.atomic import write_bytes_atomic
from cars.scale.sweep import RESULT_KEYS, TIMING_KEYS, UNSEEN_KEYS, Cell, SweepDefinition, short_name, value_text

ORDER_NOTE = ("Best first: most seeds that completed a lap, then the earliest median first-lap generation, then "
              "the highest median best fitness.")


def csv_columns(sweep: SweepDefinition) -> list[str]:
    return ["cell", *sweep.names, "seed", *RESULT_KEYS, *(UNSEEN_KEYS if sweep.unseen else ()), *TIMING_KEYS]


def csv_cell(value: Any) -> str:
    """Exact and stable: floats as Python's shortest round-trip repr, lists joined by ';', None empty."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ";".join(csv_cell(v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)


def csv_text(sweep: SweepDefinition, cells: Sequence[Cell], results: Mapping[int, dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(csv_columns(sweep))
    for cell in cells:
        result = results.get(cell.index)
        if result is None:
            continue
        row = [cell.name, *(cell.values[k] for k in sweep.names), cell.seed]
        row += [result.get(k) for k in RESULT_KEYS]
        row += [result.get(k) for k in UNSEEN_KEYS] if sweep.unseen else []
        row += [result.get(k) for k in TIMING_KEYS]
        writer.writerow([csv_cell(v) for v in row])
    return buf.getvalue()


# ---- per combination ------------------------------------------------------------------------------------

def summarize(sweep: SweepDefinition, cells: Sequence[Cell], results: Mapping[int, dict[str, Any]]) -> list[dict]:
    """One entry per combination of swept values, over its finished seeds, best first (see ORDER_NOTE)."""
    groups: dict[int, dict[str, Any]] = {}
    combos = sweep.combinations()
    for cell in cells:
        combo = cell.index // len(sweep.seeds)
        group = groups.setdefault(combo, {"values": combos[combo], "results": []})
        if cell.index in results:
            group["results"].append(results[cell.index])
    rows = []
    for combo, group in sorted(groups.items()):
        found = group["results"]
        firsts = [r["first_lap_generation"] for r in found if r["first_lap_generation"] is not None]
        steps = [r["first_lap_car_steps"] for r in found if r["first_lap_car_steps"] is not None]
        best = [r["best_fitness"] for r in found if r["best_fitness"] is not None]
        rows.append({
            "combination": combo, "values": group["values"], "seeds": len(found), "of": len(sweep.seeds),
            "lapped": len(firsts),
            "first_lap_median": float(np.median(firsts)) if firsts else None,
            "first_lap_range": (min(firsts), max(firsts)) if firsts else None,
            "car_steps_median": float(np.median(steps)) if steps else None,
            "best_median": float(np.median(best)) if best else None,
            "best_range": (min(best), max(best)) if best else None,
            "unseen_median": (float(np.median([r["unseen_lapped"] for r in found]))
                              if sweep.unseen and found else None),
            "seconds_median": float(np.median([r.get("seconds", 0.0) for r in found])) if found else None,
        })
    return sorted(rows, key=rank_key)


def rank_key(row: dict[str, Any]) -> tuple:
    first = row["first_lap_median"]
    return (-row["lapped"], first if first is not None else float("inf"),
            -(row["best_median"] if row["best_median"] is not None else float("-inf")), row["combination"])


def table_rows(sweep: SweepDefinition, summary: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Header and text cells of the per-combination table (summary.md and the terminal)."""
    header = [*(short_name(k) for k in sweep.names), "lapped", "first lap gen (median, range)",
              "car-steps to lap (median)", "best fitness (median, range)"]
    header += ["unseen tracks lapped (median)"] if sweep.unseen else []
    header += ["seconds (median)"]
    rows = []
    for row in summary:
        first, best = row["first_lap_range"], row["best_range"]
        cells = [value_text(row["values"][k]) for k in sweep.names]
        cells += [f"{row['lapped']}/{row['seeds']}" + ("" if row["seeds"] == row["of"] else f" (of {row['of']})"),
                  "-" if first is None else f"{row['first_lap_median']:g} ({first[0]}-{first[1]})",
                  "-" if row["car_steps_median"] is None else f"{row['car_steps_median']:,.0f}",
                  "-" if best is None else f"{row['best_median']:.3f} ({best[0]:.3f}-{best[1]:.3f})"]
        cells += ["-" if row["unseen_median"] is None else f"{row['unseen_median']:g}/{sweep.unseen}"] \
            if sweep.unseen else []
        cells += ["-" if row["seconds_median"] is None else f"{row['seconds_median']:.1f}"]
        rows.append(cells)
    return header, rows


def summary_markdown(sweep: SweepDefinition, cells: Sequence[Cell], results: Mapping[int, dict[str, Any]]) -> str:
    summary = summarize(sweep, cells, results)
    header, rows = table_rows(sweep, summary)
    swept = "; ".join(f"`{k}` = {', '.join(value_text(v) for v in values)}" for k, values in sweep.axes) or "nothing"
    base = sweep.base
    lines = ["# Sweep summary", "",
             f"Swept: {swept}; seeds {', '.join(map(str, sweep.seeds))}. Algorithm {base.algorithm.name}, "
             f"tracks {', '.join(base.track.names)}" + (f" + {base.track.generated} generated" if base.track.generated
                                                         else "") + ".",
             f"Cells finished: {len(results)}/{len(cells)}.", ""]
    if summary and summary[0]["seeds"]:
        best = summary[0]
        lines += [f"**Best combination:** {combination_label(best['values'])} (lapped on {best['lapped']}/"
                  f"{best['seeds']} seeds).", ""]
    lines += [ORDER_NOTE, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["", "Per cell: sweep.csv; each cell's run folder is cells/<name>/ (replay its champion with "
                  "`cars drive --champion cells/<name>/champion.npz --track T`). Pictures: fitness.png, first_lap.png."]
    return "\n".join(lines) + "\n"


def combination_label(values: Mapping[str, Any]) -> str:
    return " ".join(f"{short_name(k)}={value_text(v)}" for k, v in values.items()) or "the base config"


def terminal_table(sweep: SweepDefinition, cells: Sequence[Cell], results: Mapping[int, dict[str, Any]]) -> str:
    header, rows = table_rows(sweep, summarize(sweep, cells, results))
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


# ---- pictures -------------------------------------------------------------------------------------------

def plot_sweep(folder: Path, sweep: SweepDefinition, cells: Sequence[Cell],
               results: Mapping[int, dict[str, Any]]) -> list[Path]:
    """fitness.png and first_lap.png in `folder`; returns the paths written."""
    import matplotlib
    matplotlib.use("Agg")

    axes = sweep.axes or (("seed", tuple(sweep.seeds)),)  # seeds only: one line per seed
    groups = {}  # (setting, value) -> results of the finished cells with that value
    for key, values in axes:
        for value in values:
            groups[key, plain_key(value)] = [results[c.index] for c in cells if c.index in results and
                                             plain_key(c.seed if key == "seed" else c.values[key]) == plain_key(value)]
    return [plot_fitness(folder / "fitness.png", axes, groups), plot_first_lap(folder / "first_lap.png", axes, groups)]


def plain_key(value: Any) -> str:
    return repr(value)


def plot_fitness(path: Path, axes: Sequence[tuple[str, Sequence[Any]]], groups: dict) -> Path:
    """Per swept setting, per value: the median best fitness per generation and its 25-75% band."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, panels = plt.subplots(1, len(axes), figsize=(5.5 * len(axes), 4), squeeze=False)
    for panel, (key, values) in zip(panels[0], axes):
        for i, value in enumerate(values):
            curves = [[np.nan if v is None else v for v in r["curve"]] for r in groups[key, plain_key(value)]]
            if not curves:
                continue
            grid = np.full((len(curves), max(len(c) for c in curves)), np.nan)
            for row, curve in enumerate(curves):
                grid[row, :len(curve)] = curve
            generations = np.arange(1, grid.shape[1] + 1)
            color = plt.cm.viridis(i / max(len(values) - 1, 1))
            with warnings.catch_warnings():  # a generation no cell measured (e.g. no episode ended) stays empty
                warnings.simplefilter("ignore", RuntimeWarning)
                panel.plot(generations, np.nanmedian(grid, axis=0), color=color, label=value_text(value))
                if len(curves) > 1:
                    panel.fill_between(generations, np.nanpercentile(grid, 25, axis=0),
                                       np.nanpercentile(grid, 75, axis=0), color=color, alpha=0.2, linewidth=0)
        panel.set(title=f"best fitness by {short_name(key)}", xlabel="generation", ylabel="best fitness (laps)")
        panel.xaxis.set_major_locator(MaxNLocator(integer=True))
        panel.legend(title=short_name(key), fontsize=8)
        panel.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def plot_first_lap(path: Path, axes: Sequence[tuple[str, Sequence[Any]]], groups: dict) -> Path:
    """Per swept setting: a box of the first-lap generations per value, every cell a dot, never-lapped an x."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, panels = plt.subplots(1, len(axes), figsize=(5.5 * len(axes), 4), squeeze=False)
    never = max((r["generations"] for found in groups.values() for r in found), default=1) + 1
    rng = np.random.default_rng(0)  # jitter of the dots only
    for panel, (key, values) in zip(panels[0], axes):
        lapped_sets = []
        for i, value in enumerate(values):
            found = groups[key, plain_key(value)]
            firsts = [r["first_lap_generation"] for r in found if r["first_lap_generation"] is not None]
            lapped_sets.append(firsts)
            jitter = rng.uniform(-0.12, 0.12, size=len(found))
            xs = [i + j for j, r in zip(jitter, found) if r["first_lap_generation"] is not None]
            panel.scatter(xs, firsts, s=18, color="tab:blue", zorder=3)
            missed = len(found) - len(firsts)
            if missed:
                panel.scatter(i + jitter[:missed], [never] * missed, marker="x", color="tab:red", zorder=3)
        if any(lapped_sets):
            panel.boxplot([s if s else [np.nan] for s in lapped_sets], positions=range(len(values)), widths=0.5,
                          showfliers=False)
        panel.set_xticks(range(len(values)), [value_text(v) for v in values])
        panel.axhline(never - 0.5, color="tab:red", alpha=0.3, linestyle=":")
        panel.set(title=f"first full lap by {short_name(key)}", xlabel=short_name(key), ylabel="generation",
                  ylim=(0, never + 1), xlim=(-0.5, len(values) - 0.5))
        ticks = [t for t in MaxNLocator(integer=True).tick_values(1, never - 1) if 1 <= t < never - 0.5]
        panel.set_yticks([*ticks, never], [f"{t:g}" for t in ticks] + ["never"])
        panel.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())
    return path


def write_reports(folder: Path, sweep: SweepDefinition, cells: Sequence[Cell],
                  results: Mapping[int, dict[str, Any]], *, plots: bool = True) -> list[Path]:
    """sweep.csv, summary.md and (with `plots`, once a cell finished) the pictures; returns the paths written."""
    folder = Path(folder)
    written = [folder / "sweep.csv", folder / "summary.md"]
    write_bytes_atomic(written[0], csv_text(sweep, cells, results).encode())
    write_bytes_atomic(written[1], summary_markdown(sweep, cells, results).encode())
    if plots and results:
        written += plot_sweep(folder, sweep, cells, results)
    return written
