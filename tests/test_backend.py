"""Devices, explicit transfers and the NumPy/CuPy switch."""

import subprocess
import sys

import numpy as np
import pytest

from tinyalex import backend
from tinyalex.backend import Device, TransferLog, device_of, place, to_device


def test_device_parsing_and_equality():
    assert Device("cpu") == Device("cpu:0") == Device(Device("cpu"))
    assert Device("cpu:1") != Device("cpu:0")
    assert Device("cuda:1").kind == "cuda" and Device("cuda:1").index == 1
    assert str(Device("cuda")) == "cuda:0"
    for bad in ["gpu", "cuda:-1", "cpu:x", "", "cuda:0:1"]:
        with pytest.raises(ValueError, match="Device: expected"):
            Device(bad)


def test_device_index_given_apart():
    assert Device("cuda", index=1) == Device("cuda:1") and Device("cpu", index=np.int64(2)) == Device("cpu:2")
    assert Device("cpu:1", index=1) == Device(Device("cpu:1"), index=1) == Device("cpu:1")
    for bad in [1.7, True, -1, "1"]:
        with pytest.raises(ValueError, match=f"Device: index must be an int >= 0, got {bad!r}"):
            Device("cpu", index=bad)
    with pytest.raises(ValueError, match=r"Device: index=3 contradicts the index 1 in 'cpu:1'"):
        Device("cpu:1", index=3)
    with pytest.raises(ValueError, match=r"Device: index=1 contradicts the index 0 in 'cuda:0'"):
        Device("cuda:0", index=1)
    with pytest.raises(ValueError, match=r"Device: index=2 contradicts the index 0 in Device\('cpu:0'\)"):
        Device(Device("cpu"), index=2)


def test_a_cuda_device_without_cupy_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy fails, as where it is not installed
    with pytest.raises(ModuleNotFoundError, match="a CUDA device needs CuPy, which does not "
                                                  "import here: pip install .* cupy-cuda12x"):
        Device("cuda:0").xp
    with pytest.raises(ModuleNotFoundError, match="a CUDA device needs CuPy"):
        to_device(np.ones(2), "cuda:0")
    assert backend.gpu_count() == 0 and not backend.cupy_available()


def test_numpy_arrays_use_numpy():
    assert backend.get_array_module(np.ones(2), np.zeros(3)) is np
    assert device_of(np.ones(2)) == Device("cpu")


def test_logical_cpu_devices_tag_arrays():
    x = place(np.arange(4.0), "cpu:1")
    assert device_of(x) == Device("cpu:1")
    assert device_of(x[1:] * 2) == Device("cpu:1")  # derived arrays keep the producer's tag
    assert device_of(np.asarray(x)) == Device("cpu")  # unwrapped: a plain array again


def test_to_device_copies_and_logs():
    log = TransferLog()
    x = place(np.arange(6.0).reshape(2, 3), "cpu:0")
    y = to_device(x, "cpu:1", log=log, label="conv3", phase="forward")
    assert device_of(y) == Device("cpu:1") and np.array_equal(np.asarray(y), np.asarray(x))
    y[0, 0] = 100.0
    assert x[0, 0] == 0.0  # a transfer is a copy
    to_device(y, "cpu:1", log=log)  # same device: copied, not logged (nothing crosses a link)
    assert len(log) == 1 and log.total_bytes == 48
    record = log.records[0]
    assert (record.source, record.target, record.label, record.phase) == (Device("cpu:0"), Device("cpu:1"), "conv3", "forward")
    assert "conv3" in repr(log) and "48" in repr(log)


def test_to_device_takes_array_likes_with_or_without_a_log():
    """A list is copied as ``numpy.asarray`` would convert it, and logged with that size."""
    log = TransferLog()
    for y in (to_device([1.0, 2.0], "cpu:1"), to_device([1.0, 2.0], "cpu:1", log=log)):
        assert device_of(y) == Device("cpu:1") and np.asarray(y).tolist() == [1.0, 2.0]
    assert len(log) == 1 and log.total_bytes == 16 and log.records[0].source == Device("cpu:0")


def test_import_does_not_need_cupy():
    code = "import sys; sys.modules['cupy'] = None; import tinyalex, tinyalex.functional; print('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr


def test_cuda_device_without_cupy_fails_clearly(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(ImportError):
        to_device(np.ones(2), "cuda:0")
    assert backend.cupy_available() is False and backend.gpu_count() == 0


@pytest.mark.skipif(not backend.cupy_available(), reason="CuPy with a CUDA GPU is not available")
def test_to_gpu_and_back():
    import cupy

    x = np.arange(5.0)
    g = to_device(x, "cuda:0")
    assert isinstance(g, cupy.ndarray) and device_of(g) == Device("cuda:0")
    assert backend.get_array_module(g) is cupy
    back = to_device(g, "cpu")
    assert isinstance(back, np.ndarray) and np.array_equal(np.asarray(back), x)


def test_on_device_is_a_no_op_for_cpu():
    with backend.on_device("cpu:1"):
        assert device_of(np.ones(1)) == Device("cpu")


@pytest.mark.skipif(not backend.cupy_available(), reason="CuPy with a CUDA GPU is not available")
def test_on_device_makes_a_gpu_current():
    import cupy

    with backend.on_device("cuda:0"):
        assert cupy.cuda.Device().id == 0 and device_of(cupy.ones(1)) == Device("cuda:0")


@pytest.mark.skipif(backend.gpu_count() < 2, reason="needs two CUDA GPUs")
def test_a_copy_between_gpus_is_ordered_with_both():
    """The copy waits for the product that makes its source (still running when it is queued),
    and a transposed source arrives as its values, in a contiguous array."""
    import cupy

    log = TransferLog()
    with backend.on_device("cuda:0"):
        a = cupy.random.default_rng(0).standard_normal((4096, 4096), dtype=cupy.float32)
        product = a @ a
    for source in (product, product.T):
        copy = to_device(source, "cuda:1", log=log)
        assert device_of(copy) == Device("cuda:1") and copy.flags.c_contiguous
        np.testing.assert_array_equal(copy.get(), source.get())
    assert log.total_bytes == 2 * product.nbytes
    with backend.on_device("cuda:0"):
        scalar = cupy.asarray(2.0)
    assert to_device(scalar, "cuda:1").shape == ()
