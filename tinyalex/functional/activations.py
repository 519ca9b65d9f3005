"""The two nonlinearities of the paper's Figure 1 (§3.1): ReLU and tanh.

ReLU, ``f(x) = max(0, x)``, is "non-saturating": its gradient is 1 wherever the unit is active,
so deep nets trained with it learn several times faster than with the saturating
``f(x) = tanh(x)``, whose gradient ``1 - tanh(x)^2`` vanishes for large ``|x|``.
"""

from __future__ import annotations

from ..backend import get_array_module
from . import _checks


def relu_forward(x):
    """ReLU (paper §3.1): ``out = max(0, x)``, elementwise. x: any shape."""
    _checks.floating("relu_forward", ("x", x))
    out = get_array_module(x).maximum(x, 0)
    # The cache is the output, not x: out > 0 exactly where x > 0, and the output is kept anyway
    # by the next layer that needs its input (LRN, a convolution), so x can be freed.
    return out, out


def relu_backward(dout, cache):
    """``dx = dout * [x > 0]`` (the subgradient at 0 is taken to be 0), from the output."""
    out = cache
    _checks.dout_like("relu_backward", dout, out.shape, out.dtype)
    return dout * (out > 0)


def tanh_forward(x):
    """Hyperbolic tangent (paper §3.1): ``out = tanh(x)``, elementwise. x: any shape."""
    _checks.floating("tanh_forward", ("x", x))
    out = get_array_module(x).tanh(x)
    return out, out


def tanh_backward(dout, cache):
    """``dx = dout * (1 - tanh(x)^2)``, computed from the forward output."""
    out = cache
    _checks.dout_like("tanh_backward", dout, out.shape, out.dtype)
    dx = out * out
    get_array_module(dx).subtract(1, dx, out=dx)  # in place: one array for the three passes
    dx *= dout
    return dx
