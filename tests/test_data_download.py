"""Checksummed atomic downloads and safe tar extraction, offline (``file://`` URLs)."""

import bz2
import gzip
import hashlib
import http.client
import io
import os
import random
import tarfile
import time

import pytest

from tinyalex.data import (ChecksumError, DataError, UnsafeArchiveError, download_file, extract_tar,
                           verify_file)
from tinyalex.data import download as download_module

PAYLOAD = bytes(range(256)) * 5000  # 1.28 MB: more than one 1 MiB chunk


@pytest.fixture
def served(tmp_path):
    """A file on a local 'server' and its published size and digests."""
    source = tmp_path / "server" / "payload.bin"
    source.parent.mkdir()
    source.write_bytes(PAYLOAD)
    return source.as_uri(), dict(size=len(PAYLOAD), md5=hashlib.md5(PAYLOAD).hexdigest(),
                                 sha256=hashlib.sha256(PAYLOAD).hexdigest())


def test_download_verifies_and_renames(tmp_path, served):
    url, published = served
    target = tmp_path / "data" / "payload.bin"
    assert download_file(url, target, progress=False, **published) == target
    assert target.read_bytes() == PAYLOAD
    assert [p.name for p in target.parent.iterdir()] == ["payload.bin"]  # no temporary left
    verify_file(target, **published)


def test_downloads_get_the_usual_permissions(tmp_path, served):
    """A downloaded dataset is as readable as any file the process writes (0666 less the umask)."""
    url, published = served
    mask = os.umask(0o027)
    try:
        target = download_file(url, tmp_path / "payload.bin", progress=False, **published)
    finally:
        os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("wrong", ["size", "md5", "sha256"])
def test_wrong_checksum_leaves_nothing(tmp_path, served, wrong):
    url, published = served
    published[wrong] = published[wrong] + 1 if wrong == "size" else "0" * len(published[wrong])
    target = tmp_path / "data" / "payload.bin"
    got = "the server announces" if wrong == "size" else "got"  # file:// sends a Content-Length
    with pytest.raises(ChecksumError, match=f"{wrong}: expected {published[wrong]}, {got}"):
        download_file(url, target, progress=False, **published)
    assert list(target.parent.iterdir()) == []


def test_unreachable_url_leaves_nothing(tmp_path):
    target = tmp_path / "data" / "payload.bin"
    with pytest.raises(OSError):
        download_file((tmp_path / "nowhere.bin").as_uri(), target, progress=False)
    assert list(target.parent.iterdir()) == []


def test_interrupted_download_keeps_the_old_file(tmp_path, served, monkeypatch):
    url, published = served
    target = tmp_path / "data" / "payload.bin"
    target.parent.mkdir()
    target.write_bytes(b"old")

    def interrupt(self, chunk):
        raise KeyboardInterrupt

    monkeypatch.setattr(download_module._Digests, "update", interrupt)
    with pytest.raises(KeyboardInterrupt):
        download_file(url, target, progress=False, **published)
    assert target.read_bytes() == b"old"
    assert [p.name for p in target.parent.iterdir()] == ["payload.bin"]


class _Response:
    """An HTTP response sending ``chunks`` under the header ``Content-Length: length``, then
    ``end`` (an exception raised, or b"" for a connection simply closed)."""

    def __init__(self, length, chunks, end=b""):
        self.headers = {"Content-Length": length}
        self.chunks, self.end, self.reads = list(chunks), end, 0

    def read(self, size):
        self.reads += 1
        if self.chunks:
            return self.chunks.pop(0)
        if isinstance(self.end, Exception):
            raise self.end
        return self.end

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_a_download_that_breaks_off_is_an_os_error_and_leaves_nothing(tmp_path, monkeypatch):
    """http.client's IncompleteRead is not an OSError: callers that catch network failures
    (load_cifar10's advice on what to download) would miss it."""
    response = _Response("12 bytes", [b"partial"], http.client.IncompleteRead(b"", 5))  # nonsense length
    monkeypatch.setattr(download_module.urllib.request, "urlopen", lambda url, timeout: response)
    target = tmp_path / "data" / "payload.bin"
    with pytest.raises(OSError, match=r"download_file: the download of http://example/x broke off "
                                      r"\(IncompleteRead"):
        download_file("http://example/x", target, progress=False)
    assert list(target.parent.iterdir()) == []


def test_a_connection_closed_early_is_caught_without_a_size(tmp_path, monkeypatch):
    """A server that closes the connection early ends the body without an error: the bytes
    received are checked against its Content-Length even where the caller gives no size."""
    response = _Response("1000000", [b"x" * 1000])
    monkeypatch.setattr(download_module.urllib.request, "urlopen", lambda url, timeout: response)
    target = tmp_path / "data" / "payload.bin"
    with pytest.raises(OSError, match="broke off after 1000 of the 1000000 bytes the server announced"):
        download_file("http://example/x", target, progress=False)
    assert list(target.parent.iterdir()) == []


def test_the_wrong_size_stops_the_download_early(tmp_path, monkeypatch):
    """A server announcing another size than the published one is not read at all; one sending
    more than the published size is stopped at the first chunk past it."""
    announced = _Response("5000", [b"x" * 1000] * 5)
    monkeypatch.setattr(download_module.urllib.request, "urlopen", lambda url, timeout: announced)
    with pytest.raises(ChecksumError, match="size: expected 1000, the server announces 5000"):
        download_file("http://example/x", tmp_path / "a.bin", size=1000, progress=False)
    assert announced.reads == 0
    unannounced = _Response("", [b"x" * 1000] * 50)
    monkeypatch.setattr(download_module.urllib.request, "urlopen", lambda url, timeout: unannounced)
    with pytest.raises(ChecksumError, match="size: expected 1000, got 2000"):
        download_file("http://example/x", tmp_path / "b.bin", size=1000, progress=False)
    assert unannounced.reads == 2
    assert list(tmp_path.iterdir()) == []


def test_bad_files_raise_data_error():
    """A DataError is a ValueError (old callers still catch it) of its own, so the command line
    can tell a corrupt or unsafe file (a failed run) from bad arguments."""
    assert issubclass(ChecksumError, DataError) and issubclass(UnsafeArchiveError, DataError)
    assert issubclass(DataError, ValueError)


def test_verify_names_the_file(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"abc")
    verify_file(path, size=3, md5=hashlib.md5(b"abc").hexdigest().upper())  # hex digests in any case
    with pytest.raises(ChecksumError, match=r"x\.bin .*size: expected 4, got 3"):
        verify_file(path, size=4)


# --------------------------------------------------------------------------------------------
# extract_tar


def _tar(path, members):
    """Write a .tar.gz of ``(TarInfo, bytes or None)`` pairs."""
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _info(name, kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def test_extracts_files_and_folders(tmp_path):
    archive = _tar(tmp_path / "a.tar.gz", [(_info("top", tarfile.DIRTYPE), None),
                                          (_info("top/a.bin"), b"alpha"),
                                          (_info("top/sub/b.bin"), b"beta")])
    written = extract_tar(archive, tmp_path / "out")
    out = (tmp_path / "out").resolve()
    assert written == [out / "top" / "a.bin", out / "top" / "sub" / "b.bin"]
    assert (out / "top/a.bin").read_bytes() == b"alpha" and (out / "top/sub/b.bin").read_bytes() == b"beta"


UNSAFE = [
    (_info("../evil"), "contains '..'"),
    (_info("top/../../evil"), "contains '..'"),
    (_info("/tmp/evil"), "absolute path"),
    (_info("C:/evil"), "absolute path"),
    (_info("top/link", tarfile.SYMTYPE, "/etc/passwd"), "symbolic link"),
    (_info("top/hard", tarfile.LNKTYPE, "top/a.bin"), "hard link"),
    (_info("top/fifo", tarfile.FIFOTYPE), "special file"),
    (_info("top/tty", tarfile.CHRTYPE), "special file"),
    (_info("."), "is a file named like the target folder itself"),
    (_info(""), "is a file named like the target folder itself"),
]


@pytest.mark.parametrize("member, problem", UNSAFE,
                         ids=[m.name or "(empty)" for m, _ in UNSAFE])
def test_refuses_unsafe_members_before_writing_anything(tmp_path, member, problem):
    data = b"evil" if member.isfile() else None
    archive = _tar(tmp_path / "a.tar.gz", [(_info("top/a.bin"), b"alpha"), (member, data)])
    target = tmp_path / "deep" / "out"
    with pytest.raises(UnsafeArchiveError, match=f"member {member.name!r} .*{problem}"):
        extract_tar(archive, target)
    assert list(target.iterdir()) == []  # not even the safe member that came first
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.tar.gz", "deep", "out"]


CLASHES = {  # two members, and what the error says of the second
    "same name": (["top/a.bin", "top/a.bin"], "'top/a.bin' appears twice"),
    "same path": (["top/a.bin", "./top//a.bin"], "'./top//a.bin' has the same path as member 'top/a.bin'"),
    "file then folder": (["top/a", "top/a/"], "'top/a' appears twice"),
    "file then inside": (["top/a", "top/a/b"], "'top/a/b' is inside member 'top/a', which is a file"),
    "inside then file": (["top/a/b/c", "top/a"], "'top/a/b/c' is inside member 'top/a', which is a file"),
}


@pytest.mark.parametrize("names, problem", CLASHES.values(), ids=CLASHES.keys())
def test_refuses_clashing_members_before_writing_anything(tmp_path, names, problem):
    """A folder is named with a trailing "/"; the later member would overwrite the earlier, or
    fail with FileExistsError after it was written."""
    members = [(_info(n, tarfile.DIRTYPE), None) if n.endswith("/") else (_info(n), b"x") for n in names]
    archive = _tar(tmp_path / "a.tar.gz", members)
    target = tmp_path / "out"
    with pytest.raises(UnsafeArchiveError, match=f"a.tar.gz: member {problem}; each file must have a path"):
        extract_tar(archive, target)
    assert list(target.iterdir()) == []


EXISTING = {  # what the target holds, the members, and what the error says
    "folder member on a file": ("top", ["top/"], "'top' needs a folder where .* has the file top"),
    "member inside a file": ("top", ["top/a.bin"], "'top/a.bin' needs a folder where .* has the file top"),
    "file member on a folder": ("top/a.bin/", ["top/a.bin"], "'top/a.bin' would replace a folder"),
}


@pytest.mark.parametrize("existing, names, problem", EXISTING.values(), ids=EXISTING.keys())
def test_refuses_members_that_clash_with_the_target_before_writing_anything(tmp_path, existing,
                                                                            names, problem):
    target = tmp_path / "out"
    (target / existing).parent.mkdir(parents=True, exist_ok=True)
    if existing.endswith("/"):
        (target / existing).mkdir()
    else:
        (target / existing).write_bytes(b"mine")
    before = sorted(p.relative_to(target) for p in target.rglob("*"))
    members = [(_info("first.bin"), b"x")]
    members += [(_info(n, tarfile.DIRTYPE), None) if n.endswith("/") else (_info(n), b"x") for n in names]
    with pytest.raises(UnsafeArchiveError, match=f"member {problem}; move it out of the way"):
        extract_tar(_tar(tmp_path / "a.tar.gz", members), target)
    assert sorted(p.relative_to(target) for p in target.rglob("*")) == before


def test_files_already_in_the_target_are_overwritten(tmp_path):
    target = tmp_path / "out"
    (target / "top").mkdir(parents=True)
    (target / "top" / "a.bin").write_bytes(b"old")
    (target / "mine.txt").write_bytes(b"kept")
    extract_tar(_tar(tmp_path / "a.tar.gz", [(_info("top", tarfile.DIRTYPE), None),
                                                    (_info("top/a.bin"), b"new")]),
                target)
    assert (target / "top" / "a.bin").read_bytes() == b"new"
    assert (target / "mine.txt").read_bytes() == b"kept"


def test_a_folder_may_be_listed_twice(tmp_path):
    archive = _tar(tmp_path / "a.tar.gz", [(_info("top", tarfile.DIRTYPE), None),
                                          (_info("top/a.bin"), b"alpha"),
                                          (_info("top/", tarfile.DIRTYPE), None)])
    assert extract_tar(archive, tmp_path / "out") == [(tmp_path / "out" / "top" / "a.bin").resolve()]


@pytest.mark.parametrize("cut", ["truncated", "not a tar"])
def test_unreadable_archives_are_data_errors(tmp_path, cut):
    archive = _tar(tmp_path / "a.tar.gz", [(_info("top/a.bin"), bytes(range(256)) * 400)])
    content = archive.read_bytes()
    archive.write_bytes(content[: len(content) // 2] if cut == "truncated" else b"hello" * 100)
    with pytest.raises(DataError, match=r"extract_tar: .*a\.tar\.gz is not a readable tar archive"):
        extract_tar(archive, tmp_path / "out")


def _damaged(tmp_path, how):
    """A .tar.gz of four members, damaged ``how``; tarfile alone reads each without an error."""
    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w") as tar:
        for i in range(4):
            data = bytes([i]) * 3000
            info = _info(f"f{i}.bin")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw = plain.getvalue()
    if how == "cut after a member":  # its first member and no end-of-archive block
        raw = raw[: 512 + 3072]
    elif how == "a garbled header":
        raw = raw[: 512 + 3072] + b"x" * 512 + raw[512 + 3072 + 512:]
    packed = bytearray(gzip.compress(raw, mtime=0))
    if how == "a wrong CRC":
        packed[-6] ^= 0xFF  # the gzip trailer: CRC32, then the length
    path = tmp_path / "a.tar.gz"
    path.write_bytes(bytes(packed))
    return path


@pytest.mark.parametrize("how, problem", [
    ("cut after a member", "does not end with tar's end-of-archive block after its member 'f0.bin'"),
    ("a garbled header", "does not end with tar's end-of-archive block after its member 'f0.bin'"),
    ("a wrong CRC", r"is not a readable tar archive \(BadGzipFile: CRC check failed"),
])
def test_damage_that_tarfile_lets_through_is_a_data_error_before_writing(tmp_path, how, problem):
    """tarfile reads a tar cut at a member boundary as a shorter one, skips a garbled header
    after the first, and never reaches the gzip trailer: each would extract without a word."""
    archive = _damaged(tmp_path, how)
    with tarfile.open(archive) as tar:
        assert len(tar.getmembers()) == (4 if how == "a wrong CRC" else 1)  # tarfile: no error
    with pytest.raises(DataError, match=rf"extract_tar: .*a\.tar\.gz {problem}"):
        extract_tar(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []
    assert len(extract_tar(_damaged(tmp_path, "none"), tmp_path / "out")) == 4


def test_refuses_names_longer_than_the_file_system_allows(tmp_path):
    archive = _tar(tmp_path / "a.tar.gz", [(_info("top/a.bin"), b"alpha"), (_info("top/" + "x" * 300), b"x")])
    with pytest.raises(UnsafeArchiveError, match="member 'top/x{300}' has a name longer than the file system allows"):
        extract_tar(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_refuses_files_bigger_than_the_free_space(tmp_path, monkeypatch):
    """4 MB of zeros compress to a few kB: the sizes the members declare are what counts."""
    archive = _tar(tmp_path / "a.tar.gz", [(_info("a.bin"), b"alpha"), (_info("zeros.bin"), bytes(4 << 20))])
    assert archive.stat().st_size < 10_000

    class Usage:
        free = 1 << 20

    monkeypatch.setattr("tinyalex.data.archive.shutil.disk_usage", lambda path: Usage)
    with pytest.raises(OSError, match=f"holds {(4 << 20) + 5} bytes of files, and .*out has 1048576 bytes free"):
        extract_tar(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []
    (tmp_path / "out" / "zeros.bin").write_bytes(bytes(4 << 20))  # replaced: its space counts as free
    assert len(extract_tar(archive, tmp_path / "out")) == 2


def test_a_damaged_bz2_stream_is_a_data_error_and_a_missing_archive_not_found(tmp_path):
    """bz2 reports damage after its first 900 kB block as a plain OSError ("Invalid data
    stream"): the damage here is in the second block (random bytes hardly compress)."""
    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w") as tar:
        data = random.Random(0).randbytes(1 << 20)
        info = _info("a.bin")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    packed = bytearray(bz2.compress(plain.getvalue()))
    packed[-1000] ^= 0xFF
    archive = tmp_path / "a.tar.bz2"
    archive.write_bytes(bytes(packed))
    with pytest.raises(DataError, match=r"a\.tar\.bz2 is not a readable tar archive"):
        extract_tar(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []
    with pytest.raises(FileNotFoundError):
        extract_tar(tmp_path / "missing.tar.gz", tmp_path / "out")


def test_orphaned_temporary_files_are_removed_once_an_hour_old(tmp_path, served):
    """kill -9 leaves .payload.bin.<random>.part; the next download removes it, but not a
    recent one, which may belong to a download still running."""
    url, published = served
    target = tmp_path / "data" / "payload.bin"
    target.parent.mkdir()
    stale, live = target.parent / ".payload.bin.abc123.part", target.parent / ".payload.bin.def456.part"
    other = target.parent / ".other.bin.abc123.part"
    for orphan in (stale, live, other):
        orphan.write_bytes(b"partial")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    download_file(url, target, progress=False, **published)
    assert sorted(p.name for p in target.parent.iterdir()) == [other.name, live.name, "payload.bin"]
