"""Layers: each computes its functional op, keeps params and grads with the same keys in
PyTorch's layouts, initialises from a seeded generator, overwrites its gradients, refuses arrays
from another device, and passes a float64 gradient check; Sequential composes them."""

import functools
import re

import numpy as np
import pytest

from model_checks import DEVICES, check_gradients
from tinyalex import functional as F
from tinyalex import layers as L
from tinyalex.backend import Device, HostArray, device_of, place, to_device, to_numpy
from tinyalex.models import Figure1Net


def _array(rng, shape, device, dtype=np.float64):
    return to_device(rng.standard_normal(shape).astype(dtype), device)


def _conv(device="cpu", **kwargs):
    args = dict(rng=np.random.default_rng(5), weight_std=1.0, bias=0.5, dtype=np.float64, device=device)
    return L.Conv2d(4, 6, (3, 5), stride=2, padding=(1, 2), groups=2, **{**args, **kwargs})


def _linear(device="cpu", **kwargs):
    args = dict(rng=np.random.default_rng(5), weight_std=1.0, bias=-0.25, dtype=np.float64,
                device=device)
    return L.Linear(12, 5, **{**args, **kwargs})


# ----- the numbers: the functional op, and finite differences ---------------------------------


def _same_numbers(got, want, device):
    """Bit for bit on a CPU device, where the layer calls the very op it is compared with; to
    float64 rounding on a GPU, whose products, sums and tanh round differently from NumPy's."""
    if Device(device).kind == "cpu":
        np.testing.assert_array_equal(to_numpy(got), want)
    else:
        np.testing.assert_allclose(to_numpy(got), want, rtol=1e-12, atol=1e-12)


WITH_PARAMETERS = [
    (_conv, (2, 4, 7, 8), lambda x, w, b: F.conv2d_forward(x, w, b, stride=2, pad=(1, 2), groups=2),
     F.conv2d_backward),
    (_linear, (3, 2, 2, 3), F.linear_forward, F.linear_backward),  # flattened to 12 features
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("make, x_shape, forward, backward", WITH_PARAMETERS)
def test_layers_with_parameters_are_their_functional_ops(rng, device, make, x_shape, forward, backward):
    layer = make(device)
    x = _array(rng, x_shape, device)
    out = layer.forward(x)
    w, b = (to_numpy(layer.params[key]) for key in ("weight", "bias"))
    expected, cache = forward(to_numpy(x), w, b)
    _same_numbers(out, expected, device)
    dout = rng.standard_normal(expected.shape)
    dx = layer.backward(to_device(dout, device))
    for got, want in zip((dx, layer.grads["weight"], layer.grads["bias"]), backward(dout, cache)):
        _same_numbers(got, want, device)
    errors = check_gradients(layer, x, rng)
    assert set(errors) == {"input", "weight", "bias"} and max(errors.values()) <= 1e-6, errors


def _distinct(rng, shape, device):
    """Distinct values in (-2, 2), none within 1e-3 of another or of 0: no pooling ties, no
    ReLU kinks within reach of the finite differences, no saturated tanh."""
    n = int(np.prod(shape))
    values = (rng.permutation(n) - (n - 1) / 2) * (4 / n)
    return to_device(values.reshape(shape), device)


PARAMETER_FREE = [
    (lambda d: L.ReLU(device=d), F.relu_forward),
    (lambda d: L.Tanh(device=d), F.tanh_forward),
    (lambda d: L.MaxPool2d(3, 2, device=d), lambda x: F.maxpool2d_forward(x, 3, 2)),
    (lambda d: L.MaxPool2d(2, 2, device=d), lambda x: F.maxpool2d_forward(x, 2, 2)),
    (lambda d: L.LRN(alpha=1.0, device=d), lambda x: F.lrn_forward(x, alpha=1.0)),
    (lambda d: L.Flatten(device=d), lambda x: (x.reshape(x.shape[0], -1), None)),
    (lambda d: L.Dropout(0.5, rng=3, device=d).eval(), lambda x: F.dropout_forward(x, train=False)),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("make, op", PARAMETER_FREE)
def test_parameter_free_layers(rng, device, make, op):
    layer = make(device)
    x = _distinct(rng, (2, 6, 7, 7), device)
    _same_numbers(layer.forward(x), op(to_numpy(x))[0], device)
    assert layer.params == {} and layer.grads == {}
    errors = check_gradients(layer, x, rng)
    assert max(errors.values()) <= 1e-6, errors


def test_lrn_groups_normalize_each_block_separately(rng):
    """groups=2 is two LRNs side by side: channel 2 does not see channel 3, unlike groups=1."""
    x = rng.standard_normal((2, 6, 4, 4))
    grouped = L.LRN(alpha=1.0, groups=2).forward(x)
    halves = [F.lrn_forward(x[:, i : i + 3], alpha=1.0)[0] for i in (0, 3)]
    np.testing.assert_array_equal(np.asarray(grouped), np.concatenate(halves, axis=1))
    assert not np.allclose(np.asarray(grouped), np.asarray(L.LRN(alpha=1.0).forward(x)))
    errors = check_gradients(L.LRN(alpha=1.0, groups=2), x, rng)
    assert max(errors.values()) <= 1e-6, errors
    with pytest.raises(ValueError, match="lrn: 6 channels cannot be split into groups=4"):
        L.LRN(groups=4, name="lrn").forward(x)


def test_dropout_masks_come_from_the_layers_generator(rng):
    x = rng.standard_normal((4, 50))
    layer = L.Dropout(0.5, rng=np.random.default_rng(11))
    first, second = np.asarray(layer.forward(x)), np.asarray(layer.forward(x))
    assert not np.array_equal(first, second)  # a fresh mask on every forward
    np.testing.assert_array_equal(first, F.dropout_forward(x, 0.5, rng=np.random.default_rng(11))[0])
    np.testing.assert_array_equal(first, np.asarray(L.Dropout(0.5, rng=11).forward(x)))  # int seed
    np.testing.assert_array_equal(np.asarray(layer.eval().forward(x)), x * 0.5)  # paper: scale by 1 - p
    np.testing.assert_array_equal(np.asarray(L.Dropout(0.5, rng=0, inverted=True).eval().forward(x)), x)
    train = L.Dropout(0.5, rng=0)

    def same_mask():
        train.rng = np.random.default_rng(2)

    errors = check_gradients(train, x, rng, prepare=same_mask)
    assert max(errors.values()) <= 1e-6, errors


# ----- parameters: layout, initialisation, gradients ------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_initialisation_is_seeded_and_explicit(dtype):
    conv = L.Conv2d(6, 8, 5, groups=2, rng=np.random.default_rng(9), weight_std=0.01, bias=1.0,
                    dtype=dtype)
    expected = np.random.default_rng(9).standard_normal((8, 3, 5, 5), dtype=dtype) * dtype(0.01)
    np.testing.assert_array_equal(np.asarray(conv.params["weight"]), expected)
    np.testing.assert_array_equal(np.asarray(conv.params["bias"]), np.ones(8, dtype))
    fc = L.Linear(20, 3, rng=4, weight_std="fan_in", dtype=dtype)
    expected = np.random.default_rng(4).standard_normal((3, 20), dtype=dtype) * dtype(1 / np.sqrt(20))
    np.testing.assert_array_equal(np.asarray(fc.params["weight"]), expected)
    np.testing.assert_array_equal(np.asarray(fc.params["bias"]), np.zeros(3, dtype))
    for layer in (conv, fc):
        assert set(layer.params) == set(layer.grads) == {"weight", "bias"}
        for key in ("weight", "bias"):
            assert layer.params[key].dtype == layer.grads[key].dtype == dtype
            assert layer.grads[key].shape == layer.params[key].shape and not layer.grads[key].any()
    other = L.Conv2d(6, 8, 5, groups=2, rng=np.random.default_rng(10), dtype=dtype)
    assert not np.array_equal(np.asarray(other.params["weight"]), np.asarray(conv.params["weight"]))


@pytest.mark.parametrize("device", DEVICES)
def test_arrays_live_on_the_layers_device(rng, device):
    layer = _conv(device)
    out = layer.forward(_array(rng, (2, 4, 7, 8), device))
    dx = layer.backward(to_device(np.ones(out.shape), device))
    everything = [out, dx, *layer.params.values(), *layer.grads.values()]
    assert all(device_of(a) == Device(device) for a in everything)


def test_backward_overwrites_gradients(rng):
    """A step never sees the previous step's gradients: no accumulation, nothing to zero."""
    layer, fresh = _conv(), _conv()
    x1, x2 = rng.standard_normal((2, 2, 4, 7, 8))
    for x in (x1, x2):
        out = layer.forward(x)
        layer.backward(np.ones_like(out))
    out = fresh.forward(x2)
    fresh.backward(np.ones_like(out))
    for key in ("weight", "bias"):
        np.testing.assert_array_equal(np.asarray(layer.grads[key]), np.asarray(fresh.grads[key]))


@pytest.mark.parametrize("make, shape", [(_conv, (2, 4, 7, 8)), (_linear, (3, 12))])
def test_linear_writes_its_gradients_into_the_same_arrays(rng, make, shape):
    """A Linear layer keeps its gradient arrays and each backward writes the new gradients
    into them; a Conv2d layer stores new ones. A bad dout, refused, changes no gradient."""
    layer = make()
    arrays = dict(layer.grads)
    for _ in range(2):
        x = rng.standard_normal(shape)
        out = layer.forward(x)
        dout = rng.standard_normal(out.shape)
        layer.backward(dout)
        _, dw, db = (F.linear_backward if make is _linear else F.conv2d_backward)(
            dout, (F.linear_forward(x, *layer.params.values()) if make is _linear else
                   F.conv2d_forward(x, *layer.params.values(), 2, (1, 2), 2))[1])
        assert all((layer.grads[key] is arrays[key]) == (make is _linear) for key in arrays)
        np.testing.assert_allclose(np.asarray(layer.grads["weight"]), dw, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(np.asarray(layer.grads["bias"]), db, rtol=1e-12, atol=1e-12)
    arrays = dict(layer.grads)
    kept = {key: np.array(a) for key, a in arrays.items()}
    layer.forward(x)
    with pytest.raises(ValueError, match="dout"):
        layer.backward(np.ones(out.shape, np.float32))
    for key, a in arrays.items():
        assert layer.grads[key] is a
        np.testing.assert_array_equal(np.asarray(a), kept[key])


def test_two_consumers_add_their_gradients(rng):
    """One array feeding two layers: its gradient is the explicit sum of what each sends back."""
    x = rng.standard_normal((3, 12))
    first, second = _linear(), _linear(rng=np.random.default_rng(6))
    d1, d2 = rng.standard_normal((2, 3, 5))
    first.forward(x)
    second.forward(x)
    dx = first.backward(d1) + second.backward(d2)

    class Both(L.Module):  # the two consumers as one module, for the gradient check
        def children(self):
            return [("first", first), ("second", second)]

        def forward(self, x):
            return np.concatenate([first.forward(x), second.forward(x)], axis=1)

        def backward(self, dout):
            return first.backward(dout[:, :5]) + second.backward(dout[:, 5:])

    both = Both()
    both.forward(x)
    dx_both = both.backward(np.concatenate([d1, d2], axis=1))
    np.testing.assert_allclose(np.asarray(dx_both), dx, rtol=1e-15)
    errors = check_gradients(both, x, rng)
    assert errors.keys() == {"input", "first.weight", "first.bias", "second.weight", "second.bias"}
    assert max(errors.values()) <= 1e-6, errors


# ----- errors ---------------------------------------------------------------------------------


def test_input_from_another_device_is_refused(rng):
    layer = _conv("cpu:1", name="tower1.conv3")
    x = rng.standard_normal((2, 4, 7, 8))  # a plain NumPy array lives on cpu:0
    with pytest.raises(ValueError, match=r"tower1\.conv3: input is on cpu:0, but the layer lives on cpu:1"):
        layer.forward(x)
    out = layer.forward(place(x, "cpu:1"))
    with pytest.raises(ValueError, match=r"tower1\.conv3: dout is on cpu:0, but the layer lives on cpu:1"):
        layer.backward(np.ones(out.shape))


def test_errors_name_the_layer():
    layer = _conv(name="conv2")
    with pytest.raises(ValueError, match=r"conv2: conv2d_forward: .*x has C=2 channels"):
        layer.forward(np.ones((1, 2, 7, 8)))
    with pytest.raises(ValueError, match=r"conv2: conv2d_forward: .*float64.*float32"):
        layer.forward(np.ones((1, 4, 7, 8), np.float32))
    with pytest.raises(TypeError, match=r"conv2: conv2d_forward: x must be a NumPy or CuPy array, got list"):
        layer.forward([[1.0]])
    with pytest.raises(RuntimeError, match="conv2: backward without a forward"):
        layer.backward(np.ones((1, 6, 4, 4)))
    out = layer.forward(np.ones((1, 4, 7, 8)))
    layer.backward(np.ones_like(out))
    with pytest.raises(RuntimeError, match="one backward per forward"):
        layer.backward(np.ones_like(out))
    with pytest.raises(ValueError, match=r"flat: Flatten.forward: x must be \(N, \.\.\.\), at least 2-D"):
        L.Flatten(name="flat").forward(np.ones(3))


@pytest.mark.parametrize("groups", [1, 2])
def test_lrn_checks_dout_before_regrouping_it(groups):
    """With groups, the layer reshapes dout before lrn_backward sees it: a dout of another
    shape with as many elements (the grouped shape, say) must be refused, not scrambled."""
    layer = L.LRN(groups=groups, name="lrn1")
    layer.forward(np.zeros((2, 8, 3, 3), np.float32))
    for shape in [(1, 16, 3, 3), (4, 4, 3, 3), (2, 8, 9), (1, 15, 3, 3)]:
        message = r"lrn1: lrn_backward: dout must have shape \(2, 8, 3, 3\), got " + re.escape(str(shape))
        with pytest.raises(ValueError, match=message):
            layer.backward(np.ones(shape, np.float32))
    with pytest.raises(ValueError, match="lrn1: lrn_backward: dout must have dtype float32, got float64"):
        layer.backward(np.ones((2, 8, 3, 3)))


def test_flatten_checks_dout():
    layer = L.Flatten(name="flat")
    layer.forward(np.zeros((2, 8, 3, 3), np.float32))
    message = r"flat: Flatten.backward: dout must have shape \(2, 72\), got \(1, 144\)"
    with pytest.raises(ValueError, match=message):
        layer.backward(np.ones((1, 144), np.float32))
    with pytest.raises(ValueError, match="flat: Flatten.backward: dout must have dtype float32, got float64"):
        layer.backward(np.ones((2, 72)))
    assert layer.backward(np.ones((2, 72), np.float32)).shape == (2, 8, 3, 3)


@pytest.mark.parametrize("make, message", [
    (lambda: L.Conv2d(3, 8, 3, groups=2, rng=0), "divisible by groups=2"),
    (lambda: L.Conv2d(0, 8, 3, rng=0), "in_channels must be a positive int"),
    (lambda: L.Conv2d(3, 8, 3, stride=0, rng=0), "stride must be an int >= 1"),
    (lambda: L.Conv2d(3, 8, 3, rng=0, weight_std=-1.0), "weight_std must be a number >= 0 or 'fan_in'"),
    (lambda: L.Linear(3, 8, rng=0, weight_std="he"), "weight_std must be a number >= 0 or 'fan_in'"),
    (lambda: L.Linear(3, 8, rng=0, dtype=np.int32), "dtype must be float32 or float64"),
    (lambda: L.Dropout(1.0, rng=0), r"p is the probability of dropping a unit, in \[0, 1\), got 1.0"),
    (lambda: L.Dropout("0.5", rng=0), r"Dropout: p must be a real number, got '0.5'"),
    (lambda: L.Dropout(True, rng=0), r"Dropout: p must be a real number, got True"),
    (lambda: L.Dropout(float("nan"), rng=0), r"Dropout: p is the probability of dropping a unit"),
    (lambda: L.MaxPool2d(0), "kernel_size must be a positive int"),
    (lambda: L.Linear(3, 8, rng=0, weight_std=float("nan")), "weight_std must be a number >= 0 or 'fan_in', got nan"),
    (lambda: L.Linear(3, 8, rng=0, weight_std=float("inf")),
     "Linear: weight_std=inf gives weight values that are not finite in float32"),
    (lambda: L.Conv2d(3, 8, 3, rng=0, weight_std=1e300),
     r"Conv2d: weight_std=1e\+300 gives weight values that are not finite in float32 \(largest finite: 3.403e\+38\)"),
    (lambda: L.Linear(3, 8, rng=0, bias=float("nan")), "Linear: bias=nan gives bias values that are not finite in float32"),
    (lambda: L.Linear(3, 8, rng=0, bias=-float("inf"), dtype=np.float64),
     "Linear: bias=-inf gives bias values that are not finite in float64"),
    (lambda: L.Linear(3, 8, rng=0, bias=1e300), r"Linear: bias=1e\+300 gives bias values that are not finite in float32"),
    (lambda: L.Linear(3, 8, rng=0, bias="1"), "Linear: bias must be a number, got '1'"),
    (lambda: L.Linear(3, 8, rng=0, bias=True), "Linear: bias must be a number, got True"),
    (lambda: L.Linear(3, 8, rng=-1), "Linear: rng must be an int >= 0, got -1"),
    (lambda: L.Conv2d(3, 8, 3, rng=-2), "Conv2d: rng must be an int >= 0, got -2"),
    (lambda: L.Dropout(rng=-1), "Dropout: rng must be an int >= 0, got -1"),
    (lambda: L.ReLU(inplace="no"), "ReLU: inplace must be True or False, got 'no'"),
    (lambda: L.Conv2d(3, 8, 3, rng=0, input_grad=None), "Conv2d: input_grad must be True or False"),
    (lambda: L.Linear(3, 8, rng=0).train("no"), "Linear: mode must be True or False, got 'no'"),
])
def test_bad_constructor_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_initial_values_only_need_to_be_finite_in_the_layers_dtype():
    """1e300 overflows float32 (refused above) but not float64; weight_std=0 is all zeros."""
    wide = L.Linear(3, 8, rng=0, weight_std=1e300, bias=-1e300, dtype=np.float64)
    assert all(np.isfinite(np.asarray(p)).all() for p in wide.params.values())
    assert not np.asarray(L.Linear(3, 8, rng=0, weight_std=0).params["weight"]).any()


def test_output_shapes_and_their_errors():
    assert _conv().output_shape((4, 7, 8)) == (6, 4, 4)
    assert L.MaxPool2d().output_shape((5, 13, 13)) == (5, 6, 6)
    assert L.Flatten().output_shape((5, 6, 6)) == (180,)
    assert _linear().output_shape((3, 2, 2)) == (5,)
    with pytest.raises(ValueError, match="Conv2d: expects 4 input channels"):
        _conv().output_shape((3, 7, 8))
    with pytest.raises(ValueError, match="MaxPool2d: window 3x3 is larger than the input"):
        L.MaxPool2d().output_shape((3, 2, 2))
    with pytest.raises(ValueError, match="Linear: an input of shape .* has 9 features, expected 12"):
        _linear().output_shape((1, 3, 3))


# ----- Sequential -----------------------------------------------------------------------------


def _chain(device="cpu", seed=0):
    rng = np.random.default_rng(seed)
    kw = dict(rng=rng, weight_std="fan_in", dtype=np.float64, device=device)
    return L.Sequential({
        "conv": L.Conv2d(2, 4, 3, padding=1, **kw), "relu": L.ReLU(device=device),
        "pool": L.MaxPool2d(device=device), "drop": L.Dropout(0.5, rng=1, device=device),
        "fc": L.Linear(36, 3, **kw),
    }, input_shape=(2, 7, 7))


def test_sequential_chains_names_and_gradchecks(rng):
    model = _chain()
    assert list(model.params) == list(model.grads) == ["conv.weight", "conv.bias", "fc.weight", "fc.bias"]
    assert [layer.name for layer in model.layers.values()] == ["conv", "relu", "pool", "drop", "fc"]
    x = rng.standard_normal((2, 2, 7, 7))
    manual = x
    model.eval()
    for layer in model.layers.values():
        manual = layer.forward(manual)
    np.testing.assert_array_equal(np.asarray(model.forward(x)), np.asarray(manual))
    errors = check_gradients(model, x, rng)
    assert max(errors.values()) <= 1e-6, errors
    assert list(L.Sequential([L.ReLU(), L.Flatten()]).layers) == ["0", "1"]
    nested = L.Sequential({"block": L.Sequential({"fc": _linear()})}, name="tower1")
    assert nested.layers["block"].layers["fc"].name == "tower1.block.fc"
    assert list(nested.params) == ["block.fc.weight", "block.fc.bias"]
    assert [layer.name for layer in nested.leaves()] == ["tower1.block.fc"]
    assert [layer.name for layer in _chain().leaves()] == list(_chain().layers)


def test_train_and_eval_reach_every_layer():
    model = _chain()
    assert model.eval() is model and not any(layer.training for layer in model.layers.values())
    assert model.train() is model and all(layer.training for layer in model.layers.values())


def test_sequential_refuses_mixed_devices_and_wrong_inputs():
    with pytest.raises(ValueError, match=r"one device, got \['cpu:0', 'cpu:1'\]"):
        L.Sequential([L.ReLU(), L.ReLU(device="cpu:1")])
    with pytest.raises(ValueError, match=r"Sequential: expected input of shape \(N, 2, 7, 7\), got \(1, 2, 8, 8\)"):
        _chain().forward(np.ones((1, 2, 8, 8)))
    with pytest.raises(ValueError, match="give the input shape"):
        L.Sequential([L.ReLU()]).summary()


@pytest.mark.parametrize("key", ["a.b", "", 1])
def test_sequential_refuses_names_that_could_collide(key):
    """With a '.' (or no name at all) a layer could claim a name a nested one has:
    {"a": {"b": fc}, "a.b": fc} once reported 6 parameters of 12, one layer hidden."""
    layers = {"a": L.Sequential({"b": _linear()}), key: _linear()}
    message = f"Sequential 'net': layer names must be non-empty strings without '.' .*got {key!r}"
    with pytest.raises(ValueError, match=message):
        L.Sequential(layers, name="net")


def test_two_parameters_with_one_name_are_refused():
    """A module whose children share a prefix would let one parameter hide the other."""

    class Twins(L.Module):
        def children(self):
            return [("fc", _linear()), ("fc", _linear())]

    for attribute in ("params", "grads"):
        with pytest.raises(ValueError, match="Twins: two parameters are named 'fc.weight'"):
            getattr(Twins(), attribute)


def test_summary_lists_every_layer():
    summary = _chain("cpu:1").summary()
    assert [row[0] for row in summary.rows] == ["conv", "relu", "pool", "drop", "fc"]
    assert summary.rows[2] == ("pool", "cpu:1", (4, 3, 3), 0)
    assert summary.rows[0][3] == 4 * 2 * 9 + 4
    assert summary.total_params == _chain().num_params == 76 + 111
    assert "fc" in str(summary) and "187" in str(summary)


def test_summary_of_an_input_the_model_cannot_take_names_the_model_and_layer():
    layout = r"expects one image of shape \(C, H, W\), without the batch axis"
    with pytest.raises(ValueError, match=rf"^Figure1Net.summary: conv1: {layout}, got \(3, 16\)$"):
        Figure1Net().summary((3, 16))
    with pytest.raises(ValueError, match=rf"^Sequential.summary: conv: {layout}, got \(1, 2, 7, 7\)$"):
        _chain().summary((1, 2, 7, 7))
    with pytest.raises(ValueError, match=r"^Sequential.summary: pool: .*" + layout):
        L.Sequential({"pool": L.MaxPool2d()}).summary((8, 8))
    with pytest.raises(ValueError, match=r"^Figure1Net.summary: fc: an input of shape \(64, 1, 1\) has 64 features, expected 576$"):
        Figure1Net().summary((3, 16, 16))


@pytest.mark.parametrize("device", DEVICES)
def test_state_dict_round_trip(device):
    model, other = _chain(device, seed=0), _chain(device, seed=1)
    state = model.state_dict()
    assert all(type(v) is np.ndarray for v in state.values())  # plain host arrays, for savez
    arrays = dict(other.params)
    other.load_state_dict(state)
    for name, array in other.params.items():
        assert array is arrays[name]  # copied in place: an optimizer holding them keeps working
        assert device_of(array) == Device(device)
        np.testing.assert_array_equal(to_numpy(array), state[name])
    state["fc.bias"][0] += 1.0  # a snapshot: changing it does not change the model
    assert to_numpy(model.params["fc.bias"])[0] != state["fc.bias"][0]


def test_load_state_dict_checks_names_shapes_and_dtypes():
    model = _chain()
    before = model.state_dict()
    good = model.state_dict()
    bad = [
        ({k: v for k, v in good.items() if k != "fc.bias"},
         r"names do not match: missing \['fc.bias'\], unexpected \[\]"),
        ({**good, "fc.scale": np.ones(3)}, r"names do not match: missing \[\], unexpected \['fc.scale'\]"),
        ({**good, "fc.bias": np.zeros(4)}, r"fc.bias must have shape \(3,\), got \(4,\)"),
        ({**good, "conv.weight": good["conv.weight"].astype(np.float32)},
         "conv.weight must have dtype float64, got float32"),
    ]
    for state, message in bad:
        state["conv.bias"] = good["conv.bias"] + 1  # would change the model if loaded
        with pytest.raises(ValueError, match="Sequential.load_state_dict: " + message):
            model.load_state_dict(state)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])  # a failed load changes nothing
    with pytest.raises(TypeError, match="Sequential.load_state_dict: fc.bias must be a NumPy or CuPy array, got list"):
        model.load_state_dict({**good, "fc.bias": [0.0, 0.0, 0.0]})


def test_host_array_inputs_are_unwrapped():
    """The functional ops get plain arrays; only the layer's results carry the device tag."""
    seen = []
    layer = L.ReLU(device="cpu:1")
    layer._forward = lambda x: (seen.append(type(x)), F.relu_forward(x))[1]
    out = layer.forward(place(np.ones((2, 3)), "cpu:1"))
    assert seen == [np.ndarray] and isinstance(out, HostArray)


# ----- an empty batch -------------------------------------------------------------------------


def _conv_ops(algorithm, workspace=False, **kwargs):
    """The fast convolution with ``algorithm`` and the readable one, both with ``kwargs``."""
    fast = functools.partial(F.conv2d_forward, algorithm=algorithm,
                             workspace=F.Workspace() if workspace else None, **kwargs)
    readable = functools.partial(F.conv2d_forward_naive, **kwargs)
    return fast, F.conv2d_backward, readable, F.conv2d_backward_naive


CONV_SHAPES = [(0, 4, 7, 7), (6, 2, 3, 3), (6,)]
EMPTY_BATCH = {  # op: forward, backward, the readable forward and backward (or None), array shapes
    "conv im2col, stride 2": (*_conv_ops("im2col", stride=2, pad=1, groups=2), CONV_SHAPES),
    "conv im2col, first layer": (*_conv_ops("im2col", workspace=True, pad=2),
                                 [(0, 3, 8, 8), (4, 3, 5, 5), (4,)]),
    "conv rows": (*_conv_ops("rows", pad=1, groups=2), CONV_SHAPES),
    "conv rows, workspace": (*_conv_ops("rows", workspace=True, pad=1, groups=2), CONV_SHAPES),
    "conv fourier": (*_conv_ops("fourier", pad=1, groups=2), CONV_SHAPES),
    "conv fourier, workspace": (*_conv_ops("fourier", workspace=True, pad=1, groups=2),
                                CONV_SHAPES),
    "conv gather, stride 1": (*_conv_ops("gather", pad=1, groups=2), CONV_SHAPES),
    "conv gather, stride 2": (*_conv_ops("gather", stride=2, groups=2), CONV_SHAPES),
    "maxpool": (F.maxpool2d_forward, F.maxpool2d_backward, F.maxpool2d_forward_naive,
                F.maxpool2d_backward_naive, [(0, 3, 7, 7)]),
    "lrn": (F.lrn_forward, F.lrn_backward, None, None, [(0, 6, 3, 3)]),
    "relu": (F.relu_forward, F.relu_backward, None, None, [(0, 5)]),
    "tanh": (F.tanh_forward, F.tanh_backward, None, None, [(0, 5)]),
    "dropout": (functools.partial(F.dropout_forward, rng=0), F.dropout_backward, None, None, [(0, 5)]),
    "linear": (F.linear_forward, F.linear_backward, None, None, [(0, 2, 3, 3), (4, 18), (4,)]),
}


def _as_tuple(grads):
    return grads if isinstance(grads, tuple) else (grads,)


@pytest.mark.parametrize("op", EMPTY_BATCH)
def test_every_op_takes_an_empty_batch(xp, rng, op):
    """N = 0: an empty output shaped as for a batch of one image, an empty input gradient, zero
    parameter gradients; the same results as the readable version, where there is one."""
    forward, backward, readable_forward, readable_backward, shapes = EMPTY_BATCH[op]
    arrays = [xp.asarray(rng.standard_normal(shape).astype(np.float32)) for shape in shapes]
    one_image = xp.ones((1, *shapes[0][1:]), dtype=np.float32)
    out, cache = forward(*arrays)
    assert out.shape == (0, *forward(one_image, *arrays[1:])[0].shape[1:])
    assert out.dtype == np.float32
    dout = xp.ones(out.shape, dtype=np.float32)
    grads = _as_tuple(backward(dout, cache))
    for grad, array in zip(grads, arrays, strict=True):
        assert grad.shape == array.shape and grad.dtype == np.float32
    for grad in grads[1:]:
        np.testing.assert_array_equal(to_numpy(grad), np.zeros(grad.shape))
    if readable_forward is not None:
        readable_out, readable_cache = readable_forward(*arrays)
        readable_grads = _as_tuple(readable_backward(dout, readable_cache))
        for got, want in zip((out, *grads), (readable_out, *readable_grads), strict=True):
            assert got.shape == want.shape and got.dtype == want.dtype
            np.testing.assert_array_equal(to_numpy(got), to_numpy(want))


@pytest.mark.parametrize("device", DEVICES)
def test_models_take_an_empty_batch(rng, device):
    """Figure1Net (im2col and rows convolutions, pooling, LRN, the fully-connected layer, in a
    workspace) and a chain with a grouped LRN, Flatten and dropout: after a step on one image,
    a step on none gives an empty output and input gradient, and zero parameter gradients."""
    figure1 = Figure1Net(lrn=True, input_grad=True, device=device)
    chain = L.Sequential([L.LRN(groups=2, device=device), L.Flatten(device=device),
                          L.Dropout(rng=0, device=device),
                          L.Linear(36, 5, rng=0, device=device)])
    for model, image_shape, classes in [(figure1, (3, 32, 32), 10), (chain, (4, 3, 3), 5)]:
        for n in (1, 0):
            x = to_device(rng.standard_normal((n, *image_shape)).astype(np.float32), device)
            out = model.forward(x)
            dout = to_device(np.ones(out.shape, np.float32), device)
            assert model.backward(dout).shape == x.shape
        assert out.shape == (0, classes)
        for name, grad in model.grads.items():
            np.testing.assert_array_equal(to_numpy(grad), np.zeros(grad.shape), err_msg=name)


def test_repr_and_architecture_show_what_each_layer_computes():
    rng = np.random.default_rng(0)
    assert repr(L.Conv2d(3, 8, 5, padding=2, rng=rng)) == (
        "Conv2d(in_channels=3, out_channels=8, kernel_size=(5, 5), stride=(1, 1), "
        "padding=(2, 2), groups=1)")
    assert repr(L.Linear(4, 2, rng=rng)) == "Linear(in_features=4, out_features=2)"
    assert repr(L.Dropout(0.3, rng=0)) == "Dropout(p=0.3, inverted=False)"
    assert repr(L.MaxPool2d()) == "MaxPool2d(kernel_size=3, stride=2)"
    assert repr(L.ReLU(inplace=True)) == "ReLU()"  # in place or not, the same function
    relu, tanh = Figure1Net("relu").architecture(), Figure1Net("tanh", lrn=True).architecture()
    assert relu[:3] == ["conv1: Conv2d(in_channels=3, out_channels=32, kernel_size=(5, 5), "
                        "stride=(1, 1), padding=(2, 2), groups=1)", "relu1: ReLU()",
                        "pool1: MaxPool2d(kernel_size=3, stride=2)"]
    assert "lrn1: LRN(n=5, k=2.0, alpha=0.0001, beta=0.75, groups=1)" in tanh
    assert len(tanh) == len(relu) + 2


@pytest.mark.parametrize("kwargs, message", [
    ({"n": -1}, "lrn: n must be a positive int, got -1"),
    ({"n": 4}, "lrn: n must be odd"),
    ({"beta": "x"}, "lrn: beta must be a real number, got 'x'"),
    ({"k": 0}, "lrn: k must be finite and > 0"),
])
def test_lrn_checks_its_constants_when_built(kwargs, message):
    """As every other layer does: not at the first forward pass, and not into architecture()."""
    with pytest.raises(ValueError, match=message):
        L.LRN(name="lrn", **kwargs)


def test_summary_refuses_what_lrn_refuses():
    model = L.Sequential({"lrn": L.LRN(groups=2), "flat": L.Flatten()})
    with pytest.raises(ValueError, match="lrn: 3 channels cannot be split into groups=2"):
        model.summary((3, 4, 4))
    with pytest.raises(ValueError, match="lrn: expects one image of shape"):
        model.summary((4, 4))
    assert model.summary((4, 4, 4)).total_params == 0


def test_repr_does_not_depend_on_how_a_number_was_typed():
    """architecture() goes into checkpoints and is compared as text: 2 and 2.0, or 0.5 and
    numpy.float64(0.5), are the same layer."""
    assert repr(L.LRN(k=2, alpha=np.float64(1e-4), beta=np.float64(0.75))) == repr(L.LRN())
    assert repr(L.Dropout(np.float64(0.5), rng=0)) == repr(L.Dropout(0.5, rng=0)) == \
        "Dropout(p=0.5, inverted=False)"


def test_dropout_layer_checks_inverted():
    """bool("no") is True: the layer refuses it as dropout_forward does."""
    with pytest.raises(ValueError, match="drop: inverted must be True or False, got 'no'"):
        L.Dropout(0.5, rng=0, inverted="no", name="drop")
