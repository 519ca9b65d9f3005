"""Max pooling, overlapping (paper §3.4) and plain, with its documented tie rule."""

import numpy as np
import pytest

import reference
from tinyalex import functional as F
from tinyalex import gradcheck
from tinyalex.backend import to_numpy

CONFIGS = [  # (shape, size, stride)
    ((2, 3, 7, 7), 3, 2),   # the paper's overlapping pooling, odd size
    ((2, 2, 8, 6), 2, 2),   # plain pooling, size == stride
    ((1, 3, 9, 10), 3, 3),  # plain, with a leftover border
    ((2, 2, 6, 7), 3, 1),   # heavy overlap
    ((1, 2, 5, 5), 5, 2),   # one window covers everything
    ((3, 1, 13, 13), 3, 2),
]


def _distinct(rng, shape):
    """Values without ties or near-ties (steps of 0.1 >> the finite-difference h)."""
    return rng.permutation(np.prod(shape)).reshape(shape) * 0.1


@pytest.mark.parametrize("shape, size, stride", CONFIGS)
def test_forward_matches_loop(xp, rng, shape, size, stride):
    x = rng.standard_normal(shape)
    out, _ = F.maxpool2d_forward(xp.asarray(x), size, stride)
    expected, _ = reference.maxpool2d(x, size, stride)
    assert out.shape == expected.shape == (shape[0], shape[1], (shape[2] - size) // stride + 1,
                                           (shape[3] - size) // stride + 1)
    np.testing.assert_array_equal(to_numpy(out), expected)


@pytest.mark.parametrize("shape, size, stride", CONFIGS)
def test_backward_matches_finite_differences(xp, rng, shape, size, stride):
    x = xp.asarray(_distinct(rng, shape))
    result = gradcheck.check_layer(F.maxpool2d_forward, F.maxpool2d_backward, x, size=size, stride=stride)
    assert result.max_error <= 1e-6, result


@pytest.mark.parametrize("shape, size, stride", CONFIGS)
def test_backward_matches_loop_with_ties(xp, rng, shape, size, stride):
    """With many ties (values from {0, 1, 2}), each window's gradient goes to its first maximum
    in row-major order, and overlapping windows add up."""
    x = rng.integers(0, 3, shape).astype(np.float64)
    out, cache = F.maxpool2d_forward(xp.asarray(x), size, stride)
    dout = rng.standard_normal(out.shape)
    dx = F.maxpool2d_backward(xp.asarray(dout), cache)
    _, first = reference.maxpool2d(x, size, stride)
    np.testing.assert_allclose(to_numpy(dx), reference.maxpool2d_backward(dout, first, shape), atol=1e-15)


def test_tie_rule_on_a_hand_made_window(xp):
    x = xp.asarray([[[[1.0, 5.0], [5.0, 5.0]]]])
    out, cache = F.maxpool2d_forward(x, size=2, stride=2)
    dx = F.maxpool2d_backward(xp.ones_like(out), cache)
    np.testing.assert_array_equal(to_numpy(dx)[0, 0], [[0.0, 1.0], [0.0, 0.0]])


def test_overlapping_windows_sum_gradients(xp):
    """The centre pixel is the max of all four overlapping 3x3/2 windows of a 5x5 image."""
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 1.0
    out, cache = F.maxpool2d_forward(xp.asarray(x), 3, 2)
    dx = to_numpy(F.maxpool2d_backward(xp.asarray([[[[1.0, 2.0], [3.0, 4.0]]]]), cache))
    assert dx[0, 0, 2, 2] == 10.0 and dx.sum() == 10.0


def test_nan_propagates(xp):
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 1, 1] = np.nan
    out, _ = F.maxpool2d_forward(xp.asarray(x), 2, 2)
    assert np.isnan(to_numpy(out)[0, 0, 0, 0]) and not np.isnan(to_numpy(out)[0, 0, 1, 1])


def test_float32(xp, rng):
    x = xp.asarray(rng.standard_normal((2, 3, 9, 9)).astype(np.float32))
    out, cache = F.maxpool2d_forward(x)
    assert out.dtype == np.float32
    assert F.maxpool2d_backward(xp.ones_like(out), cache).dtype == np.float32


@pytest.mark.parametrize(
    "shape, kwargs, message",
    [
        ((2, 3, 5), {}, "x must be 4-D"),
        ((1, 1, 2, 5), {"size": 3}, "window 3x3 is larger than the input 2x5"),
        ((1, 1, 5, 5), {"stride": 0}, "stride must be a positive int"),
        ((1, 1, 5, 5), {"size": -1}, "size must be a positive int"),
    ],
)
def test_bad_input(xp, shape, kwargs, message):
    with pytest.raises(ValueError, match="maxpool2d_forward") as info:
        F.maxpool2d_forward(xp.zeros(shape), **kwargs)
    assert message in str(info.value)


def test_backward_refuses_wrong_dout(xp):
    _, cache = F.maxpool2d_forward(xp.zeros((1, 1, 5, 5)))
    with pytest.raises(ValueError, match=r"maxpool2d_backward: dout must have shape \(1, 1, 2, 2\)"):
        F.maxpool2d_backward(xp.zeros((1, 1, 2, 3)), cache)
