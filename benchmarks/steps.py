"""Whole SGD steps of the Figure-1 net and AlexNet, tinyalex against the same network in PyTorch.

One step: forward, softmax cross-entropy, backward, and the paper's update (§5)

    v <- 0.9 v - 0.0005 lr w - lr g;    w <- w + v

on every parameter. PyTorch's ``SGD(momentum=0.9, weight_decay=5e-4)`` keeps
``b <- 0.9 b + (g + 0.0005 w)`` and steps ``w <- w - lr b``: the same trajectory while ``lr``
stays fixed (``v = -lr b``), but not after ``lr`` changes (it rescales the whole history with
the new rate, where the paper's ``v`` keeps the old steps), and other arithmetic. So the PyTorch
side applies the paper's rule itself, under ``torch.no_grad()``, in the same three passes over
``v`` as tinyalex.

Same network on both sides: the same layers and paddings, the paper's LRN (PyTorch gets
``alpha = n * alpha_paper``, and AlexNet's is grouped like tinyalex's one-device network),
overlapping 3/2 max pooling, dropout 0.5 after fc6 and fc7 (PyTorch's is inverted, tinyalex's
the paper's: the same work), the same initial weights (the one-device tinyalex model's),
inputs and labels. Neither side computes the images' gradient. PyTorch's ReLUs work in place,
as in torchvision's AlexNet.

The cross-check builds both sides with dropout off and in float64, runs one step and compares
the logits and the velocities (after one step ``-lr (g + 0.0005 w)``: the gradients, in
effect). Float64, because in float32 the two libraries' products and tanh round differently in
the last bit, which is enough to change which of two nearly equal values a max pool picks: each
such flip moves a whole term of a weight gradient (measured: conv1's velocity differed by up to
5e-3 of its largest entry for the tanh net, while each side was within 3e-6 of float64 except
at the flips). In float64 they agree to within about 1e-14 (relative).
"""

from __future__ import annotations

from collections import OrderedDict

import cases
from cases import Case, Side, normal

def _same(state):
    return state


def _weights(arrays: dict) -> dict:
    """The ``param.<name>`` arrays of a case's inputs, by name."""
    return {k.removeprefix("param."): v for k, v in arrays.items() if k.startswith("param.")}


def tinyalex_sgd(model, x, labels):
    """One SGD step of the tinyalex ``model`` on ``x`` and ``labels`` (on its device), in two
    halves: ``(backward, update)``. ``backward()`` runs the forward pass, the loss and the
    backward pass and returns the logits; ``update()`` is ``tinyalex.optim.SGD``'s step with
    the paper's hyper-parameters (its defaults) and returns the velocities."""
    from tinyalex import functional as F
    from tinyalex.optim import SGD

    optimizer = SGD(model.params)

    def backward():
        logits = model.forward(x)
        _, dlogits = F.softmax_cross_entropy(logits, labels)
        model.backward(dlogits)
        return logits

    def update():
        optimizer.step(model.grads)
        return optimizer.velocity

    return backward, update


def torch_sgd(net, weights: dict, x, labels, device: str):
    """The same for the PyTorch ``net`` (on ``device``), loaded with ``weights`` (NumPy arrays
    by tinyalex's names), on NumPy ``x`` and ``labels``; ``update()`` applies the paper's rule
    itself (see the module docstring), with the constants of ``tinyalex.paper``."""
    import torch
    import torch.nn.functional as TF

    from tinyalex import paper

    lr, momentum, decay = paper.LEARNING_RATE, paper.MOMENTUM, paper.WEIGHT_DECAY
    net.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    params = list(net.parameters())
    velocity = [torch.zeros_like(p) for p in params]
    x, labels = (torch.from_numpy(a).to(device) for a in (x, labels))

    def backward():
        for p in params:
            p.grad = None
        logits = net(x)
        TF.cross_entropy(logits, labels).backward()
        return logits.detach()

    def update():
        with torch.no_grad():
            for p, v in zip(params, velocity):
                v.mul_(momentum).add_(p, alpha=-decay * lr).add_(p.grad, alpha=-lr)
                p.add_(v)
        return velocity

    return backward, update


def _tinyalex_step(make_model, to_model=_same, from_model=_same):
    """A ``Side`` builder: ``make_model(device, dropout)``, loaded with the case's weights (through
    ``to_model``: one-device names to the model's; ``from_model`` back) and stepped by
    ``tinyalex_sgd``."""

    def build(arrays, device, check=False):
        import numpy as np

        from tinyalex.backend import to_device

        if check:
            arrays = _float64(arrays)
        model = make_model(device, 0.0 if check else 0.5, np.float64 if check else np.float32)
        model.load_state_dict(to_model(_weights(arrays)))
        if not cases.USE_WORKSPACE:
            model.use_workspace(None)
        x, labels = (to_device(arrays[key], model.device) for key in ("x", "labels"))
        backward, update = tinyalex_sgd(model, x, labels)

        def step():
            logits = backward()
            velocity = update()
            return (logits, *from_model(velocity).values()) if check else (logits,)

        workspaces = {id(layer.workspace): layer.workspace for layer in model.leaves()
                      if layer.workspace is not None}
        return Side(step, lambda: (), workspaces=tuple(workspaces.values()))

    return build


def _torch_step(make_net):
    """A ``Side`` builder: the ``torch.nn.Sequential`` of ``make_net(dropout)``, whose parameter
    names are tinyalex's, loaded with the case's weights and stepped by ``torch_sgd``."""

    def build(arrays, device, check=False):
        import torch

        if check:
            arrays = _float64(arrays)
        net = make_net(0.0 if check else 0.5).to(device, torch.float64 if check else None).train()
        backward, update = torch_sgd(net, _weights(arrays), arrays["x"], arrays["labels"], device)

        def step():
            logits = backward()
            velocity = update()
            return (logits, *velocity) if check else (logits,)

        return Side(step, lambda: ())

    return build


def _float64(arrays: dict) -> dict:
    return {k: v.astype("float64") if v.dtype.kind == "f" else v for k, v in arrays.items()}


def _inputs(make_weights, batch: int, size: int, classes: int):
    """Images, labels and ``param.<name>`` weights (from the tinyalex model ``make_weights()``)."""

    def inputs(rng):
        import numpy as np

        weights = make_weights().state_dict()
        return {"x": normal(rng, (batch, 3, size, size)),
                "labels": rng.integers(0, classes, batch).astype(np.int64),
                **{f"param.{name}": value for name, value in weights.items()}}

    return inputs


def figure1_case(activation: str) -> Case:
    """The Figure-1 net on CIFAR-sized images (3x32x32, 10 classes), batch 128."""

    def make_model(device="cpu", dropout=None, dtype="float32"):  # no dropout in this net
        from tinyalex.models import Figure1Net

        return Figure1Net(activation, inplace=True, device=device, dtype=dtype)

    return Case(f"step figure-1 {activation}, batch 128, 3x32x32",
                _inputs(make_model, 128, 32, 10), _tinyalex_step(make_model),
                _torch_step(lambda dropout: _figure1_torch(activation)), target=1.3,
                gpu_target=2.0, split=False)


def _figure1_torch(activation: str):
    """tinyalex's Figure-1 net (3x32x32 images, 10 classes) in PyTorch, with the same layer
    names (and a ``flatten`` before ``fc``)."""
    from torch import nn

    layers, channels = [], 3
    for i, kernels in enumerate((32, 32, 64), start=1):
        act = nn.ReLU(inplace=True) if activation == "relu" else nn.Tanh()
        layers += [(f"conv{i}", nn.Conv2d(channels, kernels, 5, padding=2)),
                   (f"{activation}{i}", act), (f"pool{i}", nn.MaxPool2d(3, 2))]
        channels = kernels
    layers += [("flatten", nn.Flatten()), ("fc", nn.Linear(64 * 3 * 3, 10))]
    return nn.Sequential(OrderedDict(layers))


def _alexnet_torch(dropout):
    """tinyalex's one-device AlexNet in PyTorch, with the same layer names."""
    import torch
    from torch import nn

    from tinyalex import paper

    class GroupedLRN(nn.Module):
        """tinyalex's one-device LRN: each tower's half of the channels normalized on its own."""

        def __init__(self):
            super().__init__()
            self.lrn = nn.LocalResponseNorm(paper.LRN_N, alpha=paper.LRN_N * paper.LRN_ALPHA,
                                            beta=paper.LRN_BETA, k=paper.LRN_K)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            n, c, h, w = x.shape
            return self.lrn(x.reshape(2 * n, c // 2, h, w)).reshape(n, c, h, w)

    def relu():
        return nn.ReLU(inplace=True)

    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(3, 96, 11, stride=4)), ("relu1", relu()), ("lrn1", GroupedLRN()),
        ("pool1", nn.MaxPool2d(3, 2)),
        ("conv2", nn.Conv2d(96, 256, 5, padding=2, groups=2)), ("relu2", relu()),
        ("lrn2", GroupedLRN()), ("pool2", nn.MaxPool2d(3, 2)),
        ("conv3", nn.Conv2d(256, 384, 3, padding=1)), ("relu3", relu()),
        ("conv4", nn.Conv2d(384, 384, 3, padding=1, groups=2)), ("relu4", relu()),
        ("conv5", nn.Conv2d(384, 256, 3, padding=1, groups=2)), ("relu5", relu()),
        ("pool5", nn.MaxPool2d(3, 2)), ("flatten", nn.Flatten()),
        ("fc6", nn.Linear(256 * 6 * 6, 4096)), ("relu6", relu()), ("drop6", nn.Dropout(dropout)),
        ("fc7", nn.Linear(4096, 4096)), ("relu7", relu()), ("drop7", nn.Dropout(dropout)),
        ("fc8", nn.Linear(4096, 1000)),
    ]))


def alexnet_case(towers: int, batch: int = 32, default: bool = True) -> Case:
    """The paper's AlexNet (227x227, 1000 classes) on one device (grouped convolutions), or as two
    towers on two logical CPU devices; PyTorch runs the one-device network either way."""

    def make_model(device="cpu", dropout=0.5, dtype="float32"):
        from tinyalex.models import AlexNet

        return AlexNet(devices=(device,) * towers, dropout=dropout, inplace=True, dtype=dtype)

    def split(state):
        from tinyalex.models import split_towers

        return split_towers(state)

    def merge(state):
        from tinyalex.models import merge_towers

        return merge_towers(state)

    def one_device():
        from tinyalex.models import AlexNet

        return AlexNet(devices=("cpu",))

    where = "one device (grouped)" if towers == 1 else "two towers (cpu:0, cpu:1)"
    return Case(f"step alexnet {where}, batch {batch}, 3x227x227",
                _inputs(one_device, batch, 227, 1000),
                _tinyalex_step(make_model, *((split, merge) if towers == 2 else ())),
                _torch_step(_alexnet_torch), target=1.5, gpu_target=2.0, split=False,
                default=default)


def torch_net(model: str, dropout: float = 0.5):
    """The PyTorch twin of ``model`` ("figure1-relu", "figure1-tanh" or "alexnet", the one-device
    network), with tinyalex's parameter names."""
    if model == "alexnet":
        return _alexnet_torch(dropout)
    return _figure1_torch(model.split("-")[1])


def step_cases() -> list[Case]:
    return [figure1_case("relu"), figure1_case("tanh"), alexnet_case(1),
            alexnet_case(2, default=False)]
