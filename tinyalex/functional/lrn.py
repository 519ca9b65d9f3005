"""Local response normalization across channels, exactly as in paper §3.3.

For an input ``a`` of shape ``(N, C, H, W)`` (``C`` is the paper's ``N``, "the total number of
kernels in the layer"), with ``h = n // 2``:

    s[i]   = sum_{j = max(0, i-h)}^{min(C-1, i+h)} a[j]^2          (at every n, y, x)
    b[i]   = a[i] / (k + alpha * s[i]) ** beta

The paper's constants are k = 2, n = 5, alpha = 1e-4, beta = 0.75.

Conventions differ between libraries, and this one follows the paper (as Chainer does):
``alpha`` multiplies the plain sum of squares. Caffe, PyTorch (``torch.nn.LocalResponseNorm``)
and Krizhevsky's own cuda-convnet divide ``alpha`` by ``n`` (they use the *mean* of the
squares over the window, counting the zero padding at the edges), so to get the same numbers:

    alpha_caffe = alpha_torch = alpha_cuda_convnet = n * alpha_paper

The backward pass. Writing ``d[i] = k + alpha * s[i]``, ``b[i] = a[i] * d[i]^-beta``, and
``a[j]`` enters ``d[i]`` for every ``i`` whose window holds ``j`` (the same ``i`` whose windows
``j`` holds, since windows are symmetric):

    dL/da[j] = dout[j] * d[j]^-beta
               - 2 * alpha * beta * a[j] * sum_{i = max(0, j-h)}^{min(C-1, j+h)} dout[i] * b[i] / d[i]

Both window sums are taken the same way: the channels are padded with ``h`` zero channels on
each side, so that every window has ``n`` entries, and ``n`` shifted slices are added. The padded
array is written directly by the product that feeds it (``a*a`` forward, ``dout*b/d`` backward),
so padding costs no extra pass over the data.

Memory: since ``b[i] / d[i] = a[i] * d[i]^(-beta-1)``, the forward pass keeps ``a``,
``d^-beta`` and ``-2*alpha*beta * d^(-beta-1)`` for the backward pass, and not its output (which
the next layer consumes and frees): one array less per layer than keeping ``b``, ``d`` and
``d^-beta``.

On a GPU (CuPy arrays, float32 or float64) each pass is one CUDA kernel (``cuda_kernels``)
that computes the same formulas element by element, each thread summing its own window.
"""

from __future__ import annotations

import math
import typing

from .. import paper, threads
from ..backend import get_array_module
from . import _checks, cuda_kernels
from .workspace import Workspace, scratch


def _padded(shape, n: int, workspace, name, like):
    """An array for ``shape = (N, C, ...)`` with ``n//2`` zero channels before and after, and the
    view of its middle ``C`` channels (uninitialised: the caller writes it)."""
    h, c = n // 2, shape[1]
    padded = scratch(workspace, name, (shape[0], c + 2 * h) + tuple(shape[2:]), like)
    padded[:, :h] = 0
    padded[:, h + c :] = 0
    return padded, padded[:, h : h + c]


def _window_sum(padded, n: int, out):
    """``out[:, i] = sum_{j=0}^{n-1} padded[:, i + j]``: the sums of the channel windows of the
    array that ``padded`` pads with ``n//2`` zero channels on each side. Returns ``out``."""
    xp = get_array_module(padded)
    c = padded.shape[1] - (n - 1)
    if n == 1:
        xp.copyto(out, padded)
        return out
    xp.add(padded[:, 0:c], padded[:, 1 : c + 1], out=out)
    for j in range(2, n):
        out += padded[:, j : j + c]
    return out


def channel_window_sum(x, n: int):
    """``out[:, i] = sum_{j=max(0, i-n//2)}^{min(C-1, i+n//2)} x[:, j]`` for x of shape (N, C, ...)
    (float32 or float64), ``n`` a positive odd int."""
    op = "channel_window_sum"
    _checks.floating(op, ("x", x))
    _checks.min_ndim(op, "x", x, 2, "(N, C, ...)")
    _window_size(op, n)
    padded, middle = _padded(x.shape, n, None, "", x)
    middle[...] = x
    return _window_sum(padded, n, get_array_module(x).empty_like(x))


class _LRNCache(typing.NamedTuple):
    x: object
    scale: object  # d^-beta, d = k + alpha * (window sum of x^2)
    factor: object  # -2 * alpha * beta * d^(-beta-1)
    n: int
    workspace: Workspace | None


def lrn_constants(op: str, n, k, alpha, beta) -> tuple[int, float, float, float]:
    """``(n, k, alpha, beta)`` checked (``n`` a positive odd int, ``k > 0``, ``alpha`` and
    ``beta`` at least 0, all finite) and as an int and floats; a ``ValueError`` that ``op``
    names if not."""
    n = _window_size(op, n)
    k, alpha, beta = (_checks.real(op, name, v) for name, v in (("k", k), ("alpha", alpha),
                                                                  ("beta", beta)))
    if not 0 < k < math.inf:
        raise ValueError(f"{op}: k must be finite and > 0 (it keeps the denominator positive), "
                         f"got {k}")
    if not (0 <= alpha < math.inf and 0 <= beta < math.inf):
        raise ValueError(f"{op}: alpha and beta must be finite and >= 0, got alpha={alpha}, "
                         f"beta={beta}")
    return n, k, alpha, beta


def _window_size(op: str, n) -> int:
    n = _checks.positive_int(op, "n", n)
    if n % 2 == 0:
        raise ValueError(f"{op}: n must be odd (a window centred on each channel), got {n}")
    return n


def lrn_forward(x, n: int = paper.LRN_N, k: float = paper.LRN_K, alpha: float = paper.LRN_ALPHA,
                beta: float = paper.LRN_BETA, workspace: Workspace | None = None):
    """Local response normalization (paper §3.3): ``b[i] = a[i] / (k + alpha * s[i]) ** beta``.

    x: ``(N, C, H, W)``; ``n`` odd; ``alpha`` is the paper's (NOT divided by ``n``; see the module
    docstring for the Caffe/PyTorch/cuda-convnet translation ``alpha_caffe = n * alpha``).
    Returns ``out`` (same shape) and the cache for ``lrn_backward``. ``workspace``: an optional
    ``Workspace`` for the padded squares (it changes no result).
    """
    op = "lrn_forward"
    _checks.ndim(op, "x", x, 4, "(N, C, H, W)")
    _checks.floating(op, ("x", x))
    n, k, alpha, beta = lrn_constants(op, n, k, alpha, beta)
    xp = get_array_module(x)
    if cuda_kernels.applies(xp):
        x = xp.ascontiguousarray(x)
        out, scale, factor = cuda_kernels.lrn_forward(x, n, k, alpha, beta)
        return out, _LRNCache(x, scale, factor, n, workspace)
    squares, middle = _padded(x.shape, n, workspace, "scratch", x)
    out, scale, factor = (xp.empty(x.shape, dtype=x.dtype) for _ in range(3))

    def normalize(part):  # the images of one part, on one thread (``threads``)
        a = x[part]
        xp.multiply(a, a, out=middle[part])
        d = _window_sum(squares[part], n, out=factor[part])
        d *= alpha
        d += k
        xp.power(d, -beta, out=scale[part])  # d^-beta
        xp.multiply(a, scale[part], out=out[part])
        xp.divide(scale[part], d, out=d)  # d^(-beta-1), in d's memory
        d *= x.dtype.type(-2.0 * alpha * beta)

    threads.split(len(x), normalize, x, size=5 * x.size)
    return out, _LRNCache(x, scale, factor, n, workspace)


def lrn_backward(dout, cache):
    """Gradient of ``lrn_forward``: returns ``dx`` of shape ``(N, C, H, W)``.

    ``dx[j] = dout[j] * d[j]^-beta - 2*alpha*beta * a[j] * sum_{i in window(j)} dout[i] * b[i] / d[i]``
    with ``-2*alpha*beta * b[i] / d[i] = a[i] * factor[i]``.
    """
    x, scale, factor, n, workspace = cache
    _checks.dout_like("lrn_backward", dout, x.shape, x.dtype)
    xp = get_array_module(dout)
    if cuda_kernels.applies(xp):  # then the forward pass made x contiguous
        return cuda_kernels.lrn_backward(dout, x, scale, factor, n)
    terms, middle = _padded(x.shape, n, workspace, "scratch", dout)
    dx = xp.empty(x.shape, dtype=x.dtype)

    def gradient(part):  # the images of one part, on one thread (``threads``)
        xp.multiply(dout[part], x[part], out=middle[part])
        middle[part] *= factor[part]
        _window_sum(terms[part], n, out=dx[part])
        dx[part] *= x[part]
        # The terms are summed: their memory is free for the other product.
        dx[part] += xp.multiply(dout[part], scale[part], out=middle[part])

    threads.split(len(x), gradient, x, size=5 * x.size)
    return dx
