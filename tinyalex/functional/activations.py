"""The two nonlinearities of the paper's Figure 1 (§3.1): ReLU and tanh.

ReLU, ``f(x) = max(0, x)``, is "non-saturating": its gradient is 1 wherever the unit is active,
so deep nets trained with it learn several times faster than with the saturating
``f(x) = tanh(x)``, whose gradient ``1 - tanh(x)^2`` vanishes for large ``|x|``.

Each pass runs on all the CPU's cores, a part of the first axis per thread (``threads.apply``).
``out=`` lets a pass write into an existing array, its input included: the layers'
``inplace=True``, which saves a new array per pass (see ``layers.ReLU``).
"""

from __future__ import annotations

from .. import threads
from ..backend import get_array_module
from . import _checks


def relu_forward(x, out=None):
    """ReLU (paper §3.1): ``out = max(0, x)``, elementwise. x: any shape.

    ``out``: the array to write into (``x``'s shape and dtype), e.g. ``x`` itself to work in
    place, as PyTorch's ``inplace=True`` does: no new array, but ``x`` is lost. Default: a new
    array.
    """
    _checks.floating("relu_forward", ("x", x))
    xp = get_array_module(x)
    out = _checks.result("relu_forward", "out", out, x, inputs={"x": x})
    threads.apply(lambda x, out: xp.maximum(x, 0, out=out), x, out)
    # The cache is the output, not x: out > 0 exactly where x > 0, and the output is kept anyway
    # by the next layer that needs its input (LRN, a convolution), so x can be freed.
    return out, out


def relu_backward(dout, cache, out=None):
    """``dx = dout * [x > 0]`` (the subgradient at 0 is taken to be 0), from the output. Where
    ``x`` is NaN the output is NaN and ``dx`` is 0 (PyTorch passes ``dout`` through there).

    ``out``: the array to write ``dx`` into, e.g. ``dout`` itself (default: a new array).
    """
    y = cache
    _checks.dout_like("relu_backward", dout, y.shape, y.dtype)
    xp = get_array_module(dout)
    dx = _checks.result("relu_backward", "out", out, y,
                        inputs={"dout": dout, "the cached output": y})
    threads.apply(lambda dout, y, dx: xp.multiply(dout, y > 0, out=dx), dout, y, dx)
    return dx


def tanh_forward(x, out=None):
    """Hyperbolic tangent (paper §3.1): ``out = tanh(x)``, elementwise. x: any shape.
    ``out``: as for ``relu_forward``."""
    _checks.floating("tanh_forward", ("x", x))
    xp = get_array_module(x)
    out = _checks.result("tanh_forward", "out", out, x, inputs={"x": x})
    threads.apply(lambda x, out: xp.tanh(x, out=out), x, out)
    return out, out


def tanh_backward(dout, cache, out=None):
    """``dx = dout * (1 - tanh(x)^2)``, computed from the forward output.
    ``out``: as for ``relu_backward``."""
    y = cache
    _checks.dout_like("tanh_backward", dout, y.shape, y.dtype)
    xp = get_array_module(dout)
    dx = _checks.result("tanh_backward", "out", out, y,
                        inputs={"dout": dout, "the cached output": y})
    threads.apply(lambda dout, y, dx: _tanh_gradient(xp, dout, y, dx), dout, y, dx)
    return dx


def _tanh_gradient(xp, dout, y, dx):
    # A temporary of this thread's part (dx may be dout itself); out= keeps a 0-d part an array.
    slope = xp.multiply(y, y, out=xp.empty_like(y))
    xp.subtract(1, slope, out=slope)
    xp.multiply(slope, dout, out=dx)
