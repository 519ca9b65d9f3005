"""Datasets by name, for the command line: CIFAR-10, Fashion-MNIST or a folder of images, in
memory as uint8 ``(N, C, H, W)``, with seeded random subsets, and the Figure-1 demo's fallback
from CIFAR-10 to Fashion-MNIST when CIFAR-10 cannot be had.

CIFAR-10 and Fashion-MNIST have no validation split of their own; their test split serves as
the validation set (the schedule's signal and ``best.npz``), and the commands say so.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .data import (CIFAR10_CLASSES, FASHION_MNIST_CLASSES, ImageFolder, load_cifar10,
                   load_fashion_mnist, transforms)
from .functional import _checks

__all__ = ["DATASETS", "Dataset", "load_dataset"]

DATASETS = {"cifar10": "CIFAR-10", "fashion-mnist": "Fashion-MNIST"}


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A dataset in memory: uint8 ``(N, C, H, W)`` images, int64 labels indexing ``classes``.

    ``name`` is what the output and the plots call it; ``full_size`` is the number of training
    images before ``subset`` took some of them.
    """

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: tuple
    full_size: int | None = None

    @property
    def image_shape(self) -> tuple:
        return tuple(self.train_images.shape[1:])

    def subset(self, train=None, test=None, seed: int = 0) -> "Dataset":
        """``train`` training and ``test`` test images drawn at random (seeded, without
        replacement, kept in their original order); ``None`` or ``"all"``: all of them. The
        two draws have generators of their own, so runs with other training subsets are
        validated on the same test images."""
        parts = {}
        for split, n, rng in (("train", train, np.random.default_rng(seed)),
                              ("test", test, np.random.default_rng([seed, 1]))):
            n = None if n == "all" else n
            images, labels = getattr(self, f"{split}_images"), getattr(self, f"{split}_labels")
            if n is not None and not (_checks.is_int(n) and 1 <= n <= len(images)):
                raise ValueError(f"Dataset.subset: {self.name} has {len(images):,} {split} images; "
                                 f"cannot take a subset of {n!r} (use 1..{len(images):,} or 'all')")
            pick = np.sort(rng.choice(len(images), n, replace=False)) if n is not None else slice(None)
            parts.update({f"{split}_images": images[pick], f"{split}_labels": labels[pick]})
        return dataclasses.replace(self, **parts, full_size=self.full_size or len(self.train_images))

    def describe(self, test: bool = True) -> str:
        """E.g. ``Fashion-MNIST, 20,000 of its 60,000 training images (1x28x28), 2,000 test images``
        (without the test images when ``test`` is False, for a run that does not use them)."""
        n, full = len(self.train_images), self.full_size or len(self.train_images)
        share = f"{n:,} of its {full:,}" if n < full else f"all {n:,}"
        shape = "x".join(map(str, self.image_shape))
        tests = f", {len(self.test_images):,} test images" if test else ""
        return f"{self.name}, {share} training images ({shape}){tests}"


def _builtin(key: str, root, progress: bool) -> Dataset:
    if key == "cifar10":
        arrays, classes = load_cifar10(root=root, progress=progress), CIFAR10_CLASSES
    else:
        arrays, classes = load_fashion_mnist(), FASHION_MNIST_CLASSES
    return Dataset(DATASETS[key], *arrays, classes=classes)


def _image_folder(path: Path, size: int, progress: bool) -> Dataset:
    """``path/train/<class>/*`` and ``path/val/<class>/*``, each image rescaled and centre-cropped
    to ``size`` x ``size`` (paper §2) as it is read."""
    splits = [path / "train", path / "val"]
    missing = [str(p) for p in splits if not p.is_dir()]
    if missing:
        raise FileNotFoundError(f"load_dataset: {path} must hold train/ and val/, one sub-folder "
                                f"per class in each; missing {', '.join(missing)}")

    def transform(image):
        return transforms.rescale_and_center_crop(image, size)

    train = ImageFolder(splits[0], transform=transform)
    val = ImageFolder(splits[1], transform=transform, classes=train.classes)
    arrays = []
    for split, folder in zip(("train", "val"), (train, val)):
        items = [folder[i] for i in tqdm(range(len(folder)), desc=f"reading {split}/", unit="image",
                                         disable=not progress)]
        arrays += [np.stack([image for image, _ in items]), np.array([label for _, label in items])]
    return Dataset(str(path), *arrays, classes=tuple(train.classes))


def load_dataset(name: str, *, root="data", image_size: int = 256, fallback: bool = False,
                 log=print, progress: bool = True) -> Dataset:
    """The dataset ``name``: ``"cifar10"`` (from ``root``, downloaded if needed), ``"fashion-mnist"``
    (found offline, see ``data.find_fashion_mnist``) or the path of a folder holding ``train/``
    and ``val/`` image folders (read at ``image_size``).

    With ``fallback``, a CIFAR-10 that cannot be had (offline, or not downloaded) is replaced by
    Fashion-MNIST, and ``log`` says so and why; with neither, ``FileNotFoundError`` says how to
    get each. A corrupt CIFAR-10 archive is an error, never a reason to fall back. ``progress``:
    progress bars while downloading CIFAR-10 or reading image folders.
    """
    if name not in DATASETS:
        path = Path(name)
        if not path.is_dir():
            raise ValueError(f"load_dataset: {name!r} is neither one of {', '.join(DATASETS)} nor "
                             "a folder")
        return _image_folder(path, image_size, progress)
    try:
        return _builtin(name, root, progress)
    except FileNotFoundError as error:
        if not (fallback and name == "cifar10"):
            raise
        cifar_error = error
    try:
        dataset = _builtin("fashion-mnist", root, progress)
    except FileNotFoundError as error:
        raise FileNotFoundError(
            f"Neither CIFAR-10 nor Fashion-MNIST is available; get one of them.\n\n"
            f"CIFAR-10: {cifar_error}\n\nFashion-MNIST: {error}") from None
    indented = str(cifar_error).replace("\n", "\n    ")
    log(f"CIFAR-10 is not available, so this run uses Fashion-MNIST instead.\n    {indented}")
    return dataset
