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
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

import engine
from vision.data import MNIST_SPEC, ArraySpec, as_float_images, default_data_dir, load_mnist
from vision.errors import BenchmarkError, UsageError
from vision.evaluate import evaluate
from vision.models import DEFAULT_MODELS, PRESETS, build_model
from vision.plots import plot_confusion_matrices, plot_disagreements, plot_filters, plot_learning_curves
from vision.report import format_table, write_report
from vision.train import OPTIMIZERS, SCHEDULES, TrainConfig, train

PROG = "digit-benchmark"
VALIDATION_SIZE = 5000
BATCH_SIZE = 128
PATIENCE = 5


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would print the usage too; we want one line
        raise UsageError(message)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
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
                     "--data-dir or $NEURO_SANDBOX_DATA_DIR).")
    parser.add_argument("--models", type=_model_list, default=list(DEFAULT_MODELS),
                        help=f"comma-separated models to train (default: {','.join(DEFAULT_MODELS)})")
    parser.add_argument("--epochs", type=_positive_int, help="epochs for every model (default: each model's own)")
    parser.add_argument("--batch-size", type=_positive_int, default=BATCH_SIZE,
                        help=f"mini-batch size (default: {BATCH_SIZE})")
    parser.add_argument("--lr", type=_positive_float, help="peak learning rate (default: each model's own)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="adam", help="default: adam")
    parser.add_argument("--weight-decay", type=_non_negative_float, default=0.0, metavar="WD",
                        help="L2 weight decay (decoupled for adamw; default: 0)")
    parser.add_argument("--schedule", choices=SCHEDULES, default="cosine",
                        help="learning-rate schedule (default: cosine decay to 0)")
    parser.add_argument("--seed", type=_int, default=0, help="seed of every random choice (default: 0)")
    parser.add_argument("--patience", type=_positive_int, default=PATIENCE,
                        help="stop a model after this many epochs without a better validation accuracy "
                        f"(default: {PATIENCE})")
    parser.add_argument("--shards", type=_positive_int, metavar="K",
                        help="run each batch as K slices in parallel threads, one per core (default: each model's "
                             "own: 2 for the CNNs, 1 for the MLPs); part of the numerics, so it is a config value")
    parser.add_argument("--augment", action="store_true", help="train on digits randomly shifted by up to 2 pixels")
    parser.add_argument("--limit", type=_int, metavar="N", help="use only the first N training digits (quick runs)")
    parser.add_argument("--data-dir", type=Path, help="folder holding/caching mnist.npz")
    parser.add_argument("--out", type=Path, help="run folder (default: runs/digit-benchmark-<timestamp>)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the report JSON to PATH")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (epoch lines only)")
    return parser


def _check_args(args: argparse.Namespace) -> None:
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"argument --limit: expected a positive number of training digits, got {args.limit}")
    if args.json is not None:
        parent = args.json.parent if str(args.json.parent) else Path(".")
        if args.json.is_dir():
            raise UsageError(f"argument --json: {args.json} is a folder, expected a file path")
        if not parent.is_dir() or not os.access(parent, os.W_OK):
            raise UsageError(f"argument --json: cannot write into {parent} (missing or not writable)")


def _make_run_dir(out: Path | None) -> tuple[Path, bool]:
    """Create (or reuse) the run folder and check it is writable; returns (folder, created by us)."""
    if out is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / f"{PROG}-{stamp}"
        suffix = 2
        while out.exists():
            out = Path("runs") / f"{PROG}-{stamp}-{suffix}"
            suffix += 1
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        if created:
            _remove_if_empty(out)
        raise UsageError(f"argument --out: cannot write into {out} ({exc.strerror or exc})") from None
    return out, created


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


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


def run(args: argparse.Namespace, out_dir: Path, *, spec: Mapping[str, ArraySpec], started: float,
        command: str) -> int:
    """The benchmark proper once the flags are valid; returns the exit code (130 if interrupted)."""
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
    x_train, y_train = images[:n_train], labels[:n_train]
    x_val, y_val = images[n_fit:], labels[n_fit:]
    x_test, y_test = as_float_images(mnist.x_test), mnist.y_test.astype(np.intp)
    load_seconds = time.perf_counter() - load_started
    _log(f"MNIST from {mnist.source} ({mnist.path}) in {load_seconds:.1f} s: {n_train:,} training, "
         f"{n_val:,} validation, {len(x_test):,} test digits")

    report: dict[str, Any] = {
        "tool": PROG, "created": datetime.now().astimezone().isoformat(timespec="seconds"), "command": command,
        "config": {"models": args.models, "batch_size": args.batch_size, "seed": args.seed, "limit": args.limit,
                   "patience": args.patience, "augment": args.augment, "optimizer": args.optimizer,
                   "weight_decay": args.weight_decay, "schedule": args.schedule},
        "data": {"source": mnist.source, "path": str(mnist.path), "train_images": n_train,
                 "validation_images": n_val, "test_images": len(x_test), "load_seconds": load_seconds},
        "environment": {"python": platform.python_version(), "numpy": np.__version__,
                        "platform": platform.platform(terse=True), "cpu_count": os.cpu_count()},
        "models": {}, "files": {}, "interrupted": False,
    }
    evaluations, trained = {}, {}
    for name in args.models:
        preset = PRESETS[name]
        config = TrainConfig(epochs=args.epochs or preset.epochs, batch_size=args.batch_size, lr=args.lr or preset.lr,
                             optimizer=args.optimizer, weight_decay=args.weight_decay, schedule=args.schedule,
                             seed=args.seed, patience=args.patience, augment=args.augment,
                             shards=args.shards or preset.shards)
        model = build_model(name, args.seed)
        _log(f"\n{name}: {preset.description}, {model.num_parameters():,} parameters, {config.epochs} epochs, "
             f"{config.optimizer} lr {config.lr:g} ({config.schedule})")
        result = train(model, x_train, y_train, x_val, y_val, config, name=name, log=_log,
                       progress=not args.no_progress)
        if not result.history:
            report["interrupted"] = True
            break
        test = evaluate(model, x_test, y_test)
        model_file = out_dir / f"{name}.npz"
        engine.save(model, model_file, metadata={
            "preset": name, "description": preset.description, "seed": args.seed, "epochs": len(result.history),
            "test_accuracy": test.accuracy, "input": "float32 (N, 1, 28, 28), pixel / 255"})
        best = result.history[result.best_epoch - 1]
        report["models"][name] = {
            "preset": name, "description": preset.description, "params": model.num_parameters(),
            "epochs": len(result.history), "epochs_planned": config.epochs, "best_epoch": result.best_epoch,
            "batch_size": config.batch_size, "optimizer": config.optimizer, "lr": config.lr,
            "weight_decay": config.weight_decay, "shards": config.shards,
            "schedule": config.schedule, "stopped_early": result.stopped_early, "interrupted": result.interrupted,
            "seconds_per_epoch": result.train_seconds / len(result.history),
            "train_images_per_second": result.images_per_second, "train_seconds": result.train_seconds,
            "val_accuracy": best.val_accuracy, "val_loss": best.val_loss,
            "test_accuracy": test.accuracy, "test_loss": test.loss, "test_errors": test.errors,
            "test_images": len(x_test), "inference_images_per_second": test.images_per_second,
            "peak_rss_mb": peak_rss_mb(),
            "per_class": {"precision": test.precision, "recall": test.recall},
            "confusion_matrix": test.confusion, "history": result.history_dicts(), "model_file": model_file.name,
        }
        evaluations[name], trained[name] = test, model
        _log(f"{name}: test accuracy {100 * test.accuracy:.2f}% ({test.errors} errors), loss {test.loss:.4f}, "
             f"saved {model_file}")
        if result.interrupted:
            report["interrupted"] = True
            break

    files = report["files"]
    if evaluations:
        files["learning_curves"] = plot_learning_curves(
            {n: m["history"] for n, m in report["models"].items()}, out_dir / "learning_curves.png").name
        files["confusion_matrices"] = plot_confusion_matrices(
            {n: e.confusion for n, e in evaluations.items()}, out_dir / "confusion_matrices.png").name
    if len(evaluations) >= 2:
        first_two = dict(list((n, e.predictions) for n, e in evaluations.items())[:2])
        files["disagreements"] = plot_disagreements(mnist.x_test, y_test, first_two, out_dir / "disagreements.png").name
    filters = {n: w for n, w in ((n, _first_conv_weight(m)) for n, m in trained.items()) if w is not None}
    if filters:
        files["cnn_filters"] = plot_filters(filters, out_dir / "cnn_filters.png").name
    for name, model_report in report["models"].items():
        files[f"model_{name}"] = model_report["model_file"]
    report["total_seconds"] = time.perf_counter() - started
    report["peak_rss_mb"] = peak_rss_mb()
    paths = write_report(report, out_dir, args.json)
    if report["models"]:
        print("\n" + format_table(report["models"]))
    print(f"\nTotal {report['total_seconds']:.0f} s, peak memory {report['peak_rss_mb']:,.0f} MB. "
          f"Report: {paths['markdown']}" + (f" (JSON also in {args.json})" if args.json else ""))
    return 130 if report["interrupted"] else 0


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
        out_dir, created = _make_run_dir(args.out)
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
            _remove_if_empty(out_dir)


if __name__ == "__main__":
    sys.exit(main())
