"""ReLU and tanh (paper §3.1), and dropout (paper §4.2)."""

import numpy as np
import pytest

from tinyalex import functional as F
from tinyalex import gradcheck
from tinyalex.backend import to_numpy


def _away_from_zero(rng, shape):
    """Inputs at least 0.01 from ReLU's kink, so finite differences never straddle it."""
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < 0.01, 0.5, x)


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 5, 5), (7,)])
def test_relu(xp, rng, shape):
    x = _away_from_zero(rng, shape)
    out, _ = F.relu_forward(xp.asarray(x))
    for v, o in zip(x.ravel(), to_numpy(out).ravel()):
        assert o == (v if v > 0 else 0.0)
    result = gradcheck.check_layer(F.relu_forward, F.relu_backward, xp.asarray(x))
    assert result.max_error <= 1e-6, result


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 5, 5)])
def test_tanh(xp, rng, shape):
    x = rng.standard_normal(shape) * 2
    out, _ = F.tanh_forward(xp.asarray(x))
    for v, o in zip(x.ravel(), to_numpy(out).ravel()):
        assert o == pytest.approx(np.tanh(v), abs=1e-15)
    result = gradcheck.check_layer(F.tanh_forward, F.tanh_backward, xp.asarray(x))
    assert result.max_error <= 1e-6, result


def test_activations_keep_float32(xp):
    x = xp.linspace(-3, 3, 12, dtype=xp.float32).reshape(3, 4)
    for forward, backward in [(F.relu_forward, F.relu_backward), (F.tanh_forward, F.tanh_backward)]:
        out, cache = forward(x)
        assert out.dtype == np.float32
        assert backward(xp.ones_like(out), cache).dtype == np.float32


def test_relu_gradient_is_zero_at_and_below_zero(xp):
    x = xp.asarray([-1.0, 0.0, 2.0])
    _, cache = F.relu_forward(x)
    np.testing.assert_array_equal(to_numpy(F.relu_backward(xp.ones(3), cache)), [0.0, 0.0, 1.0])


def test_activations_refuse_integers_and_bad_dout(xp):
    with pytest.raises(ValueError, match="relu_forward: x must be a float32 or float64 array"):
        F.relu_forward(xp.arange(3))
    _, cache = F.tanh_forward(xp.ones(3))
    with pytest.raises(ValueError, match=r"tanh_backward: dout must have shape \(3,\)"):
        F.tanh_backward(xp.ones(4), cache)


@pytest.mark.parametrize("call, message", [
    (lambda: F.relu_forward([1.0]), "relu_forward: x must be a NumPy or CuPy array, got list"),
    (lambda: F.tanh_forward(2.0), "tanh_forward: x must be a NumPy or CuPy array, got float"),
    (lambda: F.relu_backward([1.0], F.relu_forward(np.ones(1))[1]),
     "relu_backward: dout must be a NumPy or CuPy array, got list"),
    (lambda: F.dropout_forward(3.0), "dropout_forward: x must be a NumPy or CuPy array, got float"),
    (lambda: F.dropout_backward(None, F.dropout_forward(np.ones(2), rng=0)[1]),
     "dropout_backward: dout must be a NumPy or CuPy array, got NoneType"),
    (lambda: F.dropout_forward(np.ones(2), rng="seed"),
     "dropout_forward: rng must be a numpy.random.Generator .*, an int seed or None, got str"),
])
def test_what_is_not_an_array_is_a_type_error_naming_the_op(call, message):
    with pytest.raises(TypeError, match=message):
        call()


# ----- dropout ---------------------------------------------------------------------------------


@pytest.mark.parametrize("inverted", [False, True])
@pytest.mark.parametrize("p", [0.5, 0.2])
def test_dropout_train_matches_formula(xp, rng, p, inverted):
    x = rng.standard_normal((4, 50))
    out, _ = F.dropout_forward(xp.asarray(x), p, train=True, rng=np.random.default_rng(3), inverted=inverted)
    keep = np.random.default_rng(3).random(x.shape, dtype=np.float32) >= p
    scale = 1 / (1 - p) if inverted else 1.0
    for v, k, o in zip(x.ravel(), keep.ravel(), to_numpy(out).ravel()):
        assert o == pytest.approx(v * scale if k else 0.0, rel=1e-15)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])  # not only 0.5, where 1 - p is p
@pytest.mark.parametrize("inverted", [False, True])
def test_dropout_eval_scaling(xp, rng, inverted, p):
    """The paper multiplies by (1 - p) at test time; inverted dropout passes x through."""
    scale = 1.0 if inverted else 1 - p
    x = rng.standard_normal((3, 5))
    out, cache = F.dropout_forward(xp.asarray(x), p, train=False, inverted=inverted)
    np.testing.assert_allclose(to_numpy(out), x * scale, rtol=1e-15)
    np.testing.assert_allclose(to_numpy(F.dropout_backward(xp.ones((3, 5)), cache)), np.full((3, 5), scale))


@pytest.mark.parametrize("inverted", [False, True])
def test_dropout_statistics(xp, inverted):
    """About p of the units are dropped, and train and test outputs agree on average."""
    x = xp.ones((200, 1000))
    out, _ = F.dropout_forward(x, 0.5, train=True, rng=np.random.default_rng(0), inverted=inverted)
    test_out, _ = F.dropout_forward(x, 0.5, train=False, inverted=inverted)
    dropped = float((out == 0).mean())
    assert abs(dropped - 0.5) < 0.01  # 200k Bernoulli draws: std 0.0011
    assert abs(float(out.mean()) - float(test_out.mean())) < 0.01 * float(test_out.mean()) * 2


@pytest.mark.parametrize("shape, p", [((3, 4, 5), 0.5), ((2, 9), 0.2), ((1, 3, 5, 7), 0.8)])
@pytest.mark.parametrize("inverted", [False, True])
def test_dropout_backward_with_fixed_mask(xp, rng, inverted, shape, p):
    x = xp.asarray(rng.standard_normal(shape))
    result = gradcheck.check_layer(
        lambda a: F.dropout_forward(a, p, rng=np.random.default_rng(7), inverted=inverted),
        F.dropout_backward, x,
    )
    assert result.max_error <= 1e-6, result
    _, cache = F.dropout_forward(x, p, rng=np.random.default_rng(7), inverted=inverted)
    dx = to_numpy(F.dropout_backward(xp.ones(x.shape), cache))
    mask = to_numpy(cache[0])
    assert np.all(dx[~mask] == 0) and np.allclose(dx[mask], 1 / (1 - p) if inverted else 1.0)


class _LargestDraw:
    """A generator whose every uniform draw is the largest below 1 in the dtype asked for."""

    def random(self, shape, dtype):
        return np.full(shape, 1 - np.finfo(dtype).eps / 2, dtype=dtype)


@pytest.mark.parametrize("p", [1 - 1e-9, 1 - 2.0 ** -30])
def test_dropout_keeps_units_when_p_is_within_float32_rounding_of_one(p):
    """A keep probability of 1 - p = 1e-9 is not 0: the largest float32 draw, 1 - 2^-24, is
    below such a p (which float32 rounds to 1), so drawing float32 would keep no unit ever."""
    assert F.dropout_mask((4,), p, _LargestDraw()).all()


def test_dropout_seed_reproducible_and_float32(xp):
    x = xp.ones((10, 10), dtype=xp.float32)
    a, _ = F.dropout_forward(x, rng=np.random.default_rng(1))
    b, _ = F.dropout_forward(x, rng=np.random.default_rng(1))
    c, _ = F.dropout_forward(x, rng=np.random.default_rng(2))
    assert a.dtype == np.float32
    assert np.array_equal(to_numpy(a), to_numpy(b)) and not np.array_equal(to_numpy(a), to_numpy(c))


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_dropout_bad_p(xp, p):
    with pytest.raises(ValueError, match=f"dropout_forward: p is the probability.*got {p}"):
        F.dropout_forward(xp.ones(3), p)


@pytest.mark.parametrize("p", ["0.5", None, True])
def test_dropout_p_must_be_a_number(xp, p):
    with pytest.raises(ValueError, match=f"dropout_forward: p must be a real number, got {p!r}"):
        F.dropout_forward(xp.ones(3), p)


def test_dropout_checks_its_flags_and_seed(xp):
    for name in ("train", "inverted"):
        with pytest.raises(ValueError, match=f"dropout_forward: {name} must be True or False, got 'no'"):
            F.dropout_forward(xp.ones(3), 0.5, **{name: "no"})
    assert F.dropout_forward(xp.ones(3), 0.5, train=np.bool_(False))[0].tolist() == [0.5] * 3
    with pytest.raises(ValueError, match="dropout_forward: rng must be an int >= 0, got -1"):
        F.dropout_forward(xp.ones(3), 0.5, rng=-1)


def test_dropout_of_a_0d_array_is_an_array(xp):
    for train in (True, False):
        out, cache = F.dropout_forward(xp.asarray(2.0), 0.5, train=train, rng=0)
        dx = F.dropout_backward(xp.asarray(1.0), cache)
        assert isinstance(out, xp.ndarray) and out.shape == () and isinstance(dx, xp.ndarray)
        assert float(dx) * 2.0 == float(out)


def test_activations_of_a_0d_array(xp):
    """"x: any shape" includes a single number (a 0-d array)."""
    for forward, backward, slope in [(F.relu_forward, F.relu_backward, 1.0),
                                     (F.tanh_forward, F.tanh_backward, 1 - np.tanh(0.5) ** 2)]:
        out, cache = forward(xp.asarray(0.5))
        dx = backward(xp.asarray(2.0), cache)
        assert dx.shape == () and float(dx) == pytest.approx(2.0 * slope, rel=1e-15)


@pytest.mark.parametrize("forward, backward", [(F.relu_forward, F.relu_backward),
                                               (F.tanh_forward, F.tanh_backward)])
def test_activations_in_place_give_the_same_bits(xp, rng, forward, backward):
    x = xp.asarray(rng.standard_normal((4, 3, 5, 5)).astype(np.float32))
    dout = xp.asarray(rng.standard_normal(x.shape).astype(np.float32))
    out, cache = forward(x)
    dx = backward(dout, cache)
    x2, dout2 = x.copy(), dout.copy()
    out2, cache2 = forward(x2, out=x2)
    assert out2 is x2 and cache2 is x2  # the input now holds the output
    dx2 = backward(dout2, cache2, out=dout2)
    assert dx2 is dout2
    np.testing.assert_array_equal(to_numpy(out2), to_numpy(out))
    np.testing.assert_array_equal(to_numpy(dx2), to_numpy(dx))
    given = xp.empty_like(x)  # any array of the right shape and dtype will do
    assert forward(x, out=given)[0] is given
    np.testing.assert_array_equal(to_numpy(given), to_numpy(out))


@pytest.mark.parametrize("forward, backward", [(F.relu_forward, F.relu_backward),
                                               (F.tanh_forward, F.tanh_backward)])
def test_activations_refuse_a_wrong_out(xp, forward, backward):
    x = xp.ones((2, 3), dtype=xp.float32)
    name = forward.__name__
    with pytest.raises(ValueError, match=rf"{name}: out must have shape \(2, 3\), got \(3, 2\)"):
        forward(x, out=xp.empty((3, 2), dtype=xp.float32))
    with pytest.raises(ValueError, match=rf"{name}: out must have dtype float32, got float64"):
        forward(x, out=xp.empty((2, 3)))
    out, cache = forward(x)
    with pytest.raises(ValueError, match=r"out must have shape \(2, 3\), got \(6,\)"):
        backward(out, cache, out=xp.empty(6, dtype=xp.float32))
    if xp is not np:
        with pytest.raises(ValueError, match=rf"{name}: out is a numpy array, but it must be a cupy array"):
            forward(x, out=np.empty((2, 3), dtype=np.float32))


@pytest.mark.parametrize("forward, backward", [(F.relu_forward, F.relu_backward),
                                               (F.tanh_forward, F.tanh_backward)])
def test_activations_refuse_an_out_that_partly_overlaps_an_input(xp, forward, backward):
    """Each thread's part would read what another's writes: x[::-1] came out wrong on two
    threads and right on one. The same view of an input is in place, and fine."""
    name = forward.__name__
    x = xp.linspace(-1, 1, 1 << 16, dtype=xp.float32).reshape(256, 256)
    for view in (x[::-1], x.T, x[:, ::-1]):
        with pytest.raises(ValueError, match=rf"{name}: out overlaps x without being the same view of it"):
            forward(x, out=view)
    flat = x.reshape(-1)
    out, cache = forward(flat[:-1])
    with pytest.raises(ValueError, match="out overlaps dout without being the same view"):
        backward(flat[1:], cache, out=flat[:-1])
    expected = forward(x)[0]
    np.testing.assert_array_equal(to_numpy(forward(x, out=x[:])[0]), to_numpy(expected))  # x[:]: in place
    row = x[:1]  # one row: x[::-1] of it steps back along an axis of length 1, never taken
    expected = forward(row)[0]
    np.testing.assert_array_equal(to_numpy(forward(row, out=row[::-1])[0]), to_numpy(expected))


def test_dropout_takes_an_int_seed_as_the_layer_does(xp, rng):
    """An int seed draws NumPy's generator seeded with it, as ``layers.Dropout`` does, so the
    mask is the same on every device."""
    x = xp.asarray(rng.standard_normal((4, 50)))
    out, _ = F.dropout_forward(x, 0.5, rng=11)
    expected, _ = F.dropout_forward(x, 0.5, rng=np.random.default_rng(11))
    np.testing.assert_array_equal(to_numpy(out), to_numpy(expected))
    assert not np.array_equal(to_numpy(out), to_numpy(F.dropout_forward(x, 0.5, rng=12)[0]))


@pytest.mark.parametrize("op, call", [
    ("relu_forward", lambda x: F.relu_forward(x)),
    ("tanh_forward", lambda x: F.tanh_forward(x)),
    ("dropout_forward", lambda x: F.dropout_forward(x, rng=0)),
    ("conv2d_forward", lambda x: F.conv2d_forward(x, x[:1], x[0, 0, 0, :1])),
    ("conv2d_forward_naive", lambda x: F.conv2d_forward_naive(x, x[:1], x[0, 0, 0, :1])),
    ("maxpool2d_forward", lambda x: F.maxpool2d_forward(x)),
    ("maxpool2d_forward_naive", lambda x: F.maxpool2d_forward_naive(x)),
    ("lrn_forward", lambda x: F.lrn_forward(x)),
    ("linear_forward", lambda x: F.linear_forward(x, x.reshape(2, -1), x[0, 0, 0, :2])),
    ("softmax_cross_entropy", lambda x: F.softmax_cross_entropy(x.reshape(2, -1), np.zeros(2, int))),
])
def test_float16_is_refused(op, call):
    """The ops are written and tested for float32 and float64 (float16 would lose most
    gradients to rounding): any other floating dtype is an error, not a quiet result."""
    x = np.ones((2, 3, 4, 4), dtype=np.float16)
    with pytest.raises(ValueError, match=f"{op}: .* must be a float32 or float64 array, got dtype float16"):
        call(x)
