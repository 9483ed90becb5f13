"""The benchmark's report: the JSON document, its markdown rendering and the side-by-side table."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

from engine.atomic import write_text_atomic

# (label, key in a model's report, formatter) rows of the side-by-side table.
TABLE_ROWS = (
    ("parameters", "params", lambda v: f"{v:,}"),
    ("epochs", "epochs", lambda v: str(v)),
    ("seconds / epoch", "seconds_per_epoch", lambda v: f"{v:.2f}"),
    ("training time", "train_seconds", lambda v: f"{v:.1f} s"),
    ("train images / s", "train_images_per_second", lambda v: f"{v:,.0f}"),
    ("validation accuracy", "val_accuracy", lambda v: f"{100 * v:.2f}%"),
    ("test accuracy", "test_accuracy", lambda v: f"{100 * v:.2f}%"),
    ("test loss", "test_loss", lambda v: f"{v:.4f}"),
    ("test errors", "test_errors", None),
    ("inference images / s", "inference_images_per_second", lambda v: f"{v:,.0f}"),
    ("peak RSS", "peak_rss_mb", lambda v: f"{v:,.0f} MB"),
)


def json_safe(value: Any) -> Any:
    """Convert numpy scalars/arrays and non-finite floats into plain JSON values (NaN -> null)."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _cell(model: Mapping[str, Any], key: str, fmt) -> str:
    value = model.get(key)
    if value is None:
        return "-"
    if key == "test_errors":
        return f"{value:,} / {model['test_images']:,}"
    return fmt(value)


def table_rows(models: Mapping[str, Mapping[str, Any]]) -> list[list[str]]:
    """Header row then one row per metric; one column per model."""
    rows = [[""] + list(models)]
    for label, key, fmt in TABLE_ROWS:
        rows.append([label] + [_cell(model, key, fmt) for model in models.values()])
    return rows


def format_table(models: Mapping[str, Mapping[str, Any]]) -> str:
    """The side-by-side comparison as aligned plain text."""
    rows = table_rows(models)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join([row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]))
        if n == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)


def _markdown_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join(["---"] + ["---:"] * (len(rows[0]) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


# The guide at the end of report.md.
HOW_TO_READ = [
    "## How to read this report", "",
    "- *test accuracy* is the fraction of the 10,000 test digits classified correctly; *test errors* "
    "counts the others. The test set is never used for training or model selection.",
    "- *seconds / epoch* and *train images / s* time the training loop only (batch gather, forward, "
    "backward, optimiser update) over the training digits; validation passes are excluded. "
    "*inference images / s* is the forward pass alone in batches of 500.",
    "- *peak RSS* is the process's maximum resident memory up to the end of that model's evaluation (a model "
    "trained in data-parallel slices also has a worker process, which holds about another 110 MB).",
    "- Learning curves: solid lines are the training set (averaged over the epoch while the weights "
    "change), dashed lines the validation set at the end of each epoch. A widening gap between them "
    "means overfitting.",
    "- Confusion matrices: row = true digit, column = predicted digit; the diagonal (green numbers) "
    "counts correct answers, coloured cells the mistakes.",
    "- The disagreement grid shows test digits one model gets right and the other gets wrong, captioned "
    "`true: model prediction, model prediction`.",
    "- `report.json` holds every number here plus the per-epoch history; the `.npz` model files "
    "load with `engine.load`.", "",
]


def render_markdown(report: Mapping[str, Any]) -> str:
    """report.md: summary table, setup, plots, per-class precision/recall and a guide to reading it."""
    models = report["models"]
    data, config, env = report["data"], report["config"], report["environment"]
    files = report.get("files", {})
    out = [f"# Digit benchmark: {' vs '.join(models) or 'no model'} on MNIST", ""]
    if report.get("interrupted"):
        out += ["**Interrupted:** this run was stopped with Ctrl-C; the numbers cover the completed epochs only.", ""]
    if report.get("diverged"):
        diverged = report["diverged"]
        out += [f"**Diverged:** {diverged['model']} stopped because {diverged['reason']} ({diverged['optimizer']}, "
                f"lr {diverged['lr']:g}); the run ended there.", ""]
    out += [f"Run {report['created']} in {report['total_seconds']:.0f} s (data loading {data['load_seconds']:.1f} s), "
            f"peak memory {report['peak_rss_mb']:,.0f} MB.", "", _markdown_table(table_rows(models)), ""]
    out += ["## Setup", "",
            f"- Data: MNIST from {data['source']} (`{data['path']}`): {data['train_images']:,} training digits, "
            f"the last {data['validation_images']:,} training digits held out for validation "
            f"(model selection and early stopping), {data['test_images']:,} test digits used only for the final "
            "numbers. Pixels scaled to [0, 1], float32.",
            f"- Training: batch {config['batch_size']}, seed {config['seed']}, "
            f"augmentation {'random shifts of up to 2 pixels' if config['augment'] else 'none'}, "
            f"early stopping patience {config['patience'] if config['patience'] is not None else 'off'}; "
            "the weights of the best validation epoch are kept.",
            f"- Machine: {env['platform']}, {env['cpu_count']} CPUs, Python {env['python']}, numpy {env['numpy']}.",
            f"- Command: `{report['command']}`", ""]
    for name, model in models.items():
        decay = f", weight decay {model['weight_decay']:g}" if model.get("weight_decay") else ""
        out += [f"- **{name}** ({model['description']}): {model['optimizer']} lr {model['lr']:g}{decay}, "
                f"{model['schedule']} schedule, {model['epochs']} of {model['epochs_planned']} epochs, "
                f"best validation epoch {model['best_epoch']}"
                + (f", each batch as {model['shards']} data-parallel slices" if model.get("shards", 1) > 1 else "")
                + (", stopped early" if model.get("stopped_early") else "")
                + (", interrupted" if model.get("interrupted") else "")
                + (f"; weights in `{model['model_file']}`" if model.get("model_file") else "") + "."]
    out.append("")
    plots = [("Learning curves", "learning_curves"), ("Confusion matrices", "confusion_matrices"),
             ("Where the models disagree", "disagreements"), ("Learned first-layer filters", "cnn_filters")]
    for title, key in plots:
        if key in files:
            out += [f"## {title}", "", f"![{title}]({files[key]})", ""]
    out += ["## Per-class precision and recall (test set, %)", ""]
    header = ["digit"] + [f"{name} {kind}" for name in models for kind in ("precision", "recall")]
    rows = [header]
    for digit in range(10):
        rows.append([str(digit)] + [_percent(models[name]["per_class"][kind][digit])
                                    for name in models for kind in ("precision", "recall")])
    out += [_markdown_table(rows), ""]
    out += HOW_TO_READ
    return "\n".join(out)


def write_report(report: Mapping[str, Any], out_dir: Path, json_copy: Path | None = None) -> dict[str, Path]:
    """Write report.json and report.md into ``out_dir`` (and the JSON to ``json_copy``), atomically."""
    text = json.dumps(json_safe(report), indent=2) + "\n"
    paths = {"json": out_dir / "report.json", "markdown": out_dir / "report.md"}
    write_text_atomic(paths["json"], text)
    write_text_atomic(paths["markdown"], render_markdown(json_safe(report)))
    if json_copy is not None:
        write_text_atomic(json_copy, text)
        paths["json_copy"] = json_copy
    return paths
