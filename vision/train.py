"""The trainer: mini-batches from a seeded permutation, an optimiser with a learning-rate schedule,
a progress bar per epoch, a history, and early stopping / model selection on a validation set.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from engine import SGD, Adam, AdamW, CosineLR, DataParallel, Module, SoftmaxCrossEntropy, StepLR, keep_freed_memory
from vision.augment import random_shift
from vision.evaluate import evaluate
from vision.progress import ProgressBar, format_duration

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("cosine", "step", "constant")


@dataclass
class TrainConfig:
    """How to train. ``patience``: stop after that many epochs without a better validation accuracy
    (``None``: never stop early). The weights of the best validation epoch are kept either way."""
    epochs: int
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    seed: int = 0
    patience: int | None = None
    augment: bool = False
    eval_batch_size: int = 500
    shards: int = 1  # each batch runs as this many slices in parallel threads (engine.parallel.DataParallel)


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    lr: float          # learning rate at the end of the epoch
    seconds: float     # the training loop only: batch gather, forward, backward, update
    images_per_second: float


@dataclass
class TrainResult:
    history: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    interrupted: bool = False

    @property
    def train_seconds(self) -> float:
        return sum(record.seconds for record in self.history)

    @property
    def images_per_second(self) -> float:
        images = sum(record.images_per_second * record.seconds for record in self.history)
        return images / self.train_seconds if self.train_seconds else 0.0

    def history_dicts(self) -> list[dict]:
        return [asdict(record) for record in self.history]


def make_optimizer(name: str, params: list, lr: float, weight_decay: float):
    if name == "adam":
        return Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r} (choose from {', '.join(OPTIMIZERS)})")


def make_schedule(name: str, optimizer, epochs: int, steps_per_epoch: int, warmup_epochs: float):
    if name == "cosine":
        return CosineLR(optimizer, total_steps=epochs * steps_per_epoch,
                        warmup_steps=int(warmup_epochs * steps_per_epoch))
    if name == "step":
        return StepLR(optimizer, step_size=max(1, epochs // 3) * steps_per_epoch, gamma=0.1)
    if name == "constant":
        return None
    raise ValueError(f"unknown schedule {name!r} (choose from {', '.join(SCHEDULES)})")


def train(model: Module, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
          config: TrainConfig, *, name: str = "model", log: Callable[[str], None] = print,
          progress: bool = True) -> TrainResult:
    """Train ``model`` in place and return its history.

    x_train: (N, 1, 28, 28) float32, y_train: (N,) int; likewise the validation set. Ctrl-C ends
    training after the last complete epoch (``interrupted``); the best validation weights are restored.
    """
    keep_freed_memory()  # a CNN step frees and reallocates MBs: recycle them instead of page-faulting
    rng = np.random.default_rng(config.seed)
    optimizer = make_optimizer(config.optimizer, model.parameters(), config.lr, config.weight_decay)
    parallel = DataParallel(model, SoftmaxCrossEntropy, shards=config.shards)
    n = len(x_train)
    steps = math.ceil(n / config.batch_size)
    schedule = make_schedule(config.schedule, optimizer, config.epochs, steps, config.warmup_epochs)
    result = TrainResult()
    best_accuracy, best_state, stale = -1.0, None, 0
    try:
        for epoch in range(1, config.epochs + 1):
            model.train()
            order = rng.permutation(n)
            loss_sum, correct = 0.0, 0
            bar = ProgressBar(steps, f"{name} epoch {epoch}/{config.epochs}", unit="batch", enabled=progress,
                              transient=True)
            start = time.perf_counter()
            with parallel:  # BLAS runs one thread per slice only inside the loop; evaluation gets them all
                for i in range(steps):
                    batch = order[i * config.batch_size:(i + 1) * config.batch_size]
                    xb, yb = x_train[batch], y_train[batch]
                    if config.augment:
                        xb = random_shift(xb, rng)
                    optimizer.zero_grad()
                    # Forward, loss and backward (parameter gradients only: the images are data).
                    loss, logits = parallel.forward_backward(xb, yb)
                    optimizer.step()
                    if schedule is not None:
                        schedule.step()
                    loss_sum += loss * len(batch)
                    correct += int((logits.argmax(axis=1) == yb).sum())
                    seen = min(n, (i + 1) * config.batch_size)
                    bar.update(1, loss=loss_sum / seen, acc=f"{100 * correct / seen:.2f}%")
            seconds = time.perf_counter() - start
            bar.close()
            val = evaluate(model, x_val, y_val, batch_size=config.eval_batch_size)
            record = EpochRecord(epoch, loss_sum / n, correct / n, val.loss, val.accuracy, float(optimizer.lr),
                                 seconds, n / seconds)
            result.history.append(record)
            improved = val.accuracy > best_accuracy
            if improved:
                best_state = {key: value.copy() for key, value in model.state_dict().items()}
                best_accuracy, stale = val.accuracy, 0
                result.best_epoch = epoch
            else:
                stale += 1
            eta = (config.epochs - epoch) * (seconds + val.seconds)
            log(f"{name} epoch {epoch:>2}/{config.epochs}  loss {record.train_loss:.4f}  "
                f"acc {100 * record.train_accuracy:.2f}%  val_loss {val.loss:.4f}  "
                f"val_acc {100 * val.accuracy:.2f}%{' *' if improved else '  '}  lr {record.lr:.2e}  "
                f"{seconds:.2f} s ({record.images_per_second:,.0f} img/s)  ETA {format_duration(eta)}")
            if config.patience is not None and stale >= config.patience and epoch < config.epochs:
                result.stopped_early = True
                log(f"{name}: no better validation accuracy for {stale} epochs, stopping early")
                break
    except KeyboardInterrupt:
        result.interrupted = True
        log(f"\n{name}: interrupted; keeping the {len(result.history)} completed epoch(s)")
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return result

