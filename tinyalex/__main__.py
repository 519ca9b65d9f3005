"""The command line: ``python -m tinyalex COMMAND --help``.

* ``relu-vs-tanh``  the paper's Figure 1 (``tinyalex.relu_vs_tanh``)
* ``train``         the paper's recipe for a chosen model and dataset (``tinyalex.recipe``)
* ``gradcheck``     every op's backward pass against finite differences

Bad arguments end the command with one line, ``python -m tinyalex COMMAND: error: ...``, and
exit code 2; a run that fails (a dataset that cannot be found or read, a folder that cannot
be written, training that diverges) ends with such a line and exit code 1.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from . import paper
from .backend import Device, cupy_available
from .data import DataError
from .loader import DATASETS
from .models.alexnet import INPUT_SIZE
from .relu_vs_tanh import DEFAULT_EPOCHS, DEFAULT_SUBSET, LEARNING_RATES, TEST_SUBSET
from .train import Diverged


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (no usage block) and exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number(kind, minimum=None, below=None, what="a number", above=None):
    """An argparse type: ``kind(text)`` with ``minimum <= value``, ``above < value`` and
    ``value < below`` (those given), else a clear error."""
    def convert(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not math.isfinite(value) or (minimum is not None and value < minimum) or \
                (above is not None and value <= above) or \
                (below is not None and value >= below):  # float("inf") and float("nan") parse
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    return convert


POSITIVE = _number(int, 1, what="an integer >= 1")
COUNT = _number(int, 0, what="an integer >= 0")
RATE = _number(float, above=0.0, what="a positive number")
NON_NEGATIVE = _number(float, 0.0, what="a number >= 0")
FRACTION = _number(float, above=0.0, below=1.0,
                   what="a fraction between 0 and 1, e.g. 0.25 for 25%")
MOMENTUM = _number(float, 0.0, 1.0, what="a number in [0, 1)")


def _subset(text):
    return text if text == "all" else POSITIVE(text)


def _device(text):
    try:
        device = Device(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected cpu or cuda:N, got {text!r}") from None
    if device.kind == "cuda" and not cupy_available():
        raise argparse.ArgumentTypeError(
            f"{text}: CuPy with a CUDA GPU is not available here (pip install cupy-cuda12x)")
    return str(device)


def _devices(text):
    devices = [_device(part) for part in text.split(",")]
    if len(devices) != 2:
        raise argparse.ArgumentTypeError(f"expected two devices, one per tower, e.g. "
                                         f"cuda:0,cuda:1; got {text!r}")
    return devices


def _std(text):
    return text if text == "fan_in" else RATE(text)


def _scale(text):
    return text if text == "std" else RATE(text)


# --------------------------------------------------------------------------------------------
# Commands


def _gradcheck(args) -> int:
    from .gradcheck import GradcheckResult, check_all_ops

    rows = []
    for name, result in check_all_ops(seed=args.seed, device=args.device).items():
        print(f"== {name}\n{result}\n")
        rows += result.rows
    worst = GradcheckResult(rows).max_error  # NaN (a NaN or infinite gradient) if any is
    verdict = "ok" if worst <= args.tolerance else "FAILED"
    print(f"largest relative error: {worst:.2e} ({verdict}: the bar is {args.tolerance:g})")
    return 0 if worst <= args.tolerance else 1


def _relu_vs_tanh(args) -> int:
    from .relu_vs_tanh import run

    run(args.dataset, subset=args.subset, test_subset=args.test_subset, epochs=args.epochs,
        target=args.target,
        lrs={"relu": args.lr_relu, "tanh": args.lr_tanh}, batch_size=args.batch_size,
        device=args.device, out=args.out, seed=args.seed, verbose=not args.quiet)
    return 0


# What ``train`` does with an option that is not given (its parser leaves them ``None``, so that
# --resume can tell an option given on the command line from one left alone).
TRAIN_DEFAULTS = {
    "dataset": None, "model": "figure1", "activation": "relu", "lrn": False, "width": 1.0,
    "input_size": INPUT_SIZE, "devices": None, "weight_std": None, "input_scale": None,
    "lr": paper.LEARNING_RATE, "momentum": paper.MOMENTUM, "weight_decay": paper.WEIGHT_DECAY,
    "patience": 1, "augment": True, "pca": True, "ten_crop": False, "subset": None,
    "val_subset": None, "image_size": paper.IMAGE_SIZE, "epochs": 10, "batch_size": paper.BATCH_SIZE,
    "device": None, "out": "runs/train", "seed": 0,  # device None: cpu, or the checkpoint's
}


def _train(args) -> int:
    from .recipe import resume_config, run_training

    given = {k: v for k, v in vars(args).items() if k in TRAIN_DEFAULTS and v is not None}
    # "all" is what the default None means: the same run, whichever of the two is given.
    given.update({k: None for k in ("subset", "val_subset") if given.get(k) == "all"})
    verbose = not args.quiet
    if args.resume and not Path(args.resume).is_file():
        raise ValueError(f"--resume {args.resume}: no such checkpoint file")
    if args.resume:
        config = resume_config(args.resume, given, TRAIN_DEFAULTS, verbose)
    elif args.dataset is None:
        raise ValueError("--dataset is required (cifar10, fashion-mnist or a folder), "
                         "unless --resume names a checkpoint")
    else:
        _check_applies(given)
        config = {**TRAIN_DEFAULTS, **given, "verbose": verbose}
    run_training(config, resume=args.resume)
    return 0


# The options that mean something for one model only.
MODEL_OPTIONS = {"figure1": ("activation", "lrn"), "alexnet": ("input_size", "width", "devices")}


def _check_applies(given: dict) -> None:
    """Refuses, rather than records, options that this run would ignore or that contradict
    each other: a model's own options (``MODEL_OPTIONS``) with another model, ``--image-size``
    with a built-in dataset, and ``--device`` together with ``--devices``. Other combinations
    pass unchecked (``--no-pca`` with ``--no-augment``, say)."""
    def flags(keys):
        names = ["--" + key.replace("_", "-") for key in keys]
        return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"

    for model, keys in MODEL_OPTIONS.items():
        used = [key for key in keys if key in given]
        if used and given.get("model", TRAIN_DEFAULTS["model"]) != model:
            raise ValueError(f"{flags(used)} appl{'ies' if len(used) == 1 else 'y'} to "
                             f"--model {model} only")
    if "image_size" in given and given["dataset"] in DATASETS:
        raise ValueError(f"--image-size applies to image folders only ({given['dataset']} images "
                         "are read at their own size)")
    if "device" in given and "devices" in given:
        raise ValueError("give --device (one device) or --devices (AlexNet's two towers), not both")


# --------------------------------------------------------------------------------------------
# The parser


def _add_common(p, *, out: str, seeded: str, defaults: bool = True, out_help: str = "") -> None:
    """The options both training commands take; ``defaults=False`` leaves them ``None`` when
    not given (``train`` fills them in from ``TRAIN_DEFAULTS``, or from the checkpoint)."""
    def default(value):
        return value if defaults else None

    p.add_argument("--batch-size", type=POSITIVE, default=default(paper.BATCH_SIZE),
                   help=f"images per SGD step (default {paper.BATCH_SIZE}, the paper's)")
    p.add_argument("--device", type=_device, default=default("cpu"),
                   help="cpu (NumPy, the default) or cuda:N (CuPy on GPU N)")
    p.add_argument("--out", default=default(out),
                   help=f"folder for the results (default {out}{out_help})")
    p.add_argument("--seed", type=COUNT, default=default(0),
                   help=f"seeds {seeded} (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m tinyalex",
        description="AlexNet (Krizhevsky, Sutskever & Hinton, 2012) from scratch in NumPy/CuPy.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser(
        "relu-vs-tanh",
        help="the paper's Figure 1: epochs to 25%% training error, ReLU against tanh",
        description="The paper's Figure 1 (§3.1): train the four-layer Figure-1 network twice, "
        "with ReLU and with tanh, from the same initial weights, with no regularisation (no "
        "weight decay, dropout or augmentation), each at its own learning rate. Training error "
        "= top-1 error over the training images used, in eval mode after each epoch. Writes "
        "figure1.png, summary.json and each network's history (CSV, JSON) into --out, and ends "
        "with one summary line, e.g. 'relu: 25% training error at epoch 3; tanh: at epoch 7; "
        "ratio 2.3'. CIFAR-10 is the default; where it cannot be had (offline) the command "
        "says so and uses Fashion-MNIST. The defaults take about 2.5 minutes on 2 CPU cores.",
    )
    p.add_argument("--dataset", choices=list(DATASETS), default="cifar10",
                   help="cifar10 (default; falls back to fashion-mnist when unavailable) or "
                   "fashion-mnist")
    p.add_argument("--subset", type=_subset, default=DEFAULT_SUBSET,
                   help=f"training images drawn at random, or 'all' (default {DEFAULT_SUBSET:,})")
    p.add_argument("--test-subset", type=COUNT, default=TEST_SUBSET,
                   help="test images whose error is recorded after every epoch, for the "
                   f"history only (default {TEST_SUBSET:,}; 0: none)")
    p.add_argument("--target", type=FRACTION, default=paper.FIGURE1_TARGET_ERROR,
                   help="the training error to reach, a fraction (default "
                   f"{paper.FIGURE1_TARGET_ERROR:g}, the paper's)")
    p.add_argument("--lr-relu", type=RATE, default=LEARNING_RATES["relu"],
                   help=f"learning rate of the ReLU network (default {LEARNING_RATES['relu']:g})")
    p.add_argument("--lr-tanh", type=RATE, default=LEARNING_RATES["tanh"],
                   help=f"learning rate of the tanh network (default {LEARNING_RATES['tanh']:g})")
    p.add_argument("--epochs", type=POSITIVE, default=DEFAULT_EPOCHS,
                   help=f"epochs to train each network (default {DEFAULT_EPOCHS})")
    _add_common(p, out="runs/relu-vs-tanh", seeded="the weights, the subsets and the shuffling")
    p.set_defaults(run=_relu_vs_tanh)

    p = commands.add_parser(
        "train",
        help="train a model on a dataset with the paper's recipe, with checkpoints and resume",
        description="Train the Figure-1 network or AlexNet with the paper's recipe (§4, §5): "
        "SGD, momentum 0.9, weight decay 5e-4, batch 128, learning rate divided by 10 when the "
        "validation error stops improving; random crops, flips and (RGB) PCA colour noise. The "
        "dataset's test split is the validation set. After every epoch writes history.csv, "
        "history.json, last.npz and (when the validation error is the best so far) best.npz "
        "into --out. --resume PATH goes on from a checkpoint, bit for bit; only --epochs, "
        "--device(s), --out and --quiet may change.",
    )
    p.add_argument("--dataset",
                   help="cifar10, fashion-mnist, or a folder holding train/ and val/, each with "
                   "one folder of JPEG/PNG images per class (required unless --resume)")
    p.add_argument("--model", choices=("figure1", "alexnet"),
                   help="figure1 (the Figure-1 network) or alexnet (default "
                   f"{TRAIN_DEFAULTS['model']})")
    p.add_argument("--activation", choices=("relu", "tanh"),
                   help=f"figure1's nonlinearity (default {TRAIN_DEFAULTS['activation']})")
    p.add_argument("--lrn", action="store_true", default=None, help="figure1: add the paper's LRN (§3.3)")
    p.add_argument("--width", type=RATE,
                   help="alexnet: multiply every layer's kernels and units by this (default "
                   f"{TRAIN_DEFAULTS['width']}; 0.25 trains on a CPU)")
    p.add_argument("--input-size", type=_number(int, 67, what="an integer >= 67"),
                   help=f"alexnet: input side in pixels (default {TRAIN_DEFAULTS['input_size']}; "
                   "67 is the smallest)")
    p.add_argument("--devices", type=_devices,
                   help="alexnet: two devices, one per tower (§3.2), e.g. cuda:0,cuda:1")
    p.add_argument("--weight-std", type=_std,
                   help="initial weights N(0, std^2): a number or fan_in (default: fan_in for "
                   "figure1, the paper's 0.01 for alexnet)")
    p.add_argument("--input-scale", type=_scale,
                   help="divide the centred pixels by this: a number or std (default: std for "
                   "figure1, 1 for alexnet, the paper's raw pixels)")
    p.add_argument("--lr", type=RATE,
                   help=f"initial learning rate (default {TRAIN_DEFAULTS['lr']:g}, the paper's)")
    p.add_argument("--momentum", type=MOMENTUM,
                   help=f"default {TRAIN_DEFAULTS['momentum']:g}")
    p.add_argument("--weight-decay", type=NON_NEGATIVE,
                   help=f"default {TRAIN_DEFAULTS['weight_decay']:g}")
    p.add_argument("--patience", type=POSITIVE,
                   help="epochs without a better validation error before the learning rate is "
                   f"divided by 10 (default {TRAIN_DEFAULTS['patience']}, the paper's heuristic "
                   "read literally)")
    p.add_argument("--no-augment", dest="augment", action="store_false", default=None,
                   help="no random crops, flips or colour noise")
    p.add_argument("--no-pca", dest="pca", action="store_false", default=None, help="no PCA colour noise")
    p.add_argument("--ten-crop", action="store_true", default=None,
                   help="validate on the paper's ten patches per image (10x slower evaluation)")
    p.add_argument("--subset", type=_subset,
                   help="training images drawn at random, or 'all' (default all)")
    p.add_argument("--val-subset", type=_subset,
                   help="validation (test) images drawn at random, or 'all' (default all)")
    p.add_argument("--image-size", type=POSITIVE,
                   help="image folders: the side images are rescaled and cropped to when read "
                   f"(default {TRAIN_DEFAULTS['image_size']}, §2)")
    p.add_argument("--resume", metavar="PATH", help="a checkpoint (last.npz) to go on from")
    p.add_argument("--epochs", type=POSITIVE,
                   help="epochs in all, a resumed run's earlier epochs included (default "
                   f"{TRAIN_DEFAULTS['epochs']})")
    _add_common(p, out=TRAIN_DEFAULTS["out"], defaults=False,  # TRAIN_DEFAULTS fills them in
                seeded="the weights, the subsets, the shuffling and the augmentation",
                out_help="; with --resume, the checkpoint's folder")
    p.set_defaults(run=_train)

    p = commands.add_parser(
        "gradcheck",
        help="check every op's backward pass against finite differences (float64)",
        description="Gradient-check every op of tinyalex.functional on small float64 inputs "
        "and print the relative-error table of each.",
    )
    p.add_argument("--seed", type=COUNT, default=0, help="seed of the random inputs (default 0)")
    p.add_argument("--device", type=_device, default="cpu",
                   help="cpu (NumPy, the default) or cuda:N (CuPy on GPU N: the GPU's own code)")
    p.add_argument("--tolerance", type=RATE, default=1e-6,
                   help="largest acceptable relative error (default 1e-6)")
    p.set_defaults(run=_gradcheck)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    prefix = f"{parser.prog} {args.command}: error:"
    try:
        return args.run(args)
    except (OSError, DataError, Diverged) as error:  # a missing or corrupt dataset, an unwritable folder
        parser.exit(1, f"{prefix} {error}\n")
    except ValueError as error:  # a bad combination of arguments, a checkpoint of another run
        parser.exit(2, f"{prefix} {error}\n")


if __name__ == "__main__":
    sys.exit(main())
