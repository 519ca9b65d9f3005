"""What ``compare_torch.py`` times: a ``Case`` per op or model step, one ``Side`` per library.

The op cases are here; the whole SGD steps of the two networks are in ``steps.py``.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

USE_WORKSPACE = True  # --no-workspace: time the ops and models without one


@dataclasses.dataclass
class Side:
    """One library's version of a case.

    ``forward()`` runs the forward pass, keeps in ``state`` what backward needs and returns the
    outputs (a tuple of arrays); ``backward()`` returns the gradients (a tuple of arrays) and may
    be called again after one forward. A case whose backward cannot be repeated (an SGD step
    changes the weights) sets ``Case.split = False``: only whole steps are timed.
    """

    forward: Callable[[], tuple]
    backward: Callable[[], tuple]
    state: dict = dataclasses.field(default_factory=dict)
    workspaces: tuple = ()  # tinyalex Workspaces, emptied before the peak-memory step

    def release(self):
        """Drop what the last step left behind, so that the next step's memory is all counted."""
        self.state.clear()
        for workspace in self.workspaces:
            workspace.clear()

    def step(self) -> tuple:
        return self.forward() + self.backward()


@dataclasses.dataclass
class Case:
    """A benchmark case: inputs shared by both sides, and how each side runs on them.

    ``inputs(rng)`` returns a dict of float32 NumPy arrays (``dout`` among them for an op);
    ``tinyalex(arrays, device)`` and ``torch(arrays, device)`` return a ``Side`` built on copies
    of them on the device under test (a ``tinyalex.backend.Device``, and its name for PyTorch).
    ``target`` is the issue's bound on the step's time ratio on a CPU, ``gpu_target`` its bound
    on a GPU where the issue sets one (the model steps: 2.0), else the CPU's. A case with
    ``split=False`` (an SGD step, which changes its weights) is cross-checked on two fresh sides
    built with ``check=True``, whose one step returns what to compare.
    """

    name: str
    inputs: Callable
    tinyalex: Callable
    torch: Callable
    target: float | None = None
    gpu_target: float | None = None
    default: bool = True
    split: bool = True
    check: bool = True  # False where the two sides draw different random numbers (dropout)

    def target_on(self, kind: str) -> float | None:
        """The bound on ``kind`` ("cpu" or "cuda")."""
        return self.gpu_target if kind == "cuda" and self.gpu_target is not None else self.target


def tinyalex_op(forward, backward, inputs: tuple, workspace=False, grads_out=False, **kwargs):
    """A ``Side`` builder for a tinyalex ``*_forward`` / ``*_backward`` pair; ``workspace=True``
    passes the op a ``Workspace`` of its own, and ``grads_out=True`` hands the backward pass the
    last call's parameter gradients to write into (``linear_backward``), as the layers do."""

    def build(arrays, device):
        xp = device.xp
        ws = None
        if workspace and USE_WORKSPACE:
            from tinyalex.functional import Workspace

            ws = Workspace()
        options = dict(kwargs, workspace=ws) if ws is not None else kwargs
        args = [xp.asarray(arrays[name]) for name in inputs]
        dout = xp.asarray(arrays["dout"])
        state = {}

        def fwd():
            out, state["cache"] = forward(*args, **options)
            return (out,)

        def bwd():
            last = (state["grads"][1:],) if "grads" in state else ()  # (dw, db) to write into
            grads = backward(dout, state["cache"], *last)
            if grads_out:
                state["grads"] = grads
            return grads if isinstance(grads, tuple) else (grads,)

        return Side(fwd, bwd, state, () if ws is None else (ws,))

    return build


def torch_op(function, inputs: tuple, **kwargs):
    """A ``Side`` builder for a PyTorch function of tensors that all need a gradient."""

    def build(arrays, device):
        import torch

        args = [torch.from_numpy(arrays[name]).to(device).requires_grad_() for name in inputs]
        dout = torch.from_numpy(arrays["dout"]).to(device)
        state = {}

        def fwd():
            state["out"] = function(*args, **kwargs)
            return (state["out"],)

        def bwd():
            return torch.autograd.grad(state["out"], args, dout, retain_graph=True)

        return Side(fwd, bwd, state)

    return build


def _torch_functional(name):
    def call(*args, **kwargs):
        import torch.nn.functional as TF

        return getattr(TF, name)(*args, **kwargs)

    return call


def normal(rng, shape, scale=1.0):
    import numpy as np

    return (rng.standard_normal(shape, dtype=np.float32) * np.float32(scale))


def conv_case(name, x_shape, w_shape, stride=1, pad=0, groups=1, default=True):
    """``conv2d_forward`` against ``torch.nn.functional.conv2d``, forward and backward."""
    from tinyalex import functional as F

    n, _, h, w = x_shape
    f, cg, kh, kw = w_shape
    oh, ow = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1

    def inputs(rng):
        fan_in = cg * kh * kw
        return {"x": normal(rng, x_shape), "w": normal(rng, w_shape, fan_in ** -0.5),
                "b": normal(rng, (f,)), "dout": normal(rng, (n, f, oh, ow))}

    return Case(
        name, inputs,
        tinyalex_op(F.conv2d_forward, F.conv2d_backward, ("x", "w", "b"), workspace=True,
                    stride=stride, pad=pad, groups=groups),
        torch_op(_torch_functional("conv2d"), ("x", "w", "b"),
                 stride=stride, padding=pad, groups=groups),
        target=1.5, default=default,
    )


def op_cases() -> list[Case]:
    """The ops, forward and backward, on the Figure-1 net's and AlexNet's shapes."""
    import numpy as np

    from tinyalex import functional as F
    from tinyalex import paper

    act = (16, 96, 55, 55)
    pooled = (16, 96, 27, 27)
    lrn = dict(n=paper.LRN_N, k=paper.LRN_K, alpha=paper.LRN_ALPHA, beta=paper.LRN_BETA)

    def one_input(shape, out_shape):
        return lambda rng: {"x": normal(rng, shape), "dout": normal(rng, out_shape)}

    def loss_inputs(rng):
        return {"x": normal(rng, (128, 1000), 3.0),
                "labels": rng.integers(0, 1000, 128).astype(np.int64)}

    def tinyalex_loss(arrays, device):
        xp = device.xp
        logits, labels = xp.asarray(arrays["x"]), xp.asarray(arrays["labels"])
        state = {}

        def fwd():  # the loss and its gradient come from one call
            loss, state["dlogits"] = F.softmax_cross_entropy(logits, labels)
            return (xp.asarray(loss, dtype=logits.dtype),)

        return Side(fwd, lambda: (state["dlogits"],), state)

    def torch_loss(arrays, device):
        import torch

        logits = torch.from_numpy(arrays["x"]).to(device).requires_grad_()
        labels = torch.from_numpy(arrays["labels"]).to(device)
        state = {}

        def fwd():
            state["loss"] = torch.nn.functional.cross_entropy(logits, labels)
            return (state["loss"],)

        return Side(fwd, lambda: torch.autograd.grad(state["loss"], logits, retain_graph=True),
                    state)

    def linear_inputs(rng):
        return {"x": normal(rng, (128, 9216)), "w": normal(rng, (4096, 9216), 9216 ** -0.5),
                "b": normal(rng, (4096,)), "dout": normal(rng, (128, 4096))}

    return [
        conv_case("conv fig1-conv2 5x5 pad 2, (128,32,15,15) -> 32", (128, 32, 15, 15),
                  (32, 32, 5, 5), pad=2),
        conv_case("conv fig1-conv1 5x5 pad 2, (128,3,32,32) -> 32", (128, 3, 32, 32),
                  (32, 3, 5, 5), pad=2, default=False),
        conv_case("conv fig1-conv3 5x5 pad 2, (128,32,7,7) -> 64", (128, 32, 7, 7),
                  (64, 32, 5, 5), pad=2, default=False),
        conv_case("conv alexnet-conv1 11x11/4, (16,3,227,227) -> 96", (16, 3, 227, 227),
                  (96, 3, 11, 11), stride=4),
        conv_case("conv alexnet-conv2 5x5 pad 2 groups 2, (16,96,27,27) -> 256",
                  (16, 96, 27, 27), (256, 48, 5, 5), pad=2, groups=2),
        Case("lrn n=5 (paper constants), (16,96,55,55)", one_input(act, act),
             tinyalex_op(F.lrn_forward, F.lrn_backward, ("x",), workspace=True, **lrn),
             torch_op(_torch_functional("local_response_norm"), ("x",), size=lrn["n"],
                      alpha=lrn["n"] * lrn["alpha"], beta=lrn["beta"], k=lrn["k"]),
             target=0.5),
        Case("maxpool 3/2, (16,96,55,55)", one_input(act, pooled),
             tinyalex_op(F.maxpool2d_forward, F.maxpool2d_backward, ("x",), workspace=True,
                         size=3, stride=2),
             torch_op(_torch_functional("max_pool2d"), ("x",), kernel_size=3, stride=2),
             target=1.0),
        Case("linear 9216->4096, batch 128", linear_inputs,
             tinyalex_op(F.linear_forward, F.linear_backward, ("x", "w", "b"), grads_out=True),
             torch_op(_torch_functional("linear"), ("x", "w", "b")),
             target=1.0),
        Case("relu, (16,96,55,55)", one_input(act, act),
             tinyalex_op(F.relu_forward, F.relu_backward, ("x",)),
             torch_op(_torch_functional("relu"), ("x",)), default=False),
        Case("tanh, (16,96,55,55)", one_input(act, act),
             tinyalex_op(F.tanh_forward, F.tanh_backward, ("x",)),
             torch_op(_torch_functional("tanh"), ("x",)), default=False),
        Case("dropout p=0.5 (inverted, as PyTorch), (128,4096)",
             one_input((128, 4096), (128, 4096)),
             tinyalex_op(lambda x: F.dropout_forward(x, 0.5, rng=np.random.default_rng(0),
                                                     inverted=True),
                         F.dropout_backward, ("x",)),
             torch_op(_torch_functional("dropout"), ("x",), p=0.5, training=True),
             default=False, check=False),
        Case("softmax cross-entropy, (128,1000)", loss_inputs,
             tinyalex_loss, torch_loss, default=False),
    ]
