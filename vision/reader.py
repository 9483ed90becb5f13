"""Both trained models reading one digit, and how they read it (numpy only: the draw window shows this).

- ``find_latest_run`` / ``load_pair``: the MLP and CNN of a digit-benchmark run folder, each checked to be a
  digit model of the right kind (input (N, 1, 28, 28), ten classes, finite weights; the CNN with convolutions,
  the MLP without). Any problem is a ``ModelLoadError`` whose message is one line naming the file.
- ``read_digit``: class probabilities of both models; the CNN's feature maps after its first two convolutions
  (after ReLU, as the next layer sees them); the MLP's input gradient of its top class score, computed by the
  engine's own backward pass: ``d score_k / d x`` says which pixels push class ``k`` up (> 0) or down (< 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

import engine
from engine import Conv2D, Module, Sequential
from vision.errors import BenchmarkError

MODEL_FILES = {"mlp": "mlp.npz", "cnn": "cnn.npz"}
RUNS_DIR = Path("runs")
MAKE_ONE = "python3 scripts/digit_benchmark.py"


class ModelLoadError(BenchmarkError):
    """A run folder or model file cannot be used by the draw window; one line naming the file."""


def find_latest_run(runs: Path = RUNS_DIR) -> Path | None:
    """The most recently modified folder under ``runs`` holding both ``mlp.npz`` and ``cnn.npz`` (or None)."""
    if not runs.is_dir():
        return None
    candidates = [folder for folder in runs.iterdir()
                  if folder.is_dir() and all((folder / name).is_file() for name in MODEL_FILES.values())]
    return max(candidates, key=lambda folder: (folder / MODEL_FILES["cnn"]).stat().st_mtime, default=None)


def _convolutions(model: Module) -> list[int]:
    return [i for i, layer in enumerate(model) if isinstance(layer, Conv2D)]


def load_digit_model(path: Path, kind: str) -> Sequential:
    """Load ``path`` and check it is a digit model of ``kind`` ("mlp" or "cnn"); ``ModelLoadError`` otherwise."""
    try:
        model, _ = engine.load_with_metadata(path)
    except engine.ModelFileError as exc:
        raise ModelLoadError(str(exc)) from None
    if not isinstance(model, Sequential):
        raise ModelLoadError(f"{path}: not a digit model (a single {type(model).__name__} layer)")
    try:
        logits = model.eval()(np.zeros((1, 1, 28, 28), np.float32))
    except (ValueError, TypeError, IndexError) as exc:
        raise ModelLoadError(f"{path}: not a digit model: it does not take 28 x 28 images ({exc})") from None
    if logits.shape != (1, 10):
        raise ModelLoadError(f"{path}: not a digit model: it gives {logits.shape[1:]} outputs, expected 10 classes")
    convolutions = _convolutions(model)
    if kind == "cnn" and len(convolutions) < 2:
        raise ModelLoadError(f"{path}: expected a CNN with two convolution layers, found {len(convolutions)} "
                             "(is this the MLP?)")
    if kind == "mlp" and convolutions:
        raise ModelLoadError(f"{path}: expected an MLP, found convolution layers (is this the CNN?)")
    if not all(np.isfinite(p.data).all() for p in model.parameters()):
        raise ModelLoadError(f"{path}: holds non-finite weights (a diverged training run?)")
    return model


@dataclass
class ModelPair:
    mlp: Sequential
    cnn: Sequential
    source: Path  # the run folder they came from


def load_pair(run: Path) -> ModelPair:
    """The MLP and the CNN of the run folder ``run``; ``ModelLoadError`` naming what is missing or wrong."""
    if not run.is_dir():
        raise ModelLoadError(f"{run}: no such run folder" if not run.exists() else f"{run}: not a folder")
    missing = [name for name in MODEL_FILES.values() if not (run / name).is_file()]
    if missing:
        raise ModelLoadError(f"{run}: no {' or '.join(missing)} in this run folder (make one with {MAKE_ONE})")
    return ModelPair(load_digit_model(run / MODEL_FILES["mlp"], "mlp"),
                     load_digit_model(run / MODEL_FILES["cnn"], "cnn"), run)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


@dataclass
class Reading:
    """What both models make of one 28 x 28 image."""
    image: np.ndarray          # (28, 28) float32, the networks' input
    mlp: np.ndarray            # (10,) class probabilities
    cnn: np.ndarray            # (10,)
    features: list[np.ndarray]  # the CNN's first two convolutions after ReLU: (16, 28, 28), (32, 14, 14)
    saliency: np.ndarray       # (28, 28) d(MLP score of its top class) / d(pixel)

    @property
    def mlp_guess(self) -> int:
        return int(self.mlp.argmax())

    @property
    def cnn_guess(self) -> int:
        return int(self.cnn.argmax())

    @property
    def disagree(self) -> bool:
        return self.mlp_guess != self.cnn_guess


def cnn_with_features(cnn: Sequential, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Logits of ``x`` (N, 1, 28, 28) and the first two convolutions' outputs after ReLU, layer by layer."""
    wanted = _convolutions(cnn)[:2]
    features = []
    for i, layer in enumerate(cnn):
        x = layer.forward(x)
        if i in wanted:
            features.append(np.maximum(x, 0))
    return x, features


def input_gradient(mlp: Sequential, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Logits of one image ``x`` (1, 1, 28, 28) and ``d logit_top / d x`` (28, 28) by the engine's backward."""
    logits = mlp.forward(x)
    seed = np.zeros_like(logits)
    seed[0, int(logits.argmax())] = 1.0      # d score_top / d logits
    mlp.zero_grad()                          # the pass adds weight gradients too; keep them from piling up
    grad = mlp.backward(seed, input_grad=True)
    return logits, grad.reshape(28, 28)


def read_digit(models: ModelPair, image: np.ndarray) -> Reading:
    """Run both models on ``image`` (28, 28) float in [0, 1]."""
    x = np.ascontiguousarray(image, dtype=np.float32).reshape(1, 1, 28, 28)
    mlp_logits, saliency = input_gradient(models.mlp, x)
    cnn_logits, features = cnn_with_features(models.cnn, x)
    return Reading(x[0, 0], softmax(mlp_logits[0]), softmax(cnn_logits[0]), [f[0] for f in features], saliency)


def first_kernels(cnn: Sequential) -> np.ndarray:
    """The first convolution's kernels as (out, kh, kw) (averaged over input channels if there are several)."""
    weight = cnn[_convolutions(cnn)[0]].weight.data
    return weight.mean(axis=1)


def predict_all(model: Module, images: np.ndarray, batch: int = 1000) -> np.ndarray:
    """Predicted classes of ``images`` (N, 28, 28) float32, in batches."""
    out = np.empty(len(images), dtype=np.int64)
    for start in range(0, len(images), batch):
        out[start:start + batch] = model(images[start:start + batch, None]).argmax(axis=1)
    return out
