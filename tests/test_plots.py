"""The plotting helpers produce labelled figures and PNG files."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
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
