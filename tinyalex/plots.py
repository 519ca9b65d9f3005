"""The figures people would rather look at than read: training curves (the paper's Figure 1),
first-layer kernels (Figure 3) and nearest neighbours in feature space (Figure 4).

Every function returns a ``matplotlib.figure.Figure`` (shown inline in a notebook, or written
with ``save``); none of them calls ``show()``. Images are ``(C, H, W)`` arrays, uint8 or float,
with 1 (grey) or 3 (RGB) channels. The arguments are checked before a figure is made, so a
refused call raises a ``ValueError`` naming the function and leaves no figure open behind it.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from .backend import to_numpy
from .functional import _checks


def plot_curves(series: dict, *, xlabel: str = "epoch", ylabel: str, title: str,
                target: float | None = None, target_label: str | None = None,
                percent: bool = False, x=None):
    """One line per entry of ``series`` (label -> values per epoch), optionally a horizontal
    ``target`` line (Figure 1's 25% training error). ``percent`` shows fractions as percentages.
    ``x``: the positions of the values on the horizontal axis (default: epochs 1, 2, ...).
    """
    if not series:
        raise ValueError("plot_curves: series is empty: give at least one curve (label -> values)")
    scale = 100.0 if percent else 1.0
    curves = {}
    for label, values in series.items():
        try:  # None (not measured) becomes NaN, a gap in the line
            curves[label] = np.asarray(values, dtype=float) * scale
        except (TypeError, ValueError):
            curves[label] = None
        if curves[label] is None or curves[label].ndim != 1:
            raise ValueError(f"plot_curves: series {label!r} must be a sequence of numbers (or "
                             f"None), got {values!r}")
    longest = max(len(values) for values in curves.values())
    x = np.arange(1, longest + 1) if x is None else np.asarray(x)
    if x.ndim != 1 or len(x) < longest:
        raise ValueError(
            f"plot_curves: x must give at least {longest} positions (the longest series), "
            f"got shape {x.shape}"
        )
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    styles = ["-", "--", "-.", ":"]
    for i, (label, values) in enumerate(curves.items()):
        ax.plot(x[: len(values)], values, styles[i % len(styles)], label=label, linewidth=2)
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


def _images(function: str, name: str, images, layout: str):
    """``images`` as a host array laid out as ``layout`` (ending in ``C, H, W``), with 1 or 3
    channels and no empty axis; otherwise a ``ValueError`` naming ``function``."""
    images = to_numpy(images)
    if images.ndim != layout.count(",") + 1 or 0 in images.shape or images.shape[-3] not in (1, 3):
        raise ValueError(
            f"{function}: {name} must be {layout} with C = 1 or 3 (grey or RGB) and no empty "
            f"axis, got shape {images.shape}"
        )
    return images


def _to_hwc(image):
    """A host ``(C, H, W)`` (from ``_images``) -> ``(H, W, C)`` (or ``(H, W)`` for one channel), in [0, 1]: uint8 pixels
    divided by 255, anything else (kernels, preprocessed images) stretched from its own
    min..max (a constant one is drawn mid-grey)."""
    if image.dtype == np.uint8:
        image = image / 255.0
    else:
        lo, hi = float(image.min()), float(image.max())
        image = (image - lo) / (hi - lo) if hi > lo else np.full(image.shape, 0.5)
    return image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)


def plot_kernels(weights, *, columns: int = 16, title: str = "First-layer kernels"):
    """Figure 3: every kernel of ``weights`` ``(F, C, KH, KW)`` as a small image, each scaled to
    its own min..max range (so contrast shows shape, not magnitude); ``columns`` per row."""
    weights = _images("plot_kernels", "weights", weights, "(F, C, KH, KW)")
    columns = _checks.positive_int("plot_kernels", "columns", columns)
    rows = -(-len(weights) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 0.6, rows * 0.6 + 0.6), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, kernel in zip(axes.ravel(), weights):
        ax.imshow(_to_hwc(kernel), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    fig.suptitle(title)
    return fig


def plot_neighbours(queries, neighbours, *, query_labels=None, neighbour_labels=None,
                    title: str = "Nearest neighbours in the last hidden layer"):
    """Figure 4: each row shows a query image, then its neighbours (closest first).

    queries: ``(Q, C, H, W)``; neighbours: ``(Q, K, C, H, W)``; labels optional (class names):
    ``query_labels`` one per query, ``neighbour_labels`` ``Q`` rows of ``K``. uint8 images are
    drawn as they are; others (preprocessed ones) each stretched to its own min..max.
    """
    queries = _images("plot_neighbours", "queries", queries, "(Q, C, H, W)")
    neighbours = _images("plot_neighbours", "neighbours", neighbours, "(Q, K, C, H, W)")
    q, k = neighbours.shape[:2]
    if len(queries) != q:
        raise ValueError(
            f"plot_neighbours: {len(queries)} queries but neighbours for {q} "
            f"(shapes {queries.shape} and {neighbours.shape})"
        )
    if query_labels is not None and len(query_labels) != q:
        raise ValueError(f"plot_neighbours: query_labels must give {q} labels, got {len(query_labels)}")
    rows = None if neighbour_labels is None else [len(row) for row in neighbour_labels]
    if rows is not None and rows != [k] * q:
        raise ValueError(
            f"plot_neighbours: neighbour_labels must give {q} rows of {k} labels, got rows of {rows}"
        )
    fig, axes = plt.subplots(q, k + 1, figsize=((k + 1) * 1.2, q * 1.3 + 0.5), squeeze=False)
    for row in range(q):
        images = [queries[row]] + list(neighbours[row])
        labels = [None if query_labels is None else query_labels[row]] + (
            [None] * k if neighbour_labels is None else list(neighbour_labels[row]))
        for col, (image, label) in enumerate(zip(images, labels)):
            ax = axes[row, col]
            ax.imshow(_to_hwc(image), cmap="gray", vmin=0, vmax=1)
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
