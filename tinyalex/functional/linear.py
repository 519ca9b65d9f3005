"""The fully-connected layer (paper §3.5: layers 6, 7 and 8).

For ``x`` of shape ``(N, ...)``, flattened to ``(N, D)``, weights ``w`` of shape ``(M, D)`` (the
mainstream layout: one row per output unit) and biases ``b`` of shape ``(M,)``:

    out = x @ w^T + b                           (N, M)
    dx  = dout @ w        (reshaped to x's shape)
    dw  = dout^T @ x                            (M, D)
    db  = sum_n dout[n]                         (M,)
"""

from __future__ import annotations

import math

from ..backend import get_array_module
from . import _checks


def linear_forward(x, w, b):
    """``out = x.reshape(N, -1) @ w.T + b``. x: ``(N, ...)``; w: ``(M, D)``; b: ``(M,)``."""
    op = "linear_forward"
    _checks.floating(op, ("x", x), ("w", w), ("b", b))
    if x.ndim < 2:
        raise ValueError(f"{op}: x must be (N, ...) with at least 2 dimensions, got shape {x.shape}")
    _checks.ndim(op, "w", w, 2, "(out_features, in_features)")
    _checks.ndim(op, "b", b, 1, "(out_features,)")
    x2 = x.reshape(x.shape[0], math.prod(x.shape[1:]))  # not -1: N may be 0
    if x2.shape[1] != w.shape[1]:
        raise ValueError(
            f"{op}: x of shape {tuple(x.shape)} flattens to {x2.shape[1]} features, "
            f"but w of shape {tuple(w.shape)} expects {w.shape[1]}"
        )
    _checks.same_shape(op, "b", b, (w.shape[0],))
    xp = get_array_module(x2, w, b)
    # (w @ x2^T)^T rather than x2 @ w^T: the same numbers, but with the many output units, not
    # the few images, as the rows of the product OpenBLAS splits it better between its threads
    # (about 10% faster for AlexNet's fc6 on a quiet machine, up to twice on a busy one); the
    # copy back to one row per image costs one output's worth of memory traffic.
    out = xp.ascontiguousarray((w @ x2.T).T)
    out += b
    return out, (x2, w, x.shape)


def linear_backward(dout, cache):
    """Gradients of ``linear_forward``: returns ``dx (x's shape), dw (M, D), db (M,)``."""
    x2, w, x_shape = cache
    _checks.dout_like("linear_backward", dout, (x2.shape[0], w.shape[0]), w.dtype)
    dx = (dout @ w).reshape(x_shape)
    dw = dout.T @ x2
    db = dout.sum(axis=0)
    return dx, dw, db
