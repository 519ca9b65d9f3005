"""The Figure-1 network: its layers and sizes on Fashion-MNIST and CIFAR-10 images, its
initialisation, its smallest input and its argument checks, and a whole-network gradient check
for both activations."""

import re

import numpy as np
import pytest

from model_checks import DEVICES, check_gradients
from tinyalex import functional as F
from tinyalex.backend import Device, device_of, to_device, to_numpy
from tinyalex.layers import LRN, ReLU, Tanh
from tinyalex.models import Figure1Net
from tinyalex.optim import SGD


@pytest.mark.parametrize("in_channels, size, sizes, features", [
    (1, 28, (13, 6, 2), 64 * 2 * 2),  # Fashion-MNIST
    (3, 32, (15, 7, 3), 64 * 3 * 3),  # CIFAR-10
])
def test_shapes(rng, in_channels, size, sizes, features):
    model = Figure1Net(in_channels=in_channels, input_size=size)
    rows = {name: shape for name, _, shape, _ in model.summary().rows}
    assert [rows[f"pool{i}"] for i in (1, 2, 3)] == [(c, s, s) for c, s in zip((32, 32, 64), sizes)]
    assert [rows[f"conv{i}"][1] for i in (1, 2, 3)] == [size, sizes[0], sizes[1]]  # pad 2 keeps the size
    assert model.params["fc.weight"].shape == (10, features)
    assert model.params["conv1.weight"].shape == (32, in_channels, 5, 5)
    out = model.forward(rng.standard_normal((3, in_channels, size, size)).astype(np.float32))
    assert out.shape == (3, 10) and out.dtype == np.float32


@pytest.mark.parametrize("activation, kind", [("relu", ReLU), ("tanh", Tanh)])
@pytest.mark.parametrize("lrn", [False, True])
def test_layers(activation, kind, lrn):
    model = Figure1Net(activation, lrn=lrn)
    a = activation
    expected = ["conv1", f"{a}1", "pool1", "lrn1", "conv2", f"{a}2", "pool2", "lrn2",
                "conv3", f"{a}3", "pool3", "fc"]
    if not lrn:
        expected = [name for name in expected if not name.startswith("lrn")]
    assert list(model.layers) == expected
    assert isinstance(model.layers[f"{a}2"], kind)
    assert all(isinstance(model.layers[n], LRN) for n in expected if n.startswith("lrn"))
    layers = ("conv1", "conv2", "conv3", "fc")
    assert list(model.params) == [f"{n}.{p}" for n in layers for p in ("weight", "bias")]


def test_initialisation():
    relu, tanh = Figure1Net("relu", seed=3), Figure1Net("tanh", lrn=True, seed=3)
    for name, value in relu.state_dict().items():  # the same start: only the nonlinearity differs
        np.testing.assert_array_equal(value, tanh.state_dict()[name])
    rng = np.random.default_rng(3)  # fan-in rule: N(0, 1/fan_in), conv1 draws first
    expected = rng.standard_normal((32, 3, 5, 5), dtype=np.float32) * np.float32(1 / np.sqrt(75))
    np.testing.assert_array_equal(np.asarray(relu.params["conv1.weight"]), expected)
    assert not np.asarray(relu.params["fc.bias"]).any()
    paper = Figure1Net(weight_std=0.01, seed=3)
    expected = np.random.default_rng(3).standard_normal((32, 3, 5, 5), dtype=np.float32)
    expected *= np.float32(0.01)
    np.testing.assert_array_equal(np.asarray(paper.params["conv1.weight"]), expected)
    other = Figure1Net(seed=4).state_dict()
    assert not np.array_equal(other["fc.weight"], relu.state_dict()["fc.weight"])


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_whole_network_gradient_check(rng, activation):
    model = Figure1Net(activation, lrn=True, in_channels=1, input_size=28, dtype=np.float64, seed=1,
                       input_grad=True)
    errors = check_gradients(model, rng.standard_normal((2, 1, 28, 28)), rng, entries=8)
    assert len(errors) == 9 and max(errors.values()) <= 1e-6, errors


@pytest.mark.parametrize("device", DEVICES)
def test_runs_on_its_device(rng, device):
    model = Figure1Net(in_channels=1, input_size=28, device=device, dtype=np.float64)
    cpu = Figure1Net(in_channels=1, input_size=28, dtype=np.float64)
    x = rng.standard_normal((2, 1, 28, 28))
    out = model.forward(to_device(x, device))
    assert device_of(out) == Device(device)
    np.testing.assert_allclose(to_numpy(out), np.asarray(cpu.forward(x)), rtol=1e-10, atol=1e-12)
    assert all(device_of(p) == Device(device) for p in model.params.values())


@pytest.mark.parametrize("device", DEVICES)
def test_training_on_another_device_follows_the_cpu(rng, device):
    """Twenty SGD steps in float64 from the same weights on the same batches: the weights stay
    within rounding of the CPU's (a GPU sums in another order; in float32 the runs drift apart
    as SGD amplifies last-bit differences, in float64 the drift stays far below 1e-9)."""
    nets = {d: Figure1Net("relu", lrn=True, in_channels=1, input_size=16, device=d,
                          dtype=np.float64, seed=3) for d in ("cpu", device)}
    optimizers = {d: SGD(net.params, lr=0.05) for d, net in nets.items()}
    for _ in range(20):
        x, labels = rng.standard_normal((8, 1, 16, 16)), rng.integers(0, 10, 8)
        for d, net in nets.items():
            _, dlogits = F.softmax_cross_entropy(net.forward(to_device(x, d)), to_device(labels, d))
            net.backward(dlogits)
            optimizers[d].step(net.grads)
    for name, w in nets["cpu"].params.items():
        moved = to_numpy(nets[device].params[name])
        np.testing.assert_allclose(moved, to_numpy(w), rtol=1e-9, atol=1e-12, err_msg=name)


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match=r"activation must be one of \['relu', 'tanh'\], got 'sigmoid'"):
        Figure1Net("sigmoid")
    message = r"Figure1Net: expected input of shape \(N, 1, 28, 28\), got \(2, 3, 32, 32\)"
    with pytest.raises(ValueError, match=message):
        Figure1Net(in_channels=1, input_size=28).forward(np.zeros((2, 3, 32, 32), np.float32))


def test_the_smallest_input_survives_the_three_pools(rng):
    """15 -> pool1 7 -> pool2 3 -> pool3 1: fc sees 64 features; 14 is refused up front."""
    model = Figure1Net(in_channels=1, input_size=15, num_classes=1)
    assert model.params["fc.weight"].shape == (1, 64)
    assert model.forward(rng.standard_normal((2, 1, 15, 15)).astype(np.float32)).shape == (2, 1)
    with pytest.raises(ValueError, match="Figure1Net: input_size must be an int >= 15"):
        Figure1Net(input_size=14)


@pytest.mark.parametrize("kwargs, message", [
    (dict(input_size=32.0), "input_size must be an int >= 15, got 32.0"),
    (dict(input_size="32"), "input_size must be an int >= 15, got '32'"),
    (dict(input_size=True), "input_size must be an int >= 15, got True"),
    (dict(input_size=12), "input_size must be an int >= 15, got 12"),
    (dict(num_classes=0), "num_classes must be a positive int, got 0"),
    (dict(num_classes=2.0), "num_classes must be a positive int, got 2.0"),
    (dict(in_channels=0), "in_channels must be a positive int, got 0"),
    (dict(seed=-1), "seed must be an int >= 0, got -1"),
    (dict(seed=1.5), "seed must be an int >= 0, got 1.5"),
    (dict(lrn="no"), "lrn must be True or False, got 'no'"),
])
def test_bad_sizes(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(f"Figure1Net: {message}")):
        Figure1Net(**kwargs)
