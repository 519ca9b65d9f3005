"""Dropout (paper §4.2).

While training, every unit is set to zero with probability ``p`` (the paper: p = 0.5 on the first
two fully-connected layers), so "every time an input is presented, the neural network samples a
different architecture". At test time the paper uses all units and multiplies their outputs by
``1 - p`` (0.5), the expected value of the training-time mask:

    train:  out = x * m,          m[i] ~ Bernoulli(1 - p)
    test:   out = x * (1 - p)

"Inverted" dropout, what most libraries do today, moves the scaling to training time so the
test-time network is the plain one; both give the same expected activation:

    train:  out = x * m / (1 - p)
    test:   out = x

Backward is the same mask and scale: ``dx = dout * m * scale`` (train), ``dx = dout * scale`` (test).
"""

from __future__ import annotations

import numpy

from .. import paper
from ..backend import get_array_module
from . import _checks


def dropout_mask(shape, p: float, rng, xp=numpy):
    """Keep-mask of ``shape``: True with probability ``1 - p``, drawn from ``rng``.

    ``rng`` is a ``numpy.random.Generator`` or a ``cupy.random.Generator``; the mask is returned
    on ``xp`` (a host mask is copied to the GPU if ``xp`` is cupy).

    The uniform draws are float32 (half the bytes of float64), multiples of 2^-24: that grid
    moves the keep probability by at most 6e-8, which matters only where ``p`` or ``1 - p`` is
    not much larger (``p`` within 6e-8 of 1 would keep no unit at all); below 2^-14 (6e-5) the
    draws are float64.
    """
    tiny = 2.0 ** -14  # below it the float32 grid's rounding exceeds 1/1024 of p (or of 1 - p)
    dtype = numpy.float64 if 0 < p < tiny or 1 - p < tiny else numpy.float32
    return xp.asarray(rng.random(shape, dtype=dtype) >= p)


def _generator(op: str, rng, xp):
    """``rng`` as a generator: a generator as it is, an int seed as NumPy's generator seeded
    with it (the mask is then the same on every device), ``None`` as a fresh one on ``xp``."""
    if rng is None:
        return xp.random.default_rng()
    if _checks.is_int(rng):
        return _checks.seeded(op, "rng", rng)
    if not callable(getattr(rng, "random", None)):
        raise TypeError(
            f"{op}: rng must be a numpy.random.Generator (or CuPy's), an int seed or None, "
            f"got {type(rng).__name__}"
        )
    return rng


def drop_probability(op: str, p) -> float:
    """``p`` as a float if it is a real number in ``[0, 1)``, else a ValueError naming ``op``
    (shared by ``dropout_forward`` and the ``Dropout`` layer)."""
    p = _checks.real(op, "p", p)
    if not 0 <= p < 1:
        raise ValueError(f"{op}: p is the probability of dropping a unit, in [0, 1), got {p}")
    return p


def dropout_forward(x, p: float = paper.DROPOUT_P, train: bool = True, rng=None,
                    inverted: bool = False):
    """Dropout (paper §4.2). x: any shape. Returns ``out`` (same shape) and the cache.

    ``train=True`` zeroes each unit with probability ``p`` (scaling the kept ones by
    ``1/(1-p)`` if ``inverted``); ``train=False`` multiplies by ``1 - p`` (the paper) or passes
    ``x`` through (``inverted``). ``rng`` is a seeded ``numpy.random.Generator`` (or CuPy's) or
    an int seed (for NumPy's, as the ``Dropout`` layer takes it) for a reproducible mask;
    ``None`` draws a fresh, unseeded one.
    """
    op = "dropout_forward"
    _checks.floating(op, ("x", x))
    p = drop_probability(op, p)
    train, inverted = _checks.flag(op, "train", train), _checks.flag(op, "inverted", inverted)
    xp = get_array_module(x)
    if train:
        mask = dropout_mask(x.shape, p, _generator(op, rng, xp), xp)
        scale = 1.0 / (1.0 - p) if inverted else 1.0
    else:
        mask = None
        scale = 1.0 if inverted else 1.0 - p
    return _mask_and_scale(x, mask, scale), (mask, scale, x.shape, x.dtype)


def dropout_backward(dout, cache):
    """Gradient of ``dropout_forward``: ``dx = dout * mask * scale`` (no mask at test time)."""
    mask, scale, shape, dtype = cache
    _checks.dout_like("dropout_backward", dout, shape, dtype)
    return _mask_and_scale(dout, mask, scale)


def _mask_and_scale(a, mask, scale: float):
    """``a * mask * scale`` as a new array of ``a``'s dtype (``mask`` None: ``a * scale``): one
    pass over the data per factor there is (the mask, a scale other than 1), a copy if neither.
    ``out=`` keeps a 0-d ``a`` an array (``a * mask`` would be a NumPy scalar)."""
    xp = get_array_module(a)
    if mask is None:
        if scale == 1.0:
            return a.copy()
        return xp.multiply(a, a.dtype.type(scale), out=xp.empty_like(a))
    out = xp.multiply(a, mask, out=xp.empty_like(a))
    if scale != 1.0:
        out *= a.dtype.type(scale)
    return out
