"""``digit-draw``: draw digits and watch the MLP and the CNN of a digit-benchmark run read them live.

Errors the user can fix (a bad flag, a missing or wrong model file, no display, an unwritable screenshot path)
are one line on stderr and exit code 2; Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from engine import blas_threads
from vision.data import CACHE_FILE, MNIST_SPEC, ArraySpec, default_data_dir, read_cache
from vision.draw.app import CANVAS_SIDE, PEN_LIMITS, PEN_RADIUS, DrawApp, TestSet
from vision.draw.frame import WindowError, close_display, ensure_display, run_loop
from vision.errors import BenchmarkError, DataError, UsageError
from vision.outputs import check_writable_file
from vision.quick import QUICK_EPOCHS, train_quick
from vision.reader import MAKE_ONE, RUNS_DIR, ModelPair, find_latest_run, load_pair

PROG = "digit-draw"
TITLE = "Draw a digit: MLP vs CNN"
NO_MODELS = (f"No trained models under {RUNS_DIR}/ yet: run {MAKE_ONE} (about 2 minutes), "
             f"or start with {PROG} --train-quick (under a minute)")
# A "2" as a person draws it, in canvas fractions: used when a screenshot starts from an empty canvas.
DEMO_STROKES = (
    [(0.30 + 0.18 * (1 - math.cos(a)), 0.36 - 0.13 * math.sin(a)) for a in np.linspace(0.25, math.pi + 0.9, 14)]
    + [(0.44, 0.56), (0.34, 0.70), (0.33, 0.72), (0.50, 0.71), (0.70, 0.71)],
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        raise UsageError(message)


def _bounded_int(low: int, high: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer from {low} to {high}, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected an integer from {low} to {high}, got {value}")
        return value
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Draw digits with the mouse and watch the MLP and the CNN of a "
                     "digit-benchmark run read them live: probabilities, the CNN's feature maps and kernels, "
                     "the pixels that push the MLP's guess up or down; browse the MNIST test set.")
    parser.add_argument("--run", type=Path, metavar="DIR",
                        help=f"a digit-benchmark run folder holding mlp.npz and cnn.npz (default: the newest under "
                        f"{RUNS_DIR}/)")
    parser.add_argument("--train-quick", action="store_true",
                        help=f"first train both models ({QUICK_EPOCHS} epochs each, under a minute on 2 cores) into "
                        f"a new run folder under {RUNS_DIR}/")
    parser.add_argument("--data-dir", type=Path, help="MNIST cache folder (default: the benchmark's, "
                        f"{default_data_dir()}); its test set is browsed with N / P / M")
    parser.add_argument("--pen", type=_bounded_int(*PEN_LIMITS), default=PEN_RADIUS,
                        help=f"pen radius in canvas pixels (the canvas is {CANVAS_SIDE} wide; default {PEN_RADIUS})")
    parser.add_argument("--screenshot", type=Path, metavar="PATH", help="save the window as a PNG after --frames")
    parser.add_argument("--frames", type=_bounded_int(1, 100_000), metavar="N",
                        help="stop after N frames (default with --screenshot: 30)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars while --train-quick trains")
    return parser


def load_test_set(data_dir: Path | None, spec: Mapping[str, ArraySpec] = MNIST_SPEC) -> TestSet | None:
    """The MNIST test set from the benchmark's cache, or None if there is no cache (nothing is downloaded)."""
    cache = (data_dir or default_data_dir()) / CACHE_FILE
    if not cache.is_file():
        return None
    try:
        arrays = read_cache(cache, spec)
    except DataError as exc:
        print(f"{PROG}: warning: {exc}; test set browsing is off", file=sys.stderr)
        return None
    return TestSet(arrays["x_test"], arrays["y_test"])


def get_models(args: argparse.Namespace, spec: Mapping[str, ArraySpec] | None) -> ModelPair | None:
    """The models the flags ask for; None when there is no run folder at all (the window then says what to do)."""
    if args.train_quick:
        code, out = train_quick(args.data_dir, progress=not args.no_progress, _spec=spec)
        if code != 0:
            raise SystemExit(code)  # the benchmark has already said why, in one line
        return load_pair(out)
    if args.run is not None:
        return load_pair(args.run)
    latest = find_latest_run()
    return load_pair(latest) if latest is not None else None


def demo_drawing(app: DrawApp) -> None:
    for stroke in DEMO_STROKES:
        app.canvas.polyline([(x * app.canvas.side, y * app.canvas.side) for x, y in stroke], app.pen)


def main(argv: Sequence[str] | None = None, *, _spec: Mapping[str, ArraySpec] | None = None) -> int:
    """Entry point of ``digit-draw``; returns the exit code. ``_spec`` is for tests (synthetic MNIST)."""
    try:
        args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
        if args.run is not None and args.train_quick:
            raise UsageError("argument --train-quick: not allowed with --run (it makes a new run folder)")
        if args.screenshot is not None:
            check_writable_file(args.screenshot, "--screenshot")
        frames = args.frames or (30 if args.screenshot is not None else None)
        ensure_display(must_be_visible=frames is None)  # before anything is trained or written
        models = get_models(args, _spec)
        if models is None:
            print(f"{PROG}: {NO_MODELS}", file=sys.stderr)
        app = DrawApp(models, load_test_set(args.data_dir, _spec or MNIST_SPEC), hint=NO_MODELS, pen=args.pen)
        if args.screenshot is not None and app.canvas.empty:
            demo_drawing(app)
        # One BLAS thread: a reading's matrices are tiny, and BLAS threads waiting for a busy core would stall
        # frames (to_mnist: 0.5 ms on one thread, ~20 ms on two when another process shares the cores).
        with blas_threads(1):
            run_loop(app, TITLE, screenshot=args.screenshot, frames=frames)
        if args.screenshot is not None:
            print(f"saved {args.screenshot}")
        return 0
    except (BenchmarkError, WindowError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{PROG}: error: {exc.filename or 'output'}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:
        return int(exc.code or 0)
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return 130
    finally:
        close_display()


if __name__ == "__main__":
    sys.exit(main())
