"""Where one SGD step's time goes: every layer's forward and backward, and the update.

    python benchmarks/layer_times.py                         # Figure-1 net (ReLU), CPU
    python benchmarks/layer_times.py --model alexnet --device cuda:0
    python benchmarks/layer_times.py --torch                 # and PyTorch's same layers

Each layer's ``forward`` and ``backward`` is wrapped so that it waits for the device before and
after (``synchronize`` on a GPU, nothing on the CPU) and records the wall time in between, so
the times include Python's and the library's own overhead (on a GPU, launching kernels costs
host time as well). The table shows the median over ``--repeat`` steps after ``--warmup``.
The waits themselves slow the step down a little on a GPU; the first line is the step timed
with no waits inside it.

``--torch`` (PyTorch installed: ``pip install '.[bench]'``) also times the same network in
PyTorch (``steps.torch_net``: same layers, names and weights; ``steps.torch_sgd``: the step of
``steps.tinyalex_sgd``, the paper's update), layer by layer, and adds its columns and the ratio
tinyalex / PyTorch of each layer's forward plus backward. A PyTorch layer's forward is timed by
module hooks; its backward runs as nodes of PyTorch's autograd graph, which on the CPU run one
after another in the calling thread, so a layer's backward is the time from the moment its
output's gradient is needed (a pre-hook on the node that made the output) to the moment the
layer below it starts (its own pre-hook), or, for the first layer, to the end of ``backward()``.
Both networks run in this process, one after the other: compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# PyTorch's OpenMP threads sleep as soon as a parallel region ends (compare_torch.py says why).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# tinyalex before NumPy, so that its OPENBLAS_THREAD_TIMEOUT applies (tinyalex/__init__.py).
from tinyalex.backend import Device, to_device  # noqa: E402

import numpy as np  # noqa: E402
import steps  # noqa: E402  (benchmarks/steps.py, next to this script)

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


def median_time(step, sync, warmup: int, repeat: int) -> float:
    """The median wall time of ``step()`` over ``repeat`` calls after ``warmup``."""
    samples = []
    for r in range(warmup + repeat):
        sync()
        start = time.perf_counter()
        step()
        sync()
        if r >= warmup:
            samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def tinyalex_times(model, x, labels, sync, args):
    """``(step, step with waits, {layer: (fwd, bwd)})`` in seconds; the update is "sgd update"."""
    backward, update = steps.tinyalex_sgd(model, x, labels)
    plain = median_time(lambda: (backward(), update()), sync, args.warmup, args.repeat)
    times = defaultdict(list)
    names = [layer.name for layer in model.leaves()]
    for layer in model.leaves():
        layer.forward = timed(layer.forward, times[(layer.name, "fwd")], sync)
        layer.backward = timed(layer.backward, times[(layer.name, "bwd")], sync)
    timed_update = timed(update, times[("sgd update", "fwd")], sync)
    with_waits = median_time(lambda: (backward(), timed_update()), sync, args.warmup, args.repeat)
    return plain, with_waits, _medians(times, names + ["sgd update"], args.repeat)


def _medians(times, names, repeat: int) -> dict:
    """``{name: (forward, backward)}``: the median of each layer's last ``repeat`` times (0
    where none was recorded)."""
    def median(key):
        samples = times[key][-repeat:]
        return statistics.median(samples) if samples else 0.0

    return {name: (median((name, "fwd")), median((name, "bwd"))) for name in names}


def torch_times(model, x, labels, args):
    """The same as ``tinyalex_times`` for the PyTorch twin of ``model`` (same weights), on the
    CPU or the GPU of ``args.device``."""
    import torch

    from tinyalex.backend import to_numpy

    device = args.device
    sync = (lambda: torch.cuda.synchronize(device)) if device.startswith("cuda") else (lambda: None)
    net = steps.torch_net(args.model).to(device).train()
    weights = {name: to_numpy(value) for name, value in model.state_dict().items()}
    backward, update = steps.torch_sgd(net, weights, to_numpy(x), to_numpy(labels), device)
    plain = median_time(lambda: (backward(), update()), sync, args.warmup, args.repeat)

    times, marks = defaultdict(list), []  # marks: (layer, when its backward started)

    def before(module, inputs):
        sync()
        module.started = time.perf_counter()

    def after(module, inputs, output):
        sync()
        times[(module.name, "fwd")].append(time.perf_counter() - module.started)
        if output.grad_fn is not None:
            output.grad_fn.register_prehook(lambda grads, name=module.name: mark(name))

    def mark(name):
        sync()
        marks.append((name, time.perf_counter()))

    for name, module in net.named_children():
        module.name = name
        module.register_forward_pre_hook(before)
        module.register_forward_hook(after)
    timed_update = timed(update, times[("sgd update", "fwd")], sync)

    def step():
        marks.clear()
        backward()
        mark(None)  # the end of backward(): where the first layer's backward ends
        for (name, start), (_, end) in zip(marks, marks[1:]):
            times[(name, "bwd")].append(end - start)
        timed_update()

    with_waits = median_time(step, sync, args.warmup, args.repeat)
    names = [name for name, _ in net.named_children()]
    return plain, with_waits, _medians(times, names + ["sgd update"], args.repeat)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="figure1-relu")
    parser.add_argument("--device", default="cpu", help="cpu or cuda:N")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--torch", action="store_true",
                        help="time PyTorch's same network as well (needs PyTorch)")
    args = parser.parse_args(argv)
    if args.torch:
        try:
            import torch  # noqa: F401
        except ImportError as error:
            parser.error(f"--torch needs PyTorch (pip install '.[bench]'): {error}")

    device = Device(args.device)
    if device.kind == "cuda":  # the loss, outside the layers, runs on the current GPU
        device.xp.cuda.Device(device.index).use()
    sync = (lambda: device.xp.cuda.Device(device.index).synchronize()) if device.kind == "cuda" \
        else (lambda: None)
    batch, size, classes = MODELS[args.model]
    rng = np.random.default_rng(0)
    model = make_model(args.model, device)
    x = to_device(rng.standard_normal((batch, 3, size, size), dtype=np.float32), device)
    labels = to_device(rng.integers(0, classes, batch), device)
    results = {"tinyalex": None, "PyTorch": None}
    if args.torch:  # before tinyalex's steps change the weights
        results["PyTorch"] = torch_times(model, x, labels, args)
    results["tinyalex"] = tinyalex_times(model, x, labels, sync, args)

    sides = {side: result for side, result in results.items() if result is not None}
    for side, (plain, with_waits, _) in sides.items():
        print(f"{side}: {args.model}, batch {batch}, on {device}: one step {plain * 1e3:.2f} ms "
              f"({with_waits * 1e3:.2f} ms with a wait around every layer)")
    names = list(results["tinyalex"][2])
    if args.torch:  # PyTorch's own layers (the Figure-1 net's flatten) in its order
        for i, name in enumerate(results["PyTorch"][2]):
            if name not in names:
                names.insert(i, name)
    print(f"{'layer':22}" + "".join(f" {side + ' fwd':>12} {'bwd':>8} {'share':>6}"
                                     for side in sides) + (f" {'ratio':>6}" if args.torch else ""))
    for name in names:
        line, sums = f"{name:22}", []
        for _, with_waits, layers in sides.values():
            if name in layers:
                fwd, bwd = layers[name]
                line += f" {fwd * 1e3:12.3f} {bwd * 1e3:8.3f} {(fwd + bwd) / with_waits:6.1%}"
                sums.append(fwd + bwd)
            else:
                line += f" {'-':>12} {'-':>8} {'':6}"
        if len(sums) == 2 and sums[1] > 0:
            line += f" {sums[0] / sums[1]:6.2f}"
        print(line.rstrip())
    print(f"{'(loss, Python between)':22}" + "".join(
        f" {'':12} {'':8} {1 - sum(f + b for f, b in layers.values()) / with_waits:6.1%}"
        for _, with_waits, layers in sides.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
