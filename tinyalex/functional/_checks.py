"""Argument checks shared by the functional ops.

Every failure is a ``ValueError`` whose message starts with the op's name and shows the expected
and the actual shape, dtype or value, so a student knows at once which call went wrong; an
argument that is not an array at all (a list, a float, ``None``) is a ``TypeError`` with the same
start, from the checks of shape and dtype below.
"""

from __future__ import annotations

import numbers

import numpy

from ..backend import get_array_module


def is_int(value) -> bool:
    """An integer of any type, but not a bool (which Python counts as one)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value) -> bool:
    """A real number of any type (``numpy.float32`` included), but not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def real(op: str, name: str, value) -> float:
    """A real number (``numpy.float32`` included), as a Python float; a bool or a string is not."""
    if not is_real(value):
        raise ValueError(f"{op}: {name} must be a real number, got {value!r}")
    return float(value)


def flag(op: str, name: str, value) -> bool:
    """``True`` or ``False`` (NumPy's too), as a bool; anything else, ``"no"`` included (which
    Python would count as true), is a ``ValueError``."""
    if not isinstance(value, (bool, numpy.bool_)):
        raise ValueError(f"{op}: {name} must be True or False, got {value!r}")
    return bool(value)


def int_at_least(op: str, name: str, value, minimum: int) -> int:
    if not is_int(value) or value < minimum:
        raise ValueError(f"{op}: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def pair(op: str, name: str, value, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints, as ``(vertical, horizontal)``, each at least ``minimum``."""
    if isinstance(value, numbers.Integral):
        value = (value, value)
    try:
        a, b = value
    except (TypeError, ValueError):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}") from None
    for v in (a, b):
        if not is_int(v) or v < minimum:
            raise ValueError(f"{op}: {name} must be an int >= {minimum} (or a pair), got {value!r}")
    return int(a), int(b)


def positive_int(op: str, name: str, value) -> int:
    if not is_int(value) or value < 1:
        raise ValueError(f"{op}: {name} must be a positive int, got {value!r}")
    return int(value)


def seeded(op: str, name: str, rng):
    """``numpy.random.default_rng(rng)``: a generator as it is, an int seed checked to be
    ``>= 0`` first (NumPy's own error names neither the op nor the argument)."""
    if is_int(rng):
        int_at_least(op, name, rng, 0)
    return numpy.random.default_rng(rng)


def array(op: str, name: str, x) -> None:
    """``x`` is a NumPy or CuPy array (or scalar), anything with a NumPy dtype and a shape."""
    if not isinstance(getattr(x, "dtype", None), numpy.dtype) or not hasattr(x, "shape"):
        raise TypeError(f"{op}: {name} must be a NumPy or CuPy array, got {type(x).__name__}")


def ndim(op: str, name: str, x, expected: int, layout: str) -> None:
    array(op, name, x)
    if x.ndim != expected:
        raise ValueError(
            f"{op}: {name} must be {expected}-D {layout}, got shape {tuple(x.shape)}"
        )


def min_ndim(op: str, name: str, x, minimum: int, layout: str) -> None:
    array(op, name, x)
    if x.ndim < minimum:
        raise ValueError(
            f"{op}: {name} must be {layout}, at least {minimum}-D, got shape {tuple(x.shape)}"
        )


def floating(op: str, *named) -> None:
    """Every array is float32 or float64 (the dtypes the ops are written and tested for; float16
    would lose most gradients to rounding), and all have the same dtype (no silent up-casts)."""
    for name, a in named:
        array(op, name, a)
    dtypes = [(name, a.dtype) for name, a in named]
    for name, dtype in dtypes:
        if dtype not in (numpy.float32, numpy.float64):
            raise ValueError(f"{op}: {name} must be a float32 or float64 array, got dtype {dtype}")
    first_name, first = dtypes[0]
    for name, dtype in dtypes[1:]:
        if dtype != first:
            raise ValueError(
                f"{op}: {name} has dtype {dtype} but {first_name} has dtype {first}; "
                "convert one of them explicitly"
            )


def same_shape(op: str, name: str, x, expected: tuple) -> None:
    array(op, name, x)
    if tuple(x.shape) != tuple(expected):
        raise ValueError(f"{op}: {name} must have shape {tuple(expected)}, got {tuple(x.shape)}")


def dout_like(op: str, dout, out_shape: tuple, dtype) -> None:
    """The upstream gradient has exactly the forward output's shape and dtype."""
    same_shape(op, "dout", dout, out_shape)
    if dout.dtype != dtype:
        raise ValueError(f"{op}: dout must have dtype {dtype}, got {dout.dtype}")


def result(op: str, name: str, out, like, shape=None, inputs: dict | None = None):
    """Where an op writes a result into an array it was handed (``out=``): ``out``, checked to
    have ``shape`` (default: ``like``'s), ``like``'s dtype and ``like``'s array module; or, if
    ``out`` is None, a new such array.

    ``inputs`` (name -> array) are the arrays an element-wise op reads: ``out`` may be one of
    them exactly (in place), but not overlap one otherwise (``x[::-1]``, ``x[1:]`` of a flat
    array), since each thread's part would then read what another thread's part writes."""
    xp = get_array_module(like)
    if out is None:
        return xp.empty_like(like) if shape is None else xp.empty(shape, dtype=like.dtype)
    shape = tuple(like.shape if shape is None else shape)
    array(op, name, out)
    if get_array_module(out) is not xp:
        raise ValueError(f"{op}: {name} is a {get_array_module(out).__name__} array, but it "
                         f"must be a {xp.__name__} array like the input")
    same_shape(op, name, out, shape)
    if out.dtype != like.dtype:
        raise ValueError(f"{op}: {name} must have dtype {like.dtype}, got {out.dtype}")
    for input_name, a in (inputs or {}).items():
        if xp.may_share_memory(out, a) and not _same_view(out, a):
            raise ValueError(f"{op}: {name} overlaps {input_name} without being the same view of "
                             f"it; pass {input_name} itself to work in place, or another array")
    return out


def _same_view(a, b) -> bool:
    """``a`` and ``b`` see the same elements in the same order (NumPy or CuPy): same shape,
    same first element, same strides along every axis longer than 1 (the others never step)."""
    def start(x):
        return x.data.ptr if hasattr(x.data, "ptr") else x.__array_interface__["data"][0]

    steps = [(sa, sb) for n, sa, sb in zip(a.shape, a.strides, b.strides) if n > 1]
    return a.shape == b.shape and all(sa == sb for sa, sb in steps) and start(a) == start(b)
