"""The array backend: NumPy on the CPU, CuPy on NVIDIA GPUs, and devices placed by hand.

Computation never names numpy or cupy: it asks the arrays which module they belong to,
``xp = get_array_module(x)`` (CuPy's own idiom), and calls ``xp``. CuPy is imported only when a
CuPy array or a ``cuda`` device is actually used, so tinyalex imports without it.

Devices (paper §3.2 trains on two GPUs with half of the kernels on each):

* ``Device("cuda:0")``, ``Device("cuda:1")``: real GPUs, arrays are ``cupy.ndarray``.
* ``Device("cpu")`` (the same as ``"cpu:0"``), ``Device("cpu:1")``, ...: *logical* CPU devices.
  They share the machine's memory, but an array placed on one is tagged with it, so a program
  that reads another device's array without an explicit transfer is caught on a laptop exactly
  as it would be on two GPUs. This is how the tests prove the two towers of AlexNet talk only
  where the paper's Figure 2 says they do.

``to_device(x, device)`` is the one explicit transfer. It copies (like a real transfer between
GPUs), and when given a ``TransferLog`` it records the bytes moved.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import numbers
import re

import numpy

__all__ = [
    "Device",
    "HostArray",
    "TransferLog",
    "Transfer",
    "as_device",
    "cupy_available",
    "device_of",
    "get_array_module",
    "gpu_count",
    "on_device",
    "place",
    "to_device",
    "to_numpy",
]


# --------------------------------------------------------------------------------------------
# NumPy or CuPy


def _cupy():
    """Import CuPy on first use (tinyalex itself never requires it)."""
    try:
        import cupy  # noqa: PLC0415  (lazy on purpose)
    except ImportError as error:
        raise ModuleNotFoundError(
            "a CUDA device needs CuPy, which does not import here: pip install the build for "
            f"your CUDA, e.g. cupy-cuda12x or cupy-cuda13x ({error})", name="cupy") from None
    return cupy


def _is_cupy_array(a) -> bool:
    return type(a).__module__.split(".")[0] == "cupy"


def gpu_count() -> int:
    """How many CUDA GPUs CuPy sees: 0 without CuPy, a driver or a GPU."""
    try:
        return int(_cupy().cuda.runtime.getDeviceCount())
    except Exception:  # ImportError, or CUDA present but no driver/GPU
        return 0


def cupy_available() -> bool:
    """True when CuPy imports and sees at least one GPU."""
    return gpu_count() > 0


def get_array_module(*arrays):
    """Return ``cupy`` if any argument is a CuPy array, else ``numpy`` (CuPy's own idiom)."""
    if any(_is_cupy_array(a) for a in arrays):
        return _cupy()
    return numpy


# --------------------------------------------------------------------------------------------
# Devices


_DEVICE_RE = re.compile(r"^(cpu|cuda)(?::(\d+))?$")


@dataclasses.dataclass(frozen=True)
class Device:
    """A place where arrays live: ``Device("cpu")``, ``Device("cpu:1")``, ``Device("cuda:0")``.

    ``kind`` is ``"cpu"`` or ``"cuda"``; ``index`` defaults to 0. Devices compare by value, so
    ``Device("cpu") == Device("cpu:0")``. The index can also be given apart, ``Device("cuda",
    index=1)``: an int >= 0 (not a bool), and not a second index that contradicts the one in
    ``spec`` (``Device("cpu:1", index=3)`` is refused).
    """

    kind: str
    index: int = 0

    def __init__(self, spec: str | "Device" = "cpu", index: int | None = None):
        if isinstance(spec, Device):
            kind, named = spec.kind, spec.index
        else:
            match = _DEVICE_RE.match(str(spec).strip())
            if match is None:
                raise ValueError(
                    f"Device: expected 'cpu', 'cpu:N' or 'cuda:N', got {spec!r}"
                )
            kind, named = match.group(1), match.group(2)
            named = None if named is None else int(named)  # None: spec names no index
        if index is not None:
            if not isinstance(index, numbers.Integral) or isinstance(index, bool) or index < 0:
                raise ValueError(f"Device: index must be an int >= 0, got {index!r}")
            if named is not None and named != index:
                raise ValueError(f"Device: index={index} contradicts the index {named} in {spec!r}")
            named = int(index)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "index", 0 if named is None else named)

    @property
    def xp(self):
        """The array module for this device: numpy for CPU devices, cupy for CUDA ones."""
        return _cupy() if self.kind == "cuda" else numpy

    def __str__(self) -> str:
        return f"{self.kind}:{self.index}"

    def __repr__(self) -> str:
        return f"Device('{self}')"


_CPU = Device("cpu")  # made once: every view of a tagged array and every untagged one asks


def as_device(device) -> Device:
    """Accept a ``Device`` or a string like ``"cuda:1"``."""
    return device if isinstance(device, Device) else Device(device)


def on_device(device):
    """``with on_device(d):`` makes a CUDA device current, so CuPy allocates and computes there.

    For CPU devices it does nothing. (A function rather than ``with d:``: a ``Device`` is an
    immutable value, and the context must remember which device was current before.)
    """
    device = as_device(device)
    if device.kind == "cuda":
        return _cupy().cuda.Device(device.index)
    return contextlib.nullcontext()


class HostArray(numpy.ndarray):
    """A NumPy array tagged with the logical CPU device it lives on (see the module docstring).

    It behaves exactly like ``numpy.ndarray``; only ``device_of`` reads the tag. Computation
    unwraps it (``numpy.asarray``) and the layer that produced a result tags it again with
    ``place``, so the tag marks *who produced* an array, which is what device checks need.
    """

    placement: Device  # not ``device``: NumPy 2 arrays already have a read-only ``.device``

    def __array_finalize__(self, obj):
        self.placement = getattr(obj, "placement", _CPU)


@functools.lru_cache(maxsize=None)
def _cuda_device(index: int) -> Device:
    return Device("cuda", index)  # made once: layers ask for their arrays' device on every call


def device_of(x) -> Device:
    """The device an array lives on: ``cuda:N`` for CuPy, the tag (or ``cpu:0``) for NumPy."""
    if _is_cupy_array(x):
        return _cuda_device(x.device.id)
    if isinstance(x, HostArray):
        return x.placement
    return _CPU


def place(x, device):
    """Declare that ``x``, already in ``device``'s memory, belongs to ``device`` (no copy).

    For CPU devices this tags a view of ``x``; for CUDA devices it checks that ``x`` really is
    on that GPU. Layers call it on their outputs.
    """
    device = as_device(device)
    if device.kind == "cuda":
        if device_of(x) != device:
            raise ValueError(f"place: array is on {device_of(x)}, not on {device}")
        return x
    if _is_cupy_array(x):
        raise ValueError(f"place: a CuPy array cannot be placed on {device}; use to_device")
    view = numpy.asarray(x).view(HostArray)
    view.placement = device
    return view


def to_numpy(x) -> numpy.ndarray:
    """A plain ``numpy.ndarray`` with the contents of ``x`` (copies from a GPU if needed)."""
    if _is_cupy_array(x):
        return x.get()
    return numpy.asarray(x)


# --------------------------------------------------------------------------------------------
# Transfers


@dataclasses.dataclass(frozen=True)
class Transfer:
    """One explicit copy between devices: what moved, where, and how many bytes."""

    source: Device
    target: Device
    nbytes: int
    label: str = ""
    phase: str = ""  # "forward" or "backward" when a model records it


class TransferLog:
    """A list of ``Transfer`` records, with totals; models append to it, notebooks print it."""

    def __init__(self):
        self.records: list[Transfer] = []

    def record(self, transfer: Transfer) -> None:
        self.records.append(transfer)

    def clear(self) -> None:
        self.records.clear()

    @property
    def total_bytes(self) -> int:
        return sum(r.nbytes for r in self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    def __repr__(self) -> str:
        lines = [f"{'phase':9} {'label':12} {'from':7} {'to':7} {'bytes':>12}"]
        for r in self.records:
            lines.append(
                f"{r.phase:9} {r.label:12} {str(r.source):7} {str(r.target):7} {r.nbytes:12,d}"
            )
        lines.append(f"{'total':9} {'':12} {'':7} {'':7} {self.total_bytes:12,d}")
        return "\n".join(lines)


def _between_gpus(x, source: Device, device: Device):
    """A copy of CuPy array ``x`` from GPU ``source`` on GPU ``device``, ordered with the work of
    both. CuPy queues the copy on the destination GPU's stream, and CUDA orders nothing across
    GPUs: without the two events the copy could read ``x`` before the source GPU has finished
    computing it, and the source GPU could reuse ``x``'s memory (freed to CuPy's pool) before the
    copy has read it."""
    cupy = _cupy()
    with on_device(source):
        if not x.flags.c_contiguous:  # (ascontiguousarray would make a 0-d array 1-d)
            x = cupy.ascontiguousarray(x)  # on the source GPU, before the event
        computed = cupy.cuda.Event()
        computed.record()
    with on_device(device):
        cupy.cuda.get_current_stream().wait_event(computed)
        out = cupy.copy(x)
        copied = cupy.cuda.Event()
        copied.record()
    with on_device(source):
        cupy.cuda.get_current_stream().wait_event(copied)
    return out


def to_device(x, device, log: TransferLog | None = None, label: str = "", phase: str = ""):
    """Copy ``x`` to ``device`` and return the copy; record it in ``log`` if one is given.

    ``x`` is an array on any device, or anything ``numpy.asarray`` takes (a list lives on
    ``cpu:0``, as a plain NumPy array does). Every call copies, also between two logical CPU
    devices, because that is what a transfer between GPUs costs; a copy onto the device the
    array already lives on is still a copy but is not logged (no bytes cross a link). The log
    records the bytes of the copy, which for an array-like are those of its converted array.
    """
    device = as_device(device)
    source = device_of(x)
    if device.kind == "cuda" and _is_cupy_array(x) and source != device:
        out = _between_gpus(x, source, device)
    elif device.kind == "cuda":
        cupy = _cupy()
        with on_device(device):  # new arrays land on the current device
            out = cupy.copy(x) if _is_cupy_array(x) else cupy.asarray(numpy.asarray(x))
    else:
        out = place(numpy.array(to_numpy(x), copy=True), device)
    if log is not None and source != device:
        log.record(Transfer(source, device, int(out.nbytes), label, phase))
    return out
