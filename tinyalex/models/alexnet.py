"""The paper's AlexNet: §3.5 and Figure 2, as two towers on two devices (§3.2).

The network, for one 227x227 RGB image (shapes are for both towers together; each tower holds
half of every layer's kernels, the "48" and "128" of Figure 2):

    layer  what                                            output       tower input
    conv1  96 kernels 11x11x3, stride 4; ReLU; LRN; pool    96x55x55     the image
    conv2  256 kernels 5x5x48, pad 2; ReLU; LRN; pool       256x27x27    own tower's maps
    conv3  384 kernels 3x3x256, pad 1; ReLU                 384x13x13    BOTH towers' maps
    conv4  384 kernels 3x3x192, pad 1; ReLU                 384x13x13    own tower's maps
    conv5  256 kernels 3x3x192, pad 1; ReLU; pool           256x13x13    own tower's maps
    fc6    4096 units; ReLU; dropout 0.5                    4096         BOTH towers' pool5
    fc7    4096 units; ReLU; dropout 0.5                    4096         BOTH halves of fc6
    fc8    num_classes units (the softmax's logits)         1000         BOTH halves of fc7

LRN is the paper's (k=2, n=5, alpha=1e-4, beta=0.75, §3.3), pooling is overlapping 3x3 with
stride 2 (§3.4), and the paddings (2 for 5x5, 1 for 3x3) are the ones that keep Figure 2's map
sizes (27 -> 27, 13 -> 13); the paper does not state them. 60,965,224 parameters for 1000 classes.

**Input size: 227, not the paper's 224.** The paper feeds 224x224 patches (§4.1) and calls the
input 150,528-dimensional (224*224*3), but conv1's 11x11 windows at stride 4 make 55x55 maps
(Figure 2) only if ``(S - 11)/4 + 1 = 55``, i.e. S = 227: then the windows tile the image
exactly (4*54 + 11 = 227), with no padding. With S = 224 and no padding conv1 gives 54x54 and
everything after it is off (conv2 would hold 26*26*256 = 173,056 neurons, not the paper's
186,624). We take 227, as Caffe's reference model did; torchvision's AlexNet (a later variant)
instead pads 224 by 2 pixels (``(224 + 4 - 11)//4 + 1 = 55``, the floor dropping a 1/4 step).
The data pipeline must therefore cut 227x227 patches for this network. With 227 the
neurons per layer are 290,400 - 186,624 - 64,896 - 64,896 - 43,264 - 4096 - 4096 - 1000,
exactly the paper's list except its first number, 253,440 (``test_alexnet.py`` checks both).

*The paper's 253,440.* Certain: conv1 has 96 maps of 55x55, i.e. 55*55*96 = 290,400 neurons;
253,440 = 2^9 * 3^2 * 5 * 11 = 55*48*96, and 253,440/96 = 2,640 is not a square, so no square
map with 96 kernels has that many neurons. Conjecture (the most economical one we know): a slip
in the arithmetic that put 48, the kernels per GPU, where one 55 belonged:
55*48 * 48*2 = 253,440 against 55*55 * 48*2 = 290,400.

**Towers and devices** (§3.2: "half of the kernels (or neurons) on each GPU ... the GPUs
communicate only in certain layers"). ``devices=("cuda:0", "cuda:1")`` puts tower 0 on one GPU
and tower 1 on the other; ``devices=("cpu", "cpu")`` puts them on the two *logical* CPU devices
``cpu:0`` and ``cpu:1`` (equal CPU entries are numbered apart so the towers stay
distinguishable: a tower reading the other tower's array without a transfer is then caught on a
laptop, exactly as it would fail on two GPUs). ``devices=("cpu",)`` (one device) is the same
network with the towers as groups: conv2, conv4 and conv5 are grouped convolutions
(``groups=2``), LRN normalizes each half of the channels separately (a tower only sees its own
maps: a reading of §3.2 and §3.3, see ``layers.LRN``), and the exchanges below move nothing.
Its parameters are the two towers' joined along the first axis (``merge_towers``), and it
computes the same numbers, up to the rounding of sums taken in another order (a grouped
convolution adds both towers' kernels in one matrix product).

**Communication.** Each tower runs five stages of layers (conv1-pool2, conv3-pool5, fc6, fc7,
fc8); before each stage an ``Exchange`` hands every tower its input, and after the last one the
logits are gathered. Each is logged in ``model.transfer_log`` (``backend.TransferLog``) with
its label and the phase ``"forward"`` or ``"backward"``:

    label    forward (two towers)                      bytes per image, float32
    input    the batch, device 0 -> device 1           3*227*227*4 = 618,348
    conv3    each tower's pool2 maps to the other      128*13*13*4 = 86,528 each way
    fc6      each tower's pool5 (flattened) to other   128*6*6*4   = 18,432 each way
    fc7      each tower's half of fc6 to the other     2048*4      = 8,192 each way
    fc8      each tower's half of fc7 to the other     2048*4      = 8,192 each way
    logits   tower 1's half of the logits -> device 0  500*4       = 2,000

    per image: 863,036 bytes forward, 244,688 backward (all but "input"), 1,107,724 in all

conv3, fc6, fc7 and fc8 are the arrows of Figure 2. "input" and "logits" are the two ends of the
network: the batch arrives on the first device (``model.device``) and is copied to the second,
and, since each tower holds half of fc8's neurons (classes 0-499 on tower 0, 500-999 on tower
1), the logits are gathered on the first device, where the loss is computed. The backward pass
sends the gradients home along the same links, the same bytes in the other direction; a tower
whose output fed both towers adds the two gradients it gets back. The one exception is the
input: conv1 computes no gradient of the images (training never uses it), so nothing goes back
through the "input" exchange and ``backward`` returns ``None``. ``AlexNet(input_grad=True)``
computes it, sends tower 1's share back to device 0 (618,348 more bytes per image) and returns
``dL/dx``, e.g. for a gradient check with respect to the input.

**Workspaces.** The layers keep their temporaries in a ``functional.Workspace``
(``use_workspace``), reused from one step to the next instead of allocated anew: one per GPU
(its buffers live on that GPU), and one for all CPU devices, which share the machine's memory
and run one after the other (two towers on ``cpu:0`` and ``cpu:1`` then need no more scratch
memory than one device).

**Initialisation** (§5): weights N(0, 0.01^2), biases 1 in conv2, conv4, conv5, fc6 and fc7
and 0 elsewhere. ``weight_std="fan_in"`` draws N(0, 1/fan_in) instead (used by the gradient
check of a scaled-down net, where 0.01 would shrink the signal to rounding error). Every layer
draws from its own generator, spawned from ``seed``, and tower 0 draws before tower 1, so a
one-device and a two-tower network built with the same seed hold the same weights.
"""

from __future__ import annotations

import numpy

from .. import paper
from ..backend import Device, TransferLog, as_device, device_of, to_numpy
from ..functional import Workspace, _checks
from ..layers import LRN, Conv2d, Dropout, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential
from .exchange import Exchange

__all__ = ["AlexNet", "INPUT_SIZE", "merge_towers", "split_towers", "tower_devices"]

INPUT_SIZE = 227  # see the module docstring: 224 does not give Figure 2's 55x55 maps

# The smallest input that survives conv1 and the three poolings: 67 -> conv1 (67 - 11)/4 + 1 = 15
# -> pool1 (15 - 3)/2 + 1 = 7 -> pool2 3 -> pool5 1 (conv2..conv5 keep the size).
MIN_INPUT_SIZE = 67

# The layers with parameters, in the order they draw their initial weights.
PARAMETER_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")

# Before each stage, the exchange that hands every tower its input; after the last, "logits".
EXCHANGES = ("input", "conv3", "fc6", "fc7", "fc8")


def tower_devices(devices) -> tuple:
    """The towers' devices: one or two ``Device``\\ s; two equal CPU devices are numbered apart.

    ``("cpu", "cpu")`` -> ``(cpu:0, cpu:1)``; ``("cpu:2", "cpu:2")`` -> ``(cpu:2, cpu:3)``. Two
    equal GPUs cannot be told apart that way, so they are refused.
    """
    if isinstance(devices, (str, Device)):
        devices = (devices,)
    devices = tuple(as_device(d) for d in devices)
    if len(devices) not in (1, 2):
        raise ValueError(
            f"AlexNet: devices must name 1 or 2 devices (one per tower), got {len(devices)}"
        )
    if len(devices) == 2 and devices[0] == devices[1]:
        if devices[0].kind == "cuda":
            raise ValueError(
                f"AlexNet: both towers on {devices[0]} could not be told apart; use "
                f"devices=('{devices[0]}',) for the one-device (grouped) network"
            )
        devices = (devices[0], Device("cpu", devices[0].index + 1))
    return devices


def _even_positive(name: str, value) -> int:
    if not _checks.is_int(value) or value < 2 or value % 2:
        raise ValueError(f"AlexNet: {name} must be an even int >= 2 (half per tower), got {value!r}")
    return int(value)


class AlexNet(Module):
    """The paper's network, on one or two devices (see the module docstring).

    ``num_classes``: units of fc8 (split between the towers, tower 0 taking the odd one).
    ``devices``: one device, or two (one per tower). ``input_size``: the side S of the
    ``(N, 3, S, S)`` input (227; at least 67). ``channels``: kernels of conv1..conv5;
    ``hidden``: units of fc6 and fc7 (all even: half per tower; smaller values give the
    scaled-down network of the gradient check). ``dropout``: p of the dropout after fc6 and fc7,
    in [0, 1). ``weight_std``: 0.01 (§5) or ``"fan_in"``. ``seed``: an int >= 0, the initial
    weights (one generator per layer, tower 0 drawing first) and the dropout masks (one per
    dropout layer and tower). ``input_grad``: whether ``backward`` computes the gradient of the
    images (see "Communication" in the module docstring). ``inplace``: the ReLUs overwrite
    their inputs and gradients (faster, as training does; see ``layers.ReLU``).

    Parameter names: ``tower0.conv1.weight`` ... ``tower1.fc8.bias`` on two devices,
    ``conv1.weight`` ... ``fc8.bias`` on one. ``forward(x)`` takes ``x`` on ``model.device``
    (the first device) and returns the logits there; ``backward(dlogits)`` takes ``dlogits``
    there, of the logits' shape and dtype, and returns ``None``, or with ``input_grad=True``
    ``dx`` there.
    """

    def __init__(self, num_classes: int = paper.NUM_CLASSES, devices=("cpu", "cpu"), *,
                 input_size: int = INPUT_SIZE, channels=paper.CONV_CHANNELS,
                 hidden: int = paper.FC_HIDDEN, dropout: float = paper.DROPOUT_P,
                 weight_std=paper.INIT_STD, input_grad: bool = False, inplace: bool = False,
                 dtype=numpy.float32, seed: int = 0):
        self.devices = tower_devices(devices)
        self.device = self.devices[0]
        towers = len(self.devices)
        self.num_classes = _checks.int_at_least("AlexNet", "num_classes", num_classes, towers)
        input_size = _checks.int_at_least("AlexNet", "input_size", input_size, MIN_INPUT_SIZE)
        if len(channels) != 5:
            raise ValueError(
                f"AlexNet: channels must give the kernels of conv1..conv5, got {channels!r}"
            )
        self.channels = tuple(_even_positive(f"channels[{i}]", c) for i, c in enumerate(channels))
        self.hidden = _even_positive("hidden", hidden)
        seed = _checks.int_at_least("AlexNet", "seed", seed, 0)
        self.input_shape = (3, input_size, input_size)
        self.transfer_log = TransferLog()
        self._logits = None  # (shape, dtype) of the last forward's logits, until its backward

        root = numpy.random.SeedSequence(seed)
        init_rngs = {name: numpy.random.default_rng(child)
                     for name, child in zip(PARAMETER_LAYERS, root.spawn(len(PARAMETER_LAYERS)))}
        dropout_rngs = iter([numpy.random.default_rng(s) for s in root.spawn(2 * towers)])
        tower_stages = [self._tower(t, init_rngs, dropout_rngs, dropout, weight_std, input_grad,
                                    inplace, dtype) for t in range(towers)]
        self.stages = [list(stage) for stage in zip(*tower_stages)]  # stages[k][t]: stage k of tower t
        workspaces = {}  # one per memory: each GPU's, and the machine's for every CPU device
        for device, stages in zip(self.devices, tower_stages):
            memory = "cpu" if device.kind == "cpu" else str(device)
            workspace = workspaces.setdefault(memory, Workspace())
            for stage in stages:
                stage.use_workspace(workspace)
        first, every = self.devices[:1], self.devices
        self.exchanges = [Exchange("input", first, every, self.transfer_log)]
        self.exchanges += [Exchange(label, every, every, self.transfer_log) for label in EXCHANGES[1:]]
        self.exchanges.append(Exchange("logits", every, first, self.transfer_log))

    def _tower(self, t, init_rngs, dropout_rngs, dropout, weight_std, input_grad, inplace,
               dtype) -> list:
        """Tower ``t``'s five stages, each a ``Sequential`` (the whole net if on one device)."""
        towers = len(self.devices)
        groups = 2 // towers  # on one device the two towers become two groups
        c1, c2, c3, c4, c5 = (c // towers for c in self.channels)  # this tower's kernels
        hidden = self.hidden // towers
        classes = self.num_classes // towers + (t < self.num_classes % towers)
        device = self.devices[t]

        def init(layer):  # §5: weights N(0, std^2) from the layer's own generator, biases 1 or 0
            return dict(rng=init_rngs[layer], weight_std=weight_std,
                        bias=float(layer in paper.INIT_BIAS_ONE), dtype=dtype, device=device)

        here = {"device": device}
        name = f"tower{t}" if towers > 1 else ""

        def relu():
            return ReLU(inplace, **here)

        features = Sequential({
            "conv1": Conv2d(3, c1, 11, stride=4, input_grad=input_grad, **init("conv1")),
            "relu1": relu(), "lrn1": LRN(groups=groups, **here), "pool1": MaxPool2d(**here),
            "conv2": Conv2d(c1, c2, 5, padding=2, groups=groups, **init("conv2")),  # own maps only
            "relu2": relu(), "lrn2": LRN(groups=groups, **here), "pool2": MaxPool2d(**here),
        }, name=name)
        convs = Sequential({
            "conv3": Conv2d(self.channels[1], c3, 3, padding=1, **init("conv3")),  # both towers' maps
            "relu3": relu(),
            "conv4": Conv2d(c3, c4, 3, padding=1, groups=groups, **init("conv4")),
            "relu4": relu(),
            "conv5": Conv2d(c4, c5, 3, padding=1, groups=groups, **init("conv5")),
            "relu5": relu(), "pool5": MaxPool2d(**here), "flatten": Flatten(**here),
        }, name=name)
        maps = features.output_shape(self.input_shape)
        pool5 = convs.output_shape((self.channels[1], *maps[1:]))[0]
        classifier = [
            {"fc6": Linear(towers * pool5, hidden, **init("fc6")),  # both towers' pool5
             "relu6": relu(), "drop6": Dropout(dropout, rng=next(dropout_rngs), **here)},
            {"fc7": Linear(self.hidden, hidden, **init("fc7")),  # both halves of fc6
             "relu7": relu(), "drop7": Dropout(dropout, rng=next(dropout_rngs), **here)},
            {"fc8": Linear(self.hidden, classes, **init("fc8"))},  # both halves of fc7
        ]
        return [features, convs] + [Sequential(layers, name=name) for layers in classifier]

    def children(self):
        return [(stage[t].name, stage[t]) for t in range(len(self.devices)) for stage in self.stages]

    def forward(self, x):
        """Logits ``(N, num_classes)`` on ``model.device`` for images ``x`` ``(N, 3, S, S)`` there."""
        self._check_input(x)
        arrays = [x]
        for exchange, stage in zip(self.exchanges, self.stages):
            arrays = exchange.forward(arrays)
            arrays = [tower.forward(a) for tower, a in zip(stage, arrays)]
        logits = self.exchanges[-1].forward(arrays)[0]
        self._logits = (tuple(logits.shape), logits.dtype)
        return logits

    def backward(self, dout):
        """``dL/dx`` (``None`` unless ``input_grad``) for ``dout = dL/dlogits``; every parameter's
        gradient lands in ``grads``.

        ``dout`` is checked against the logits (an array of their shape and dtype, on
        ``model.device``) before the exchanges use up the forward pass, so a refused ``dout``
        changes nothing, logs no transfer, and a corrected one can follow.
        """
        if self._logits is None:
            raise RuntimeError("AlexNet: backward without a forward (one backward per forward)")
        shape, dtype = self._logits
        _checks.dout_like("AlexNet", dout, shape, dtype)
        if device_of(dout) != self.device:
            raise ValueError(
                f"AlexNet: dout is on {device_of(dout)}, but the logits are on {self.device}; "
                "an array changes device only by a transfer (backend.to_device)"
            )
        self._logits = None
        grads = self.exchanges[-1].backward([dout])
        for exchange, stage in zip(self.exchanges[-2::-1], self.stages[::-1]):
            grads = [tower.backward(g) for tower, g in zip(stage, grads)]
            grads = exchange.backward(grads)
        return grads[0]

    def _summary_rows(self, shape):
        rows, shapes = [], [shape]
        link = "<->".join(map(str, self.devices))
        for exchange, stage in zip(self.exchanges, self.stages + [[]]):
            shapes = exchange.output_shapes(shapes)
            if exchange.crosses:
                rows.append((f"exchange {exchange.label}", link, shapes[0], 0))
            if stage:
                results = [tower._summary_rows(s) for tower, s in zip(stage, shapes)]
                rows += [row for more, _ in results for row in more]
                shapes = [s for _, s in results]
        return rows, shapes[0]


def merge_towers(arrays: dict) -> dict:
    """A two-tower dict (``state_dict()`` or ``grads``) in the one-device layout.

    ``tower0.X`` and ``tower1.X`` are joined along their first axis (kernels, or output units)
    into ``X``: exactly the parameters of ``AlexNet(devices=(one device,))``. Host arrays.
    """
    names = [key.removeprefix("tower0.") for key in arrays if key.startswith("tower0.")]
    if set(arrays) != {f"tower{t}.{name}" for name in names for t in (0, 1)}:
        raise ValueError(f"merge_towers: expected tower0.* and tower1.* pairs, got {sorted(arrays)}")
    return {name: numpy.concatenate([to_numpy(arrays[f"tower{t}.{name}"]) for t in (0, 1)])
            for name in names}


def split_towers(arrays: dict) -> dict:
    """The inverse of ``merge_towers``: ``X`` -> ``tower0.X``, ``tower1.X`` (first halves first)."""
    return {f"tower{t}.{name}": part for name, array in arrays.items()
            for t, part in enumerate(numpy.array_split(to_numpy(array), 2))}
