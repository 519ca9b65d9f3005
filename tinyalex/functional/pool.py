"""Max pooling, overlapping (paper §3.4) or not.

A pooling layer "summarizes the outputs of neighbouring groups of neurons in the same kernel
map": for windows of ``size x size`` pixels placed every ``stride`` pixels,

    out[n, c, p, q] = max_{0 <= i, j < size} x[n, c, p*stride + i, q*stride + j]

with ``OH = floor((H - size) / stride) + 1`` (likewise ``OW``); windows never hang over the edge.
``stride == size`` is traditional pooling; ``stride < size`` overlaps the windows, which is what
the paper uses (size 3, stride 2) and credits with 0.4% lower top-1 error.

Backward: the gradient of a window's maximum goes to the element that was the maximum, and to no
other. Where windows overlap, an element that is the maximum of several windows receives the sum
of their gradients.

Tie rule: when several elements of a window share the maximum value, the *first* one in
row-major order inside the window (smallest ``i``, then smallest ``j``) receives the gradient;
this matches PyTorch and Caffe. The maximum is not differentiable at a tie, so this is a choice,
not a derivative.

Both passes loop over the ``size*size`` offsets in a window, each step handling one strided view
of the whole batch.
"""

from __future__ import annotations

from .. import paper
from ..backend import get_array_module
from . import _checks


def _window(x, i: int, j: int, stride: int, oh: int, ow: int):
    """The view ``x[:, :, p*stride + i, q*stride + j]`` over all outputs ``(p, q)``."""
    return x[:, :, i : i + stride * (oh - 1) + 1 : stride, j : j + stride * (ow - 1) + 1 : stride]


def maxpool2d_forward(x, size: int = paper.POOL_SIZE, stride: int = paper.POOL_STRIDE):
    """Max pooling over ``size x size`` windows every ``stride`` pixels (paper §3.4).

    x: ``(N, C, H, W)``. Returns ``out`` of shape ``(N, C, OH, OW)``, with
    ``OH = (H - size) // stride + 1``, and the cache for ``maxpool2d_backward``. NaN propagates.
    """
    op = "maxpool2d_forward"
    _checks.ndim(op, "x", x, 4, "(N, C, H, W)")
    _checks.floating(op, ("x", x))
    size = _checks.positive_int(op, "size", size)
    stride = _checks.positive_int(op, "stride", stride)
    n, c, h, w = x.shape
    if size > h or size > w:
        raise ValueError(f"{op}: window {size}x{size} is larger than the input {h}x{w}")
    oh, ow = (h - size) // stride + 1, (w - size) // stride + 1
    xp = get_array_module(x)

    out = _window(x, 0, 0, stride, oh, ow).copy()
    # argmax[n, c, p, q] = k = i*size + j of the first maximum in the window.
    argmax = xp.zeros(out.shape, dtype=xp.min_scalar_type(size * size - 1))
    for k in range(1, size * size):
        candidate = _window(x, k // size, k % size, stride, oh, ow)
        # Strictly greater keeps the first maximum; "or NaN" lets NaN win, like PyTorch.
        better = (candidate > out) | xp.isnan(candidate)
        xp.copyto(out, candidate, where=better)
        xp.copyto(argmax, k, where=better)
    return out, (x.shape, argmax, size, stride)


def maxpool2d_backward(dout, cache):
    """Gradient of ``maxpool2d_forward``: returns ``dx`` of shape ``(N, C, H, W)``.

    ``dx[n, c, y, x] = sum over windows (p, q) whose first maximum sits at (y, x) of dout[n, c, p, q]``.
    """
    x_shape, argmax, size, stride = cache
    _checks.same_shape("maxpool2d_backward", "dout", dout, argmax.shape)
    if dout.dtype.kind != "f":
        raise ValueError(f"maxpool2d_backward: dout must be floating point, got {dout.dtype}")
    xp = get_array_module(dout)
    oh, ow = argmax.shape[2:]
    dx = xp.zeros(x_shape, dtype=dout.dtype)
    zero = dout.dtype.type(0)
    for k in range(size * size):
        window = _window(dx, k // size, k % size, stride, oh, ow)  # a view into dx
        window += xp.where(argmax == k, dout, zero)
    return dx
