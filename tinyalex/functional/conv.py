"""Convolution (paper §3.5), with the grouped convolutions of the two GPUs (§3.2), by im2col.

A 2-D convolution (really a cross-correlation, as in every deep-learning library) of an input
``x`` of shape ``(N, C, H, W)`` with ``F`` kernels ``w`` of shape ``(F, C/G, KH, KW)`` is

    out[n, f, p, q] = b[f] + sum_{c, i, j} w[f, c, i, j] * xpad[n, g*C/G + c, p*sh + i, q*sw + j]

where ``g = f // (F/G)`` is the group of kernel ``f`` and ``xpad`` is ``x`` with ``ph`` rows and
``pw`` columns of zeros on each side. The output has ``OH = (H + 2*ph - KH) // sh + 1`` rows and
``OW = (W + 2*pw - KW) // sw + 1`` columns.

im2col turns this into one matrix product: it copies every receptive field into a column,

    cols[(c, i, j), (n, p, q)] = xpad[n, c, p*sh + i, q*sw + j]       (C*KH*KW, N*OH*OW)

so that, per group, ``out = w.reshape(F/G, C/G*KH*KW) @ cols_g``. With ``groups=2`` kernels
``0..F/2-1`` see only channels ``0..C/2-1``: the paper's layers 2, 4 and 5, whose kernels "take
input only from those kernel maps which reside on the same GPU" (§3.2).

The backward pass is the same product transposed:

    dw_g   = dout_g @ cols_g^T          (how much each weight moved the loss)
    dcols_g = w_g^T @ dout_g            (the gradient of every copied pixel)
    dx     = col2im(dcols)              (add the copies back onto the pixels they came from)
    db[f]  = sum_{n, p, q} dout[n, f, p, q]

Both im2col and col2im loop over the KH*KW kernel offsets only; each step moves one strided slice
of the whole batch, so the same code runs fast on NumPy and CuPy (and needs no ``add.at``). On the
CPU the fast version's copies run on every core, a part of the batch (or of the channels or
kernels) per thread (``threads``); the products run on OpenBLAS's own threads.

Two implementations, with the same results up to rounding:

* ``conv2d_forward_naive`` / ``conv2d_backward_naive``, the one to read: the formulas above,
  with ``im2col`` and ``col2im``.
* ``conv2d_forward`` / ``conv2d_backward``, the one the layers use, runs one of four
  algorithms (``algorithm=``; ``"auto"`` asks ``choose_algorithm``). On the CPU: im2col as
  above, for strided layers and first layers with 3 input channels; for the other stride-1
  layers, the "fourier" algorithm of ``conv_fourier`` where it saves most of the
  multiplications (5x5 kernels: the Figure-1 net's conv2 and conv3, AlexNet's conv2), one small
  product per frequency of the DFTs of the images or of tiles of them (the convolution
  theorem), or else the "rows" algorithm of ``conv_rows``, which copies the input KW times
  instead of KH*KW times and runs products OpenBLAS is faster on (AlexNet's 3x3 layers). On a GPU:
  the "gather" algorithm of ``conv_gather``, im2col as one indexed copy instead of KH*KW
  strided ones (a GPU pays for every launch).

Speed and memory. The column matrix is big: KH*KW copies of the input (92 MB for the Figure-1
net's second convolution at batch 128, 224 MB for AlexNet's conv2 at batch 32, where im2col or
gather computes it; the rows algorithm's KW copies are a fifth of that), so where it lives
matters more than how it is computed:

* without a workspace (the default), the forward pass keeps ``cols`` (or the rows algorithm's
  width copies) in its cache for the backward pass: no work is done twice, but every layer
  holds its own copies until backward;
* with a ``Workspace``, the copies and every other temporary are written into buffers that all
  layers share and that are never paged in again; the backward pass then rebuilds them (a plain
  copy) and reuses the same buffers for the input gradient, so the whole network holds one set
  at a time.

Measured on a 2-core CPU (benchmarks/compare_torch.py), with im2col: a workspace roughly halves
the extra memory of a step (AlexNet's conv2 at batch 16: 141 MB instead of 247 MB), and its time
is within 13% either way: 10% less for the Figure-1 net's conv2 (fresh pages cost more than the
second im2col), 13% more for its small conv3, whose arrays the allocator recycles anyway.
The rows algorithm instead of im2col for the stride-1 layers (interleaved whole SGD steps):
0.76x the time for the Figure-1 net with ReLU, 0.80x with tanh, 0.95x for AlexNet; alone, the
Figure-1 net's conv2 forward and backward on one thread took 65 ms instead of 97 (PyTorch: 23).
The fourier algorithm keeps the spectra of the input and the kernels instead of copies (1.4x the
input for 15x15 maps), with or without a workspace. Instead of the rows algorithm it took the
Figure-1 net's conv2 from 25.5 to 12.2 ms (forward plus backward at batch 128, each call repeated
alone on 2 threads), its conv3 from 10.2 to 5.5 ms; in tiles, AlexNet's conv2 from 88.6 to
54.5 ms at batch 16 (3x3 tiles) and from 174 to 116 ms at batch 32 (1x4 tiles).
"""

from __future__ import annotations

import math
import typing

import numpy

from .. import threads
from ..backend import get_array_module
from . import _checks, conv_fourier, conv_gather, conv_rows
from .workspace import Workspace, scratch


def conv_output_size(size: int, kernel: int, stride: int = 1, pad: int = 0) -> int:
    """``floor((size + 2*pad - kernel) / stride) + 1``: outputs along one spatial axis, for a
    window of ``kernel`` that fits in the padded ``size`` (else a ``ValueError``)."""
    op = "conv_output_size"
    size, pad = (_checks.int_at_least(op, name, v, 0) for name, v in (("size", size), ("pad", pad)))
    kernel = _checks.positive_int(op, "kernel", kernel)
    stride = _checks.positive_int(op, "stride", stride)
    if kernel > size + 2 * pad:
        raise ValueError(f"{op}: kernel {kernel} is larger than the padded size {size + 2 * pad}")
    return (size + 2 * pad - kernel) // stride + 1


def _geometry(op, x_shape, kh, kw, stride, pad):
    """Check the window against the (padded) input; return strides, pads and output size."""
    kh = _checks.positive_int(op, "kernel height", kh)
    kw = _checks.positive_int(op, "kernel width", kw)
    sh, sw = _checks.pair(op, "stride", stride, minimum=1)
    ph, pw = _checks.pair(op, "pad", pad, minimum=0)
    _, _, h, w = x_shape
    if kh > h + 2 * ph or kw > w + 2 * pw:
        raise ValueError(
            f"{op}: kernel {kh}x{kw} is larger than the padded input "
            f"{h + 2 * ph}x{w + 2 * pw} (input {h}x{w}, pad {ph},{pw})"
        )
    return sh, sw, ph, pw, conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)


def _windows(a, i: int, j: int, sh: int, sw: int, oh: int, ow: int):
    """The view ``a[..., p*sh + i, q*sw + j]`` over all outputs ``(p, q)``."""
    return a[..., i : i + sh * (oh - 1) + 1 : sh, j : j + sw * (ow - 1) + 1 : sw]


def _im2col(x, kh, kw, sh, sw, ph, pw, oh, ow, workspace):
    """im2col as ``(C, kh, kw, N, OH, OW)`` (rows of ``cols`` unflattened), in ``workspace``;
    each part of the batch copied by its own thread (``threads``)."""
    n, c, h, w = x.shape
    cols = scratch(workspace, "copies", (c, kh, kw, n, oh, ow), x)
    if ph or pw:
        xpad = scratch(workspace, "scratch", (c, n, h + 2 * ph, w + 2 * pw), x)

    def copy(part):
        source = x[part].transpose(1, 0, 2, 3)  # channels first: each copy writes rows of cols
        if ph or pw:
            xpad[:, part].fill(0)
            xpad[:, part, ph : ph + h, pw : pw + w] = source
            source = xpad[:, part]
        for i in range(kh):
            for j in range(kw):
                cols[:, i, j, part] = _windows(source, i, j, sh, sw, oh, ow)

    threads.split(n, copy, x, size=cols.size)
    return cols


def _col2im(cols, x_shape, kh, kw, sh, sw, ph, pw, workspace):
    """col2im of ``cols`` shaped ``(C, kh, kw, N, OH, OW)``; returns a new ``(N, C, H, W)`` array."""
    n, c, h, w = x_shape
    oh, ow = cols.shape[4:]
    xpad = scratch(workspace, "scratch", (c, n, h + 2 * ph, w + 2 * pw), cols)
    dx = get_array_module(cols).empty(x_shape, dtype=cols.dtype)  # never a view of xpad

    def add(part):
        target = xpad[:, part]
        target.fill(0)
        for i in range(kh):
            for j in range(kw):
                _windows(target, i, j, sh, sw, oh, ow)[...] += cols[:, i, j, part]
        dx[part] = target[:, :, ph : ph + h, pw : pw + w].transpose(1, 0, 2, 3)

    threads.split(n, add, cols)
    return dx


def _per_image(cols, groups: int):
    """``cols (C, kh, kw, N, OH, OW)`` viewed as ``(N, G, C/G*kh*kw, OH*OW)``: image ``n``'s
    columns for group ``g``, a matrix with unit column stride (no copy)."""
    c, kh, kw, n, oh, ow = cols.shape
    return cols.reshape(groups, c // groups * kh * kw, n, oh * ow).transpose(2, 0, 1, 3)


def im2col(x, kh: int, kw: int, stride=1, pad=0):
    """Copy every ``kh x kw`` receptive field of ``x`` into a column.

    x: ``(N, C, H, W)``. Returns ``cols`` of shape ``(C*kh*kw, N*OH*OW)`` with
    ``cols[(c, i, j), (n, p, q)] = xpad[n, c, p*sh + i, q*sw + j]``: rows run over channel, then
    kernel row, then kernel column; columns over image, then output row, then output column.
    ``stride`` and ``pad`` are an int or a ``(vertical, horizontal)`` pair; padding is zeros.
    """
    _checks.ndim("im2col", "x", x, 4, "(N, C, H, W)")
    n, c, _, _ = x.shape
    sh, sw, ph, pw, oh, ow = _geometry("im2col", x.shape, kh, kw, stride, pad)
    return _im2col(x, kh, kw, sh, sw, ph, pw, oh, ow, None).reshape(c * kh * kw, n * oh * ow)


def col2im(cols, x_shape, kh: int, kw: int, stride=1, pad=0):
    """The adjoint of ``im2col``: add every column back onto the pixels it was copied from.

    cols: ``(C*kh*kw, N*OH*OW)`` laid out as ``im2col`` makes it. Returns an array of shape
    ``x_shape = (N, C, H, W)``; a pixel that sat in several receptive fields receives the sum of
    their entries, and padding is dropped. (So ``col2im(im2col(x))`` is ``x`` times the number of
    windows each pixel is in, not ``x``.)
    """
    if len(x_shape) != 4:
        raise ValueError(f"col2im: x_shape must be (N, C, H, W), got {tuple(x_shape)}")
    n, c, _, _ = x_shape
    sh, sw, ph, pw, oh, ow = _geometry("col2im", x_shape, kh, kw, stride, pad)
    _checks.same_shape("col2im", "cols", cols, (c * kh * kw, n * oh * ow))
    return _col2im(cols.reshape(c, kh, kw, n, oh, ow), x_shape, kh, kw, sh, sw, ph, pw, None)


def _check_conv(op, x, w, b, stride, pad, groups):
    """Check the arguments of a convolution; return ``groups`` and ``(sh, sw, ph, pw, OH, OW)``."""
    _checks.ndim(op, "x", x, 4, "(N, C, H, W)")
    _checks.ndim(op, "w", w, 4, "(F, C/groups, KH, KW)")
    _checks.ndim(op, "b", b, 1, "(F,)")
    _checks.floating(op, ("x", x), ("w", w), ("b", b))
    groups = _checks.positive_int(op, "groups", groups)
    c, f, cg = x.shape[1], w.shape[0], w.shape[1]
    if f == 0 or cg == 0:
        raise ValueError(f"{op}: w must have at least one kernel of at least one channel, got "
                         f"shape {tuple(w.shape)}")
    if c % groups or f % groups:
        raise ValueError(
            f"{op}: channels C={c} and kernels F={f} must both be divisible by groups={groups}"
        )
    if cg != c // groups:
        raise ValueError(
            f"{op}: w has shape {tuple(w.shape)}, so each kernel sees {cg} channels, but x has "
            f"C={c} channels in {groups} group(s), i.e. {c // groups} per group"
        )
    _checks.same_shape(op, "b", b, (f,))
    return groups, _geometry(op, x.shape, w.shape[2], w.shape[3], stride, pad)


# ----------------------------------------------------------------------------------------------
# The readable version: im2col, one product per group, col2im


def conv2d_forward_naive(x, w, b, stride=1, pad=0, groups: int = 1):
    """2-D convolution by im2col, the version to read (same arguments and results as
    ``conv2d_forward``, which is faster): ``out_g = w_g @ cols_g``, plus the bias."""
    groups, geometry = _check_conv("conv2d_forward_naive", x, w, b, stride, pad, groups)
    n = x.shape[0]
    f, cg, kh, kw = w.shape
    oh, ow = geometry[4:]
    cols = im2col(x, kh, kw, stride, pad).reshape(groups, cg * kh * kw, n * oh * ow)
    out = w.reshape(groups, f // groups, cg * kh * kw) @ cols  # (G, F/G, N*OH*OW)
    out = out.reshape(f, n, oh, ow).transpose(1, 0, 2, 3) + b.reshape(1, f, 1, 1)
    return out, (x.shape, w, cols, stride, pad, out.shape)


def conv2d_backward_naive(dout, cache):
    """Gradients of ``conv2d_forward_naive``: ``dw_g = dout_g @ cols_g^T``,
    ``dx = col2im(w_g^T @ dout_g)``, ``db`` = the sum of ``dout`` over images and positions."""
    x_shape, w, cols, stride, pad, out_shape = cache
    groups, rows, pixels = cols.shape
    f, _, kh, kw = w.shape
    _checks.dout_like("conv2d_backward_naive", dout, out_shape, w.dtype)
    dout_g = dout.transpose(1, 0, 2, 3).reshape(groups, f // groups, pixels)
    dw = (dout_g @ cols.transpose(0, 2, 1)).reshape(w.shape)
    db = dout.sum(axis=(0, 2, 3))
    dcols = w.reshape(groups, f // groups, rows).transpose(0, 2, 1) @ dout_g
    dx = col2im(dcols.reshape(groups * rows, pixels), x_shape, kh, kw, stride, pad)
    return dx, dw, db


# ----------------------------------------------------------------------------------------------
# The fast version: im2col, rows, fourier or gather, temporaries in the workspace


ALGORITHMS = ("auto", "im2col", "rows", "fourier", "gather")


def choose_algorithm(x_shape, w_shape, stride, pad, groups: int, xp=numpy) -> str:
    """The fastest algorithm, by the rules of thumb measured on a 2-core CPU:

    * ``"gather"`` for arrays on a GPU (``xp`` not numpy);
    * ``"im2col"`` for a strided convolution, and for a stride-1 one whose rows product would
      have an inner dimension ``C/G*KW`` under a third of ``KH*F/G`` (its product ``Y`` would
      dwarf the copies it saves: a first layer with 3 channels);
    * ``"fourier"`` for the others where ``conv_fourier.plan`` finds tiles that need at least 4
      times fewer multiplications than the direct sum, and the kernels are no larger than the
      image (else some weights see only padding; their gradient is 0, but the DFTs tie them to
      the output by rounding, which finite differences turn into large relative errors): the
      Figure-1 net's conv2 and conv3, AlexNet's conv2 (5x5 kernels);
    * ``"rows"`` otherwise: AlexNet's conv3 to conv5 (3x3 kernels, where tiles save 1.4-2.1
      times the multiplications at batch 32).

    ``x_shape`` ``(N, C, H, W)``, ``w_shape`` ``(F, C/G, KH, KW)``; ``stride`` and ``pad`` an
    int or a pair.
    """
    if xp is not numpy:
        return "gather"
    n, _, h, w = x_shape
    f, cg, kh, kw = w_shape
    if _checks.pair("conv", "stride", stride, minimum=1) != (1, 1):
        return "im2col"
    if 3 * cg * kw < kh * (f // groups):
        return "im2col"
    pad = _checks.pair("conv", "pad", pad, minimum=0)
    fits = kh <= h and kw <= w
    pays = conv_fourier.plan((h, w), (kh, kw), pad, n, f // groups) is not None
    return "fourier" if fits and pays else "rows"


def _add_bias(y, b, out):
    """``out = y + b`` per kernel, ``y`` and ``out`` ``(N, F, OH, OW)`` (``y`` any strides)."""
    bias = b.reshape(1, -1, 1, 1)
    threads.apply(lambda y, out: get_array_module(out).add(y, bias, out=out), y, out)


class _ConvCache(typing.NamedTuple):
    x: object
    w: object
    saved: object  # im2col's or gather's cols, rows's width copies (None: rebuilt in the
    # workspace), or fourier's spectra (always kept)
    geometry: tuple  # sh, sw, ph, pw, oh, ow
    groups: int
    algorithm: str
    workspace: Workspace | None


def conv2d_forward(x, w, b, stride=1, pad=0, groups: int = 1, workspace: Workspace | None = None,
                   algorithm: str = "auto"):
    """2-D convolution (paper §3.5; grouped, §3.2). See the module docstring for the formula.

    x: ``(N, C, H, W)``; w: ``(F, C/groups, KH, KW)``; b: ``(F,)``; ``stride`` and ``pad`` an int
    or a ``(vertical, horizontal)`` pair. Returns ``out`` of shape ``(N, F, OH, OW)`` with
    ``OH = (H + 2*ph - KH) // sh + 1`` (likewise ``OW``), and the cache for ``conv2d_backward``.
    ``workspace``: an optional ``Workspace`` for the temporaries (same results; see "Speed and
    memory" in the module docstring); the backward pass uses it too. ``algorithm``: ``"im2col"``,
    ``"rows"`` or ``"fourier"`` (stride 1 only; see ``conv_rows``, ``conv_fourier``),
    ``"gather"`` (see ``conv_gather``) or ``"auto"`` (``choose_algorithm``).
    """
    op = "conv2d_forward"
    groups, geometry = _check_conv(op, x, w, b, stride, pad, groups)
    if algorithm not in ALGORITHMS:
        raise ValueError(f"{op}: algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    xp = get_array_module(x, w, b)
    if algorithm == "auto":
        algorithm = choose_algorithm(x.shape, w.shape, geometry[:2], geometry[2:4], groups, xp)
    if algorithm in ("rows", "fourier") and geometry[:2] != (1, 1):
        raise ValueError(f"{op}: the {algorithm} algorithm needs stride 1, got {geometry[:2]}")
    n = x.shape[0]
    f, cg, kh, kw = w.shape
    sh, sw, ph, pw, oh, ow = geometry
    out = xp.empty((n, f, oh, ow), dtype=x.dtype)
    if algorithm == "gather":
        saved = conv_gather.gather_columns(x, w.shape, geometry, groups, workspace)
        conv_gather.gather_forward(saved, w, b, out, workspace)
    elif algorithm == "fourier":
        saved = conv_fourier.fourier_forward(x, w, b, (ph, pw), groups, workspace, out)
    elif algorithm == "rows":
        y, saved = conv_rows.rows_conv(x.transpose(1, 2, 0, 3), w, (ph, pw), (oh, ow), groups,
                                       workspace, b)
        threads.apply(xp.copyto, out, y.transpose(2, 0, 1, 3))
    else:
        saved = _im2col(x, kh, kw, *geometry, workspace)
        y = scratch(workspace, "product", (groups, f // groups, n * oh * ow), x)
        xp.matmul(w.reshape(groups, f // groups, cg * kh * kw),
                  saved.reshape(groups, cg * kh * kw, n * oh * ow), out=y)
        _add_bias(y.reshape(f, n, oh, ow).transpose(1, 0, 2, 3), b, out)
    kept = saved if workspace is None or algorithm == "fourier" else None
    return out, _ConvCache(x, w, kept, geometry, groups, algorithm, workspace)


def conv2d_backward(dout, cache, input_grad: bool = True):
    """Gradients of ``conv2d_forward``: returns ``dx (N, C, H, W), dw (F, C/G, KH, KW), db (F,)``.

    With ``dout`` reshaped per group to ``(F/G, N*OH*OW)``: ``dw_g = dout_g @ cols_g^T``,
    ``dx = col2im(w_g^T @ dout_g)`` and ``db`` sums ``dout`` over images and positions (the
    rows and fourier algorithms compute the same sums their own ways; see ``conv_rows``,
    ``conv_fourier``).
    ``input_grad=False`` skips ``dx`` (returned as ``None``): a network's first layer needs no
    gradient of the images it is fed, and ``dx`` costs a product and a col2im.
    """
    x, w, saved, geometry, groups, algorithm, workspace = cache
    f, cg, kh, kw = w.shape
    n, c, _, _ = x.shape
    sh, sw, ph, pw, oh, ow = geometry
    _checks.dout_like("conv2d_backward", dout, (n, f, oh, ow), w.dtype)
    if algorithm == "rows":
        return _rows_backward(dout, cache, input_grad)
    if algorithm == "gather":
        return _gather_backward(dout, cache, input_grad)
    if algorithm == "fourier":
        dx, dw = conv_fourier.fourier_backward(dout, x.shape, w.shape, saved, groups, workspace,
                                               input_grad)
        return dx, dw, _bias_gradient(dout, 1)
    rows, pixels = cg * kh * kw, n * oh * ow

    xp = get_array_module(dout, w)
    db = _bias_gradient(dout, 1)
    cols = saved if saved is not None else _im2col(x, kh, kw, *geometry, workspace)
    # dw_g^T = sum over images of cols[g, :, n] @ dout[n, g]^T: a product per image, read from the
    # NCHW dout as it is, then summed (measured alone: 0.77x the time of transposing dout for
    # one long product); computed as (cols @ dout^T)^T since OpenBLAS does better with the
    # C/G*KH*KW rows, not the F/G kernels, as the rows of the product (see linear_forward).
    # Small products: each thread takes some images (threads.split_products).
    columns = _per_image(cols, groups)
    douts = dout.reshape(n, groups, f // groups, oh * ow).transpose(0, 1, 3, 2)
    per_image = xp.empty((n, groups, rows, f // groups), dtype=dout.dtype)
    threads.split_products(n, lambda part: xp.matmul(columns[part], douts[part],
                                                     out=per_image[part]), per_image, cols.size)
    dw = xp.ascontiguousarray(per_image.sum(axis=0).transpose(0, 2, 1)).reshape(w.shape)
    if not input_grad:
        return None, dw, db
    dout_g = scratch(workspace, "product", (f, n, oh, ow), dout)
    threads.apply(xp.copyto, dout_g.transpose(1, 0, 2, 3), dout)
    dout_g = dout_g.reshape(groups, f // groups, pixels)
    # cols is used up: with a workspace, dcols takes over its buffer.
    dcols = scratch(workspace, "copies", (groups, rows, pixels), dout)
    xp.matmul(w.reshape(groups, f // groups, rows).transpose(0, 2, 1), dout_g, out=dcols)
    dx = _col2im(dcols.reshape(c, kh, kw, n, oh, ow), x.shape, kh, kw, *geometry[:4], workspace)
    return dx, dw, db


def _bias_gradient(dout, axis: int):
    """``db[f]``, the sum of ``dout`` over every axis but the kernels' ``axis``: 1 for NCHW,
    0 for the rows algorithm's ``(F, OH, N, OW)``. Each kernel is summed on its own (NCHW: each
    image's block, then the images in order), so threads can take some kernels each
    (``threads``) and give the same bits as one thread."""
    xp = get_array_module(dout)
    if xp is not numpy:  # one reduction: a GPU pays for every launch, and has no threads here
        return dout.sum(axis=tuple(a for a in range(dout.ndim) if a != axis))
    db = xp.empty(dout.shape[axis], dtype=dout.dtype)
    # (F, rest) or (N, F, rest); the size of rest spelled out, since -1 is ambiguous for N = 0
    blocks = dout.reshape(dout.shape[: axis + 1] + (math.prod(dout.shape[axis + 1 :]),))

    def add(part):
        if axis == 0:
            blocks[part].sum(axis=1, out=db[part])
        else:
            blocks[:, part].sum(axis=2).sum(axis=0, out=db[part])

    threads.split(len(db), add, dout)
    return db


def _rows_backward(dout, cache, input_grad):
    x, w, xw, (_, _, ph, pw, oh, ow), groups, _, workspace = cache
    n, _, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = get_array_module(dout, w)
    dout_t = scratch(workspace, "scratch", (f, oh, n, ow), dout)
    threads.apply(xp.copyto, dout_t, dout.transpose(1, 2, 0, 3))  # rows's (C, H, N, W) layout
    db = _bias_gradient(dout_t, 0)
    if xw is None:
        xw = conv_rows.width_copies(x.transpose(1, 2, 0, 3), kw, ph, pw, oh, ow, kh, workspace)
    dw = conv_rows.kernel_gradient(xw, dout_t, kh, ph, groups)
    if not input_grad:
        return None, dw, db
    dx_t, _ = conv_rows.rows_conv(dout_t, conv_rows.flipped(w, groups), (kh - 1 - ph, kw - 1 - pw),
                                  (h, wd), groups, workspace)
    dx = xp.empty(x.shape, dtype=dout.dtype)  # never a view of the workspace
    threads.apply(xp.copyto, dx, dx_t.transpose(2, 0, 1, 3))
    return dx, dw, db


def _gather_backward(dout, cache, input_grad):
    x, w, cols, geometry, groups, _, workspace = cache
    n = x.shape[0]
    sh, sw, ph, pw, oh, ow = geometry
    db = _bias_gradient(dout, 1)
    if cols is None:
        cols = conv_gather.gather_columns(x, w.shape, geometry, groups, workspace)
    dy = conv_gather.output_columns(dout, groups, workspace)
    dw = conv_gather.kernel_gradient(cols, dy, w.shape)
    if not input_grad:
        return None, dw, db
    if (sh, sw) == (1, 1):
        return conv_gather.input_gradient(dout, w, x.shape, (ph, pw), groups, workspace), dw, db
    dcols = conv_gather.column_gradient(dy, w, n, (oh, ow), workspace)
    return _col2im(dcols, x.shape, *w.shape[2:], sh, sw, ph, pw, workspace), dw, db
