"""How far each float32 convolution is from the exact one: tinyalex and PyTorch against float64.

    python benchmarks/conv_accuracy.py                  # CPU
    python benchmarks/conv_accuracy.py --device cuda:0  # CuPy and PyTorch CUDA (no TF32)

``compare_torch.py`` compares the two libraries with each other; when they disagree, this says
which one is off. On the benchmark's convolution shapes it computes the output and the three
gradients in float64 on the CPU with the readable ``conv2d_forward_naive`` (the reference), then
in float32 with tinyalex's ``conv2d_forward`` (each algorithm that applies) and with PyTorch on
the device, and prints ``max |float32 - reference| / max |reference|`` for each.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from tinyalex import functional as F  # noqa: E402
from tinyalex.backend import Device, to_device, to_numpy  # noqa: E402

CASES = [  # name, x shape, w shape, stride, pad, groups
    ("fig1-conv2", (128, 32, 15, 15), (32, 32, 5, 5), 1, 2, 1),
    ("alexnet-conv1", (16, 3, 227, 227), (96, 3, 11, 11), 4, 0, 1),
    ("alexnet-conv2", (16, 96, 27, 27), (256, 48, 5, 5), 1, 2, 2),
]


def relative(got, reference) -> float:
    got = np.asarray(got, dtype=np.float64)
    return float(np.abs(got - reference).max() / np.abs(reference).max())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda:N")
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args(argv)
    device = Device(args.device)
    if device.kind == "cuda":  # the ops allocate on the current GPU
        device.xp.cuda.Device(device.index).use()
    rng = np.random.default_rng(0)
    print(f"{'case':14} {'who':16} {'out':>8} {'dx':>8} {'dw':>8} {'db':>8}")
    for name, x_shape, w_shape, stride, pad, groups in CASES:
        x = rng.standard_normal(x_shape, dtype=np.float32)
        w = (rng.standard_normal(w_shape) / np.sqrt(np.prod(w_shape[1:]))).astype(np.float32)
        b = rng.standard_normal(w_shape[0], dtype=np.float32)
        exact, cache = F.conv2d_forward_naive(*(a.astype(np.float64) for a in (x, w, b)),
                                              stride, pad, groups)
        dout = rng.standard_normal(exact.shape, dtype=np.float32)
        references = (exact, *F.conv2d_backward_naive(dout.astype(np.float64), cache))
        results = {}
        on = [to_device(a, device) for a in (x, w, b, dout)]
        for algorithm in ["im2col", "gather"] + (["rows", "fourier"] if stride == 1 else []):
            out, c = F.conv2d_forward(*on[:3], stride, pad, groups, algorithm=algorithm)
            results[f"tinyalex {algorithm}"] = (out, *F.conv2d_backward(on[3], c))
        if not args.no_torch:
            import torch

            torch.backends.cudnn.allow_tf32 = False
            tx, tw, tb = (torch.tensor(a, device=str(device), requires_grad=True) for a in (x, w, b))
            out = torch.nn.functional.conv2d(tx, tw, tb, stride, pad, 1, groups)
            grads = torch.autograd.grad(out, (tx, tw, tb), torch.tensor(dout, device=str(device)))
            results["torch"] = tuple(t.detach().cpu().numpy() for t in (out, *grads))
        for who, arrays in results.items():
            errors = [relative(to_numpy(a), r) for a, r in zip(arrays, references, strict=True)]
            print(f"{name:14} {who:16} " + " ".join(f"{e:8.1e}" for e in errors))
    return 0


if __name__ == "__main__":
    sys.exit(main())
