"""Slow, obviously correct implementations of each op's defining formula, for the tests.

Each loops over output positions (and channels where the formula sums over channels) and
computes the paper's formula directly on NumPy float64 arrays; nothing here is clever.
"""

import math

import numpy as np


def conv2d(x, w, b, stride=(1, 1), pad=(0, 0), groups=1):
    """out[n,f,p,q] = b[f] + sum_{c,i,j} w[f,c,i,j] * xpad[n, g*C/G + c, p*sh + i, q*sw + j]."""
    sh, sw = stride
    ph, pw = pad
    n_, c_, h_, w_ = x.shape
    f_, cg, kh, kw = w.shape
    xpad = np.zeros((n_, c_, h_ + 2 * ph, w_ + 2 * pw))
    xpad[:, :, ph : ph + h_, pw : pw + w_] = x
    oh = (h_ + 2 * ph - kh) // sh + 1
    ow = (w_ + 2 * pw - kw) // sw + 1
    out = np.zeros((n_, f_, oh, ow))
    for n in range(n_):
        for f in range(f_):
            g = f // (f_ // groups)
            for p in range(oh):
                for q in range(ow):
                    total = b[f]
                    for c in range(cg):
                        for i in range(kh):
                            for j in range(kw):
                                total += w[f, c, i, j] * xpad[n, g * cg + c, p * sh + i, q * sw + j]
                    out[n, f, p, q] = total
    return out


def lrn(a, n=5, k=2.0, alpha=1e-4, beta=0.75):
    """Paper §3.3: b[i] = a[i] / (k + alpha * sum_{j=max(0,i-n/2)}^{min(N-1,i+n/2)} a[j]^2)^beta."""
    channels = a.shape[1]
    out = np.zeros_like(a, dtype=np.float64)
    for i in range(channels):
        s = np.zeros_like(a[:, 0], dtype=np.float64)
        for j in range(max(0, i - n // 2), min(channels - 1, i + n // 2) + 1):
            s += a[:, j].astype(np.float64) ** 2
        out[:, i] = a[:, i] / (k + alpha * s) ** beta
    return out


def lrn_torch_convention(a, size, alpha, beta, k):
    """Caffe / PyTorch / cuda-convnet: the mean of the squares over a window of ``size``
    channels centred on i (zero-padded): b[i] = a[i] / (k + alpha/size * sum a[j]^2)^beta."""
    channels = a.shape[1]
    out = np.zeros_like(a, dtype=np.float64)
    for i in range(channels):
        s = sum(a[:, j] ** 2 for j in range(i - size // 2, i + size // 2 + 1) if 0 <= j < channels)
        out[:, i] = a[:, i] / (k + alpha / size * s) ** beta
    return out


def maxpool2d(x, size, stride):
    """out[n,c,p,q] = max over the size x size window at (p*stride, q*stride), and the index of
    its first maximum in row-major window order."""
    n_, c_, h_, w_ = x.shape
    oh, ow = (h_ - size) // stride + 1, (w_ - size) // stride + 1
    out = np.zeros((n_, c_, oh, ow))
    first = np.zeros((n_, c_, oh, ow, 2), dtype=int)
    for n in range(n_):
        for c in range(c_):
            for p in range(oh):
                for q in range(ow):
                    window = x[n, c, p * stride : p * stride + size, q * stride : q * stride + size]
                    out[n, c, p, q] = window.max()
                    i, j = divmod(int(np.argmax(window)), size)  # argmax: first occurrence
                    first[n, c, p, q] = (p * stride + i, q * stride + j)
    return out, first


def maxpool2d_backward(dout, first, x_shape):
    """Each window's gradient goes to its first maximum; overlapping windows add up."""
    dx = np.zeros(x_shape)
    n_, c_, oh, ow = dout.shape
    for n in range(n_):
        for c in range(c_):
            for p in range(oh):
                for q in range(ow):
                    y, x = first[n, c, p, q]
                    dx[n, c, y, x] += dout[n, c, p, q]
    return dx


def linear(x, w, b):
    """out[n, m] = b[m] + sum_d x[n, d] * w[m, d], with x flattened to (N, D)."""
    x2 = x.reshape(x.shape[0], -1)
    out = np.zeros((x2.shape[0], w.shape[0]))
    for n in range(x2.shape[0]):
        for m in range(w.shape[0]):
            out[n, m] = b[m] + sum(x2[n, d] * w[m, d] for d in range(x2.shape[1]))
    return out


def softmax_cross_entropy(logits, labels):
    """-(1/N) sum_n log(exp(z[n, y_n]) / sum_k exp(z[n, k])), with math.fsum and the max shift."""
    total = 0.0
    for row, y in zip(logits, labels):
        m = max(row)
        log_norm = m + math.log(math.fsum(math.exp(v - m) for v in row))
        total += log_norm - row[y]
    return total / len(labels)
