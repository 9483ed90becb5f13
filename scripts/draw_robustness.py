#!/usr/bin/env python3
"""How well the trained models read digits drawn the way people draw them in the draw window.

Every MNIST test digit is re-drawn on a 280 x 280 canvas at its own size (0.6-1.6x of half the canvas side),
place (anywhere that keeps it on the canvas) and stroke thickness (0.66-1.6x), as solid pen ink
(``vision.redraw``), then turned back into a 28 x 28 digit by ``vision.preprocess.to_mnist`` and classified.
Prints each model's accuracy on the original test digits and on the re-drawn ones (target for the CNN: within
one point), and, as the control, on the canvases merely shrunk to 28 x 28 without to_mnist.

    python3 scripts/draw_robustness.py [--run DIR] [--seed 0] [--limit N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from vision.data import load_mnist  # noqa: E402
from vision.preprocess import to_mnist_batch  # noqa: E402
from vision.reader import find_latest_run, load_pair, predict_all  # noqa: E402
from vision.redraw import DrawStyle, redraw_in_chunks  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="run folder with mlp.npz and cnn.npz (default: newest under runs/)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the drawing styles (default 0)")
    parser.add_argument("--limit", type=int, help="only the first N test digits")
    args = parser.parse_args()
    run_dir = args.run or find_latest_run()
    if run_dir is None:
        print("no run folder with mlp.npz and cnn.npz: run python3 scripts/digit_benchmark.py first", file=sys.stderr)
        return 2
    models = load_pair(run_dir)
    mnist = load_mnist()
    digits = mnist.x_test[:args.limit].astype(np.float32) / np.float32(255)
    labels = mnist.y_test[:args.limit]
    style = DrawStyle()
    started = time.perf_counter()
    redrawn, shrunk = [], []
    factor = style.canvas // 28
    for canvases in redraw_in_chunks(digits, np.random.default_rng(args.seed), style):
        redrawn.append(to_mnist_batch(canvases))
        shrunk.append(canvases[:, :28 * factor, :28 * factor].reshape(len(canvases), 28, factor, 28, factor)
                      .mean(axis=(2, 4)))
    redrawn, shrunk = np.concatenate(redrawn), np.concatenate(shrunk)
    seconds = time.perf_counter() - started
    print(f"models from {run_dir}; {len(digits):,} test digits re-drawn on a {style.canvas} x {style.canvas} canvas "
          f"(size {style.scale[0]}-{style.scale[1]}x, ink threshold {style.threshold[0]}-{style.threshold[1]}, "
          f"seed {args.seed}) and read back by to_mnist in {seconds:.1f} s")
    print(f"{'model':6} {'original':>9} {'re-drawn':>9} {'change':>8} {'shrunk, no to_mnist':>20}")
    for name, model in (("mlp", models.mlp), ("cnn", models.cnn)):
        scores = [100 * float((predict_all(model, images) == labels).mean()) for images in (digits, redrawn, shrunk)]
        print(f"{name:6} {scores[0]:8.2f}% {scores[1]:8.2f}% {scores[1] - scores[0]:+7.2f}  {scores[2]:18.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
