"""Error rates as the paper reports them (§6): top-1 and top-5.

"The top-5 error rate is the fraction of test images for which the correct label is not among
the five labels considered most probable by the model." Top-1 is the same with one label.
"""

from __future__ import annotations

from .backend import get_array_module


def topk_error(scores, labels, k: int = 1) -> float:
    """Fraction of rows whose label is not among the ``k`` highest ``scores``.

    scores: ``(N, K)`` (logits or probabilities: only their order matters); labels: ``(N,)``
    integers. A row is a hit when fewer than ``k`` classes score strictly higher than its label
    (so a tie with the label counts for the model; with real-valued scores ties are rare).
    """
    if getattr(scores, "ndim", None) != 2:
        raise ValueError(f"topk_error: scores must be (N, num_classes), got shape {getattr(scores, 'shape', None)}")
    n, num_classes = scores.shape
    if getattr(labels, "shape", None) != (n,):
        raise ValueError(f"topk_error: labels must have shape ({n},), got {getattr(labels, 'shape', None)}")
    if not 1 <= k <= num_classes:
        raise ValueError(f"topk_error: k must be in 1..{num_classes}, got {k}")
    if n == 0:
        raise ValueError("topk_error: no rows to score")
    xp = get_array_module(scores)
    labels = xp.asarray(labels)
    label_scores = scores[xp.arange(n), labels][:, None]
    higher = (scores > label_scores).sum(axis=1)
    return float((higher >= k).mean())


def top1_top5(scores, labels) -> tuple[float, float]:
    """``(top-1 error, top-5 error)``; top-5 is top-``K`` when there are fewer than 5 classes."""
    return topk_error(scores, labels, 1), topk_error(scores, labels, min(5, scores.shape[1]))
