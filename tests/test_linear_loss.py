"""The fully-connected layer and the softmax cross-entropy objective."""

import math
import re

import numpy as np
import pytest

import reference
from tinyalex import functional as F
from tinyalex import gradcheck
from tinyalex.backend import to_numpy


@pytest.mark.parametrize("x_shape, out_features", [((4, 7), 3), ((3, 2, 3, 3), 5), ((1, 5), 1)])
def test_linear_forward_matches_loop(xp, rng, x_shape, out_features):
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((out_features, int(np.prod(x_shape[1:]))))
    b = rng.standard_normal(out_features)
    out, _ = F.linear_forward(*map(xp.asarray, (x, w, b)))
    np.testing.assert_allclose(to_numpy(out), reference.linear(x, w, b), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("x_shape, out_features", [((4, 7), 3), ((3, 2, 3, 3), 5)])
def test_linear_backward_matches_finite_differences(xp, rng, x_shape, out_features):
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((out_features, int(np.prod(x_shape[1:]))))
    b = rng.standard_normal(out_features)
    result = gradcheck.check_layer(F.linear_forward, F.linear_backward, *map(xp.asarray, (x, w, b)))
    assert result.max_error <= 1e-6, result
    _, cache = F.linear_forward(*map(xp.asarray, (x, w, b)))
    dx, _, _ = F.linear_backward(xp.ones((x_shape[0], out_features)), cache)
    assert dx.shape == x_shape


def test_linear_backward_writes_into_grads_out(xp, rng):
    x, w, b = (xp.asarray(rng.standard_normal(s)) for s in ((4, 2, 3), (5, 6), (5,)))
    dout = xp.asarray(rng.standard_normal((4, 5)))
    _, cache = F.linear_forward(x, w, b)
    expected = F.linear_backward(dout, cache)
    dw, db = xp.full((5, 6), np.nan), xp.full(5, np.nan)  # what is there must not matter
    got = F.linear_backward(dout, cache, (dw, db))
    assert got[1] is dw and got[2] is db
    for a, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(e))


@pytest.mark.parametrize("grads_out, error, message", [
    (lambda xp: xp.zeros((3, 2)), TypeError, "grads_out must be a (dw, db) pair of arrays"),
    (lambda xp: (xp.zeros((2, 3)), xp.zeros(3)), ValueError, "grads_out[0] (dw) must have shape (3, 2), got (2, 3)"),
    (lambda xp: (xp.zeros((3, 2)), xp.zeros(2)), ValueError, "grads_out[1] (db) must have shape (3,), got (2,)"),
    (lambda xp: (xp.zeros((3, 2), xp.float32), xp.zeros(3)), ValueError, "grads_out[0] (dw) must have dtype float64, got float32"),
    (lambda xp: ([[0.0] * 2] * 3, xp.zeros(3)), TypeError, "grads_out[0] (dw) must be a NumPy or CuPy array, got list"),
])
def test_linear_backward_refuses_bad_grads_out(xp, grads_out, error, message):
    _, cache = F.linear_forward(xp.ones((4, 2)), xp.ones((3, 2)), xp.ones(3))
    with pytest.raises(error, match="linear_backward") as info:
        F.linear_backward(xp.ones((4, 3)), cache, grads_out(xp))
    assert message in str(info.value)


def test_linear_backward_refuses_grads_out_overlapping_an_input(xp):
    w = xp.ones((3, 2))
    _, cache = F.linear_forward(xp.ones((4, 2)), w, xp.ones(3))
    message = r"linear_backward: the arrays of grads_out \(dw, db\) must share memory neither"
    with pytest.raises(ValueError, match=message):
        F.linear_backward(xp.ones((4, 3)), cache, (w, xp.zeros(3)))
    both = xp.zeros((3, 3))  # dw the first two columns, db the last, overlapping
    with pytest.raises(ValueError, match=message):
        F.linear_backward(xp.ones((4, 3)), cache, (both[:, :2], both[:, 1]))
    if xp is not np:  # host arrays for a GPU op
        with pytest.raises(ValueError, match=r"grads_out\[0\] \(dw\) is a numpy array, but it must be a cupy array"):
            F.linear_backward(xp.ones((4, 3)), cache, (np.zeros((3, 2)), xp.zeros(3)))


def test_linear_float32(xp):
    x, w, b = xp.ones((2, 3), xp.float32), xp.ones((4, 3), xp.float32), xp.ones(4, xp.float32)
    out, cache = F.linear_forward(x, w, b)
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in F.linear_backward(xp.ones_like(out), cache))


@pytest.mark.parametrize(
    "x_shape, w_shape, b_shape, message",
    [
        ((5,), (3, 5), (3,), "x must be (N, ...), at least 2-D"),
        ((2, 6), (3, 5), (3,), "x of shape (2, 6) flattens to 6 features, but w of shape (3, 5) expects 5"),
        ((2, 5), (3, 5, 1), (3,), "w must be 2-D"),
        ((2, 5), (3, 5), (4,), "b must have shape (3,)"),
    ],
)
def test_linear_bad_input(xp, x_shape, w_shape, b_shape, message):
    with pytest.raises(ValueError, match="linear_forward") as info:
        F.linear_forward(xp.ones(x_shape), xp.ones(w_shape), xp.ones(b_shape))
    assert message in str(info.value)


def test_linear_refuses_what_is_not_an_array():
    w, b = np.ones((1, 2)), np.ones(1)
    with pytest.raises(TypeError, match="linear_forward: x must be a NumPy or CuPy array, got list"):
        F.linear_forward([[1.0, 2.0]], w, b)
    with pytest.raises(TypeError, match="linear_forward: w must be a NumPy or CuPy array, got tuple"):
        F.linear_forward(np.ones((3, 2)), (1.0, 1.0), b)
    _, cache = F.linear_forward(np.ones((3, 2)), w, b)
    with pytest.raises(TypeError, match="linear_backward: dout must be a NumPy or CuPy array, got list"):
        F.linear_backward([[1.0]] * 3, cache)


# ----- softmax cross-entropy -------------------------------------------------------------------


@pytest.mark.parametrize("batch, classes, scale", [(6, 10, 3.0), (4, 1000, 3.0), (1, 2, 1.0)])
def test_loss_matches_formula(xp, rng, batch, classes, scale):
    logits = rng.standard_normal((batch, classes)) * scale
    labels = rng.integers(0, classes, batch)
    loss, dlogits = F.softmax_cross_entropy(xp.asarray(logits), xp.asarray(labels))
    assert isinstance(loss, float)
    assert loss == pytest.approx(reference.softmax_cross_entropy(logits, labels), rel=1e-13)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    p[np.arange(batch), labels] -= 1
    np.testing.assert_allclose(to_numpy(dlogits), p / batch, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("batch, classes, scale", [(5, 7, 1.0), (1, 2, 1.0), (9, 10, 2.0),
                                                    (2, 100, 1.0)])
def test_loss_gradient_matches_finite_differences(xp, rng, batch, classes, scale):
    """One image, two classes, larger logits, many classes. Not much larger or many more: the
    loss is a mean, so finite differences carry its rounding (about 1e-16 / 2h = 1e-11) into
    every entry, and a gradient entry far below 1e-8 (a class with probability 1e-7, which 1000
    classes or logits of scale 3 produce) then shows a large relative error with a correct
    backward. test_loss_matches_reference checks such cases against the formula instead."""
    logits = xp.asarray(scale * rng.standard_normal((batch, classes)))
    labels = rng.integers(0, classes, batch)
    labels[0] = classes - 1  # the last class is always among the labels
    result = gradcheck.check_loss(F.softmax_cross_entropy, logits, xp.asarray(labels))
    assert result.max_error <= 1e-6, result


def test_loss_is_stable_for_huge_logits(xp):
    """exp(1000) overflows; the log-sum-exp shift keeps the loss exact."""
    logits = xp.asarray([[1000.0, 0.0, -1000.0], [0.0, 1000.0, 999.0]])
    loss, dlogits = F.softmax_cross_entropy(logits, xp.asarray([0, 2]))
    expected = (0.0 + (1.0 + np.log1p(np.exp(-1.0)))) / 2  # row 2: -log softmax = 1 + log(1+e^-1)
    assert loss == pytest.approx(expected, rel=1e-12)
    assert np.all(np.isfinite(to_numpy(dlogits)))
    loss, _ = F.softmax_cross_entropy(xp.asarray([[50.0, -50.0]]), xp.asarray([0]))
    assert loss == 0.0 and math.copysign(1, loss) == 1  # 0.0, not -0.0
    # Each row is shifted by its own maximum: one shift for the whole batch would take the
    # second row's exponentials below float64's range.
    loss, dlogits = F.softmax_cross_entropy(xp.asarray([[1000.0, 0.0], [0.0, -5.0]]), xp.asarray([0, 1]))
    assert loss == pytest.approx((5.0 + np.log1p(np.exp(-5.0))) / 2, rel=1e-12)
    p = 1 / (1 + np.exp(-5.0))  # the second row's softmax: [p, 1 - p]
    np.testing.assert_allclose(to_numpy(dlogits), [[0.0, 0.0], [p / 2, (1 - p - 1) / 2]], rtol=1e-12, atol=1e-300)


def test_softmax_and_log_softmax_values(xp, rng):
    """Rows of exp(z) / sum(exp(z)), each summing to 1, also at magnitudes near 1000."""
    z = rng.standard_normal((4, 6)) * 3
    z[1] += 1000.0
    z[2] -= 1000.0
    expected = np.exp(z - z.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(to_numpy(F.softmax(xp.asarray(z))), expected, rtol=1e-12)
    np.testing.assert_allclose(to_numpy(F.log_softmax(xp.asarray(z))), np.log(expected), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(F.softmax(xp.asarray(z))).sum(axis=1), 1.0, rtol=1e-14)


def test_loss_float32_and_accepts_uint8_labels(xp):
    logits = xp.zeros((2, 4), dtype=xp.float32)
    loss, dlogits = F.softmax_cross_entropy(logits, xp.asarray(np.array([1, 3], dtype=np.uint8)))
    assert dlogits.dtype == np.float32
    assert loss == pytest.approx(np.log(4), rel=1e-6)


@pytest.mark.parametrize(
    "logits, labels, message",
    [
        (np.zeros((2, 3)), np.array([0, 3]), "label 3 is out of range for 3 classes"),
        (np.zeros((2, 3)), np.array([-1, 0]), "label -1 is out of range"),
        (np.zeros((2, 3)), np.array([0.0, 1.0]), "labels must be integer class indices"),
        (np.zeros((2, 3)), np.array([0, 1, 2]), "labels must have shape (2,)"),
        (np.zeros(3), np.array([0]), "logits must be 2-D"),
        (np.zeros((2, 0)), np.array([0, 0]), "logits must have at least one entry on their last axis, got shape (2, 0)"),
        (np.array([[0.0, np.nan], [1.0, 2.0]]), np.array([0, 1]), "logits must be finite, got nan at [0, 1]"),
        (np.array([[0.0, 1.0], [np.inf, 2.0]]), np.array([0, 1]), "logits must be finite, got inf at [1, 0]"),
    ],
)
def test_loss_bad_input(xp, logits, labels, message):
    with pytest.raises(ValueError, match="softmax_cross_entropy") as info:
        F.softmax_cross_entropy(xp.asarray(logits), xp.asarray(labels))
    assert message in str(info.value)


def test_loss_refuses_logits_that_are_not_an_array():
    with pytest.raises(TypeError, match="softmax_cross_entropy: logits must be a NumPy or CuPy array, got list"):
        F.softmax_cross_entropy([[0.0, 1.0]], np.array([0]))


@pytest.mark.parametrize("op", [F.softmax, F.log_softmax])
def test_softmax_checks_its_input(xp, op):
    name = op.__name__
    with pytest.raises(ValueError, match=f"{name}: logits must be a float32 or float64 array, got dtype int64"):
        op(xp.asarray([[1, 2, 3]], dtype=xp.int64))
    with pytest.raises(TypeError, match=f"{name}: logits must be a NumPy or CuPy array, got list"):
        op([[1.0, 2.0]])
    for shape in [(), (2, 0)]:
        with pytest.raises(ValueError, match=rf"{name}: logits must have at least one entry on their last axis, got shape {re.escape(str(shape))}"):
            op(xp.zeros(shape))
    p = op(xp.asarray([[1.0, 2.0, 3.0]], dtype=xp.float32))
    assert p.dtype == np.float32 and p.shape == (1, 3)


def test_linear_output_is_one_row_per_image(xp, rng):
    """Row-major, as the ReLU and dropout that follow expect (column-major made them 2.5-5x slower)."""
    x = xp.asarray(rng.standard_normal((6, 5)).astype(np.float32))
    w = xp.asarray(rng.standard_normal((7, 5)).astype(np.float32))
    out, _ = F.linear_forward(x, w, xp.zeros(7, dtype=xp.float32))
    assert out.flags.c_contiguous
