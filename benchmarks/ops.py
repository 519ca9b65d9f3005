"""Time every tinyalex op, forward and backward, on AlexNet-sized inputs (float32, NCHW).

    python benchmarks/ops.py [--repeat 5] [--device cuda:0]

Prints the median of ``--repeat`` runs after one warm-up, in milliseconds. This measures; it
asserts nothing. ``benchmarks/compare_torch.py`` puts the same cases next to PyTorch.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from tinyalex import functional as F
from tinyalex.backend import Device, on_device


def cases(xp, rng):
    """(name, forward thunk returning (out, cache), backward(dout, cache))."""

    def arr(*shape):
        return xp.asarray(rng.standard_normal(shape, dtype=np.float32))

    x1, w1, b1 = arr(16, 3, 227, 227), arr(96, 3, 11, 11), arr(96)
    x2, w2, b2 = arr(16, 96, 27, 27), arr(256, 48, 5, 5), arr(256)
    act = arr(16, 96, 55, 55)
    fc_x, fc_w, fc_b = arr(128, 9216), arr(4096, 9216), arr(4096)
    hidden = arr(128, 4096)
    logits, labels = arr(128, 1000), xp.asarray(rng.integers(0, 1000, 128))
    drop_rng = np.random.default_rng(0)
    return [
        ("conv1 11x11/4, (16,3,227,227)", lambda: F.conv2d_forward(x1, w1, b1, stride=4),
         F.conv2d_backward),
        ("conv2 5x5 pad 2 groups 2, (16,96,27,27)",
         lambda: F.conv2d_forward(x2, w2, b2, pad=2, groups=2), F.conv2d_backward),
        ("lrn n=5, (16,96,55,55)", lambda: F.lrn_forward(act), F.lrn_backward),
        ("maxpool 3/2, (16,96,55,55)", lambda: F.maxpool2d_forward(act), F.maxpool2d_backward),
        ("relu, (16,96,55,55)", lambda: F.relu_forward(act), F.relu_backward),
        ("linear 9216->4096, batch 128", lambda: F.linear_forward(fc_x, fc_w, fc_b),
         F.linear_backward),
        ("dropout p=0.5, (128,4096)", lambda: F.dropout_forward(hidden, rng=drop_rng),
         F.dropout_backward),
        ("softmax cross-entropy, (128,1000)",
         lambda: (F.softmax_cross_entropy(logits, labels), None), None),
    ]


def median_ms(fn, repeat, sync):
    fn()
    sync()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--device", default="cpu", help="cpu or cuda:N")
    args = parser.parse_args()
    device = Device(args.device)
    xp = device.xp
    sync = (lambda: xp.cuda.Device(device.index).synchronize()) if device.kind == "cuda" else (lambda: None)
    rng = np.random.default_rng(0)
    print(f"tinyalex ops on {device}, float32, median of {args.repeat} (ms)")
    print(f"{'case':42} {'forward':>10} {'backward':>10}")
    with on_device(device):
        for name, forward, backward in cases(xp, rng):
            fwd = median_ms(forward, args.repeat, sync)
            if backward is None:
                print(f"{name:42} {fwd:10.2f} {'(in fwd)':>10}")
                continue
            out, cache = forward()
            dout = xp.ones_like(out)
            bwd = median_ms(lambda: backward(dout, cache), args.repeat, sync)
            print(f"{name:42} {fwd:10.2f} {bwd:10.2f}")


if __name__ == "__main__":
    main()
