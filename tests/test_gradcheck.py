"""The gradient checker itself: it must pass correct gradients and catch wrong ones."""

import numpy as np
import pytest

from tinyalex import functional as F
from tinyalex import backend, gradcheck


def test_numerical_gradient_of_a_known_function():
    x = np.array([1.0, -2.0, 3.0])
    grad = gradcheck.numerical_gradient(lambda: (x ** 3).sum(), x)
    np.testing.assert_allclose(grad, 3 * x ** 2, rtol=1e-9)
    np.testing.assert_array_equal(x, [1.0, -2.0, 3.0])  # restored


def test_rel_error():
    assert gradcheck.rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert gradcheck.rel_error(np.array([1.0]), np.array([3.0])) == pytest.approx(0.5)
    assert gradcheck.rel_error(np.zeros(2), np.zeros(2)) == 0.0


def test_catches_a_wrong_backward(rng):
    """A backward that is off by 1% anywhere, or that forgets an edge term, must fail."""
    x = rng.standard_normal((2, 5, 3, 3))

    def scaled_backward(dout, cache):
        return F.lrn_backward(dout, cache) * 1.01

    def no_cross_terms(dout, cache):  # forgets that a[j] also enters its neighbours' denominators
        return dout * cache.scale

    assert gradcheck.check_layer(F.lrn_forward, scaled_backward, x, alpha=1.0).max_error > 1e-3
    assert gradcheck.check_layer(F.lrn_forward, no_cross_terms, x, alpha=1.0).max_error > 1e-2
    assert gradcheck.check_layer(F.lrn_forward, F.lrn_backward, x, alpha=1.0).max_error < 1e-6


def test_a_backward_that_works_in_place_is_checked_as_any_other(rng):
    """backward may overwrite the dout it is given (the activations' out=dout): the finite
    differences must still use the dout the gradients were computed for."""
    x = rng.standard_normal((3, 4))

    def relu_twice(dout, cache):  # wrong by a factor 2, in place
        dx = F.relu_backward(dout, cache, out=dout)
        dx *= 2
        return dx

    assert gradcheck.check_layer(F.relu_forward, relu_twice, x).max_error > 0.1
    in_place = gradcheck.check_layer(F.tanh_forward, lambda d, c: F.tanh_backward(d, c, out=d), x)
    assert in_place.max_error < 1e-6


def test_check_all_ops_runs_every_convolution_algorithm(monkeypatch, cuda_kernel_calls):
    """A wrong backward in any algorithm the layers use fails `python -m tinyalex gradcheck`.
    On the CPU no CUDA kernel is called."""
    results = gradcheck.check_all_ops()
    assert len(results) == 13 and cuda_kernel_calls == []
    assert sum(name.startswith("conv2d") for name in results) == 6
    for algorithm in ("im2col", "rows", "fourier", "fourier in tiles", "gather"):
        assert any(f"; {algorithm})" in name for name in results)
    assert max(r.max_error for r in results.values()) < 1e-6
    from tinyalex.functional import conv

    rows_backward = conv._rows_backward
    monkeypatch.setattr(conv, "_rows_backward", lambda *a: tuple(
        g * 1.5 if g is not None else g for g in rows_backward(*a)))
    broken = gradcheck.check_all_ops()
    assert [name for name, r in broken.items() if r.max_error > 1e-3] == [
        "conv2d (stride 1, pad 2, groups 2; rows)"]


@pytest.mark.skipif(not backend.cupy_available(), reason="CuPy with a CUDA GPU is not available")
def test_check_all_ops_on_the_gpu(cuda_kernel_calls):
    """`gradcheck --device cuda:0` checks the GPU's own code: the pooling and LRN go through
    their CUDA kernels."""
    results = gradcheck.check_all_ops(device="cuda:0")
    assert len(results) == 13 and max(r.max_error for r in results.values()) < 1e-6
    assert set(cuda_kernel_calls) == {"maxpool_forward", "maxpool_backward", "lrn_forward",
                                      "lrn_backward"}


def test_refuses_float32():
    with pytest.raises(ValueError, match="finite differences need float64"):
        gradcheck.check_layer(F.relu_forward, F.relu_backward, np.ones(3, dtype=np.float32))
    with pytest.raises(TypeError, match="gradcheck: x must be a NumPy or CuPy array, got list"):
        gradcheck.check_layer(F.relu_forward, F.relu_backward, [1.0, 2.0])


def test_result_prints_a_table(rng):
    x, w, b = rng.standard_normal((2, 3)), rng.standard_normal((4, 3)), rng.standard_normal(4)
    result = gradcheck.check_layer(F.linear_forward, F.linear_backward, x, w, b)
    text = repr(result)
    assert "max rel error" in text and text.count("\n") == 3
    assert result["w"].shape == (4, 3)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_a_nan_or_infinite_gradient_fails(rng, bad_value):
    """Python's max() skips a NaN that is not first; max_error must not (dw is checked after
    dx, whose error is tiny)."""
    x, w, b = rng.standard_normal((2, 3)), rng.standard_normal((4, 3)), rng.standard_normal(4)

    def bad_backward(dout, cache):
        dx, dw, db = F.linear_backward(dout, cache)
        dw[0, 0] = bad_value
        return dx, dw, db

    with np.errstate(invalid="ignore"):  # inf / inf in the relative error
        result = gradcheck.check_layer(F.linear_forward, bad_backward, x, w, b)
    assert result["x"].rel_error < 1e-6 and np.isnan(result["w"].rel_error)
    assert np.isnan(result.max_error) and not result.max_error <= 1e-6


def test_bad_arguments_are_clear_errors(rng):
    x, w, b = rng.standard_normal((2, 3)), rng.standard_normal((4, 3)), rng.standard_normal(4)
    args = (F.linear_forward, F.linear_backward, x, w, b)
    with pytest.raises(ValueError, match=r"gradcheck: wrt must list positions 0\.\.2 of the arrays, got \[3\]"):
        gradcheck.check_layer(*args, wrt=[3])
    with pytest.raises(ValueError, match=r"gradcheck: names must have one entry per array \(3\), got \['x'\]"):
        gradcheck.check_layer(*args, names=["x"])
    assert gradcheck.check_layer(*args, names=["a", "W", "c"], wrt=[1]).rows[0].name == "W"
    with pytest.raises(ValueError, match="gradcheck: backward must return a tuple of gradients .*got list"):
        gradcheck.check_layer(F.linear_forward, lambda d, c: list(F.linear_backward(d, c)), x, w, b)
