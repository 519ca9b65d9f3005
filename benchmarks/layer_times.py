"""Where one SGD step's time goes: every layer's forward and backward, and the update.

    python benchmarks/layer_times.py                         # Figure-1 net (ReLU), CPU
    python benchmarks/layer_times.py --model alexnet --device cuda:0

Each layer's ``forward`` and ``backward`` is wrapped so that it waits for the device before and
after (``synchronize`` on a GPU, nothing on the CPU) and records the wall time in between, so
the times include Python's and the library's own overhead (on a GPU, launching kernels costs
host time as well). The table shows the median over ``--repeat`` steps after ``--warmup``.
The waits themselves slow the step down a little on a GPU; the first line is the step timed
with no waits inside it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# tinyalex before NumPy, so that its OPENBLAS_THREAD_TIMEOUT applies (tinyalex/__init__.py).
from tinyalex import functional as F  # noqa: E402
from tinyalex.backend import Device, to_device  # noqa: E402
from tinyalex.optim import SGD  # noqa: E402

import numpy as np  # noqa: E402

MODELS = {  # name: (batch, image size, classes)
    "figure1-relu": (128, 32, 10),
    "figure1-tanh": (128, 32, 10),
    "alexnet": (32, 227, 1000),
}


def make_model(name: str, device):
    from tinyalex.models import AlexNet, Figure1Net

    if name == "alexnet":
        return AlexNet(devices=(device,), inplace=True)
    return Figure1Net(name.split("-")[1], inplace=True, device=device)


def timed(function, times: list, sync):
    def wrapper(*args):
        sync()
        start = time.perf_counter()
        result = function(*args)
        sync()
        times.append(time.perf_counter() - start)
        return result

    return wrapper


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="figure1-relu")
    parser.add_argument("--device", default="cpu", help="cpu or cuda:N")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args(argv)

    device = Device(args.device)
    sync = (lambda: device.xp.cuda.Device(device.index).synchronize()) if device.kind == "cuda" \
        else (lambda: None)
    batch, size, classes = MODELS[args.model]
    rng = np.random.default_rng(0)
    model = make_model(args.model, device)
    x = to_device(rng.standard_normal((batch, 3, size, size), dtype=np.float32), device)
    labels = to_device(rng.integers(0, classes, batch), device)
    optimizer = SGD(model.params, lr=0.01, momentum=0.9, weight_decay=0.0005)

    def step():
        logits = model.forward(x)
        _, dlogits = F.softmax_cross_entropy(logits, labels)
        model.backward(dlogits)
        optimizer.step(model.grads)

    def median_step():
        samples = []
        for r in range(args.warmup + args.repeat):
            sync()
            start = time.perf_counter()
            step()
            sync()
            if r >= args.warmup:
                samples.append(time.perf_counter() - start)
        return statistics.median(samples)

    plain = median_step()
    times = defaultdict(list)
    layers = [(layer.name, layer) for layer in model.leaves()]
    for name, layer in layers:
        layer.forward = timed(layer.forward, times[(name, "fwd")], sync)
        layer.backward = timed(layer.backward, times[(name, "bwd")], sync)
    optimizer.step = timed(optimizer.step, times[("sgd update", "step")], sync)
    with_waits = median_step()

    def median(key):
        samples = times[key][args.warmup:]
        return statistics.median(samples) if samples else 0.0

    print(f"{args.model}, batch {batch}, on {device}: one step {plain * 1e3:.2f} ms "
          f"({with_waits * 1e3:.2f} ms with a wait around every layer)")
    print(f"{'layer':22} {'fwd ms':>8} {'bwd ms':>8} {'share':>6}")
    rows = [(name, median((name, "fwd")), median((name, "bwd"))) for name, _ in layers]
    rows.append(("sgd update", median(("sgd update", "step")), 0.0))
    for name, fwd, bwd in rows:
        print(f"{name:22} {fwd * 1e3:8.3f} {bwd * 1e3:8.3f} {(fwd + bwd) / with_waits:6.1%}")
    accounted = sum(f + b for _, f, b in rows)
    print(f"{'(loss, Python between)':22} {'':8} {'':8} {1 - accounted / with_waits:6.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
