"""Layers: the ops of ``tinyalex.functional`` with parameters, gradients, a device and a mode.

Every layer here, and every model in ``tinyalex.models``, has the same interface; the training
loop, the checkpoints and the notebooks are written against it:

``forward(x)``
    The output for a batch ``x`` (NCHW images or ``(N, D)`` features).
``backward(dout)``
    Given ``dout = dL/d(output)`` of the last ``forward``, returns ``dL/dx`` and stores the
    gradient of every parameter in ``grads``. One ``backward`` per ``forward``. A layer built
    with ``input_grad=False`` (a network's first convolution: training never needs the
    gradient of the images) returns ``None`` instead of ``dL/dx``. A layer without parameters
    handed ``None`` passes it on (one with parameters refuses: it needs the gradient), so a
    model whose first layer skips it returns ``None`` from ``backward``.
``params``, ``grads``
    Dicts ``name -> array`` with the same keys. A layer's are ``"weight"`` and ``"bias"``, laid
    out as in PyTorch: convolution ``(out_channels, in_channels/groups, kh, kw)``, linear
    ``(out_features, in_features)``. A model qualifies them with the layer's name
    (``"conv1.weight"``, ``"tower1.fc6.bias"``) and builds the dicts afresh on every access, so
    read ``model.grads`` after ``backward``. ``grads`` holds zeros before the first ``backward``.
``device``
    The ``backend.Device`` that the layer's arrays live on.
``training``, ``train()``, ``eval()``
    The mode (only dropout cares). Both methods return the layer itself.
``state_dict()``, ``load_state_dict(state)``
    The parameters as host NumPy copies, ready for ``numpy.savez``; and back, after checking
    names, shapes and dtypes, copied into the existing arrays on their devices.
``summary(input_shape)``
    A table with one row per layer: its name, device, output shape (one image's, without the
    batch axis) and number of parameters.
``use_workspace(workspace)``
    Hand a ``functional.Workspace`` (or ``None``) to every layer below: the convolutions,
    poolings and LRNs then keep their large temporaries in it from one step to the next
    instead of allocating them afresh (see ``functional.workspace``). It changes no result.
    The models give their layers one when they are built (AlexNet one per GPU, and one for all
    CPU devices); a layer on its own has none.

**The gradient rule.** ``backward`` *overwrites* ``grads``: a step never sees the previous step's
gradients, so nothing needs zeroing before a step. A ``Linear`` layer writes them into the same
arrays every time (as Caffe's ``diff`` blobs, or PyTorch's ``.grad`` without ``set_to_none``):
AlexNet's fc6 weight gradient is 151 MB, too big to allocate afresh every step. So ``copy()``
an array read from ``grads`` to keep it past the next ``backward``. Where a model feeds one
output to two consumers (in AlexNet a tower's pooled conv2 maps feed both towers' conv3), the
model adds the two incoming gradients itself, explicitly: ``dx = dx_from_first + dx_from_second``.

**Device discipline** (paper §3.2: two GPUs, each reading only its own memory). A layer checks
that its input and ``dout`` live on its device (``backend.device_of``) and otherwise raises a
``ValueError`` naming the layer and both devices: moving an array is a transfer, and only
``backend.to_device`` does that. Outputs, input gradients and parameter gradients come back
on the layer's device (``backend.place``). Any ``ValueError`` from the functional op underneath
is raised again with the layer's name in front.

**Randomness** (initial weights, dropout masks) comes from the ``rng`` argument, a
``numpy.random.Generator`` or an int seed; nothing here touches global random state.
"""

from __future__ import annotations

import dataclasses
import math

import numpy

from . import functional as F
from . import paper
from .backend import HostArray, as_device, device_of, on_device, place, to_device, to_numpy
from .functional import _checks
from .functional.dropout import drop_probability
from .functional.lrn import lrn_constants

__all__ = [
    "Conv2d",
    "Dropout",
    "Flatten",
    "LRN",
    "Layer",
    "Linear",
    "MaxPool2d",
    "Module",
    "ReLU",
    "Sequential",
    "Summary",
    "Tanh",
    "assign",
    "load_arrays",
    "qualify",
    "unwrap",
]


# --------------------------------------------------------------------------------------------
# Helpers shared with the models and the optimizer


def unwrap(x):
    """A plain array for the functional ops: drop the ``HostArray`` device tag (no copy)."""
    return numpy.asarray(x) if isinstance(x, HostArray) else x


def assign(target, value) -> None:
    """Copy ``value`` (host or device array) into ``target`` in place, on ``target``'s device."""
    device = device_of(target)
    with on_device(device):
        target[...] = device.xp.asarray(to_numpy(value))


def load_arrays(targets: dict, source: dict, who: str) -> None:
    """Copy ``source[name]`` into ``targets[name]`` for every name, in place.

    The names must be the same, and each value must be an array with its target's shape and
    dtype (no silent casts). Everything is checked before anything is copied, so a failed load
    changes nothing. Errors start with ``who`` and name the array; they are ``ValueError``\\ s,
    except a value that is not an array at all (a list), a ``TypeError``.
    """
    missing = sorted(set(targets) - set(source))
    unexpected = sorted(set(source) - set(targets))
    if missing or unexpected:
        raise ValueError(f"{who}: names do not match: missing {missing}, unexpected {unexpected}")
    for name, target in targets.items():
        value = source[name]
        _checks.array(who, name, value)
        if tuple(value.shape) != tuple(target.shape):
            raise ValueError(
                f"{who}: {name} must have shape {tuple(target.shape)}, got {tuple(value.shape)}"
            )
        if value.dtype != target.dtype:
            raise ValueError(f"{who}: {name} must have dtype {target.dtype}, got {value.dtype}")
    for name, target in targets.items():
        assign(target, source[name])


def _image_shape(name: str, shape: tuple) -> tuple:
    """``shape`` as ``(C, H, W)``, or a ``ValueError`` naming the layer that needs one image."""
    if len(shape) != 3:
        raise ValueError(
            f"{name}: expects one image of shape (C, H, W), without the batch axis, "
            f"got {tuple(shape)}"
        )
    return tuple(shape)


def qualify(prefix: str, name: str) -> str:
    """``"prefix.name"``, or ``name`` alone when ``prefix`` is empty: hierarchical names."""
    return f"{prefix}.{name}" if prefix else name


@dataclasses.dataclass
class Summary:
    """A model's layers as a table: ``rows`` of ``(name, device, output shape, parameters)``."""

    rows: list

    @property
    def total_params(self) -> int:
        return sum(row[3] for row in self.rows)

    def __str__(self) -> str:
        width = max([len("layer")] + [len(row[0]) for row in self.rows])
        lines = [f"{'layer':{width}}  {'device':13}  {'output shape':18}  {'parameters':>12}"]
        for name, device, shape, count in self.rows:
            lines.append(f"{name:{width}}  {device:13}  {str(shape):18}  {count:12,d}")
        lines.append(f"{'total':{width}}  {'':13}  {'':18}  {self.total_params:12,d}")
        return "\n".join(lines)

    __repr__ = __str__


# --------------------------------------------------------------------------------------------
# The interface


class Module:
    """What every layer and every model has (see the module docstring).

    A container lists its parts in ``children()`` as ``(prefix, module)`` pairs; its ``params``
    and ``grads`` are its children's, with ``prefix.`` in front of each name (no prefix when it
    is ``""``), and ``train()``/``eval()`` reach every child. Two parameters with the same
    qualified name are an error, not one silently hiding the other.
    """

    name: str = ""
    training: bool = True
    input_shape: tuple | None = None  # one input's shape without the batch axis, if fixed

    def children(self) -> list:
        return []

    def leaves(self):
        """Every ``Layer`` inside this module, in the order of ``children()``."""
        for _, child in self.children():
            yield from child.leaves()

    def architecture(self) -> list:
        """What the network computes, one line per layer (``"conv1: Conv2d(in_channels=3, ...)"``):
        the layers' names, kinds and hyper-parameters, not their devices, weights or speed-ups
        (``inplace``). ``Trainer.load`` holds a checkpoint to it."""
        return [f"{leaf.name}: {leaf!r}" for leaf in self.leaves()]

    def _collect(self, attribute: str) -> dict:
        out = {}
        for prefix, child in self.children():
            for key, value in getattr(child, attribute).items():
                name = qualify(prefix, key)
                if name in out:
                    raise ValueError(
                        f"{self.label}: two parameters are named {name!r}; give the parts "
                        "distinct names"
                    )
                out[name] = value
        return out

    @property
    def params(self) -> dict:
        return self._collect("params")

    @property
    def grads(self) -> dict:
        return self._collect("grads")

    @property
    def num_params(self) -> int:
        return sum(int(p.size) for p in self.params.values())

    @property
    def label(self) -> str:
        """The name used in error messages: the layer's name, or the class name at the top."""
        return self.name or type(self).__name__

    def train(self, mode: bool = True):
        self.training = _checks.flag(self.label, "mode", mode)
        for _, child in self.children():
            child.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def use_workspace(self, workspace):
        """Give every layer below ``workspace`` (a ``functional.Workspace``, or None); returns self."""
        for _, child in self.children():
            child.use_workspace(workspace)
        return self

    def state_dict(self) -> dict:
        """``{name: host NumPy copy}`` of every parameter, for ``numpy.savez``."""
        return {name: numpy.array(to_numpy(value)) for name, value in self.params.items()}

    def load_state_dict(self, state: dict):
        """Copy ``state`` into the parameters in place (an optimizer holding them keeps working)."""
        load_arrays(self.params, state, f"{self.label}.load_state_dict")
        return self

    def summary(self, input_shape: tuple | None = None) -> Summary:
        """One row per layer for one input of ``input_shape`` (default: the model's own).

        An input the model cannot take (a shape of another length, too few channels, too
        small) is a ``ValueError`` naming the model and the layer that refuses it.
        """
        shape = input_shape or self.input_shape
        if shape is None:
            raise ValueError(f"{self.label}.summary: give the input shape, e.g. (3, 32, 32)")
        try:
            rows, _ = self._summary_rows(tuple(shape))
        except ValueError as error:
            raise ValueError(f"{self.label}.summary: {error}") from error
        return Summary(rows)

    def _check_input(self, x) -> None:
        if self.input_shape is not None and tuple(getattr(x, "shape", ())[1:]) != self.input_shape:
            raise ValueError(
                f"{self.label}: expected input of shape (N, {', '.join(map(str, self.input_shape))}), "
                f"got {getattr(x, 'shape', type(x).__name__)}"
            )


class Layer(Module):
    """A leaf: one functional op, its parameters and its device.

    Subclasses implement ``_forward(x) -> (out, cache)`` and ``_backward(dout, cache) -> dx``
    (storing parameter gradients with ``_store_grads``, or writing them into ``_grad(key)``)
    on plain arrays; this class checks devices, makes the device current, names the layer in
    errors and tags the results.
    ``workspace`` is what ``use_workspace`` gave it (None: the ops allocate their temporaries).
    """

    HYPER: tuple = ()  # the attributes that say what the layer computes, shown by repr()

    def __init__(self, *, device="cpu", name: str | None = None):
        self.device = as_device(device)
        self.name = name or type(self).__name__
        self.workspace = None
        self._params: dict = {}
        self._grads: dict = {}
        self._cache = None

    @property
    def params(self) -> dict:
        return self._params

    def leaves(self):
        yield self

    def __repr__(self) -> str:
        arguments = ", ".join(f"{a}={getattr(self, a)!r}" for a in self.HYPER)
        return f"{type(self).__name__}({arguments})"

    @property
    def grads(self) -> dict:
        return self._grads

    def output_shape(self, shape: tuple) -> tuple:
        """The shape of one output for one input of ``shape`` (no batch axis)."""
        return tuple(shape)

    def forward(self, x):
        out, self._cache = self._call(self._forward, self._arrive(x, "input"))
        return place(out, self.device)

    def use_workspace(self, workspace):
        self.workspace = workspace
        return self

    def backward(self, dout):
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward without a forward (one backward per forward)")
        if dout is None:  # a layer after this one skipped its input gradient
            if self._params:
                raise ValueError(
                    f"{self.name}: backward got no gradient (a layer after it was built with "
                    "input_grad=False), so its parameters' gradients cannot be computed"
                )
            self._cache = None
            return None
        dx = self._call(self._backward, self._arrive(dout, "dout"), self._cache)
        self._cache = None
        return None if dx is None else place(dx, self.device)

    def _arrive(self, x, what: str):
        where = device_of(x)
        if where != self.device:
            raise ValueError(
                f"{self.name}: {what} is on {where}, but the layer lives on {self.device}; "
                "an array changes device only by a transfer (backend.to_device)"
            )
        return unwrap(x)

    def _call(self, function, *args):
        with on_device(self.device):
            try:
                return function(*args)
            except ValueError as error:  # the op's message, and which layer called it
                raise ValueError(f"{self.name}: {error}") from error
            except TypeError as error:
                raise TypeError(f"{self.name}: {error}") from error

    def _param(self, key: str):
        return unwrap(self._params[key])

    def _init_params(self, rng, weight_shape: tuple, weight_std, bias: float, dtype) -> None:
        """``weight ~ N(0, std^2)`` of ``weight_shape`` and ``bias = bias``, zero gradients.

        ``weight_std`` is a number (paper §5: 0.01) or ``"fan_in"``: ``1/sqrt(fan_in)``, with
        ``fan_in = prod(weight_shape[1:])`` the number of inputs of one output unit. The
        initial weights and biases must be finite in ``dtype``: ``weight_std`` or ``bias``
        infinite or NaN, or so large that they overflow (``weight_std=1e300`` in float32), is a
        ``ValueError``.
        """
        dtype = numpy.dtype(dtype)
        if dtype not in (numpy.float32, numpy.float64):
            raise ValueError(f"{self.name}: dtype must be float32 or float64, got {dtype}")
        if weight_std == "fan_in":
            weight_std = 1.0 / math.sqrt(math.prod(weight_shape[1:]))
        if not _checks.is_real(weight_std) or not weight_std >= 0:
            raise ValueError(
                f"{self.name}: weight_std must be a number >= 0 or 'fan_in', got {weight_std!r}"
            )
        if not _checks.is_real(bias):
            raise ValueError(f"{self.name}: bias must be a number, got {bias!r}")
        weight = _checks.seeded(self.name, "rng", rng).standard_normal(weight_shape, dtype=dtype)
        with numpy.errstate(over="ignore", invalid="ignore"):  # refused below, by argument
            weight *= dtype.type(weight_std)
            initial = {"weight": weight, "bias": numpy.full(weight_shape[0], bias, dtype=dtype)}
        for key, argument in (("weight", f"weight_std={weight_std!r}"), ("bias", f"bias={bias!r}")):
            if not numpy.isfinite(initial[key]).all():
                raise ValueError(
                    f"{self.name}: {argument} gives {key} values that are not finite in {dtype} "
                    f"(largest finite: {numpy.finfo(dtype).max:.4g})"
                )
        for key, host in initial.items():
            self._params[key] = to_device(host, self.device)
            with on_device(self.device):
                self._grads[key] = place(self.device.xp.zeros(host.shape, dtype), self.device)

    def _grad(self, key: str):
        return unwrap(self._grads[key])

    def _store_grads(self, **grads) -> None:
        for key, grad in grads.items():
            self._grads[key] = place(grad, self.device)

    def _summary_rows(self, shape: tuple):
        out = self.output_shape(shape)
        return [(self.name, str(self.device), out, self.num_params)], out


# --------------------------------------------------------------------------------------------
# Layers with parameters


class Conv2d(Layer):
    """2-D convolution (paper §3.5), grouped as on two GPUs (§3.2). See ``functional.conv``.

    x ``(N, in_channels, H, W)`` -> ``(N, out_channels, OH, OW)`` with
    ``OH = (H + 2*padding - kh) // stride + 1``;
    ``out[n, f] = bias[f] + sum_{c, i, j} weight[f, c, i, j] * xpad[n, g*C/G + c, p*s + i, q*s + j]``.
    weight ``(out_channels, in_channels/groups, kh, kw)`` drawn from N(0, weight_std^2) with
    ``rng``; bias ``(out_channels,)`` set to ``bias`` (paper §5: 0 or 1).
    ``input_grad=False``: ``backward`` computes the parameters' gradients only and returns
    ``None`` (for a first layer, whose input gradient training never uses); the public
    attribute ``input_grad`` can be switched later, e.g. for a gradient check of the input.
    """

    HYPER = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "groups")

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 groups: int = 1, *, rng, weight_std=paper.INIT_STD, bias: float = 0.0,
                 input_grad: bool = True, dtype=numpy.float32, device="cpu",
                 name: str | None = None):
        super().__init__(device=device, name=name)
        self.input_grad = _checks.flag(self.name, "input_grad", input_grad)
        self.in_channels = _checks.positive_int(self.name, "in_channels", in_channels)
        self.out_channels = _checks.positive_int(self.name, "out_channels", out_channels)
        self.groups = _checks.positive_int(self.name, "groups", groups)
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"{self.name}: in_channels={in_channels} and out_channels={out_channels} "
                f"must both be divisible by groups={groups}"
            )
        self.kernel_size = _checks.pair(self.name, "kernel_size", kernel_size, minimum=1)
        self.stride = _checks.pair(self.name, "stride", stride, minimum=1)
        self.padding = _checks.pair(self.name, "padding", padding, minimum=0)
        shape = (out_channels, in_channels // groups, *self.kernel_size)
        self._init_params(rng, shape, weight_std, bias, dtype)

    def output_shape(self, shape):
        c, h, w = _image_shape(self.name, shape)
        if c != self.in_channels:
            raise ValueError(
                f"{self.name}: expects {self.in_channels} input channels, got shape {tuple(shape)}"
            )
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        if kh > h + 2 * ph or kw > w + 2 * pw:
            raise ValueError(
                f"{self.name}: kernel {kh}x{kw} is larger than the padded input of shape {tuple(shape)}"
            )
        return (self.out_channels, F.conv_output_size(h, kh, sh, ph), F.conv_output_size(w, kw, sw, pw))

    def _forward(self, x):
        return F.conv2d_forward(x, self._param("weight"), self._param("bias"),
                                self.stride, self.padding, self.groups, self.workspace)

    def _backward(self, dout, cache):
        dx, dw, db = F.conv2d_backward(dout, cache, self.input_grad)
        self._store_grads(weight=dw, bias=db)
        return dx


class Linear(Layer):
    """Fully-connected layer (paper §3.5, layers 6-8): ``out = x.reshape(N, -1) @ weight.T + bias``.

    x ``(N, ...)`` flattening to ``in_features`` -> ``(N, out_features)``. weight
    ``(out_features, in_features)`` drawn from N(0, weight_std^2) with ``rng``; bias
    ``(out_features,)`` set to ``bias``.
    """

    HYPER = ("in_features", "out_features")

    def __init__(self, in_features: int, out_features: int, *, rng, weight_std=paper.INIT_STD,
                 bias: float = 0.0, dtype=numpy.float32, device="cpu", name: str | None = None):
        super().__init__(device=device, name=name)
        self.in_features = _checks.positive_int(self.name, "in_features", in_features)
        self.out_features = _checks.positive_int(self.name, "out_features", out_features)
        self._init_params(rng, (out_features, in_features), weight_std, bias, dtype)

    def output_shape(self, shape):
        if math.prod(shape) != self.in_features:
            raise ValueError(
                f"{self.name}: an input of shape {tuple(shape)} has {math.prod(shape)} features, "
                f"expected {self.in_features}"
            )
        return (self.out_features,)

    def _forward(self, x):
        return F.linear_forward(x, self._param("weight"), self._param("bias"))

    def _backward(self, dout, cache):
        # Written straight into the arrays of grads: fc6's weight gradient would otherwise be
        # 151 MB of fresh memory every step (about 10 ms to page in).
        dx, _, _ = F.linear_backward(dout, cache, (self._grad("weight"), self._grad("bias")))
        return dx


# --------------------------------------------------------------------------------------------
# Layers without parameters


class _Activation(Layer):
    """An element-wise activation; ``inplace=True`` writes the output over the input and the
    input gradient over the upstream gradient, as PyTorch's ``inplace=True``: no new arrays
    (a Figure-1 training step 3-4% faster), but an array kept from the layer before, or from
    the layer after in backward, is overwritten. The models use it only where asked to
    (``inplace=`` of ``Figure1Net`` and ``AlexNet``); keep it off to inspect activations.
    Subclasses set ``_ops = (forward, backward)``, the functional pair."""

    def __init__(self, inplace: bool = False, *, device="cpu", name: str | None = None):
        super().__init__(device=device, name=name)
        self.inplace = _checks.flag(self.name, "inplace", inplace)

    def _forward(self, x):
        return self._ops[0](x, out=x if self.inplace else None)

    def _backward(self, dout, cache):
        return self._ops[1](dout, cache, out=dout if self.inplace else None)


class ReLU(_Activation):
    """``out = max(0, x)`` (paper §3.1). Any shape. ``inplace``: see ``_Activation``."""

    _ops = (F.relu_forward, F.relu_backward)


class Tanh(_Activation):
    """``out = tanh(x)`` (paper §3.1, the saturating nonlinearity of Figure 1). Any shape.
    ``inplace``: see ``_Activation``."""

    _ops = (F.tanh_forward, F.tanh_backward)


class LRN(Layer):
    """Local response normalization across channels, the paper's formula (§3.3).

    ``b[i] = a[i] / (k + alpha * sum_{j=i-n/2}^{i+n/2} a[j]^2) ** beta`` (see ``functional.lrn``
    for the Caffe/PyTorch translation ``alpha_caffe = n * alpha``). With ``groups=G`` the
    ``C`` channels are normalized in ``G`` separate blocks of ``C/G`` (the sum never crosses a
    block boundary): AlexNet normalizes within each tower, and the one-device AlexNet its two
    halves separately, to compute the same thing. That is a reading of the paper, not a quote:
    §3.3 counts all the layer's kernels in ``N`` (96 for conv1), so taken literally the sums of
    maps 46-49 reach across the towers; §3.2 has the GPUs communicate only at conv3 and the
    fully-connected layers, which normalization inside a tower respects.
    x ``(N, C, H, W)`` -> the same shape.
    """

    HYPER = ("n", "k", "alpha", "beta", "groups")

    def __init__(self, n: int = paper.LRN_N, k: float = paper.LRN_K, alpha: float = paper.LRN_ALPHA,
                 beta: float = paper.LRN_BETA, groups: int = 1, *, device="cpu",
                 name: str | None = None):
        super().__init__(device=device, name=name)
        self.n, self.k, self.alpha, self.beta = lrn_constants(self.name, n, k, alpha, beta)
        self.groups = _checks.positive_int(self.name, "groups", groups)

    def output_shape(self, shape: tuple) -> tuple:
        self._check_groups(_image_shape(self.name, shape)[0], f"{self.name}: ")
        return tuple(shape)

    def _check_groups(self, c: int, prefix: str = "") -> None:
        if c % self.groups:
            raise ValueError(f"{prefix}{c} channels cannot be split into groups={self.groups}")

    def _forward(self, x):
        _checks.ndim("lrn_forward", "x", x, 4, "(N, C, H, W)")
        n, c, h, w = x.shape
        self._check_groups(c)  # _call adds the layer's name
        # Each group becomes an image of its own: (N, C, H, W) -> (N*G, C/G, H, W).
        out, cache = F.lrn_forward(x.reshape(n * self.groups, c // self.groups, h, w),
                                   self.n, self.k, self.alpha, self.beta, self.workspace)
        return out.reshape(x.shape), (cache, x.shape)

    def _backward(self, dout, cache):
        cache, shape = cache
        # Checked here, before the reshape: a dout of the grouped shape, or of another shape
        # with as many elements, would reshape without complaint into scrambled gradients.
        _checks.dout_like("lrn_backward", dout, shape, cache.x.dtype)
        n, c, h, w = shape
        dx = F.lrn_backward(dout.reshape(n * self.groups, c // self.groups, h, w), cache)
        return dx.reshape(shape)


class MaxPool2d(Layer):
    """Max pooling (paper §3.4: overlapping, 3x3 windows every 2 pixels).

    x ``(N, C, H, W)`` -> ``(N, C, OH, OW)``, ``OH = (H - kernel_size) // stride + 1``.
    """

    HYPER = ("kernel_size", "stride")

    def __init__(self, kernel_size: int = paper.POOL_SIZE, stride: int = paper.POOL_STRIDE, *,
                 device="cpu", name: str | None = None):
        super().__init__(device=device, name=name)
        self.kernel_size = _checks.positive_int(self.name, "kernel_size", kernel_size)
        self.stride = _checks.positive_int(self.name, "stride", stride)

    def output_shape(self, shape):
        c, h, w = _image_shape(self.name, shape)
        if self.kernel_size > min(h, w):
            size = self.kernel_size
            raise ValueError(
                f"{self.name}: window {size}x{size} is larger than the input of shape {tuple(shape)}"
            )
        return (c, F.conv_output_size(h, self.kernel_size, self.stride),
                F.conv_output_size(w, self.kernel_size, self.stride))

    def _forward(self, x):
        return F.maxpool2d_forward(x, self.kernel_size, self.stride, self.workspace)

    def _backward(self, dout, cache):
        return F.maxpool2d_backward(dout, cache)


class Dropout(Layer):
    """Dropout (paper §4.2) on any shape; the mask comes from this layer's own ``rng``.

    Training: ``out = x * m`` with ``m ~ Bernoulli(1 - p)`` drawn afresh on every forward;
    evaluation: ``out = x * (1 - p)``, the paper's scaling (``inverted=True`` scales by
    ``1/(1-p)`` while training instead and passes ``x`` through at test time). ``rng`` is a
    ``numpy.random.Generator`` or an int seed, so runs are reproducible; it is the public
    attribute ``rng``, which a test may replace to repeat a mask.
    """

    HYPER = ("p", "inverted")

    def __init__(self, p: float = paper.DROPOUT_P, *, rng, inverted: bool = False, device="cpu",
                 name: str | None = None):
        super().__init__(device=device, name=name)
        self.p = drop_probability(self.name, p)
        self.inverted = _checks.flag(self.name, "inverted", inverted)
        self.rng = _checks.seeded(self.name, "rng", rng)

    def _forward(self, x):
        return F.dropout_forward(x, self.p, train=self.training, rng=self.rng, inverted=self.inverted)

    def _backward(self, dout, cache):
        return F.dropout_backward(dout, cache)


class Flatten(Layer):
    """``(N, C, H, W)`` (or any ``(N, ...)``) -> ``(N, C*H*W)``, channel-major as in NumPy."""

    def output_shape(self, shape):
        return (math.prod(shape),)

    def _forward(self, x):
        _checks.min_ndim("Flatten.forward", "x", x, 2, "(N, ...)")
        out = x.reshape(x.shape[0], math.prod(x.shape[1:]))  # not -1: N may be 0
        return out, (x.shape, x.dtype)

    def _backward(self, dout, cache):
        shape, dtype = cache
        _checks.dout_like("Flatten.backward", dout, (shape[0], math.prod(shape[1:])), dtype)
        return dout.reshape(shape)


# --------------------------------------------------------------------------------------------
# A chain of layers


class Sequential(Module):
    """Layers applied one after the other: ``forward`` in order, ``backward`` in reverse.

    ``layers`` is a dict ``{name: layer}`` (the names prefix the parameter names:
    ``"conv1.weight"``, so they are non-empty strings without ``"."``, which would let a layer
    ``"a.b"`` and a layer ``"b"`` inside a container ``"a"`` both claim ``"a.b.weight"``) or a
    list (named ``"0"``, ``"1"``, ...). All layers must live on one device. ``name`` (default
    none) goes in front of the layers' names in error messages and summaries
    (``"tower1.conv3"``) but not in front of parameter names, which are relative to the
    container that holds them. ``input_shape`` (one input, no batch axis), if given, is checked
    on every ``forward`` and is the default for ``summary``.
    """

    def __init__(self, layers, *, name: str = "", input_shape: tuple | None = None):
        if not isinstance(layers, dict):
            layers = {str(i): layer for i, layer in enumerate(layers)}
        if not layers:
            raise ValueError("Sequential: needs at least one layer")
        for key in layers:
            if not isinstance(key, str) or not key or "." in key:
                raise ValueError(
                    f"Sequential {name!r}: layer names must be non-empty strings without '.' "
                    f"('.' joins the parts of a parameter name: 'conv1.weight'), got {key!r}"
                )
        devices = {str(layer.device) for layer in layers.values()}
        if len(devices) > 1:
            raise ValueError(
                f"Sequential {name!r}: all layers must live on one device, got {sorted(devices)}"
            )
        self.layers = dict(layers)
        self.device = next(iter(self.layers.values())).device
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        self.rename(name)

    def rename(self, name: str) -> None:
        """Call this container ``name`` and its layers ``name.key`` (errors and summaries)."""
        self.name = name
        for key, layer in self.layers.items():
            if isinstance(layer, Sequential):
                layer.rename(qualify(name, key))
            else:
                layer.name = qualify(name, key)

    def children(self):
        return list(self.layers.items())

    def output_shape(self, shape):
        """The shape of one output for one input of ``shape`` (no batch axis)."""
        for layer in self.layers.values():
            shape = layer.output_shape(shape)
        return shape

    def forward(self, x):
        self._check_input(x)
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def backward(self, dout):
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        return dout

    def _summary_rows(self, shape):
        rows = []
        for layer in self.layers.values():
            more, shape = layer._summary_rows(shape)
            rows += more
        return rows, shape
