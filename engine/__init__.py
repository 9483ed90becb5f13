"""A small neural-network engine on numpy: layers with hand-written forward and backward passes,
losses, optimisers, learning-rate schedules, initialisers, gradient checking, persistence and
genome tools for neuroevolution. float32 by default; images are NCHW.

Each layer's forward and backward read like the equations in its docstring; the layout tricks that
make them fast live in ``engine.kernels``, and ``engine.reference`` holds the slow loop versions of
every layer (the readable specification both are tested against). A tour: ``docs/engine.md``.

    import numpy as np
    from engine import Adam, Dense, ReLU, Sequential, SoftmaxCrossEntropy

    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 0])                      # XOR
    rng = np.random.default_rng(0)
    model = Sequential(Dense(2, 16, rng=rng), ReLU(), Dense(16, 2, rng=rng))
    loss_fn, opt = SoftmaxCrossEntropy(), Adam(model.parameters(), lr=0.05)
    for step in range(200):
        opt.zero_grad()
        loss = loss_fn.forward(model(x), y)      # forward: logits -> mean loss
        model.backward(loss_fn.backward())       # backward: dL/dlogits -> every parameter's .grad
        opt.step()                               # update
"""

from .activations import LeakyReLU, ReLU, Sigmoid, Tanh
from .blas import blas_thread_control, blas_thread_count, blas_threads
from .conv import Conv2D, col2im, im2col
from .genome import PopulationNet, genome_size, get_genome, set_genome
from .gradcheck import gradcheck
from .init import INITS, init_weight
from .layers import Dense, Dropout, Flatten
from .losses import Loss, MSELoss, SoftmaxCrossEntropy
from .memory import keep_freed_memory
from .module import Module, Parameter, Sequential
from .optim import SGD, Adam, AdamW, Optimizer
from .parallel import DataParallel, available_cores
from .pool import AvgPool2D, MaxPool2D
from .schedules import CosineLR, Schedule, StepLR
from .serialize import ModelFileError, build_model, load, load_with_metadata, save

__all__ = [
    "Parameter", "Module", "Sequential",
    "Dense", "Flatten", "Dropout", "Conv2D", "MaxPool2D", "AvgPool2D",
    "ReLU", "LeakyReLU", "Sigmoid", "Tanh",
    "Loss", "SoftmaxCrossEntropy", "MSELoss",
    "Optimizer", "SGD", "Adam", "AdamW",
    "Schedule", "StepLR", "CosineLR",
    "gradcheck", "im2col", "col2im",
    "genome_size", "get_genome", "set_genome", "PopulationNet",
    "save", "load", "load_with_metadata", "ModelFileError", "build_model", "keep_freed_memory",
    "DataParallel", "available_cores", "blas_threads", "blas_thread_control", "blas_thread_count",
    "INITS", "init_weight",
]
