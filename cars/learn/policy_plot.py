"""history.png of a policy-gradient run: mean episode return and fitness per update, against car-steps
(matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any


def plot_policy_history(history: list[dict[str, Any]], path: Path, title: str) -> Path:
    """Two panels over car-steps: the mean return of the episodes that ended in each update; the best
    episode's fitness, the deterministic policy's (eval) fitness and the laps (in laps). Written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from engine.atomic import write_bytes_atomic

    def series(key: str) -> list[float]:
        return [float("nan") if r.get(key) in (None, "") else float(r[key]) for r in history]

    steps = series("total_car_steps")
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6.5), dpi=100, sharex=True)
    top.plot(steps, series("mean_return"), color="tab:blue", marker=".", label="mean episode return")
    top.set_ylabel("return")
    top.set_title(title)
    top.grid(alpha=0.3)
    top.legend(loc="upper left")
    bottom.plot(steps, series("best_fitness"), color="tab:green", label="best episode (stochastic policy)")
    bottom.plot(steps, series("eval_fitness"), color="tab:purple", marker=".", linestyle="none",
                label="deterministic policy (eval)")
    bottom.step(steps, series("laps"), where="mid", color="tab:orange", alpha=0.7, label="laps (best car)")
    bottom.set_xlabel("car-steps")
    bottom.set_ylabel("fitness (laps)")
    bottom.grid(alpha=0.3)
    bottom.legend(loc="upper left")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    write_bytes_atomic(Path(path), buf.getvalue())
    return Path(path)
