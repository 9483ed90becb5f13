"""A small neural-network engine on numpy: layers with hand-written forward and backward passes,
losses, optimisers, schedules, initialisers, gradient checking, persistence and genome tools.

    import numpy as np
    from engine import Sequential, Dense, ReLU, SoftmaxCrossEntropy, Adam

    model = Sequential(Dense(2, 16, rng=np.random.default_rng(0)), ReLU(), Dense(16, 2))
    loss_fn, opt = SoftmaxCrossEntropy(), Adam(model.parameters(), lr=1e-2)
    for _ in range(200):
        opt.zero_grad()
        loss = loss_fn.forward(model(x), y)
        model.backward(loss_fn.backward())
        opt.step()
"""

from .activations import LeakyReLU, ReLU, Sigmoid, Tanh
from .conv import Conv2D, col2im, im2col
from .gradcheck import gradcheck
from .genome import PopulationNet, genome_size, get_genome, set_genome
from .layers import Dense, Dropout, Flatten
from .losses import Loss, MSELoss, SoftmaxCrossEntropy
from .module import Module, Parameter, Sequential
from .optim import SGD, Adam, AdamW, Optimizer
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
    "im2col", "col2im", "gradcheck",
    "genome_size", "get_genome", "set_genome", "PopulationNet",
    "save", "load", "load_with_metadata", "ModelFileError", "build_model",
]
