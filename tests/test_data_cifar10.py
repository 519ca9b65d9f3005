"""CIFAR-10 binary batches, and load_cifar10 end to end: download -> checksum -> extract -> parse.

The real archive cannot be downloaded here, so the tests lay out a small one exactly like the
official ``cifar-10-binary.tar.gz`` (a few records per batch), serve it from a ``file://`` URL
and point the module's URL, size and checksums at it.
"""

import hashlib
import tarfile

import numpy as np
import pytest

from tinyalex.data import (CIFAR10_CLASSES, ChecksumError, DataError, UnsafeArchiveError,
                           load_cifar10, read_cifar10_batch)
from tinyalex.data import cifar10

RECORDS = 3  # per batch in the small archives
BATCHES = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]


def _write_batch(path, images, labels):
    """The official record layout, written byte by byte: label, then R, G, B planes row-major."""
    with open(path, "wb") as f:
        for image, label in zip(images, labels):
            f.write(bytes([label]))
            for channel in range(3):
                for row in range(32):
                    f.write(bytes(int(v) for v in image[channel, row]))


def _random_batch(rng, records=RECORDS):
    return rng.integers(0, 256, (records, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, records)


def test_record_layout_by_hand(tmp_path):
    record = bytes([7]) + bytes(i % 256 for i in range(1024)) + bytes([1]) * 1024 + bytes([2]) * 1024
    (tmp_path / "b.bin").write_bytes(record * 2)
    images, labels = read_cifar10_batch(tmp_path / "b.bin", records=2)
    assert images.shape == (2, 3, 32, 32) and images.dtype == np.uint8
    assert labels.tolist() == [7, 7] and labels.dtype == np.int64
    y, x = np.mgrid[:32, :32]
    np.testing.assert_array_equal(images[1, 0], (y * 32 + x) % 256)  # red: row-major
    assert (images[:, 1] == 1).all() and (images[:, 2] == 2).all()


def test_read_batch_every_value(tmp_path, rng):
    images, labels = _random_batch(rng, 5)
    _write_batch(tmp_path / "b.bin", images, labels)
    got_images, got_labels = read_cifar10_batch(tmp_path / "b.bin", records=5)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


def test_full_size_batch_by_default(tmp_path):
    """Without ``records`` a batch is the official 10,000 images."""
    raw = np.zeros((10_000, 3073), dtype=np.uint8)
    raw[:, 0] = np.arange(10_000) % 10
    raw[:, 1:] = (np.arange(10_000) % 251)[:, None]
    raw.tofile(tmp_path / "data_batch_1.bin")
    images, labels = read_cifar10_batch(tmp_path / "data_batch_1.bin")
    assert images.shape == (10_000, 3, 32, 32)
    np.testing.assert_array_equal(labels, np.arange(10_000) % 10)
    np.testing.assert_array_equal(images[:, 2, 31, 31], np.arange(10_000) % 251)


@pytest.mark.parametrize("size, actual", [(3073 * 2 - 100, "6,046"), (3073 * 2 + 1, "6,147")])
def test_wrong_size_names_file_and_sizes(tmp_path, size, actual):
    (tmp_path / "data_batch_4.bin").write_bytes(bytes(size))
    with pytest.raises(DataError, match=rf"data_batch_4\.bin has {actual} bytes, expected 6,146"):
        read_cifar10_batch(tmp_path / "data_batch_4.bin", records=2)


def test_label_out_of_range(tmp_path):
    (tmp_path / "b.bin").write_bytes(bytes(3073) + bytes([10]) + bytes(3072))
    with pytest.raises(DataError, match=r"b\.bin: record 1 has label 10, expected 0\.\.9"):
        read_cifar10_batch(tmp_path / "b.bin", records=2)


def test_class_names():
    assert len(CIFAR10_CLASSES) == 10 and CIFAR10_CLASSES[0] == "airplane" and CIFAR10_CLASSES[9] == "truck"


# --------------------------------------------------------------------------------------------
# load_cifar10 end to end


def _official_archive(path, batches, extra=()):
    """A .tar.gz laid out like the official one: cifar-10-batches-bin/ with the six batches,
    batches.meta.txt and readme.html, plus ``extra`` (name, bytes) members."""
    source = path.parent / "layout" / cifar10.FOLDER
    source.mkdir(parents=True)
    for name, (images, labels) in batches.items():
        _write_batch(source / name, images, labels)
    (source / "batches.meta.txt").write_text("\n".join(CIFAR10_CLASSES) + "\n")
    (source / "readme.html").write_text("<html></html>")
    with tarfile.open(path, "w:gz") as tar:
        tar.add(source, arcname=cifar10.FOLDER)
        for i, (name, data) in enumerate(extra):
            (path.parent / "layout" / f"extra{i}").write_bytes(data)
            tar.add(path.parent / "layout" / f"extra{i}", arcname=name)
    return path


@pytest.fixture
def serve(tmp_path, monkeypatch):
    """``serve(batches, extra=())`` builds an official-looking archive, serves it from a
    ``file://`` URL and publishes its size and checksums in ``cifar10``."""
    monkeypatch.setattr(cifar10, "BATCH_RECORDS", RECORDS)

    def serve(batches, extra=()):
        archive = _official_archive(tmp_path / "server" / cifar10.ARCHIVE, batches, extra)
        data = archive.read_bytes()
        monkeypatch.setattr(cifar10, "URL", archive.as_uri())
        monkeypatch.setattr(cifar10, "SIZE", len(data))
        monkeypatch.setattr(cifar10, "MD5", hashlib.md5(data).hexdigest())
        monkeypatch.setattr(cifar10, "SHA256", hashlib.sha256(data).hexdigest())
        return archive

    (tmp_path / "server").mkdir()
    return serve


@pytest.fixture
def batches(rng):
    return {name: _random_batch(rng) for name in BATCHES}


def _listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_downloads_checks_extracts_and_parses(tmp_path, serve, batches):
    serve(batches)
    root = tmp_path / "data"
    train_images, train_labels, test_images, test_labels = load_cifar10(root)
    assert train_images.shape == (5 * RECORDS, 3, 32, 32) and test_images.shape == (RECORDS, 3, 32, 32)
    assert train_images.dtype == test_images.dtype == np.uint8
    assert train_labels.dtype == test_labels.dtype == np.int64
    np.testing.assert_array_equal(train_images, np.concatenate([batches[n][0] for n in BATCHES[:5]]))
    np.testing.assert_array_equal(train_labels, np.concatenate([batches[n][1] for n in BATCHES[:5]]))
    np.testing.assert_array_equal(test_images, batches["test_batch.bin"][0])
    np.testing.assert_array_equal(test_labels, batches["test_batch.bin"][1])
    assert _listing(root) == sorted([cifar10.ARCHIVE, cifar10.FOLDER]
                                    + [f"{cifar10.FOLDER}/{n}" for n in BATCHES]
                                    + [f"{cifar10.FOLDER}/batches.meta.txt", f"{cifar10.FOLDER}/readme.html"])

    # The extracted folder is enough from now on: no archive, no network.
    (root / cifar10.ARCHIVE).unlink()
    again = load_cifar10(root, download=False)
    np.testing.assert_array_equal(again[0], train_images)


def test_archive_already_in_root_is_checked_and_used(tmp_path, serve, batches):
    archive = serve(batches)
    root = tmp_path / "data"
    root.mkdir()
    (root / cifar10.ARCHIVE).write_bytes(archive.read_bytes())
    archive.unlink()  # nothing to download from
    test_labels = load_cifar10(root, download=False)[3]
    np.testing.assert_array_equal(test_labels, batches["test_batch.bin"][1])


def test_corrupt_download_is_deleted_with_a_clear_error(tmp_path, serve, batches, monkeypatch):
    serve(batches)
    monkeypatch.setattr(cifar10, "MD5", "0" * 32)  # the served bytes no longer match
    root = tmp_path / "data"
    with pytest.raises(ChecksumError) as error:
        load_cifar10(root)
    message = str(error.value)
    assert "load_cifar10" in message and f"md5: expected {'0' * 32}, got" in message
    assert cifar10.URL in message and str((root / cifar10.ARCHIVE).resolve()) in message
    assert _listing(root) == []


def test_corrupt_archive_in_root_is_reported(tmp_path, serve, batches):
    serve(batches)
    root = tmp_path / "data"
    root.mkdir()
    (root / cifar10.ARCHIVE).write_bytes(b"not gzip")
    with pytest.raises(ChecksumError, match=f"size: expected {cifar10.SIZE}, got 8") as error:
        load_cifar10(root)
    assert f"Delete {root / cifar10.ARCHIVE}" in str(error.value)
    assert _listing(root) == [cifar10.ARCHIVE]  # the user's file is theirs to delete


def test_offline_says_what_to_download_and_where(tmp_path, monkeypatch):
    monkeypatch.setattr(cifar10, "URL", (tmp_path / "offline" / cifar10.ARCHIVE).as_uri())
    root = tmp_path / "data"
    with pytest.raises(FileNotFoundError) as error:
        load_cifar10(root)
    message = str(error.value)
    for needed in ["could not download", cifar10.URL, cifar10.MD5, cifar10.SHA256, f"{cifar10.SIZE:,} bytes",
                   str((root / cifar10.ARCHIVE).resolve()), str((root / cifar10.FOLDER).resolve())]:
        assert needed in message
    assert _listing(root) == []


def test_download_false_without_data(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=False"):
        load_cifar10(tmp_path, download=False)


def test_python_version_is_refused_with_advice(tmp_path):
    (tmp_path / "cifar-10-batches-py").mkdir()
    with pytest.raises(FileNotFoundError, match="python version.*never loads") as error:
        load_cifar10(tmp_path, download=False)
    assert "cifar-10-binary.tar.gz" in str(error.value)


def test_archive_with_path_traversal_is_refused(tmp_path, serve, batches):
    serve(batches, extra=[("../evil", b"gotcha")])
    root = tmp_path / "data"
    with pytest.raises(UnsafeArchiveError, match="'../evil' contains '..'"):
        load_cifar10(root)
    assert not (tmp_path / "evil").exists()
    assert _listing(root) == [cifar10.ARCHIVE]  # verified download kept; nothing extracted


def test_archive_without_a_batch_is_refused(tmp_path, serve, batches):
    del batches["test_batch.bin"]
    serve(batches)
    root = tmp_path / "data"
    with pytest.raises(DataError, match="has no cifar-10-batches-bin/test_batch.bin"):
        load_cifar10(root)
    assert _listing(root) == [cifar10.ARCHIVE]


def _extracted(root, batches, monkeypatch):
    """``root/cifar-10-batches-bin`` holding ``batches`` of RECORDS images, as if extracted."""
    monkeypatch.setattr(cifar10, "BATCH_RECORDS", RECORDS)
    folder = root / cifar10.FOLDER
    folder.mkdir()
    for name, batch in batches.items():
        _write_batch(folder / name, *batch)
    return folder


def test_incomplete_extracted_folder(tmp_path, batches, monkeypatch):
    del batches["data_batch_5.bin"], batches["test_batch.bin"]
    _extracted(tmp_path, batches, monkeypatch)
    with pytest.raises(FileNotFoundError, match="has no data_batch_5.bin, test_batch.bin"):
        load_cifar10(tmp_path)


def test_truncated_extracted_batch(tmp_path, batches, monkeypatch):
    folder = _extracted(tmp_path, batches, monkeypatch)
    with open(folder / "data_batch_2.bin", "r+b") as f:
        f.truncate(3073 * RECORDS - 1)
    with pytest.raises(DataError, match=r"data_batch_2\.bin has 9,218 bytes, expected 9,219"):
        load_cifar10(tmp_path)
