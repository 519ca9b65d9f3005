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
| ``softmax_cross_entropy``   | §5    | returns ``(loss, dlogits)`` directly |
"""

from .activations import relu_backward, relu_forward, tanh_backward, tanh_forward
from .conv import col2im, conv2d_backward, conv2d_forward, conv_output_size, im2col
from .dropout import dropout_backward, dropout_forward, dropout_mask
from .linear import linear_backward, linear_forward
from .loss import log_softmax, softmax, softmax_cross_entropy
from .lrn import channel_window_sum, lrn_backward, lrn_forward
from .pool import maxpool2d_backward, maxpool2d_forward

__all__ = [
    "channel_window_sum",
    "col2im",
    "conv2d_backward",
    "conv2d_forward",
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
    "maxpool2d_forward",
    "relu_backward",
    "relu_forward",
    "softmax",
    "softmax_cross_entropy",
    "tanh_backward",
    "tanh_forward",
]
