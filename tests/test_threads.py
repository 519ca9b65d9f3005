"""``threads``: the ops that split their element-wise work over threads give exactly the bits
they give on one thread, for every op and layout that splits; and ``split`` itself covers every
part once, waits for all of them and passes their errors on."""

import os
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import threadpoolctl

from test_conv import CONFIGS
from test_fast_conv import ROWS_CONFIGS
from tinyalex import functional as F
from tinyalex import threads
from tinyalex.optim import SGD

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def thread_count(monkeypatch):
    """``thread_count(n)``: split every piece of work, however small, over ``n`` threads (for
    this test only)."""
    before = threads.threads()
    monkeypatch.setattr(threads, "MIN_PART", 1)
    yield threads.set_threads
    threads.set_threads(before)


@pytest.fixture
def split_runs(monkeypatch, thread_count):
    """``run(compute)``: ``compute()`` on one thread, then with every piece of work split over 3
    threads (however small); returns both results and checks that the second did use threads."""
    names = []
    original = threads._run  # what split and split_products call

    def recording_run(n, work, parts):
        def recorded(part):
            names.append(threading.current_thread().name)
            return work(part)

        return original(n, recorded, parts)

    monkeypatch.setattr(threads, "_run", recording_run)

    def run(compute):
        thread_count(1)
        alone = compute()
        assert not any(name.startswith("tinyalex") for name in names)
        thread_count(3)
        split = compute()
        assert any(name.startswith("tinyalex") for name in names), "nothing ran on a thread"
        names.clear()
        return alone, split

    return run


def _same(alone, split):
    for a, b in zip(alone, split, strict=True):
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(b, a)
            assert b.dtype == a.dtype


def _conv_cases():
    for x_shape, w_shape, stride, pad, groups in CONFIGS:
        yield "im2col", x_shape, w_shape, stride, pad, groups
    for x_shape, w_shape, stride, pad, groups in ROWS_CONFIGS:
        yield "rows", x_shape, w_shape, stride, pad, groups
        yield "fourier", x_shape, w_shape, stride, pad, groups


@pytest.mark.parametrize("workspace", [False, True])
def test_convolution(split_runs, rng, workspace):
    for algorithm, x_shape, w_shape, stride, pad, groups in _conv_cases():
        # Enough images and channels that every split has several parts.
        x_shape = (5,) + tuple(x_shape[1:])
        x = rng.standard_normal(x_shape).astype(np.float32)
        w = rng.standard_normal(w_shape).astype(np.float32)
        b = rng.standard_normal(w_shape[0]).astype(np.float32)

        def compute():
            ws = F.Workspace() if workspace else None
            out, cache = F.conv2d_forward(x, w, b, stride, pad, groups, ws, algorithm)
            dout = np.random.default_rng(0).standard_normal(out.shape).astype(np.float32)
            return (out, *F.conv2d_backward(dout, cache))

        _same(*split_runs(compute))


@pytest.mark.parametrize("size, stride", [(3, 2), (2, 2), (1, 1), (2, 3)])
def test_max_pooling(split_runs, rng, size, stride):
    x = rng.standard_normal((5, 3, 9, 8))
    x[1, 2, 3, 4] = np.nan
    x[3, 0, :3, :3] = 1.5  # a tie

    def compute():
        out, cache = F.maxpool2d_forward(x, size, stride, workspace=F.Workspace())
        return out, F.maxpool2d_backward(np.ones_like(out), cache)

    _same(*split_runs(compute))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lrn_and_activations(split_runs, rng, dtype):
    x = rng.standard_normal((5, 7, 4, 3)).astype(dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)

    def compute():
        results = []
        for forward, backward in ((F.relu_forward, F.relu_backward),
                                  (F.tanh_forward, F.tanh_backward),
                                  (lambda x: F.lrn_forward(x, 3, 2.0, 0.3, 0.75), F.lrn_backward)):
            out, cache = forward(x)
            results += [out, backward(dout, cache)]
        return results

    _same(*split_runs(compute))


def test_sgd_update(split_runs, rng, monkeypatch):
    monkeypatch.setattr(SGD, "BLOCK", 16)
    w = rng.standard_normal(100).astype(np.float32)  # 6 whole blocks and a short one
    grads = [rng.standard_normal(100).astype(np.float32) for _ in range(3)]

    def compute():
        params = {"w": w.copy()}
        opt = SGD(params, lr=0.1, momentum=0.9, weight_decay=0.01)
        for g in grads:
            opt.step({"w": g})
        return params["w"], opt.velocity["w"]

    _same(*split_runs(compute))


def test_split_covers_every_part_once(thread_count):
    thread_count(4)
    for n in (1, 2, 3, 4, 7, 100):
        seen = []
        threads.split(n, lambda part: seen.extend(range(n)[part]), np.zeros(n))
        assert sorted(seen) == list(range(n))


def test_small_work_and_other_arrays_stay_on_this_thread(monkeypatch):
    monkeypatch.setattr(threads, "_count", 2)
    names = []

    def work(part):
        names.append((threading.current_thread().name, part))

    threads.split(1000, work, np.zeros(1000))  # below MIN_PART
    threads.split(10**6, work, [0.0] * 10**6)  # not a NumPy array (a GPU's are not split)
    assert names == [(threading.main_thread().name, slice(0, 1000)),
                     (threading.main_thread().name, slice(0, 10**6))]


def test_errors_come_back_after_every_part_ended(thread_count):
    thread_count(3)
    finished = []

    def work(part):
        if part.start == 2:
            raise ValueError("part 2 failed")
        finished.append(part.start)

    with pytest.raises(ValueError, match="part 2 failed"):
        threads.split(6, work, np.zeros(6))
    assert sorted(finished) == [0, 4]


def test_parts_run_with_the_callers_floating_point_error_handling(thread_count):
    """numpy.errstate holds in every part, not only in this thread's: an overflow in another
    thread's part raises (or stays silent) exactly as it would in one thread."""
    thread_count(2)
    x = np.zeros((4, 8), np.float32)
    x[2:] = 3e38  # only the second part, another thread's, overflows
    out = np.empty_like(x)

    def times_ten(part):
        assert (threading.current_thread() is threading.main_thread()) == (part.start == 0)
        np.multiply(x[part], np.float32(10), out=out[part])

    with np.errstate(over="raise"), pytest.raises(FloatingPointError, match="overflow"):
        threads.split(4, times_ten, x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="ignore"):
            threads.split(4, times_ten, x)
    assert np.isinf(out[2:]).all()


def test_a_split_inside_a_part_runs_on_that_thread(thread_count):
    thread_count(2)
    seen = []

    def outer(part):
        here = threading.current_thread().name
        threads.split(3, lambda inner: seen.append((here, threading.current_thread().name)),
                      np.zeros(3))

    threads.split(2, outer, np.zeros(2))  # two parts, and only one thread in the pool
    assert len(seen) == 2 and all(outer == inner for outer, inner in seen)


def _blas_threads():
    return [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]


def test_split_products_give_the_blas_one_thread_meanwhile(thread_count):
    before = _blas_threads()
    assert before, "threadpoolctl finds no BLAS"
    thread_count(2)
    a = np.random.default_rng(0).standard_normal((4, 60, 70))
    out, during = np.empty((4, 60, 60)), []

    def products(part):
        during.append(_blas_threads())
        np.matmul(a[part], a[part].transpose(0, 2, 1), out=out[part])

    threads.split_products(4, products, out)
    assert during == [[1] * len(before)] * 2 and _blas_threads() == before
    np.testing.assert_array_equal(out, a @ a.transpose(0, 2, 1))

    def fails(part):
        raise ValueError("a part failed")

    with pytest.raises(ValueError, match="a part failed"):
        threads.split_products(4, fails, out)
    assert _blas_threads() == before


def test_overlapping_split_products_restore_the_blas_threads_once():
    before = _blas_threads()
    assert threads._blas_one_thread() and threads._blas_one_thread()
    threads._blas_restore()
    assert _blas_threads() == [1] * len(before)  # the other caller's parts still run
    threads._blas_restore()
    assert _blas_threads() == before


def test_split_products_run_whole_where_the_blas_threads_cannot_be_set(thread_count, monkeypatch):
    """E.g. Apple's Accelerate, which threadpoolctl does not know: parts each running products
    on every core would get in each other's way."""
    thread_count(2)
    monkeypatch.setitem(threads._blas_state, "libraries", [])
    names = []
    threads.split_products(4, lambda part: names.append((threading.current_thread().name, part)),
                           np.zeros(4))
    assert names == [(threading.main_thread().name, slice(0, 4))]


@pytest.mark.parametrize("bad", [0, -1, 1.5, "two", "3", None])
def test_bad_thread_counts(bad):
    with pytest.raises(ValueError, match="number of threads must be a positive integer"):
        threads.set_threads(bad)


def _python(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **env})


def test_the_environment_sets_the_count():
    done = _python("from tinyalex import threads; print(threads.threads())", TINYALEX_THREADS="3")
    assert done.stdout.strip() == "3", done.stderr
    done = _python("from tinyalex import threads; threads.threads()", TINYALEX_THREADS="zero")
    assert done.returncode != 0 and "TINYALEX_THREADS" in done.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_threads_of_its_own():
    code = """if True:
        import os, numpy as np
        from tinyalex import threads
        threads.MIN_PART = 1
        threads.set_threads(2)
        threads.split(4, lambda part: None, np.zeros(4))  # the parent's pool has started
        pid = os.fork()
        if pid == 0:
            seen = []
            threads.split(4, lambda part: seen.append(part), np.zeros(4))
            os._exit(0 if len(seen) == 2 else 1)
        print(os.waitpid(pid, 0)[1])
    """
    done = _python(code)
    assert done.stdout.strip() == "0", done.stderr


def test_importing_tinyalex_first_shortens_openblas_spin():
    """OpenBLAS reads OPENBLAS_THREAD_TIMEOUT when NumPy loads: tinyalex sets it before then
    (see tinyalex/__init__.py), and leaves a user's own value alone."""
    code = """if True:
        import builtins, os
        load = builtins.__import__
        def guard(name, *args, **kwargs):
            if name == "numpy" and "OPENBLAS_THREAD_TIMEOUT" not in os.environ:
                raise SystemExit("numpy was imported before OPENBLAS_THREAD_TIMEOUT was set")
            return load(name, *args, **kwargs)
        builtins.__import__ = guard
        import tinyalex
        print(os.environ["OPENBLAS_THREAD_TIMEOUT"])
    """
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    for given, expected in ((None, "16"), ("20", "20")):
        run_env = dict(env, PYTHONPATH=str(ROOT))
        if given is not None:
            run_env["OPENBLAS_THREAD_TIMEOUT"] = given
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=60, cwd=ROOT, env=run_env)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == expected
