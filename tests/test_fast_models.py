"""The models' fast paths change no number: a shared Workspace gives the same outputs and
gradients bit for bit as none, so do activations in place, and skipping the first layer's input
gradient leaves every parameter's gradient as it was."""

import numpy as np
import pytest

from tinyalex import functional as F
from tinyalex import layers as L
from tinyalex.backend import to_numpy
from tinyalex.models import AlexNet, Figure1Net

SMALL_ALEXNET = dict(num_classes=6, input_size=67, channels=(4, 8, 8, 8, 8), hidden=8,
                     weight_std="fan_in", dropout=0.0)


def _models(dtype):
    """Pairs of equal models (same seed): Figure-1 (ReLU with LRN, tanh) and a small AlexNet on
    one and on two devices, with the input size each expects."""
    yield (Figure1Net("relu", lrn=True, dtype=dtype, seed=1),
           Figure1Net("relu", lrn=True, dtype=dtype, seed=1), 32)
    yield Figure1Net("tanh", dtype=dtype, seed=2), Figure1Net("tanh", dtype=dtype, seed=2), 32
    for devices in [("cpu",), ("cpu", "cpu")]:
        yield (AlexNet(devices=devices, dtype=dtype, seed=3, **SMALL_ALEXNET),
               AlexNet(devices=devices, dtype=dtype, seed=3, **SMALL_ALEXNET), 67)


def _step(model, x, dlogits):
    out = model.forward(x)
    dx = model.backward(dlogits)
    return [out, dx, *model.grads.values()]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_workspace_changes_no_bit(rng, dtype):
    for fast, plain, size in _models(dtype):
        plain.use_workspace(None)
        workspaces = {id(layer.workspace) for layer in fast.leaves()}
        assert None not in {layer.workspace for layer in fast.leaves()}
        assert len(workspaces) == 1  # one per memory: the CPU devices share the machine's
        for _ in range(2):  # the second step runs on the buffers the first one left
            x = rng.standard_normal((3, 3, size, size)).astype(dtype)
            dlogits = rng.standard_normal((3, 6 if size == 67 else 10)).astype(dtype)
            got, want = _step(fast, x, dlogits), _step(plain, x, dlogits)
            assert got[1] is None and want[1] is None
            for a, b in zip(got[:1] + got[2:], want[:1] + want[2:], strict=True):
                assert a.dtype == dtype
                np.testing.assert_array_equal(to_numpy(a), to_numpy(b))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations_in_place_change_no_bit(rng, dtype):
    for plain, _, size in _models(dtype):
        if isinstance(plain, AlexNet):
            fast = AlexNet(devices=plain.devices, dtype=dtype, seed=3, inplace=True,
                           **SMALL_ALEXNET)
        else:
            fast = Figure1Net(plain.activation, plain.lrn, inplace=True, dtype=dtype,
                              seed=1 if plain.lrn else 2)
        activations = [layer for layer in fast.leaves() if isinstance(layer, (L.ReLU, L.Tanh))]
        assert activations and all(layer.inplace for layer in activations)
        assert not any(getattr(layer, "inplace", False) for layer in plain.leaves())
        for _ in range(2):
            x = rng.standard_normal((3, 3, size, size)).astype(dtype)
            dlogits = rng.standard_normal((3, 6 if size == 67 else 10)).astype(dtype)
            kept = x.copy(), dlogits.copy()
            got, want = _step(fast, x, dlogits), _step(plain, x, dlogits)
            np.testing.assert_array_equal(x, kept[0])  # the model's own inputs stay as they were
            np.testing.assert_array_equal(dlogits, kept[1])
            for a, b in zip(got[:1] + got[2:], want[:1] + want[2:], strict=True):
                np.testing.assert_array_equal(to_numpy(a), to_numpy(b))


def test_an_activation_in_place_overwrites_its_input_and_gradient(rng):
    for layer in (L.ReLU(inplace=True), L.Tanh(inplace=True)):
        x = rng.standard_normal((2, 5))
        dout = rng.standard_normal((2, 5))
        expected_out, cache = (F.relu_forward if isinstance(layer, L.ReLU) else F.tanh_forward)(x)
        out = layer.forward(x)
        assert np.shares_memory(out, x)
        np.testing.assert_array_equal(x, expected_out)
        dx = layer.backward(dout)
        assert np.shares_memory(dx, dout)


@pytest.mark.parametrize("make", [
    lambda **kw: Figure1Net(lrn=True, dtype=np.float64, seed=4, **kw),
    lambda **kw: AlexNet(devices=("cpu", "cpu"), dtype=np.float64, seed=4, **SMALL_ALEXNET, **kw),
])
def test_skipping_the_input_gradient_changes_no_parameter_gradient(rng, make):
    with_dx, without = make(input_grad=True), make()
    size = with_dx.input_shape[1]
    x = rng.standard_normal((2, 3, size, size))
    dlogits = rng.standard_normal(with_dx.forward(x).shape)
    dx = with_dx.backward(dlogits)
    without.forward(x)
    assert without.backward(dlogits) is None and dx.shape == x.shape
    assert with_dx.grads.keys() == without.grads.keys()
    for name, grad in without.grads.items():
        np.testing.assert_array_equal(to_numpy(grad), to_numpy(with_dx.grads[name]), err_msg=name)


def test_conv_layer_without_input_gradient(rng):
    args = dict(rng=np.random.default_rng(0), dtype=np.float64, padding=1)
    full, first = L.Conv2d(3, 4, 3, **args), L.Conv2d(3, 4, 3, input_grad=False, **args)
    first.load_state_dict(full.state_dict())
    x = rng.standard_normal((2, 3, 6, 6))
    dout = rng.standard_normal(full.forward(x).shape)
    first.forward(x)
    assert first.backward(dout) is None and full.backward(dout).shape == x.shape
    for key in ("weight", "bias"):
        np.testing.assert_array_equal(first.grads[key], full.grads[key])
    _, dw, db = F.conv2d_backward(dout, F.conv2d_forward(x, full.params["weight"],
                                                          full.params["bias"], pad=1)[1],
                                  input_grad=False)
    np.testing.assert_array_equal(dw, full.grads["weight"])


def test_none_passes_through_layers_without_parameters_only(rng):
    net = L.Sequential({"conv": L.Conv2d(2, 2, 1, rng=0, input_grad=False, dtype=np.float64),
                        "relu": L.ReLU(), "flatten": L.Flatten()})
    out = net.forward(rng.standard_normal((2, 2, 3, 3)))
    assert net.backward(np.ones_like(out)) is None
    relu = L.ReLU()
    relu.forward(np.ones(3))
    assert relu.backward(None) is None
    with pytest.raises(RuntimeError, match="backward without a forward"):
        relu.backward(None)  # the cache is gone: one backward per forward, None or not
    linear = L.Linear(4, 3, rng=0, name="fc")
    linear.forward(np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match="fc: backward got no gradient .* input_grad=False"):
        linear.backward(None)
