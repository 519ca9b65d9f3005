"""Safe extraction of a tar archive: regular files and folders inside the target, nothing else.

A tar member can be named ``/etc/passwd`` or ``../../.bashrc``, or be a symbolic link, a hard
link or a device node; ``tarfile.extractall`` on an untrusted archive would happily write any of
them. Two members can also clash: a second ``a`` silently overwrites the first, and a member
``a/b`` after a file ``a`` fails half-way through (so does a member that needs a folder where
the target already has a file). ``extract_tar`` first checks *every* member, how they fit
together and with what the target holds, and refuses the whole archive if one fails, so
nothing is written from a bad archive. Nor from one whose files would not fit on the disk
(a few bytes of gzip can hold gigabytes of zeros): the sizes the members declare are added up
first. Then it writes the bytes of regular files itself, to paths it has checked, and creates
folders; it never sets owners, permissions or times from the archive.
"""

from __future__ import annotations

import errno
import lzma
import os
import shutil
import tarfile
import zlib
from pathlib import Path, PurePosixPath, PureWindowsPath

from .errors import DataError

__all__ = ["UnsafeArchiveError", "extract_tar"]


class UnsafeArchiveError(DataError):
    """An archive member would land outside the target folder, is not a file or folder, or
    clashes with another member."""


def _refusal(archive, name: str, problem: str, advice: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(f"extract_tar: refusing {archive}: member {name!r} {problem}; "
                              f"{advice}")


def _member_path(member: tarfile.TarInfo, archive, target: Path, name_max: int) -> Path:
    """Where ``member`` would be written, after refusing anything unsafe (``name_max``: the
    longest file name the target's file system allows, in bytes)."""
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
    elif too_long := [part for part in posix.parts if len(os.fsencode(part)) > name_max]:
        problem = f"has a name longer than the file system allows ({too_long[0][:40]!r}...)"
    else:
        destination = (target / posix).resolve()
        if target in destination.parents or (destination == target and member.isdir()):
            return destination
        problem = (f"would be written outside {target}" if destination != target  # e.g. a link
                   else "is a file named like the target folder itself")  # "", ".", "./"
    raise _refusal(archive, name, problem, "only regular files and folders with relative paths "
                   "inside the target are extracted")


def _name_max(target: Path) -> int:
    """The longest file name, in bytes, the file system of ``target`` allows."""
    try:
        return os.pathconf(target, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):  # no pathconf (Windows), or no answer
        return 255


def _check_clashes(members: list[tarfile.TarInfo], destinations: list[Path], archive) -> None:
    """Refuse two members with one path (unless both are folders) and a member inside a file."""
    files = {d: m.name for m, d in zip(members, destinations) if m.isfile()}
    first: dict[Path, tarfile.TarInfo] = {}
    for member, destination in zip(members, destinations):
        other = first.setdefault(destination, member)
        if other is not member and not (other.isdir() and member.isdir()):
            problem = ("appears twice" if other.name == member.name
                       else f"has the same path as member {other.name!r}")
        elif inside := [files[p] for p in destination.parents if p in files]:
            problem = f"is inside member {inside[0]!r}, which is a file"
        else:
            continue
        raise _refusal(archive, member.name, problem, "each file must have a path of its own")


def _check_existing(members: list[tarfile.TarInfo], destinations: list[Path], target: Path,
                    archive) -> None:
    """Refuse a member that cannot replace what the target folder already holds at its path: a
    folder where a file member goes, or anything but a folder where a folder member or a
    member's parent folder goes (``mkdir`` would fail half-way through the extraction)."""
    for member, destination in zip(members, destinations):
        in_the_way = [p for p in (destination, *destination.parents) if target in p.parents
                      and p.exists() and not p.is_dir()]
        if member.isfile() and destination.is_dir():
            problem = "would replace a folder"
        elif in_the_way and not (member.isfile() and in_the_way == [destination]):
            problem = f"needs a folder where {target} has the file {in_the_way[-1].relative_to(target)}"
        else:
            continue
        raise _refusal(archive, member.name, problem, "move it out of the way first")


def _check_size(members: list[tarfile.TarInfo], destinations: list[Path], target: Path,
                archive) -> None:
    """Refuse an archive whose files add up to more than the target's file system has free
    (counting the files they replace). The sizes are the ones the members declare, which is
    what extraction writes: a sparse member is written in full, and a small compressed archive
    can hold huge files of zeros."""
    total = sum(m.size for m in members if m.isfile())
    replaced = sum(d.stat().st_size for m, d in zip(members, destinations)
                   if m.isfile() and d.is_file())
    free = shutil.disk_usage(target).free + replaced
    if total > free:
        raise OSError(errno.ENOSPC, f"extract_tar: {archive} holds {total} bytes of files, and "
                                    f"{target} has {free} bytes free")


def _check_complete(tar: tarfile.TarFile, archive) -> None:
    """After ``getmembers``: the archive ends with tar's end-of-archive block and, compressed,
    with an intact stream. ``tarfile`` says nothing where the block is missing or garbled (a
    tar cut short at a member boundary reads as a shorter archive) and stops reading before a
    gzip/bz2/xz trailer, whose CRC would then go unchecked: the block is read again (its
    position: ``tar.offset``) and the stream to its end, where the decompressor checks it."""
    cut = tar.fileobj.tell() != tar.offset + tarfile.BLOCKSIZE  # no whole block read there
    if not cut:
        tar.fileobj.seek(tar.offset)
        cut = tar.fileobj.read(tarfile.BLOCKSIZE) != tarfile.NUL * tarfile.BLOCKSIZE
    if cut:
        raise DataError(f"extract_tar: {archive} does not end with tar's end-of-archive block "
                        f"after its member {tar.members[-1].name if tar.members else None!r}: "
                        "it is cut short or damaged")
    while tar.fileobj.read(1 << 20):
        pass


def extract_tar(archive, target) -> list[Path]:
    """Extract the tar (plain, gzip, bz2 or xz) ``archive`` into the folder ``target``.

    Every member is checked before anything is written; one absolute path, ``..`` component,
    over-long name, link or special file, two members with one path, a member inside a file
    member, or one that clashes with what ``target`` already holds (a file where a folder goes,
    or a folder where a file goes) raises ``UnsafeArchiveError`` and nothing is extracted. So
    does a damaged archive (``DataError``): truncated, without its end-of-archive block, or
    whose gzip/bz2/xz checksum fails. Files that would not fit on the target's file system
    raise ``OSError`` (ENOSPC), before anything is written too. Files already in ``target``
    with a member's path are overwritten. Returns the paths of the regular files written.
    """
    target = Path(target).resolve()
    target.mkdir(parents=True, exist_ok=True)
    written = []
    with open(archive, "rb") as raw:  # a missing archive is a FileNotFoundError, not damage
        try:
            tar = tarfile.open(fileobj=raw, mode="r:*")
            members = tar.getmembers()
            _check_complete(tar, archive)
        # Not a tar, or truncated or corrupted: tarfile's own errors, or its decompressors' (gzip's
        # and bz2's are OSErrors; a missing archive, or one not ours to read, failed at open()).
        except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError) as error:
            raise DataError(f"extract_tar: {archive} is not a readable tar archive "
                            f"({type(error).__name__}: {error})") from None
        with tar:
            name_max = _name_max(target)
            destinations = [_member_path(m, archive, target, name_max) for m in members]
            _check_clashes(members, destinations, archive)
            _check_existing(members, destinations, target, archive)
            _check_size(members, destinations, target, archive)
            for member, destination in zip(members, destinations):
                if member.isdir():
                    destination.mkdir(parents=True, exist_ok=True)
                    continue
                destination.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as source, open(destination, "wb") as out:
                    shutil.copyfileobj(source, out)
                written.append(destination)
    return written
