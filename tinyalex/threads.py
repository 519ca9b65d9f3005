"""Element-wise work, and small matrix products, on every core of the CPU (NumPy arrays only).

NumPy's matrix products run on all the cores (OpenBLAS has threads of its own), but a ufunc, a
copy or a slice assignment runs on one. That is about half of a training step of the Figure-1
net: the copies around each convolution's product, the max pooling, the activations. NumPy lets
go of Python's global lock (the GIL) inside those loops, so plain Python threads that each take
a part of the batch do run at the same time. On a 2-core machine, two threads took ReLU on a
``(128, 32, 32, 32)`` array from 1.17 ms to 0.64 ms, and max pooling it from 8.9 ms to 4.5 ms.

Splitting changes no result: every element is computed by the same operations in the same order,
only perhaps by another thread. So the ops split only work whose parts are independent (images of
a batch, channels, blocks of a flat array), never a sum that runs across the parts, such as a
bias gradient. Every part also runs in the caller's context, so NumPy's floating-point error
handling (``numpy.errstate``, which lives in a ``contextvars`` context) is the caller's too: an
overflow in another thread's part raises or warns exactly as it would in one thread.

    out = numpy.empty_like(x)
    threads.split(len(x), lambda part: numpy.maximum(x[part], 0, out=out[part]), x)
    # or, for element-wise work on arrays of one shape:
    threads.apply(lambda x, out: numpy.maximum(x, 0, out=out), x, out)

This needs the cores to be free once a product has ended: ``import tinyalex`` shortens how long
OpenBLAS's own threads spin after each product (``OPENBLAS_THREAD_TIMEOUT``, in
``tinyalex/__init__.py``), where tinyalex is imported before NumPy.

Matrix products are split too where OpenBLAS's own threads do badly: on a small product
(Figure-1 conv1's weight gradient is 128 products of 75x1024 by 1024x32) its threads wait for
each other more than they work. ``split_products`` runs such products on our threads instead,
one product per thread at a time, with the BLAS set to one thread of its own meanwhile (through
``threadpoolctl``): 3.8 ms instead of 5.4 ms for those 128 products here. A product gives the
same bits on one BLAS thread as on two (OpenBLAS splits its rows and columns over its threads,
never the sum), so this changes no result either.

``set_threads(n)`` (or the variable ``TINYALEX_THREADS`` at start-up) sets how many threads;
the default is one per core this process may run on. Arrays on a GPU are never split: CuPy's
kernels already run on the whole GPU, and the host only launches them.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import numbers
import os
import threading

import numpy
from threadpoolctl import ThreadpoolController

# Below this many elements per part, starting a thread (about 20 us) costs more than it saves.
MIN_PART = 1 << 15

_count: int | None = None
_pool: concurrent.futures.ThreadPoolExecutor | None = None
_local = threading.local()  # .in_part: this thread is running a part of a split


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def threads() -> int:
    """How many threads the ops split their work over."""
    global _count
    if _count is None:
        text = os.environ.get("TINYALEX_THREADS", "").strip()
        _count = _positive("TINYALEX_THREADS", int(text) if text.isdecimal() else text or _cores())
    return _count


def set_threads(count: int) -> None:
    """Split the ops' element-wise work over ``count`` threads (1: no threads at all)."""
    global _count, _pool
    count = _positive("set_threads", count)
    if _pool is not None and count != _count:
        _pool.shutdown()
        _pool = None
    _count = count


def _positive(name: str, value) -> int:
    """``value`` as a count of threads if it is an int >= 1, else a ValueError naming ``name``
    (``TINYALEX_THREADS``'s text reaches here only when it is not digits, to be refused)."""
    count = int(value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else 0
    if count < 1:
        raise ValueError(f"{name}: the number of threads must be a positive integer, got {value!r}")
    return count


def _executor() -> concurrent.futures.ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = concurrent.futures.ThreadPoolExecutor(threads() - 1, "tinyalex")
    return _pool


def _forget_pool() -> None:
    """In a forked child the pool's threads do not exist: start a new pool when needed."""
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _parts(n: int, like, size: int | None) -> int:
    """How many parts ``split`` makes (1: the work runs whole, on the calling thread)."""
    # A split inside a part runs on the part's thread: waiting there for other parts could wait
    # for a pool whose every thread is waiting too.
    if not isinstance(like, numpy.ndarray) or getattr(_local, "in_part", False):
        return 1
    return max(1, min(threads(), n, (like.size if size is None else size) // MIN_PART))


def split(n: int, work, like, size: int | None = None) -> None:
    """Call ``work(part)`` for consecutive slices ``part`` that cover ``range(n)`` once each, on
    up to ``threads()`` threads at the same time; return when every call has returned.

    ``like``: an array of the work, which says where it runs: only NumPy arrays are split.
    ``size``: how many elements the whole work touches (default ``like.size``); parts smaller
    than ``MIN_PART`` elements are not worth a thread. Each call must write only what belongs to
    its part. The first exception raised by a call is raised again here, once all have ended.
    """
    _run(n, work, _parts(n, like, size))


def split_products(n: int, work, like, size: int | None = None) -> None:
    """``split`` for work whose parts are matrix products (``numpy.matmul``): while the parts
    run, the BLAS runs every product on one thread, the one that called it. Where the BLAS's
    threads cannot be set (a BLAS that ``threadpoolctl`` does not know, such as Apple's
    Accelerate) the work runs whole on the calling thread, the BLAS using its own threads:
    parts each using every core would only get in each other's way."""
    parts = _parts(n, like, size)
    if parts > 1 and _blas_one_thread():
        try:
            _run(n, work, parts)
        finally:
            _blas_restore()
    else:
        work(slice(0, n))


def _run(n: int, work, parts: int) -> None:
    if parts <= 1:
        work(slice(0, n))
        return
    bounds = [n * k // parts for k in range(parts + 1)]
    pool = _executor()
    futures = [pool.submit(contextvars.copy_context().run, _part, work,
                           slice(bounds[k], bounds[k + 1])) for k in range(1, parts)]
    try:
        _part(work, slice(bounds[0], bounds[1]))  # this thread takes the first part
    finally:
        errors = [f.exception() for f in futures]  # waits for every part
    for error in errors:
        if error is not None:
            raise error


_blas_lock = threading.Lock()
_blas_state = {"users": 0, "saved": None, "libraries": None}  # libraries: found at first use


def _blas_libraries() -> list:
    """threadpoolctl's controllers of the BLAS libraries loaded: empty where it knows none, as
    for Apple's Accelerate."""
    if _blas_state["libraries"] is None:
        _blas_state["libraries"] = ThreadpoolController().select(user_api="blas").lib_controllers
    return _blas_state["libraries"]


def _blas_one_thread() -> bool:
    """Set every BLAS to one thread (the first of overlapping callers saves their counts);
    False, changing nothing, where none can be set. ``_blas_restore`` undoes it."""
    with _blas_lock:
        libraries = _blas_libraries()
        if not libraries:
            return False
        if _blas_state["users"] == 0:
            _blas_state["saved"] = [library.get_num_threads() for library in libraries]
            for library in libraries:
                library.set_num_threads(1)
        _blas_state["users"] += 1
        return True


def _blas_restore() -> None:
    """The last of overlapping ``_blas_one_thread`` callers gives the BLAS its threads back."""
    with _blas_lock:
        _blas_state["users"] -= 1
        if _blas_state["users"] == 0:
            for library, count in zip(_blas_state["libraries"], _blas_state["saved"]):
                library.set_num_threads(count)


def _part(work, part: slice) -> None:
    _local.in_part = True
    try:
        work(part)
    finally:
        _local.in_part = False


def apply(function, *arrays) -> None:
    """``function(*arrays)``, for a ``function`` that works element by element on arrays of one
    shape (writing into one of them), run on parts of their first axis in parallel (``split``)."""
    first = arrays[0]
    if first.ndim == 0:
        function(*arrays)
    else:
        split(len(first), lambda part: function(*(a[part] for a in arrays)), first,
              size=first.size * len(arrays))
