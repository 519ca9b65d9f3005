"""Convolution by im2col: forward against the defining loop, backward against finite
differences, im2col/col2im as adjoints, and clear errors for bad input."""

import numpy as np
import pytest

import reference
from tinyalex import functional as F
from tinyalex import gradcheck
from tinyalex.backend import to_numpy

# (x shape, w shape, stride, pad, groups): odd sizes, stride > 1, padding > 0, groups 1 and 2,
# rectangular kernels, rectangular strides and pads, a kernel as large as the padded input.
CONFIGS = [
    ((2, 3, 7, 7), (4, 3, 3, 3), 1, 0, 1),
    ((2, 3, 9, 8), (5, 3, 3, 3), 2, 1, 1),
    ((1, 4, 7, 9), (6, 2, 3, 5), (2, 1), (1, 2), 2),
    ((3, 2, 6, 5), (2, 2, 1, 1), 1, 0, 1),
    ((2, 6, 11, 11), (6, 2, 5, 5), 3, 2, 3),
    ((2, 4, 5, 5), (4, 2, 2, 4), (1, 3), 0, 2),
    ((1, 2, 3, 3), (3, 2, 5, 5), 1, 1, 1),  # kernel exactly the padded input
]


def _pair(v):
    return (v, v) if isinstance(v, int) else v


def _inputs(rng, xp, x_shape, w_shape, dtype=np.float64):
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    return [xp.asarray(a.astype(dtype)) for a in (x, w, b)]


@pytest.mark.parametrize("x_shape, w_shape, stride, pad, groups", CONFIGS)
def test_forward_matches_loop(xp, rng, x_shape, w_shape, stride, pad, groups):
    x, w, b = _inputs(rng, xp, x_shape, w_shape)
    out, _ = F.conv2d_forward(x, w, b, stride=stride, pad=pad, groups=groups)
    expected = reference.conv2d(*map(to_numpy, (x, w, b)), _pair(stride), _pair(pad), groups)
    assert out.shape == expected.shape
    np.testing.assert_allclose(to_numpy(out), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("x_shape, w_shape, stride, pad, groups", CONFIGS)
def test_backward_matches_finite_differences(xp, rng, x_shape, w_shape, stride, pad, groups):
    x, w, b = _inputs(rng, xp, x_shape, w_shape)
    result = gradcheck.check_layer(
        F.conv2d_forward, F.conv2d_backward, x, w, b, stride=stride, pad=pad, groups=groups
    )
    assert result.max_error <= 1e-6, result


def test_float32_stays_float32_and_agrees(xp, rng):
    x, w, b = _inputs(rng, xp, (4, 6, 13, 13), (8, 3, 5, 5))
    out64, cache64 = F.conv2d_forward(x, w, b, stride=2, pad=2, groups=2)
    x32, w32, b32 = (a.astype(np.float32) for a in (x, w, b))
    out32, cache32 = F.conv2d_forward(x32, w32, b32, stride=2, pad=2, groups=2)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(to_numpy(out32), to_numpy(out64), rtol=1e-4, atol=1e-4)
    dout = xp.asarray(rng.standard_normal(out64.shape))
    grads64 = F.conv2d_backward(dout, cache64)
    grads32 = F.conv2d_backward(dout.astype(np.float32), cache32)
    for g32, g64 in zip(grads32, grads64):
        assert g32.dtype == np.float32
        np.testing.assert_allclose(to_numpy(g32), to_numpy(g64), rtol=1e-4, atol=1e-3)


def test_im2col_layout(xp):
    """cols[(c, i, j), (n, p, q)] = xpad[n, c, p*sh + i, q*sw + j], checked entry by entry."""
    x = xp.arange(2 * 3 * 5 * 4, dtype=xp.float64).reshape(2, 3, 5, 4) + 1
    cols = to_numpy(F.im2col(x, 3, 2, stride=(2, 1), pad=(1, 0)))
    xpad = np.pad(to_numpy(x), ((0, 0), (0, 0), (1, 1), (0, 0)))
    oh, ow = 3, 3
    assert cols.shape == (3 * 3 * 2, 2 * oh * ow)
    for c in range(3):
        for i in range(3):
            for j in range(2):
                for n in range(2):
                    for p in range(oh):
                        for q in range(ow):
                            row, col = (c * 3 + i) * 2 + j, (n * oh + p) * ow + q
                            assert cols[row, col] == xpad[n, c, p * 2 + i, q + j]


@pytest.mark.parametrize("stride, pad", [(1, 0), (2, 1), ((3, 2), (2, 0))])
def test_col2im_is_the_adjoint_of_im2col(xp, rng, stride, pad):
    """<im2col(x), c> == <x, col2im(c)> for all x, c: col2im is im2col transposed."""
    x = xp.asarray(rng.standard_normal((2, 3, 8, 7)))
    cols = F.im2col(x, 3, 3, stride, pad)
    c = xp.asarray(rng.standard_normal(cols.shape))
    lhs = float((cols * c).sum())
    rhs = float((x * F.col2im(c, x.shape, 3, 3, stride, pad)).sum())
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_col2im_counts_overlaps(xp):
    """col2im(im2col(ones)) is the number of windows each pixel falls in."""
    ones = xp.ones((1, 1, 5, 5))
    counts = to_numpy(F.col2im(F.im2col(ones, 3, 3, 1, 0), ones.shape, 3, 3, 1, 0))[0, 0]
    expected = np.outer([1, 2, 3, 2, 1], [1, 2, 3, 2, 1])
    np.testing.assert_array_equal(counts, expected)


def test_groups_equal_separate_convolutions(xp, rng):
    """groups=2 is two independent convolutions on the two halves of the channels (§3.2)."""
    x, w, b = _inputs(rng, xp, (2, 4, 6, 6), (6, 2, 3, 3))
    out, _ = F.conv2d_forward(x, w, b, pad=1, groups=2)
    top, _ = F.conv2d_forward(x[:, :2], w[:3], b[:3], pad=1)
    bottom, _ = F.conv2d_forward(x[:, 2:], w[3:], b[3:], pad=1)
    np.testing.assert_allclose(to_numpy(out), np.concatenate([to_numpy(top), to_numpy(bottom)], 1))


def test_output_size():
    assert F.conv_output_size(227, 11, 4, 0) == 55  # AlexNet conv1
    assert F.conv_output_size(224, 11, 4, 0) == 54  # the paper's stated 224 does not give 55
    assert F.conv_output_size(27, 5, 1, 2) == 27
    for args, message in [((3, 5), "kernel 5 is larger than the padded size 3"),
                          ((8, 3, 0), "stride must be a positive int, got 0"),
                          ((8, 3, 1, -1), "pad must be an int >= 0, got -1"),
                          ((8.0, 3), "size must be an int >= 0, got 8.0")]:
        with pytest.raises(ValueError, match=f"conv_output_size: {message}"):
            F.conv_output_size(*args)


@pytest.mark.parametrize(
    "x_shape, w_shape, b_shape, kwargs, message",
    [
        ((2, 3, 8), (4, 3, 3, 3), (4,), {}, "x must be 4-D"),
        ((2, 3, 8, 8), (4, 3, 3), (4,), {}, "w must be 4-D"),
        ((2, 3, 8, 8), (4, 2, 3, 3), (4,), {}, "each kernel sees 2 channels"),
        ((2, 3, 8, 8), (4, 1, 3, 3), (4,), {"groups": 2}, "divisible by groups=2"),
        ((2, 4, 8, 8), (3, 2, 3, 3), (3,), {"groups": 2}, "divisible by groups=2"),
        ((2, 3, 8, 8), (4, 3, 3, 3), (5,), {}, "b must have shape (4,)"),
        ((2, 3, 4, 4), (4, 3, 7, 7), (4,), {"pad": 1}, "kernel 7x7 is larger than the padded input 6x6"),
        ((2, 3, 8, 8), (4, 3, 3, 3), (4,), {"stride": 0}, "stride must be an int >= 1"),
        ((2, 3, 8, 8), (4, 3, 3, 3), (4,), {"stride": -2}, "stride must be an int >= 1"),
        ((2, 3, 8, 8), (4, 3, 3, 3), (4,), {"pad": -1}, "pad must be an int >= 0"),
        ((2, 3, 8, 8), (4, 3, 3, 3), (4,), {"groups": 0}, "groups must be a positive int"),
        ((2, 3, 8, 8), (0, 3, 3, 3), (0,), {}, "w must have at least one kernel of at least one channel, got shape (0, 3, 3, 3)"),
        ((2, 0, 8, 8), (4, 0, 3, 3), (4,), {}, "w must have at least one kernel of at least one channel, got shape (4, 0, 3, 3)"),
    ],
)
def test_bad_input_names_op_and_shape(xp, x_shape, w_shape, b_shape, kwargs, message):
    x, w, b = (xp.zeros(s) for s in (x_shape, w_shape, b_shape))
    with pytest.raises(ValueError, match="conv2d_forward") as info:
        F.conv2d_forward(x, w, b, **kwargs)
    assert message in str(info.value)


def test_mixed_dtypes_are_refused(xp):
    x = xp.zeros((1, 1, 4, 4), dtype=xp.float32)
    w = xp.zeros((1, 1, 3, 3), dtype=xp.float64)
    with pytest.raises(ValueError, match="conv2d_forward: w has dtype float64 but x has dtype float32"):
        F.conv2d_forward(x, w, xp.zeros(1, dtype=xp.float32))


def test_what_is_not_an_array_is_refused():
    w, b = np.zeros((1, 1, 3, 3)), np.zeros(1)
    with pytest.raises(TypeError, match="conv2d_forward: x must be a NumPy or CuPy array, got list"):
        F.conv2d_forward(np.zeros((1, 1, 4, 4)).tolist(), w, b)
    with pytest.raises(TypeError, match="conv2d_forward: b must be a NumPy or CuPy array, got float"):
        F.conv2d_forward(np.zeros((1, 1, 4, 4)), w, 0.0)


def test_integer_input_is_refused(xp):
    with pytest.raises(ValueError, match="conv2d_forward: x must be a float32 or float64 array"):
        F.conv2d_forward(xp.zeros((1, 1, 4, 4), dtype=xp.int64), xp.zeros((1, 1, 3, 3)), xp.zeros(1))


def test_backward_refuses_wrong_dout_shape(xp, rng):
    x, w, b = _inputs(rng, xp, (2, 3, 6, 6), (4, 3, 3, 3))
    _, cache = F.conv2d_forward(x, w, b)
    with pytest.raises(ValueError, match=r"conv2d_backward: dout must have shape \(2, 4, 4, 4\)"):
        F.conv2d_backward(xp.zeros((2, 4, 4, 5)), cache)
