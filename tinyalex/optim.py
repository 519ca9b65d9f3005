"""The paper's optimizer and learning-rate schedule (§5).

**SGD.** "We trained our models using stochastic gradient descent with a batch size of 128
examples, momentum of 0.9, and weight decay of 0.0005 ... The update rule for weight w was

    v <- 0.9 * v - 0.0005 * lr * w - lr * <dL/dw>
    w <- w + v"

with ``<dL/dw>`` the gradient averaged over the batch (what ``softmax_cross_entropy`` gives).
``SGD`` applies exactly this rule, momentum and weight decay configurable, to every parameter,
biases included (the rule names no exception), in place on whatever device the parameter lives::

    optimizer = SGD(model.params, lr=0.01)         # holds the arrays themselves
    logits = model.forward(x)
    loss, dlogits = softmax_cross_entropy(logits, y)
    model.backward(dlogits)
    optimizer.step(model.grads)                    # same names as model.params

The velocities ``v`` start at zero, one per parameter name. ``state_dict()`` holds them and the
hyper-parameters, so training resumes bit for bit after ``load_state_dict``.

Against ``torch.optim.SGD(momentum=0.9, weight_decay=0.0005)``: PyTorch keeps the velocity
without the learning rate, ``b <- 0.9 b + g + 0.0005 w`` and ``w <- w - lr * b``. At a fixed
learning rate the two are the same steps (``v = -lr * b``), but when the rate changes the
paper's ``v`` still carries steps taken at the old rate, decaying by 0.9 a step, while
PyTorch's next step applies the new rate to the whole of ``b`` at once. (Measured on random
gradients in float64: the same weights to 4e-15 after 20 steps at lr 0.01, and apart from the
first step after a drop to 0.001 on.)

**The schedule.** "The heuristic which we followed was to divide the learning rate by 10 when
the validation error rate stopped improving with the current learning rate. The learning rate
was initialized at 0.01 and reduced three times prior to termination." ``ReduceLROnPlateau``
does that: ``step(validation_error)`` after each evaluation.
"""

from __future__ import annotations

import math

import numpy

from . import paper, threads
from .backend import device_of, get_array_module, on_device, to_numpy
from .functional import _checks
from .layers import load_arrays

__all__ = ["SGD", "ReduceLROnPlateau"]


def _loaded(value):
    """A 0-d array (what ``state_dict`` saves) as its number; anything else as it is."""
    return value.item() if isinstance(value, numpy.ndarray) and value.shape == () else value


def _hyper_parameters(who: str, lr, momentum, weight_decay) -> tuple[float, float, float]:
    """``(lr, momentum, weight_decay)`` as floats, each finite, with ``lr > 0``,
    ``0 <= momentum < 1`` and ``weight_decay >= 0``; else a ``ValueError`` starting with ``who``.
    (One NaN or infinity here makes every weight NaN at the next step.)"""
    # Anything that is not a number at all (a string, a bool, None) counts as NaN, refused below.
    given = map(_loaded, (lr, momentum, weight_decay))
    values = tuple(float(v) if _checks.is_real(v) else math.nan for v in given)
    in_range = values[0] > 0 and 0 <= values[1] < 1 and values[2] >= 0
    if not in_range or not all(map(math.isfinite, values)):
        raise ValueError(
            f"{who}: need lr > 0, 0 <= momentum < 1 and weight_decay >= 0, all finite, got "
            f"lr={lr}, momentum={momentum}, weight_decay={weight_decay}"
        )
    return values


class SGD:
    """Momentum SGD with weight decay, the rule of paper §5 (see the module docstring).

    ``params``: a dict ``name -> array`` (``model.params``); its arrays are updated in place.
    ``lr`` (public, the schedule changes it), ``momentum``, ``weight_decay``: the rule's
    0.01, 0.9 and 0.0005 by default.
    """

    HYPER = ("lr", "momentum", "weight_decay")
    BLOCK = 1 << 16  # elements per block of the update on the CPU: 256 KB in float32

    def __init__(self, params: dict, lr: float = paper.LEARNING_RATE, momentum: float = paper.MOMENTUM,
                 weight_decay: float = paper.WEIGHT_DECAY):
        if not params:
            raise ValueError("SGD: params is empty; pass model.params")
        hyper = _hyper_parameters("SGD", lr, momentum, weight_decay)
        self.lr, self.momentum, self.weight_decay = hyper
        for name, w in params.items():
            _checks.floating("SGD", (f"parameter {name}", w))
        self.params = dict(params)
        self.velocity = {}
        for name, w in self.params.items():
            with on_device(device_of(w)):
                self.velocity[name] = get_array_module(w).zeros_like(w)  # keeps w's device tag

    def step(self, grads: dict) -> None:
        """One update of every parameter with ``grads`` (a dict with the same names)."""
        if set(grads) != set(self.params):
            missing = sorted(set(self.params) - set(grads))
            unexpected = sorted(set(grads) - set(self.params))
            raise ValueError(
                f"SGD.step: grads do not match params: missing {missing}, unexpected {unexpected}"
            )
        for name, w in self.params.items():
            g = grads[name]
            _checks.array("SGD.step", f"the gradient of {name}", g)
            if g.shape != w.shape or g.dtype != w.dtype or device_of(g) != device_of(w):
                raise ValueError(
                    f"SGD.step: gradient of {name} is {g.dtype}{tuple(g.shape)} on {device_of(g)}, "
                    f"but the parameter is {w.dtype}{tuple(w.shape)} on {device_of(w)}"
                )
        decay = self.weight_decay * self.lr
        for name, w in self.params.items():
            v, g = self.velocity[name], grads[name]
            with on_device(device_of(w)):
                if get_array_module(w) is numpy and all(a.flags.c_contiguous for a in (v, w, g)):
                    flat = tuple(a.reshape(-1) for a in (v, w, g))
                    blocks = -(-w.size // self.BLOCK)
                    threads.split(blocks, lambda part: self._update_blocks(*flat, part, decay), w)
                else:
                    self._update(v, w, g, decay, get_array_module(w).empty_like(w))

    def _update_blocks(self, v, w, g, blocks: slice, decay: float) -> None:
        """The update of the flat arrays' blocks ``blocks`` of ``BLOCK`` elements, one by one.

        Why blocks: each stays in the CPU's cache through the update's six passes, so the
        151 MB of fc6 travel from memory once per step instead of once per pass, and its products
        need a 256 KB buffer instead of two 151 MB temporaries (measured: half the time). The
        step splits the blocks over threads (``tinyalex.threads``). A GPU's memory is fast
        enough for whole arrays.
        """
        product = numpy.empty(min(self.BLOCK, w.size), dtype=w.dtype)
        end = min(blocks.stop * self.BLOCK, w.size)
        for start in range(blocks.start * self.BLOCK, end, self.BLOCK):
            block = slice(start, min(start + self.BLOCK, end))
            self._update(v[block], w[block], g[block], decay, product[: block.stop - start])

    def _update(self, v, w, g, decay: float, product) -> None:
        """The rule, in place: ``v <- momentum v - decay w - lr g``, ``w <- w + v`` (``product``:
        scratch of ``w``'s shape)."""
        xp = get_array_module(w)
        v *= self.momentum
        v -= xp.multiply(w, decay, out=product)
        v -= xp.multiply(g, self.lr, out=product)
        w += v

    def state_dict(self) -> dict:
        """``{"lr", "momentum", "weight_decay", "velocity.<name>"...}`` as host NumPy arrays."""
        state = {key: numpy.array(getattr(self, key)) for key in self.HYPER}
        for name, v in self.velocity.items():
            state[f"velocity.{name}"] = numpy.array(to_numpy(v))
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` returned. Everything is checked first, as by the
        constructor (names, shapes and dtypes; the hyper-parameters' ranges), so a failed load
        changes nothing."""
        who = "SGD.load_state_dict"
        _require(who, state, self.HYPER)
        hyper = _hyper_parameters(who, *(state[key] for key in self.HYPER))
        velocity = {key: value for key, value in state.items() if key not in self.HYPER}
        stray = sorted(key for key in velocity if not key.startswith("velocity."))
        if stray:
            raise ValueError(f"{who}: unexpected {stray}: velocities are named 'velocity.<param>'")
        names = {key.removeprefix("velocity."): value for key, value in velocity.items()}
        load_arrays(self.velocity, names, who)
        self.lr, self.momentum, self.weight_decay = hyper


class ReduceLROnPlateau:
    """Divide the learning rate by 10 when the validation error stops improving (paper §5).

    Call ``step(validation_error)`` after each evaluation. An error counts as an improvement if
    it is below the best so far by more than ``min_delta``. After ``patience`` evaluations in a
    row without one, ``optimizer.lr`` is multiplied by ``factor`` (0.1: divided by 10) and
    ``step`` returns True; the count starts again, against the same best error ("stopped
    improving with the current learning rate"). At most ``max_reductions`` times (the paper's
    3); ``reductions`` says how many so far. ``patience=1`` is the literal reading: the first
    evaluation that is no better triggers a division.
    """

    STATE = ("best", "stale", "reductions")

    def __init__(self, optimizer: SGD, factor: float = 0.1, patience: int = 1,
                 max_reductions: int = paper.LR_DIVISIONS, min_delta: float = 0.0):
        who = "ReduceLROnPlateau"
        factor = _checks.real(who, "factor", factor)
        if not 0 < factor < 1:
            raise ValueError(f"{who}: factor must be between 0 and 1 (0.1 divides the rate by 10), "
                             f"got {factor}")
        min_delta = _checks.real(who, "min_delta", min_delta)
        if not 0 <= min_delta < math.inf:
            raise ValueError(f"{who}: min_delta must be finite and >= 0, got {min_delta}")
        patience = _checks.int_at_least(who, "patience", patience, 1)
        max_reductions = _checks.int_at_least(who, "max_reductions", max_reductions, 0)
        self.optimizer = optimizer
        self.factor, self.patience = factor, patience
        self.max_reductions, self.min_delta = max_reductions, min_delta
        self.best = float("inf")
        self.stale = 0  # evaluations in a row without improvement
        self.reductions = 0

    def step(self, validation_error: float) -> bool:
        """Record one evaluation; True if the learning rate was divided just now."""
        validation_error = _error("ReduceLROnPlateau.step", "validation_error", validation_error)
        if validation_error < self.best - self.min_delta:
            self.best, self.stale = validation_error, 0
            return False
        self.stale += 1
        if self.stale < self.patience or self.reductions >= self.max_reductions:
            return False
        # Divided by 1/factor: 0.1 is not exactly a tenth in binary, and 0.1 * 0.1 gives
        # 0.010000000000000002 where 0.1 / 10 gives 0.01.
        self.optimizer.lr /= 1 / self.factor
        self.reductions += 1
        self.stale = 0
        return True

    def state_dict(self) -> dict:
        return {key: numpy.array(getattr(self, key)) for key in self.STATE}

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` returned. Everything is checked first, as by the
        constructor and ``step`` (``best`` a number, not NaN; ``stale`` and ``reductions`` ints
        >= 0), so a failed load changes nothing."""
        who = "ReduceLROnPlateau.load_state_dict"
        _require(who, state, self.STATE)
        best, stale, reductions = (_loaded(state[key]) for key in self.STATE)
        best = _error(who, "best", best)
        stale = _checks.int_at_least(who, "stale", stale, 0)
        reductions = _checks.int_at_least(who, "reductions", reductions, 0)
        self.best, self.stale, self.reductions = best, stale, reductions


def _error(who: str, name: str, value) -> float:
    """An error rate as a float: a real number, not NaN (no error is below NaN, so a NaN error
    would count as a plateau, and a NaN best would make every error one)."""
    value = _checks.real(who, name, value)
    if math.isnan(value):
        raise ValueError(f"{who}: {name} must be a real number, not NaN")
    return value


def _require(who: str, state: dict, keys) -> None:
    """``state`` (a ``load_state_dict`` argument) holds every one of ``keys``."""
    missing = [key for key in keys if key not in state]
    if missing:
        raise ValueError(f"{who}: missing {missing}")
