"""Datasets and the paper's transforms: numpy, Pillow and tqdm only, never the layers or models.

``load_cifar10(root="data", download=True)`` and ``load_fashion_mnist(root=None)`` return
``(train_images, train_labels, test_images, test_labels)``: images uint8 ``(N, C, H, W)``,
labels int64 indexing ``CIFAR10_CLASSES`` or ``FASHION_MNIST_CLASSES``.

| module | holds |
| --- | --- |
| ``cifar10`` | ``load_cifar10``, ``read_cifar10_batch``: the binary batches, never a pickle (Figure 1) |
| ``fashion_mnist`` | ``load_fashion_mnist``, ``find_fashion_mnist``: real images, offline |
| ``idx`` | ``read_idx``: any IDX file, gzip or plain |
| ``image_folder`` | ``ImageFolder(root, transform=None, classes=None)``: one folder per class (§2) |
| ``download`` | ``download_file``, ``verify_file``: checksummed and atomic |
| ``archive`` | ``extract_tar``: refuses absolute paths, ``..``, links, devices and clashing members |
| ``transforms`` | the paper's preprocessing (§2) and augmentation (§4.1) |
| ``errors`` | ``DataError``: a file that is corrupt, truncated, fails its checksum or is unsafe |
"""

from . import transforms
from .archive import UnsafeArchiveError, extract_tar
from .cifar10 import CLASSES as CIFAR10_CLASSES
from .cifar10 import load_cifar10, read_cifar10_batch
from .download import ChecksumError, download_file, verify_file
from .errors import DataError
from .fashion_mnist import CLASSES as FASHION_MNIST_CLASSES
from .fashion_mnist import find_fashion_mnist, load_fashion_mnist
from .idx import read_idx
from .image_folder import ImageFolder

__all__ = [
    "CIFAR10_CLASSES",
    "ChecksumError",
    "DataError",
    "FASHION_MNIST_CLASSES",
    "ImageFolder",
    "UnsafeArchiveError",
    "download_file",
    "extract_tar",
    "find_fashion_mnist",
    "load_cifar10",
    "load_fashion_mnist",
    "read_cifar10_batch",
    "read_idx",
    "transforms",
    "verify_file",
]
