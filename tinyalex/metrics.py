"""Error rates as the paper defines them (§2) and reports them (§6): top-1 and top-5.

"The top-5 error rate is the fraction of test images for which the correct label is not among
the five labels considered most probable by the model." Top-1 is the same with one label.
"""

from __future__ import annotations

from .backend import get_array_module
from .functional import _checks


def topk_error(scores, labels, k: int = 1) -> float:
    """Fraction of rows whose label is not among the ``k`` highest ``scores``.

    scores: ``(N, K)`` (logits or probabilities: only their order matters); labels: ``(N,)``
    integers in ``0..K-1``; ``k``: an int in ``1..K`` (``k > K`` is refused: every label is among
    the top ``K``, so the error would be 0 whatever the scores; ``top1_top5`` asks for top-``K``
    when there are fewer than 5 classes). A row is a hit when fewer than ``k`` classes come
    before its label, in the order of ``argmax`` and of a stable ``argsort`` of ``-scores``:
    higher scores first, and among equal scores the lower class index first. So a tie is broken
    the way ``scores.argmax(axis=1)`` breaks it, and a model whose outputs are all equal scores
    the chance level it has, not a perfect one.

    The scores must not be NaN or ``+inf``: NaN has no place in the order, and ``+inf`` is the
    logit of a diverged model; a ``ValueError`` says so rather than scoring it. ``-inf`` is
    allowed: it is the log of a probability that rounded to 0.
    """
    ranks = _ranks("topk_error", scores, labels)
    if not _checks.is_int(k) or not 1 <= k <= scores.shape[1]:
        raise ValueError(f"topk_error: k must be an int in 1..{scores.shape[1]}, got {k!r}")
    return float((ranks >= k).mean())


def _ranks(op: str, scores, labels):
    """For each row, how many classes come before its label (``topk_error``'s order), after
    checking ``scores`` and ``labels`` as ``topk_error`` documents (the errors name ``op``)."""
    if getattr(scores, "ndim", None) != 2:
        raise ValueError(f"{op}: scores must be (N, num_classes), got shape {getattr(scores, 'shape', None)}")
    n, num_classes = scores.shape
    if getattr(labels, "shape", None) != (n,):
        raise ValueError(f"{op}: labels must have shape ({n},), got {getattr(labels, 'shape', None)}")
    if labels.dtype.kind not in "iu":
        raise ValueError(f"{op}: labels must be integers (class indices), got dtype {labels.dtype}")
    if n == 0:
        raise ValueError(f"{op}: no rows to score")
    xp = get_array_module(scores)
    labels = xp.asarray(labels)
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= num_classes:
        raise ValueError(
            f"{op}: labels must be in 0..{num_classes - 1}, got values from {low} to {high}"
        )
    bad = int((xp.isnan(scores) | (scores == xp.inf)).sum())
    if bad:
        raise ValueError(
            f"{op}: scores must not be NaN or +inf, got {bad} such values of {scores.size} "
            "(a diverged model?)"
        )
    label_scores = scores[xp.arange(n), labels][:, None]
    before_label = xp.arange(num_classes) < labels[:, None]
    ahead = (scores > label_scores) | ((scores == label_scores) & before_label)
    return ahead.sum(axis=1)


def top1_top5(scores, labels) -> tuple[float, float]:
    """``(top-1 error, top-5 error)``; top-5 is top-``K`` when there are fewer than 5 classes.
    The same as two calls of ``topk_error``, with one check and one ranking."""
    ranks = _ranks("top1_top5", scores, labels)
    return float((ranks >= 1).mean()), float((ranks >= min(5, scores.shape[1])).mean())
