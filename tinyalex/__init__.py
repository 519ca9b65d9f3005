"""tinyalex: AlexNet (Krizhevsky, Sutskever & Hinton, NIPS 2012) from scratch in NumPy and CuPy.

Modules, from the bottom up (a lower one never imports a higher one):

* ``tinyalex.backend``     NumPy/CuPy, devices, explicit transfers
* ``tinyalex.paper``       the paper's constants, each with its section
* ``tinyalex.functional``  pure forward/backward pairs, one file per paper concept
* ``tinyalex.gradcheck``   centred finite differences and relative errors
"""

from . import backend, functional, gradcheck, paper

__version__ = "0.1.0"

__all__ = ["backend", "functional", "gradcheck", "paper", "__version__"]
