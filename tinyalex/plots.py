"""The figures people would rather look at than read: training curves (the paper's Figure 1),
first-layer kernels (Figure 3) and nearest neighbours in feature space (Figure 4).

Every function returns a ``matplotlib.figure.Figure`` (shown inline in a notebook, or written
with ``save``); none of them calls ``show()``. Images are ``(C, H, W)`` arrays, uint8 or float.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from .backend import to_numpy


def plot_curves(series: dict, *, xlabel: str = "epoch", ylabel: str, title: str,
                target: float | None = None, target_label: str | None = None,
                percent: bool = False, x=None):
    """One line per entry of ``series`` (label -> values per epoch), optionally a horizontal
    ``target`` line (Figure 1's 25% training error). ``percent`` shows fractions as percentages.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    styles = ["-", "--", "-.", ":"]
    scale = 100.0 if percent else 1.0
    for i, (label, values) in enumerate(series.items()):
        values = np.asarray(values, dtype=float) * scale
        xs = np.arange(1, len(values) + 1) if x is None else np.asarray(x)[: len(values)]
        ax.plot(xs, values, styles[i % len(styles)], label=label, linewidth=2)
    if target is not None:
        ax.axhline(target * scale, color="grey", linewidth=1, linestyle=":",
                   label=target_label or f"target {target * scale:g}{'%' if percent else ''}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel + (" (%)" if percent else ""))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def _to_hwc(image):
    """``(C, H, W)`` -> ``(H, W, C)`` (or ``(H, W)`` for one channel), scaled to [0, 1]."""
    image = to_numpy(image).astype(float)
    lo, hi = image.min(), image.max()
    image = (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)
    return image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)


def plot_kernels(weights, *, columns: int = 16, title: str = "First-layer kernels"):
    """Figure 3: every kernel of ``weights`` ``(F, C, KH, KW)`` as a small image, each scaled to
    its own min..max range (so contrast shows shape, not magnitude)."""
    weights = to_numpy(weights)
    rows = -(-len(weights) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 0.6, rows * 0.6 + 0.6), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, kernel in zip(axes.ravel(), weights):
        ax.imshow(_to_hwc(kernel), cmap="gray", interpolation="nearest")
    fig.suptitle(title)
    return fig


def plot_neighbours(queries, neighbours, *, query_labels=None, neighbour_labels=None,
                    title: str = "Nearest neighbours in the last hidden layer"):
    """Figure 4: each row shows a query image, then its neighbours (closest first).

    queries: ``(Q, C, H, W)``; neighbours: ``(Q, K, C, H, W)``; labels optional (class names).
    """
    queries, neighbours = to_numpy(queries), to_numpy(neighbours)
    q, k = neighbours.shape[:2]
    fig, axes = plt.subplots(q, k + 1, figsize=((k + 1) * 1.2, q * 1.3 + 0.5), squeeze=False)
    for row in range(q):
        images = [queries[row]] + list(neighbours[row])
        labels = [None if query_labels is None else query_labels[row]] + (
            [None] * k if neighbour_labels is None else list(neighbour_labels[row]))
        for col, (image, label) in enumerate(zip(images, labels)):
            ax = axes[row, col]
            ax.imshow(_to_hwc(image), cmap="gray")
            ax.set_xticks([])
            ax.set_yticks([])
            if label is not None:
                ax.set_title(str(label), fontsize=7)
        axes[row, 0].set_ylabel("query" if row == 0 else "")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def save(fig, path) -> Path:
    """Write ``fig`` to ``path`` (PNG, 120 dpi), creating folders, and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
