"""The convolution's fast path (a shared Workspace, cols rebuilt in backward) against the plain
one and the defining loop, and the Workspace's promise: results never depend on call history."""

import numpy as np
import pytest

import reference
from test_conv import CONFIGS, _inputs, _pair
from tinyalex import functional as F
from tinyalex import gradcheck
from tinyalex.backend import to_numpy


def _tolerance(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, w_shape, stride, pad, groups", CONFIGS)
def test_workspace_matches_plain_and_loop(xp, rng, x_shape, w_shape, stride, pad, groups, dtype):
    x, w, b = _inputs(rng, xp, x_shape, w_shape, dtype)
    kwargs = dict(stride=stride, pad=pad, groups=groups)
    out, cache = F.conv2d_forward(x, w, b, **kwargs)
    fast_out, fast_cache = F.conv2d_forward(x, w, b, workspace=F.Workspace(), **kwargs)
    assert fast_out.dtype == dtype
    np.testing.assert_allclose(to_numpy(fast_out), to_numpy(out), **_tolerance(dtype))
    expected = reference.conv2d(*map(to_numpy, (x, w, b)), _pair(stride), _pair(pad), groups)
    np.testing.assert_allclose(to_numpy(fast_out), expected, **_tolerance(dtype))
    dout = xp.asarray(rng.standard_normal(out.shape).astype(dtype))
    for fast, plain in zip(F.conv2d_backward(dout, fast_cache), F.conv2d_backward(dout, cache)):
        assert fast.dtype == dtype and fast.shape == plain.shape
        np.testing.assert_allclose(to_numpy(fast), to_numpy(plain), **_tolerance(dtype))


@pytest.mark.parametrize("x_shape, w_shape, stride, pad, groups", CONFIGS)
def test_workspace_backward_matches_finite_differences(xp, rng, x_shape, w_shape, stride, pad, groups):
    x, w, b = _inputs(rng, xp, x_shape, w_shape)
    result = gradcheck.check_layer(F.conv2d_forward, F.conv2d_backward, x, w, b, stride=stride,
                                   pad=pad, groups=groups, workspace=F.Workspace())
    assert result.max_error <= 1e-6, result


def test_layers_sharing_a_workspace_do_not_disturb_each_other(xp, rng):
    """Two convolutions and a pooling (and an LRN in float32) share one workspace, their passes
    interleaved as in a network; every result equals the one computed without a workspace."""
    ws = F.Workspace()
    x1, w1, b1 = _inputs(rng, xp, (2, 4, 11, 11), (6, 2, 3, 3))
    x2, w2, b2 = _inputs(rng, xp, (2, 6, 5, 5), (8, 3, 5, 5))
    x3 = xp.asarray(rng.standard_normal((2, 5, 9, 9)).astype(np.float32))
    a, cache_a = F.conv2d_forward(x1, w1, b1, pad=1, groups=2, workspace=ws)
    p, cache_p = F.maxpool2d_forward(a, 3, 2, workspace=ws)
    c, cache_c = F.conv2d_forward(x2, w2, b2, stride=2, pad=2, groups=2, workspace=ws)
    n, cache_n = F.lrn_forward(x3, alpha=1.0, workspace=ws)
    douts = [xp.asarray(rng.standard_normal(o.shape).astype(o.dtype)) for o in (a, p, c, n)]
    grads_n = F.lrn_backward(douts[3], cache_n)
    grads_c = F.conv2d_backward(douts[2], cache_c)
    grads_p = F.maxpool2d_backward(douts[1], cache_p)
    grads_a = F.conv2d_backward(douts[0], cache_a)
    results = [a, p, c, n, grads_n, *grads_c, grads_p, *grads_a]
    for buffer in ws._buffers.values():  # scribble over the scratch: no result may change
        buffer.fill(np.nan)

    a0, ca = F.conv2d_forward(x1, w1, b1, pad=1, groups=2)
    p0, cp = F.maxpool2d_forward(a0, 3, 2)
    c0, cc = F.conv2d_forward(x2, w2, b2, stride=2, pad=2, groups=2)
    n0, cn = F.lrn_forward(x3, alpha=1.0)
    expected = [a0, p0, c0, n0, F.lrn_backward(douts[3], cn), *F.conv2d_backward(douts[2], cc),
                F.maxpool2d_backward(douts[1], cp), *F.conv2d_backward(douts[0], ca)]
    for got, want in zip(results, expected, strict=True):
        np.testing.assert_allclose(to_numpy(got), to_numpy(want), **_tolerance(want.dtype))


def test_workspace_reuses_grows_and_separates_dtypes(xp):
    ws = F.Workspace()
    like32 = xp.zeros(1, dtype=xp.float32)
    big = ws.empty("cols", (4, 5), like32)
    small = ws.empty("cols", (2, 3), like32)
    assert small.shape == (2, 3) and small.dtype == xp.float32
    assert xp.shares_memory(big, small)  # reused, not allocated again
    other = ws.empty("cols", (2, 3), xp.zeros(1, dtype=xp.float64))
    assert other.dtype == xp.float64 and not xp.shares_memory(other, small)
    grown = ws.empty("cols", (10, 10), like32)
    assert grown.shape == (10, 10) and ws.nbytes == 100 * 4 + 6 * 8
    assert "2 buffers" in repr(ws)
    ws.clear()
    assert ws.nbytes == 0


def test_cached_cols_only_without_a_workspace(xp, rng):
    """The memory trade-off: the plain path keeps cols for backward, the workspace path keeps
    nothing larger than the input."""
    x, w, b = _inputs(rng, xp, (2, 3, 9, 9), (4, 3, 3, 3))
    _, cache = F.conv2d_forward(x, w, b, pad=1)
    _, fast_cache = F.conv2d_forward(x, w, b, pad=1, workspace=F.Workspace())
    assert cache.cols is not None and cache.cols.size == 3 * 9 * 2 * 81
    assert fast_cache.cols is None
