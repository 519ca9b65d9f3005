"""The explicit communication between AlexNet's towers (paper §3.2), forward and backward.

"The GPUs communicate only in certain layers": where the paper's Figure 2 draws an arrow from
one GPU to the other, every tower needs the maps of every tower. An ``Exchange`` is that step. It
takes one array per *source* device and gives every *target* device the concatenation of all of
them along axis 1 (channels, or features), each array sent over with ``backend.to_device`` (a
logged transfer) unless it already lives there:

    forward:   out[t] = concat_s( send(x[s] -> t) )              for every target t

Its backward is the same traffic reversed. Every target holds a gradient for each source's
slice of its concatenation; each slice is sent home and a source that fed several targets adds
them up (the model's explicit sum for an output with several consumers):

    backward:  dx[s] = sum_t send(dout[t][:, slice of s] -> s)    for every source s

Three kinds of step in AlexNet are exchanges: copying the input batch to every tower (one
source, every tower a target), the exchanges at conv3, fc6, fc7 and fc8 (every tower a source
and a target), and gathering the towers' logits on the first device for the loss (every tower
a source, one target). With a single device all of them are the identity.
"""

from __future__ import annotations

import itertools

from ..backend import TransferLog, device_of, on_device, place, to_device
from ..layers import unwrap


class Exchange:
    """Send arrays between devices and concatenate them (see the module docstring).

    ``label`` names the step in the transfer log (``"conv3"``); ``sources`` and ``targets`` are
    ``backend.Device``\\ s; ``log`` is the ``TransferLog`` that records every crossing with
    phase ``"forward"`` or ``"backward"``.
    """

    def __init__(self, label: str, sources, targets, log: TransferLog):
        self.label = label
        self.sources = tuple(sources)
        self.targets = tuple(targets)
        self.log = log
        self._widths = None

    @property
    def crosses(self) -> bool:
        """Whether this step moves anything between devices at all."""
        return len(set(self.sources) | set(self.targets)) > 1

    def output_shapes(self, shapes) -> list:
        """Per target, the shape of one concatenated input (no batch axis)."""
        if len({tuple(s[1:]) for s in shapes}) != 1:
            raise ValueError(f"{self.label} exchange: shapes {shapes} differ beyond the first axis")
        joined = (sum(s[0] for s in shapes), *shapes[0][1:])
        return [joined for _ in self.targets]

    def forward(self, arrays) -> list:
        """``arrays[s]`` on ``sources[s]`` -> one concatenation per target, on that target."""
        if len(arrays) != len(self.sources):
            raise ValueError(
                f"{self.label} exchange: expected {len(self.sources)} arrays, got {len(arrays)}"
            )
        for source, x in zip(self.sources, arrays):
            self._check(x, source, "input")
        self._widths = [x.shape[1] for x in arrays]
        return [self._gather(arrays, target) for target in self.targets]

    def backward(self, grads) -> list:
        """``grads[t]`` on ``targets[t]`` -> one summed gradient per source, on that source.

        When no target computed a gradient (all ``None``: the layers it feeds skip their input
        gradient), nothing is sent and every source gets ``None``.
        """
        if self._widths is None:
            raise RuntimeError(f"{self.label} exchange: backward without a forward")
        if len(grads) != len(self.targets):
            raise ValueError(
                f"{self.label} exchange: expected {len(self.targets)} gradients, got {len(grads)}"
            )
        if all(g is None for g in grads):
            self._widths = None
            return [None for _ in self.sources]
        offsets = [0, *itertools.accumulate(self._widths)]  # source s owns [offsets[s], offsets[s+1])
        for target, g in zip(self.targets, grads):
            self._check(g, target, "gradient")
            if g.shape[1] != offsets[-1]:
                raise ValueError(
                    f"{self.label} exchange: gradient of shape {tuple(g.shape)} does not match the "
                    f"{offsets[-1]} concatenated channels of the forward pass"
                )
        self._widths = None
        result = []
        for s, source in enumerate(self.sources):
            pieces = [self._send(g[:, offsets[s] : offsets[s + 1]], source, "backward") for g in grads]
            with on_device(source):
                total = pieces[0]
                for piece in pieces[1:]:
                    total = total + piece  # several consumers: their gradients add up
            result.append(place(total, source))
        return result

    def _send(self, x, device, phase: str):
        if device_of(x) == device:
            return x
        return to_device(x, device, log=self.log, label=self.label, phase=phase)

    def _gather(self, arrays, target):
        pieces = [self._send(x, target, "forward") for x in arrays]
        for piece in pieces:
            self._check(piece, target, "received array")
        if len(pieces) == 1:
            return pieces[0]
        with on_device(target):
            joined = target.xp.concatenate([unwrap(p) for p in pieces], axis=1)
        return place(joined, target)

    def _check(self, x, device, what: str) -> None:
        where = device_of(x)
        if where != device:
            raise ValueError(
                f"{self.label} exchange: {what} is on {where} but must be on {device}; "
                "an array changes device only by a transfer (backend.to_device)"
            )
