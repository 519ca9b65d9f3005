"""tinyalex: AlexNet (Krizhevsky, Sutskever & Hinton, NIPS 2012) from scratch in NumPy and CuPy.

Modules, from the bottom up (a lower one never imports a higher one):

* ``tinyalex.backend``     NumPy/CuPy, devices, explicit transfers (§3.2)
* ``tinyalex.paper``       the paper's constants, each with its section
* ``tinyalex.functional``  pure forward/backward pairs, one file per paper concept
* ``tinyalex.gradcheck``   centred finite differences and relative errors
* ``tinyalex.layers``      the ops with parameters, gradients, a device and a mode
* ``tinyalex.models``      ``Sequential``, the two-tower ``AlexNet``, the Figure-1 net
* ``tinyalex.optim``       the paper's SGD rule and divide-by-10 schedule (§5)
* ``tinyalex.data``        datasets and the paper's preprocessing and augmentation (§2, §4.1)
* ``tinyalex.metrics``     top-1 and top-5 error (§6)
* ``tinyalex.checkpoint``  atomic, pickle-free ``.npz`` checkpoints
* ``tinyalex.batches``     preprocessing and augmentation of training batches
* ``tinyalex.train``       the training loop, evaluation, history and bit-exact resume (§5)
* ``tinyalex.relu_vs_tanh`` the Figure-1 experiment (``python -m tinyalex relu-vs-tanh``)
* ``tinyalex.plots``       Figures 1, 3 and 4 (imported on demand: it loads matplotlib)
"""

from . import (backend, batches, checkpoint, data, functional, gradcheck, layers, metrics, models,
               optim, paper, train)

__version__ = "0.1.0"

__all__ = ["backend", "batches", "checkpoint", "data", "functional", "gradcheck", "layers",
           "metrics", "models", "optim", "paper", "train", "__version__"]
