"""Training speed of our engine against the PyTorch CPU reference, in one run, as a ratio.

Runs the PyTorch reference script (a separate Python with torch installed; PyTorch is never a
dependency of this project) and our engine on the same machine, same MNIST file, same models
(784-256-128-10 MLP and the conv16-pool-conv32-pool-128-10 CNN), batch 128, Adam lr 1e-3, one full
epoch over all 60,000 training digits each, and prints seconds per epoch and ours / PyTorch's.

    python scripts/bench_torch_ratio.py --reference PATH/TO/torch_mnist.py --torch-python /tmp/torch-ref/bin/python

Targets (issue 15): ratio <= 0.6 (MLP) and <= 0.7 (CNN). Run on a quiet machine: OpenBLAS threads
stall when other processes share the cores. The epochs alternate (reference, ours, reference, ...)
so that drifting machine load hits both sides alike; the median of each side, the ratio of the
medians and the spread of the per-pair ratios (each of our epochs over the reference epoch just
before it) are printed.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import Adam, DataParallel, SoftmaxCrossEntropy, keep_freed_memory  # noqa: E402
from vision.data import as_float_images, load_mnist  # noqa: E402
from vision.models import PRESETS, build_model  # noqa: E402

BATCH = 128
LINE = re.compile(r"torch (\w+) epoch \d+ train_s ([0-9.]+)")


def engine_epoch_seconds(name: str, x: np.ndarray, y: np.ndarray, seed: int) -> float:
    """Seconds for one training epoch (gather, forward, backward, Adam) of our engine over x, y, run as the
    digit benchmark's trainer runs it (the preset's data-parallel slices)."""
    model = build_model(name, seed)
    optimizer = Adam(model.parameters(), lr=1e-3)
    order = np.random.default_rng(seed).permutation(len(x))
    parallel = DataParallel(model, SoftmaxCrossEntropy, shards=PRESETS[name].shards)
    with parallel:  # worker processes start here, before the clock
        start = time.perf_counter()
        for i in range(0, len(x), BATCH):
            batch = order[i:i + BATCH]
            optimizer.zero_grad()
            parallel.forward_backward(x[batch], y[batch])
            optimizer.step()
        seconds = time.perf_counter() - start
    parallel.close()
    return seconds


def torch_epoch_seconds(python: str, reference: str, npz: Path, name: str, seed: int) -> float:
    """Seconds of one training epoch of the PyTorch reference, parsed from its output line."""
    out = subprocess.run([python, reference, str(npz), "--epochs", "1", "--batch", str(BATCH), "--model", name,
                          "--seed", str(seed)], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{reference}: the reference failed: {out.stderr.strip().splitlines()[-1:]}")
    times = [float(m.group(2)) for m in LINE.finditer(out.stdout)]
    if not times:
        sys.exit(f"{reference}: no 'train_s' line in its output")
    return times[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True, help="path to the PyTorch reference script (torch_mnist.py)")
    parser.add_argument("--torch-python", required=True, help="a Python interpreter that has torch installed")
    parser.add_argument("--models", default="mlp,cnn")
    parser.add_argument("--repeat", type=int, default=3, help="epochs per side and model (median reported)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    keep_freed_memory()  # as the digit benchmark's trainer does
    mnist = load_mnist(args.data_dir)
    x, y = as_float_images(mnist.x_train), mnist.y_train.astype(np.int64)
    print(f"MNIST: {len(x):,} training digits from {mnist.path}; batch {BATCH}, Adam, one epoch per run")
    print(f"{'model':6} {'pytorch s/epoch':>16} {'engine s/epoch':>15} {'ratio':>7} {'pair ratios':>18} "
          f"{'target':>7}")
    targets = {"mlp": 0.6, "cnn": 0.7}
    for name in args.models.split(","):
        ours, theirs = [], []
        for _ in range(args.repeat):
            theirs.append(torch_epoch_seconds(args.torch_python, args.reference, mnist.path, name, args.seed))
            ours.append(engine_epoch_seconds(name, x, y, args.seed))
        t, o = statistics.median(theirs), statistics.median(ours)
        pairs = [mine / ref for mine, ref in zip(ours, theirs)]
        target = targets.get(name)
        verdict = "" if target is None else ("ok" if o / t <= target else "MISSED")
        spread = f"{min(pairs):.2f}-{max(pairs):.2f}"
        print(f"{name:6} {t:16.2f} {o:15.2f} {o / t:7.2f} {spread:>18} {target or '-':>7} {verdict}", flush=True)
        print(f"       pytorch {' '.join(f'{v:.2f}' for v in theirs)} | engine {' '.join(f'{v:.2f}' for v in ours)}",
              flush=True)


if __name__ == "__main__":
    main()
