"""Local response normalization, the paper's §3.3 formula exactly."""

import numpy as np
import pytest

import reference
from tinyalex import functional as F
from tinyalex import gradcheck
from tinyalex.backend import to_numpy

# The paper's alpha (1e-4) barely changes the output, so a wrong window (4 channels instead of
# 5, say) would pass; a large alpha makes every channel in the window matter.
PARAMS = [
    dict(n=5, k=2.0, alpha=1e-4, beta=0.75),  # the paper's constants
    dict(n=5, k=2.0, alpha=1.0, beta=0.75),
    dict(n=3, k=1.0, alpha=2.0, beta=0.5),
    dict(n=1, k=1.5, alpha=0.7, beta=1.0),
    dict(n=7, k=2.0, alpha=0.3, beta=0.75),  # window wider than some edges
]


@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("shape", [(2, 6, 3, 4), (1, 3, 5, 5), (2, 9, 2, 3)])
def test_forward_matches_loop(xp, rng, params, shape):
    a = rng.standard_normal(shape) * 2
    out, _ = F.lrn_forward(xp.asarray(a), **params)
    np.testing.assert_allclose(to_numpy(out), reference.lrn(a, **params), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("params", PARAMS)
def test_backward_matches_finite_differences(xp, rng, params):
    a = xp.asarray(rng.standard_normal((2, 7, 3, 3)) * 2)
    result = gradcheck.check_layer(F.lrn_forward, F.lrn_backward, a, **params)
    assert result.max_error <= 1e-6, result


def test_window_size_matters(xp, rng):
    """n=3 and n=5 differ visibly with a large alpha, and each agrees with its own loop."""
    a = rng.standard_normal((1, 8, 2, 2))
    out3, _ = F.lrn_forward(xp.asarray(a), n=3, alpha=1.0)
    out5, _ = F.lrn_forward(xp.asarray(a), n=5, alpha=1.0)
    assert np.abs(to_numpy(out3) - to_numpy(out5)).max() > 1e-2
    np.testing.assert_allclose(to_numpy(out3), reference.lrn(a, n=3, alpha=1.0), rtol=1e-12)


def test_caffe_torch_convention_translates_by_n(xp, rng):
    """alpha_caffe = n * alpha_paper gives the same numbers as the mean-of-squares convention."""
    a = rng.standard_normal((2, 7, 3, 3))
    ours, _ = F.lrn_forward(xp.asarray(a), n=5, k=2.0, alpha=0.01, beta=0.75)
    theirs = reference.lrn_torch_convention(a, size=5, alpha=5 * 0.01, beta=0.75, k=2.0)
    np.testing.assert_allclose(to_numpy(ours), theirs, rtol=1e-12)


def test_float32(xp, rng):
    a = rng.standard_normal((2, 10, 4, 4)).astype(np.float32) * 3
    out, cache = F.lrn_forward(xp.asarray(a), alpha=0.5)
    assert out.dtype == np.float32
    np.testing.assert_allclose(to_numpy(out), reference.lrn(a.astype(np.float64), alpha=0.5), rtol=1e-5)
    assert F.lrn_backward(xp.ones_like(out), cache).dtype == np.float32


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n": 4}, "n must be odd"),
        ({"n": 0}, "n must be a positive int"),
        ({"k": 0.0}, "k must be finite and > 0"),
        ({"k": float("inf")}, "k must be finite and > 0 (it keeps the denominator positive), got inf"),
        ({"alpha": -1.0}, "alpha and beta must be finite and >= 0"),
        ({"alpha": float("nan")}, "alpha and beta must be finite and >= 0"),
        ({"alpha": float("inf")}, "alpha and beta must be finite and >= 0, got alpha=inf"),
        ({"beta": float("inf")}, "alpha and beta must be finite and >= 0, got alpha=0.0001, beta=inf"),
        ({"k": "2"}, "k must be a real number, got '2'"),
        ({"beta": None}, "beta must be a real number, got None"),
    ],
)
def test_bad_parameters(xp, kwargs, message):
    with pytest.raises(ValueError, match="lrn_forward") as info:
        F.lrn_forward(xp.ones((1, 3, 2, 2)), **kwargs)
    assert message in str(info.value)


def test_bad_rank_and_dout(xp):
    with pytest.raises(ValueError, match=r"lrn_forward: x must be 4-D \(N, C, H, W\), got shape \(3, 2, 2\)"):
        F.lrn_forward(xp.ones((3, 2, 2)))
    _, cache = F.lrn_forward(xp.ones((1, 3, 2, 2)))
    with pytest.raises(ValueError, match="lrn_backward: dout must have shape"):
        F.lrn_backward(xp.ones((1, 3, 2, 3)), cache)
