"""The four-layer convolutional network of the paper's Figure 1 (§3.1): ReLU against tanh.

Figure 1: "A four-layer convolutional neural network with ReLUs (solid line) reaches a 25%
training error rate on CIFAR-10 six times faster than an equivalent network with tanh neurons
(dashed line). The learning rates for each network were chosen independently to make training
as fast as possible. No regularization of any kind was employed."

The paper does not spell the network out; this one follows Krizhevsky's cuda-convnet CIFAR-10
networks:

    conv1  32 kernels 5x5, pad 2 -> activation -> max pool 3/2 -> [LRN]
    conv2  32 kernels 5x5, pad 2 -> activation -> max pool 3/2 -> [LRN]
    conv3  64 kernels 5x5, pad 2 -> activation -> max pool 3/2
    fc     num_classes units (the softmax's logits)

The convolutions keep the size and each pool takes ``floor((S - 3)/2) + 1``, so a 32x32
CIFAR-10 image goes 32 -> 15 -> 7 -> 3 (fc sees 64*3*3 = 576 features) and a 28x28
Fashion-MNIST one 28 -> 13 -> 6 -> 2 (256 features). A pool needs ``2s + 1`` rows for ``s``
outputs, so the smallest input is 15 -> 7 -> 3 -> 1.

Choices made here:

* ``activation`` is ``"relu"`` or ``"tanh"``, the only difference between Figure 1's two curves.
* All three pools are the paper's overlapping max pools (§3.4); ``lrn=True`` adds the paper's
  LRN (n=5, k=2, alpha=1e-4, beta=0.75, §3.3) after the first two.
* No dropout, as in the quote; for "no regularization" train with ``SGD(weight_decay=0)``.
* conv1 computes no gradient of the images (``input_grad=False``; training does not need it),
  so ``backward`` returns ``None``; ``input_grad=True`` brings it back, e.g. for a gradient
  check with respect to the input.
* The layers share one ``functional.Workspace`` for their temporaries (``use_workspace``).
* Initialisation: ``weight_std="fan_in"`` (the default) draws weights from N(0, 1/fan_in),
  ``fan_in`` being the inputs of one unit (75 for conv1 on RGB); biases are 0. The same rule for
  both activations, so with the same ``seed`` the ReLU and the tanh network start from the very
  same weights and differ only in their nonlinearity. ``weight_std=0.01`` is the paper's §5
  value for AlexNet; a reference run (PyTorch on a CPU, this network, Fashion-MNIST) found that
  with it the network does not start learning within an epoch at learning rates up to 0.03,
  while at 0.1 both activations train. The fan-in rule trains at ordinary rates.
"""

from __future__ import annotations

import math

import numpy

from ..functional import Workspace, _checks
from ..layers import LRN, Conv2d, Linear, MaxPool2d, ReLU, Sequential, Tanh

__all__ = ["Figure1Net"]

ACTIVATIONS = {"relu": ReLU, "tanh": Tanh}

MIN_INPUT_SIZE = 15  # the smallest input the three 3/2 pools take: 15 -> 7 -> 3 -> 1


class Figure1Net(Sequential):
    """The Figure 1 network (see the module docstring) for ``(N, in_channels, S, S)`` images.

    Layers ``conv1, relu1 (or tanh1), pool1, [lrn1], conv2, ..., pool3, fc``; parameters
    ``conv1.weight`` ... ``conv3.bias``, ``fc.weight``, ``fc.bias``. ``input_size``: S, at
    least 15 (``MIN_INPUT_SIZE``); ``num_classes``: units of fc, at least 1. ``weight_std`` is
    ``"fan_in"`` or a number; ``seed`` fixes the initial weights. ``input_grad``: whether
    ``backward`` returns the gradient of the images (default: ``None`` instead). ``inplace``:
    the activations overwrite their inputs and gradients (3-4% faster, as training does; keep it
    off to look at the activations; see ``layers.ReLU``).
    """

    def __init__(self, activation: str = "relu", lrn: bool = False, *, in_channels: int = 3,
                 input_size: int = 32, num_classes: int = 10, weight_std="fan_in",
                 input_grad: bool = False, inplace: bool = False, dtype=numpy.float32,
                 device="cpu", seed: int = 0):
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"Figure1Net: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}"
            )
        in_channels = _checks.positive_int("Figure1Net", "in_channels", in_channels)
        num_classes = _checks.positive_int("Figure1Net", "num_classes", num_classes)
        input_size = _checks.int_at_least("Figure1Net", "input_size", input_size, MIN_INPUT_SIZE)
        seed = _checks.int_at_least("Figure1Net", "seed", seed, 0)
        self.activation, self.lrn = activation, _checks.flag("Figure1Net", "lrn", lrn)
        rng = numpy.random.default_rng(seed)
        layers = {}
        channels = in_channels
        for i, kernels in enumerate((32, 32, 64), start=1):
            layers[f"conv{i}"] = Conv2d(channels, kernels, 5, padding=2, rng=rng,
                                        weight_std=weight_std, input_grad=input_grad or i > 1,
                                        dtype=dtype, device=device)
            layers[f"{activation}{i}"] = ACTIVATIONS[activation](inplace, device=device)
            layers[f"pool{i}"] = MaxPool2d(device=device)
            if lrn and i < 3:
                layers[f"lrn{i}"] = LRN(device=device)
            channels = kernels
        input_shape = (in_channels, input_size, input_size)
        features = math.prod(Sequential(layers).output_shape(input_shape))  # names them, too
        layers["fc"] = Linear(features, num_classes, rng=rng, weight_std=weight_std, dtype=dtype,
                              device=device)
        super().__init__(layers, input_shape=input_shape)
        self.use_workspace(Workspace())
