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
    _checks.min_ndim(op, "x", x, 2, "(N, ...)")
    _checks.ndim(op, "w", w, 2, "(out_features, in_features)")
    _checks.ndim(op, "b", b, 1, "(out_features,)")
    x2 = x.reshape(x.shape[0], math.prod(x.shape[1:]))  # not -1: N may be 0
    if x2.shape[1] != w.shape[1]:
        raise ValueError(
            f"{op}: x of shape {tuple(x.shape)} flattens to {x2.shape[1]} features, "
            f"but w of shape {tuple(w.shape)} expects {w.shape[1]}"
        )
    _checks.same_shape(op, "b", b, (w.shape[0],))
    # (w @ x2^T)^T rather than x2 @ w^T: the same numbers, but with the many output units, not
    # the few images, as the rows of the product OpenBLAS splits it better between its threads
    # (about 10% faster for AlexNet's fc6 on a quiet machine, up to twice on a busy one). The
    # bias is added on the way back to one row per image: left column-major, the output made
    # the ReLU and dropout that follow it 2.5 and 5 times slower (dropout 6.3 ms against 1.1 at
    # (128, 4096), its mask being row-major), more than the 1.3 ms the layout change costs here.
    xp = get_array_module(x2, w)
    out = xp.empty((x2.shape[0], w.shape[0]), dtype=w.dtype)
    xp.add((w @ x2.T).T, b, out=out)
    return out, (x2, w, x.shape)


def linear_backward(dout, cache, grads_out=None):
    """Gradients of ``linear_forward``: returns ``dx (x's shape), dw (M, D), db (M,)``.

    ``grads_out``: an optional ``(dw, db)`` pair of arrays (``w``'s dtype and array module) to
    write the parameter gradients into and return, e.g. the last step's, as the ``Linear``
    layer does: AlexNet's fc6 ``dw`` is 151 MB, and fresh memory costs about 10 ms per 100 MB
    to page in before the product can fill it (fc6's backward pass 11% faster on a 2-core CPU).
    """
    op = "linear_backward"
    x2, w, x_shape = cache
    _checks.dout_like(op, dout, (x2.shape[0], w.shape[0]), w.dtype)
    xp = get_array_module(dout, w)
    if grads_out is None:
        grads_out = (None, None)
    elif not isinstance(grads_out, (tuple, list)) or len(grads_out) != 2:
        raise TypeError(f"{op}: grads_out must be a (dw, db) pair of arrays, got {grads_out!r}")
    dw = _checks.result(op, "grads_out[0] (dw)", grads_out[0], w)
    db = _checks.result(op, "grads_out[1] (db)", grads_out[1], w, (w.shape[0],))
    if xp.may_share_memory(dw, db) or any(xp.may_share_memory(g, a)
                                          for g in (dw, db) for a in (dout, x2, w)):
        raise ValueError(f"{op}: the arrays of grads_out (dw, db) must share memory neither with "
                         "each other nor with dout, x or w")
    dx = (dout @ w).reshape(x_shape)
    xp.matmul(dout.T, x2, out=dw)
    dout.sum(axis=0, out=db)
    return dx, dw, db
