"""Checksummed downloads: a file is either complete and verified, or it is not there at all.

``download_file(url, path, ...)`` streams ``url`` into a temporary file *in the same folder* as
``path`` (with a tqdm progress bar), hashes the bytes as they arrive, checks the size and the
digests, and only then renames the temporary file to ``path`` (``atomic.atomic_write``). If
anything goes wrong (no network, a wrong checksum, Ctrl-C) the temporary file is deleted, so a
partial or corrupt download can never be mistaken for a good one later.

``verify_file(path, ...)`` applies the same checks to a file that is already on disk, for example
one a user downloaded by hand.
"""

from __future__ import annotations

import hashlib
import http.client
import urllib.request
from pathlib import Path

from tqdm import tqdm

from ..atomic import atomic_write
from .errors import DataError

__all__ = ["ChecksumError", "download_file", "verify_file"]

_CHUNK = 1 << 20  # read and hash 1 MiB at a time


class ChecksumError(DataError):
    """A file's size, MD5 or SHA-256 is not the published one."""


class _Digests:
    """Size, MD5 and SHA-256 of a stream of bytes, updated chunk by chunk."""

    def __init__(self):
        self.size = 0
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.sha256 = hashlib.sha256()

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self.md5.update(chunk)
        self.sha256.update(chunk)

    def check(self, name: str, size: int | None, md5: str | None, sha256: str | None) -> None:
        """Raise ``ChecksumError`` listing every expected value that does not match."""
        actual = {"size": self.size, "md5": self.md5.hexdigest(), "sha256": self.sha256.hexdigest()}
        expected = {"size": size, "md5": md5 and md5.lower(), "sha256": sha256 and sha256.lower()}
        wrong = [f"{key}: expected {expected[key]}, got {actual[key]}"
                 for key in expected if expected[key] is not None and expected[key] != actual[key]]
        if wrong:
            raise ChecksumError(f"{name} is corrupt or incomplete ({'; '.join(wrong)})")


def verify_file(path, *, size: int | None = None, md5: str | None = None,
           sha256: str | None = None) -> None:
    """Check a file on disk against its published size (bytes) and hex digests.

    Each check given is made; ``None`` skips it. Raises ``ChecksumError`` naming the file and
    the expected and actual values.
    """
    digests = _Digests()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digests.update(chunk)
    digests.check(str(path), size, md5, sha256)


def download_file(url: str, path, *, size: int | None = None, md5: str | None = None,
             sha256: str | None = None, progress: bool = True, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``path``, verified, atomically; returns ``path``.

    The bytes go to a hidden temporary file next to ``path``; after the last byte the size and
    digests are checked (``ChecksumError`` on a mismatch) and the file is renamed into place.
    With ``size`` given, a server that announces another size, or sends more, is stopped at
    once. Network failures, and a body shorter than the server's ``Content-Length``, raise
    ``OSError`` (``urllib.error.URLError`` is one). On any failure the
    temporary file is removed and ``path`` is left untouched. Any ``urllib`` URL works,
    ``file://`` included (the tests use that).
    """
    path = Path(path)
    digests = _Digests()
    name = f"the download of {url}"
    with atomic_write(path, suffix=".part") as out, \
            urllib.request.urlopen(url, timeout=timeout) as response:
        header = response.headers.get("Content-Length", "")
        announced = int(header) if header.isdigit() else None
        if announced is not None and size is not None and announced != size:
            raise ChecksumError(f"{name} is the wrong file (size: expected {size}, the server "
                                f"announces {announced})")
        with tqdm(total=announced, unit="B", unit_scale=True, unit_divisor=1024, desc=path.name,
                  disable=not progress) as bar:
            try:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    digests.update(chunk)
                    bar.update(len(chunk))
                    if size is not None and digests.size > size:
                        break  # already the wrong size: no need to fetch the rest
            except http.client.HTTPException as error:  # IncompleteRead: not an OSError
                raise OSError(f"download_file: {name} broke off "
                              f"({type(error).__name__}: {error})") from None
        # A connection closed early ends the body without an error: only the count tells.
        if announced is not None and digests.size < announced:
            raise OSError(f"download_file: {name} broke off after {digests.size} of the "
                          f"{announced} bytes the server announced")
        digests.check(name, size, md5, sha256)
    return path
