"""LRN's fast path: channel windows summed over zero-padded channels, optionally in a workspace."""

import numpy as np
import pytest

from tinyalex import functional as F
from tinyalex import gradcheck
from tinyalex.backend import to_numpy


@pytest.mark.parametrize("n", [1, 3, 5, 7, 9])
@pytest.mark.parametrize("channels", [1, 3, 6])
def test_channel_window_sum_matches_loop(xp, rng, n, channels):
    """Windows wider than the channels (n=9 on 3 channels) are cut at both edges."""
    x = rng.standard_normal((2, channels, 3, 2))
    expected = np.zeros_like(x)
    for i in range(channels):
        for j in range(max(0, i - n // 2), min(channels - 1, i + n // 2) + 1):
            expected[:, i] += x[:, j]
    np.testing.assert_allclose(to_numpy(F.channel_window_sum(xp.asarray(x), n)), expected,
                               rtol=1e-13, atol=1e-13)


def test_channel_window_sum_checks_its_input(xp):
    op = "channel_window_sum"
    for n, message in [(2, "n must be odd"), (0, "n must be a positive int, got 0")]:
        with pytest.raises(ValueError, match=f"{op}: {message}"):
            F.channel_window_sum(xp.ones((1, 3, 2)), n)
    with pytest.raises(ValueError, match=rf"{op}: x must be \(N, C, ...\), at least 2-D, got shape \(3,\)"):
        F.channel_window_sum(xp.ones(3), 3)
    with pytest.raises(ValueError, match=f"{op}: x must be a float32 or float64 array, got dtype int64"):
        F.channel_window_sum(xp.ones((1, 3), dtype=xp.int64), 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("params", [dict(n=5, alpha=1e-4), dict(n=3, alpha=2.0, beta=0.5),
                                    dict(n=7, k=1.0, alpha=0.3)])
def test_workspace_changes_nothing(xp, rng, params, dtype):
    x = xp.asarray((rng.standard_normal((2, 6, 4, 5)) * 2).astype(dtype))
    dout = xp.asarray(rng.standard_normal(x.shape).astype(dtype))
    out, cache = F.lrn_forward(x, **params)
    ws = F.Workspace()
    fast_out, fast_cache = F.lrn_forward(x, workspace=ws, **params)
    np.testing.assert_array_equal(to_numpy(fast_out), to_numpy(out))
    F.lrn_forward(x[:, :3], workspace=ws, **params)  # another call in between: nothing changes
    dx = F.lrn_backward(dout, fast_cache)
    assert dx.dtype == dtype
    np.testing.assert_array_equal(to_numpy(dx), to_numpy(F.lrn_backward(dout, cache)))


def test_workspace_backward_matches_finite_differences(xp, rng):
    a = xp.asarray(rng.standard_normal((2, 7, 3, 3)) * 2)
    result = gradcheck.check_layer(F.lrn_forward, F.lrn_backward, a, n=5, alpha=1.0,
                                   workspace=F.Workspace())
    assert result.max_error <= 1e-6, result


def test_a_gpu_runs_the_cuda_kernels(xp, rng, cuda_kernel_calls):
    """On CuPy, float32 and float64 LRN runs the one-launch kernels of ``cuda_kernels`` (so the
    tests of LRN hold those to the loop and finite differences there); on NumPy, the window sums."""
    out, cache = F.lrn_forward(xp.asarray(rng.standard_normal((2, 6, 3, 3))))
    F.lrn_backward(xp.ones_like(out), cache)
    assert cuda_kernel_calls == ([] if xp is np else ["lrn_forward", "lrn_backward"])
