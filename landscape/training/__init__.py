"""Data, models and the one training loop.

=====================================  ===============================================
:mod:`~landscape.training.data`        data sets with seeded splits (:func:`load`), and
                                       :class:`DataSpec`, the memoized loader
:mod:`~landscape.training.models`      MLP, LeNet-5, small VGG/ResNet, deep linear networks
:mod:`~landscape.training.synthetic`   planted low-rank regression, toy 2-D saddles
:mod:`~landscape.training.loop`        :func:`fit` and its :class:`History`, evaluation,
                                       devices and threads
:mod:`~landscape.training.curves`      reading a training curve: when it first reaches a target
=====================================  ===============================================
"""

from . import curves, data, loop, models, synthetic
from .curves import first_reach, trailing_mean
from .data import DataNotFoundError, Dataset, DataSpec, available, load
from .loop import History, default_device, evaluate, fit, resolve_device, threads

__all__ = [
    "data", "models", "synthetic", "loop", "curves",
    "load", "available", "Dataset", "DataSpec", "DataNotFoundError",
    "fit", "History", "evaluate", "default_device", "resolve_device", "threads",
    "first_reach", "trailing_mean",
]
