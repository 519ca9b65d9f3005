"""The plotting helpers produce labelled figures and PNG files, and refuse bad input before
they open a figure."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from tinyalex import plots  # noqa: E402


def test_curves_with_target_line(tmp_path):
    fig = plots.plot_curves({"ReLU": [0.6, 0.3, 0.2], "tanh": [0.7, 0.5, 0.4, 0.3]},
                            ylabel="training error", title="Figure 1", target=0.25, percent=True)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "training error (%)"
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["ReLU", "tanh", "target 25%"]
    np.testing.assert_allclose(lines[0].get_ydata(), [60, 30, 20])
    assert list(lines[0].get_xdata()) == [1, 2, 3] and list(lines[1].get_xdata()) == [1, 2, 3, 4]
    np.testing.assert_allclose(lines[2].get_ydata(), [25, 25])
    path = plots.save(fig, tmp_path / "fig" / "f1.png")
    assert Image.open(path).format == "PNG"


def test_kernel_grid_and_neighbours(tmp_path, rng):
    fig = plots.plot_kernels(rng.standard_normal((20, 3, 5, 5)), columns=8)
    images = [im for ax in fig.axes for im in ax.get_images()]
    assert len(images) == 20 and images[0].get_array().shape == (5, 5, 3)
    assert 0.0 <= images[0].get_array().min() and images[0].get_array().max() <= 1.0
    plots.save(fig, tmp_path / "k.png")

    queries = rng.integers(0, 256, (2, 1, 8, 8)).astype(np.uint8)
    neighbours = rng.integers(0, 256, (2, 3, 1, 8, 8)).astype(np.uint8)
    fig = plots.plot_neighbours(queries, neighbours, query_labels=["a", "b"],
                                neighbour_labels=[["a", "a", "b"], ["b", "b", "b"]])
    assert len(fig.axes) == 8 and fig.axes[1].get_title() == "a"
    assert Image.open(plots.save(fig, tmp_path / "n.png")).size[0] > 0


def test_images_are_drawn_at_their_own_brightness():
    """A white uint8 image is drawn white, not stretched to black; grey axes are not
    normalised by matplotlib either; a constant kernel is mid-grey."""
    white = np.full((1, 1, 4, 4), 255, np.uint8)
    fig = plots.plot_neighbours(white, np.stack([white, white // 2], axis=1))
    drawn = [ax.get_images()[0] for ax in fig.axes]
    assert [float(im.get_array().mean()) for im in drawn] == [1.0, 1.0, 127 / 255]
    assert all(im.get_clim() == (0, 1) for im in drawn)
    fig = plots.plot_kernels(np.ones((1, 1, 3, 3)))
    assert float(fig.axes[0].get_images()[0].get_array().mean()) == 0.5
    plt.close("all")


@pytest.mark.parametrize("draw, message", [
    (lambda: plots.plot_kernels(np.zeros((0, 3, 4, 4))),
     r"plot_kernels: weights must be \(F, C, KH, KW\) .* got shape \(0, 3, 4, 4\)"),
    (lambda: plots.plot_kernels(np.zeros((2, 2, 4, 4))),
     r"plot_kernels: weights must be \(F, C, KH, KW\) with C = 1 or 3 .* got shape \(2, 2, 4, 4\)"),
    (lambda: plots.plot_kernels(np.zeros((2, 4, 4))),
     r"plot_kernels: weights must be \(F, C, KH, KW\) .* got shape \(2, 4, 4\)"),
    (lambda: plots.plot_kernels(np.zeros((2, 3, 4, 4)), columns=0),
     "plot_kernels: columns must be a positive int, got 0"),
    (lambda: plots.plot_neighbours(np.zeros((3, 1, 8, 8)), np.zeros((2, 4, 1, 8, 8))),
     "plot_neighbours: 3 queries but neighbours for 2"),
    (lambda: plots.plot_neighbours(np.zeros((2, 1, 8, 8)), np.zeros((2, 4, 8, 8))),
     r"plot_neighbours: neighbours must be \(Q, K, C, H, W\) .* got shape \(2, 4, 8, 8\)"),
    (lambda: plots.plot_neighbours(np.zeros((2, 1, 8, 8)), np.zeros((2, 3, 1, 8, 8)),
                                   query_labels=["a"]),
     "plot_neighbours: query_labels must give 2 labels, got 1"),
    (lambda: plots.plot_neighbours(np.zeros((2, 1, 8, 8)), np.zeros((2, 3, 1, 8, 8)),
                                   neighbour_labels=[["a", "a", "a"], ["b", "b"]]),
     r"plot_neighbours: neighbour_labels must give 2 rows of 3 labels, got rows of \[3, 2\]"),
    (lambda: plots.plot_curves({"ReLU": [0.6, 0.3, 0.2]}, x=[1, 2], ylabel="error", title="t"),
     r"plot_curves: x must give at least 3 positions \(the longest series\), got shape \(2,\)"),
    (lambda: plots.plot_curves({"ReLU": [[0.6, 0.3]]}, ylabel="error", title="t"),
     r"plot_curves: series 'ReLU' must be a sequence of numbers \(or None\), got \[\[0.6, 0.3\]\]"),
    (lambda: plots.plot_curves({}, ylabel="error", title="t"), "plot_curves: series is empty"),
    (lambda: plots.plot_curves({"a": ["x"]}, ylabel="error", title="t"),
     r"plot_curves: series 'a' must be a sequence of numbers \(or None\), got \['x'\]"),
])
def test_bad_input_is_refused_before_a_figure_is_made(draw, message):
    open_figures = plt.get_fignums()
    with pytest.raises(ValueError, match=message):
        draw()
    assert plt.get_fignums() == open_figures
