"""The paper's SGD rule (§5) against a hand computation, on any device, resumed bit for bit;
the divide-by-10 schedule; and the optimizer training a small network."""

import numpy as np
import pytest

from model_checks import DEVICES
from tinyalex import functional as F
from tinyalex.backend import Device, device_of, place, to_device, to_numpy
from tinyalex.models import Figure1Net
from tinyalex.optim import SGD, ReduceLROnPlateau


def test_two_steps_match_a_hand_computation():
    w = np.array([2.0, -1.0])
    opt = SGD({"w": w}, lr=0.1, momentum=0.9, weight_decay=0.0005)
    opt.step({"w": np.array([3.0, 0.5])})
    # v = -0.0005*0.1*w - 0.1*g = [-0.00010 - 0.3, 0.00005 - 0.05] = [-0.3001, -0.04995]
    np.testing.assert_allclose(opt.velocity["w"], [-0.3001, -0.04995], rtol=1e-13)
    np.testing.assert_allclose(w, [1.6999, -1.04995], rtol=1e-13)  # updated in place
    opt.step({"w": np.array([1.0, -2.0])})
    # v = 0.9*v - 0.00005*w - 0.1*g
    #   = [-0.27009 - 0.000084995 - 0.1, -0.044955 + 0.0000524975 + 0.2]
    np.testing.assert_allclose(opt.velocity["w"], [-0.370174995, 0.1550974975], rtol=1e-13)
    np.testing.assert_allclose(w, [1.329725005, -0.8948525025], rtol=1e-13)


def test_momentum_is_the_one_given():
    """Two steps at momentum 0.5 (every other test uses the paper's 0.9 or one step from rest)."""
    w = np.array([1.0])
    opt = SGD({"w": w}, lr=0.1, momentum=0.5, weight_decay=0.0)
    opt.step({"w": np.array([2.0])})  # v = -0.2, w = 0.8
    opt.step({"w": np.array([2.0])})  # v = 0.5 * -0.2 - 0.2 = -0.3, w = 0.5
    np.testing.assert_allclose([opt.velocity["w"][0], w[0]], [-0.3, 0.5], rtol=1e-14)


def test_defaults_are_the_papers():
    opt = SGD({"w": np.zeros(2)})
    assert (opt.lr, opt.momentum, opt.weight_decay) == (0.01, 0.9, 0.0005)


@pytest.mark.parametrize("device", DEVICES)
def test_updates_parameters_where_they_live(rng, device):
    w0, g = rng.standard_normal((2, 3, 4))
    w = to_device(w0, device)
    opt = SGD({"layer.weight": w}, lr=0.5, momentum=0.5, weight_decay=0.1)
    opt.step({"layer.weight": to_device(g, device)})
    assert device_of(w) == device_of(opt.velocity["layer.weight"]) == Device(device)
    np.testing.assert_allclose(to_numpy(w), w0 + (-0.1 * 0.5 * w0 - 0.5 * g), rtol=1e-14)


def test_step_refuses_mismatched_gradients():
    w = place(np.zeros((2, 3)), "cpu:1")
    opt = SGD({"a": w})
    with pytest.raises(ValueError, match=r"grads do not match params: missing \['a'\], unexpected \['b'\]"):
        opt.step({"b": w})
    message = r"gradient of a is float64\(2, 3\) on cpu:0, but the parameter is float64\(2, 3\) on cpu:1"
    with pytest.raises(ValueError, match=message):
        opt.step({"a": np.zeros((2, 3))})
    with pytest.raises(ValueError, match=r"gradient of a is float32\(3, 2\) on cpu:1"):
        opt.step({"a": place(np.zeros((3, 2), np.float32), "cpu:1")})
    for kwargs in (dict(lr=0.0), dict(momentum=1.0), dict(weight_decay=-1.0)):
        with pytest.raises(ValueError, match="SGD: need lr > 0"):
            SGD({"a": w}, **kwargs)
    with pytest.raises(ValueError, match="params is empty"):
        SGD({})


@pytest.mark.parametrize("kwargs", [dict(lr=float("inf")), dict(lr=float("nan")), dict(lr="fast"),
                                    dict(lr="0.1"), dict(lr=True), dict(momentum=None),
                                    dict(momentum=1.5), dict(weight_decay=float("inf")),
                                    dict(weight_decay=float("nan"))])
def test_hyper_parameters_must_be_finite_and_in_range(kwargs):
    with pytest.raises(ValueError, match="SGD: need lr > 0, 0 <= momentum < 1 and weight_decay >= 0, all finite"):
        SGD({"w": np.zeros(2)}, **kwargs)


def test_parameters_and_gradients_must_be_float_arrays():
    with pytest.raises(ValueError, match="SGD: parameter w must be a float32 or float64 array, got dtype int64"):
        SGD({"w": np.zeros(2, np.int64)})
    with pytest.raises(TypeError, match="SGD: parameter w must be a NumPy or CuPy array, got list"):
        SGD({"w": [0.0, 1.0]})
    w = np.zeros(2)
    opt = SGD({"w": w})
    message = "SGD.step: the gradient of w must be a NumPy or CuPy array, got NoneType"
    with pytest.raises(TypeError, match=message):
        opt.step({"w": None})
    np.testing.assert_array_equal(w, 0.0)


@pytest.mark.parametrize("key, value", [("lr", -0.1), ("lr", np.inf), ("momentum", 1.5),
                                        ("weight_decay", np.nan)])
def test_load_state_dict_checks_the_hyper_parameters(key, value):
    """As the constructor does: a NaN or infinity would make every weight NaN at the next step.
    A failed load changes nothing."""
    w = np.ones(3)
    opt = SGD({"w": w}, lr=0.1)
    opt.step({"w": np.ones(3)})
    before, velocity = opt.state_dict(), opt.velocity["w"].copy()
    state = {**opt.state_dict(), key: np.array(value), "velocity.w": np.zeros(3)}
    with pytest.raises(ValueError, match=rf"SGD.load_state_dict: need lr > 0, .*got .*{key}={value}"):
        opt.load_state_dict(state)
    assert (opt.lr, opt.momentum, opt.weight_decay) == tuple(float(before[k]) for k in SGD.HYPER)
    np.testing.assert_array_equal(opt.velocity["w"], velocity)


def test_load_state_dict_refuses_a_velocity_without_its_prefix():
    opt = SGD({"w": np.ones(3)}, lr=0.1)
    state = {key: value for key, value in opt.state_dict().items() if key in SGD.HYPER}
    with pytest.raises(ValueError, match=r"SGD.load_state_dict: unexpected \['w'\]: velocities "
                                         r"are named 'velocity.<param>'"):
        opt.load_state_dict({**state, "w": np.ones(3)})
    np.testing.assert_array_equal(opt.velocity["w"], np.zeros(3))


def _blobs(rng, n=16):
    """Four classes, each a bright 7x7 square in its own quadrant of a noisy 28x28 image."""
    labels = rng.integers(0, 4, n)
    images = rng.standard_normal((n, 1, 28, 28)) * 0.5
    for image, label in zip(images, labels):
        row, col = divmod(int(label), 2)
        image[0, 14 * row + 3 : 14 * row + 10, 14 * col + 3 : 14 * col + 10] += 2.0
    return images.astype(np.float32), labels


def _train(model, opt, images, labels, steps):
    losses = []
    for _ in range(steps):
        loss, dlogits = F.softmax_cross_entropy(np.asarray(model.forward(images)), labels)
        model.backward(dlogits)
        opt.step(model.grads)
        losses.append(loss)
    return losses


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_sgd_trains_a_small_network(rng, activation):
    model = Figure1Net(activation, in_channels=1, input_size=28, num_classes=4)
    images, labels = _blobs(rng)
    losses = _train(model, SGD(model.params, lr=0.01), images, labels, steps=15)
    assert losses[-1] < 0.5 * losses[0], losses  # seeds 0-4: at most 0.28 (tanh), 0.001 (relu)
    test_images, test_labels = _blobs(np.random.default_rng(1), n=32)
    accuracy = (np.asarray(model.eval().forward(test_images)).argmax(axis=1) == test_labels).mean()
    assert accuracy >= 0.75  # chance is 0.25; seeds 0-4 give 0.9 or more


def test_resuming_from_state_dicts_is_bit_exact(rng):
    images, labels = _blobs(rng, n=8)
    model = Figure1Net(in_channels=1, input_size=28, num_classes=4, seed=0)
    opt = SGD(model.params, lr=0.01)
    _train(model, opt, images, labels, steps=2)
    model_state, opt_state = model.state_dict(), opt.state_dict()
    assert {"lr", "momentum", "weight_decay", "velocity.conv1.weight"} <= set(opt_state)
    _train(model, opt, images, labels, steps=2)

    resumed = Figure1Net(in_channels=1, input_size=28, num_classes=4, seed=7)
    resumed_opt = SGD(resumed.params, lr=0.5, momentum=0.1)
    resumed.load_state_dict(model_state)
    resumed_opt.load_state_dict(opt_state)
    assert (resumed_opt.lr, resumed_opt.momentum) == (0.01, 0.9)
    _train(resumed, resumed_opt, images, labels, steps=2)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[name], value)
    with pytest.raises(ValueError, match=r"SGD.load_state_dict: missing \['lr'\]"):
        resumed_opt.load_state_dict({k: v for k, v in opt_state.items() if k != "lr"})
    with pytest.raises(ValueError, match=r"SGD.load_state_dict: .*missing \['fc.bias'\]"):
        resumed_opt.load_state_dict({k: v for k, v in opt_state.items() if k != "velocity.fc.bias"})


# ----- the schedule ---------------------------------------------------------------------------


def _run_schedule(errors, lr=0.01, **kwargs):
    opt = SGD({"w": np.zeros(1)}, lr=lr)
    schedule = ReduceLROnPlateau(opt, **kwargs)
    return [schedule.step(e) for e in errors], opt, schedule


def test_schedule_divides_by_ten_when_the_error_stops_improving():
    errors = [0.5, 0.4, 0.4, 0.3, 0.35, 0.36, 0.2, 0.25, 0.25, 0.25]
    divided, opt, schedule = _run_schedule(errors)
    # 0.4 is no better than 0.4; 0.35 no better than 0.3; nor 0.36 (the best stays 0.3);
    # 0.2 improves; then three divisions are all there are.
    assert divided == [False, False, True, False, True, True, False, False, False, False]
    assert opt.lr == 1e-5 and schedule.reductions == 3
    assert schedule.best == 0.2
    # Divided by 10, not multiplied by 0.1: 0.1 * 0.1 is 0.010000000000000002.
    assert [_run_schedule([0.5] * (k + 1), lr=0.1)[1].lr for k in (1, 2, 3)] == [0.01, 0.001, 1e-4]


def test_schedule_patience_and_min_delta():
    divided, opt, _ = _run_schedule([0.5] * 5, patience=2)
    assert divided == [False, False, True, False, True] and opt.lr == 1e-4
    divided, _, _ = _run_schedule([0.5, 0.495, 0.48], min_delta=0.01)
    assert divided == [False, True, False]
    divided, opt, _ = _run_schedule([0.5, 0.6, 0.6], factor=0.5, max_reductions=1)
    assert divided == [False, True, False] and opt.lr == 0.005
    for bad, message in [(dict(factor=10), "factor must be between 0 and 1"),
                         (dict(factor="0.1"), "factor must be a real number"),
                         (dict(patience=1.5), "patience must be an int >= 1"),
                         (dict(patience=0), "patience must be an int >= 1"),
                         (dict(max_reductions=2.5), "max_reductions must be an int >= 0"),
                         (dict(min_delta=float("nan")), "min_delta must be finite and >= 0")]:
        with pytest.raises(ValueError, match=f"ReduceLROnPlateau: {message}"):
            _run_schedule([], **bad)


@pytest.mark.parametrize("error", [float("nan"), None, "0.3"])
def test_schedule_refuses_an_error_that_is_not_a_number(error):
    """A NaN error is no better than the best, so it would count as a plateau and divide."""
    _, opt, schedule = _run_schedule([0.5])
    with pytest.raises(ValueError, match="ReduceLROnPlateau.step: validation_error must be a real number"):
        schedule.step(error)
    assert opt.lr == 0.01 and schedule.stale == 0


def test_schedule_state_round_trip():
    _, _, schedule = _run_schedule([0.5, 0.6, 0.4, 0.45], patience=3)
    _, _, restored = _run_schedule([], patience=3)
    restored.load_state_dict(schedule.state_dict())
    assert (restored.best, restored.stale, restored.reductions) == (0.4, 1, 0)


@pytest.mark.parametrize("key, value, message", [
    ("best", np.nan, "best must be a real number, not NaN"),
    ("best", "0.3", "best must be a real number, got '0.3'"),
    ("stale", -1, "stale must be an int >= 0, got -1"),
    ("reductions", 1.5, "reductions must be an int >= 0, got 1.5"),
    ("stale", np.inf, "stale must be an int >= 0, got inf"),
])
def test_schedule_load_state_dict_checks_the_state(key, value, message):
    _, _, schedule = _run_schedule([0.5, 0.6], patience=3)
    state = {**schedule.state_dict(), key: np.array(value)}
    with pytest.raises(ValueError, match=f"ReduceLROnPlateau.load_state_dict: {message}"):
        schedule.load_state_dict(state)
    assert (schedule.best, schedule.stale, schedule.reductions) == (0.5, 1, 0)
    with pytest.raises(ValueError, match=r"ReduceLROnPlateau.load_state_dict: missing \['stale'\]"):
        schedule.load_state_dict({"best": np.array(0.1), "reductions": np.array(0)})
