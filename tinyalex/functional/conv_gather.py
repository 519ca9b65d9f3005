"""The "gather" convolution: im2col as one indexed copy, for GPUs (``conv.py`` has the
definitions and the readable version; this is the algorithm ``conv2d_forward`` picks for CuPy).

On a GPU a kernel launch costs the host about 10 us whatever it does, so the strided im2col of
``conv.py`` (one copy per kernel offset: 121 launches for an 11x11 kernel, each way) spends its
time launching, not copying. Here every receptive field of group ``g`` is fetched by one
``take`` through an index computed once per geometry (on the host, with NumPy, and kept on the
device), with one row per output pixel:

    cols[g, n, (p, q), (c, i, j)] = xz[n, index[g, (p, q), (c, i, j)]]    (G, N, OH*OW, C/G*KH*KW)

where ``xz`` is image ``n`` flattened, followed by one zero: ``index`` points at the pixel
``(g*C/G + c, p*sh + i - ph, q*sw + j - pw)``, or at the zero where that falls in the padding.
Then each group is one large matrix product over all images at once,

    y[g] = cols[g] @ w_g^T        (N*OH*OW, C/G*KH*KW) @ (C/G*KH*KW, F/G)

and one copy moves ``y`` to NCHW while adding the bias. (One row per pixel, rather than one
column as in ``conv.py``, is what lets the images stack into one product: a product per image
has too few columns to keep a GPU busy.)

Backward, with ``dy[g] = dout`` of group ``g`` as ``(F/G, N*OH*OW)`` (one copy):

* ``dw_g = dy[g] @ cols[g]``: one product, its inner dimension all pixels of all images
  (both operands in the layout cuBLAS reads directly: 0.69x the time of
  ``cols[g]^T @ dy[g]^T``, for which CuPy copies the transposed ``cols`` first, for AlexNet's
  conv2 at batch 32 on an H100);
* ``dx`` (stride 1): a pixel gets, from every kernel offset ``(i, j)``, the gradient of the
  output whose window put that offset on it, so

      dx[n, c, y, x] = sum_{f, i, j} w[f, c, i, j] * dout[n, f, y + ph - i, x + pw - j]

  (zero outside ``dout``): the same gather, now of ``dout`` (``transposed_index``), and one
  product with the kernels regrouped as ``(F/G*KH*KW, C/G)``;
* ``dx`` (stride > 1): most of those offsets would land between outputs (zeros), so the
  gradient of the columns, ``dy[g]^T @ w_g``, is added back with ``conv.py``'s col2im.

It runs on NumPy too (the tests check it there against the readable version), but on a CPU the
strided copies of ``im2col`` and ``rows`` are faster than an indexed one.
"""

from __future__ import annotations

import functools
import math

import numpy

from ..backend import get_array_module
from .workspace import scratch


@functools.lru_cache(maxsize=64)
def _host_index(channels, groups, size, kernel, stride, pad, out_size, transposed):
    """The gather index as a NumPy int32 array (see ``gather_index``, ``transposed_index``)."""
    (h, w), (kh, kw), (sh, sw), (ph, pw), (oh, ow) = size, kernel, stride, pad, out_size
    c = numpy.arange(channels).reshape(-1, 1, 1, 1, 1)
    i = numpy.arange(kh).reshape(1, -1, 1, 1, 1)
    j = numpy.arange(kw).reshape(1, 1, -1, 1, 1)
    if not transposed:  # (c, i, j) at output (p, q): the pixel the window puts at (i, j)
        p = numpy.arange(oh).reshape(1, 1, 1, -1, 1)
        q = numpy.arange(ow).reshape(1, 1, 1, 1, -1)
        y, x = p * sh + i - ph, q * sw + j - pw
        inside = (0 <= y) & (y < h) & (0 <= x) & (x < w)
        index = (c * h + y) * w + x
        zero = channels * h * w
    else:  # (f, i, j) at pixel (y, x): the output whose window put (i, j) on the pixel
        y = numpy.arange(h).reshape(1, 1, 1, -1, 1)
        x = numpy.arange(w).reshape(1, 1, 1, 1, -1)
        p, q = y + ph - i, x + pw - j
        inside = (0 <= p) & (p < oh) & (0 <= q) & (q < ow)
        index = (c * oh + p) * ow + q
        zero = channels * oh * ow
    index = numpy.where(inside, index, zero).astype(numpy.int32)
    pixels = index.shape[3] * index.shape[4]
    index = index.reshape(groups, channels // groups * kh * kw, pixels).transpose(0, 2, 1)
    return numpy.ascontiguousarray(index), bool(inside.all())


_device_indices: dict = {}


def _index(xp, *geometry):
    """``_host_index(*geometry)``, the index on ``xp``'s current device (copied there once)."""
    index, no_zero = _host_index(*geometry)
    if xp is numpy:
        return index, no_zero
    key = (xp.cuda.Device().id, geometry)
    if key not in _device_indices:
        if len(_device_indices) >= 64:
            _device_indices.clear()
        _device_indices[key] = xp.asarray(index)
    return _device_indices[key], no_zero


def gather_index(xp, channels, groups, size, kernel, stride, pad, out_size):
    """``index[g, (p, q), (c, i, j)]`` into an image flattened as ``(C*H*W,)`` plus one zero,
    and whether the zero is never used (no window reaches into the padding)."""
    return _index(xp, channels, groups, tuple(size), tuple(kernel), tuple(stride), tuple(pad),
                  tuple(out_size), False)


def transposed_index(xp, kernels, groups, size, kernel, pad, out_size):
    """``index[g, (y, x), (f, i, j)]`` into one image's ``dout`` flattened as ``(F*OH*OW,)``
    plus one zero (stride 1): the output row ``y + ph - i`` and column ``x + pw - j``."""
    return _index(xp, kernels, groups, tuple(size), tuple(kernel), (1, 1), tuple(pad),
                  tuple(out_size), True)[0]


def _gather(a, index, no_zero, workspace):
    """``out[g, n] = a[n].flat[index[g]]`` (the zero past the end where ``index`` points
    there), ``(G, N) + index.shape[1:]``, in the workspace's "copies"."""
    xp = get_array_module(a)
    n = a.shape[0]
    flat = a.reshape(n, math.prod(a.shape[1:]))  # not -1: n may be 0
    if not no_zero:
        padded = scratch(workspace, "scratch", (n, flat.shape[1] + 1), a)
        xp.copyto(padded[:, :-1], flat)
        padded[:, -1] = 0
        flat = padded
    out = scratch(workspace, "copies", (index.shape[0], n) + index.shape[1:], a)
    for g in range(index.shape[0]):
        xp.take(flat, index[g], axis=1, out=out[g])
    return out


def gather_columns(x, w_shape, geometry, groups, workspace):
    """``cols (G, N, OH*OW, C/G*KH*KW)`` of ``x (N, C, H, W)``, in the workspace's "copies"."""
    n, c, h, w = x.shape
    sh, sw, ph, pw, oh, ow = geometry
    index, no_zero = gather_index(get_array_module(x), c, groups, (h, w), w_shape[2:],
                                  (sh, sw), (ph, pw), (oh, ow))
    return _gather(x, index, no_zero, workspace)


def gather_forward(cols, w, b, out, workspace):
    """``out (N, F, OH, OW) = y + b`` with ``y[g] = cols[g] @ w_g^T`` (module docstring)."""
    groups, n, pixels, k = cols.shape
    f = w.shape[0]
    xp = get_array_module(cols, w)
    y = scratch(workspace, "product", (groups, n * pixels, f // groups), cols)
    xp.matmul(cols.reshape(groups, n * pixels, k), w.reshape(groups, f // groups, k).transpose(0, 2, 1),
              out=y)
    xp.add(y.reshape(groups, n, pixels, f // groups).transpose(1, 0, 3, 2),
           b.reshape(groups, f // groups, 1), out=out.reshape(n, groups, f // groups, pixels))
    return out


def output_columns(dout, groups, workspace):
    """``dy (G, F/G, N*OH*OW)``: ``dout`` with a column per output pixel, per group."""
    n, f, oh, ow = dout.shape
    xp = get_array_module(dout)
    dy = scratch(workspace, "product", (groups, f // groups, n, oh * ow), dout)
    xp.copyto(dy, dout.reshape(n, groups, f // groups, oh * ow).transpose(1, 2, 0, 3))
    return dy.reshape(groups, f // groups, n * oh * ow)


def kernel_gradient(cols, dy, w_shape):
    """``dw (F, C/G, KH, KW)`` with ``dw_g = dy[g] @ cols[g]``."""
    groups, n, pixels, k = cols.shape
    return get_array_module(cols, dy).matmul(dy, cols.reshape(groups, n * pixels, k)).reshape(w_shape)


def input_gradient(dout, w, x_shape, pad, groups, workspace):
    """``dx (N, C, H, W)`` of a stride-1 convolution, by gathering ``dout`` (module docstring)."""
    n, c, h, wd = x_shape
    f, cg, kh, kw = w.shape
    xp = get_array_module(dout, w)
    index = transposed_index(xp, f, groups, (h, wd), (kh, kw), pad, dout.shape[2:])
    dcols = _gather(dout, index, False, workspace)  # (G, N, H*W, F/G*KH*KW)
    regrouped = w.reshape(groups, f // groups, cg, kh * kw).transpose(0, 1, 3, 2)
    regrouped = xp.ascontiguousarray(regrouped).reshape(groups, f // groups * kh * kw, cg)
    dxt = scratch(workspace, "product", (groups, n * h * wd, cg), dout)
    xp.matmul(dcols.reshape(groups, n * h * wd, f // groups * kh * kw), regrouped, out=dxt)
    dx = xp.empty(x_shape, dtype=dout.dtype)
    xp.copyto(dx.reshape(n, groups, cg, h * wd),
              dxt.reshape(groups, n, h * wd, cg).transpose(1, 0, 3, 2))
    return dx


def column_gradient(dy, w, n, out_size, workspace):
    """``dcols (C, KH, KW, N, OH, OW)``, with ``dy[g]^T @ w_g`` the gradient of ``cols[g]``: the
    layout ``conv.py``'s col2im adds back."""
    f, cg, kh, kw = w.shape
    groups = dy.shape[0]
    oh, ow = out_size
    xp = get_array_module(dy, w)
    rows = scratch(workspace, "copies", (groups, n * oh * ow, cg * kh * kw), dy)
    xp.matmul(dy.transpose(0, 2, 1), w.reshape(groups, f // groups, cg * kh * kw), out=rows)
    rows = rows.reshape(groups, n, oh, ow, cg, kh, kw).transpose(0, 4, 5, 6, 1, 2, 3)
    return xp.ascontiguousarray(rows).reshape(groups * cg, kh, kw, n, oh, ow)
