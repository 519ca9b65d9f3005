"""The paper's AlexNet: its size, its neurons per layer, its initialisation, its two towers and
the only places they talk, the one-device grouped twin, and a whole-network gradient check."""

import math

import numpy as np
import pytest

from model_checks import check_gradients, needs_gpu
from tinyalex import paper
from tinyalex.backend import Device, TransferLog, device_of, place, to_device, to_numpy
from tinyalex.layers import Dropout
from tinyalex.models import AlexNet, Exchange, merge_towers, split_towers, tower_devices
from tinyalex.models import exchange as exchange_module

# The scaled-down network: the same layers, towers and exchanges, few channels, the smallest
# input that survives three poolings (67 -> conv1 15 -> pool1 7 -> pool2 3 -> pool5 1).
SMALL = dict(num_classes=6, input_size=67, channels=(4, 8, 8, 8, 8), hidden=8, dtype=np.float64,
             weight_std="fan_in")


@pytest.fixture(scope="module")
def paper_net():
    """The full-size network on two logical CPU devices (61 million float32 parameters)."""
    return AlexNet()


def _small(devices=("cpu", "cpu"), seed=0, **kwargs):
    return AlexNet(devices=devices, seed=seed, **{**SMALL, **kwargs})


def _images(rng, n=2, size=67, device="cpu"):
    return to_device(rng.standard_normal((n, 3, size, size)), device)


def _dropouts(model):
    return [layer for stage in model.stages for tower in stage for layer in tower.layers.values()
            if isinstance(layer, Dropout)]


# ----- the paper's numbers --------------------------------------------------------------------


def test_parameter_count(paper_net):
    assert paper_net.num_params == 60_965_224
    assert paper_net.summary().total_params == 60_965_224
    one = AlexNet(devices=("cpu",))
    assert one.num_params == 60_965_224
    for name, value in one.params.items():  # the towers' halves, joined along the first axis
        first, second = (paper_net.params[f"tower{t}.{name}"].shape for t in (0, 1))
        assert value.shape == (first[0] + second[0], *first[1:]) and first == second, name


def _neurons(summary, layers):
    """Neurons per layer, both towers together, from the summary's output shapes."""
    return [sum(math.prod(shape) for name, _, shape, _ in summary.rows if name.split(".")[-1] == layer)
            for layer in layers]


def test_neurons_per_layer_match_the_paper_with_227(paper_net):
    layers = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
    neurons = _neurons(paper_net.summary(), layers)
    assert neurons[1:] == list(paper.NEURONS[1:]) == [186_624, 64_896, 64_896, 43_264, 4096, 4096, 1000]
    # Layer 1: 96 maps of 55x55, not the paper's 253,440 (= 55*48*96, see alexnet's docstring).
    assert neurons[0] == 55 * 55 * 96 == 290_400 != paper.NEURONS[0] == 55 * 48 * 96


def test_224_does_not_give_the_papers_maps():
    """Without padding, 224 gives 54x54 conv1 maps and 26x26 conv2 maps: 173,056 != 186,624."""
    tiny = dict(channels=(2, 2, 2, 2, 2), hidden=2, num_classes=2)
    shapes = {name: shape for name, _, shape, _ in AlexNet(input_size=224, **tiny).summary().rows}
    assert shapes["tower0.conv1"][1:] == (54, 54) and shapes["tower0.conv2"][1:] == (26, 26)
    assert 26 * 26 * 256 == 173_056 != paper.NEURONS[1]
    shapes = {name: shape for name, _, shape, _ in AlexNet(input_size=227, **tiny).summary().rows}
    assert shapes["tower0.conv1"][1:] == (55, 55) and shapes["tower0.conv2"][1:] == (27, 27)


def test_initialisation_follows_section_5(paper_net):
    for name, value in paper_net.params.items():
        value = np.asarray(value)
        layer = name.split(".")[1]
        if name.endswith("bias"):
            expected = 1.0 if layer in ("conv2", "conv4", "conv5", "fc6", "fc7") else 0.0
            assert np.all(value == expected), name
        else:  # N(0, 0.01^2): the smallest layer has 17,424 weights, so 5% is many standard errors
            assert abs(value.std() / 0.01 - 1) < 0.05, name
            assert abs(value.mean()) < 5 * 0.01 / math.sqrt(value.size), name


def test_seeds_and_the_one_device_twin():
    two, again, other = _small(seed=4), _small(seed=4), _small(seed=5)
    one = _small(devices=("cpu",), seed=4)
    state = two.state_dict()
    for name, value in again.state_dict().items():
        np.testing.assert_array_equal(value, state[name])
    assert not np.array_equal(other.state_dict()["tower0.conv1.weight"], state["tower0.conv1.weight"])
    merged = merge_towers(state)  # same seed, one device: the two towers' weights, joined
    assert merged.keys() == one.params.keys()
    for name, value in one.state_dict().items():
        np.testing.assert_array_equal(value, merged[name])
    assert one.params["conv2.weight"].shape == (8, 2, 5, 5)  # grouped: each kernel sees 4/2 maps
    assert two.params["tower1.conv2.weight"].shape == (4, 2, 5, 5)
    assert two.params["tower1.conv3.weight"].shape == (4, 8, 3, 3)  # conv3 sees both towers
    for name, value in split_towers(merged).items():
        np.testing.assert_array_equal(value, state[name])
    with pytest.raises(ValueError, match="merge_towers: expected tower0.* and tower1.* pairs"):
        merge_towers({"tower0.fc8.bias": np.zeros(3)})


# ----- devices and communication --------------------------------------------------------------


def test_tower_devices():
    assert tower_devices(("cpu", "cpu")) == (Device("cpu:0"), Device("cpu:1"))
    assert tower_devices(("cpu:2", "cpu:2")) == (Device("cpu:2"), Device("cpu:3"))
    assert tower_devices("cpu") == tower_devices(("cpu:0",)) == (Device("cpu:0"),)
    assert tower_devices(("cuda:0", "cuda:1")) == (Device("cuda:0"), Device("cuda:1"))
    with pytest.raises(ValueError, match="could not be told apart"):
        tower_devices(("cuda:0", "cuda:0"))
    with pytest.raises(ValueError, match="1 or 2 devices"):
        tower_devices(("cpu:0", "cpu:1", "cpu:2"))
    model = _small()
    assert model.device == Device("cpu:0")
    for name, value in {**model.params, **model.grads}.items():
        assert device_of(value) == Device(f"cpu:{name[5]}"), name  # towerT -> cpu:T


def test_towers_talk_only_at_conv3_fc6_fc7_fc8(paper_net):
    """Every crossing, with the bytes derived by hand (float32, batch of 2). conv1 computes no
    gradient of the images, so the backward pass sends nothing back through "input"."""
    n, f32 = 2, 4
    pool2 = 128 * 13 * 13 * f32  # one tower's pooled conv2 maps: 86,528 bytes per image
    pool5 = 128 * 6 * 6 * f32  # one tower's pooled conv5 maps: 18,432
    half = 2048 * f32  # one tower's half of fc6 or fc7: 8,192
    def both_ways(phase, label, size):  # tower 1 -> tower 0, then tower 0 -> tower 1
        return [(phase, label, 1, 0, n * size), (phase, label, 0, 1, n * size)]

    forward = [("forward", "input", 0, 1, n * 3 * 227 * 227 * f32)]
    for label, size in [("conv3", pool2), ("fc6", pool5), ("fc7", half), ("fc8", half)]:
        forward += both_ways("forward", label, size)
    forward += [("forward", "logits", 1, 0, n * 500 * f32)]
    backward = [("backward", "logits", 0, 1, n * 500 * f32)]
    for label, size in [("fc8", half), ("fc7", half), ("fc6", pool5), ("conv3", pool2)]:
        backward += both_ways("backward", label, size)

    log = paper_net.transfer_log
    log.clear()
    x = np.random.default_rng(0).standard_normal((n, 3, 227, 227)).astype(np.float32)
    logits = paper_net.forward(x)
    assert logits.shape == (n, 1000) and device_of(logits) == Device("cpu:0")
    assert paper_net.backward(place(np.full(logits.shape, 1e-3, np.float32), "cpu:0")) is None
    seen = [(r.phase, r.label, r.source.index, r.target.index, r.nbytes) for r in log]
    assert seen == forward + backward
    assert [r[4] // n for r in forward] == [618_348] + [86_528] * 2 + [18_432] * 2 + [8_192] * 4 + [2_000]
    between_towers = 2 * (86_528 + 18_432 + 8_192 + 8_192)
    assert sum(r.nbytes for r in log if r.phase == "forward") == n * 863_036
    assert sum(r.nbytes for r in log if r.phase == "backward") == n * 244_688
    assert log.total_bytes == n * (618_348 + 2 * (between_towers + 2_000)) == n * 1_107_724


def test_input_gradient_on_request_goes_home_through_the_input_exchange(rng):
    """input_grad=True: tower 1's share of dL/dx crosses back to device 0, the forward input's
    bytes; the parameters' gradients are the same bit for bit as without it."""
    with_dx, without = _small(seed=2, input_grad=True).eval(), _small(seed=2).eval()
    x = _images(rng)
    dlogits = rng.standard_normal((2, 6))
    for model in (with_dx, without):
        model.transfer_log.clear()
        model.forward(x)
    dx = with_dx.backward(dlogits)
    assert without.backward(dlogits) is None
    assert dx.shape == x.shape and device_of(dx) == Device("cpu:0")
    returned = [r for r in with_dx.transfer_log if r.phase == "backward" and r.label == "input"]
    assert [(r.source.index, r.target.index, r.nbytes) for r in returned] == [(1, 0, x.nbytes)]
    assert not [r for r in without.transfer_log if r.phase == "backward" and r.label == "input"]
    for name, grad in without.grads.items():
        np.testing.assert_array_equal(np.asarray(with_dx.grads[name]), np.asarray(grad), err_msg=name)


def test_one_device_network_transfers_nothing(rng):
    model = _small(devices=("cpu",))
    out = model.forward(_images(rng))
    model.backward(np.ones_like(out))
    assert len(model.transfer_log) == 0
    assert [row[0] for row in model.summary().rows if row[0].startswith("exchange")] == []


def test_a_skipped_transfer_is_caught(rng, monkeypatch):
    """Sabotage the conv3 exchange so it hands tower 1 tower 0's array without copying it."""
    real = exchange_module.to_device

    def no_copy_at_conv3(x, device, log=None, label="", phase=""):
        return x if label == "conv3" else real(x, device, log=log, label=label, phase=phase)

    monkeypatch.setattr(exchange_module, "to_device", no_copy_at_conv3)
    with pytest.raises(ValueError, match="conv3 exchange: received array is on cpu:1 but must be on cpu:0"):
        _small().forward(_images(rng))


def test_a_tower_cannot_read_the_other_towers_array(rng):
    model = _small()
    maps = model.stages[0][0].forward(_images(rng))  # tower 0's pool2 maps, on cpu:0
    with pytest.raises(ValueError, match=r"tower1\.conv3: input is on cpu:0, but the layer lives on cpu:1"):
        model.stages[1][1].forward(maps)
    logits = model.forward(_images(rng))
    with pytest.raises(ValueError, match="AlexNet: dout is on cpu:1, but the logits are on cpu:0"):
        model.backward(place(np.ones(logits.shape), "cpu:1"))
    with pytest.raises(ValueError, match="input exchange: input is on cpu:1 but must be on cpu:0"):
        model.forward(_images(rng, device="cpu:1"))


@pytest.mark.parametrize("devices", [("cpu", "cpu"), ("cpu",)])
def test_a_refused_dout_changes_nothing(rng, devices):
    """dout is checked against the logits before the exchanges use up the forward pass: a wrong
    one is refused with the model's shapes, moves and logs nothing, and the right one then gives
    the gradients of a model that never saw the wrong one."""
    model, clean = _small(devices, seed=2).eval(), _small(devices, seed=2).eval()
    x, dlogits = _images(rng), rng.standard_normal((2, 6))
    with pytest.raises(RuntimeError, match="AlexNet: backward without a forward"):
        model.backward(dlogits)
    model.forward(x)
    sent = len(model.transfer_log)
    for bad, error, message in [
        (np.ones((3, 6)), ValueError, r"AlexNet: dout must have shape \(2, 6\), got \(3, 6\)"),
        (np.ones(6), ValueError, r"AlexNet: dout must have shape \(2, 6\), got \(6,\)"),
        (dlogits.tolist(), TypeError, "AlexNet: dout must be a NumPy or CuPy array, got list"),
        (dlogits.astype(np.float32), ValueError, "AlexNet: dout must have dtype float64, got float32"),
        (place(dlogits, "cpu:1"), ValueError, "AlexNet: dout is on cpu:1, but the logits are on cpu:0"),
    ]:
        with pytest.raises(error, match=message):
            model.backward(bad)
    assert len(model.transfer_log) == sent
    clean.forward(x)
    assert model.backward(dlogits) is None and clean.backward(dlogits) is None
    for name, grad in clean.grads.items():
        np.testing.assert_array_equal(np.asarray(model.grads[name]), np.asarray(grad), err_msg=name)
    with pytest.raises(RuntimeError, match="AlexNet: backward without a forward"):
        model.backward(dlogits)  # one backward per forward


def test_exchange_sends_and_sums(rng):
    """Forward: every target gets the concatenation. Backward: each source gets the sum of its
    slices of the targets' gradients, sent home: the two-consumer rule."""
    log = TransferLog()
    cpu0, cpu1 = Device("cpu:0"), Device("cpu:1")
    step = Exchange("conv3", (cpu0, cpu1), (cpu0, cpu1), log)
    a0, a1 = place(rng.standard_normal((2, 2, 3)), cpu0), place(rng.standard_normal((2, 3, 3)), cpu1)
    outs = step.forward([a0, a1])
    for target, out in zip((cpu0, cpu1), outs):
        assert device_of(out) == target
        np.testing.assert_array_equal(np.asarray(out), np.concatenate([a0, a1], axis=1))
    g0, g1 = place(rng.standard_normal((2, 5, 3)), cpu0), place(rng.standard_normal((2, 5, 3)), cpu1)
    d0, d1 = step.backward([g0, g1])
    assert device_of(d0) == cpu0 and device_of(d1) == cpu1
    np.testing.assert_array_equal(np.asarray(d0), np.asarray(g0[:, :2]) + np.asarray(g1[:, :2]))
    np.testing.assert_array_equal(np.asarray(d1), np.asarray(g0[:, 2:]) + np.asarray(g1[:, 2:]))
    assert [(r.phase, r.source.index, r.nbytes) for r in log] == [
        ("forward", 1, 2 * 3 * 3 * 8), ("forward", 0, 2 * 2 * 3 * 8),
        ("backward", 1, 2 * 2 * 3 * 8), ("backward", 0, 2 * 3 * 3 * 8)]
    with pytest.raises(RuntimeError, match="conv3 exchange: backward without a forward"):
        step.backward([g0, g1])


# ----- the numbers: one device = two towers, and finite differences ---------------------------


@pytest.mark.parametrize("mode", ["eval", "train, dropout 0"])
def test_one_device_computes_what_two_towers_compute(rng, mode):
    """Same weights, float64: the same logits, input gradient and parameter gradients.

    Equal up to rounding, not bit for bit: the two towers add their kernels' contributions to a
    shared input in a different order (two matrix products and an add) than one grouped
    convolution does (one matrix product), so the last bits may differ (about 1e-16)."""
    options = dict(input_grad=True, **({"dropout": 0.0} if mode.startswith("train") else {}))
    two, one = _small(seed=3, **options), _small(devices=("cpu",), seed=8, **options)
    one.load_state_dict(merge_towers(two.state_dict()))
    if mode == "eval":
        two.eval(), one.eval()
    x = _images(rng, n=3)
    np.testing.assert_allclose(np.asarray(one.forward(x)), np.asarray(two.forward(x)),
                               rtol=1e-12, atol=1e-15)
    dlogits = rng.standard_normal((3, 6))
    np.testing.assert_allclose(np.asarray(one.backward(dlogits)), np.asarray(two.backward(dlogits)),
                               rtol=1e-12, atol=1e-15)
    merged = merge_towers(two.grads)
    for name, grad in one.grads.items():
        np.testing.assert_allclose(np.asarray(grad), merged[name], rtol=1e-12, atol=1e-15, err_msg=name)


@pytest.mark.parametrize("devices", [("cpu", "cpu"), ("cpu",)])
def test_whole_network_gradient_check(rng, devices):
    """Float64, training mode: dropout masks are held fixed by reseeding every dropout layer's
    generator before each forward. Weights N(0, 1/fan_in), so the signal reaches every layer."""
    model = _small(devices, seed=1, input_grad=True)
    dropouts = _dropouts(model)

    def same_masks():
        for i, layer in enumerate(dropouts):
            layer.rng = np.random.default_rng(i)

    errors = check_gradients(model, _images(rng), rng, entries=8, prepare=same_masks)
    assert len(errors) == len(model.params) + 1
    assert max(errors.values()) <= 1e-6, errors


def test_gradients_are_overwritten_each_step(rng):
    model, fresh = _small(seed=2).eval(), _small(seed=2).eval()
    x1, x2 = _images(rng), _images(rng)
    for x in (x1, x2):
        out = model.forward(x)
        model.backward(np.ones_like(out))
    out = fresh.forward(x2)
    fresh.backward(np.ones_like(out))
    for name, grad in fresh.grads.items():
        np.testing.assert_array_equal(np.asarray(model.grads[name]), np.asarray(grad))


def test_dropout_is_seeded_and_follows_the_mode(rng):
    x = _images(rng)
    first, second = _small(seed=6), _small(seed=6)
    a, b = np.asarray(first.forward(x)), np.asarray(second.forward(x))
    np.testing.assert_array_equal(a, b)  # same seed, same masks
    assert not np.array_equal(a, np.asarray(first.forward(x)))  # new masks on the next batch
    first.eval()
    assert not any(layer.training for layer in _dropouts(first))
    np.testing.assert_array_equal(np.asarray(first.forward(x)), np.asarray(first.forward(x)))


# ----- interface ------------------------------------------------------------------------------


def test_parameter_names_and_state_dict():
    two, one = _small(), _small(devices=("cpu",))
    layers = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
    assert list(one.params) == [f"{layer}.{p}" for layer in layers for p in ("weight", "bias")]
    assert list(two.params) == [f"tower{t}.{name}" for t in (0, 1) for name in one.params]
    assert list(two.grads) == list(two.params)
    other = _small(seed=9)
    other.load_state_dict(two.state_dict())
    assert device_of(other.params["tower1.fc6.weight"]) == Device("cpu:1")
    for name, value in two.state_dict().items():
        np.testing.assert_array_equal(to_numpy(other.params[name]), value)
    state = two.state_dict()
    state["tower1.fc8.bias"] = state["tower1.fc8.bias"].astype(np.float32)
    with pytest.raises(ValueError, match="AlexNet.load_state_dict: tower1.fc8.bias must have dtype float64"):
        other.load_state_dict(state)


def test_summary_shows_towers_devices_and_exchanges():
    summary = _small().summary()
    names = [row[0] for row in summary.rows]
    assert [n for n in names if n.startswith("exchange")] == [
        "exchange input", "exchange conv3", "exchange fc6", "exchange fc7", "exchange fc8", "exchange logits"]
    assert ("tower1.conv3", "cpu:1", (4, 3, 3), 4 * 8 * 9 + 4) in summary.rows
    assert summary.rows[-1] == ("exchange logits", "cpu:0<->cpu:1", (6,), 0)
    assert summary.total_params == _small().num_params
    assert "tower0.pool5" in str(summary)


@pytest.mark.parametrize("kwargs, message", [
    (dict(channels=(4, 8, 8, 8)), "channels must give the kernels of conv1..conv5"),
    (dict(channels=(4, 8, 7, 8, 8)), r"channels\[2\] must be an even int >= 2"),
    (dict(hidden=5), "hidden must be an even int >= 2"),
    (dict(num_classes=1), "num_classes must be an int >= 2"),
    (dict(num_classes=True, devices=("cpu",)), "num_classes must be an int >= 1, got True"),
    (dict(input_size=66), "AlexNet: input_size must be an int >= 67, got 66"),
    (dict(input_size=67.0), "AlexNet: input_size must be an int >= 67, got 67.0"),
    (dict(input_size="67"), "AlexNet: input_size must be an int >= 67, got '67'"),
    (dict(input_size=True), "AlexNet: input_size must be an int >= 67, got True"),
    (dict(dropout="0.5"), r"Dropout: p must be a real number, got '0.5'"),
    (dict(dropout=1.0), r"Dropout: p is the probability of dropping a unit, in \[0, 1\), got 1.0"),
    (dict(dropout=True), r"Dropout: p must be a real number, got True"),
    (dict(seed=-1), "AlexNet: seed must be an int >= 0, got -1"),
    (dict(seed=1.5), "AlexNet: seed must be an int >= 0, got 1.5"),
    (dict(weight_std="xavier"), "weight_std must be a number >= 0 or 'fan_in'"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _small(**kwargs)


def test_input_shape_is_checked(rng):
    with pytest.raises(ValueError, match=r"AlexNet: expected input of shape \(N, 3, 67, 67\), got \(2, 3, 68, 68\)"):
        _small().forward(_images(rng, size=68))


@needs_gpu
@pytest.mark.parametrize("devices", [("cuda:0",), ("cpu", "cuda:0")])
def test_runs_on_a_gpu(rng, devices):
    """CuPy: the same numbers as on the CPU, and the towers on their devices."""
    cpu, gpu = _small(seed=7, input_grad=True).eval(), _small(devices, seed=7, input_grad=True).eval()
    x = _images(rng)
    expected = np.asarray(cpu.forward(x))
    dlogits = rng.standard_normal(expected.shape)
    dx = cpu.backward(dlogits)
    out = gpu.forward(to_device(x, gpu.device))
    np.testing.assert_allclose(to_numpy(out), expected, rtol=1e-10, atol=1e-12)
    dx_gpu = gpu.backward(to_device(dlogits, gpu.device))
    np.testing.assert_allclose(to_numpy(dx_gpu), dx, rtol=1e-9, atol=1e-12)
    grads = {k: to_numpy(v) for k, v in gpu.grads.items()}
    if len(devices) == 1:
        grads = split_towers(grads)
    for name, grad in cpu.grads.items():
        np.testing.assert_allclose(grads[name], to_numpy(grad), rtol=1e-9, atol=1e-12, err_msg=name)
