"""Atomic file writes: a file is either the complete new version or the old one, never half.

``atomic_write(path)`` hands out a temporary file *in the same folder* as ``path``; when the
``with`` block ends normally the bytes are flushed to disk and the file is renamed over ``path``
(``os.replace``, atomic on POSIX and Windows, within one file system). If the block raises
(a wrong checksum, a full disk, Ctrl-C) the temporary file is deleted and ``path`` is untouched.
A process killed outright (``kill -9``) runs no clean-up and leaves its temporary file behind;
the next write to the same ``path`` deletes such files once they are an hour old. Checkpoints
(``last.npz``, ``best.npz``) and downloads are written this way.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import time
from pathlib import Path

__all__ = ["atomic_write"]

_ORPHAN_AGE = 3600  # seconds without a write after which a temporary file is an orphan


@contextlib.contextmanager
def atomic_write(path, suffix: str = ".tmp"):
    """Yield a binary file object whose bytes become ``path`` when the block ends normally.

    The temporary file is the hidden ``.<name>.<random><suffix>`` next to ``path`` (its folder
    is created if needed), a new file (mode ``"x"``: never another writer's) with the usual
    permissions (0666 less the umask). A symbolic link at ``path`` is followed, as ``open()``
    does: its target gets the new bytes and the link stays a link.
    """
    path = Path(os.path.realpath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(path, suffix)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}{suffix}")
    f = open(tmp, "xb")  # before the try: if the name were taken, that file is not ours to delete
    try:
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # Ctrl-C too: never leave a partial file behind
        tmp.unlink(missing_ok=True)
        raise


def _remove_orphans(path: Path, suffix: str) -> None:
    """Delete the temporary files that killed writers to ``path`` left, once an hour old: a
    live writer (a download's 1 MiB chunks, a checkpoint) writes far more often than that."""
    for orphan in path.parent.glob(f".{glob.escape(path.name)}.*{glob.escape(suffix)}"):
        with contextlib.suppress(OSError):  # another process may remove it first
            if time.time() - orphan.stat().st_mtime > _ORPHAN_AGE:
                orphan.unlink()
