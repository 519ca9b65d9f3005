"""Softmax cross-entropy, the objective of paper §3.5 ("maximize the multinomial logistic
regression objective").

For logits ``z`` of shape ``(N, K)`` and integer labels ``y`` of shape ``(N,)``:

    log p[n, k] = z[n, k] - logsumexp_k z[n, :]
    loss        = -(1/N) * sum_n log p[n, y[n]]
    dloss/dz    = (p - onehot(y)) / N

``logsumexp`` subtracts each row's maximum before exponentiating, so large logits never overflow.
"""

from __future__ import annotations

from ..backend import get_array_module
from . import _checks


def log_softmax(logits):
    """``z - logsumexp(z)`` along the last axis, computed stably. logits: float32 or float64,
    at least 1-D with at least one entry on the last axis; the result has their shape and dtype."""
    _check_scores("log_softmax", logits)
    return _log_softmax(logits)


def _log_softmax(logits):
    """``log_softmax`` of logits already checked."""
    xp = get_array_module(logits)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(logits):
    """``exp(z) / sum(exp(z))`` along the last axis, computed stably (as ``log_softmax``)."""
    _check_scores("softmax", logits)
    return get_array_module(logits).exp(_log_softmax(logits))


def _check_scores(op: str, logits) -> None:
    _checks.floating(op, ("logits", logits))
    if logits.ndim == 0 or logits.shape[-1] == 0:
        raise ValueError(f"{op}: logits must have at least one entry on their last axis, got "
                         f"shape {tuple(logits.shape)}")


def softmax_cross_entropy(logits, labels):
    """Mean softmax cross-entropy and its gradient: returns ``(loss, dlogits)``.

    logits: ``(N, K)`` floating point, all finite; labels: ``(N,)`` integers in ``[0, K)``.
    ``loss`` is a Python float (the mean over the batch); ``dlogits = (softmax(z) - onehot(y)) / N``
    has the shape and dtype of ``logits``.
    """
    op = "softmax_cross_entropy"
    _checks.ndim(op, "logits", logits, 2, "(N, num_classes)")
    _check_scores(op, logits)
    xp = get_array_module(logits)
    n, k = logits.shape
    if getattr(labels, "ndim", None) != 1 or labels.shape[0] != n:
        raise ValueError(
            f"{op}: labels must have shape ({n},) to match logits {tuple(logits.shape)}, "
            f"got {getattr(labels, 'shape', type(labels).__name__)}"
        )
    if labels.dtype.kind not in "iu":
        raise ValueError(f"{op}: labels must be integer class indices, got dtype {labels.dtype}")
    if n == 0:
        raise ValueError(f"{op}: the batch is empty")
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or hi >= k:
        bad = lo if lo < 0 else hi
        raise ValueError(f"{op}: label {bad} is out of range for {k} classes (expected 0..{k - 1})")
    finite = xp.isfinite(logits)
    if not bool(finite.all()):
        row, col = (int(i[0]) for i in xp.nonzero(~finite))
        raise ValueError(
            f"{op}: logits must be finite, got {float(logits[row, col])} at [{row}, {col}] "
            "(training has diverged: lower the learning rate)"
        )
    labels = xp.asarray(labels)
    logp = _log_softmax(logits)
    rows = xp.arange(n)
    loss = 0.0 - float(logp[rows, labels].mean())  # 0.0 - 0.0 is 0.0; -(0.0) would be -0.0
    dlogits = xp.exp(logp)
    dlogits[rows, labels] -= 1
    dlogits /= n
    return loss, dlogits
