"""The benchmark's PNG plots. Uses matplotlib's object API with the Agg canvas: never needs a display."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from engine.atomic import atomic_open

COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    with atomic_open(path) as f:
        fig.savefig(f, format="png", dpi=110)
    return path


def plot_learning_curves(histories: Mapping[str, Sequence[Mapping[str, float]]], path: Path) -> Path:
    """Loss (train solid, validation dashed) and accuracy per epoch, one colour per model."""
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    for color, (name, history) in zip(COLORS * 4, histories.items()):
        epochs = [row["epoch"] for row in history]
        loss_ax.plot(epochs, [row["train_loss"] for row in history], "-o", color=color, ms=3, label=f"{name} train")
        loss_ax.plot(epochs, [row["val_loss"] for row in history], "--s", color=color, ms=3, label=f"{name} validation")
        acc_ax.plot(epochs, [100 * row["train_accuracy"] for row in history], "-o", color=color, ms=3,
                    label=f"{name} train")
        acc_ax.plot(epochs, [100 * row["val_accuracy"] for row in history], "--s", color=color, ms=3,
                    label=f"{name} validation")
    loss_ax.set(title="Cross-entropy loss", xlabel="epoch", ylabel="loss", yscale="log")
    acc_ax.set(title="Accuracy", xlabel="epoch", ylabel="accuracy (%)")
    all_acc = [100 * row[key] for history in histories.values() for row in history
               for key in ("train_accuracy", "val_accuracy")]
    if all_acc:
        acc_ax.set_ylim(max(0.0, min(min(all_acc), 99.0) - 0.5), 100.05)
    for ax in (loss_ax, acc_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_confusion_matrices(confusions: Mapping[str, np.ndarray], path: Path) -> Path:
    """One heat map per model, rows = true digit, columns = prediction, off-diagonal counts written out."""
    fig = Figure(figsize=(5.2 * len(confusions), 4.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(confusions)))
    for ax, (name, confusion) in zip(axes, confusions.items()):
        k = confusion.shape[0]
        errors = confusion.astype(float)
        np.fill_diagonal(errors, 0)
        image = ax.imshow(errors, cmap="Reds", vmin=0, vmax=max(1.0, errors.max()))
        for (row, col), count in np.ndenumerate(confusion):
            if row == col:
                ax.text(col, row, str(count), ha="center", va="center", fontsize=6.5, color="tab:green")
            elif count:
                ax.text(col, row, str(count), ha="center", va="center", fontsize=7,
                        color="white" if count > 0.6 * errors.max() else "black")
        wrong = int(errors.sum())
        ax.set(title=f"{name}: {wrong} errors of {int(confusion.sum()):,}", xlabel="predicted digit",
               ylabel="true digit", xticks=range(k), yticks=range(k))
        fig.colorbar(image, ax=ax, shrink=0.8, label="misclassified digits")
    return _save(fig, path)


def plot_disagreements(images: np.ndarray, labels: np.ndarray, predictions: Mapping[str, np.ndarray],
                       path: Path, per_side: int = 24) -> Path:
    """Test digits one model gets right and the other wrong, both ways (the lowest indices first).

    images: (N, 28, 28) uint8; predictions: exactly two models' (N,) predicted classes.
    """
    (name_a, pred_a), (name_b, pred_b) = predictions.items()
    sides = [
        (f"{name_b} right, {name_a} wrong", np.flatnonzero((pred_b == labels) & (pred_a != labels))),
        (f"{name_a} right, {name_b} wrong", np.flatnonzero((pred_a == labels) & (pred_b != labels))),
    ]
    cols = 8
    rows_per_side = [max(1, -(-min(per_side, len(idx)) // cols)) for _, idx in sides]
    fig = Figure(figsize=(cols * 1.15, 0.6 + 1.35 * sum(rows_per_side) + 0.5 * len(sides)), layout="constrained")
    subfigs = fig.subfigures(len(sides), 1, height_ratios=rows_per_side)
    for subfig, (title, indices), n_rows in zip(subfigs, sides, rows_per_side):
        subfig.suptitle(f"{title}: {len(indices)} test digits"
                        + (f" (first {per_side} shown)" if len(indices) > per_side else ""), fontsize=11)
        axes = np.atleast_1d(subfig.subplots(n_rows, cols)).ravel()
        for ax in axes:
            ax.axis("off")
        for ax, i in zip(axes, indices[:per_side]):
            ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=255)
            ax.set_title(f"{labels[i]}: {name_a} {pred_a[i]}, {name_b} {pred_b[i]}", fontsize=6.5)
    return _save(fig, path)


def plot_filters(weights: Mapping[str, np.ndarray], path: Path) -> Path:
    """The first convolution's kernels, one row block per model; weights[name]: (out, in, kh, kw)."""
    blocks = {name: w[:, 0] if w.shape[1] == 1 else w.mean(axis=1) for name, w in weights.items()}
    cols = 8
    rows = [-(-len(kernels) // cols) for kernels in blocks.values()]
    fig = Figure(figsize=(cols * 1.0, 0.5 + 1.15 * sum(rows) + 0.4 * len(blocks)), layout="constrained")
    subfigs = np.atleast_1d(fig.subfigures(len(blocks), 1, height_ratios=rows))
    for subfig, (name, kernels), n_rows in zip(subfigs, blocks.items(), rows):
        subfig.suptitle(f"{name}: first-layer filters ({kernels.shape[1]}x{kernels.shape[2]}, "
                        "blue = negative, red = positive)", fontsize=10)
        axes = np.atleast_1d(subfig.subplots(n_rows, cols)).ravel()
        for ax in axes:
            ax.axis("off")
        for k, (ax, kernel) in enumerate(zip(axes, kernels)):
            limit = float(np.abs(kernel).max()) or 1.0
            ax.imshow(kernel, cmap="bwr", vmin=-limit, vmax=limit)
            ax.set_title(f"#{k}", fontsize=7)
    return _save(fig, path)
