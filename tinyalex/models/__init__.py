"""Models: layers composed into networks, with the layer interface (see ``tinyalex.layers``).

* ``Sequential``  a chain of layers (defined in ``tinyalex.layers``, re-exported here)
* ``AlexNet``     the paper's network (§3.5, Figure 2), two towers on one or two devices
* ``Figure1Net``  the four-layer CIFAR-10 network of Figure 1, ReLU or tanh
* ``Exchange``    the explicit communication step between AlexNet's towers
"""

from ..layers import Sequential
from .alexnet import INPUT_SIZE, AlexNet, merge_towers, split_towers, tower_devices
from .exchange import Exchange
from .figure1 import Figure1Net

__all__ = [
    "INPUT_SIZE",
    "AlexNet",
    "Exchange",
    "Figure1Net",
    "Sequential",
    "merge_towers",
    "split_towers",
    "tower_devices",
]
