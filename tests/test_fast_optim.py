"""The blocked SGD update is the paper's rule element for element: across block boundaries, on
a non-contiguous parameter, in float32 and float64."""

import numpy as np
import pytest

from tinyalex.optim import SGD


def _paper_rule(w, v, g, lr, momentum, weight_decay):
    """The update as the paper writes it, on whole arrays (the same float operations in order)."""
    v = v * momentum
    v -= (weight_decay * lr) * w
    v -= lr * g
    return w + v, v


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blocks_change_no_bit(rng, dtype):
    size = 3 * SGD.BLOCK + 5  # three whole blocks and a short one
    shapes = {"big": (size,), "matrix": (7, 9), "strided": (6, 8)}
    arrays = {name: rng.standard_normal(shape).astype(dtype) for name, shape in shapes.items()}
    params = dict(arrays, strided=np.asfortranarray(arrays["strided"]))  # not C-contiguous
    expected = {name: (w.copy(), np.zeros_like(w)) for name, w in params.items()}
    opt = SGD(params, lr=0.05, momentum=0.9, weight_decay=0.01)
    for _ in range(3):
        grads = {name: rng.standard_normal(w.shape).astype(dtype) for name, w in params.items()}
        opt.step(grads)
        expected = {name: _paper_rule(w, v, grads[name], 0.05, 0.9, 0.01)
                    for name, (w, v) in expected.items()}
    for name, (w, v) in expected.items():
        assert params[name].dtype == opt.velocity[name].dtype == dtype
        np.testing.assert_array_equal(params[name], w, err_msg=name)
        np.testing.assert_array_equal(opt.velocity[name], v, err_msg=name)
