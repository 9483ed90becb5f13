"""history.png: fitness per generation of a cars run (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_history(history: list[dict[str, Any]], path: Path) -> Path:
    """Best, mean and median fitness (laps) and completed laps per generation, written atomically."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from engine.atomic import write_bytes_atomic as atomic_write

    gen = [r["generation"] + 1 for r in history]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    ax.plot(gen, [r["best_fitness"] for r in history], label="best", color="tab:green", linewidth=2)
    ax.plot(gen, [r["mean_fitness"] for r in history], label="mean", color="tab:blue")
    ax.plot(gen, [r["median_fitness"] for r in history], label="median", color="tab:blue", linestyle="--")
    ax.step(gen, [r["laps"] for r in history], where="mid", label="laps (best car)", color="tab:orange", alpha=0.7)
    ax.set_xlabel("generation")
    ax.set_ylabel("fitness (laps)")
    ax.set_title(f"cars evolution: {history[-1]['tracks'].replace(';', ', ')}")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write(Path(path), buf.getvalue())
    return Path(path)
