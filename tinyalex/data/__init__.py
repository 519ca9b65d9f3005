"""Datasets and the paper's transforms: numpy, Pillow and tqdm only, never the layers or models.

| module | holds |
| --- | --- |
| ``download`` | ``download_file``, ``verify_file``: checksummed and atomic |
| ``archive`` | ``extract_tar``: refuses absolute paths, ``..``, links and devices |
"""

from .archive import UnsafeArchiveError, extract_tar
from .download import ChecksumError, download_file, verify_file

__all__ = [
    "ChecksumError",
    "UnsafeArchiveError",
    "download_file",
    "extract_tar",
    "verify_file",
]
