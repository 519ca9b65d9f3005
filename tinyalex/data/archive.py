"""Safe extraction of a tar archive: regular files and folders inside the target, nothing else.

A tar member can be named ``/etc/passwd`` or ``../../.bashrc``, or be a symbolic link, a hard
link or a device node; ``tarfile.extractall`` on an untrusted archive would happily write any of
them. ``extract_tar`` first checks *every* member and refuses the whole archive if one fails, so
nothing is written from a bad archive. Then it writes the bytes of regular files itself, to
paths it has checked, and creates folders; it never sets owners, permissions or times from the
archive.
"""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path, PurePosixPath, PureWindowsPath

__all__ = ["UnsafeArchiveError", "extract_tar"]


class UnsafeArchiveError(ValueError):
    """An archive member would land outside the target folder, or is not a file or folder."""


def _member_path(member: tarfile.TarInfo, archive, target: Path) -> Path:
    """Where ``member`` would be written, after refusing anything unsafe."""
    name = member.name
    posix = PurePosixPath(name.replace("\\", "/"))
    kind = ("a symbolic link" if member.issym() else "a hard link" if member.islnk()
            else None if member.isfile() or member.isdir() else "a device, FIFO or other special file")
    if kind is not None:
        problem = f"is {kind}"
    elif posix.is_absolute() or PureWindowsPath(name).drive:
        problem = "is an absolute path"
    elif ".." in posix.parts:
        problem = "contains '..'"
    else:
        destination = (target / posix).resolve()
        if destination == target or target in destination.parents:
            return destination
        problem = f"would be written outside {target}"  # e.g. through a link already on disk
    raise UnsafeArchiveError(
        f"extract_tar: refusing {archive}: member {name!r} {problem}; only regular files and "
        "folders with relative paths inside the target are extracted"
    )


def extract_tar(archive, target) -> list[Path]:
    """Extract the tar (plain, gzip, bz2 or xz) ``archive`` into the folder ``target``.

    Every member is checked before anything is written; one absolute path, ``..`` component,
    link or special file raises ``UnsafeArchiveError`` and nothing is extracted. Returns the
    paths of the regular files written.
    """
    target = Path(target).resolve()
    target.mkdir(parents=True, exist_ok=True)
    written = []
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        destinations = [_member_path(m, archive, target) for m in members]
        for member, destination in zip(members, destinations):
            if member.isdir():
                destination.mkdir(parents=True, exist_ok=True)
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(member) as source, open(destination, "wb") as out:
                shutil.copyfileobj(source, out)
            written.append(destination)
    return written
