"""The "rows" convolution: a stride-1 convolution with fewer copies and fatter matrix products
than im2col (the algorithm ``conv2d_forward`` picks on the CPU for the Figure-1 net's conv2 and
conv3 and AlexNet's conv2 to conv5; ``conv.py`` has the definitions and the readable version).

im2col copies every pixel ``KH*KW`` times. This copies it only ``KW`` times, once per kernel
column ``j`` (a "width-only" im2col of the ``OH + KH - 1`` rows ``y`` of the padded input):

    xw[(c, j), (y, n, q)] = xpad[n, c, y, q + j]                     (C*KW, rows*N*OW)

and multiplies it by the kernels with every kernel row ``i`` stacked as rows of one matrix:

    Y[(i, f), (y, n, q)] = sum_{c, j} w[f, c, i, j] * xw[(c, j), (y, n, q)]    (KH*F, rows*N*OW)

Kernel row ``i`` of output row ``p`` reads input row ``p + i``, so the convolution is the sum of
``KH`` shifted slices of ``Y``, each a contiguous block of memory:

    out[f, p, n, q] = b[f] + sum_i Y[(i, f), (p + i, n, q)]

The padding rows of ``xpad`` are zeros and add nothing: they are neither copied nor multiplied,
so ``rows`` is the number of input rows (H for the usual padding) and each kernel row adds to
the output rows that fall on one.

Why faster: the copies are ``KW`` instead of ``KH*KW`` times the input, and the product's matrix
of kernels is ``KH*F x C*KW`` (160 x 160 for a 5x5 layer with 32 channels and kernels) instead
of ``F x C*KH*KW`` (32 x 800): OpenBLAS runs such a product about twice as fast per operation.
It computes some products it does not use (kernel row ``i`` at the ``|i - ph|``
input rows nearest the border: 8% for the Figure-1 net's conv2, 17% for its conv3 on 7x7 maps),
and ``Y`` is ``KH*F / (C*KW)`` times the size of ``xw``, so a first layer with 3 input channels
is better off with im2col.

The backward pass:

* ``dw[f, c, i, j] = sum_{p, n, q} xw[(c, j), (p + i, n, q)] * dout[f, p, n, q]``: one product
  per kernel row ``i``, over the rows of ``xw`` that row ``i`` of the kernel read;
* ``dx`` is the convolution of ``dout`` with the kernels flipped in both directions and with
  input and output channels swapped, padded by ``KH - 1 - ph`` and ``KW - 1 - pw`` (a pixel gets
  the gradient of every output whose window covered it): the same rows algorithm again.

Groups: group ``g``'s kernels see channels ``g*C/G .. (g+1)*C/G - 1``, which are rows of ``xw``
in one block, so every product is one batched product over the groups.
"""

from __future__ import annotations

from .. import threads
from ..backend import get_array_module
from .workspace import scratch


def _stored_rows(h: int, kh: int, ph: int, oh: int) -> tuple[int, int]:
    """The rows ``[top, bottom)`` of the padded input that hold a row of the input (padded row
    ``y`` is input row ``y - ph``): the only ones copied, the others are zeros."""
    return max(0, ph), min(oh + kh - 1, ph + h)


def _reads(i: int, top: int, bottom: int, oh: int) -> tuple[int, int]:
    """The output rows ``[lo, hi)`` whose kernel row ``i`` falls on a stored row: output row
    ``p`` reads padded row ``p + i``, which is stored row ``p + i - top``. Empty (``lo == hi``)
    where the kernel row falls on padding only (a kernel taller than the input)."""
    hi = max(0, min(oh, bottom - i))
    return min(max(0, top - i), hi), hi


def width_copies(src, kw: int, ph: int, pw: int, oh: int, ow: int, kh: int, workspace):
    """``xw[c, j, r, n, q] = src[c, r + top - ph, n, q + j - pw]`` (zero outside ``src``), for
    the stored rows ``r`` of ``_stored_rows``; the channels split over threads (``threads``).

    src: ``(C, H, N, W)``, any strides. Returns ``xw`` of shape ``(C, KW, bottom - top, N, OW)``;
    negative pads crop ``src``. Its "product" buffer may hold a contiguous copy of ``src`` until
    ``xw`` is made.
    """
    c, h, n, w = src.shape
    top, bottom = _stored_rows(h, kh, ph, oh)
    xw = scratch(workspace, "copies", (c, kw, bottom - top, n, ow), src)
    rows = src[:, top - ph : bottom - ph]
    if w == ow:  # "same" width: every kernel column is one shifted copy of whole rows
        if not rows.flags.c_contiguous:
            contiguous = scratch(workspace, "product", rows.shape, rows)
            threads.apply(get_array_module(src).copyto, contiguous, rows)
            rows = contiguous
        threads.split(c, lambda part: _shifted_copies(rows[part], xw[part], pw), xw)
        return xw

    def copy(part):
        for j in range(kw):
            left = max(0, pw - j)  # columns q in [left, right) read a column of src
            right = max(left, min(ow, w + pw - j))
            xw[part, j, :, :, :left] = 0
            xw[part, j, :, :, right:] = 0
            xw[part, j, :, :, left:right] = rows[part, ..., left + j - pw : right + j - pw]

    threads.split(c, copy, xw)
    return xw


def _shifted_copies(rows, xw, pw: int):
    """``width_copies`` when ``OW == W``, for contiguous ``rows``: with ``(r, n, q)`` flattened,
    column ``j`` of ``xw`` is ``rows`` shifted by ``s = j - pw`` places, one long contiguous copy
    instead of one short copy per image row; the ``|s|`` entries of each row that the shift
    carried over from the neighbouring row are then set to zero (they are the padding)."""
    c, _, _, w = rows.shape
    flat = rows.reshape(c, -1)
    length = flat.shape[1]
    for j in range(xw.shape[1]):
        s = j - pw
        column = xw[:, j].reshape(c, length)
        if abs(s) < length:  # else every entry is padding, set to zero below
            column[:, max(0, -s) : length - max(0, s)] = flat[:, max(0, s) : length - max(0, -s)]
        if s < 0:
            xw[:, j, ..., : min(w, -s)] = 0
        elif s > 0:
            xw[:, j, ..., max(0, w - s) :] = 0


def _kernel_rows(w, groups: int):
    """``w (F, C/G, KH, KW)`` as ``(G, KH*F/G, C/G*KW)``: row ``(i, f)``, column ``(c, j)``."""
    f, cg, kh, kw = w.shape
    xp = get_array_module(w)
    rows = w.reshape(groups, f // groups, cg, kh, kw).transpose(0, 3, 1, 2, 4)
    return xp.ascontiguousarray(rows).reshape(groups, kh * (f // groups), cg * kw)


def rows_conv(src, w, pad: tuple, out_size: tuple, groups: int, workspace, b=None):
    """The convolution of ``src (C, H, N, W)`` with ``w``, stride 1, plus the bias ``b`` if
    given, as ``(F, OH, N, OW)``, and the width copies ``xw`` it made (views of the workspace if
    there is one; ``src`` may be a view of its "scratch" buffer, which the output takes over
    once ``xw`` is made).

    The padding rows are zeros, so they are neither copied nor multiplied: ``Y`` has a row for
    every input row only, and each kernel row adds to the output rows that read one.
    """
    c, h, n, _ = src.shape
    f, cg, kh, kw = w.shape
    (ph, pw), (oh, ow) = pad, out_size
    xp = get_array_module(src, w)
    xw = width_copies(src, kw, ph, pw, oh, ow, kh, workspace)
    top, bottom = _stored_rows(h, kh, ph, oh)
    rows = bottom - top
    y = scratch(workspace, "product", (groups, kh * (f // groups), rows * n * ow), src)
    xp.matmul(_kernel_rows(w, groups), xw.reshape(groups, cg * kw, rows * n * ow), out=y)
    y = y.reshape(groups, kh, f // groups, rows, n, ow)
    out = scratch(workspace, "scratch", (groups, f // groups, oh, n, ow), src)

    bias = None if b is None else b.reshape(groups, f // groups, 1, 1, 1)

    # Each thread adds up the rows of some kernels (split over kernels, not images: a kernel's
    # rows are one contiguous block; 2-3x faster).
    def add_rows(part):
        for i in range(kh):
            lo, hi = _reads(i, top, bottom, oh)
            block = y[:, i, part, lo + i - top : hi + i - top]
            if i > 0:
                out[:, part, lo:hi] += block
            elif bias is None:
                out[:, part, :lo] = 0
                out[:, part, hi:] = 0
                out[:, part, lo:hi] = block
            else:  # the bias joins the first sum: no pass of its own
                out[:, part, :lo] = bias[:, part]
                out[:, part, hi:] = bias[:, part]
                xp.add(block, bias[:, part], out=out[:, part, lo:hi])

    threads.split(f // groups, add_rows, out, size=y.size)
    return out.reshape(f, oh, n, ow), xw


def kernel_gradient(xw, dout_t, kh: int, ph: int, groups: int):
    """``dw (F, C/G, KH, KW)`` from the width copies ``xw (C, KW, rows, N, OW)`` of the input
    (padded by ``ph`` rows) and ``dout_t (F, OH, N, OW)``: for each kernel row ``i``, a sum
    over the output rows whose window row ``i`` is not padding, as two batched products (one
    per half of those rows) added together."""
    c, kw, rows, n, ow = xw.shape
    f, oh = dout_t.shape[:2]
    fg, cg = f // groups, c // groups
    top = max(0, ph)
    xp = get_array_module(xw, dout_t)
    xw_g = xw.reshape(groups, cg * kw, rows, n * ow)
    dout_g = dout_t.reshape(groups, fg, oh, n * ow)
    # One product per kernel row, each (C/G*KW, F/G), rather than one product of xw with the
    # (KH*F/G)-column matrix of dout shifted by every i (zeros elsewhere): the same speed on a
    # quiet machine, but when other programs held a core the single product, whose many columns
    # make OpenBLAS's two threads wait for each other at every block of the long sum over
    # pixels, ran 25-35 times slower (measured for the Figure-1 net's conv2 and conv3).
    # Each product's sum runs in two halves of the output rows, the halves on two threads
    # (threads.split_products), then added: measured alone, 7.6 ms instead of 7.9 for the
    # Figure-1 net's conv2, 22.8 instead of 25.7 for AlexNet's. Always two halves, so the same
    # bits on any number of threads.
    halves = xp.zeros((2, kh, groups, cg * kw, fg), dtype=xw.dtype)

    def products(part):
        for half in range(part.start, part.stop):
            for i in range(kh):
                lo, hi = _reads(i, top, top + rows, oh)
                lo, hi = (lo, (lo + hi) // 2) if half == 0 else ((lo + hi) // 2, hi)
                if lo < hi:
                    xp.matmul(xw_g[:, :, lo + i - top : hi + i - top].reshape(groups, cg * kw, -1),
                              dout_g[:, :, lo:hi].reshape(groups, fg, -1).transpose(0, 2, 1),
                              out=halves[half, i])

    threads.split_products(2, products, xw)
    dwt = (halves[0] + halves[1]).reshape(kh, groups, cg, kw, fg).transpose(1, 4, 2, 0, 3)
    return xp.ascontiguousarray(dwt).reshape(f, cg, kh, kw)


def flipped(w, groups: int):
    """The kernels of the input gradient: ``w`` flipped in both directions, input and output
    channels swapped within each group, ``(C, F/G, KH, KW)``."""
    f, cg, kh, kw = w.shape
    xp = get_array_module(w)
    swapped = w.reshape(groups, f // groups, cg, kh, kw).transpose(0, 2, 1, 3, 4)
    return xp.ascontiguousarray(swapped[..., ::-1, ::-1]).reshape(groups * cg, f // groups, kh, kw)
