"""IDX files (gzip and plain) and Fashion-MNIST: small hand-made files, and the real ones."""

import gzip
import os
import struct

import numpy as np
import pytest

from tinyalex.data import (FASHION_MNIST_CLASSES, DataError, find_fashion_mnist, load_fashion_mnist,
                           read_idx)
from tinyalex.data import fashion_mnist

REAL = "/usr/share/datasets/fashion-mnist"


def _idx(array, code):
    """IDX bytes built from the format's description: 0, 0, type, ndim, big-endian sizes, data."""
    big_endian = array.dtype.newbyteorder(">")
    return (bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
            + array.astype(big_endian).tobytes())


def _write(path, data, compress):
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


TYPES = [(0x08, np.uint8), (0x09, np.int8), (0x0B, np.int16), (0x0C, np.int32),
         (0x0D, np.float32), (0x0E, np.float64)]


@pytest.mark.parametrize("compress", [True, False], ids=["gzip", "plain"])
@pytest.mark.parametrize("code, dtype", TYPES, ids=[t.__name__ for _, t in TYPES])
def test_read_idx_every_type(tmp_path, rng, code, dtype, compress):
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    values = (rng.integers(info.min, info.max, (3, 4, 5), endpoint=True) if info
              else rng.standard_normal((3, 4, 5)) * 1e3)
    array = values.astype(dtype)
    got = read_idx(_write(tmp_path / "x.idx", _idx(array, code), compress))
    assert got.dtype == dtype and got.dtype.isnative and got.shape == (3, 4, 5)
    np.testing.assert_array_equal(got, array)


def test_gzip_is_recognised_by_content_not_name(tmp_path):
    array = np.arange(6, dtype=np.uint8).reshape(2, 3)
    np.testing.assert_array_equal(read_idx(_write(tmp_path / "no-suffix", _idx(array, 8), True)), array)
    np.testing.assert_array_equal(read_idx(_write(tmp_path / "plain.gz", _idx(array, 8), False)), array)


def test_bad_magic_and_type(tmp_path):
    good = _idx(np.zeros(4, np.uint8), 8)
    with pytest.raises(DataError, match=r"x\.idx is not an IDX file.*got 01 00 08 01"):
        read_idx(_write(tmp_path / "x.idx", b"\x01" + good[1:], False))
    with pytest.raises(DataError, match="got 00 00 0a 01"):
        read_idx(_write(tmp_path / "x.idx", good[:2] + b"\x0a" + good[3:], False))
    with pytest.raises(DataError, match="got nothing"):
        read_idx(_write(tmp_path / "x.idx", b"", False))


@pytest.mark.parametrize("compress", [True, False], ids=["gzip", "plain"])
def test_truncated_or_too_long(tmp_path, compress):
    data = _idx(np.zeros((2, 3), np.int32), 0x0C)  # 4 + 8 + 24 = 36 bytes
    with pytest.raises(DataError, match=r"x\.idx is truncated: shape \(2, 3\) of int32 needs 36 bytes .* has 35"):
        read_idx(_write(tmp_path / "x.idx", data[:-1], compress))
    with pytest.raises(DataError, match="longer than its header says.*needs 36 bytes .* has 37"):
        read_idx(_write(tmp_path / "x.idx", data + b"\0", compress))
    with pytest.raises(DataError, match="its header needs 12 bytes for 2 dimensions, the file has 10"):
        read_idx(_write(tmp_path / "x.idx", data[:10], compress))


@pytest.mark.parametrize("size", [65536, 2**32 - 1])
def test_huge_sizes_do_not_overflow(tmp_path, size):
    """Four sizes of 65536 multiply to 2**64, which wraps to 0 in int64: the size check must
    still say the file is truncated, with the true byte count."""
    header = bytes([0, 0, 8, 4]) + struct.pack(">4I", *[size] * 4)
    with pytest.raises(DataError) as error:
        read_idx(_write(tmp_path / "x.idx", header, False))
    assert str(error.value).endswith(f"x.idx is truncated: shape {(size,) * 4} of uint8 needs "
                                     f"{20 + size**4:,} bytes with the header, the file has 20")


def test_truncated_gzip(tmp_path):
    packed = gzip.compress(_idx(np.arange(1000, dtype=np.uint8), 8))
    (tmp_path / "x.gz").write_bytes(packed[: len(packed) // 2])
    with pytest.raises(DataError, match=r"x\.gz is a truncated or corrupt gzip file"):
        read_idx(tmp_path / "x.gz")


# --------------------------------------------------------------------------------------------
# Fashion-MNIST


def _fake_fashion(folder, rng, n_train=5, n_test=3, compress=(True, False, True, False)):
    """The four files with random images and labels; returns what they hold."""
    folder.mkdir(parents=True)
    arrays = [rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              rng.integers(0, 10, n_train).astype(np.uint8),
              rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              rng.integers(0, 10, n_test).astype(np.uint8)]
    for name, array, packed in zip(fashion_mnist.FILES, arrays, compress):
        _write(folder / (name + ".gz" if packed else name), _idx(array, 8), packed)
    return arrays


def test_load_small_files_every_value(tmp_path, rng):
    arrays = _fake_fashion(tmp_path / "fm", rng)
    loaded = load_fashion_mnist(tmp_path / "fm")
    for got, expected, n in zip(loaded, arrays, [5, 5, 3, 3]):
        if expected.ndim == 3:
            assert got.shape == (n, 1, 28, 28) and got.dtype == np.uint8
            np.testing.assert_array_equal(got[:, 0], expected)
        else:
            assert got.shape == (n,) and got.dtype == np.int64
            np.testing.assert_array_equal(got, expected)


def test_search_prefers_data_folder_then_system(tmp_path, rng, monkeypatch):
    monkeypatch.chdir(tmp_path)
    system = tmp_path / "system"
    monkeypatch.setattr(fashion_mnist, "SEARCH_PATH", (fashion_mnist.SEARCH_PATH[0], system))
    _fake_fashion(system, rng, n_train=2)
    assert find_fashion_mnist()["t10k-images-idx3-ubyte"] == system / "t10k-images-idx3-ubyte.gz"
    local = _fake_fashion(tmp_path / "data" / "fashion-mnist", rng, n_train=4)
    np.testing.assert_array_equal(load_fashion_mnist()[1], local[1])


def test_not_found_lists_where_it_looked(tmp_path, rng, monkeypatch):
    partial = tmp_path / "partial"
    _fake_fashion(partial, rng)
    (partial / "t10k-labels-idx1-ubyte").unlink()
    monkeypatch.setattr(fashion_mnist, "SEARCH_PATH", (tmp_path / "absent", partial))
    with pytest.raises(FileNotFoundError) as error:
        load_fashion_mnist()
    message = str(error.value)
    assert f"{tmp_path / 'absent'}: no such folder" in message
    assert f"{partial}: no t10k-labels-idx1-ubyte (.gz or plain)" in message
    assert "apt-get install dataset-fashion-mnist" in message
    with pytest.raises(FileNotFoundError, match=f"Looked in\n    {tmp_path / 'absent'}: no such folder\nInstall"):
        load_fashion_mnist(tmp_path / "absent")  # a given root is the only place looked in


def test_an_incomplete_folder_is_reported_not_passed_over(tmp_path, rng, monkeypatch):
    local, system = tmp_path / "local", tmp_path / "system"
    _fake_fashion(local, rng)
    _fake_fashion(system, rng)
    (local / "train-images-idx3-ubyte.gz").unlink()
    monkeypatch.setattr(fashion_mnist, "SEARCH_PATH", (local, system))
    with pytest.raises(FileNotFoundError, match=r"local: no train-images-idx3-ubyte \(\.gz or "
                                                r"plain\) \(it has the others, so the search stopped"):
        find_fashion_mnist()
    for path in local.iterdir():
        path.unlink()
    assert find_fashion_mnist()["train-images-idx3-ubyte"] == system / "train-images-idx3-ubyte.gz"


def test_wrong_contents(tmp_path, rng):
    _fake_fashion(tmp_path / "a", rng)
    _write(tmp_path / "a" / "train-images-idx3-ubyte.gz", _idx(np.zeros((5, 28, 27), np.uint8), 8), True)
    with pytest.raises(DataError, match=r"must hold uint8 \(N, 28, 28\) images, got uint8 \(5, 28, 27\)"):
        load_fashion_mnist(tmp_path / "a")
    _fake_fashion(tmp_path / "b", rng)
    _write(tmp_path / "b" / "t10k-labels-idx1-ubyte", _idx(np.zeros(4, np.uint8), 8), False)
    with pytest.raises(DataError, match=r"labels of shape \(3,\) \(one per image\), got uint8 \(4,\)"):
        load_fashion_mnist(tmp_path / "b")
    _fake_fashion(tmp_path / "c", rng)
    _write(tmp_path / "c" / "t10k-labels-idx1-ubyte", _idx(np.array([0, 10, 1], np.uint8), 8), False)
    with pytest.raises(DataError, match=r"has label 10, expected 0\.\.9"):
        load_fashion_mnist(tmp_path / "c")


@pytest.mark.fashion_mnist
def test_real_fashion_mnist(tmp_path, monkeypatch):
    """The real files of Debian's dataset-fashion-mnist (installed by .ci/run), found by the
    default search, against a parse written here from the format's description."""
    if not os.path.isdir(REAL) and os.environ.get("TINYALEX_REQUIRE_DATA") != "1":
        pytest.skip(f"the Debian package is not installed ({REAL}); a copy in data/ is not it")
    monkeypatch.chdir(tmp_path)  # no data/fashion-mnist here: the search must reach REAL
    train_images, train_labels, test_images, test_labels = load_fashion_mnist()
    assert train_images.shape == (60_000, 1, 28, 28) and test_images.shape == (10_000, 1, 28, 28)
    assert train_images.dtype == test_images.dtype == np.uint8
    assert train_labels.dtype == test_labels.dtype == np.int64
    # Fashion-MNIST is balanced: 6,000 training and 1,000 test images per class.
    assert np.bincount(train_labels).tolist() == [6000] * 10
    assert np.bincount(test_labels).tolist() == [1000] * 10
    with gzip.open(f"{REAL}/t10k-images-idx3-ubyte.gz") as f:
        raw = f.read()
    assert struct.unpack(">IIII", raw[:16]) == (0x0803, 10_000, 28, 28)
    np.testing.assert_array_equal(test_images[:, 0], np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28))
    with gzip.open(f"{REAL}/train-labels-idx1-ubyte.gz") as f:
        np.testing.assert_array_equal(train_labels, np.frombuffer(f.read(), np.uint8, offset=8))
    assert len(FASHION_MNIST_CLASSES) == 10 and FASHION_MNIST_CLASSES[9] == "Ankle boot"
