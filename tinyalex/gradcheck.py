"""Gradient checking: compare a hand-derived backward pass with centred finite differences.

For a function ``f`` of an array ``x``, the centred difference

    df/dx[i] ~ (f(x + h e_i) - f(x - h e_i)) / (2h)

has an error of order ``h^2`` (the one-sided difference only ``h``). A forward/backward pair is
turned into a scalar with a fixed random ``dout``: ``L(x) = sum(forward(x) * dout)``, whose
gradient is exactly what ``backward(dout, cache)`` must return.

The two gradients are compared with the relative error students know from CS231n,

    rel_error = max_i |a[i] - n[i]| / max(|a[i]| + |n[i]|, 1e-8)

which is scale-free. In float64 a correct backward gives about 1e-7 or less; 1e-2 or more
means a bug. Float32 has too few digits for this (its rounding error divided by ``2h`` swamps the
difference), so the checks insist on float64.

    >>> import numpy as np
    >>> from tinyalex import functional as F, gradcheck
    >>> x = np.random.default_rng(0).standard_normal((2, 6, 3, 3))
    >>> result = gradcheck.check_layer(F.lrn_forward, F.lrn_backward, x, alpha=1.0)
    >>> result.max_error < 1e-6
    True
"""

from __future__ import annotations

import dataclasses
import math

import numpy

from .backend import as_device, get_array_module, on_device, to_device
from .functional import _checks


def numerical_gradient(f, x, h: float = 1e-5):
    """Centred-difference gradient of ``sum(f())`` with respect to the array ``x``.

    ``f`` takes no arguments and reads ``x``, which is perturbed in place one element at a time
    (and restored). ``f`` may return the scalar itself or, better, the array of terms whose sum
    is the scalar: then the two evaluations are subtracted term by term *before* summing, so the
    terms that ``x[i]`` does not touch cancel exactly instead of adding their rounding error
    (about ``1e-16 * |sum|``, divided by ``2h``) to every entry. Returns an array shaped like ``x``.
    """
    xp = get_array_module(x)
    grad = xp.zeros_like(x)
    for index in numpy.ndindex(*x.shape):
        original = x[index].copy()
        x[index] = original + h
        plus = f()
        x[index] = original - h
        minus = f()
        x[index] = original
        grad[index] = float(get_array_module(plus, minus).sum(plus - minus)) / (2 * h)
    return grad


def rel_error(a, b, floor: float = 1e-8) -> float:
    """``max_i |a[i] - b[i]| / max(|a[i]| + |b[i]|, floor)`` (0 for empty arrays)."""
    xp = get_array_module(a, b)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes differ, {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    return float(xp.max(xp.abs(a - b) / xp.maximum(xp.abs(a) + xp.abs(b), floor)))


@dataclasses.dataclass
class GradcheckRow:
    name: str
    shape: tuple
    rel_error: float
    abs_error: float


@dataclasses.dataclass
class GradcheckResult:
    """One row per checked input: its relative and absolute error; prints as a table."""

    rows: list

    @property
    def max_error(self) -> float:
        """The largest relative error over all checked inputs; NaN if any is NaN (a NaN or
        infinite gradient), so that a check ``max_error <= tolerance`` fails. (Python's ``max``
        would skip a NaN that is not first: every comparison with it is False.)"""
        errors = [r.rel_error for r in self.rows]
        if any(math.isnan(e) for e in errors):
            return math.nan
        return max(errors, default=0.0)

    def __getitem__(self, name: str) -> GradcheckRow:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(name)

    def __repr__(self) -> str:
        lines = [f"{'input':8} {'shape':>18} {'max rel error':>14} {'max abs error':>14}"]
        for r in self.rows:
            lines.append(
                f"{r.name:8} {str(r.shape):>18} {r.rel_error:14.2e} {r.abs_error:14.2e}"
            )
        return "\n".join(lines)


def _require_float64(arrays, names):
    for name, a in zip(names, arrays):
        _checks.array("gradcheck", name, a)
        if a.dtype != numpy.float64:
            raise ValueError(
                f"gradcheck: {name} is {a.dtype}; finite differences need float64 "
                "(float32 rounding error divided by 2h swamps the result)"
            )


def _names_and_positions(count: int, names, wrt):
    """The checked names (default ``x, w, b, arg3, ...``) and positions, checked against the
    ``count`` arrays."""
    if names is None:
        names = ["x", "w", "b"][:count] + [f"arg{i}" for i in range(3, count)]
    names = list(names)
    if len(names) != count:
        raise ValueError(f"gradcheck: names must have one entry per array ({count}), got {names}")
    positions = list(range(count) if wrt is None else wrt)
    for i in positions:
        if not _checks.is_int(i) or not 0 <= i < count:
            raise ValueError(
                f"gradcheck: wrt must list positions 0..{count - 1} of the arrays, got {wrt!r}"
            )
    return names, positions


def _row(name, analytic, numeric):
    xp = get_array_module(analytic, numeric)
    abs_err = float(xp.max(xp.abs(analytic - numeric))) if analytic.size else 0.0
    return GradcheckRow(name, tuple(analytic.shape), rel_error(analytic, numeric), abs_err)


def check_layer(forward, backward, *arrays, names=None, wrt=None, h: float = 1e-5, seed: int = 0,
                **kwargs) -> GradcheckResult:
    """Check ``backward`` against finite differences of ``forward``.

    ``forward(*arrays, **kwargs)`` returns ``(out, cache)``; ``backward(dout, cache)`` returns the
    gradient of each array (a tuple, or one array when there is one input). ``wrt`` lists the
    positions of the arrays to check (default: all). Every array must be float64 (CuPy arrays:
    on the current GPU, like the ops' own results; see ``functional``). A forward
    that draws random numbers (dropout) must draw the same ones on every call: wrap it, e.g.
    ``lambda x: dropout_forward(x, rng=numpy.random.default_rng(0))``.
    """
    names, positions = _names_and_positions(len(arrays), names, wrt)
    _require_float64(arrays, names)
    out, cache = forward(*arrays, **kwargs)
    xp = get_array_module(out)
    dout = xp.asarray(numpy.random.default_rng(seed).standard_normal(out.shape))
    grads = backward(dout.copy(), cache)  # a copy: a backward may work in place (out=dout)
    if not isinstance(grads, tuple):
        if not hasattr(grads, "shape"):
            raise ValueError(
                "gradcheck: backward must return a tuple of gradients (or one array for one "
                f"input), got {type(grads).__name__}"
            )
        grads = (grads,)
    if len(grads) != len(arrays):
        raise ValueError(f"gradcheck: backward returned {len(grads)} gradients for {len(arrays)} inputs")

    def loss_terms():  # L = sum(out * dout), term by term (see numerical_gradient)
        return forward(*arrays, **kwargs)[0] * dout

    rows = []
    for i in positions:
        numeric = numerical_gradient(loss_terms, arrays[i], h)
        rows.append(_row(names[i], grads[i], numeric))
    return GradcheckResult(rows)


def check_loss(loss_fn, logits, *args, h: float = 1e-5) -> GradcheckResult:
    """Check a loss that returns ``(loss, dlogits)`` (like ``softmax_cross_entropy``)."""
    _require_float64([logits], ["logits"])
    _, analytic = loss_fn(logits, *args)
    numeric = numerical_gradient(lambda: loss_fn(logits, *args)[0], logits, h)
    return GradcheckResult([_row("logits", analytic, numeric)])


def check_all_ops(seed: int = 0, device="cpu") -> dict:
    """Gradient-check every op of ``tinyalex.functional`` on small float64 inputs.

    Returns ``{op name: GradcheckResult}``; ``python -m tinyalex gradcheck`` prints them.
    ``device``: where the ops run, ``"cpu"`` (NumPy) or ``"cuda:N"`` (CuPy: the GPU's own code,
    such as the CUDA kernels of pooling and LRN, checked the same way); the inputs are the same
    numbers on either.
    """
    from . import functional as F

    device = as_device(device)
    rng = numpy.random.default_rng(seed)

    def on(a):  # the host input on the device: as it is on the CPU, a copy on a GPU
        return a if device.kind == "cpu" else to_device(a, device)

    x = rng.standard_normal((2, 4, 7, 7))
    distinct = rng.permutation(x.size).reshape(x.shape) * 0.1  # no ties for max pooling
    away_from_kink = numpy.where(numpy.abs(x) < 0.01, 0.5, x)
    conv_inputs = {(algorithm, stride, pad, k): (rng.standard_normal((6, 2, k, k)), rng.standard_normal(6))
                   for algorithm, stride, pad, k in [("im2col", 2, 1, 3), ("rows", 1, 2, 5),
                                                     ("fourier", 1, 2, 5), ("gather", 1, 1, 3),
                                                     ("gather", 2, 1, 3)]}
    fc = rng.standard_normal((5, x[0].size)), rng.standard_normal(5)
    logits, labels = rng.standard_normal((4, 10)), rng.integers(0, 10, 4)
    # Two images, 4 kernels per group: the fourier algorithm cuts these maps into 1x2 tiles
    # (conv_fourier.plan), whose input gradients overlap.
    tiled = [rng.standard_normal(shape) for shape in [(2, 2, 12, 12), (8, 1, 5, 5), (8,)]]
    x, distinct, away_from_kink = on(x), on(distinct), on(away_from_kink)
    with on_device(device):  # what the checks make (dout, perturbed copies) lands there too
        convs = {  # each algorithm the layers may use: the CPU's three, and the GPU's
            f"conv2d (stride {stride}, pad {pad}, groups 2; {algorithm})": check_layer(
                F.conv2d_forward, F.conv2d_backward, x, on(w), on(b), stride=stride, pad=pad,
                groups=2, algorithm=algorithm)
            for (algorithm, stride, pad, _), (w, b) in conv_inputs.items()}
        convs["conv2d (stride 1, pad 2, groups 2; fourier in tiles)"] = check_layer(
            F.conv2d_forward, F.conv2d_backward, *map(on, tiled), pad=2, groups=2,
            algorithm="fourier")
        return {
            **convs,
            "lrn (n=5, alpha=1)": check_layer(F.lrn_forward, F.lrn_backward, x, alpha=1.0),
            "maxpool2d (3/2)": check_layer(F.maxpool2d_forward, F.maxpool2d_backward, distinct),
            "relu": check_layer(F.relu_forward, F.relu_backward, away_from_kink),
            "tanh": check_layer(F.tanh_forward, F.tanh_backward, x),
            "dropout (p=0.5)": check_layer(
                lambda a: F.dropout_forward(a, rng=seed), F.dropout_backward, x),
            "linear": check_layer(F.linear_forward, F.linear_backward, x, on(fc[0]), on(fc[1])),
            "softmax_cross_entropy": check_loss(F.softmax_cross_entropy, on(logits), on(labels)),
        }
