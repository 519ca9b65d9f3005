"""Shared fixtures: every op test runs on NumPy, and on CuPy when a GPU is present.

Tests marked ``fashion_mnist`` read the real Fashion-MNIST files (Debian's
``dataset-fashion-mnist``). Where they are missing these tests are skipped with the reason, so
``make test`` runs on a machine without the package; ``.ci/run`` installs it and sets
``TINYALEX_REQUIRE_DATA=1``, which turns a missing dataset into failures instead of skips.
"""

import collections
import os

import numpy as np
import pytest

from tinyalex import backend
from tinyalex.data import find_fashion_mnist

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


@pytest.fixture
def cuda_kernel_calls(monkeypatch):
    """The names of the ``functional.cuda_kernels`` functions the test calls, in order."""
    from tinyalex.functional import cuda_kernels

    calls = []
    for name in ("maxpool_forward", "maxpool_backward", "lrn_forward", "lrn_backward"):
        kernel = getattr(cuda_kernels, name)
        monkeypatch.setattr(cuda_kernels, name, lambda *args, _kernel=kernel, _name=name:
                            calls.append(_name) or _kernel(*args))
    return calls


NO_FASHION_MNIST = ("real Fashion-MNIST is not installed: `sudo apt-get install dataset-fashion-mnist` "
                    "(.ci/run does), or its four files in data/fashion-mnist/")


def _fashion_mnist_installed() -> bool:
    try:
        find_fashion_mnist()
    except FileNotFoundError:
        return False
    return True


def pytest_configure(config):
    config.addinivalue_line("markers", "fashion_mnist: reads the real Fashion-MNIST files")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("TINYALEX_REQUIRE_DATA") == "1" or _fashion_mnist_installed():
        return
    skip = pytest.mark.skip(reason=NO_FASHION_MNIST)
    for item in items:
        if "fashion_mnist" in item.keywords:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter):
    """One line per reason the run skipped tests for (``-rs`` would list every test)."""
    reasons = collections.Counter()
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reasons[reason.removeprefix("Skipped: ")] += 1
    for reason, count in reasons.most_common():
        terminalreporter.write_line(f"{count} skipped: {reason}")
