"""The paper's Figure 1 (§3.1): epochs to a training-error target, ReLU against tanh.

"A four-layer convolutional neural network with ReLUs (solid line) reaches a 25% training
error rate on CIFAR-10 six times faster than an equivalent network with tanh neurons (dashed
line). The learning rates for each network were chosen independently to make training as fast
as possible. No regularization of any kind was employed."

``run`` trains ``models.Figure1Net`` twice, with ReLU and with tanh, from the very same initial
weights (same ``seed``), on the same training images in the same order: plain SGD with momentum
0.9 (§5), batch 128, no weight decay, no dropout, no augmentation and a fixed learning rate per
network. Inputs are the training mean image subtracted and divided by the pixels' standard
deviation (``batches.Preprocess``).

**Training error** at epoch ``k``: the top-1 error over all the training images used, measured
in eval mode with the weights at the end of epoch ``k``. It is a property of the network after
``k`` epochs, so "reaches 25% at epoch ``k``" means exactly that. (The *running* error, averaged
over the batches while the weights change, lags about half an epoch behind and is kept in the
history as ``running_top1``.) Without dropout the two modes compute the same function.

**Learning rates** (``LEARNING_RATES``, overridable): 0.03 for both, from a brief search. Each
network trained for 3 epochs on 5,000 Fashion-MNIST training images (seed 0) at 0.01, 0.03,
0.1 and 0.3; the rate that reached 25% training error in the fewest epochs won, ties going to
the lower error after epoch 3. Training error after epochs 1, 2, 3:

    lr     ReLU                   tanh
    0.01   27.4%  25.6%  20.5%    30.2%  24.5%  21.4%
    0.03   37.6%  24.5%  18.5%    27.2%  20.8%  21.2%
    0.1    89.8%  89.4%  89.9%    28.0%  23.2%  22.0%
    0.3    89.7%  89.7%  89.7%    42.5%  49.4%  43.5%

At 0.1 and above the ReLU network dies within the first epoch: every unit of its second layer
outputs 0 on every image, so it predicts one class (chance-level error). CIFAR-10 was not
available where the search ran, so its rates are these too.

**The summary line**, the last line the command prints (``SUMMARY_PATTERN`` parses it)::

    relu: 25% training error at epoch 3; tanh: at epoch 14; ratio 4.7
    relu: 25% training error at epoch 3; tanh: not reached in 10 epochs; ratio > 3.3
    relu: 25% training error not reached in 10 epochs; tanh: at epoch 4; ratio < 0.4
    relu: 25% training error not reached in 10 epochs; tanh: not reached in 10 epochs; ratio unknown

``ratio`` is tanh's epochs over ReLU's: how many times faster ReLU is (the paper's "six
times"). When a network does not reach the target only a bound is known, rounded so that it
stays true (``> 3.3`` for 10/3).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import numpy

from . import paper
from .batches import Preprocess
from .loader import load_dataset
from .models import Figure1Net
from .train import Trainer, writable_folder

__all__ = ["LEARNING_RATES", "SUMMARY_PATTERN", "Outcome", "epochs_to_target", "run", "summary_line"]

ACTIVATIONS = ("relu", "tanh")
LEARNING_RATES = {"relu": 0.03, "tanh": 0.03}
# The default run: about 2.5 minutes for both networks on 2 idle CPU cores, estimated from the
# measured times of a training step of 128 images (0.05 s on Fashion-MNIST, where the whole run
# took 88-93 s, and 0.08 s on CIFAR-10-sized 3x32x32 images in benchmarks/compare_torch.py).
DEFAULT_SUBSET = 10_000
DEFAULT_EPOCHS = 8
TEST_SUBSET = 2_000  # test images evaluated after every epoch, for the history only

_REACHED = r"(?:at epoch (?P<{0}>\d+)|not reached in (?P<{0}_limit>\d+) epochs?)"
SUMMARY_PATTERN = re.compile(
    r"^relu: (?P<target>\d+(?:\.\d+)?)% training error " + _REACHED.format("relu")
    + r"; tanh: " + _REACHED.format("tanh")
    + r"; ratio (?:(?P<bound>[<>]) )?(?P<ratio>\d+\.\d+|unknown)$")


@dataclasses.dataclass
class Outcome:
    """One network's run: its learning rate, training error after each epoch (fractions),
    the first epoch at or below the target (``None``: not reached) and seconds per epoch."""

    activation: str
    lr: float
    errors: list
    reached: int | None
    train_seconds: float
    eval_seconds: float


def _epochs(n: int) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


def epochs_to_target(errors, target: float) -> int | None:
    """The first epoch (1-based) whose training error is at or below ``target``, else ``None``."""
    return next((epoch for epoch, error in enumerate(errors, 1) if error <= target), None)


def summary_line(relu: int | None, tanh: int | None, epochs: int, target: float) -> str:
    """The one-line result (see the module docstring); ``relu``/``tanh``: ``epochs_to_target``."""
    def reached(epoch):
        return f"at epoch {epoch}" if epoch is not None else f"not reached in {_epochs(epochs)}"

    if relu is not None and tanh is not None:  # one decimal, or two digits below 0.1
        ratio = tanh / relu
        ratio = f"{ratio:.1f}" if ratio >= 0.1 else numpy.format_float_positional(
            ratio, precision=2, fractional=False)
    elif relu is not None:  # tanh needs more than `epochs`: the ratio exceeds epochs / relu
        ratio = f"> {math.floor(10 * epochs / relu) / 10:.1f}"
    elif tanh is not None:  # relu needs more than `epochs`: the ratio is below tanh / epochs
        ratio = f"< {math.ceil(10 * tanh / epochs) / 10:.1f}"
    else:
        ratio = "unknown"
    percent = numpy.format_float_positional(100 * target, precision=6, unique=False,
                                             fractional=False, trim="-")  # never 1e-05
    return (f"relu: {percent}% training error {reached(relu)}; "
            f"tanh: {reached(tanh)}; ratio {ratio}")


def run(dataset: str = "cifar10", *, subset=DEFAULT_SUBSET, test_subset: int = TEST_SUBSET,
        epochs: int = DEFAULT_EPOCHS,
        target: float = paper.FIGURE1_TARGET_ERROR, lrs: dict | None = None,
        batch_size: int = paper.BATCH_SIZE, device: str = "cpu", out="runs/relu-vs-tanh",
        seed: int = 0, verbose: bool = True, log=print) -> dict:
    """Train both networks, write the figure and histories into ``out``, return the summary.

    ``dataset``: ``"cifar10"`` (falling back to Fashion-MNIST when CIFAR-10 cannot be had,
    which ``log`` reports) or ``"fashion-mnist"``. ``subset``: training images drawn at random
    with ``seed``, or ``"all"``. ``test_subset``: test images evaluated after each epoch,
    for the history only (0: none). ``lrs``: ``{"relu": lr, "tanh": lr}``, default
    ``LEARNING_RATES``. Writes ``out/figure1.png``, ``out/summary.json`` and, per network,
    ``out/<activation>/history.csv``, ``history.json``, ``last.npz`` and, with test images,
    ``best.npz`` (the epoch of the lowest test error, as ``Trainer`` keeps it). The returned dict is
    what ``summary.json`` holds; its ``"line"`` is the summary line, which ``log`` prints last.
    """
    lrs = {**LEARNING_RATES, **(lrs or {})}
    out = writable_folder(out)  # before the data are read, which may take minutes
    data = load_dataset(dataset, fallback=True, log=log, progress=verbose)
    data = data.subset(subset, test_subset or None, seed=seed)
    log(f"relu-vs-tanh: Figure 1 on {data.describe(test=bool(test_subset))}; {_epochs(epochs)}, "
        f"batch {batch_size}, "
        f"learning rates relu {lrs['relu']:g} and tanh {lrs['tanh']:g}, no regularisation; "
        "training error = top-1 error on these training images after each epoch")
    preprocess = Preprocess.fit(data.train_images)
    outcomes = {}
    for activation in ACTIVATIONS:
        model = Figure1Net(activation, in_channels=data.image_shape[0],
                           input_size=data.image_shape[1], num_classes=len(data.classes),
                           inplace=True, device=device, seed=seed)
        trainer = Trainer(model, (data.train_images, data.train_labels), preprocess,
                          val=(data.test_images, data.test_labels) if test_subset else None,
                          lr=lrs[activation], weight_decay=0.0, batch_size=batch_size,
                          patience=None, measure_train=True, seed=seed, out=out / activation,
                          name=f"{activation}: ", verbose=verbose,
                          settings={"command": "relu-vs-tanh", "dataset": data.describe(),
                                    "activation": activation})
        history = trainer.fit(epochs)
        errors = [row["train_top1"] for row in history]
        outcomes[activation] = Outcome(
            activation, lrs[activation], errors, epochs_to_target(errors, target),
            sum(row["train_seconds"] for row in history) / epochs,
            sum(row["eval_seconds"] for row in history) / epochs)

    _plot(outcomes, f"Figure 1 on {data.name} ({len(data.train_images):,} training images)",
          target, out / "figure1.png")
    line = summary_line(outcomes["relu"].reached, outcomes["tanh"].reached, epochs, target)
    summary = {"dataset": data.name, "description": data.describe(), "epochs": epochs,
               "target": target, "batch_size": batch_size, "seed": seed,
               "runs": {a: dataclasses.asdict(o) for a, o in outcomes.items()}, "line": line}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    for o in outcomes.values():
        log(f"{o.activation}: {o.train_seconds:.1f} s per epoch of training + "
            f"{o.eval_seconds:.1f} s of evaluation; training error by epoch: "
            + ", ".join(f"{e:.1%}" for e in o.errors))
    log(f"figure: {out / 'figure1.png'}; histories: {out / 'relu'}, {out / 'tanh'}")
    log(f"(the paper, on CIFAR-10: ReLU reaches 25% about {paper.FIGURE1_SPEEDUP} times faster, "
        f"ratio {paper.FIGURE1_SPEEDUP}; this run: {data.name})")
    log(line)
    return summary


def _plot(outcomes: dict, title: str, target: float, path: Path) -> None:
    """Training error against epochs, ReLU solid and tanh dashed as in the paper, and the target."""
    from matplotlib.ticker import MaxNLocator  # matplotlib only when a figure is made

    from . import plots

    figure = plots.plot_curves(
        {f"{o.activation} (lr {o.lr:g})": o.errors for o in outcomes.values()},
        ylabel="training error", title=title, target=target, percent=True,
        target_label=f"{100 * target:g}% target")
    figure.axes[0].xaxis.set_major_locator(MaxNLocator(integer=True))
    plots.save(figure, path)
