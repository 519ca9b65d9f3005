"""The fast (separable) max pooling against the naive one it must agree with: same maxima, the
same gradient routing (ties to the first maximum in row-major order, NaN), float32 and float64,
with and without a workspace."""

import numpy as np
import pytest

from tinyalex import functional as F
from tinyalex import gradcheck
from tinyalex.backend import to_numpy

CONFIGS = [  # (shape, size, stride)
    ((2, 3, 7, 7), 3, 2),    # the paper's overlapping pooling
    ((2, 2, 8, 6), 2, 2),    # plain pooling, size == stride
    ((1, 3, 9, 10), 3, 3),   # plain, with a leftover border
    ((2, 2, 6, 7), 3, 1),    # heavy overlap
    ((1, 2, 5, 5), 5, 2),    # one window covers everything
    ((2, 2, 11, 9), 2, 3),   # gaps between windows (size < stride)
    ((2, 3, 6, 8), 1, 2),    # a single-pixel window
    ((3, 4, 13, 12), 3, 2),
]


def _inputs(rng, shape, kind, dtype):
    if kind == "normal":
        x = rng.standard_normal(shape)
    elif kind == "ties":  # many ties: values from {0, 1, 2}
        x = rng.integers(0, 3, shape).astype(float)
    else:  # special values, several NaN in some windows
        x = rng.choice([np.nan, -np.inf, np.inf, 0.0, -0.0, 1.0, -1.0], size=shape,
                       p=[0.15, 0.1, 0.1, 0.2, 0.15, 0.15, 0.15])
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["normal", "ties", "special"])
@pytest.mark.parametrize("shape, size, stride", CONFIGS)
def test_fast_matches_naive(xp, rng, shape, size, stride, kind, dtype):
    x = xp.asarray(_inputs(rng, shape, kind, dtype))
    for workspace in (None, F.Workspace()):
        out, cache = F.maxpool2d_forward(x, size, stride, workspace=workspace)
        expected, naive_cache = F.maxpool2d_forward_naive(x, size, stride)
        assert out.dtype == expected.dtype == dtype
        np.testing.assert_array_equal(to_numpy(out), to_numpy(expected))  # NaN == NaN here
        # With dout = 1 every entry of dx counts the windows routed to it: exact routing.
        ones = xp.ones(out.shape, dtype=dtype)
        np.testing.assert_array_equal(to_numpy(F.maxpool2d_backward(ones, cache)),
                                      to_numpy(F.maxpool2d_backward_naive(ones, naive_cache)))
        # A random dout: the same up to the order in which overlapping windows are added.
        dout = xp.asarray(rng.standard_normal(out.shape).astype(dtype))
        dx = F.maxpool2d_backward(dout, cache)
        assert dx.dtype == dtype and dx.shape == shape
        tolerance = 1e-6 if dtype == np.float32 else 1e-14
        np.testing.assert_allclose(to_numpy(dx), to_numpy(F.maxpool2d_backward_naive(dout, naive_cache)),
                                   rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("shape, size, stride", CONFIGS)
def test_fast_backward_matches_finite_differences(xp, rng, shape, size, stride):
    x = xp.asarray(rng.permutation(np.prod(shape)).reshape(shape) * 0.1)  # no ties or near-ties
    result = gradcheck.check_layer(F.maxpool2d_forward, F.maxpool2d_backward, x,
                                   size=size, stride=stride, workspace=F.Workspace())
    assert result.max_error <= 1e-6, result


def test_tie_rule_is_row_major_first(xp):
    """Rows first, then columns, is still row-major: the first 5 of row 0, not the 5 below it."""
    x = xp.asarray([[[[1.0, 5.0, 0.0], [5.0, 5.0, 0.0], [5.0, 0.0, 5.0]]]])
    out, cache = F.maxpool2d_forward(x, size=3, stride=1)
    dx = F.maxpool2d_backward(xp.ones_like(out), cache)
    np.testing.assert_array_equal(to_numpy(dx)[0, 0], [[0, 1, 0], [0, 0, 0], [0, 0, 0]])


def test_nan_goes_to_the_last_nan_like_the_naive_version(xp):
    x = xp.asarray([[[[np.nan, 1.0], [2.0, np.nan]]]])
    out, cache = F.maxpool2d_forward(x, size=2, stride=2)
    assert np.isnan(to_numpy(out)).all()
    dx = F.maxpool2d_backward(xp.ones_like(out), cache)
    np.testing.assert_array_equal(to_numpy(dx)[0, 0], [[0, 0], [0, 1]])


def test_input_is_not_modified(xp, rng):
    x = xp.asarray(rng.standard_normal((2, 3, 7, 7)))
    before = to_numpy(x).copy()
    out, cache = F.maxpool2d_forward(x, size=1, stride=1)  # the window is a view of x itself
    F.maxpool2d_backward(xp.ones_like(out), cache)
    np.testing.assert_array_equal(to_numpy(x), before)


def test_naive_errors_name_the_naive_op(xp):
    with pytest.raises(ValueError, match="maxpool2d_forward_naive: window 3x3 is larger than the input 2x5"):
        F.maxpool2d_forward_naive(xp.zeros((1, 1, 2, 5)))
    _, cache = F.maxpool2d_forward_naive(xp.zeros((1, 1, 5, 5)))
    with pytest.raises(ValueError, match=r"maxpool2d_backward_naive: dout must have shape \(1, 1, 2, 2\)"):
        F.maxpool2d_backward_naive(xp.zeros((1, 1, 2, 3)), cache)


def test_a_gpu_runs_the_cuda_kernels(xp, rng, cuda_kernel_calls):
    """On CuPy, float32 and float64 pooling runs the one-launch kernels of ``cuda_kernels`` (so
    the tests above hold those to the naive version there); on NumPy, the separable code."""
    out, cache = F.maxpool2d_forward(xp.asarray(rng.standard_normal((2, 3, 7, 7))))
    F.maxpool2d_backward(xp.ones_like(out), cache)
    assert cuda_kernel_calls == ([] if xp is np else ["maxpool_forward", "maxpool_backward"])


@pytest.mark.parametrize("dout_dtype", [np.float16, np.float64])
def test_a_gradient_of_another_dtype_is_refused(xp, rng, dout_dtype):
    """dout must have the forward input's dtype, as for every other op: a float64 dout after a
    float32 forward would silently make dx float64."""
    x = xp.asarray(rng.standard_normal((2, 3, 7, 7)).astype(np.float32))
    dout = xp.ones((2, 3, 3, 3), dtype=dout_dtype)
    for op, forward, backward in [("maxpool2d_backward", F.maxpool2d_forward, F.maxpool2d_backward),
                                  ("maxpool2d_backward_naive", F.maxpool2d_forward_naive,
                                   F.maxpool2d_backward_naive)]:
        _, cache = forward(x)
        message = f"{op}: dout must have dtype float32, got {np.dtype(dout_dtype)}"
        with pytest.raises(ValueError, match=message):
            backward(dout, cache)
