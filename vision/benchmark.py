"""``digit-benchmark``: train the MLP and the CNN on the real MNIST with the engine and compare them.

Writes a run folder with report.md, report.json, PNG plots and both trained models, and prints a
side-by-side table. Errors the user can fix are one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shlex
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

import engine
from vision.data import MNIST_SPEC, ArraySpec, Mnist, as_float_images, default_data_dir, load_mnist
from vision.errors import BenchmarkError, UsageError
from vision.evaluate import Evaluation, evaluate
from vision.interrupts import deferred_interrupt
from vision.models import DEFAULT_MODELS, PRESETS, build_model
from vision.outputs import check_writable_file, make_run_dir, new_run_dir_name, remove_if_empty
from vision.plots import plot_confusion_matrices, plot_disagreements, plot_filters, plot_learning_curves
from vision.report import format_table, write_report
from vision.train import (LIMITS, OPTIMIZERS, SCHEDULES, TrainConfig, TrainResult, all_finite, check_setting,
                          describe_range, train)

PROG = "digit-benchmark"
VALIDATION_SIZE = 5000
BATCH_SIZE = 128
PATIENCE = 5


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would print the usage too; we want one line
        raise UsageError(message)


def _setting(name: str) -> Callable[[str], float]:
    """The argparse type of the flag for ``TrainConfig.name``: parsed, then checked against ``LIMITS`` (the
    same check the config itself makes, so the two can never disagree)."""
    low, high, _ = LIMITS[name]
    integral = isinstance(low, int) and isinstance(high, int)

    def parse(text: str) -> float:
        try:
            value = int(text) if integral else float(text)
            return check_setting(name, value)
        except ValueError as exc:
            reason = str(exc) if "expected" in str(exc) else f"expected {describe_range(name)}, got {text!r}"
            raise argparse.ArgumentTypeError(reason) from None
    parse.__name__ = name  # argparse names the type in some messages
    return parse


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number of training digits, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of training digits, got {value}")
    return value


def _model_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in PRESETS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown model {', '.join(unknown) or repr(text)} "
                                         f"(choose from {', '.join(PRESETS)})")
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"model listed twice in {text!r}")
    return names


def build_parser() -> argparse.ArgumentParser:
    presets = "; ".join(f"{p.name}: {p.description}, {p.epochs} epochs, lr {p.lr:g}" for p in PRESETS.values())
    parser = _Parser(prog=PROG, description="Train an MLP and a CNN on the real MNIST with the numpy engine and "
                     "compare them: accuracy, loss, speed, memory, plots.",
                     epilog=f"Models: {presets}. MNIST is cached in {default_data_dir()} (override with "
                     "--data-dir or $NEURO_SANDBOX_DATA_DIR). A run whose training loss becomes non-finite stops "
                     "with exit code 2, keeping what was finite; Ctrl-C stops with exit code 130 and still writes "
                     "the report of every completed model.")
    parser.add_argument("--models", type=_model_list, default=list(DEFAULT_MODELS),
                        help=f"comma-separated models to train (default: {','.join(DEFAULT_MODELS)})")
    parser.add_argument("--epochs", type=_setting("epochs"),
                        help=f"epochs for every model, {describe_range('epochs')} (default: each model's own)")
    parser.add_argument("--batch-size", type=_setting("batch_size"), default=BATCH_SIZE,
                        help=f"mini-batch size, {describe_range('batch_size')} (default: {BATCH_SIZE})")
    parser.add_argument("--lr", type=_setting("lr"),
                        help=f"peak learning rate, {describe_range('lr')} (default: each model's own)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="adam", help="default: adam")
    parser.add_argument("--weight-decay", type=_setting("weight_decay"), default=0.0, metavar="WD",
                        help=f"L2 weight decay (decoupled for adamw), {describe_range('weight_decay')} (default: 0)")
    parser.add_argument("--schedule", choices=SCHEDULES, default="cosine",
                        help="learning-rate schedule (default: cosine decay to 0)")
    parser.add_argument("--seed", type=_setting("seed"), default=0,
                        help=f"seed of every random choice, {describe_range('seed')} (default: 0)")
    parser.add_argument("--patience", type=_setting("patience"), default=PATIENCE,
                        help="stop a model after this many epochs without a better validation accuracy, "
                        f"{describe_range('patience')} (default: {PATIENCE})")
    parser.add_argument("--shards", type=_setting("shards"), metavar="K",
                        help="run each batch as K slices in parallel, one per core (default: each model's "
                             "own: 2 for the CNNs, 1 for the MLPs); part of the numerics, so it is a config value")
    parser.add_argument("--augment", action="store_true", help="train on digits randomly shifted by up to 2 pixels")
    parser.add_argument("--limit", type=_limit, metavar="N", help="use only the first N training digits (quick runs)")
    parser.add_argument("--data-dir", type=Path, help="folder holding/caching mnist.npz")
    parser.add_argument("--out", type=Path, help="run folder (default: runs/digit-benchmark-<timestamp>)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the report JSON to PATH")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (epoch lines only)")
    return parser


def _check_args(args: argparse.Namespace) -> None:
    if args.json is not None:
        check_writable_file(args.json, "--json")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (0 where the platform cannot tell)."""
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def _log(message: str) -> None:
    print(message, flush=True)


def _first_conv_weight(model) -> np.ndarray | None:
    for value in model.state_dict().values():
        if value.ndim == 4:
            return value
    return None


@dataclass
class Splits:
    """MNIST as the benchmark uses it: float32 (N, 1, 28, 28) images in [0, 1] and int labels."""
    mnist: Mnist
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    load_seconds: float


def load_splits(args: argparse.Namespace, spec: Mapping[str, ArraySpec]) -> Splits:
    """Training digits (the first ``--limit``), validation digits (the last 5,000 of the training set), test set."""
    load_started = time.perf_counter()
    mnist = load_mnist(args.data_dir, spec=spec, progress=not args.no_progress)
    n_val = min(VALIDATION_SIZE, len(mnist.x_train) // 10)
    n_fit = len(mnist.x_train) - n_val
    if args.limit is not None and args.limit > n_fit:
        raise UsageError(f"argument --limit: only {n_fit:,} training digits are available "
                         f"(the last {n_val:,} are held out for validation), got {args.limit:,}")
    images = as_float_images(mnist.x_train)
    labels = mnist.y_train.astype(np.intp)
    n_train = args.limit or n_fit
    splits = Splits(mnist, images[:n_train], labels[:n_train], images[n_fit:], labels[n_fit:],
                    as_float_images(mnist.x_test), mnist.y_test.astype(np.intp), time.perf_counter() - load_started)
    _log(f"MNIST from {mnist.source} ({mnist.path}) in {splits.load_seconds:.1f} s: {n_train:,} training, "
         f"{n_val:,} validation, {len(splits.x_test):,} test digits")
    return splits


def _new_report(args: argparse.Namespace, splits: Splits, command: str) -> dict[str, Any]:
    mnist = splits.mnist
    return {
        "tool": PROG, "created": datetime.now().astimezone().isoformat(timespec="seconds"), "command": command,
        "config": {"models": args.models, "batch_size": args.batch_size, "seed": args.seed, "limit": args.limit,
                   "patience": args.patience, "augment": args.augment, "optimizer": args.optimizer,
                   "weight_decay": args.weight_decay, "schedule": args.schedule},
        "data": {"source": mnist.source, "path": str(mnist.path), "train_images": len(splits.x_train),
                 "validation_images": len(splits.x_val), "test_images": len(splits.x_test),
                 "load_seconds": splits.load_seconds},
        "environment": {"python": platform.python_version(), "numpy": np.__version__,
                        "platform": platform.platform(terse=True), "cpu_count": os.cpu_count()},
        "models": {}, "files": {}, "interrupted": False, "diverged": None,
    }


def _train_config(args: argparse.Namespace, name: str) -> TrainConfig:
    preset = PRESETS[name]
    return TrainConfig(epochs=args.epochs or preset.epochs, batch_size=args.batch_size, lr=args.lr or preset.lr,
                       optimizer=args.optimizer, weight_decay=args.weight_decay, schedule=args.schedule,
                       seed=args.seed, patience=args.patience, augment=args.augment,
                       shards=args.shards or preset.shards)


def _model_entry(name: str, model, config: TrainConfig, result: TrainResult, test: Evaluation,
                 model_file: Path) -> dict[str, Any]:
    """A model's section of report.json."""
    best = result.history[result.best_epoch - 1]
    return {
        "preset": name, "description": PRESETS[name].description, "params": model.num_parameters(),
        "epochs": len(result.history), "epochs_planned": config.epochs, "best_epoch": result.best_epoch,
        "batch_size": config.batch_size, "optimizer": config.optimizer, "lr": config.lr,
        "weight_decay": config.weight_decay, "shards": config.shards,
        "schedule": config.schedule, "stopped_early": result.stopped_early, "interrupted": result.interrupted,
        "diverged": result.diverged,
        "seconds_per_epoch": result.train_seconds / len(result.history),
        "train_images_per_second": result.images_per_second, "train_seconds": result.train_seconds,
        "val_accuracy": best.val_accuracy, "val_loss": best.val_loss,
        "test_accuracy": test.accuracy, "test_loss": test.loss, "test_errors": test.errors,
        "test_images": test.confusion.sum().item(), "inference_images_per_second": test.images_per_second,
        "peak_rss_mb": peak_rss_mb(),
        "per_class": {"precision": test.precision, "recall": test.recall},
        "confusion_matrix": test.confusion, "history": result.history_dicts(), "model_file": model_file.name,
    }


@dataclass
class Outcome:
    """What the training loop produced, model by model, for the plots and the report."""
    report: dict[str, Any]
    evaluations: dict[str, Evaluation] = field(default_factory=dict)
    trained: dict[str, Any] = field(default_factory=dict)


def _keep_model(name: str, model, config: TrainConfig, result: TrainResult, splits: Splits, out_dir: Path,
                outcome: Outcome) -> None:
    """Evaluate a trained model on the test set, save it and enter it in the report: all or nothing, even if
    Ctrl-C lands meanwhile (it is honoured once the model is kept)."""
    with deferred_interrupt():
        test = evaluate(model, splits.x_test, splits.y_test)
        model_file = out_dir / f"{name}.npz"
        engine.save(model, model_file, metadata={
            "preset": name, "description": PRESETS[name].description, "seed": config.seed,
            "epochs": len(result.history), "test_accuracy": test.accuracy, "input": "float32 (N, 1, 28, 28), pixel / 255"})
        outcome.report["models"][name] = _model_entry(name, model, config, result, test, model_file)
        outcome.evaluations[name], outcome.trained[name] = test, model
        _log(f"{name}: test accuracy {100 * test.accuracy:.2f}% ({test.errors} errors), loss {test.loss:.4f}, "
             f"saved {model_file}")


def _train_models(args: argparse.Namespace, splits: Splits, out_dir: Path, outcome: Outcome) -> None:
    """Train, evaluate and save each model in turn; stop at Ctrl-C or at a diverged model (noted in the report)."""
    report = outcome.report
    try:
        for name in args.models:
            config = _train_config(args, name)
            model = build_model(name, args.seed)
            _log(f"\n{name}: {PRESETS[name].description}, {model.num_parameters():,} parameters, {config.epochs} "
                 f"epochs, {config.optimizer} lr {config.lr:g} ({config.schedule})")
            result = train(model, splits.x_train, splits.y_train, splits.x_val, splits.y_val, config, name=name,
                           log=_log, progress=not args.no_progress)
            kept = bool(result.history) and all_finite(model)  # a non-finite weight is never saved
            if kept:
                _keep_model(name, model, config, result, splits, out_dir, outcome)
            if result.diverged:
                report["diverged"] = {"model": name, "reason": result.diverged, "lr": config.lr,
                                      "optimizer": config.optimizer, "kept_epochs": len(result.history) if kept else 0}
                break
            if result.interrupted or not result.history:
                report["interrupted"] = True
                break
    except KeyboardInterrupt:  # honoured after a model was kept (see _keep_model)
        report["interrupted"] = True


def _plot(outcome: Outcome, splits: Splits, out_dir: Path) -> None:
    """The PNG plots of the kept models. After Ctrl-C (before or during them) they are skipped: the report is
    written at once, without the pictures not yet drawn."""
    report, evaluations, files = outcome.report, outcome.evaluations, outcome.report["files"]
    if report["interrupted"]:
        return
    try:
        if evaluations:
            files["learning_curves"] = plot_learning_curves(
                {n: m["history"] for n, m in report["models"].items()}, out_dir / "learning_curves.png").name
            files["confusion_matrices"] = plot_confusion_matrices(
                {n: e.confusion for n, e in evaluations.items()}, out_dir / "confusion_matrices.png").name
        if len(evaluations) >= 2:
            first_two = dict(list((n, e.predictions) for n, e in evaluations.items())[:2])
            files["disagreements"] = plot_disagreements(splits.mnist.x_test, splits.y_test, first_two,
                                                        out_dir / "disagreements.png").name
        filters = {n: w for n, w in ((n, _first_conv_weight(m)) for n, m in outcome.trained.items()) if w is not None}
        if filters:
            files["cnn_filters"] = plot_filters(filters, out_dir / "cnn_filters.png").name
    except KeyboardInterrupt:
        report["interrupted"] = True


def _diverged_message(diverged: dict[str, Any], report_path: Path) -> str:
    kept = (f"kept its best of {diverged['kept_epochs']} finite epoch(s)" if diverged["kept_epochs"]
            else "nothing of it was saved")
    return (f"{diverged['model']}: training diverged: {diverged['reason']}; the learning rate "
            f"{diverged['lr']:g} is probably too high for {diverged['optimizer']} (try a smaller --lr); "
            f"{kept}; report in {report_path}")


def run(args: argparse.Namespace, out_dir: Path, *, spec: Mapping[str, ArraySpec], started: float,
        command: str) -> int:
    """The benchmark proper once the flags are valid; returns the exit code (130 if interrupted)."""
    splits = load_splits(args, spec)
    outcome = Outcome(_new_report(args, splits, command))
    report = outcome.report
    _train_models(args, splits, out_dir, outcome)
    _plot(outcome, splits, out_dir)
    for name, model_report in report["models"].items():
        report["files"][f"model_{name}"] = model_report["model_file"]
    report["total_seconds"] = time.perf_counter() - started
    report["peak_rss_mb"] = peak_rss_mb()
    with deferred_interrupt():  # a report is written whole, Ctrl-C or not
        paths = write_report(report, out_dir, args.json)
    if report["diverged"]:
        raise BenchmarkError(_diverged_message(report["diverged"], paths["markdown"]))
    if report["models"]:
        print("\n" + format_table(report["models"]))
    print(f"\nTotal {report['total_seconds']:.0f} s, peak memory {report['peak_rss_mb']:,.0f} MB. "
          f"Report: {paths['markdown']}" + (f" (JSON also in {args.json})" if args.json else ""))
    if report["interrupted"]:
        print(f"{PROG}: interrupted; the report covers the {len(report['models'])} completed model(s)", file=sys.stderr)
        return 130
    return 0


def main(argv: Sequence[str] | None = None, *, _spec: Mapping[str, ArraySpec] | None = None) -> int:
    """Entry point of ``digit-benchmark``; returns the exit code.

    ``_spec`` is for the test suite only: it replaces the real MNIST digests so a tiny synthetic
    ``mnist.npz`` can flow through the same code path. There is no command-line way to set it.
    """
    started = time.perf_counter()
    argv = list(sys.argv[1:] if argv is None else argv)
    out_dir, created = None, False
    try:
        args = build_parser().parse_args(argv)
        _check_args(args)
        out_dir = args.out or new_run_dir_name(PROG)
        created = make_run_dir(out_dir)
        command = " ".join(shlex.quote(part) for part in [PROG, *argv])
        return run(args, out_dir, spec=_spec or MNIST_SPEC, started=started, command=command)
    except BenchmarkError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. the disk filled up while writing the run folder
        print(f"{PROG}: error: {exc.filename or 'output'}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return 130
    finally:
        if created and out_dir is not None:
            remove_if_empty(out_dir)


if __name__ == "__main__":
    sys.exit(main())
