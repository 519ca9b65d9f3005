"""Datasets and the paper's transforms: numpy, Pillow and tqdm only, never the layers or models.

``load_cifar10(root="data", download=True)`` returns
``(train_images, train_labels, test_images, test_labels)``: images uint8 ``(N, C, H, W)``,
labels int64 indexing ``CIFAR10_CLASSES``.

| module | holds |
| --- | --- |
| ``cifar10`` | ``load_cifar10``, ``read_cifar10_batch``: the binary batches, never a pickle (Figure 1) |
| ``download`` | ``download_file``, ``verify_file``: checksummed and atomic |
| ``archive`` | ``extract_tar``: refuses absolute paths, ``..``, links and devices |
"""

from .archive import UnsafeArchiveError, extract_tar
from .cifar10 import CLASSES as CIFAR10_CLASSES
from .cifar10 import load_cifar10, read_cifar10_batch
from .download import ChecksumError, download_file, verify_file

__all__ = [
    "CIFAR10_CLASSES",
    "ChecksumError",
    "UnsafeArchiveError",
    "download_file",
    "extract_tar",
    "load_cifar10",
    "read_cifar10_batch",
    "verify_file",
]
