"""The "fourier" convolution: a stride-1 convolution as a product per frequency (the convolution
theorem), with the discrete Fourier transforms done as matrix products (the algorithm
``conv2d_forward`` picks on the CPU for the Figure-1 net's conv2 and conv3 and AlexNet's conv2;
``conv.py`` has the definitions and the readable version).

Circular correlation. Put each ``H x W`` image in a ``LH x LW`` plane with
``LH >= max(H + ph, OH, KH)`` (likewise ``LW``) and index it modulo ``LH`` and ``LW``. Output
``(p, q)`` reads input rows ``p - ph .. p - ph + KH - 1``, all within ``[-ph, H + ph)``; modulo
``LH`` the ones outside ``[0, H)`` land on rows ``H .. LH - 1``, which hold zeros, so the padding
comes free. With the kernel stored at rows ``-ph .. KH - 1 - ph`` (modulo ``LH``), the
convolution is the circular correlation

    out[n, f, p, q] = b[f] + sum_c sum_{s, t} x[n, c, p + s, q + t] * wc[f, c, s, t]   (mod LH, LW)

and the 2-D DFT ``X[k] = sum_{h, w} x[h, w] e^(-2 pi i (k1 h / LH + k2 w / LW))`` turns a circular
correlation into a product at every frequency ``k = (k1, k2)``:

    OUT[n, f, k] = sum_c X[n, c, k] * conj(WC[f, c, k])     (a (N x C) @ (C x F) product per k)

For real images the frequencies ``k1 > LH/2`` repeat the others (conjugated), so only
``k1 = 0 .. LH // 2`` are computed; ``out`` comes back by the inverse DFT of those, counting the
others twice. That is ``K = (LH // 2 + 1) * LW`` products of ``C`` by ``F`` matrices instead of a
sum over ``KH*KW`` shifts at every one of the ``OH*OW`` positions: for the Figure-1 net's conv2
(15x15 maps, 5x5 kernels, ``LH = LW = 17``) 153 frequencies instead of 25 * 225 position-shift
pairs, a ninth of the multiplications.

The DFTs are not FFTs: the planes are small (17x17), and one matrix product per axis,
``dft_matrices``, runs faster than NumPy's FFT on them. The FFT pays per plane: ``rfft2`` of the
conv2 input (4,096 planes) took 11-17 ms here, the two products about 1.5 ms (the first one an
18 x 15 matrix times a 15 x 61,440 one: 9 frequencies, re and im, by 15 rows). A complex number is
kept as two real numbers, ``(re, im)``, on an axis of its own, so every product is a float32
product (OpenBLAS) and the results stay float32 (or float64). The array layouts keep each
frequency's ``(re, im) x channel x image`` block contiguous:

    x (N, C, H, W) -> (H, W, C, N) -> X (K, 2C, N) = [Xr; Xi]
    OUT_k (2F, N) = [[Wr, Wi], [-Wi, Wr]] @ X_k      (the complex product, as one real product)
    OUT (K, 2F, N) -> (OH, OW, F, N) -> out (N, F, OH, OW)

(in tiles, below, ``N`` counts tiles and the planes are a tile's, not the image's).

The backward pass applies the transpose of every step, in reverse order: the transposes of the
inverse DFT matrices (a forward DFT, scaled), the transposed product per frequency for ``dx``,
``dOUT_k @ X_k^T`` summed over images for the kernels' spectrum, then the transposes of the DFT
matrices. So the gradients are exact (as exact as the forward pass, up to rounding), with no
separate derivation. Groups are one pass per group. In float32 it is as accurate as the other
algorithms: for the Figure-1 net's conv2 the output, ``dx`` and ``dw`` are within 2.0e-7,
2.7e-7 and 2.6e-7 of the float64 result (relative to its largest entry), im2col's within
5.0e-7, 2.3e-7 and 4.5e-7 (``benchmarks/conv_accuracy.py``).

Tiles (overlap-save). Large maps need large planes, and the DFT matrices' cost per pixel grows
with the plane's side; few images make the products thin, and the kernels' spectra, which every
product reads, outweigh the images'. Both are cured by cutting the output into tiles of
``TH x TW`` pixels (``Tiles``): a tile is the convolution, with no padding, of the
``(TH + KH - 1) x (TW + KW - 1)`` input pixels it reads (neighbouring tiles share ``KH - 1``
rows), so the tiles of all images are the "images" of one batch, ``TA*TB*N`` columns for every
product. The input gradients of the shared pixels add up (``_from_planes``). ``plan`` picks the
tiles: for AlexNet's conv2 at batch 16, 3x3 tiles of 9x9 outputs in 13x13 planes, 91 * 4 * 9
multiplications per image, channel and kernel instead of 25 * 729; one tile, the whole image in
its smallest planes, for the Figure-1 net.

Cost: the spectrum of the input (kept for the backward pass) is ``2K * TA*TB / (H*W)`` times the
size of the input (1.4x for the Figure-1 net's 15x15 maps), and the kernels' blocks are
``4K*F*C/G`` numbers.
"""

from __future__ import annotations

import functools
import math
import typing

import numpy

from .. import threads
from ..backend import get_array_module
from .workspace import scratch


def _real_dft(positions, length: int):
    """``(2 * (length // 2 + 1), len(positions))``: row ``(k, 0)`` is ``cos(2 pi k t / length)``
    and row ``(k, 1)`` is ``-sin(2 pi k t / length)`` at the positions ``t``, for
    ``k = 0 .. length // 2``: the DFT of a real sequence stored at those positions, its real
    and imaginary parts on alternate rows."""
    angle = 2 * math.pi * numpy.outer(numpy.arange(length // 2 + 1), positions) / length
    return numpy.stack([numpy.cos(angle), -numpy.sin(angle)], axis=1).reshape(-1, len(positions))


def _complex_dft(positions, length: int):
    """``(2 * length, 2 * len(positions))``: the DFT of a complex sequence stored at the
    positions ``t`` (columns: real parts, then imaginary parts), for ``k = 0 .. length - 1``
    (rows ``(k, re)``, ``(k, im)``): with ``c = cos(2 pi k t / length)``, ``s = sin(...)``,
    ``(a + ib)(c - is) = (ac + bs) + i(bc - as)``."""
    angle = 2 * math.pi * numpy.outer(numpy.arange(length), positions) / length
    c, s = numpy.cos(angle), numpy.sin(angle)
    rows = numpy.stack([numpy.concatenate([c, s], axis=1), numpy.concatenate([-s, c], axis=1)],
                       axis=1)
    return rows.reshape(2 * length, 2 * len(positions))


class DFT(typing.NamedTuple):
    """The DFT matrices of one geometry (``dft_matrices``)."""

    planes: tuple  # (LH, LW)
    x_rows: object  # real DFT along H of the input rows 0 .. H-1
    x_cols: object  # complex DFT along W of the input columns 0 .. W-1
    w_rows: object  # the same at the kernel rows -ph .. KH-1-ph
    w_cols: object  # ... and kernel columns -pw .. KW-1-pw
    out_cols: object  # inverse complex DFT along W, to the output columns 0 .. OW-1
    out_rows: object  # inverse real DFT along H, to the output rows 0 .. OH-1


def plane_size(size: tuple, kernel: tuple, pad: tuple) -> tuple:
    """``(LH, LW)``, the smallest planes in which a circular correlation is the convolution of
    ``size = (H, W)`` images, ``kernel = (KH, KW)``, ``pad = (ph, pw)``: ``LH = max(H + ph, OH,
    KH)`` (the rows read, ``-ph .. H + ph - 1``, fall on distinct rows or on zeros; every
    output row and kernel row has a row of its own), likewise ``LW``."""
    return tuple(map(_plane, size, kernel, pad))


def _plane(length: int, kernel: int, pad: int) -> int:
    return max(length + pad, length + 2 * pad - kernel + 1, kernel)


class Tiles(typing.NamedTuple):
    """Overlap-save: the output cut into ``counts = (TA, TB)`` tiles of ``step = (TH, TW)`` rows
    and columns (the last ones cropped at the edge), tile ``(u, v)`` computed as a convolution of
    its own, with padding ``pad``, of the input rows ``u*TH - offset[0] ..`` (``size[0]`` of them;
    zeros outside the image) and the columns likewise.

    Along an axis in one tile, the tile is the whole image: ``step`` is ``OH``, ``size`` is
    ``H``, ``pad`` the layer's (the circular indexing supplies it) and ``offset`` 0. Along a
    tiled axis, ``size`` is ``TH + KH - 1`` rows of the padded input, ``pad`` 0 and ``offset``
    the layer's padding: neighbouring tiles share ``KH - 1`` input rows, and sum their gradients
    there in the backward pass."""

    counts: tuple
    step: tuple
    size: tuple
    pad: tuple
    offset: tuple

    def input_axes(self) -> tuple:
        """``(count, step, size, offset)`` per axis: how the input is cut (``_regions``)."""
        return tuple(zip(self.counts, self.step, self.size, self.offset))

    def output_axes(self) -> tuple:
        """The same for the output: tiles side by side, ``step`` entries each."""
        return tuple(zip(self.counts, self.step, self.step, (0, 0)))


def _tile_axis(length: int, kernel: int, pad: int, step) -> tuple:
    """``(count, step, size, pad, offset)`` along one axis (``Tiles``); ``step`` None (or the
    whole output) for one tile."""
    out = length + 2 * pad - kernel + 1
    if step is None or step >= out:
        return 1, out, length, pad, 0
    return -(-out // step), step, step + kernel - 1, 0, pad


def tiling(size: tuple, kernel: tuple, pad: tuple, step: tuple = (None, None)) -> Tiles:
    """The ``Tiles`` of ``step = (TH, TW)`` output rows and columns (None: one tile along that
    axis) for ``size = (H, W)`` images, ``kernel = (KH, KW)`` and ``pad = (ph, pw)``."""
    return Tiles(*zip(*map(_tile_axis, size, kernel, pad, step)))


MAX_PLANE = 400  # pixels: the DFT matrices' cost per pixel grows with the plane's side
SAVING = 4  # the fourier algorithm pays where it does this many times fewer multiplications


@functools.lru_cache(maxsize=64)
def plan(size: tuple, kernel: tuple, pad: tuple, images: int, kernels: int) -> Tiles | None:
    """The tiling with the fewest multiplications for ``images`` images and ``kernels`` kernels
    per group, or None where none saves ``SAVING``-fold on the direct sum (``choose_algorithm``
    then picks another algorithm).

    Per image, channel and kernel the direct sum does ``KH*KW*OH*OW`` multiplications, the
    products per frequency ``4 * (LH // 2 + 1) * LW * TA * TB`` (a complex product is four real
    ones; ``LH x LW`` is the ``plane_size`` of one tile). Only tilings with planes of at most
    ``MAX_PLANE`` pixels and at least as many tiles (``N * TA * TB``, the columns of each
    product) as kernels per group count: fewer, and the kernels' spectra, which every product
    reads, outweigh the images'.
    """
    out = tiling(size, kernel, pad).step  # (OH, OW): one tile each way
    candidates = []
    for axis in (0, 1):
        options = []
        for step in (None, *range(1, out[axis])):
            count, _, length, circular, _ = _tile_axis(size[axis], kernel[axis], pad[axis], step)
            plane = _plane(length, kernel[axis], circular)
            if plane * kernel[1 - axis] <= MAX_PLANE:  # the other axis's plane is no smaller
                options.append((step, count, plane))
        candidates.append(options)
    best = None
    for step_h, count_h, lh in candidates[0]:
        for step_w, count_w, lw in candidates[1]:
            if lh * lw > MAX_PLANE or images * count_h * count_w < kernels:
                continue
            cost = 4 * (lh // 2 + 1) * lw * count_h * count_w
            if best is None or cost < best[0]:
                best = cost, (step_h, step_w)
    if best is None or math.prod(kernel) * math.prod(out) < SAVING * best[0]:
        return None
    return tiling(size, kernel, pad, best[1])


@functools.lru_cache(maxsize=32)
def dft_matrices(size: tuple, kernel: tuple, pad: tuple, dtype: str) -> DFT:
    """The DFT matrices of a stride-1 convolution of ``size = (H, W)`` images with
    ``kernel = (KH, KW)`` kernels and ``pad = (ph, pw)``, in ``dtype`` (computed in float64).

    The planes are ``plane_size``. The inverse
    matrices are the transposes of the forward ones at the output positions, divided by the
    plane's size; the real inverse counts the frequencies ``0 < k1 < LH/2`` twice, for their
    conjugates that were not computed. Read-only arrays, shared by every call (cached).
    """
    (h, w), (kh, kw), (ph, pw) = size, kernel, pad
    oh, ow = h + 2 * ph - kh + 1, w + 2 * pw - kw + 1
    lh, lw = plane_size(size, kernel, pad)
    twice = numpy.full(lh // 2 + 1, 2.0)
    twice[0] = 1.0
    if lh % 2 == 0:
        twice[-1] = 1.0  # the frequency lh/2 is its own conjugate
    out_rows = (_real_dft(range(oh), lh) * numpy.repeat(twice, 2)[:, None]).T / lh
    matrices = [_real_dft(range(h), lh), _complex_dft(range(w), lw),
                _real_dft(range(-ph, kh - ph), lh), _complex_dft(range(-pw, kw - pw), lw),
                _complex_dft(range(ow), lw).T / lw, out_rows]
    arrays = []
    for m in matrices:
        m = numpy.ascontiguousarray(m, dtype=dtype)
        m.flags.writeable = False
        arrays.append(m)
    return DFT((lh, lw), *arrays)


def _regions(length: int, count: int, step: int, size: int, offset: int) -> list:
    """Along an axis of ``length`` entries cut into ``count`` tiles of ``size`` entries, tile
    ``t`` holding entries ``t*step - offset ..``: ``(t, entries, where they sit in the tile)``
    for every tile, as slices; the entries outside the axis (padding) are left out."""
    regions = []
    for t in range(count):
        first = t * step - offset
        low, high = min(max(first, 0), length), min(max(first + size, 0), length)
        regions.append((t, slice(low, high), slice(low - first, high - first)))
    return regions


def _to_planes(a, groups: int, axes: tuple, workspace):
    """``a (N, C, H, W)`` cut into tiles as ``axes`` says (``Tiles.input_axes`` or
    ``output_axes``), laid out ``(G, SH, SW, C/G, TA*TB*N)`` in the workspace's "scratch": the
    tiles' rows and columns, the layout whose rows the DFT matrices multiply, and tile by tile
    the images (a copy; zeros where a tile reaches past the image)."""
    n, c, h, w = a.shape
    (ta, _, sh, _), (tb, _, sw, _) = axes
    xp = get_array_module(a)
    planes = scratch(workspace, "scratch", (groups, sh, sw, c // groups, ta, tb, n), a)
    source = a.reshape(n, groups, c // groups, h, w).transpose(1, 3, 4, 2, 0)
    for u, rows, at_rows in _regions(h, *axes[0]):
        for v, cols, at_cols in _regions(w, *axes[1]):
            tile = planes[..., u, v, :]  # (G, SH, SW, C/G, N)
            tile[:, : at_rows.start] = 0
            tile[:, at_rows.stop :] = 0
            tile[:, at_rows, : at_cols.start] = 0
            tile[:, at_rows, at_cols.stop :] = 0
            for g in range(groups):  # each group's rows split over threads
                threads.apply(xp.copyto, tile[g, at_rows, at_cols], source[g, rows, cols])
    return planes.reshape(groups, sh, sw, c // groups, ta * tb * n)


def _from_planes(planes, out, axes: tuple, bias=None):
    """``out (N, C, H, W)`` from the tiles ``planes (SH, SW, C, TA*TB*N)`` cut as ``axes`` says
    (``_to_planes``'s adjoint: entries of overlapping tiles add up, entries past the edge are
    dropped), plus ``bias[c]`` (for the output, whose tiles lie side by side). Split over
    channels (``threads``) in blocks of a few, which runs several times faster than one copy of
    the whole array (the reads stay in cache)."""
    xp = get_array_module(planes)
    n, _, h, w = out.shape
    (ta, *_), (tb, *_) = axes
    tiles = planes.reshape(*planes.shape[:3], ta, tb, n)
    regions = [(u, v, rows, at_rows, cols, at_cols)
               for u, rows, at_rows in _regions(h, *axes[0])
               for v, cols, at_cols in _regions(w, *axes[1])]
    overlap = any(count > 1 and size > step for count, step, size, _ in axes)
    block = 8

    def copy(part):
        for c in range(part.start, part.stop, block):
            c = slice(c, min(c + block, part.stop))
            if overlap:
                out[:, c].fill(0)
            for u, v, rows, at_rows, cols, at_cols in regions:
                source = tiles[at_rows, at_cols, c, u, v].transpose(3, 2, 0, 1)
                target = out[:, c, rows, cols]
                if overlap:
                    target += source
                elif bias is None:
                    xp.copyto(target, source)
                else:
                    xp.add(source, bias[c, None, None], out=target)

    threads.split(out.shape[1], copy, out)


def _along_both(rows, cols, planes, along, out):
    """A 2-D DFT as two products: ``planes (A, B, M)`` (any ``M`` columns side by side), ``rows
    (2*K1, A)`` along the first axis, then ``cols (2*L, 2*B)`` along the second, whose re/im
    parts the first product put next to it: ``out (K1, 2*L, M)``. ``along (K1, 2*B, M)`` holds
    the product in between."""
    xp = get_array_module(planes)
    a, b, m = planes.shape
    k1 = rows.shape[0] // 2
    xp.matmul(rows, planes.reshape(a, b * m), out=along.reshape(2 * k1, b * m))
    xp.matmul(cols, along, out=out.reshape(k1, cols.shape[0], m))
    return out


def _back_from_both(cols, rows, spectrum, along, out):
    """``_along_both``'s mirror: ``spectrum (K1, 2*L, M)``, ``cols (2*Q, 2*L)`` along the second
    axis, then ``rows (P, 2*K1)`` along the first: ``out (P, Q, M)``. ``along (K1, 2*Q, M)``
    holds the product in between. With the inverse DFT matrices it is the inverse DFT; with the
    forward ones transposed, the forward DFT's transpose (the backward pass)."""
    xp = get_array_module(spectrum)
    k1, _, m = spectrum.shape
    q = cols.shape[0] // 2
    xp.matmul(cols, spectrum, out=along.reshape(k1, 2 * q, m))
    xp.matmul(rows, along.reshape(2 * k1, q * m), out=out.reshape(rows.shape[0], q * m))
    return out


def _spectrum(planes, dft: DFT, workspace, out):
    """The DFT of images laid out ``(H, W, C, N)``, written into ``out (K, 2C, N)``: frequency
    ``k = (k1, k2)`` outermost, then ``re``/``im``, channel, image."""
    h, w, c, n = planes.shape
    xp = get_array_module(planes)
    rows = xp.asarray(dft.x_rows)  # (2 * K1, H): K1 = LH // 2 + 1
    along = scratch(workspace, "product", (rows.shape[0] // 2, 2 * w, c * n), planes)
    _along_both(rows, xp.asarray(dft.x_cols), planes.reshape(h, w, c * n), along, out)


def _kernel_spectrum(w, dft: DFT):
    """The DFT of the kernels ``w (F, C, KH, KW)`` (stored at rows ``-ph ..`` and columns
    ``-pw ..``) as the real matrix of the complex product: ``(K, 2F, 2C)`` blocks
    ``[[Wr, Wi], [-Wi, Wr]]``, so that ``OUT_k = block_k @ X_k`` is ``X * conj(W)``."""
    f, c, kh, kw = w.shape
    xp = get_array_module(w)
    rows = xp.asarray(dft.w_rows)
    k1 = rows.shape[0] // 2
    planes = xp.ascontiguousarray(w.transpose(2, 3, 0, 1)).reshape(kh, kw, f * c)
    along = xp.empty((k1, 2 * kw, f * c), dtype=w.dtype)
    spectrum = xp.empty((k1 * dft.planes[1], 2, f, c), dtype=w.dtype)
    _along_both(rows, xp.asarray(dft.w_cols), planes, along, spectrum)
    real, imag = spectrum[:, 0], spectrum[:, 1]
    blocks = xp.empty((len(spectrum), 2 * f, 2 * c), dtype=w.dtype)
    blocks[:, :f, :c] = real
    blocks[:, f:, c:] = real
    blocks[:, :f, c:] = imag
    xp.negative(imag, out=blocks[:, f:, :c])
    return blocks


def _per_frequency(a, b, out):
    """``out[k] = a[k] @ b[k]`` for every frequency ``k``: small products, some frequencies
    per thread (``threads.split_products``; measured on the Figure-1 net's conv2, 0.6 ms
    instead of 1.1 for the forward's, on OpenBLAS's threads)."""
    xp = get_array_module(out)
    threads.split_products(len(out), lambda part: xp.matmul(a[part], b[part], out=out[part]),
                           out, a.size + b.size + out.size)


def _inverse(spectrum, dft: DFT, out_size: tuple, workspace):
    """The inverse DFT of ``spectrum (K, 2F, N)`` at the output positions: ``(OH, OW, F, N)``
    in the workspace's "scratch"."""
    xp = get_array_module(spectrum)
    oh, ow = out_size
    cols, rows = xp.asarray(dft.out_cols), xp.asarray(dft.out_rows)  # (2*OW, 2*LW), (OH, 2*K1)
    f, n = spectrum.shape[1] // 2, spectrum.shape[2]
    along = scratch(workspace, "copies", (rows.shape[1] // 2, 2 * ow, f * n), spectrum)
    planes = scratch(workspace, "scratch", (oh, ow, f, n), spectrum)
    return _back_from_both(cols, rows, spectrum.reshape(len(along), cols.shape[1], f * n), along,
                           planes)


def fourier_forward(x, w, b, pad: tuple, groups: int, workspace, out):
    """The stride-1 convolution of ``x (N, C, H, W)`` with ``w``, plus ``b``, written into
    ``out (N, F, OH, OW)``, in the tiles ``plan`` picks (one, the whole image, where none
    pays). Returns what the backward pass needs, ``(X, W, tiles)``: the input's spectrum
    ``(G, K, 2C/G, TA*TB*N)``, the kernels' ``(G, K, 2F/G, 2C/G)`` (new arrays, never views of
    the workspace) and the ``Tiles``."""
    n, _, h, wd = x.shape
    f, cg, kh, kw = w.shape
    fg = f // groups
    xp = get_array_module(x, w)
    tiles = (plan((h, wd), (kh, kw), tuple(pad), n, fg)
             or tiling((h, wd), (kh, kw), tuple(pad)))
    dft = dft_matrices(tiles.size, (kh, kw), tiles.pad, numpy.dtype(x.dtype).str)
    frequencies = dft.x_rows.shape[0] // 2 * dft.planes[1]
    planes = _to_planes(x, groups, tiles.input_axes(), workspace)
    images = planes.shape[-1]
    spectrum = xp.empty((groups, frequencies, 2 * cg, images), dtype=x.dtype)
    kernels = xp.empty((groups, frequencies, 2 * fg, 2 * cg), dtype=x.dtype)
    for g in range(groups):
        _spectrum(planes[g], dft, workspace, out=spectrum[g])
    for g in range(groups):
        kernels[g] = _kernel_spectrum(w[g * fg : (g + 1) * fg], dft)
        product = scratch(workspace, "product", (frequencies, 2 * fg, images), x)
        _per_frequency(kernels[g], spectrum[g], product)
        result = _inverse(product, dft, tiles.step, workspace)
        _from_planes(result, out[:, g * fg : (g + 1) * fg], tiles.output_axes(),
                     b[g * fg : (g + 1) * fg])
    return spectrum, kernels, tiles


def fourier_backward(dout, x_shape: tuple, w_shape: tuple, saved, groups: int, workspace,
                     input_grad: bool = True):
    """``dx (N, C, H, W)`` (``None`` unless ``input_grad``) and ``dw (F, C/G, KH, KW)`` of
    ``fourier_forward``, from ``dout (N, F, OH, OW)`` and what it ``saved``: every step of the
    forward pass transposed, in reverse order (see the module docstring)."""
    spectrum, kernels, tiles = saved
    f, cg, kh, kw = w_shape
    fg = f // groups
    xp = get_array_module(dout, spectrum)
    dft = dft_matrices(tiles.size, (kh, kw), tiles.pad, numpy.dtype(dout.dtype).str)
    cols, rows = xp.asarray(dft.out_cols), xp.asarray(dft.out_rows)
    k1 = rows.shape[1] // 2
    th, tw = tiles.step
    dw = xp.empty(w_shape, dtype=dout.dtype)
    dx = xp.empty(x_shape, dtype=dout.dtype) if input_grad else None
    douts = _to_planes(dout, groups, tiles.output_axes(), workspace)  # (G, TH, TW, F/G, N')
    images = douts.shape[-1]
    for g in range(groups):
        along = scratch(workspace, "product", (k1, 2 * tw, fg * images), dout)
        dspectrum = scratch(workspace, "copies", (len(spectrum[g]), 2 * fg, images), dout)
        _along_both(rows.T, cols.T, douts[g].reshape(th, tw, fg * images), along, dspectrum)
        dkernels = xp.empty(kernels.shape[1:], dtype=dout.dtype)  # (K, 2F/G, 2C/G)
        _per_frequency(dspectrum, spectrum[g].transpose(0, 2, 1), dkernels)
        dw[g * fg : (g + 1) * fg] = _kernel_gradient(dkernels, dft, (kh, kw))
        if input_grad:
            dinput = scratch(workspace, "product", (len(spectrum[g]), 2 * cg, images), dout)
            _per_frequency(kernels[g].transpose(0, 2, 1), dspectrum, dinput)
            _from_planes(_input_planes(dinput, dft, tiles.size, workspace),
                         dx[:, g * cg : (g + 1) * cg], tiles.input_axes())
    return dx, dw


def _input_planes(dspectrum, dft: DFT, size: tuple, workspace):
    """The transposed DFT of ``_spectrum``: ``(K, 2C, N)`` back to images ``(H, W, C, N)``.
    The result goes into the workspace's "product", where ``dspectrum`` was (it is used up by
    then), so that the caller's "scratch" (the other groups' output gradients) stays intact."""
    xp = get_array_module(dspectrum)
    h, w = size
    rows, cols = xp.asarray(dft.x_rows), xp.asarray(dft.x_cols)
    k1 = rows.shape[0] // 2
    c, n = dspectrum.shape[1] // 2, dspectrum.shape[2]
    along = scratch(workspace, "copies", (k1, 2 * w, c * n), dspectrum)
    planes = scratch(workspace, "product", (h, w, c, n), dspectrum)
    return _back_from_both(cols.T, rows.T, dspectrum.reshape(k1, cols.shape[0], c * n), along,
                           planes)


def _kernel_gradient(dblocks, dft: DFT, kernel: tuple):
    """``dw (F, C, KH, KW)`` from the gradient of the product's blocks ``(K, 2F, 2C)``: ``Wr``
    sits in two blocks and ``Wi`` in two (once negated), then the kernel DFT transposed."""
    xp = get_array_module(dblocks)
    kh, kw = kernel
    f, c = dblocks.shape[1] // 2, dblocks.shape[2] // 2
    dspectrum = xp.empty((len(dblocks), 2, f, c), dtype=dblocks.dtype)
    xp.add(dblocks[:, :f, :c], dblocks[:, f:, c:], out=dspectrum[:, 0])
    xp.subtract(dblocks[:, :f, c:], dblocks[:, f:, :c], out=dspectrum[:, 1])
    rows, cols = xp.asarray(dft.w_rows), xp.asarray(dft.w_cols)
    k1 = rows.shape[0] // 2
    along = xp.empty((k1, 2 * kw, f * c), dtype=dblocks.dtype)
    planes = xp.empty((kh, kw, f, c), dtype=dblocks.dtype)
    _back_from_both(cols.T, rows.T, dspectrum.reshape(k1, cols.shape[0], f * c), along, planes)
    return planes.transpose(2, 3, 0, 1)
