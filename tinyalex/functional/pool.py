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

Two implementations, with the same results:

* ``maxpool2d_forward_naive`` / ``maxpool2d_backward_naive``, the one to read first: both passes
  loop over the ``size*size`` offsets in a window, each step handling one strided view of the
  whole batch, and the forward pass records the offset of each window's first maximum.
* ``maxpool2d_forward`` / ``maxpool2d_backward``, the one the layers use, is separable: a 2-D
  window's maximum is the maximum of its rows' maxima, so it pools each row first (``size``
  offsets along the width) and then the row maxima (``size`` offsets along the height): ``2*size``
  steps instead of ``size*size``, and the first of them on arrays the size of the input, not of
  the output. Taking the first maximum in each row, then the first row holding the window's
  maximum, is exactly the first maximum in row-major order, so the tie rule is unchanged; the
  backward pass routes each gradient back through the two stages in reverse. (Overlapping
  windows are summed in a different order, so gradients can differ from the naive ones in the
  last bit; and where ``-0.0`` and ``0.0`` tie for a window's maximum, its output may be either
  zero, since ``maximum`` does not keep the first of two equal values: the gradient still goes
  to the first.) On the CPU each thread pools a part of the batch (``threads``).

On a GPU (CuPy arrays, float32 or float64) both passes are instead one CUDA kernel each
(``cuda_kernels``): a thread per output takes its window's maximum and the offset of its first
maximum, as the naive version does, and a thread per input pixel gathers the gradients routed
to it; the same results, in one launch instead of about ten.
"""

from __future__ import annotations

import typing

from .. import paper, threads
from ..backend import get_array_module
from . import _checks, cuda_kernels
from .workspace import Workspace, scratch


def _check(op: str, x, size, stride) -> tuple[int, int, int, int]:
    """Check the input and window; return ``size, stride, OH, OW``."""
    _checks.ndim(op, "x", x, 4, "(N, C, H, W)")
    _checks.floating(op, ("x", x))
    size = _checks.positive_int(op, "size", size)
    stride = _checks.positive_int(op, "stride", stride)
    _, _, h, w = x.shape
    if size > h or size > w:
        raise ValueError(f"{op}: window {size}x{size} is larger than the input {h}x{w}")
    return size, stride, (h - size) // stride + 1, (w - size) // stride + 1


# ----------------------------------------------------------------------------------------------
# The naive version: one step per window offset


def _window(x, i: int, j: int, stride: int, oh: int, ow: int):
    """The view ``x[:, :, p*stride + i, q*stride + j]`` over all outputs ``(p, q)``."""
    return x[:, :, i : i + stride * (oh - 1) + 1 : stride, j : j + stride * (ow - 1) + 1 : stride]


def maxpool2d_forward_naive(x, size: int = paper.POOL_SIZE, stride: int = paper.POOL_STRIDE):
    """Max pooling over ``size x size`` windows every ``stride`` pixels (paper §3.4).

    x: ``(N, C, H, W)``. Returns ``out`` of shape ``(N, C, OH, OW)``, with
    ``OH = (H - size) // stride + 1``, and the cache for ``maxpool2d_backward_naive``. NaN
    propagates.
    """
    size, stride, oh, ow = _check("maxpool2d_forward_naive", x, size, stride)
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
    return out, (x.shape, x.dtype, argmax, size, stride)


def maxpool2d_backward_naive(dout, cache):
    """Gradient of ``maxpool2d_forward_naive``: returns ``dx`` of shape ``(N, C, H, W)``.

    ``dx[n, c, y, x] = sum over windows (p, q) whose first maximum sits at (y, x) of dout[n, c, p, q]``.
    """
    x_shape, dtype, argmax, size, stride = cache
    _checks.dout_like("maxpool2d_backward_naive", dout, argmax.shape, dtype)
    xp = get_array_module(dout)
    oh, ow = argmax.shape[2:]
    dx = xp.zeros(x_shape, dtype=dout.dtype)
    zero = dout.dtype.type(0)
    for k in range(size * size):
        window = _window(dx, k // size, k % size, stride, oh, ow)  # a view into dx
        window += xp.where(argmax == k, dout, zero)
    return dx


# ----------------------------------------------------------------------------------------------
# The fast version: rows first, then columns


def _taps(x, axis: int, k: int, stride: int, count: int):
    """The view of ``x`` at ``k, k + stride, ..., k + (count-1)*stride`` along ``axis``."""
    index = [slice(None)] * x.ndim
    index[axis] = slice(k, k + stride * (count - 1) + 1, stride)
    return x[tuple(index)]


def _max_along(x, axis: int, size: int, stride: int, nan_aware: bool, out, first):
    """1-D max pooling along ``axis``: windows of ``size`` every ``stride``, maxima into ``out``
    and, for each window, the offset ``0..size-1`` of its first maximum into ``first`` (bytes).

    With ``nan_aware`` a NaN wins over any number (the naive version's rule); without,
    comparisons ignore NaN, which is exact only when there is none (the caller checks).
    """
    xp = get_array_module(x)
    count = out.shape[axis]
    best = _taps(x, axis, 0, stride, count)  # a view of x until the first step writes out
    if size == 1:
        first.fill(0)
        xp.copyto(out, best)
    for k in range(1, size):
        candidate = _taps(x, axis, k, stride, count)
        # Strictly greater: a later equal value does not take over. A bool is a byte 0 or 1,
        # so writing it into the byte offsets as k = 1 costs no extra pass; after that, k
        # exceeds every offset recorded so far, so max() writes it exactly where better
        # (arithmetic on bytes: far faster than copyto(..., where=) or boolean indexing).
        in_place = k == 1 and first.dtype.itemsize == 1
        better = xp.greater(candidate, best, out=first.view(bool) if in_place else None)
        if nan_aware:
            better |= xp.isnan(candidate)
        if k == 1 and not in_place:  # windows wider than 256
            first[...] = better
        elif k > 1:
            step = better.view(first.dtype) if first.dtype.itemsize == 1 else better.astype(first.dtype)
            step *= k
            xp.maximum(first, step, out=first)
        best = xp.maximum(best, candidate, out=out)  # NaN propagates
    return out


def _route_along(dout, first, axis: int, size: int, stride: int, dx):
    """The adjoint of ``_max_along``: each ``dout`` goes to its window's first maximum, in ``dx``.

    Where windows overlap their gradients add up; entries in no window get zero. Returns ``dx``.
    """
    xp = get_array_module(dout)
    count, length = dout.shape[axis], dx.shape[axis]
    # Offsets below the stride never land on the same entry and, when windows do not leave gaps
    # (size >= stride), cover all entries up to count*stride: those are written, not added, and
    # only the rest needs zeros first.
    if size < stride:
        dx.fill(0)
    elif length > count * stride:
        _taps(dx, axis, count * stride, 1, length - count * stride).fill(0)
    for k in range(size):
        target = _taps(dx, axis, k, stride, count)  # a view into dx
        if k < stride:
            xp.multiply(dout, first == k, out=target)
        else:
            target += dout * (first == k)
    return dx


def _separable_max(x, size, stride, oh, ow, workspace):
    """Rows first (along the width), then the row maxima (along the height); each part of the
    batch on its own thread (``threads``). A part whose output holds a NaN (rare; NaN always
    reaches the output) is pooled again with the NaN-aware comparisons."""
    xp = get_array_module(x)
    n, c, h, _ = x.shape
    offsets = xp.min_scalar_type(size - 1)  # a byte
    rows = scratch(workspace, "scratch", (n, c, h, ow), x)
    first_in_row = xp.empty((n, c, h, ow), dtype=offsets)
    out = xp.empty((n, c, oh, ow), dtype=x.dtype)
    first_row = xp.empty((n, c, oh, ow), dtype=offsets)

    def pool(part):
        for nan_aware in (False, True):
            _max_along(x[part], 3, size, stride, nan_aware, rows[part], first_in_row[part])
            _max_along(rows[part], 2, size, stride, nan_aware, out[part], first_row[part])
            if not xp.isnan(out[part]).any():
                break

    threads.split(n, pool, x)
    return out, first_in_row, first_row


class _ArgmaxCache(typing.NamedTuple):
    """The GPU kernel's cache, laid out as the naive version's: each window's first maximum."""

    x_shape: tuple
    dtype: object  # x's, which dout must have
    argmax: object  # (N, C, OH, OW) int32: the offset i*size + j in the window
    size: int
    stride: int


class _PoolCache(typing.NamedTuple):
    x_shape: tuple
    dtype: object  # x's, which dout must have
    first_in_row: object  # (N, C, H, OW): offset along the width of each row window's maximum
    first_row: object  # (N, C, OH, OW): offset along the height of the row holding the maximum
    size: int
    stride: int
    workspace: Workspace | None


def maxpool2d_forward(x, size: int = paper.POOL_SIZE, stride: int = paper.POOL_STRIDE,
                      workspace: Workspace | None = None):
    """Max pooling over ``size x size`` windows every ``stride`` pixels (paper §3.4).

    x: ``(N, C, H, W)``. Returns ``out`` of shape ``(N, C, OH, OW)``, with
    ``OH = (H - size) // stride + 1``, and the cache for ``maxpool2d_backward``. NaN propagates.
    Same results as ``maxpool2d_forward_naive``, computed separably (see the module docstring).
    ``workspace``: an optional ``Workspace`` for the row maxima (forward) and their gradient
    (backward); it changes no result.
    """
    size, stride, oh, ow = _check("maxpool2d_forward", x, size, stride)
    xp = get_array_module(x)
    if cuda_kernels.applies(xp):
        out, argmax = cuda_kernels.maxpool_forward(x, size, stride, oh, ow)
        return out, _ArgmaxCache(x.shape, x.dtype, argmax, size, stride)
    out, first_in_row, first_row = _separable_max(x, size, stride, oh, ow, workspace)
    return out, _PoolCache(x.shape, x.dtype, first_in_row, first_row, size, stride, workspace)


def maxpool2d_backward(dout, cache):
    """Gradient of ``maxpool2d_forward``: returns ``dx`` of shape ``(N, C, H, W)``.

    ``dx[n, c, y, x] = sum over windows (p, q) whose first maximum sits at (y, x) of dout[n, c, p, q]``,
    routed back through the row-maxima stage, then the rows stage.
    """
    if isinstance(cache, _ArgmaxCache):  # dout has x's dtype, which the kernels are made for
        _checks.dout_like("maxpool2d_backward", dout, cache.argmax.shape, cache.dtype)
        return cuda_kernels.maxpool_backward(dout, cache.argmax, cache.x_shape, cache.size,
                                             cache.stride)
    x_shape, dtype, first_in_row, first_row, size, stride, workspace = cache
    _checks.dout_like("maxpool2d_backward", dout, first_row.shape, dtype)
    d_rows = scratch(workspace, "scratch", first_in_row.shape, dout)
    dx = get_array_module(dout).empty(x_shape, dtype=dout.dtype)

    def route(part):
        _route_along(dout[part], first_row[part], 2, size, stride, d_rows[part])
        _route_along(d_rows[part], first_in_row[part], 3, size, stride, dx[part])

    threads.split(len(dx), route, dx)
    return dx
