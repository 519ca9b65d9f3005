"""The two nonlinearities of the paper's Figure 1 (§3.1): ReLU and tanh.

ReLU, ``f(x) = max(0, x)``, is "non-saturating": its gradient is 1 wherever the unit is active,
so deep nets trained with it learn several times faster than with the saturating
``f(x) = tanh(x)``, whose gradient ``1 - tanh(x)^2`` vanishes for large ``|x|``.

Each pass runs on all the CPU's cores, a part of the first axis per thread (``threads.apply``).
"""

from __future__ import annotations

from .. import threads
from ..backend import get_array_module
from . import _checks


def relu_forward(x):
    """ReLU (paper §3.1): ``out = max(0, x)``, elementwise. x: any shape."""
    _checks.floating("relu_forward", ("x", x))
    xp = get_array_module(x)
    out = xp.empty_like(x)
    threads.apply(lambda x, out: xp.maximum(x, 0, out=out), x, out)
    # The cache is the output, not x: out > 0 exactly where x > 0, and the output is kept anyway
    # by the next layer that needs its input (LRN, a convolution), so x can be freed.
    return out, out


def relu_backward(dout, cache):
    """``dx = dout * [x > 0]`` (the subgradient at 0 is taken to be 0), from the output."""
    out = cache
    _checks.dout_like("relu_backward", dout, out.shape, out.dtype)
    xp = get_array_module(dout)
    dx = xp.empty_like(out)
    threads.apply(lambda dout, out, dx: xp.multiply(dout, out > 0, out=dx), dout, out, dx)
    return dx


def tanh_forward(x):
    """Hyperbolic tangent (paper §3.1): ``out = tanh(x)``, elementwise. x: any shape."""
    _checks.floating("tanh_forward", ("x", x))
    xp = get_array_module(x)
    out = xp.empty_like(x)
    threads.apply(lambda x, out: xp.tanh(x, out=out), x, out)
    return out, out


def tanh_backward(dout, cache):
    """``dx = dout * (1 - tanh(x)^2)``, computed from the forward output."""
    out = cache
    _checks.dout_like("tanh_backward", dout, out.shape, out.dtype)
    xp = get_array_module(dout)
    dx = xp.empty_like(out)
    threads.apply(lambda dout, out, dx: _tanh_gradient(xp, dout, out, dx), dout, out, dx)
    return dx


def _tanh_gradient(xp, dout, out, dx):
    xp.multiply(out, out, out=dx)
    xp.subtract(1, dx, out=dx)  # in place: one array for the three passes
    dx *= dout
