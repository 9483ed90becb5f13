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


# Every numeric setting's sensible range, (low, high, low is allowed): one table read by ``TrainConfig`` and by the
# command line (vision.benchmark), so a value is validated once, the same way, wherever it comes from.
LIMITS: dict[str, tuple[float, float, bool]] = {
    "epochs": (1, 1000, True),
    "batch_size": (1, 4096, True),
    "lr": (0.0, 10.0, False),
    "weight_decay": (0.0, 1.0, True),
    "warmup_epochs": (0.0, 1000.0, True),
    "seed": (0, 2**32 - 1, True),
    "patience": (1, 1000, True),
    "eval_batch_size": (1, 10000, True),
    "shards": (1, 64, True),
}


def _integral(name: str) -> bool:
    low, high, _ = LIMITS[name]
    return isinstance(low, int) and isinstance(high, int)


def describe_range(name: str) -> str:
    """``"an integer from 1 to 1000"`` or ``"a number in (0, 10]"``: the range of a ``LIMITS`` field, in words."""
    low, high, closed = LIMITS[name]
    if _integral(name):
        return f"an integer from {low} to {high}"
    return f"a number in {'[' if closed else '('}{low:g}, {high:g}]"


def check_setting(name: str, value: float) -> float:
    """Return ``value`` if it lies in ``LIMITS[name]``; otherwise ``ValueError`` saying the range."""
    low, high, closed = LIMITS[name]
    if _integral(name) and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
        raise ValueError(f"expected {describe_range(name)}, got {value!r}")
    if not (math.isfinite(value) and (low <= value if closed else low < value) and value <= high):
        raise ValueError(f"expected {describe_range(name)}, got {value if _integral(name) else format(value, 'g')}")
    return value


@dataclass
class TrainConfig:
    """How to train. ``patience``: stop after that many epochs without a better validation accuracy
    (``None``: never stop early). The weights of the best validation epoch are kept either way.
    Numeric fields must lie in their ``LIMITS`` range (``ValueError`` otherwise)."""
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
    shards: int = 1  # each batch runs as this many slices side by side (engine.parallel.DataParallel)

    def __post_init__(self) -> None:
        for name in LIMITS:
            value = getattr(self, name)
            if value is not None:
                try:
                    check_setting(name, value)
                except ValueError as exc:
                    raise ValueError(f"TrainConfig.{name}: {exc}") from None
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"TrainConfig.optimizer: unknown {self.optimizer!r} (choose from {', '.join(OPTIMIZERS)})")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"TrainConfig.schedule: unknown {self.schedule!r} (choose from {', '.join(SCHEDULES)})")


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
    diverged: str | None = None  # why training stopped on a non-finite loss or weight (None: it did not)

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


class Diverged(Exception):
    """The training loss (or a weight) became non-finite; the message says where."""


def all_finite(model: Module) -> bool:
    """True if every parameter of ``model`` is finite (checked before weights are kept or saved)."""
    return all(np.isfinite(p.data).all() for p in model.parameters())


@dataclass
class _Trainer:
    """One training run's moving parts (optimiser, schedule, data-parallel wrapper, seeded order)."""
    model: Module
    config: TrainConfig
    name: str
    progress: bool

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.config.seed)
        self.optimizer = make_optimizer(self.config.optimizer, self.model.parameters(), self.config.lr,
                                        self.config.weight_decay)
        self.parallel = DataParallel(self.model, SoftmaxCrossEntropy, shards=self.config.shards)

    def epoch(self, epoch: int, x: np.ndarray, y: np.ndarray, schedule) -> tuple[float, float, float]:
        """One pass over (x, y) in seeded mini-batches; returns (mean loss, accuracy, seconds).

        Raises ``Diverged`` before the update that a non-finite loss would poison, so the weights stay finite.
        """
        config, n = self.config, len(x)
        steps = math.ceil(n / config.batch_size)
        self.model.train()
        order = self.rng.permutation(n)
        loss_sum, correct = 0.0, 0
        bar = ProgressBar(steps, f"{self.name} epoch {epoch}/{config.epochs}", unit="batch", enabled=self.progress,
                          transient=True)
        start = time.perf_counter()
        with bar, self.parallel:  # BLAS runs one thread per slice only inside the loop; evaluation gets them all
            for i in range(steps):
                batch = order[i * config.batch_size:(i + 1) * config.batch_size]
                xb, yb = x[batch], y[batch]
                if config.augment:
                    xb = random_shift(xb, self.rng)
                self.optimizer.zero_grad()
                # Forward, loss and backward (parameter gradients only: the images are data).
                loss, logits = self.parallel.forward_backward(xb, yb)
                if not math.isfinite(loss):
                    raise Diverged(f"the training loss became {loss} at epoch {epoch}, batch {i + 1} of {steps}")
                self.optimizer.step()
                if schedule is not None:
                    schedule.step()
                loss_sum += loss * len(batch)
                correct += int((logits.argmax(axis=1) == yb).sum())
                seen = min(n, (i + 1) * config.batch_size)
                bar.update(1, loss=loss_sum / seen, acc=f"{100 * correct / seen:.2f}%")
        if not all_finite(self.model):
            raise Diverged(f"a weight became non-finite during epoch {epoch}")
        return loss_sum / n, correct / n, time.perf_counter() - start


def _epoch_line(name: str, config: TrainConfig, record: EpochRecord, improved: bool, eta: float) -> str:
    return (f"{name} epoch {record.epoch:>2}/{config.epochs}  loss {record.train_loss:.4f}  "
            f"acc {100 * record.train_accuracy:.2f}%  val_loss {record.val_loss:.4f}  "
            f"val_acc {100 * record.val_accuracy:.2f}%{' *' if improved else '  '}  lr {record.lr:.2e}  "
            f"{record.seconds:.2f} s ({record.images_per_second:,.0f} img/s)  ETA {format_duration(eta)}")


def train(model: Module, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
          config: TrainConfig, *, name: str = "model", log: Callable[[str], None] = print,
          progress: bool = True) -> TrainResult:
    """Train ``model`` in place and return its history.

    x_train: (N, 1, 28, 28) float32, y_train: (N,) int; likewise the validation set. The weights of the best
    validation epoch are restored at the end. Ctrl-C ends training after the last complete epoch
    (``interrupted``); a non-finite loss or weight ends it too (``diverged`` says where), before any
    non-finite value reaches the weights that are kept.
    """
    keep_freed_memory()  # a CNN step frees and reallocates MBs: recycle them instead of page-faulting
    trainer = _Trainer(model, config, name, progress)
    steps = math.ceil(len(x_train) / config.batch_size)
    schedule = make_schedule(config.schedule, trainer.optimizer, config.epochs, steps, config.warmup_epochs)
    result = TrainResult()
    best_accuracy, best_state, stale = -1.0, None, 0
    try:
        for epoch in range(1, config.epochs + 1):
            loss, accuracy, seconds = trainer.epoch(epoch, x_train, y_train, schedule)
            val = evaluate(model, x_val, y_val, batch_size=config.eval_batch_size)
            record = EpochRecord(epoch, loss, accuracy, val.loss, val.accuracy, float(trainer.optimizer.lr),
                                 seconds, len(x_train) / seconds)
            result.history.append(record)
            improved = val.accuracy > best_accuracy
            if improved:
                best_state, best_accuracy, stale, result.best_epoch = model.state_dict(), val.accuracy, 0, epoch
            else:
                stale += 1
            log(_epoch_line(name, config, record, improved, (config.epochs - epoch) * (seconds + val.seconds)))
            if config.patience is not None and stale >= config.patience and epoch < config.epochs:
                result.stopped_early = True
                log(f"{name}: no better validation accuracy for {stale} epochs, stopping early")
                break
    except KeyboardInterrupt:
        result.interrupted = True
        log(f"\n{name}: interrupted; keeping the {len(result.history)} completed epoch(s)")
    except Diverged as exc:
        result.diverged = str(exc)
        log(f"{name}: {exc}; keeping the {len(result.history)} completed epoch(s)")
    finally:
        trainer.parallel.close()  # stops its worker processes
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return result
