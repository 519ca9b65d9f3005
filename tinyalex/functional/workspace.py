"""Scratch buffers that the ops can reuse from one call to the next (optional).

A large new array is expensive before a single number is written into it: the operating system
hands its pages over one fault at a time (about 10 ms per 100 MB on a laptop), which is as long
as a float32 matrix product of the same size takes. im2col's column matrix (92 MB for the
Figure-1 net's second convolution at batch 128; the CPU's rows algorithm copies 18 MB there)
would pay that twice per training step. A ``Workspace`` keeps one buffer per name (and dtype
and device), grown to the largest request, and hands out views of it instead.

The ops stay pure functions of their arguments:

* an op only *writes* scratch data into the workspace and never reads what an earlier call left
  there (a buffer that must start at zero is zeroed by the op), and
* nothing an op returns, and nothing it keeps in its cache, is a view of the workspace.

So results never depend on the history of calls, and one workspace can serve every layer of a
model. Use one workspace per thread and per device (a CuPy buffer lives on one GPU); the threads
an op starts itself (``tinyalex.threads``) each write their own part of its buffers.

Three names, shared by all ops, so that a model's workspace holds three buffers, each as large
as the largest layer needs, not one per op and temporary: ``"copies"`` (the copies of an input
that a convolution multiplies: im2col's columns), ``"product"`` (what it multiplies them into)
and ``"scratch"`` (everything else: a padded or transposed array, LRN's padded squares, max
pooling's row maxima). Two temporaries of one op that are alive at the same time never share a
name. (For the one-device AlexNet at batch 32 that is 141 + 119 + 40 MB, for the two-tower one
on the CPU 141 + 60 + 20 MB, where one buffer per op and temporary held about 400 MB.)

    ws = Workspace()
    out, cache = conv2d_forward(x, w, b, pad=2, workspace=ws)
    dx, dw, db = conv2d_backward(dout, cache)          # reuses ws, which the cache names
"""

from __future__ import annotations

import math

from ..backend import device_of, get_array_module, on_device


class Workspace:
    """Named scratch buffers, grown on demand; see the module docstring for the rules."""

    def __init__(self):
        self._buffers = {}

    def empty(self, name: str, shape: tuple, like):
        """An uninitialised array of ``shape`` with ``like``'s dtype, on ``like``'s device.

        It is a view of the buffer ``name``, valid until the next request for ``name``.
        """
        size = math.prod(shape)
        device = device_of(like)
        key = (name, like.dtype, device)
        buffer = self._buffers.get(key)
        if buffer is None or buffer.size < size:
            with on_device(device):  # like's GPU, whichever is current
                buffer = get_array_module(like).empty(size, dtype=like.dtype)
            self._buffers[key] = buffer
        return buffer[:size].reshape(shape)

    @property
    def nbytes(self) -> int:
        """Bytes held by all buffers."""
        return sum(b.nbytes for b in self._buffers.values())

    def clear(self) -> None:
        """Drop every buffer (the memory goes back once no view of it is alive)."""
        self._buffers.clear()

    def __repr__(self) -> str:
        return f"Workspace({len(self._buffers)} buffers, {self.nbytes / 2**20:.1f} MiB)"


def scratch(workspace: Workspace | None, name: str, shape: tuple, like):
    """``workspace.empty(name, shape, like)``, or a fresh array when there is no workspace."""
    if workspace is None:
        return get_array_module(like).empty(shape, dtype=like.dtype)
    return workspace.empty(name, shape, like)
