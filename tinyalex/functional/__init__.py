"""The functional core: pure ``*_forward`` / ``*_backward`` pairs, one file per paper concept.

Each ``*_forward`` returns ``(out, cache)``; the matching ``*_backward(dout, cache)`` returns the
gradient of every input, in the order of the forward's array arguments. Nothing here holds
state, and nothing names numpy or cupy: the arrays decide (``backend.get_array_module``).

| function                    | paper | backward returns |
| --------------------------- | ----- | ---------------- |
| ``conv2d_forward``          | §3.5, groups §3.2 | ``dx, dw, db`` |
| ``lrn_forward``             | §3.3  | ``dx``           |
| ``maxpool2d_forward``       | §3.4  | ``dx``           |
| ``relu_forward``, ``tanh_forward`` | §3.1 | ``dx``     |
| ``dropout_forward``         | §4.2  | ``dx``           |
| ``linear_forward``          | §3.5  | ``dx, dw, db``   |
| ``softmax_cross_entropy``   | §3.5  | returns ``(loss, dlogits)`` directly |

Fast and readable. The functions above are the ones to call, layers included, and they are
fast: where speed costs little readability it is built in (and explained where it happens).
Where the fast version would hide the idea, the readable one stays beside it under the same
name ending in ``_naive``, with the same arguments and results, and the tests hold the two
together:

| fast (call this)       | readable (read this)         | the trick                          |
| ---------------------- | ---------------------------- | ---------------------------------- |
| ``conv2d_forward``     | ``conv2d_forward_naive``     | stride 1: a product per frequency  |
| ``conv2d_backward``    | ``conv2d_backward_naive``    | (``conv_fourier``), or KW copies (``conv_rows``) |
| ``maxpool2d_forward``  | ``maxpool2d_forward_naive``  | rows first, then columns: 2*size   |
| ``maxpool2d_backward`` | ``maxpool2d_backward_naive`` | steps, not size*size               |

The readable convolution is im2col plus one matrix product (its parts are the public ``im2col``
and ``col2im``); the fast one uses the same for strided layers and first layers.

On the CPU the ops split their element-wise work (copies around a convolution's products,
pooling, activations, LRN) over the cores, a part of the batch per thread (``tinyalex.threads``):
NumPy runs a ufunc on one core, and only its matrix products on all. The convolutions' small
products (weight gradients, the fourier algorithm's per-frequency ones) are split the same way,
OpenBLAS kept to one thread meanwhile. The parts are independent, so the results are the same
bits as on one thread.

On a GPU (CuPy arrays) the fast versions launch as few kernels as they can, since each launch
costs the host about 10 us: the convolution gathers its columns with one indexed copy
(``conv_gather``), and max pooling and LRN run one CUDA kernel per pass (``cuda_kernels``),
held to the readable versions by the same tests. Like CuPy's own functions, the ops make their
results on the *current* GPU: with arrays on another one, make theirs current first
(``with backend.on_device("cuda:1"):``), as the layers do.

Workspace. ``conv2d_forward``, ``maxpool2d_forward`` and ``lrn_forward`` take an optional
``workspace=Workspace()`` that holds their large temporaries from one call to the next (a new
large array costs about 10 ms per 100 MB in page faults before it holds a number), and that
their backward passes use too. It never changes a result: an op never reads what an earlier
call left in it, and nothing returned or cached is a view of it, so one workspace serves a whole
network (one per device and thread). The models hand one to their layers
(``Module.use_workspace``); for the convolution it trades a second copy of the input in the
backward pass for memory (see "Speed and memory" in ``conv.py``). That copy is made from ``x``
as it is then: as in every framework that keeps its inputs for the backward pass, an input
must not change between an op's forward and backward passes (PyTorch raises an error; tinyalex
does not check, and the weight gradient then depends on whether there is a workspace).
"""

from .activations import relu_backward, relu_forward, tanh_backward, tanh_forward
from .conv import (
    col2im,
    conv2d_backward,
    conv2d_backward_naive,
    conv2d_forward,
    conv2d_forward_naive,
    conv_output_size,
    im2col,
)
from .dropout import dropout_backward, dropout_forward, dropout_mask
from .linear import linear_backward, linear_forward
from .loss import log_softmax, softmax, softmax_cross_entropy
from .lrn import channel_window_sum, lrn_backward, lrn_forward
from .pool import (
    maxpool2d_backward,
    maxpool2d_backward_naive,
    maxpool2d_forward,
    maxpool2d_forward_naive,
)
from .workspace import Workspace

__all__ = [
    "channel_window_sum",
    "col2im",
    "conv2d_backward",
    "conv2d_backward_naive",
    "conv2d_forward",
    "conv2d_forward_naive",
    "conv_output_size",
    "dropout_backward",
    "dropout_forward",
    "dropout_mask",
    "im2col",
    "linear_backward",
    "linear_forward",
    "log_softmax",
    "lrn_backward",
    "lrn_forward",
    "maxpool2d_backward",
    "maxpool2d_backward_naive",
    "maxpool2d_forward",
    "maxpool2d_forward_naive",
    "relu_backward",
    "relu_forward",
    "softmax",
    "softmax_cross_entropy",
    "tanh_backward",
    "tanh_forward",
    "Workspace",
]
