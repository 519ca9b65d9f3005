"""Shared fixtures: every op test runs on NumPy, and on CuPy when a GPU is present."""

import numpy as np
import pytest

from tinyalex import backend

_HAVE_GPU = backend.cupy_available()

BACKENDS = [
    "numpy",
    pytest.param(
        "cupy",
        marks=pytest.mark.skipif(not _HAVE_GPU, reason="CuPy with a CUDA GPU is not available"),
    ),
]


@pytest.fixture(params=BACKENDS)
def xp(request):
    """The array module under test: numpy, or cupy where a GPU is present."""
    if request.param == "cupy":
        import cupy

        return cupy
    return np


@pytest.fixture
def rng():
    """A fresh, seeded generator for each test (tests never share random state)."""
    return np.random.default_rng(20121203)  # NIPS 2012 opened on 3 December
