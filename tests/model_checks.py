"""Helpers for the layer, model and optimizer tests: devices to run on, and a gradient check of
a whole layer or model that samples entries of its parameters and of its input."""

import numpy as np
import pytest

from tinyalex import backend, gradcheck
from tinyalex.backend import device_of, to_device, to_numpy

needs_gpu = pytest.mark.skipif(not backend.cupy_available(),
                               reason="CuPy with a CUDA GPU is not available")

# Two logical CPU devices (a layer on cpu:1 must tag and check everything), and a GPU if present.
DEVICES = ["cpu:0", "cpu:1", pytest.param("cuda:0", marks=needs_gpu)]


def check_gradients(module, x, rng, entries=None, prepare=lambda: None, h=1e-5):
    """``{name: max relative error}`` of ``module.backward`` against centred differences.

    The scalar is ``L = sum(module.forward(x) * dout)`` with a fixed random ``dout``; the names
    are the module's parameters and ``"input"``. ``entries`` random entries of each array are
    checked (all of them if None). ``prepare()`` runs before every forward (to repeat a dropout
    mask). Everything must be float64.
    """
    prepare()
    out = module.forward(x)
    dout = to_device(rng.standard_normal(out.shape), device_of(out))
    analytic = {"input": module.backward(dout), **module.grads}
    arrays = {"input": x, **module.params}

    def loss_terms():  # L term by term: the terms an entry does not touch cancel exactly
        prepare()
        return module.forward(x) * dout

    errors = {}
    for name, array in arrays.items():
        assert array.dtype == np.float64, f"{name} must be float64 for finite differences"
        count = array.size if entries is None else min(entries, array.size)
        index = np.unravel_index(rng.choice(array.size, count, replace=False), array.shape)
        sampled = array[index].copy()  # the checked entries, perturbed one at a time below

        def terms_of_sampled():
            array[index] = sampled
            return loss_terms()

        numeric = gradcheck.numerical_gradient(terms_of_sampled, sampled, h)
        array[index] = sampled  # numerical_gradient has restored them
        errors[name] = gradcheck.rel_error(to_numpy(analytic[name])[index], to_numpy(numeric))
    return errors
