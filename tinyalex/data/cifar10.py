"""CIFAR-10 (Krizhevsky, 2009): 60,000 colour images of 32x32 pixels in 10 classes.

The paper's Figure 1 (ReLU against tanh, §3.1) is measured on CIFAR-10. We read the official
*binary* version, which numpy parses on its own: each batch file is a sequence of records of
``1 + 3072`` bytes,

    byte 0            the label, 0..9 (an index into ``CLASSES``)
    bytes 1..1024     the red plane, 32 rows of 32 pixels, row-major
    bytes 1025..2048  the green plane
    bytes 2049..3072  the blue plane

so a record is already an image in ``(C, H, W)`` order. The *python* version of the same data
(``cifar-10-python.tar.gz``) is a set of pickles, and unpickling a downloaded file can run any
code its author chose; tinyalex never does that, and asks for the binary version instead (it
holds the same pixels and labels).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from .archive import extract_tar
from .download import ChecksumError, download_file, verify_file
from .errors import DataError

__all__ = ["CLASSES", "load_cifar10", "read_cifar10_batch"]

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
ARCHIVE = "cifar-10-binary.tar.gz"
MD5 = "c32a1d4ab5d03f1284b67883e8d87530"  # published on https://www.cs.toronto.edu/~kriz/cifar.html
# Not published by the authors; the same size and SHA-256 are pinned independently by several
# public projects (for example Julia's MLDatasets), so we check them as well as the MD5.
SIZE = 170_052_171
SHA256 = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"

FOLDER = "cifar-10-batches-bin"
TRAIN_BATCHES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_BATCH = "test_batch.bin"
BATCH_RECORDS = 10_000  # images per batch file
RECORD_BYTES = 1 + 3 * 32 * 32

CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck")


def read_cifar10_batch(path, records: int = BATCH_RECORDS) -> tuple[np.ndarray, np.ndarray]:
    """Parse one binary batch file of ``records`` images, without unpickling anything.

    Returns ``images``, uint8 ``(records, 3, 32, 32)`` (RGB planes), and ``labels``, int64
    ``(records,)`` in 0..9. A file of the wrong size (truncated, or with extra bytes) or a label
    outside 0..9 raises ``DataError`` (a ``ValueError``) naming the file and the expected and
    actual values.
    """
    expected = records * RECORD_BYTES
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size != expected:
        raise DataError(
            f"read_cifar10_batch: {path} has {raw.size:,} bytes, expected {expected:,} "
            f"({records:,} records of {RECORD_BYTES} bytes); the file is truncated or not a "
            "CIFAR-10 binary batch"
        )
    raw = raw.reshape(records, RECORD_BYTES)
    labels = raw[:, 0].astype(np.int64)
    bad = np.flatnonzero(labels >= len(CLASSES))
    if bad.size:
        raise DataError(f"read_cifar10_batch: {path}: record {bad[0]} has label {labels[bad[0]]}, "
                        f"expected 0..{len(CLASSES) - 1}")
    images = raw[:, 1:].reshape(records, 3, 32, 32).copy()  # copy: contiguous, no 1-byte offset
    return images, labels


def _how_to_get_it(root: Path) -> str:
    """What to download and where to put it (ends every error about missing or bad files)."""
    text = (
        f"Download the binary version of CIFAR-10,\n    {URL}\n"
        f"    ({SIZE:,} bytes, md5 {MD5}, sha256 {SHA256})\n"
        f"and put it at {root.resolve() / ARCHIVE} (tinyalex checks and extracts it), or extract "
        f"it yourself so that {root.resolve() / FOLDER} holds {', '.join(TRAIN_BATCHES)} and "
        f"{TEST_BATCH}."
    )
    pickled = [p for p in (root / "cifar-10-python.tar.gz", root / "cifar-10-batches-py") if p.exists()]
    if pickled:
        text += (f"\n(Found {pickled[0]}: that is the python version, made of pickles, which "
                 "tinyalex never loads because unpickling a file can run arbitrary code.)")
    return text


def _fetch_archive(root: Path, allow_download: bool, progress: bool = True) -> Path:
    """The verified archive in ``root``, downloaded first when missing and allowed."""
    archive = root / ARCHIVE
    if not archive.exists() and not allow_download:
        raise FileNotFoundError(f"load_cifar10: CIFAR-10 is not in {root} and download=False.\n"
                                + _how_to_get_it(root))
    try:
        if archive.exists():
            verify_file(archive, size=SIZE, md5=MD5, sha256=SHA256)
        else:
            _download(archive, root, progress)
    except ChecksumError as error:
        advice = f"Delete {archive} and try again. " if archive.exists() else ""
        raise ChecksumError(f"load_cifar10: {error}.\n{advice}" + _how_to_get_it(root)) from error
    return archive


def _download(archive: Path, root: Path, progress: bool) -> None:
    try:
        download_file(URL, archive, size=SIZE, md5=MD5, sha256=SHA256, progress=progress)
    except OSError as error:  # no network, DNS, an HTTP error, a full disk
        raise FileNotFoundError(f"load_cifar10: could not download {URL} ({error}).\n"
                                + _how_to_get_it(root)) from error


def _extract(archive: Path, root: Path) -> None:
    """Extract into a temporary folder in ``root``, then move the batches folder into place,
    so that an interrupted extraction never leaves a half-written ``cifar-10-batches-bin``."""
    scratch = Path(tempfile.mkdtemp(dir=root, prefix=".cifar-10-extract-"))
    try:
        extract_tar(archive, scratch)
        missing = [n for n in (*TRAIN_BATCHES, TEST_BATCH) if not (scratch / FOLDER / n).is_file()]
        if missing:
            raise DataError(f"load_cifar10: {archive} has no {FOLDER}/{missing[0]}; expected the "
                            f"official archive.\n" + _how_to_get_it(root))
        (scratch / FOLDER).replace(root / FOLDER)
    finally:
        shutil.rmtree(scratch)


def load_cifar10(root="data", download: bool = True, progress: bool = True):
    """CIFAR-10's 50,000 training and 10,000 test images, downloaded into ``root`` if needed.

    Looks for the extracted batches in ``root/cifar-10-batches-bin``; failing that, for the
    archive ``root/cifar-10-binary.tar.gz`` (checked against its size, MD5 and SHA-256), which it
    downloads first when ``download`` is true (with a progress bar, unless ``progress`` is false);
    the archive is then extracted safely (see ``extract_tar``) and kept. Returns

        train_images  uint8 (50000, 3, 32, 32)    train_labels  int64 (50000,)
        test_images   uint8 (10000, 3, 32, 32)    test_labels   int64 (10000,)

    with labels indexing ``CLASSES``. Offline, or with a corrupt archive, the error says what to
    download (URL, size, checksums) and where to put it.
    """
    root = Path(root)
    folder = root / FOLDER
    names = (*TRAIN_BATCHES, TEST_BATCH)
    if not folder.exists():
        root.mkdir(parents=True, exist_ok=True)
        _extract(_fetch_archive(root, download, progress), root)
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(f"load_cifar10: {folder} exists but has no {', '.join(missing)}; "
                                "delete the folder to extract it again.\n" + _how_to_get_it(root))
    train = [read_cifar10_batch(folder / name, BATCH_RECORDS) for name in TRAIN_BATCHES]
    test_images, test_labels = read_cifar10_batch(folder / TEST_BATCH, BATCH_RECORDS)
    train_images = np.concatenate([images for images, _ in train])
    train_labels = np.concatenate([labels for _, labels in train])
    return train_images, train_labels, test_images, test_labels
