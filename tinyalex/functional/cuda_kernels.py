"""Element-wise CUDA kernels for max pooling and LRN on a GPU: one launch per pass.

The NumPy code of ``pool.py`` and ``lrn.py`` takes a pass over the whole batch per window
offset (2*size passes for the separable max pool, n for LRN's window sums). On a CPU that is
fast; on a GPU each pass is a kernel launch that costs the host about 10 us, more than the
GPU needs to do the work. Here each output element is computed by one thread that loops over
its own window, so a forward or backward pass is one launch. The formulas are those of
``pool.py`` and ``lrn.py``, element by element, and the tests hold these kernels to the
readable versions (they run where CuPy sees a GPU).

* Max pool forward, a thread per output ``(n, c, p, q)``: the window's maximum and the offset
  ``k = i*size + j`` of its first maximum in row-major order (a NaN wins, the last one if
  several: the naive version's rule).
* Max pool backward, a thread per input pixel ``(n, c, y, x)``: it adds up ``dout`` of the
  windows ``p`` with ``p*stride <= y < p*stride + size`` (likewise ``q``) whose maximum sat on
  it. Each pixel gathers its own sum, so no two threads write one element (no atomics).
* LRN forward, a thread per element: ``s`` over the channel window, then
  ``d = k + alpha*s``, ``scale = d^-beta``, ``out = a*scale`` and
  ``factor = -2*alpha*beta * d^(-beta-1)`` (what the backward pass needs).
* LRN backward, a thread per element ``j``:
  ``dx[j] = dout[j]*scale[j] + a[j] * sum_{i in window(j)} dout[i]*a[i]*factor[i]``.

Every array is C-contiguous ``(N, C, H, W)`` (the callers make sure); ``i`` is the thread's
element index in C order. The kernels are compiled by CuPy for each dtype on first use.
"""

from __future__ import annotations

import functools

import numpy

_MAXPOOL_FORWARD = """
const int q = i % out_w;
const long long t = i / out_w;
const int p = t % out_h;
const long long plane = (t / out_h) * height * width;
const long long corner = plane + (long long)(p * stride) * width + q * stride;
T best = src[corner];
int best_k = 0;
for (int a = 0; a < size; ++a) {
    for (int b = 0; b < size; ++b) {
        const T v = src[corner + (long long)a * width + b];
        if (v > best || isnan(v)) {  // strictly greater: an equal value later does not win
            best = v;
            best_k = a * size + b;
        }
    }
}
out = best;
argmax = best_k;
"""

_MAXPOOL_BACKWARD = """
const int x = i % width;
const long long t = i / width;
const int y = t % height;
const long long plane = (t / height) * out_h * out_w;
const int p_first = y < size ? 0 : (y - size + stride) / stride;  // ceil((y - size + 1) / stride)
const int q_first = x < size ? 0 : (x - size + stride) / stride;
const int p_last = min(y / stride, out_h - 1);
const int q_last = min(x / stride, out_w - 1);
T sum = 0;
for (int p = p_first; p <= p_last; ++p) {
    for (int q = q_first; q <= q_last; ++q) {
        const long long o = plane + (long long)p * out_w + q;
        if (argmax[o] == (y - p * stride) * size + (x - q * stride)) {
            sum += dout[o];
        }
    }
}
dx = sum;
"""

_LRN_WINDOW = """
const long long pixel = i % plane;
const int channel = (i / plane) % channels;
const long long image = i - pixel - (long long)channel * plane;
const int first = max(0, channel - half);
const int last = min(channels - 1, channel + half);
"""

_LRN_FORWARD = _LRN_WINDOW + """
T s = 0;
for (int j = first; j <= last; ++j) {
    const T a = src[image + j * plane + pixel];
    s += a * a;
}
const T d = k + alpha * s;
const T sc = pow(d, -beta);
out = src[i] * sc;
scale = sc;
factor = sc / d * minus_two_alpha_beta;
"""

_LRN_BACKWARD = _LRN_WINDOW + """
T s = 0;
for (int j = first; j <= last; ++j) {
    const long long o = image + j * plane + pixel;
    s += dout[o] * src[o] * factor[o];
}
dx = dout[i] * scale[i] + src[i] * s;
"""


@functools.cache
def _kernels():
    import cupy  # noqa: PLC0415  (only ever called with CuPy arrays)

    shape = "int32 height, int32 width, int32 out_h, int32 out_w, int32 size, int32 stride"
    lrn = "int32 channels, int32 plane, int32 half"
    return {
        "maxpool_forward": cupy.ElementwiseKernel(
            f"raw T src, {shape}", "T out, int32 argmax", _MAXPOOL_FORWARD,
            "tinyalex_maxpool_forward"),
        "maxpool_backward": cupy.ElementwiseKernel(
            f"raw T dout, raw int32 argmax, {shape}", "T dx", _MAXPOOL_BACKWARD,
            "tinyalex_maxpool_backward"),
        "lrn_forward": cupy.ElementwiseKernel(
            f"raw T src, {lrn}, T k, T alpha, T beta, T minus_two_alpha_beta",
            "T out, T scale, T factor", _LRN_FORWARD, "tinyalex_lrn_forward"),
        "lrn_backward": cupy.ElementwiseKernel(
            f"raw T dout, raw T src, raw T factor, raw T scale, {lrn}", "T dx", _LRN_BACKWARD,
            "tinyalex_lrn_backward"),
    }


def applies(xp) -> bool:
    """True where the array module ``xp`` is CuPy's. The callers have refused every dtype but
    float32 and float64 (``_checks.floating``), and the kernels are compiled for both."""
    return xp is not numpy


def maxpool_forward(x, size: int, stride: int, oh: int, ow: int):
    """``out (N, C, OH, OW)`` and ``argmax`` (int32, the offset ``i*size + j`` in the window)."""
    import cupy  # noqa: PLC0415

    n, c, h, w = x.shape
    out = cupy.empty((n, c, oh, ow), dtype=x.dtype)
    argmax = cupy.empty(out.shape, dtype=numpy.int32)
    _kernels()["maxpool_forward"](cupy.ascontiguousarray(x), h, w, oh, ow, size, stride,
                                  out, argmax)
    return out, argmax


def maxpool_backward(dout, argmax, x_shape, size: int, stride: int):
    """``dx (N, C, H, W)``: each pixel's sum of ``dout`` over the windows whose maximum it was."""
    import cupy  # noqa: PLC0415

    _, _, h, w = x_shape
    oh, ow = argmax.shape[2:]
    dx = cupy.empty(x_shape, dtype=dout.dtype)
    _kernels()["maxpool_backward"](cupy.ascontiguousarray(dout), argmax, h, w, oh, ow, size,
                                   stride, dx)
    return dx


def lrn_forward(x, n: int, k: float, alpha: float, beta: float):
    """``out, scale, factor`` of LRN (``x`` C-contiguous ``(N, C, H, W)``)."""
    import cupy  # noqa: PLC0415

    arrays = [cupy.empty_like(x) for _ in range(3)]
    t = x.dtype.type
    plane = x.shape[2] * x.shape[3]  # not x[0, 0].size: the batch may be empty
    _kernels()["lrn_forward"](x, x.shape[1], plane, n // 2, t(k), t(alpha), t(beta),
                              t(-2.0 * alpha * beta), *arrays)
    return arrays


def lrn_backward(dout, x, scale, factor, n: int):
    """``dx`` of LRN from the forward pass's ``x``, ``scale`` and ``factor``."""
    import cupy  # noqa: PLC0415

    dx = cupy.empty_like(x)
    _kernels()["lrn_backward"](cupy.ascontiguousarray(dout), x, factor, scale, x.shape[1],
                               x.shape[2] * x.shape[3], n // 2, dx)
    return dx
