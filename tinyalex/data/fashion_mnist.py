"""Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017): 70,000 grey 28x28 images of clothes, 10 classes.

Not in the paper: it is the real dataset every tinyalex machine has offline (Debian's
``dataset-fashion-mnist`` puts it in ``/usr/share/datasets/fashion-mnist``), so the demos and
tests can train on real images without a download. The four IDX files (see ``idx.py``), each
gzip-compressed or plain:

    train-images-idx3-ubyte  uint8 (60000, 28, 28)    train-labels-idx1-ubyte  uint8 (60000,)
    t10k-images-idx3-ubyte   uint8 (10000, 28, 28)    t10k-labels-idx1-ubyte   uint8 (10000,)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import DataError
from .idx import read_idx

__all__ = ["CLASSES", "find_fashion_mnist", "load_fashion_mnist"]

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
SEARCH_PATH = (Path("data/fashion-mnist"), Path("/usr/share/datasets/fashion-mnist"))


def _file(folder: Path, name: str) -> Path | None:
    """``folder/name.gz`` or ``folder/name``, whichever exists (the compressed one first)."""
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    return None


def find_fashion_mnist(root=None) -> dict[str, Path]:
    """The paths of the four files, by name without ``.gz``.

    Looks in ``root`` only, when given; otherwise in ``data/fashion-mnist`` (relative to the
    working directory) and then ``/usr/share/datasets/fashion-mnist``. The first folder holding
    all four files wins; a folder holding some of them ends the search (a copy put there by
    hand and left incomplete is reported, not passed over). Raises ``FileNotFoundError``
    listing each folder and what it lacked.
    """
    folders = (Path(root),) if root is not None else SEARCH_PATH
    report = []
    for folder in folders:
        found = {name: _file(folder, name) for name in FILES}
        missing = [name for name, path in found.items() if path is None]
        if not missing:
            return found
        report.append(f"    {folder.resolve()}: " + ("no such folder" if not folder.is_dir()
                                                     else f"no {', '.join(missing)} (.gz or plain)"))
        if len(missing) < len(FILES):  # a copy half-made: not silently passed over for the next
            report[-1] += " (it has the others, so the search stopped there: complete it or remove it)"
            break
    raise FileNotFoundError(
        "load_fashion_mnist: Fashion-MNIST not found. Looked in\n" + "\n".join(report) + "\n"
        "Install it with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or put "
        f"the four files {', '.join(f + '.gz' for f in FILES)} from "
        "https://github.com/zalandoresearch/fashion-mnist in data/fashion-mnist/."
    )


def _read_split(images_path: Path, labels_path: Path):
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"load_fashion_mnist: {images_path} must hold uint8 (N, 28, 28) images, "
                        f"got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.shape != images.shape[:1]:
        raise DataError(f"load_fashion_mnist: {labels_path} must hold uint8 labels of shape "
                        f"{images.shape[:1]} (one per image), got {labels.dtype} {labels.shape}")
    if labels.size and labels.max() >= len(CLASSES):
        raise DataError(f"load_fashion_mnist: {labels_path} has label {labels.max()}, "
                        f"expected 0..{len(CLASSES) - 1}")
    return images[:, None], labels.astype(np.int64)


def load_fashion_mnist(root=None):
    """Fashion-MNIST's 60,000 training and 10,000 test images (see ``find_fashion_mnist``).

    Returns

        train_images  uint8 (60000, 1, 28, 28)    train_labels  int64 (60000,)
        test_images   uint8 (10000, 1, 28, 28)    test_labels   int64 (10000,)

    with one channel (NCHW) and labels indexing ``CLASSES``.
    """
    files = find_fashion_mnist(root)
    train_images, train_labels = _read_split(files[FILES[0]], files[FILES[1]])
    test_images, test_labels = _read_split(files[FILES[2]], files[FILES[3]])
    return train_images, train_labels, test_images, test_labels
