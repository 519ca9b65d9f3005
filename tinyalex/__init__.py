"""tinyalex: AlexNet (Krizhevsky, Sutskever & Hinton, NIPS 2012) from scratch in NumPy and CuPy.

Modules, from the bottom up (a lower one never imports a higher one):

* ``tinyalex.backend``     NumPy/CuPy, devices, explicit transfers (§3.2)
* ``tinyalex.atomic``      atomic file writes (checkpoints, downloads)
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

import os

# NumPy's OpenBLAS threads keep spinning on their cores for about 0.1 s after every matrix product
# (2**28 cycles, its default), so the threads of ``tinyalex.threads`` that copy and pool right
# after a product find no core free: a Figure-1 training step took 100 ms instead of 74 here.
# 2**16 cycles (about 25 us) is as fast for the products. OpenBLAS reads this once, when NumPy
# is first imported, so it only helps where tinyalex is imported before NumPy (as by
# ``python -m tinyalex``); a value set by the user wins.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "16")

from . import (backend, batches, checkpoint, data, functional, gradcheck, layers, metrics, models,
               optim, paper, train)

__version__ = "0.1.0"

__all__ = ["backend", "batches", "checkpoint", "data", "functional", "gradcheck", "layers",
           "metrics", "models", "optim", "paper", "train", "__version__"]
